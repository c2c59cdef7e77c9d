"""Memory bank: every lesson, filtered by source, status, domain, confidence and text; one item in full below."""

import streamlit as st

from dashboard import parts, reads, tables, ui
from bankcore.models import ITEM_SOURCES, ITEM_STATUSES

with ui.page("Memory bank", ":material/psychology:") as bank:
    facets = reads.item_facets()
    who = ui.curator()
    if who:
        with st.expander("Write a lesson yourself", icon=":material/edit_note:"):
            with st.form("write_lesson", clear_on_submit=True):
                title = st.text_input("Title", key="new_title", placeholder="a few words")
                description = st.text_input("Description", key="new_description", placeholder="one sentence")
                content = st.text_area("Content", key="new_content", placeholder="1–3 sentences: when and how")
                domain = st.text_input("Domain (optional)", key="new_domain")
                if st.form_submit_button("Add to the bank", icon=":material/add:", key="new_lesson_go"):
                    ui.act(lambda: bank.write_lesson(title=title, description=description, content=content,
                                                     domain=domain.strip() or None, actor=who),
                           lambda item: f"Wrote #{item.item_id} (manual, {item.status})")
    if not facets["status"]:
        st.info("No memory items yet. They appear here once trajectories are judged and lessons extracted "
                "(`bankcore learn`), or once someone adds one.")
        st.stop()

    with st.container(border=True):
        cols = st.columns([2, 2, 2, 2])
        sources = cols[0].multiselect("Source", ITEM_SOURCES, key="f_source", placeholder="any source")
        statuses = cols[1].multiselect("Status", ITEM_STATUSES, key="f_status", placeholder="any status",
                                       bind="query-params")
        domains = cols[2].multiselect("Domain", [d for d, _ in facets["domain"] if d], key="f_domain",
                                      placeholder="any domain")
        low, high = cols[3].slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="f_confidence")
        cols = st.columns([3, 2, 1.2, 1.4])
        text = cols[0].text_input("Text", key="f_text", placeholder="words in the title, description or content")
        order = cols[1].selectbox("Order", ["newest", "oldest", "recently changed", "confidence", "title"],
                                  key="f_order")
        flagged = cols[2].checkbox("Flagged only", key="f_flagged")
        disputed = cols[3].checkbox("Label ≠ truth", key="f_disputed", bind="query-params",
                                    help="Only lessons resting on a trajectory whose current label disagrees with "
                                         "its ground truth: they may have been learned backwards.")

    filters = {"source": sources or None, "status": statuses or None, "domain": domains or None,
               "text": text.strip() or None, "flagged": True if flagged else None, "disputed": disputed or None,
               "min_confidence": low if (low, high) != (0.0, 1.0) else None,
               "max_confidence": high if (low, high) != (0.0, 1.0) else None}
    items, total = reads.browse_items(filters, order, ui.PAGE_SIZE, parts.page_offset("items_page", ui.PAGE_SIZE))
    st.caption(f"{total:,} items match · select a row to open it")
    tables.table(parts.items_table(items, reads.retrieval_stats(tuple(i.item_id for i in items))),
                 tables.ITEM_COLUMNS, key="items_table", selection_mode="single-row", wrap="title",
                 on_select=parts.open_selected("items_table", [i.item_id for i in items], "item"))
    parts.pager(total, "items_page", ui.PAGE_SIZE)

    chosen = int(st.number_input("Open item #", min_value=0, step=1, key="item", bind="query-params"))
    if chosen:
        st.divider()
        page = reads.item_page(chosen, parts.evidence_offset(chosen))
        lineage = reads.lineage(chosen)
        usefulness = reads.usefulness(chosen)
        parts.item_detail(page, open_key="item", lineage=lineage, usefulness=usefulness)
