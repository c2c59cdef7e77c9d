"""The Metrics screen's agent-run figures summed in the store (`Store.agent_run_summaries`) are the figures the
read side used to compute from every task's row (`task_summary`, `success_curve` over `agent_task_outcomes`): at
100k trajectories that was ~50k Python dicts built for a dozen numbers per run. Those two stay here, as the
reference definition of the figures, not in the product (ff052cb)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bankcore.learn import ingest
from bankcore.models import LLMCall, Selection, Verdict
from bankcore.read.metrics import CURVE_POINTS, agent_stats
from bankcore.read.quality import rounded as _round
from bankcore.store import Store, open_store
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


# ---------------------------------------------------------------------- the reference, over every task's row
def _mean(values: list) -> float | None:
    """The mean of the known values; None when none is known (as SQL's avg)."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def task_summary(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Task-level outcomes of a set of tasks (rows of `Store.agent_task_outcomes`): the reference definitions
    `Store.agent_run_summaries` (which `agent_stats` reads) is tested against. A task's outcome is that of
    the trajectory that counts for it (its first best-of-N pick, else its last attempt); steps on successes vs failures
    is the paper's Table 4 view; MaTTS adds best-of-N, pass@1 (a random pick, exact expectation) and pass@k."""
    n = len(tasks)
    known = [t for t in tasks if t["final_truth"] is not None]
    judged = [t for t in tasks if t["final_judged"] is not None]
    groups = [t for t in tasks if t["trajectories"] > 1 and t["with_truth"] == t["trajectories"]]
    picked = [t for t in groups if t["selected"]]
    out = {
        "tasks": n,
        "trajectories": sum(t["trajectories"] for t in tasks),
        "success_rate": _round(_mean([float(t["final_truth"]) for t in known])),
        "with_truth": len(known),
        "judged_success_rate": _round(_mean([float(t["final_judged"]) for t in judged])),
        "mean_steps": _round(_mean([t["final_steps"] for t in tasks]), 3),
        "mean_steps_success": _round(_mean([t["final_steps"] for t in known if t["final_truth"]]), 3),
        "mean_steps_failure": _round(_mean([t["final_steps"] for t in known if not t["final_truth"]]), 3),
        "llm_calls_per_task": _round(_mean([t["llm_calls"] for t in tasks]), 3),
        "tokens_per_task": _round(_mean([t["tokens_in"] + t["tokens_out"] for t in tasks]), 1),
        "agent_tokens_per_task": _round(_mean([t["agent_tokens"] for t in tasks]), 1),
    }
    if groups:
        out["matts"] = {
            "groups": len(groups),
            "mean_k": _round(_mean([t["trajectories"] for t in groups]), 3),
            "best_of_n": _round(_mean([float(t["final_truth"]) for t in picked])),
            "picked": len(picked),
            "pass_at_1": _round(_mean([t["mean_truth"] for t in groups])),
            "pass_at_k": _round(_mean([float(t["any_truth"]) for t in groups])),
        }
    return out


def success_curve(tasks: list[dict[str, Any]], points: int = CURVE_POINTS) -> list[dict[str, Any]]:
    """Success over time within a run: consecutive blocks of tasks in the order the run did them, each with its
    success rate, the cumulative rate so far and mean steps."""
    if not tasks:
        return []
    size = -(-len(tasks) // points)
    curve, seen = [], []
    for start in range(0, len(tasks), size):
        block = tasks[start:start + size]
        known = [float(t["final_truth"]) for t in block if t["final_truth"] is not None]
        seen += known
        curve.append({"first_task": start + 1, "last_task": start + len(block),
                      "success_rate": _round(_mean(known)), "cumulative_success_rate": _round(_mean(seen)),
                      "mean_steps": _round(_mean([t["final_steps"] for t in block]), 3)})
    return curve


def from_every_task(store) -> dict:
    """agent_stats as it was before (c82a090): every task's row into Python, summed there."""
    by_run: dict = {}
    for row in store.agent_task_outcomes():
        by_run.setdefault(row["run_id"], []).append(row)
    runs, modes = [], {}
    for run in sorted(store.list_runs(), key=lambda r: (r.started_at, r.run_id)):
        tasks = by_run.get(run.run_id, [])
        if tasks:
            runs.append({"run_id": run.run_id, **task_summary(tasks), "curve": success_curve(tasks)})
        if tasks and run.memory_mode not in (None, "unknown"):
            entry = modes.setdefault((run.env, run.memory_mode, run.matts_mode, run.matts_k), {"runs": [], "t": []})
            entry["runs"].append(run.run_id)
            entry["t"] += tasks
    by_memory = [{"env": key[0], "memory_mode": key[1], "matts_mode": key[2], "matts_k": key[3], "runs": e["runs"],
                  **task_summary(e["t"])} for key, e in modes.items()]
    return {"runs": runs, "by_memory": by_memory}


def judged_picked_and_paid(store) -> None:
    """Verdicts (some uncertain), LLM calls with tokens, and best-of-N picks for half the MaTTS groups: the columns
    the imported runs leave empty."""
    by_task: dict = {}
    for n, (traj, _) in enumerate(store.iter_trajectories(with_truth=True)):
        by_task.setdefault((traj.run_id, traj.task_id), []).append(traj.traj_id)
        if n % 3:
            store.add_verdict(Verdict(traj_id=traj.traj_id, label=("success", "failure", "uncertain")[n % 4 % 3],
                                      judge_id="judge:test"))
        if n % 4 == 0:
            store.add_llm_call(LLMCall(purpose="agent" if n % 8 else "judge", model="m", prompt_hash=f"h{n}",
                                       temperature=0.0, request={}, response="r", tokens_in=100 + n,
                                       tokens_out=n % 7, traj_id=traj.traj_id))
    groups = [(key, ids) for key, ids in by_task.items() if len(ids) > 1]
    for (run_id, task_id), ids in groups[::2]:
        store.add_selection(Selection(task_id=task_id, traj_ids=ids, selector_id="heuristic:test",
                                      chosen_traj_id=ids[len(ids) // 2], run_id=run_id))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.subprocess])])
def demo_store(request, tmp_path):
    """The demo's eight runs (web and bug fixing, memory off and on, MaTTS trials) imported on each backend."""
    store = (Store(tmp_path / "bank.duckdb") if request.param == "duckdb"
             else open_store(request.getfixturevalue("pg_url")))
    try:
        for path in sorted(DEMO.glob("*.jsonl")):
            ingest.import_path(store, path)
        judged_picked_and_paid(store)
        yield store
    finally:
        getattr(store, "close", lambda: None)()  # a PostgreSQL store holds a connection; DuckDB's opens per call


def test_summed_in_the_store_as_from_every_task(demo_store):
    said, before = agent_stats(demo_store), from_every_task(demo_store)
    assert len(said["runs"]) == len(before["runs"]) > 5 and said["by_memory"]
    matts = [r["matts"] for r in before["runs"] if "matts" in r]
    assert matts and matts[0]["picked"] and before["runs"][0]["judged_success_rate"] is not None
    assert before["runs"][0]["tokens_per_task"] and before["runs"][0]["agent_tokens_per_task"]
    assert [{k: r[k] for k in b} for r, b in zip(said["runs"], before["runs"])] == before["runs"]
    assert said["by_memory"] == before["by_memory"]
    assert all(len(r["curve"]) <= CURVE_POINTS for r in said["runs"])
