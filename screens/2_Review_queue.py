"""Review queue: pending and flagged lessons, one by one or in bulk, and contradicting pairs side by side.

Keyboard: each decision is its own form — type a reason and press Enter to approve (in the approve box) or to
reject (in the reject box); Alt+A approves, Alt+X rejects, Alt+→ / Alt+← move through the queue.
"""

import streamlit as st

from bankcore.read import needs_keep_decision
from dashboard import parts, reads, tables, ui
from dashboard.tables import Col

QUEUES = {"everything waiting": "all", "pending": "pending", "flagged": "flagged"}

# Why each lesson waits and what it rests on, beside its title: a title alone invites rubber-stamping.
BULK_COLUMNS = [tables.ITEM_COLUMNS[0], Col("title", "title", 200, fill=True),
                Col("why", "why it waits", 150, fill=True), Col("its sources", "rests on", 140),
                *[tables.ITEM_BY_NAME[n] for n in ("status", "source", "domain", "flags", "confidence", "retrieved",
                                                   "v", "updated")]]
BULK_SHOWN = 10  # selected lessons shown in full before a bulk decision

with ui.page("Review queue", ":material/fact_check:") as bank:
    who = ui.need_curator()
    mode = st.segmented_control("Review", ["One by one", "In bulk", "Contradictions"], default="One by one",
                                key="review_mode") or "One by one"
    which = QUEUES[st.radio("Queue", list(QUEUES), horizontal=True, key="queue_which")] \
        if mode != "Contradictions" else None

    if mode == "One by one":
        position = st.session_state.get("queue_pos", 0)
        batch, total = reads.review_batch(which, 1, position)
        if total and not batch:  # the queue shrank under us: start over
            position, (batch, total) = 0, reads.review_batch(which, 1, 0)
            st.session_state["queue_pos"] = 0
        if not total:
            st.success("Nothing is waiting for review.", icon=":material/done_all:")
            st.stop()
        item, reasons = batch[0]
        cols = st.columns([3, 1, 1])  # room for "Previous Alt+←" on one line
        cols[0].caption(f"Item {position + 1} of {total:,} in this queue")
        if cols[1].button("Previous", icon=":material/arrow_back:", key="queue_prev", shortcut="Alt+Left",
                          disabled=position == 0):
            st.session_state["queue_pos"] = position - 1
            st.rerun()
        if cols[2].button("Skip", icon=":material/arrow_forward:", key="queue_skip", shortcut="Alt+Right",
                          disabled=position + 1 >= total):
            st.session_state["queue_pos"] = position + 1
            st.rerun()

        parts.item_card(item, reasons)
        rests_on = reads.evidence((item.item_id,))[item.item_id].summary()
        st.caption(parts.md(rests_on[:1].upper() + rests_on[1:]))
        if st.toggle("Show where it came from (source trajectory, its verdicts, the truth)", key="queue_provenance"):
            parts.provenance(reads.item_page(item.item_id, parts.evidence_offset(item.item_id)))

        if who:
            seen = item.last_event_id  # the optimistic check: refuse if someone changed it since this render
            left, right = st.columns(2)
            keep = needs_keep_decision(item)  # approved, then flagged: keeping it clears the flag
            # Approving a flagged lesson is deliberate: a secondary button, and a tick saying the reasons were read.
            despite = bool(item.flags) and not keep
            with left.form(f"approve_{item.item_id}", border=True):
                reason = st.text_input("Why keep it (optional)" if keep else
                                       "Why approve it anyway (required)" if despite else "Why approve (optional)",
                                       key=f"approve_reason_{item.item_id}")
                read = st.checkbox("I have read why it was flagged, above", key=f"approve_ack_{item.item_id}") \
                    if despite else True
                if st.form_submit_button("Keep approved" if keep else "Approve despite the flag" if despite
                                         else "Approve", icon=":material/check:",
                                         type="secondary" if despite else "primary", shortcut="Alt+A",
                                         key=f"approve_{item.item_id}_go",
                                         disabled=item.status == "approved" and not keep):
                    if despite and not (read and reason.strip()):
                        st.error("This lesson is flagged: tick that you read why, and say why it is safe to "
                                 "approve (kept in its history).")
                    else:
                        ui.act(lambda: bank.approve(item.item_id, actor=who, reason=reason.strip() or None,
                                                    expected_event_id=seen),
                               f"{'Kept' if keep else 'Approved'} #{item.item_id}",
                               undo=lambda done: ui.Undo(f"the approval of #{item.item_id}", (done.last_event_id,)))
            with right.form(f"reject_{item.item_id}", border=True):
                why_not = st.text_input("Why reject (required)", key=f"reject_reason_{item.item_id}")
                if st.form_submit_button("Reject", icon=":material/block:", shortcut="Alt+X",
                                         key=f"reject_{item.item_id}_go"):
                    if not why_not.strip():
                        st.error("Say why you reject it: the reason is kept in the item's history.")
                    else:
                        ui.act(lambda: bank.reject(item.item_id, actor=who, reason=why_not.strip(),
                                                   expected_event_id=seen), f"Rejected #{item.item_id}",
                               undo=lambda done: ui.Undo(f"the rejection of #{item.item_id}", (done.last_event_id,)))
            with st.expander("Edit the text", icon=":material/edit:", expanded=False):
                with st.form(f"edit_{item.item_id}"):
                    title = st.text_input("Title", item.title, key=f"edit_title_{item.item_id}")
                    description = st.text_input("Description", item.description, key=f"edit_desc_{item.item_id}")
                    content = st.text_area("Content", item.content, key=f"edit_content_{item.item_id}")
                    edit_reason = st.text_input("Why the edit (optional)", key=f"edit_reason_{item.item_id}")
                    save = st.form_submit_button("Save edit", key=f"edit_{item.item_id}_save")
                    save_and_approve = st.form_submit_button("Save and approve", type="primary",
                                                             key=f"edit_{item.item_id}_approve",
                                                             disabled=item.status == "approved")
                if save or save_and_approve:
                    written = []  # the events this edit wrote: an undo puts back the text and status before them

                    def write():
                        with st.spinner("Re-embedding the edited text…"):
                            edited = bank.edit(item.item_id, actor=who, reason=edit_reason.strip() or None,
                                               expected_event_id=seen, title=title, description=description,
                                               content=content)
                        written.append(edited.last_event_id)
                        held_now = [r for r in ui.held_by_gate(edited) if r not in ui.held_by_gate(item)]
                        if save_and_approve and not held_now:  # held by this edit: approved after reading why
                            edited = bank.approve(item.item_id, actor=who, expected_event_id=edited.last_event_id,
                                                  reason=edit_reason.strip() or "approved as edited")
                            written.append(edited.last_event_id)
                        return edited
                    approved = save_and_approve  # unless the gate holds the edit back (`write`)
                    ui.act(write, lambda edited: f"Edited{' and approved' * (approved and edited.status == 'approved')}"
                                                 f" #{item.item_id}",
                           undo=lambda edited: ui.Undo(f"the edit of #{item.item_id}", tuple(written)))

    elif mode == "In bulk":
        batch, total = reads.review_batch(which, ui.PAGE_SIZE, parts.page_offset("bulk_page", ui.PAGE_SIZE))
        if not total:
            st.success("Nothing is waiting for review.", icon=":material/done_all:")
            st.stop()
        items = [i for i, _ in batch]
        table = parts.items_table(items)
        table.insert(3, "why", ["; ".join(r) for _, r in batch])
        evidence = reads.evidence(tuple(i.item_id for i in items))
        table.insert(4, "its sources", [evidence[i.item_id].outcomes() for i in items])
        picked = tables.table(table, BULK_COLUMNS, on_select="rerun", selection_mode="multi-row", key="bulk_table")
        parts.pager(total, "bulk_page", ui.PAGE_SIZE)
        everything = st.checkbox(f"Select all {len(items)} on this page", key="bulk_all")
        chosen = [i.item_id for i in items] if everything else [items[r].item_id for r in parts.selected_rows(picked)
                                                                   if r < len(items)]
        st.caption(f"{len(chosen)} selected" + (f": {', '.join(f'#{i}' for i in chosen[:20])}" if chosen else ""))
        by_status = {i.item_id: i.status for i in items}
        if chosen:  # what a decision would rest on, read before it is made: each lesson's text and its sources
            why = {i.item_id: reasons for i, reasons in batch}
            by_id = {i.item_id: i for i in items}
            with st.expander(f"The {len(chosen)} selected lesson(s) in full: read them before deciding",
                             expanded=True):
                for item_id in chosen[:BULK_SHOWN]:
                    parts.item_card(by_id[item_id], why[item_id])
                    st.caption(f"#{item_id} {parts.md(evidence[item_id].summary())}")
                if len(chosen) > BULK_SHOWN:
                    st.caption(f"…and {len(chosen) - BULK_SHOWN} more: select fewer to read each one.")
        if who:
            approved_now = [i for i in chosen if by_status.get(i) == "approved"]
            with st.form("bulk_decide"):
                reason = st.text_input("Reason (required to reject)", key="bulk_reason")
                # Many rows change at once: say what follows, and ask first.
                confirmed = st.checkbox(
                    f"Decide these {len(chosen)} lessons at once: approved ones are retrieved by agents from now on"
                    + (f"; rejecting takes the {len(approved_now)} approved among them out of retrieval"
                       if approved_now else "") + "; each decision stays in its lesson's history",
                    key="bulk_confirm") if len(chosen) > 1 else True
                cols = st.columns(2)
                approve = cols[0].form_submit_button("Approve selected", icon=":material/check:", type="primary",
                                                     key="bulk_approve")
                reject = cols[1].form_submit_button("Reject selected", icon=":material/block:", key="bulk_reject")
            if (approve or reject) and not chosen:
                st.warning("Select some items first.")
            elif (approve or reject) and not confirmed:
                st.warning(f"Tick the box to decide {len(chosen)} lessons at once.")
            elif reject and not reason.strip():
                st.error("Say why you reject them: the reason is kept in each item's history.")
            elif approve or reject:
                action = "approve" if approve else "reject"
                ui.act(lambda: bank.bulk_review(action, actor=who, reason=reason.strip() or None, item_ids=chosen,
                                                status=None), parts.bulk_outcome(action),
                       undo=lambda done: ui.undo_bulk(done, action.upper(), f"the bulk {action} of "
                                                      f"{len(done.decided)} lesson{'s' * (len(done.decided) != 1)}"))

    else:
        pairs = reads.contradictions()
        if not pairs:
            st.success("No open contradictions.", icon=":material/done_all:")
            st.stop()
        st.caption(f"{len(pairs)} open pairs: two lessons that look alike but say opposite things. Keep one "
                   "(the other is rejected, not deleted) or keep both (they stop being flagged).")
        evidence = reads.evidence(tuple(sorted({i.item_id for p in pairs for i in (p.a, p.b)})))
        for n, pair in enumerate(pairs):
            with st.container(border=True):
                st.caption(f"Flagged by {parts.md(pair.detector)}")
                st.text(pair.reason)
                for column, item in zip(st.columns(2), (pair.a, pair.b)):
                    with column:
                        parts.item_card(item)
                        st.caption(f"#{item.item_id} {parts.md(evidence[item.item_id].summary())}")
                if who:
                    with st.form(f"pair_{pair.a.item_id}_{pair.b.item_id}"):
                        reason = st.text_input("Why (optional)", key=f"pair_reason_{n}")
                        cols = st.columns(3)
                        keep_a = cols[0].form_submit_button(f"Keep #{pair.a.item_id}", key=f"pair_{n}_a")
                        keep_b = cols[1].form_submit_button(f"Keep #{pair.b.item_id}", key=f"pair_{n}_b")
                        keep_both = cols[2].form_submit_button("Keep both", key=f"pair_{n}_both")
                    keep = (str(pair.a.item_id) if keep_a else str(pair.b.item_id) if keep_b
                            else "both" if keep_both else None)
                    if keep:
                        ui.act(lambda: bank.resolve_contradiction(pair.a.item_id, pair.b.item_id, keep, actor=who,
                                                                  reason=reason.strip() or None),
                               f"Resolved the pair #{pair.a.item_id} / #{pair.b.item_id}: keep {keep}")
