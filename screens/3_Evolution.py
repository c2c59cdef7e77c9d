"""Evolution: how the bank changed — an animated replay, the bank as of any moment, merge lineage, version diffs
and the event log. Every view here is a query over the append-only history, so nothing shown can have been lost."""

import streamlit as st

from dashboard import charts, parts, reads, tables, ui
from dashboard.tables import Col
from bankcore.models import EVENT_KINDS

AS_OF_COLUMNS = [
    Col("item_id", "#", 60, kind="number"), Col("title", "title", 220, fill=True), Col("status", "status", 85),
    Col("source", "learned from", 95), Col("version", "version", 65, kind="number"), Col("domain", "domain", 120),
    Col("content", "content", 240, fill=True), Col("event_id", "last event", 85, kind="number"),
]
EVENT_COLUMNS = [
    Col("created_at", "when", 130, kind="time", format="D MMM, HH:mm:ss"), Col("kind", "change", 95),
    Col("item_id", "item", 60, kind="number"), Col("title", "title", 160, fill=True), Col("actor", "who", 110),
    Col("reason", "why", 150, fill=True), Col("event_id", "event", 70, kind="number"), Col("batch_id", "batch", 100),
]

with ui.page("Evolution", ":material/account_tree:") as bank:
    bounds = reads.event_bounds()
    if not bounds.events:
        st.info("No history yet: items and their events appear once lessons are extracted or added.")
        st.stop()
    consolidations = reads.consolidations()
    cols = st.columns(4)
    cols[0].metric("History events", f"{bounds.events:,}")
    cols[1].metric("Consolidations", f"{consolidations:,}")
    cols[2].metric("First event", f"{bounds.first_at:%d %b %H:%M}", help=f"{bounds.first_at:%Y-%m-%d %H:%M:%S}")
    cols[3].metric("Latest event", f"{bounds.last_at:%d %b %H:%M}", help=f"{bounds.last_at:%Y-%m-%d %H:%M:%S}")

    # One time cursor for the screen: the replay ends at it, the confidence chart marks it, the bank below is as
    # of it. Linkable (?asof=N) like the rest.
    last = bounds.last_event
    point = st.slider("Time cursor: the bank as of event", 0, last, last, key="asof", bind="query-params",
                      help="Each event is one change to one item; 0 is before the first. The replay, the confidence "
                           "chart and the bank as of a moment below all follow it.")
    summary = reads.as_of_summary(point)
    st.caption(f"As of event {point:,}" + (f", written {summary.moment:%Y-%m-%d %H:%M:%S}" if summary.moment
                                          else " (before anything was learned)")
               + ("" if point == last else f" · the latest is event {last:,}"))

    st.subheader("Replay")
    if point:
        rows, moments = reads.timeline(40, point)
        st.plotly_chart(charts.replay(rows, {p: f"event {p:,} · {m:%Y-%m-%d %H:%M}" for p, m in moments.items()}),
                        key="replay")
        st.caption(f"Press {charts.REPLAY_BUTTONS[0]} to watch the bank grow up to the time cursor (good for demos); "
                   "move the cursor to replay to another moment.")
    else:
        st.caption("At event 0 nothing has been learned yet: move the time cursor to replay.")

    st.subheader("Confidence as evidence builds")
    bands, band_moments = reads.confidence_timeline(40)
    cursor = summary.moment if point != last else None  # at the latest event there is nothing to mark
    st.plotly_chart(charts.confidence_drift(bands, band_moments, cursor), key="confidence_drift")
    st.caption("Pending and approved lessons by confidence band over time. A lesson learned again from another "
               "trajectory is not stored twice: it is reinforced (a REINFORCE event) and its confidence rises, so "
               "bands shift upwards as reinforcements accumulate.")

    st.subheader("The bank as of the time cursor")
    st.caption(f"Event {point:,}" + (f", {summary.moment:%Y-%m-%d %H:%M:%S}" if summary.moment else "")
               + ": items per status then, and the change since. Select a row below to open that lesson.")
    statuses = sorted(set(summary.then) | set(summary.now))
    for col, status in zip(st.columns(max(1, len(statuses))), statuses):
        then, now = summary.then.get(status, 0), summary.now.get(status, 0)
        col.metric(status, f"{then:,}", delta=f"{now - then:+,} since" if now != then else None,
                   delta_color="off")
    shown = st.multiselect("Show items that were", statuses, default=[s for s in ("approved", "pending")
                                                                         if s in statuses], key="asof_status")
    state, total = reads.items_as_of(point, shown or None, ui.PAGE_SIZE, parts.page_offset("asof_page", ui.PAGE_SIZE))
    tables.table(state, AS_OF_COLUMNS, key="asof_table", opens_item="item_id", wrap="title")
    parts.pager(total, "asof_page", ui.PAGE_SIZE)

    st.subheader("Consolidation lineage")
    cols = st.columns([3, 1])
    merged = {row["item_id"]: row for row in reads.merged_items()}
    focus = parts.pick_item(cols[0], "Centre on a merged item", merged, key="lineage_item",
                            none="the latest merges")
    shown = int(cols[1].number_input("Merges shown", min_value=1, max_value=200, value=12, step=1,
                                     key="lineage_limit"))
    graph = reads.merge_graph(shown, focus or None)
    if graph["edges"]:
        st.plotly_chart(charts.lineage(graph["nodes"], graph["edges"], focus or None, cursor), key="lineage_chart")
        st.caption("Each dot is an item at the time it was written, labelled with its id and title and coloured by "
                   "what it was learned from (hollow once superseded, archived or rejected); lines join the items a "
                   "merge absorbed to the item it wrote. Hover for the full title and status."
                   + ("" if cursor is None else " A dashed line marks the time cursor when it falls among them."))
    else:
        st.caption("No merges" + (f" involve item #{focus}." if focus else " yet: consolidation has not run."))
    who = ui.curator()
    if focus and who and any(e["child"] == focus for e in graph["edges"]):
        if st.button(f"Un-merge #{focus} (its parents get their exact earlier state back)", key="unmerge"):
            ui.act(lambda: bank.unmerge(focus, actor=who), f"Un-merged #{focus}")

    st.subheader("Merge near-duplicates")
    llm_ready = ui.settings().llm_configured
    with st.form("consolidate_plan"):
        cols = st.columns([3, 1, 1])
        threshold = cols[0].slider("Similarity threshold", 0.70, 0.99, float(reads.policy().merge_threshold),
                                   0.01, key="cons_threshold", help="Active lessons of one domain at least this "
                                   "similar (cosine) are grouped; the policy's merge_threshold is the default.")
        max_group = int(cols[1].number_input("Largest group", 2, 20, 6, key="cons_max_group"))
        use_llm = cols[2].toggle("LLM merge", False, key="cons_llm", disabled=not llm_ready,
                                 help="The LLM writes each merged lesson (one call per group)" if llm_ready else
                                 "No LLM configured: the offline heuristic merge writes the text")
        if st.form_submit_button("Find near-duplicates (dry run)", key="cons_plan"):
            st.session_state["cons_request"] = (threshold, max_group, use_llm)
    request = st.session_state.get("cons_request")
    if request:
        threshold, max_group, use_llm = request
        with st.spinner("Comparing active lessons…"):
            plan = reads.plan_consolidation(threshold, use_llm, max_group)
        merges = [a for a in plan if a.kind == "merge"]
        pairs = [a for a in plan if a.kind == "contradiction"]
        st.caption(f"At {threshold:.2f}: {len(merges)} group(s) to merge "
                   f"({sum(len(m.parent_ids) for m in merges)} lessons) and {len(pairs)} contradicting pair(s) "
                   "to surface for a human. Nothing is written until you merge.")
        shown = {i.item_id: i for i in reads.items(tuple(sorted(
            {n for m in merges for n in m.parent_ids} | {n for c in pairs for n in (c.a, c.b)})))}
        parts.consolidation_plan(merges, pairs, shown)
        if merges or pairs:
            doing = " and ".join(part for part in (merges and f"Merge {len(merges)} group(s)",
                                                   pairs and f"flag {len(pairs)} contradicting pair(s)") if part)
            # Many rows change at once: say what will happen and ask first (every merge can be un-merged later).
            confirmed = who and st.checkbox(
                f"{doing[0].upper() + doing[1:]} as shown above: the {sum(len(m.parent_ids) for m in merges)} "
                f"merged lessons leave retrieval, replaced by {len(merges)} new one(s) (pending unless the policy "
                "approves them); each merge can be un-merged on this page", key="cons_confirm")
            if who and st.button(doing[0].upper() + doing[1:], key="cons_apply", type="primary",
                                 disabled=not confirmed):
                ui.act(lambda: bank.consolidate(actions=plan, llm=use_llm, actor=who),
                       lambda done: f"Merged {len(done[1].merged)} group(s), flagged {len(done[1].contradictions)} "
                                    f"pair(s); {len(done[1].skipped) + len(done[1].declined)} left as they were",
                       undo=lambda done: ui.undo_merges([child for child, _ in done[1].merged],
                                                        f"the {len(done[1].merged)} merge(s)"))
            elif not who:
                ui.need_curator()

    st.subheader("Versions of an item")
    changed = {row["item_id"]: row for row in reads.items_with_versions()}
    item_id = parts.pick_item(st, "Item (those whose text or state changed, latest first)", changed,
                              key="versions_item", none="choose an item")
    if item_id:
        versions = reads.versions(item_id)
        if len(versions) < 2:
            st.caption(f"Item #{item_id} has one version: its text never changed.")
        else:
            numbers = [v.version for v in versions]
            cols = st.columns(2)
            old = cols[0].selectbox("From version", numbers, index=len(numbers) - 2, key="diff_old")
            new = cols[1].selectbox("To version", numbers, index=len(numbers) - 1, key="diff_new")
            by_number = {v.version: v for v in versions}
            st.caption(f"{parts.version_in_words(by_number[old])} · {parts.version_in_words(by_number[new])}")
            for field, ops in reads.diff(item_id, old, new).items():
                st.markdown(f"**{field}**")
                parts.diff_view(ops)
            if who and old != numbers[-1]:
                if st.button(f"Restore the text of v{old} (as a new version)", key="restore_version"):
                    ui.act(lambda: bank.restore(item_id, old, actor=who), f"Restored v{old} of #{item_id}",
                           undo=lambda done: ui.Undo(f"the restore of v{old} of #{item_id}", (done.last_event_id,)))

    st.subheader("Event log")
    st.caption("Newest first, from the time cursor back"
               + ("" if point == last else f" (event {point:,}; later events are not listed)")
               + ". Select a row to open its lesson.")
    kinds = st.multiselect("Kinds", EVENT_KINDS, key="log_kinds", placeholder="every kind",
                           format_func=tables.event_in_words)
    log, total = reads.recent_events(kinds or None, ui.PAGE_SIZE, parts.page_offset("log_page", ui.PAGE_SIZE),
                                     point)
    tables.table(log, EVENT_COLUMNS, key="log_table", opens_item="item_id")
    parts.pager(total, "log_page", ui.PAGE_SIZE)
