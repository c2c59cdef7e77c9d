"""The Metrics screen's agent-run figures summed in the store (`Store.agent_run_summaries`) are the figures the
read side used to compute from every task's row (`task_summary`, `success_curve` over `agent_task_outcomes`): at
100k trajectories that was ~50k Python dicts built for a dozen numbers per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bankcore.learn import ingest
from bankcore.models import LLMCall, Selection, Verdict
from bankcore.read.metrics import CURVE_POINTS, agent_stats, success_curve, task_summary
from bankcore.store import Store, open_store
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


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
