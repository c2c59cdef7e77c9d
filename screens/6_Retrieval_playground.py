"""Retrieval playground: type a task and see what the agent would be told — top-k with scores, the prompt block,
the same query against the bank as it was earlier, and why a given item was not retrieved. Nothing typed here is
logged as a retrieval."""

import pandas as pd
import streamlit as st

from bankcore.read import memory_block
from dashboard import parts, reads, tables, ui
from dashboard.tables import Col

HIT_COLUMNS = [
    Col("rank", "rank", 50, kind="number"), Col("id", "#", 55, kind="number"), Col("title", "title", 200, fill=True),
    Col("score", "score", 70, kind="number", format="%.3f", help="what the ranking sorts by"),
    Col("cosine", "similarity", 80, kind="number", format="%.3f"),
    Col("usefulness", "usefulness", 85, kind="number", format="%+.3f"),
    Col("bonus", "bonus", 65, kind="number", format="%+.3f"),
    Col("confidence", "confidence", 85, kind="number", format="%.2f"),
    Col("status", "status", 85), Col("source", "learned from", 95), Col("domain", "domain", 120),
]


def hits_table(hits) -> pd.DataFrame:
    return pd.DataFrame([{"rank": h.rank, "score": h.score, **{k: v for k, v in h.signals.items() if k != "score"},
                          "id": h.item.item_id, "title": h.item.title, "source": h.item.source,
                          "status": h.item.status, "domain": h.item.domain} for h in hits])



def hit_columns(hits) -> list[Col]:
    """HIT_COLUMNS, and after them any signal a ranking adds that they do not name."""
    named = {c.name for c in HIT_COLUMNS}
    extra = sorted({k for h in hits for k in h.signals} - named)
    return HIT_COLUMNS + [Col(k, k.replace("_", " "), 90, kind="number", format="%.3f") for k in extra]


with ui.page("Retrieval playground", ":material/manage_search:"):
    with st.form("playground"):
        query = st.text_area("Task", key="pg_query", placeholder="e.g. Cancel my reservation and refund it to the "
                             "original card", height=80, bind="query-params")
        cols = st.columns([2, 1, 1, 1])
        k = cols[0].slider("k (how many lessons)", 1, 10, 1, key="pg_k", bind="query-params",
                           help="The paper found k=1 works best; more lessons add noise.")
        include_pending = cols[1].checkbox("Include pending", key="pg_pending", bind="query-params",
                                           help="Normally only approved lessons are retrievable.")
        task_id = cols[2].text_input("As task id", key="pg_task", help="Lessons learned from this task are "
                                     "excluded, as they would be for the agent working on it.")
        cols[3].form_submit_button("Retrieve", type="primary", key="pg_go")
    query = query.strip()
    if not query:
        st.caption("Type a task and press Retrieve (Ctrl+Enter in the box).")
        st.stop()

    options = {"include_pending": include_pending, "task_id": task_id.strip() or None}
    with st.spinner("Embedding the query (the model loads on the first one)…"):
        hits = reads.retrieve(query, k, **options)
        prompt = memory_block([h.item for h in hits])  # what Bank.memory_prompt says, without retrieving again
    st.subheader("Now")
    if hits:
        tables.table(hits_table(hits), hit_columns(hits), key="pg_hits", opens_item="id", wrap="title")
        if len(hits) < k:
            st.caption(parts.fewer_than_k(len(hits), k, ui.settings().min_similarity, **options))
        for hit in hits:
            parts.item_card(hit.item)
    else:
        reason = reads.why_nothing_retrieved(include_pending)
        st.info(reason[0].upper() + reason[1:] + ".")
        nearest = reads.retrieve(query, k, min_similarity=-1.0, **options)
        if nearest:
            st.caption("The closest lessons, all below the threshold:")
            tables.table(hits_table(nearest), hit_columns(nearest), key="pg_nearest",
                         opens_item="id", wrap="title")
    st.markdown("**The block the agent's system prompt would get**")
    st.code(prompt or "(empty — no lesson is injected)", language=None, wrap_lines=True)

    st.subheader("Compare with the bank as it was")
    # Asked for, never run on every Retrieve: it rebuilds the bank at that event from its history and embeds every
    # past text it has no vector for — at 100k lessons that took minutes and over 1 GB (bench/dashboard.py).
    if not st.toggle("Compare with the bank at an earlier event", key="pg_compare",
                     help="Rebuilds the bank as it was from its history, then retrieves from it: on a big bank "
                          "this takes a while."):
        st.caption("Turn this on to see what the same task would have retrieved earlier.")
    else:
        bounds = reads.event_bounds()
        point = st.slider("As of event", 0, bounds.last_event, max(0, bounds.last_event // 2), key="pg_asof")
        earlier = reads.retrieve_as_of(point, query, k, options["task_id"])
        moment = reads.event_times((point,)).get(point)  # as_of_summary would also count the statuses
        st.caption(f"The bank at event {point:,}" + (f" ({moment:%Y-%m-%d %H:%M})" if moment else "")
                   + " — approved items only, ranked by cosine similarity, "
                   f"above the same minimum similarity ({ui.settings().min_similarity:.2f}).")
        if earlier:
            tables.table(hits_table(earlier), hit_columns(earlier), key="pg_earlier", opens_item="id", wrap="title")
        else:
            st.caption("Nothing would have been retrieved then.")
        now_ids = [h.item.item_id for h in hits]
        then_ids = [h.item.item_id for h in earlier]
        if now_ids != then_ids:
            said = [", ".join(f"#{i}" for i in ids) or "nothing" for ids in (then_ids, now_ids)]
            st.markdown(f"The answer changed: then {said[0]}, now {said[1]}.")

    st.subheader("Why not this item?")
    item_id = int(st.number_input("Item #", min_value=0, step=1, key="pg_why"))
    if item_id:
        explanation = reads.explain(query, item_id, k, **options)
        st.code(explanation.summary(), language=None, wrap_lines=True)
