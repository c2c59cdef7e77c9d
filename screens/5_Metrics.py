"""Metrics: is memory helping? Success rate and steps over time with memory events marked on the same axis,
memory on vs off, by the source of the lessons the agent was given, and by domain."""

import pandas as pd
import streamlit as st

from bankcore.read import MARKER_KINDS, MIN_N, render_comparison
from dashboard import charts, parts, reads, tables, ui
from dashboard.tables import Col

BUCKETS = {"per run": "run", "per trial": "trial", "per day": "day", "per week": "week",
           "per window of N trajectories": "window"}
SPLITS = {"one line": None, "memory on / off": "memory_mode", "domain": "domain", "environment": "env"}

USEFULNESS_COLUMNS = [
    Col("item_id", "#", 55, kind="number"), Col("title", "title", 200, fill=True),
    Col("lift", "lift", 70, kind="number", format="%+.2f", help="success with it minus success without it"),
    Col("lift_low", "95% low", 75, kind="number", format="%+.2f"),
    Col("lift_high", "95% high", 75, kind="number", format="%+.2f"),
    Col("helpful", "helpful", 70, kind="number", help="tasks given it that succeeded"),
    Col("harmful", "harmful", 70, kind="number", help="tasks given it that failed"),
    Col("used", "given to", 70, kind="number", help="labelled tasks given this lesson"),
    Col("success_with", "success with", 95, kind="number", format="%.0f%%"),
    Col("compared", "compared with", 105, kind="number", help="comparable tasks without it"),
    Col("success_without", "success without", 115, kind="number", format="%.0f%%"),
    Col("score", "shrunk", 70, kind="number", format="%+.2f",
        help="the lift shrunk towards 0 while evidence is thin: what the hybrid ranking uses"),
    Col("domain", "domain", 120), Col("source", "learned from", 95), Col("flagged", "flagged", 70),
]
SERIES_COLUMNS = [
    Col("bucket", "run or period", 110), Col("run_name", "run", 150, fill=True),
    Col("trajectories", "trajectories", 90, kind="number"), Col("with_truth", "with truth", 80, kind="number"),
    Col("truth_success_rate", "success (truth)", 110), Col("judged", "judged", 65, kind="number"),
    Col("verdict_success_rate", "success (judged)", 115), Col("series", "line", 90),
    Col("mean_steps", "mean steps", 90, kind="number", format="%.1f"),
    Col("start", "from", 130, kind="time"),
]
LLM_COLUMNS = [
    Col("purpose", "purpose", 110), Col("model", "model", 180, fill=True), Col("calls", "calls", 60, kind="number"),
    Col("failed", "failed", 60, kind="number"), Col("tokens_in", "tokens in", 90, kind="number"),
    Col("tokens_out", "tokens out", 90, kind="number"),
    Col("mean_latency_ms", "mean latency (ms)", 125, kind="number", format="%.0f"),
]


def run_links(runs: list[dict]) -> None:
    """One click from a run named here to its trajectories (Trajectories & judging, filtered to it)."""
    cols = st.columns(2)
    for n, run in enumerate(runs[:8]):
        cols[n % 2].page_link(parts.TRAJECTORIES_PAGE, label=f"Trajectories of {parts.md(run['name'], 120)}",
                                      query_params=parts.run_link(run["run_id"], run["name"]))
    if len(runs) > 8:
        st.caption(f"…{len(runs) - 8} more runs: pick one in Trajectories & judging's Run filter.")

with ui.page("Metrics", ":material/monitoring:") as bank:
    if not reads.runs():
        st.info("No runs yet: metrics appear once trajectories are imported.")
        st.stop()
    cols = st.columns([2, 2, 1])
    bucket = BUCKETS[cols[0].selectbox("Over time", list(BUCKETS), key="m_bucket", bind="query-params")]
    split = SPLITS[cols[1].selectbox("Lines", list(SPLITS), key="m_split", bind="query-params")]
    window = int(cols[2].number_input("N", 5, 5000, 50, step=5, key="m_window", disabled=bucket != "window"))

    series = reads.outcome_series(bucket, split, window)
    markers = reads.event_markers(MARKER_KINDS)
    left, right = st.columns(2)
    left.plotly_chart(charts.outcome_trend(series, bucket=bucket, markers=markers, title="Success rate"),
                      key="m_success")
    right.plotly_chart(charts.outcome_trend(series, bucket=bucket, metric="steps", markers=markers,
                                            title="Mean steps per trajectory"), key="m_steps")
    st.caption("Solid: success by ground truth (where the benchmark gives one); dotted: by the current verdict "
               "(a human label beats a judge's). Ticks along the top mark consolidations (merge) and approvals."
               + (" Trials have no time axis, so no ticks." if bucket == "trial" else "")
               + (f" Runs: {parts.md(key)}." if bucket == "run" and (key := charts.run_key(series)) else ""))

    st.subheader("Memory on vs off, and what kind of memory")
    left, right = st.columns([2, 3])  # the lessons' sources are several pairs of bars: room for their labels
    left.plotly_chart(charts.breakdown_bar(reads.run_outcome_breakdown("memory_mode"),
                                           "By memory mode of the run"), key="m_mode")
    right.plotly_chart(charts.breakdown_bar(reads.outcome_breakdown("memory_source"),
                                            "By source of the lessons retrieved"), key="m_source")
    st.caption("'By source' groups trajectories by the kind of lesson they were given (one trajectory may count "
               "under several); 'no memory retrieved' includes every run without memory. A faint bar rests on fewer "
               f"than {MIN_N} outcomes: it says its n, not a rate.")

    st.subheader("By domain")
    domains = reads.run_outcome_breakdown("domain")
    st.plotly_chart(charts.breakdown_bar(domains, "Success by domain"), key="m_domain")

    st.subheader("Which lessons help, which hurt")
    useful = reads.lesson_usefulness(10)
    if useful["measured"]:
        for key in ("helps", "hurts"):
            heading, note = parts.usefulness_heading(key, useful[key])
            st.markdown(f"**{heading}**")
            if note:
                st.caption(note)
            if useful[key]:
                tables.table(parts.as_percent(pd.DataFrame(useful[key]), "success_with", "success_without"),
                             USEFULNESS_COLUMNS, key=f"m_{key}", opens_item="item_id", wrap="title")
        st.caption(f"{useful['measured']:,} active lessons have been given to a labelled task. Each is compared "
                   "with the memory-on tasks of its domain that were given other lessons. A lesson *hurts* only "
                   "when the whole 95% interval of its lift is below zero — a bad rate on a handful of tasks is "
                   "not enough. Correlation, not proof: a reviewer decides.")
        who = ui.curator()
        if useful["to_flag"] and who and st.button(f"Send {useful['to_flag']} hurting lesson(s) to the review queue",
                                                   key="m_flag_hurting"):
            ui.act(lambda: bank.flag_hurting(actor=who),
                   lambda ids: f"Flagged {len(ids)} lesson(s) for review" if ids else "Nothing new to flag")
    else:
        st.caption("No lesson has been given to a labelled task yet: usefulness appears once memory-on runs are "
                   "recorded with their retrievals.")

    with st.expander("The numbers"):
        table = pd.DataFrame(series)
        for column in ("truth_success_rate", "verdict_success_rate"):
            if column in table:
                table[column] = table[column].map(parts.pct)
        tables.table(table, SERIES_COLUMNS, key="m_table")

    # agent runs and MaTTS (issue 7)
    agent = reads.agent_runs()
    if agent["runs"]:
        st.subheader("Task by task: agent runs and test-time scaling")
        st.plotly_chart(charts.task_curves(agent["runs"]), key="m_task_curves")
        tables.table([parts.agent_row(r) for r in agent["runs"]], parts.AGENT_RUN_COLUMNS, key="m_agent_runs",
                     wrap="run")
        run_links(agent["runs"])
        st.caption("A task counts once: by its best-of-N pick when it has several trajectories, else its last "
                   "attempt. Steps on successes vs failures is the paper's Table 4 view; pass@1 is a random pick "
                   "among a task's trajectories, pass@k whether any of them succeeded.")

    # paired comparison and leakage audit (issue 18)
    runs = reads.runs()
    if len(runs) >= 2:
        st.subheader("Compare two runs, task by task")
        labels = {f"#{r.run_id} {r.name}": r.run_id for r in runs}
        left, right = st.columns(2)
        run_a = labels[left.selectbox("A (baseline)", list(labels), index=0, key="m_cmp_a")]
        run_b = labels[right.selectbox("B", list(labels), index=len(labels) - 1, key="m_cmp_b")]
        if run_a == run_b:
            st.caption("Pick two different runs.")
        else:
            comparison, audits = reads.compare_runs(run_a, run_b)
            for audit in audits:
                if not audit.clean:  # a comparison with leakage says so first
                    st.warning(parts.md(" ".join(audit.summary(examples=1))))
            st.code("\n".join(render_comparison(comparison)), language=None, wrap_lines=True)
            st.caption("Differences are B − A over the tasks both runs attempted; intervals resample tasks (fixed "
                       "seed); the test counts only tasks where the runs differ. Leakage audit: "
                       + ("clean for both runs." if all(a.clean for a in audits) else "see above.")
                       + " The same with `bankcore compare` and `bankcore audit-run`.")

    usage = reads.llm_usage()
    if usage:
        st.subheader("LLM calls")
        tables.table(usage, LLM_COLUMNS, key="m_llm")
