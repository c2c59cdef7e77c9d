"""bankcore's dashboard (`streamlit run app.py`): this file is the Overview screen and the map of the others.

Overview: what the bank holds, how the agent is doing, what needs a human, and what is doing the judging.
"""

import streamlit as st

from dashboard import charts, parts, reads, ui


def overview() -> None:
    with ui.page("What the agent learned", ":material/dashboard:") as bank:
        ov = reads.overview()

        if ov.demo:
            note = ov.demo.get("note") or "Built offline from the corpus in data/demo."
            st.info(f"This is a **synthetic demo bank**. {parts.md(note)} Judge: {parts.md(ov.backend['judge'])}. "
                    f"Extractor: {parts.md(ov.backend['extractor'])}. Nothing in it comes from a real agent or user.",
                    icon=":material/theater_comedy:")

        if ov.empty:
            st.subheader("This bank is empty")
            st.markdown(
                f"The file `{bank.path}` exists but holds no trajectories or lessons yet. To fill it:\n\n"
                f"1. import your agent's runs: `bankcore import runs.jsonl --db {bank.path}` (native JSONL, OpenAI "
                "chat logs, τ-bench, Reflexion and mini-swe-agent formats are detected);\n"
                "2. judge them and extract lessons (`bankcore learn` where available);\n"
                "3. or look at the synthetic demo first: `bankcore demo --db data/demo.duckdb` and point Settings "
                "there.")
            st.stop()

        c = ov.counts
        cols = st.columns(5)
        cols[0].metric("Trajectories", f"{c['trajectories']:,}", help=f"in {c['runs']:,} runs")
        cols[1].metric("Memory items", f"{c['memory_items']:,}")
        cols[2].metric("Approved (retrievable)", f"{ov.items_by_status.get('approved', 0):,}")
        cols[3].metric("Waiting for review", f"{ov.review.get('pending', 0):,}")
        cols[4].metric("History events", f"{c['memory_events']:,}")

        left, right = st.columns(2)
        with left:
            if ov.items_by_source:
                st.plotly_chart(charts.counts_bar(ov.items_by_source, "Items by source"), key="by_source")
        with right:
            if ov.items_by_status:
                st.plotly_chart(charts.counts_bar(ov.items_by_status, "Items by status", charts.STATUS_COLORS),
                                key="by_status")

        st.subheader(f"How the agent is doing, {ov.trend_bucket} by {ov.trend_bucket}")
        if ov.runs:
            left, right = st.columns(2)
            left.plotly_chart(charts.outcome_trend(ov.runs, bucket=ov.trend_bucket, title="Success rate"),
                              key="trend_success")
            right.plotly_chart(charts.outcome_trend(ov.runs, bucket=ov.trend_bucket, metric="steps",
                                                    title="Mean steps"), key="trend_steps")
            if ov.trend_bucket == "trial":
                st.caption(f"One run, {parts.md(ov.runs[0]['run_name'])}: its trials side by side.")
            elif key := charts.run_key(ov.runs):
                st.caption(parts.md(key))
        else:
            st.caption("No runs yet.")

        left, right = st.columns(2)
        with left:
            st.subheader("Needs a human")
            flagged = {k.removeprefix("flag:"): n for k, n in ov.review.items() if k.startswith("flag:")}
            pending = ov.review.get("pending", 0)
            st.markdown(f"- **{pending:,}** {'item' if pending == 1 else 'items'} pending review")
            for flag, n in sorted(flagged.items()):
                st.markdown(f"- **{n:,}** active {'item' if n == 1 else 'items'} flagged "
                            f"*{parts.md(parts.flag_words(flag))}*")
            st.page_link("screens/2_Review_queue.py", label="Open the review queue")
            if ov.disputed:
                st.markdown(f"- **{ov.disputed:,}** approved {'lesson rests' if ov.disputed == 1 else 'lessons rest'} "
                            "on a label the ground truth contradicts")
                st.page_link("screens/1_Memory_bank.py", label="See them",
                             query_params={"f_disputed": "true", "f_status": "approved"})
        with right:
            st.subheader("Latest consolidation")
            merge = ov.latest_consolidation
            if merge:
                said, batch = parts.consolidation_in_words(merge)
                st.markdown(said)
                st.caption(batch)
                st.page_link("screens/3_Evolution.py", label="See how the bank evolved")
            else:
                st.caption("No consolidation has run on this bank yet.")

        st.subheader("Who judges and extracts")
        st.markdown(f"- **Judge:** {parts.md(ov.backend['judge'])}\n"
                    f"- **Extractor:** {parts.md(ov.backend['extractor'])}\n"
                    f"- **LLM backend:** {parts.md(ov.backend['llm'])}")


# The screens live in screens/, not pages/: with a pages/ folder beside app.py, Streamlit runs a fresh server's first
# session through its old folder-based navigation (page names from file names) before this st.navigation, so the first
# deep link (/memory?item=42) got a "Page not found" dialog (streamlit issue #9624). tests/test_ui_navigation.py.
# No page icons: Streamlit makes a page's icon the favicon and fetches material ones from Google's font servers,
# and nothing may leave 127.0.0.1 (the favicon is `ui.FAVICON`, drawn here).
st.navigation([
    st.Page(overview, title="Overview", url_path="home", default=True),  # served at "/", as every default page
    # … and at /overview too: a default page's own url_path is never matched, and a link may name it
    st.Page(overview, title="Overview", url_path="overview", visibility="hidden"),
    st.Page("screens/1_Memory_bank.py", title="Memory bank", url_path="memory"),
    st.Page("screens/2_Review_queue.py", title="Review queue", url_path="review"),
    st.Page("screens/3_Evolution.py", title="Evolution", url_path="evolution"),
    st.Page("screens/4_Trajectories_and_judging.py", title="Trajectories & judging", url_path="trajectories"),
    st.Page("screens/5_Metrics.py", title="Metrics", url_path="metrics"),
    st.Page("screens/6_Retrieval_playground.py", title="Retrieval playground", url_path="playground"),
    st.Page("screens/7_Settings.py", title="Settings", url_path="settings"),
]).run()
