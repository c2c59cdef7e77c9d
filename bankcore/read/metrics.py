"""Bank statistics: counts, and success rate / mean steps per run (and per trial) by truth and by current verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import Store
from .counts import ItemCounts
from .quality import JudgeQuality, against_truth, rounded, silent_judges


def _round(value: float | None, digits: int = 4) -> float | None:
    return rounded(value, digits)


def _outcome(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "trajectories": row["trajectories"],
        "mean_steps": _round(row["mean_steps"], 3),
        "truth": {
            "n": row["with_truth"],
            "success_rate": _round(row["truth_success_rate"]),
            "mean_steps_success": _round(row["truth_mean_steps_success"], 3),
            "mean_steps_failure": _round(row["truth_mean_steps_failure"], 3),
        },
        "verdict": {
            "n": row["judged"],
            "success_rate": _round(row["verdict_success_rate"]),
            "mean_steps_success": _round(row["verdict_mean_steps_success"], 3),
            "mean_steps_failure": _round(row["verdict_mean_steps_failure"], 3),
        },
    }


def run_outcomes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run (and per trial within it), from `Store.run_outcomes` rows: trajectories, mean steps, success by truth
    and by the current verdict."""
    runs: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["trial"] is None and row["run_id"] not in runs:
            runs[row["run_id"]] = {"run_id": row["run_id"], "name": row["name"], "format": row["source_format"],
                                   "memory_mode": row["memory_mode"], **_outcome(row), "trials": []}
        elif row["trial"] is not None:
            runs[row["run_id"]]["trials"].append({"trial": row["trial"], **_outcome(row)})
    for run in runs.values():
        if not run["trials"]:
            del run["trials"]
    return list(runs.values())


@dataclass(frozen=True)
class BankStats:
    """Everything `bankcore stats` reports, read through one connection: counts, items by source and status, run
    outcomes, the judges' quality (`quality.JudgeQuality`, silent LLM judges included) and agent runs."""

    bank: str
    schema_version: int
    counts: dict[str, int]
    items: ItemCounts
    approved_on_disputed_label: int  # approved lessons resting on a label the ground truth contradicts
    runs: list[dict[str, Any]]
    judges: list[JudgeQuality]
    agent: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The JSON `bankcore stats --json` prints."""
        return {
            "bank": self.bank,
            "schema_version": self.schema_version,
            "counts": self.counts,
            "items": {"by_source": self.items.by_source, "by_status": self.items.by_status,
                      "by_source_status": [{"source": source, "status": status, "count": n}
                                           for source, status, n in self.items.by_source_status],
                      "approved_on_disputed_label": self.approved_on_disputed_label},
            "runs": self.runs,
            "judges": [j.as_stats() for j in self.judges],
            "agent": self.agent,
        }


def read_stats(store: Store) -> BankStats:
    """The bank's statistics as values, read through one connection."""
    with store.reading():
        judges = against_truth(store.judge_outcomes())
        return BankStats(store.location, store.schema_version(), store.table_counts(),
                         ItemCounts.of(store.item_counts()), store.count_items(status="approved", disputed=True),
                         run_outcomes(store.run_outcomes()), judges + silent_judges(judges, store.llm_usage()),
                         agent_stats(store))


def bank_stats(store: Store) -> dict[str, Any]:
    """Counts, items, run outcomes, judges and agent runs as the JSON `bankcore stats --json` prints."""
    return read_stats(store).as_dict()


# ---------------------------------------------------------------------- agent runs and MaTTS (issue 7)
CURVE_POINTS = 10


MEMORY_WORDS = {"none": "memory off", "reasoningbank": "ReasoningBank"}


def memory_in_words(memory_mode: str | None, matts_mode: str | None = None, matts_k: int | None = None) -> str:
    """A run's memory setting as a reader says it ('memory off', 'ReasoningBank + MaTTS (parallel, k=3)'), not the
    stored value ('none', 'reasoningbank'): the dashboard's charts and tables label runs and lines with it."""
    said = ("memory mode not recorded" if memory_mode in (None, "unknown")
            else MEMORY_WORDS.get(memory_mode, memory_mode))
    if matts_mode:
        said += f" + MaTTS ({matts_mode}" + (f", k={matts_k})" if matts_k else ")")
    return said


def summary_of(row: dict[str, Any]) -> dict[str, Any]:
    """A run's (or memory mode's) task-level figures from a row of `Store.agent_run_summaries`, summed in SQL (the
    reference definitions, over every task's row, are `task_summary` in tests/test_agent_run_summaries.py)."""
    out = {"tasks": row["tasks"], "trajectories": int(row["trajectories"]),
           "success_rate": _round(row["success_rate"]), "with_truth": row["with_truth"],
           "judged_success_rate": _round(row["judged_success_rate"]),
           **{key: _round(row[key], 3) for key in ("mean_steps", "mean_steps_success", "mean_steps_failure",
                                                     "llm_calls_per_task")},
           "tokens_per_task": _round(row["tokens_per_task"], 1),
           "agent_tokens_per_task": _round(row["agent_tokens_per_task"], 1)}
    if row["matts_groups"]:
        out["matts"] = {"groups": row["matts_groups"], "mean_k": _round(row["matts_mean_k"], 3),
                        "best_of_n": _round(row["matts_best_of_n"]), "picked": row["matts_picked"],
                        "pass_at_1": _round(row["matts_pass_at_1"]), "pass_at_k": _round(row["matts_pass_at_k"])}
    return out


def curve_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Success over time within a run, from its blocks of `Store.agent_run_summaries` (consecutive blocks of tasks
    in the order the run did them): each block's rate, the running one and mean steps."""
    curve, known, successes = [], 0, 0
    for b in blocks:
        known, successes = known + b["with_truth"], successes + b["successes"]
        curve.append({"first_task": b["first_task"], "last_task": b["last_task"],
                      "success_rate": _round(b["successes"] / b["with_truth"] if b["with_truth"] else None),
                      "cumulative_success_rate": _round(successes / known if known else None),
                      "mean_steps": _round(b["mean_steps"], 3)})
    return curve


def agent_stats(store: Store) -> dict[str, Any]:
    """Per run (in the order runs started) and per memory mode: task-level success, steps, cost and MaTTS — the
    figures of `Store.agent_task_outcomes`, summed in the store (`summary_of`, `curve_of`)."""
    sums = store.agent_run_summaries(CURVE_POINTS)
    by_run = {row["run_id"]: row for row in sums["runs"]}
    curves: dict[int, list[dict[str, Any]]] = {}
    for block in sums["curves"]:
        curves.setdefault(block["run_id"], []).append(block)
    mode_sums = {(r["env"], r["memory_mode"], r["matts_mode"], r["matts_k"]): r for r in sums["by_memory"]
                 if r["memory_mode"] not in (None, "unknown")}
    runs, modes = [], {}
    for run in sorted(store.list_runs(), key=lambda r: (r.started_at, r.run_id)):
        if run.run_id not in by_run:
            continue
        runs.append({"run_id": run.run_id, "name": run.name, "format": run.source_format, "env": run.env,
                     "agent_model": run.agent_model, "memory_mode": run.memory_mode, "matts_mode": run.matts_mode,
                     "matts_k": run.matts_k, "started_at": run.started_at, "finished_at": run.finished_at,
                     **summary_of(by_run[run.run_id]), "curve": curve_of(curves.get(run.run_id, []))})
        if run.memory_mode not in (None, "unknown"):
            modes.setdefault((run.env, run.memory_mode, run.matts_mode, run.matts_k), []).append(run.run_id)
    by_memory = [{"env": env, "memory_mode": memory, "matts_mode": matts, "matts_k": k, "runs": run_ids,
                  **summary_of(mode_sums[(env, memory, matts, k)])}
                 for (env, memory, matts, k), run_ids in modes.items()]
    return {"runs": runs, "by_memory": by_memory}


def _two_decimals(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _format_agent(agent: dict[str, Any], pct) -> list[str]:
    lines = []

    def line(head: str, row: dict[str, Any]) -> str:
        text = (f"{head}: {row['tasks']} tasks, success {pct(row['success_rate'])}, steps "
                f"{_two_decimals(row['mean_steps'])} (successes {_two_decimals(row['mean_steps_success'])} / "
                f"failures {_two_decimals(row['mean_steps_failure'])})")
        if row["llm_calls_per_task"]:
            text += f", {row['llm_calls_per_task']:.1f} LLM calls and {row['tokens_per_task']:,.0f} tokens per task"
        matts = row.get("matts")
        if matts:
            text += (f"; best-of-N {pct(matts['best_of_n'])}, pass@1 {pct(matts['pass_at_1'])}, pass@k "
                     f"{pct(matts['pass_at_k'])} over {matts['groups']} groups")
        return text

    def mode(row: dict[str, Any]) -> str:
        memory = "memory mode not recorded" if row["memory_mode"] in (None, "unknown") else row["memory_mode"]
        return memory + (f" + MaTTS {row['matts_mode']} k={row['matts_k']}" if row["matts_mode"] else "")

    for run in agent["runs"]:
        if run["format"] == "live" or run.get("matts"):
            kind = "agent run" if run["format"] == "live" else "trials of imported run"
            lines.append(line(f"  {kind} {run['run_id']} {run['name']} ({mode(run)})", run))
    for row in agent["by_memory"]:
        lines.append(line(f"  memory {mode(row)} on {row['env']} ({len(row['runs'])} run(s))", row))
    return lines


def format_stats(stats: dict[str, Any]) -> str:
    """Human-readable stats for the terminal."""
    c = stats["counts"]
    lines = [
        f"bank {stats['bank']} (schema v{stats['schema_version']})",
        f"  runs {c['runs']}, trajectories {c['trajectories']}, steps {c['steps']}, verdicts {c['verdicts']}, "
        f"items {c['memory_items']}, events {c['memory_events']}",
    ]
    if stats["items"]["by_source_status"]:
        parts = ", ".join(f"{r['source']}/{r['status']} {r['count']}" for r in stats["items"]["by_source_status"])
        lines.append(f"  items by source/status: {parts}")
    disputed = stats["items"].get("approved_on_disputed_label")
    if disputed:
        lines.append(f"  {disputed} approved item(s) rest on a label the ground truth contradicts "
                     "(`bankcore review list --disputed --status approved`)")

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    for run in stats["runs"]:
        lines.append(f"  run {run['run_id']} {run['name']} ({run['format']}): {run['trajectories']} trajectories, "
                     f"mean steps {_two_decimals(run['mean_steps'])}, "
                     f"success by truth {pct(run['truth']['success_rate'])} "
                     f"(n={run['truth']['n']}), by verdict {pct(run['verdict']['success_rate'])} "
                     f"(n={run['verdict']['n']})")
        for trial in run.get("trials", []):
            lines.append(f"      trial {trial['trial']}: {trial['trajectories']} trajectories, "
                         f"truth {pct(trial['truth']['success_rate'])}, "
                         f"verdict {pct(trial['verdict']['success_rate'])}")
    lines += _format_agent(stats["agent"], pct) if "agent" in stats else []
    for judge in stats.get("judges", []):
        truth, humans = judge["vs_truth"], judge["vs_humans"]
        line = f"  judge {judge['judge_id']} [{judge['prompt_version'] or '—'}]: {judge['judged']} verdicts"
        if judge.get("uncertain"):
            line += f" ({judge['uncertain']} uncertain: no label)"
        if "llm_calls" in judge:
            line += (f" from {judge['llm_calls']} LLM calls ({judge['failed_calls']} failed or unusable; the "
                     "replies are kept in the bank's llm_calls table)")
        if truth["n"] or truth["uncertain"]:
            line += (f", vs truth (n={truth['n']}): coverage {pct(truth['coverage'])}, accuracy on labelled "
                     f"{pct(truth['accuracy'])}, balanced {pct(truth['balanced_accuracy'])}")
        if humans["n"]:
            line += f", agrees with humans {pct(humans['agreement'])} (n={humans['n']})"
        lines.append(line)
    return "\n".join(lines)
