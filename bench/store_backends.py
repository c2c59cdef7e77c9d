"""DuckDB file vs PostgreSQL (issue 17), measured in the same run on the same synthetic bank: bulk import, item
writes through curation, vector loads for retrieval, the queue and screen reads, and concurrent writers.

    .venv/bin/python bench/store_backends.py [--items 3000] [--trajectories 3000] [--threads 8]

PostgreSQL is the embedded server the tests start (tests/embedded_pg.py: the first wheel of the `postgres` extra whose
pgvector builds an HNSW index on this CPU) on a Unix socket in a temp dir, so the figures are the backends' own
costs on one machine, not a network's. Prints medians and the PG/DuckDB ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from bankcore.curate import lifecycle
from bankcore.models import MemoryItem, Step, Trajectory, Truth, Verdict, Run
from bankcore.store import Store, open_store

DIM = 384
T0 = datetime(2026, 1, 1)


def synthetic_trajectories(run_id: int, n: int) -> list[tuple[Trajectory, Truth]]:
    return [(Trajectory(task_id=f"task-{i % 200}", query=f"query {i}", source_format="bench",
                        steps=[Step(s, f"thought {s}", f"action {s}", f"observation {s} " * 20) for s in range(10)],
                        domain="bench", trial=i // 200, started_at=T0, traj_id=f"t{i:07d}", run_id=run_id, seq=i + 1),
             Truth(success=i % 3 != 0, source="bench")) for i in range(n)]


def timed(fn, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def measure(store, args) -> dict[str, float]:
    """Seconds (or ms per operation where the name says so) for each step, on one backend."""
    rng = np.random.default_rng(0)
    got: dict[str, float] = {}
    run = store.add_run(Run("bench", "bench", T0))
    trajs = synthetic_trajectories(run.run_id, args.trajectories)
    got["import trajectories (s)"] = timed(lambda: store.insert_trajectories(trajs))[0]
    vectors = rng.standard_normal((args.items, DIM)).astype(np.float32)

    def add_items() -> None:
        with store.transaction():
            for i in range(args.items):
                lifecycle.add_item(store, MemoryItem(f"Lesson {i}", f"When {i}.", f"Do {i}.", source="success",
                                                     embedding=vectors[i].tolist(), embedding_model="m"),
                                   actor="bench")
    got["add items, one transaction (s)"] = timed(add_items)[0]
    per = timed(lambda: lifecycle.change_item(store, int(rng.integers(1, args.items)), kind="APPROVE",
                                              actor="human:b", status="approved"), repeat=50)
    got["change_item, own transaction (ms/op)"] = statistics.median(per) * 1000

    def load_vectors() -> None:
        rows = store.vector_rows("m")
        store.item_vectors(rows.item_ids[rows.usable], DIM)
    got["vector_rows + item_vectors (s)"] = statistics.median(timed(load_vectors, repeat=3))
    store.add_verdicts([Verdict(traj_id=t.traj_id, label="success" if i % 2 else "failure", judge_id="llm:j")
                        for i, (t, _) in enumerate(trajs)])
    for name, call in [("unjudged", lambda: store.unjudged("llm:k", None)),
                       ("unextracted", lambda: store.unextracted("x", None)),
                       ("current_verdicts", lambda: store.current_verdicts()),
                       ("judge_outcomes", store.judge_outcomes), ("run_outcomes", store.run_outcomes),
                       ("review_queue", lambda: store.review_queue()), ("audit_findings", store.audit_findings)]:
        got[f"{name} (ms)"] = statistics.median(timed(call, repeat=3)) * 1000

    def writer(n: int) -> None:
        for i in range(args.writes):
            store.add_verdict(Verdict(traj_id=f"t{(n * args.writes + i) % args.trajectories:07d}", label="success",
                                      judge_id=f"human:{n}"))
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.threads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    got[f"{args.threads} threads appending verdicts (writes/s)"] = args.threads * args.writes / elapsed
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--trajectories", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--writes", type=int, default=50, help="verdicts per thread")
    args = parser.parse_args()
    try:
        import psycopg  # noqa: F401 — the backend's driver
    except ImportError:
        print("needs the postgres extra: pip install -e '.[postgres]'", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from embedded_pg import new_database, running, wheel_of

    with tempfile.TemporaryDirectory(prefix="bankcore-bench-") as folder, running("bankcore-bench-pg-") as server:
        print(f"embedded PostgreSQL from {wheel_of(server)}", flush=True)
        duck = Store(Path(folder) / "bank.duckdb")
        pg = open_store(new_database(server, "bench"))
        results = {"duckdb": measure(duck, args), "postgres": measure(pg, args)}
        pg.close()
    print(f"{args.trajectories} trajectories x 10 steps, {args.items} items ({DIM}-d vectors); same machine, same run")
    print(f"{'':48} {'duckdb':>10} {'postgres':>10} {'pg/duck':>8}")
    for name in results["duckdb"]:
        d, p = results["duckdb"][name], results["postgres"][name]
        print(f"{name:48} {d:10.3f} {p:10.3f} {p / d:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
