"""Trajectories & judging: browse runs and trajectories, read one step by step with every verdict beside the
truth, label it yourself, rerun judging with another judge or model (and see what flipped), and measure judges."""

import streamlit as st

from bankcore.read import MIN_N
from dashboard import charts, parts, reads, tables, ui
from dashboard.tables import Col

VERDICTS = {"any verdict": None, "judged success": "success", "judged failure": "failure",
            "judged uncertain": "uncertain", "not judged": "unjudged"}
TRUTHS = {"any truth": None, "truly success": True, "truly failure": False}
# The judge's label and the truth side by side first: that comparison is what this list is for.
TRAJECTORY_COLUMNS = [
    Col("task_id", "task", 150), Col("verdict", "judged", 80), Col("truth", "truth", 80),
    Col("query", "query", 200, fill=True), Col("judge", "by", 130, help="who gave the current label"),
    Col("num_steps", "steps", 60, kind="number"), Col("trial", "trial", 50, kind="number"),
    Col("domain", "domain", 110), Col("reward", "reward", 70, kind="number"), Col("traj_id", "trajectory", 110),
]
FLIP_COLUMNS = [
    Col("task_id", "task", 150), Col("old_label", "label before", 95), Col("new_label", "label now", 90),
    Col("truth", "truth", 80), Col("new_judge", "now by", 130), Col("query", "query", 195, fill=True),
    Col("old_judge", "before by", 130), Col("traj_id", "trajectory", 110),
]


def add_trajectories(bank, expanded: bool) -> None:
    """Upload a trajectory file, import it, and (optionally) judge and extract from it: `bankcore learn` in a form."""
    with st.expander("Add trajectories from a file", icon=":material/upload_file:", expanded=expanded):
        who = ui.need_curator()
        if who is None:
            return
        with st.form("upload_form"):
            upload = st.file_uploader("Trajectory file (one run)", type=["jsonl", "json", "txt"], key="upload_file",
                                      help="Any format `bankcore import` reads; see the README for the native one.")
            cols = st.columns(2)
            fmt = cols[0].selectbox("Format", ["auto", *ui.IMPORT_FORMATS], key="upload_format")
            learn = cols[1].checkbox("Then judge it and extract lessons", value=True, key="upload_learn",
                                     help="With the LLM when one is configured, else the offline heuristic judge "
                                          "and extractor (their lessons wait for review).")
            go = st.form_submit_button("Import", icon=":material/upload:", type="primary", key="upload_go")
        if go and upload is None:
            st.error("Choose a file first.")
        elif go:
            path = ui.keep_upload(upload.name, upload.getvalue())

            def write():
                with st.spinner(f"Importing {upload.name}…"):
                    return bank.learn(path, fmt=fmt) if learn else bank.import_path(path, fmt=fmt)
            ui.act(write, lambda report: report.summary().replace(str(path), upload.name).replace("\n", " · "))


with ui.page("Trajectories & judging", ":material/route:") as bank:
    runs = reads.runs()
    add_trajectories(bank, expanded=not runs)
    if not runs:
        st.info("No trajectories yet. Add a file above, import some with `bankcore import FILE`, or build the "
                "demo bank with `bankcore demo`.")
        st.stop()
    run_names = {f"#{r.run_id} {r.name}": r.run_id for r in runs}
    mode = st.segmented_control("Show", ["Browse", "Rerun judging", "Judge quality"], default="Browse",
                                key="traj_mode") or "Browse"

    if mode == "Browse":
        with st.container(border=True):
            cols = st.columns([3, 2, 2, 2])
            run = cols[0].selectbox("Run", ["all runs", *run_names], key="t_run", bind="query-params")
            verdict = VERDICTS[cols[1].selectbox("Verdict", list(VERDICTS), key="t_verdict")]
            truth = TRUTHS[cols[2].selectbox("Truth", list(TRUTHS), key="t_truth")]
            disagree = cols[3].checkbox("Judge ≠ truth", key="t_disagree")
            text = st.text_input("Task or query contains", key="t_text")
        filters = {"run_id": run_names.get(run), "label": verdict, "truth": truth, "disagreement": disagree,
                   "text": text.strip() or None}
        st.session_state["t_filters"] = filters  # "Rerun judging" can take what these filters select
        rows, total = reads.browse_trajectories(filters, ui.PAGE_SIZE, parts.page_offset("traj_page", ui.PAGE_SIZE))
        st.caption(f"{total:,} trajectories match · select a row to open it")
        tables.table(rows, TRAJECTORY_COLUMNS, key="traj_table", selection_mode="single-row",
                     on_select=parts.open_selected("traj_table", [r["traj_id"] for r in rows], "traj"))
        parts.pager(total, "traj_page", ui.PAGE_SIZE)

        traj_id = st.text_input("Open trajectory id", key="traj", bind="query-params").strip()
        if traj_id:
            st.divider()
            tp = reads.trajectory_page(traj_id)
            t = tp.trajectory
            st.caption(f"run {parts.md(tp.run_name)} · task {parts.md(t.task_id)} · "
                       + (f"trial {t.trial} · " if t.trial is not None else "")
                       + (f"domain {parts.md(t.domain)} · " if t.domain else "") + f"{t.num_steps} steps")
            if t.run_id is not None and tp.run_name is not None:
                st.page_link(parts.TRAJECTORIES_PAGE, label="Every trajectory of this run",
                             query_params=parts.run_link(t.run_id, tp.run_name))
            st.text(t.query)
            current = tp.current
            cols = st.columns(3)
            cols[0].metric("Current label", current.label if current else "not judged",
                           help=f"from {parts.md(current.judge_id)}" if current else None)
            cols[1].metric("Truth", "—" if not tp.truth or tp.truth.success is None
                           else ("success" if tp.truth.success else "failure"))
            cols[2].metric("Verdicts", len(tp.verdicts))
            st.markdown("**Every verdict, side by side**")
            tables.table(parts.verdicts_table(tp.verdicts, tp.truth), tables.VERDICT_COLUMNS, key="traj_verdicts",
                         wrap="kind")
            if any(v.rationale for v in tp.verdicts):
                with st.expander("Every rationale in full"):
                    st.markdown(parts.verdict_lines(tp.verdicts, tp.truth, show=len(tp.verdicts), limit=None))

            who = ui.need_curator()
            if who:
                with st.form("human_label"):
                    cols = st.columns([1, 3, 1])
                    # No preselected answer: a label is a judgement, and Save must not record a default.
                    label = cols[0].radio("Your label", ["success", "failure"], index=None,
                                          key=f"label_value_{t.traj_id}")
                    rationale = cols[1].text_input("Why (kept with the label)", key="label_rationale")
                    saved = cols[2].form_submit_button("Save label", key="label_save", type="primary")
                if saved and label is None:
                    st.warning("Choose success or failure first.")
                elif saved:
                    mark = ui.event_mark()
                    ui.act(lambda: bank.label(t.traj_id, label, by=who.removeprefix("human:"),
                                              rationale=rationale.strip()),
                           f"Labelled {t.task_id} {label} as {who}",
                           undo=lambda done: ui.undo_flips(done[1], mark, "what the new label did to the lessons "
                                                           "resting on it (the label stays)"))

            if tp.items:
                st.markdown("**Lessons extracted from it**")
                for item in tp.items:
                    st.page_link("screens/1_Memory_bank.py", query_params={"item": item.item_id},
                                 label=f"{parts.label_of(item)} — {parts.md(item.title, 90)}")
            st.markdown("**Steps**")
            parts.steps(t, key=f"traj_steps_{t.traj_id}")

    elif mode == "Rerun judging":
        who = ui.need_curator()
        scope = st.radio("Judge again", ["what Browse shows", "one run", "one task", "everything"], horizontal=True,
                         key="rj_scope")
        if scope == "what Browse shows":
            # set filters only; "truly failure" is truth=False, a filter like any other (an unticked box is not)
            selection = {k: v for k, v in st.session_state.get("t_filters", {}).items()
                         if v is not None and (v is not False or k == "truth")}
            if not selection:  # never "everything" by default: that is its own, explicit choice
                st.caption("No filters are set on Browse, so this selects nothing. Set filters there, pick a run "
                           "or a task, or choose everything.")
            else:
                st.caption("The trajectories matching the filters set on Browse: "
                           + parts.md(parts.selection_in_words(selection, {v: k for k, v in run_names.items()})))
        elif scope == "one run":
            selection = {"run_id": run_names[st.selectbox("Run", list(run_names), key="rj_run")]}
        elif scope == "one task":
            selection = {"task_id": st.text_input("Task id", key="rj_task").strip() or None}
        else:
            selection = {}
        empty = scope == "what Browse shows" and not selection
        preview, count = reads.browse_trajectories(selection, 5) if not empty else ([], 0)
        cols = st.columns([1, 2])
        kind = cols[0].radio("With", ["heuristic", "llm"], key="rj_judge",
                             format_func=lambda k: "offline heuristic judge" if k == "heuristic" else "an LLM judge")
        model = cols[1].text_input("Model", ui.settings().llm_model or "", key="rj_model",
                                   disabled=kind != "llm") if kind == "llm" else None
        if kind == "llm" and not ui.settings().llm_configured:
            st.warning("No LLM endpoint is configured: set one on the Settings page (or OPENAI_API_KEY / "
                       "BANKCORE_LLM_BASE_URL in the environment).")
        usage = {u["purpose"]: u for u in reads.llm_usage()}
        judge_use = usage.get("judge")
        estimate = f"{count:,} trajectories"
        if kind == "llm":
            estimate += f" → up to {count:,} LLM calls (cached answers are free)"
            if judge_use and judge_use["calls"]:
                per = ((judge_use["tokens_in"] or 0) + (judge_use["tokens_out"] or 0)) / judge_use["calls"]
                estimate += f", ≈ {per * count:,.0f} tokens at this bank's {per:,.0f} tokens per judge call so far"
        st.caption(estimate)
        if preview:
            st.dataframe([{"trajectory": r["traj_id"][:10], "task": r["task_id"], "label now": r["verdict"] or "—",
                           "truth": {True: "success", False: "failure"}.get(r["truth"], "—")} for r in preview],
                         hide_index=True, key="rj_preview")
            if count > len(preview):
                st.caption(f"…and {count - len(preview):,} more.")
        # Many labels may change at once: say what follows, and ask first.
        confirmed = who and count and st.checkbox(
            f"Judge these {count:,} trajectories again: labels that flip flag the lessons resting on them, and "
            "approved ones leave retrieval until approved again", key="rj_confirm")
        if who and st.button("Rerun judging", key="rj_go", type="primary", disabled=not confirmed):
            before = reads.max_verdict_id()
            bar = st.progress(0.0, text="judging…")
            seen = [0]

            def advance(n: int) -> None:
                seen[0] += n
                bar.progress(min(1.0, seen[0] / max(count, 1)), text=f"judged {seen[0]:,} of {count:,}")

            mark = ui.event_mark()

            def write():
                report = bank.rejudge_selected(reads.matching_traj_ids(selection), judge=kind,
                                               model=model or None, on_progress=advance)
                st.session_state["rj_result"] = {"summary": report.summary(), "since": before,
                                                 "tokens": report.tokens_in + report.tokens_out,
                                                 "errors": list(report.errors)}
                return report
            ui.act(write, "Judging finished",
                   undo=lambda report: ui.undo_flips(report.flips, mark, "what re-judging did to the lessons "
                                                     "(flags, withdrawals; the new verdicts stay)"))
        result = st.session_state.get("rj_result")
        if result:
            st.success(result["summary"])
            for error in result["errors"]:
                st.caption(parts.md(error))
            flips = reads.verdict_flips(result["since"])
            st.markdown(f"**{len(flips)} labels flipped** (items resting on them are flagged for review; approved "
                        "ones leave retrieval until approved again)")
            if flips:
                tables.table(flips, FLIP_COLUMNS, key="rj_flips")

    else:
        qualities = reads.judge_quality()
        if not qualities:
            st.info("Judge quality needs verdicts on trajectories that have a ground truth or a human label.")
            st.stop()
        st.caption("Each judge's latest label per trajectory against the ground truth (from the benchmark) and "
                   "against human labels. Balanced accuracy averages the recall on successes and on failures, so "
                   "a judge that always says 'success' scores 50%. A judge may answer 'uncertain' (no label): "
                   "coverage is the share it labelled, and accuracy is measured on those.")
        for q in qualities:
            with st.container(border=True):
                left, right = st.columns([1, 2])
                left.markdown(f"**{parts.md(q.judge_id)}**" + (f" · prompt {parts.md(q.prompt_version)}"
                                                                 if q.prompt_version else "")
                              + f" vs **{'the truth' if q.reference == 'truth' else 'human labels'}**")
                parts.rate_metric(left, "Accuracy" + (" on labelled" if q.uncertain else ""), q.tp + q.tn, q.n)
                left.metric("Balanced accuracy", parts.pct(q.balanced_accuracy) if q.n >= MIN_N else "—",
                            help="The mean of the recall on successes and on failures"
                                 + ("" if q.n >= MIN_N else f": not rated below n={MIN_N}"))
                if q.uncertain:
                    left.caption(f"coverage {parts.pct(q.coverage)}: {q.uncertain:,} uncertain, not counted above")
                right.plotly_chart(charts.confusion(q), key=f"cm_{q.judge_id}_{q.prompt_version}_{q.reference}")
