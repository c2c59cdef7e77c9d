"""The store contract, run against every backend: DuckDB (a file) and PostgreSQL (a real embedded server with
pgvector, `pg_server.py`). The same calls must give the same answers, DuckDB being the oracle where both are read.

Covered on both backends (issue 17, first slice):
  Transactions, BankInfo, BankSettings, RunRepository, TrajectoryRepository, TrajectoryImports (an import of real
  fixture files through `learn.ingest` included), VerdictRepository, LearningQueues, MattsRepository,
  ItemRepository, EventLog, VectorRepository, RetrievalLog, LLMCallLog, StatsReads.judge_outcomes / llm_usage,
  NearestItems (against an exact oracle that never reads the store; on PostgreSQL through the HNSW index).
DashboardReads, StatsReads, AuditReads and ExperimentReads are swept (same answers as DuckDB on one small bank) by
`test_postgres_answers_as_duckdb_does`; audit findings on a damaged bank are compared too.
Queue claims by several workers (WorkClaims: one INSERT … ON CONFLICT DO NOTHING per key) are held to giving each key
to one worker, also under threads; the MaTTS group queues use them too (tests/test_matts.py).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from bankcore.curate import lifecycle
from bankcore.learn import ingest
from bankcore.errors import BankcoreError, ConflictError, NotFoundError
from bankcore.models import (
    ContrastExtraction, Extraction, ItemSource, LLMCall, MemoryItem, Retrieval, Run, Selection, Step, Trajectory,
    Truth, Verdict,
)
from bankcore.store import Store, migrations, open_store
from bankcore.learn import queues
from bankcore.learn.judge import HeuristicJudge
from bankcore.store.dialect import ddl_to_postgres, to_postgres
from bankcore.store.protocols import BankStore
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

T0 = datetime(2026, 1, 2, 3, 4, 5)
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# A PostgreSQL test starts (once per session) a server: a second process, left to `make test` like the others.
SERVER = [pytest.mark.slow, pytest.mark.subprocess]
DIM = 4


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=SERVER)])
def store(request, tmp_path):
    if request.param == "duckdb":
        yield Store(tmp_path / "bank.duckdb")
        return
    backend = open_store(request.getfixturevalue("pg_url"))
    try:
        yield backend
    finally:
        backend.close()


def trajectories(run_id: int, first_seq: int, n: int = 4) -> list[tuple[Trajectory, Truth | None]]:
    out = []
    for i in range(n):
        traj = Trajectory(task_id=f"task-{i % 2}", query=f"Book flight {i} 100% refundable?", source_format="test",
                          steps=[Step(0, "think", "search()", "3 results", {"tokens": 7}), Step(1, None, "book()")],
                          final_answer="done", domain="airline", trial=i // 2, started_at=T0, meta={"i": i},
                          traj_id=f"traj-{run_id}-{i:04d}", run_id=run_id, seq=first_seq + i)
        out.append((traj, Truth(success=i % 2 == 0, reward=float(i % 2 == 0), source="eval") if i < 3 else None))
    return out


def fill(store: BankStore) -> dict:
    """One small bank through the Protocols: a run, trajectories with truth, verdicts, items with history."""
    run = store.add_run(Run("import-1", "test", T0, source_path="/data/a.json", meta={"k": 1}))
    steps = store.insert_trajectories(trajectories(run.run_id, store.next_seq()))
    store.add_verdict(Verdict(traj_id=f"traj-{run.run_id}-0000", label="success", judge_id="llm:j", created_at=T0,
                              prompt_version="v1", signals={"loops": 0}))
    store.add_verdicts([Verdict(traj_id=f"traj-{run.run_id}-0001", label="failure", judge_id="llm:j", created_at=T0,
                                prompt_version="v1"),
                        Verdict(traj_id=f"traj-{run.run_id}-0001", label="success", judge_id="human:ana",
                                created_at=T0)])
    items = []
    for i in range(3):
        vector = [float(i == j) for j in range(DIM)]
        item = lifecycle.add_item(store, MemoryItem(
            f"Lesson {i}", f"When {i}.", f"Do {i}. Then check.", source="success" if i else "failure",
            confidence=0.5, domain="airline", flags=["hedge:x"] if i == 2 else [], embedding=vector,
            embedding_model="m", created_at=T0, updated_at=T0),
            [ItemSource(0, "evidence", traj_id=f"traj-{run.run_id}-000{i}", step_idxs=[0, 1])], actor="test")
        items.append(item)
    lifecycle.change_item(store, items[0].item_id, kind="APPROVE", actor="human:ana", status="approved")
    return {"run": run, "steps": steps, "items": items}


# ------------------------------------------------------------------------------------------------ schema
def test_migrations_create_the_schema_once(store):
    assert store.schema_version() == migrations.LATEST_VERSION
    assert [h["version"] for h in store.schema_history()] == [m.version for m in migrations.MIGRATIONS]
    for table in ("runs", "trajectories", "steps", "truth", "verdicts", "memory_items", "item_sources",
                  "memory_events", "extractions", "retrievals", "llm_calls", "bank_settings", "selections",
                  "contrast_extractions", "similarity_vectors"):
        assert store.count(table) == 0


def test_reopening_applies_nothing_twice(store, request):
    store.set_setting("policy", {"auto_approve": False, "min": 0.5})
    again = open_store(store.url if hasattr(store, "url") else store.path)
    try:
        assert again.schema_version() == migrations.LATEST_VERSION and again.upgraded is None
        assert again.get_setting("policy") == {"auto_approve": False, "min": 0.5}
        assert again.bank_id() == store.bank_id()
    finally:
        getattr(again, "close", lambda: None)()


# ------------------------------------------------------------------------------------------------ writes and reads
def test_trajectories_round_trip(store):
    made = fill(store)
    run_id = made["run"].run_id
    assert made["steps"] == 8 and store.next_seq() == 5
    traj = store.get_trajectory(f"traj-{run_id}-0002")
    assert traj.query == "Book flight 2 100% refundable?" and traj.meta == {"i": 2} and traj.started_at == T0
    assert [(s.index, s.thought, s.meta) for s in traj.steps] == [(0, "think", {"tokens": 7}), (1, None, {})]
    assert store.resolve_traj_id(f"traj-{run_id}-0003"[:-1] + "3") == f"traj-{run_id}-0003"
    with pytest.raises(BankcoreError, match="ambiguous"):
        store.resolve_traj_id(f"traj-{run_id}-000")
    assert [t.traj_id for t in store.get_trajectories([f"traj-{run_id}-0003", "nope", f"traj-{run_id}-0000"])] == \
        [f"traj-{run_id}-0003", f"traj-{run_id}-0000"]
    second = f"traj-{run_id}-0001"
    assert store.existing_traj_ids([second, second, "x"]) == {second: run_id}
    assert store.get_truth(f"traj-{run_id}-0003") is None and store.get_truth(f"traj-{run_id}-0000").success
    assert store.task_groups(run_id=run_id) == [(run_id, "task-0", [f"traj-{run_id}-0000", f"traj-{run_id}-0002"]),
                                                (run_id, "task-1", [f"traj-{run_id}-0001", f"traj-{run_id}-0003"])]
    assert store.run_task_ids(run_id) == ["task-0", "task-1"]
    assert len(list(store.iter_trajectories(page_size=3))) == 4
    attached = store.attach_truth([(f"traj-{run_id}-0003", Truth(success=False, source="eval")),
                                   (f"traj-{run_id}-0000", Truth(success=False, source="eval"))])
    assert attached.attached == [f"traj-{run_id}-0003"] and attached.conflicts == [f"traj-{run_id}-0000"]
    with pytest.raises(NotFoundError):
        store.get_trajectory("nope")


def test_items_and_their_append_only_history(store):
    made = fill(store)
    first = made["items"][0]
    item = store.get_item(first.item_id)
    assert item.status == "approved" and item.embedding == [1.0, 0.0, 0.0, 0.0] and item.version == 1
    assert [e.kind for e in store.item_events(first.item_id)] == ["ADD", "APPROVE"]
    assert store.query_items(status="pending", flagged=True)[0].title == "Lesson 2"
    assert store.count_items(status=["pending", "approved"], text="lesson") == 3
    assert store.find_same_lesson(made["items"][2]).item_id == made["items"][2].item_id
    assert store.item_sources(first.item_id)[0].step_idxs == [0, 1]
    run_id = made["run"].run_id
    assert store.items_from_trajectories([f"traj-{run_id}-0001"]) == {f"traj-{run_id}-0001": [2]}
    events_before = [(e.event_id, e.kind, e.before, e.after) for e in store.iter_events()]
    lifecycle.change_item(store, first.item_id, kind="EDIT", actor="human:bo", content="Do 0. Then verify.",
                          embedding=[0.0, 1.0, 0.0, 0.0])
    events_after = [(e.event_id, e.kind, e.before, e.after) for e in store.iter_events()]
    assert events_after[:len(events_before)] == events_before and events_after[-1][1] == "EDIT"
    assert store.snapshots_as_of(events_before[-1][0])[0][2]["content"] == "Do 0. Then check."
    assert store.decided_item_ids() == {first.item_id}


def test_edit_conflict_is_refused_not_lost(store):
    item = fill(store)["items"][1]
    seen = item.last_event_id
    lifecycle.change_item(store, item.item_id, kind="EDIT", actor="human:bo", expected_event_id=seen,
                          content="Scroll to the bottom.")
    with pytest.raises(ConflictError, match="EDIT by human:bo"):
        lifecycle.change_item(store, item.item_id, kind="EDIT", actor="human:ana", expected_event_id=seen,
                              content="Something else.")
    assert store.get_item(item.item_id).content == "Scroll to the bottom."


def test_concurrent_edits_of_one_item_one_wins_the_other_is_refused(store):
    """Two writers load the same item and edit it at once: exactly one edit lands, the other is refused."""
    item = fill(store)["items"][1]
    seen = item.last_event_id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(actor: str) -> None:
        barrier.wait()
        try:
            lifecycle.change_item(store, item.item_id, kind="EDIT", actor=actor, expected_event_id=seen,
                                  content=f"Edited by {actor}.")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("refused")

    threads = [threading.Thread(target=edit, args=(f"human:{name}",)) for name in ("ana", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    events = store.item_events(item.item_id)
    assert [e.kind for e in events] == ["ADD", "EDIT"] and store.get_item(item.item_id).version == 2


def test_concurrent_writers_take_distinct_ids(store):
    """Many threads appending verdicts and items at once: every row lands, no id is taken twice."""
    fill(store)
    def write(n: int) -> None:
        for i in range(5):
            store.add_verdict(Verdict(traj_id=f"w{n}-{i}", label="success", judge_id=f"llm:{n}"))
            lifecycle.add_item(store, MemoryItem(f"T{n}.{i}", "d.", "c.", source="success"), actor=f"w{n}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict_ids = [v.verdict_id for v in store.iter_verdicts()]
    event_ids = [e.event_id for e in store.iter_events()]
    assert len(verdict_ids) == 3 + 20 and len(set(verdict_ids)) == len(verdict_ids)
    assert len(event_ids) == 4 + 20 and len(set(event_ids)) == len(event_ids)
    assert store.max_item_id() == 23 and len({i.item_id for i in store.iter_items()}) == 23


def test_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_verdict(Verdict(traj_id="t1", label="failure", judge_id="heuristic:1"))
            store.set_setting("x", 1)
            raise RuntimeError("boom")
    assert store.count("verdicts") == 0 and store.get_setting("x") is None


# ------------------------------------------------------------------------------------------------ queues
def test_judging_and_extraction_queues(store):
    made = fill(store)
    run_id = made["run"].run_id
    ids = [f"traj-{run_id}-{i:04d}" for i in range(4)]
    assert store.unjudged("llm:j", "v1") == ids[2:]
    assert store.unjudged("llm:j", None) == ids
    current = store.current_verdicts()
    assert {k: (v.label, v.judge_id) for k, v in current.items()} == {
        ids[0]: ("success", "llm:j"), ids[1]: ("success", "human:ana")}
    queued = store.unextracted("x:1", "p1")
    assert [v.traj_id for v in queued] == ids[:2]
    store.add_extraction(Extraction(ids[0], "x:1", "p1", queued[0].verdict_id, "success", 1, T0))
    assert [v.traj_id for v in store.unextracted("x:1", "p1")] == ids[1:2]
    assert [e.traj_id for e in store.iter_extractions()] == [ids[0]]


def test_work_claims_give_each_key_to_one_worker(store):
    ids = [f"traj-{i}" for i in range(6)]
    assert store.claim_work("judge:j:v1", ids[:4], "a", 60) == ids[:4]
    assert store.claim_work("judge:j:v1", ids, "b", 60) == ids[4:]  # a's are a's
    assert store.claim_work("extract:x:p1", ids[:1], "b", 60) == ids[:1]  # another queue is another claim
    assert store.claim_work("judge:j:v1", ids[:2], "a", 60) == ids[:2]  # a's own again: renewed, still a's
    store.release_work("judge:j:v1", "a")
    assert store.claim_work("judge:j:v1", ids, "c", 60) == ids[:4]
    assert store.claim_work("judge:j:v1", ids[:1], "d", -1) == [] and store.claim_work("q", ids[:1], "d", -1) == ids[:1]
    assert store.claim_work("q", ids[:1], "e", 60) == ids[:1]  # d's lease ran out: free again


def test_concurrent_workers_claim_disjoint_work(store):
    ids = [f"traj-{i}" for i in range(40)]
    got: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        got[name] = [k for start in range(0, 40, 8) for k in store.claim_work("judge:j:v1", ids[start:start + 8],
                                                                               name, 60)]
    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [k for keys in got.values() for k in keys]
    assert sorted(claimed) == sorted(ids)  # every key to exactly one worker


def test_a_queue_run_leaves_what_another_worker_holds(store):
    made = fill(store)
    ids = [f"traj-{made['run'].run_id}-{i:04d}" for i in range(4)]
    judge = HeuristicJudge()
    queue = f"judge:{judge.judge_id}:{judge.prompt_version}"
    store.claim_work(queue, ids[:2], "another-process", 60)
    report = queues.judge_queue(store, judge)
    assert report.done == 2 and report.elsewhere == 2 and "2 left to another worker" in report.summary()
    assert store.unjudged(judge.judge_id, judge.prompt_version) == ids[:2]
    assert store.claim_work(queue, ids[2:], "someone", 60) == ids[2:]  # the run gave its own claims back
    store.release_work(queue, "another-process")
    assert queues.judge_queue(store, judge).done == 2 and store.unjudged(judge.judge_id, judge.prompt_version) == []


def test_matts_marks(store):
    made = fill(store)
    run_id = made["run"].run_id
    store.add_selection(Selection(run_id=run_id, task_id="task-0", traj_ids=["a", "b"], selector_id="s",
                                  chosen_traj_id="a", scores={"a": 1.0}, created_at=T0))
    store.add_contrast_extraction(ContrastExtraction(run_id=run_id, task_id="task-0", traj_ids=["a", "b"],
                                                     labels=["success", "failure"], verdict_ids=[1, 2],
                                                     extractor_id="x", n_items=2, created_at=T0))
    assert store.selections(run_id=run_id)[0].traj_ids == ["a", "b"]
    assert store.contrast_extractions("x")[0].verdict_ids == [1, 2]


# ------------------------------------------------------------------------------------------------ vectors
def exact_top(store: BankStore, query: np.ndarray, k: int) -> list[int]:
    """Exact cosine search over the vectors the store hands the retrieval cache (the oracle for any ANN index)."""
    rows = store.vector_rows("m")
    ids = rows.item_ids[rows.usable]
    vectors = store.item_vectors(ids, DIM)
    scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [int(ids[i]) for i in np.argsort(-scores, kind="stable")[:k]]


def test_retrieval_by_vector_exact(store):
    fill(store)
    assert exact_top(store, np.array([0.1, 0.9, 0.2, 0.0]), 2) == [2, 3]
    rows = store.vector_rows("m")
    assert rows.item_ids.tolist() == [1, 2, 3] and rows.usable.all()
    assert [rows.statuses[c] for c in rows.status] == ["approved", "pending", "pending"]
    assert store.vector_rows("m", changed_since=2).item_ids.tolist() == [1, 3]
    assert store.embedding_census() == {"m": 3}
    stale = store.items_needing_embedding("m2", DIM)
    written = store.set_embeddings([(i, [0.5] * DIM) for i in stale], model_id="m2", actor="reembed", reason="new")
    assert written == [1, 2, 3] and store.get_item(1).embedding_model == "m2"
    assert [e.kind for e in store.item_events(1)][-1] == "REEMBED"
    pairs = store.item_task_pairs()
    assert sorted(zip(pairs[0].tolist(), (pairs[2][c] for c in pairs[1]))) == [
        (1, "task-0"), (2, "task-1"), (3, "task-0")]


# ------------------------------------------------------------------------------------------------ nearest items
WIDE = 384  # what the PostgreSQL HNSW index covers (MiniLM's length)


def nearest_bank(store: BankStore, n: int = 240) -> dict:
    """Items with 384-long vectors in every status, three domains, two models, a few 4-long ones, each citing a
    trajectory of task-0 or task-1, and one item merged from a task-0 item (it rests on task-0 through its parent).
    Returns the rows as written, for an oracle that never reads the store."""
    rng = np.random.default_rng(7)
    run = store.add_run(Run("nearest", "test", T0))
    store.insert_trajectories(trajectories(run.run_id, store.next_seq()))
    rows = []
    with store.transaction():
        for i in range(n + 1):
            wide = i % 37 != 5
            vector = rng.standard_normal(WIDE if wide else DIM).astype(np.float32)
            item = store.add_item(MemoryItem(
                f"Lesson {i}", "When.", "Do.", source="success", created_at=T0,
                status=["approved", "approved", "pending", "rejected"][i % 4] if i < n else "approved",
                domain=["airline", "retail", None][i % 3], embedding=vector.tolist(),
                embedding_model="other" if i % 11 == 3 else "m"))
            if i < n:
                store.add_item_source(ItemSource(item.item_id, "evidence", traj_id=f"traj-{run.run_id}-000{i % 4}"))
                task = f"task-{i % 2}"
            else:  # merged from item 1 (task-0) and item 2 (task-1): rests on both
                for parent in (1, 2):
                    store.add_item_source(ItemSource(item.item_id, "parent", parent_item_id=parent))
                task = "task-0 task-1"
            rows.append({"id": item.item_id, "status": item.status, "domain": item.domain, "vector": vector,
                         "model": item.embedding_model, "tasks": set(task.split())})
    return {"rows": rows, "rng": rng}


def nearest_oracle(rows: list[dict], query: np.ndarray, k: int, *, model: str, statuses=("approved",),
                   domain=None, exclude_tasks=()) -> list[tuple[int, float]]:
    """Exact cosine top k over the rows as written, best first, ties by id."""
    found = [(-float(r["vector"] @ query / (np.linalg.norm(r["vector"]) * np.linalg.norm(query))), r["id"])
             for r in rows if r["model"] == model and r["status"] in statuses and len(r["vector"]) == len(query)
             and (domain is None or r["domain"] == domain) and not r["tasks"] & set(exclude_tasks)]
    return [(item_id, -negative) for negative, item_id in sorted(found)[:k]]


@pytest.mark.parametrize("filters", [
    {}, {"statuses": ("approved", "pending")}, {"domain": "retail"}, {"exclude_tasks": ["task-0"]},
    {"model": "other"}, {"statuses": ("rejected",)}, {"domain": "airline", "exclude_tasks": ["task-1", "task-9"]},
], ids=["approved", "pending-too", "domain", "other-task", "model", "rejected", "domain-and-task"])
def test_nearest_items_agree_with_exact_search(store, filters):
    rows = nearest_bank(store)["rows"]
    queries = np.random.default_rng(3).standard_normal((4, WIDE)).astype(np.float32)
    queries[0] = rows[-1]["vector"] + 0.1  # near the merged item, which every task-0/task-1 exclusion removes
    asked = {"model": "m", **filters}
    for query in queries:
        got = store.nearest_items(query, 10, **asked)
        want = nearest_oracle(rows, query, 10, **asked)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
        assert len(want) >= 5


def test_nearest_items_filters_hold(store):
    rows = nearest_bank(store)["rows"]
    by_id = {r["id"]: r for r in rows}
    merged = rows[-1]
    assert store.nearest_items(merged["vector"], 1, model="m") == [(merged["id"], pytest.approx(1.0, abs=1e-5))]
    assert merged["id"] not in dict(store.nearest_items(merged["vector"], 5, model="m", exclude_tasks=["task-1"]))
    pending = store.nearest_items(merged["vector"], 30, model="m", statuses=("pending",), domain="retail")
    assert len(pending) == len(nearest_oracle(rows, merged["vector"], 30, model="m", statuses=("pending",),
                                              domain="retail")) > 5 and {(by_id[i]["status"], by_id[i]["domain"], by_id[i]["model"]) for i, _ in pending
                                   } == {("pending", "retail", "m")}
    short = [r for r in rows if len(r["vector"]) == DIM and r["status"] == "approved" and r["model"] == "m"]
    assert [i for i, _ in store.nearest_items(short[0]["vector"], 50, model="m")] == [
        i for i, _ in nearest_oracle(rows, short[0]["vector"], 50, model="m")]  # other lengths: exact, both
    assert store.nearest_items(merged["vector"], 3, model="unknown") == []
    assert store.nearest_items(np.zeros(WIDE, np.float32), 3, model="m") == []


@pytest.mark.slow
@pytest.mark.subprocess
def test_postgres_has_the_hnsw_index_and_nearest_items_uses_it(pg_url):
    import time

    import psycopg

    from bankcore.store.postgres import HNSW_INDEX

    pg = open_store(pg_url)
    try:
        rows = nearest_bank(pg)["rows"]
        with psycopg.connect(pg_url, autocommit=True) as con:
            definition = con.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [HNSW_INDEX]).fetchone()
            assert definition is not None and "hnsw" in definition[0] and "vector_cosine_ops" in definition[0]
            assert con.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'memory_items_item_id'").fetchone()
            scans = "SELECT coalesce(idx_scan, 0) FROM pg_stat_user_indexes WHERE indexrelname = %s"
            before = con.execute(scans, [HNSW_INDEX]).fetchone()[0]
            assert [i for i, _ in pg.nearest_items(rows[0]["vector"], 5, model="m")] == [
                i for i, _ in nearest_oracle(rows, rows[0]["vector"], 5, model="m")]
            deadline = time.monotonic() + 10  # the server publishes a backend's counts within a second or so
            while con.execute(scans, [HNSW_INDEX]).fetchone()[0] == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert con.execute(scans, [HNSW_INDEX]).fetchone()[0] > before
    finally:
        pg.close()


def test_similarity_vectors_adopted_written_and_read(store):
    made = fill(store)
    assert store.adopt_similarity_vectors("m", DIM) == 3
    assert store.set_similarity_vectors([(made["items"][0], [0.0] * DIM)], model_id="m") == []  # has one
    assert store.set_similarity_vectors([(made["items"][0], [0.5] * DIM)], model_id="m2") == [1]
    ids, vectors = store.similarity_vectors([3, 1, 99], "m", DIM)
    assert ids.tolist() == [1, 3] and vectors.dtype == np.float32 and vectors[1].tolist() == [0, 0, 1, 0]
    assert store.items_needing_similarity_vector("m", DIM) == []


def test_similarity_vectors_are_the_present_versions_else_the_items_own(store):
    made = fill(store)
    own = [[float(i == j) for j in range(DIM)] for i in range(3)]
    ids, vectors = store.similarity_vectors([3, 2, 1, 99], "m", DIM)  # none stored: each item's own vector counts
    assert ids.tolist() == [1, 2, 3] and vectors.tolist() == own
    assert store.set_similarity_vectors([(made["items"][1], [0.5] * DIM)], model_id="m") == [2]
    assert store.set_similarity_vectors([(made["items"][2], [0.25] * DIM)], model_id="m2") == [3]
    ids, vectors = store.similarity_vectors([2, 3], "m", DIM)  # a stored row wins; another model's does not count
    assert ids.tolist() == [2, 3] and vectors.tolist() == [[0.5] * DIM, own[2]]
    lifecycle.change_item(store, 2, kind="EDIT", actor="human:ana", content="Do 1 twice.",
                          embedding=[0.0, 0.0, 0.0, 1.0], embedding_model="m")
    ids, vectors = store.similarity_vectors([1, 2], "m", DIM)  # version 1's stored row is stale: the new own vector
    assert ids.tolist() == [1, 2] and vectors.tolist() == [own[0], [0.0, 0.0, 0.0, 1.0]]
    assert store.similarity_vectors([1, 2], "m", DIM + 1)[0].tolist() == []  # no vector of that length
    assert store.similarity_vectors([], "m", DIM)[1].shape == (0, DIM)


def test_items_to_compare_hold_what_planning_reads(store):
    fill(store)
    lifecycle.change_item(store, 2, kind="REJECT", actor="human:ana", status="rejected")
    full = store.query_items(status=["pending", "approved"])
    lean = store.items_to_compare(("pending", "approved"))
    fields = ("item_id", "title", "description", "content", "source", "status", "domain", "flags", "version",
              "last_event_id")
    assert [[getattr(i, f) for f in fields] for i in lean] == [[getattr(i, f) for f in fields] for i in full]
    assert [i.item_id for i in lean] == [1, 3] and lean[0].status == "approved" and lean[1].flags == ["hedge:x"]


def test_retrieval_log_and_llm_calls(store):
    made = fill(store)
    run_id = made["run"].run_id
    store.add_retrievals([Retrieval(query="q", item_id=1, rank=1, score=0.5, k=2, task_id="task-0", run_id=run_id,
                                    as_of_event=4),
                          Retrieval(query="q", item_id=2, rank=2, score=0.25, k=2, task_id="task-0", run_id=run_id)])
    assert store.link_retrievals(f"traj-{run_id}-0000", "task-0", "q") == 2
    assert store.retrieval_counts() == {1: 1, 2: 1} and store.run_as_of_event(run_id) == 4
    useful = {u.item_id: u for u in store.usefulness_counts()}
    assert set(useful) == {1, 2}
    call = store.add_llm_call(LLMCall(purpose="judge", model="m", prompt_hash="h", temperature=0.0,
                                      request={"messages": []}, response="Status: success", tokens_in=3))
    assert store.cached_llm_call("h", "m").call_id == call.call_id
    store.attach_llm_calls("traj-x", [call.call_id])
    assert [c.traj_id for c in store.iter_llm_calls()] == ["traj-x"]


# ------------------------------------------------------------------------------------------------ both alike
SWEEP = [
    ("list_runs", {}), ("trajectory_keys", {}), ("task_trajectories", {}), ("select_traj_ids", {}),
    ("traj_ids_from_source", {"source_path": "/data/a.json"}), ("iter_verdicts", {}), ("current_verdicts", {}),
    ("iter_items", {}), ("iter_item_sources", {}), ("iter_events", {}), ("events_of_kind", {"kinds": ["ADD"]}),
    ("latest_events_of", {"item_ids": [1, 2], "kinds": ["ADD", "APPROVE"]}), ("retrieval_signature", {}),
    ("embedding_census", {}), ("item_task_ids", {"item_ids": [1, 2, 3]}), ("lineage_edges", {"item_id": 1}),
    ("active_item_ids", {"item_ids": [1, 2, 3, 4]}), ("get_items", {"item_ids": [3, 1]}),
    ("item_sources_of", {"item_ids": [1, 2]}), ("child_item_ids", {"item_id": 1}), ("last_event_id", {}),
    ("event_id_at", {"moment": datetime(2100, 1, 1)}), ("bank_settings", {}), ("usefulness_counts", {}),
    ("judge_outcomes", {}), ("llm_usage", {}), ("get_run", {"run_id": 1}), ("find_run", {"name": "import-1"}),
    ("run_queries", {"run_id": 1}), ("iter_retrievals", {}), ("iter_llm_calls", {}), ("iter_settings", {}),
    ("item_sources", {"item_id": 1}), ("get_event", {"event_id": 2}), ("get_truths", {"traj_ids": ["traj-1-0000"]}),
    # DashboardReads
    ("review_counts", {}), ("latest_batches", {"kinds": ["ADD"]}), ("count_batches", {"kinds": ["ADD"]}),
    ("judge_usage", {}), ("extractor_usage", {}), ("item_facets", {}),
    ("browse_items", {"filters": {"status": ["pending"]}}), ("browse_items", {"filters": {}, "order": "title"}),
    ("retrieval_stats", {"item_ids": [1, 2]}), ("item_retrievals", {"item_id": 1}), ("item_evidence", {"item_id": 1}),
    ("item_parent_ids", {"item_id": 1}), ("items_with_versions", {}), ("merged_items", {}), ("review_queue", {}),
    ("browse_trajectories", {}), ("browse_trajectories", {"label": "success", "text": "flight"}),
    ("matching_traj_ids", {"label": "unjudged"}), ("judge_vs_humans", {}), ("verdict_flips", {"since_verdict_id": 1}),
    ("max_verdict_id", {}), ("outcome_series", {}), ("outcome_series", {"bucket": "day"}),
    ("outcome_series", {"bucket": "window", "split": "domain"}), ("outcome_breakdown", {"by": "memory_mode"}),
    ("outcome_breakdown", {"by": "domain"}), ("event_markers", {"kinds": ["ADD"]}), ("event_bounds", {}),
    ("event_times", {"event_ids": [1, 2]}), ("status_counts_as_of", {"event_ids": [1, 3, 4]}),
    ("confidence_as_of", {"event_ids": [1, 4]}), ("items_as_of", {"event_id": 3}),
    ("items_as_of", {"event_id": 4, "status": ["pending"], "text": "lesson"}), ("merge_graph", {}),
    ("merge_graph", {"item_id": 1}), ("recent_events", {}), ("recent_events", {"kinds": ["ADD"], "item_id": 1}),
    # StatsReads, AuditReads, ExperimentReads
    ("table_counts", {}), ("item_counts", {}), ("run_outcomes", {}), ("agent_task_outcomes", {}),
    ("agent_run_summaries", {"curve_points": 10}),
    ("audit_findings", {}), ("run_attempts", {"run_id": 1}), ("same_task_retrievals", {"run_id": 1}),
    ("future_retrievals", {"run_id": 1}), ("run_prompt_texts", {"run_id": 1}), ("bank_snapshot", {}),
    ("fingerprint", {}),
]


def normal(value):
    """A value with iterators and numpy arrays made comparable."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items() if k != "bank_id"}
    return value


@pytest.mark.parametrize("fixture", ["mini-swe-v2", "mini-swe"])
def test_import_lands_whole_and_once(store, fixture):
    """A real import (side file, then one commit) lands the same trajectories on both backends; again, nothing."""
    first = ingest.import_path(store, FIXTURES / fixture)
    again = ingest.import_path(store, FIXTURES / fixture)
    trajs = list(store.iter_trajectories(with_truth=True))
    assert trajs and len(trajs) == store.count("trajectories") == len({t.traj_id for t, _ in trajs})
    assert sum(len(t.steps) for t, _ in trajs) == store.count("steps")
    assert [t.seq for t, _ in trajs] == list(range(1, len(trajs) + 1))
    assert {t.run_id for t, _ in trajs} == {store.list_runs()[0].run_id} and len(store.list_runs()) == 1
    assert first is not None and again is not None


@pytest.mark.slow
@pytest.mark.subprocess
def test_import_gives_the_same_trajectories_on_both(tmp_path, pg_url):
    duck, pg = Store(tmp_path / "bank.duckdb"), open_store(pg_url)
    try:
        for backend in (duck, pg):
            ingest.import_path(backend, FIXTURES / "mini-swe")
        assert normal(list(pg.iter_trajectories(with_truth=True))) == \
            normal(list(duck.iter_trajectories(with_truth=True)))
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_postgres_answers_as_duckdb_does(tmp_path, pg_url):
    """The same bank built through both backends reads back the same through every swept method."""
    duck, pg = Store(tmp_path / "bank.duckdb", clock=lambda: T0), open_store(pg_url, clock=lambda: T0)
    try:
        for backend in (duck, pg):
            fill(backend)
            backend.add_retrievals([Retrieval(query="q", item_id=1, rank=1, score=0.5, k=2, task_id="task-0",
                                              run_id=1, as_of_event=4)])
            backend.link_retrievals("traj-1-0000", "task-0", "q")
            backend.add_llm_call(LLMCall(purpose="agent", model="m", prompt_hash="h", temperature=0.0,
                                         request={"messages": []}, response="x", tokens_in=3, traj_id="traj-1-0000"))
            backend.finish_run(1, T0, {"done": True})
            backend.update_run(Run("import-1", "test", T0, agent_model="gpt", matts_k=3, finished_at=T0, run_id=1))
        for name, kwargs in SWEEP:
            assert normal(getattr(pg, name)(**kwargs)) == normal(getattr(duck, name)(**kwargs)), name
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_open_store_picks_the_backend(tmp_path, pg_url):
    assert type(open_store(tmp_path / "b.duckdb")) is Store
    pg = open_store(pg_url)
    try:
        assert type(pg).__name__ == "PostgresStore" and pg.schema_version() == migrations.LATEST_VERSION
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_audit_finds_the_same_damage_on_both(tmp_path, pg_url):
    """A bank changed behind the store's back (hand-run SQL): `bankcore check`'s queries find the same on both."""
    damage = ["UPDATE memory_items SET title = 'changed off the log' WHERE item_id = 2",
              "DELETE FROM memory_events WHERE event_id = 1",
              "INSERT INTO verdicts (verdict_id, traj_id, label, judge_id, created_at) "
              "VALUES (99, 'nowhere', 'success', 'x', TIMESTAMP '2026-01-01 00:00:00')",
              "UPDATE memory_items SET flags = '[\"other:y\"]' WHERE item_id = 3"]
    duck, pg = Store(tmp_path / "bank.duckdb", clock=lambda: T0), open_store(pg_url, clock=lambda: T0)
    try:
        for backend in (duck, pg):
            fill(backend)
            with backend._con() as con:
                for sql in damage:
                    con.execute(sql)
        found = pg.audit_findings()
        assert found == duck.audit_findings()
        assert {kind for kind, count, _ in found if count} >= {
            "history_without_creation", "item_differs_from_its_history", "verdict_points_nowhere"}
    finally:
        pg.close()


# What PostgresStore has beyond the Protocols: its URL (the Protocol's `path` is a Path, which folds a URL's `//`)
# and closing its connection pool. Anything else public must be in bankcore/store/protocols.py.
POSTGRES_OWN = {"url", "close"}


@pytest.mark.slow
@pytest.mark.subprocess
def test_postgres_store_keeps_to_the_protocols(pg_url):
    import inspect

    from test_store_protocols import BACKEND_OPTIONS, attributes, methods, public_methods, shape

    pg = open_store(pg_url)
    try:
        cls = type(pg)
        wrong = {name for name, declared in methods(BankStore).items()
                 if shape(inspect.getattr_static(cls, name)) != shape(declared)}
        assert wrong == set()
        assert public_methods(cls) - set(methods(BankStore)) == POSTGRES_OWN - {"url"}
        assert {name for name in attributes(BankStore) if not hasattr(pg, name)} == set()
        public = {name for name in vars(pg) if not name.startswith("_")}
        assert public - attributes(BankStore) - BACKEND_OPTIONS == POSTGRES_OWN - {"close"}
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_tour_on_postgres(pg_url, capsys):
    """`--db postgresql://…` selects the PostgreSQL bank for the CLI: the learning loop runs on it end to end."""
    from bankcore.cli import main

    steps = [["init"], ["import", str(FIXTURES / "mini-swe")], ["judge", "--judge", "heuristic"], ["extract"],
             ["review", "approve", "1"], ["retrieve", "fix the failing test"], ["check"], ["stats"]]
    for step in steps:
        assert main(["--db", pg_url, *step]) == 0, step
    out = capsys.readouterr().out
    assert "added 3" in out and "approved #1" in out and "consistent" in out and "trajectories 3" in out
    pg = open_store(pg_url)
    try:
        assert pg.get_item(1).status == "approved" and pg.count("verdicts") == 3
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.apptest
def test_the_dashboard_opens_a_postgres_bank(pg_url, monkeypatch):
    """BANKCORE_DB=postgresql://… : the dashboard opens it (no file to look for), lists its lessons, and names the
    bank by its URL as given (a Path would fold its `//`)."""
    from streamlit.testing.v1 import AppTest

    from bankcore.cli import main

    for step in [["import", str(FIXTURES / "mini-swe")], ["judge", "--judge", "heuristic"], ["extract"]]:
        assert main(["--db", pg_url, *step]) == 0, step
    monkeypatch.setenv("BANKCORE_DB", pg_url)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("screens/1_Memory_bank.py").run()
    assert not at.exception, [e.message for e in at.exception]
    pg = open_store(pg_url)
    try:
        titles = {i.title for i in pg.iter_items()}
    finally:
        pg.close()
    shown = " ".join(str(t.value.to_string()) for t in at.dataframe)
    assert titles and any(title[:30] in shown for title in titles)
    assert "No bank here" not in " ".join(str(e.value) for e in at.title)
    assert any(str(c.value).startswith("Bank: `postgresql://") for c in at.sidebar.caption)


@pytest.mark.slow
@pytest.mark.subprocess
def test_dropped_connections_lose_nothing_and_are_replaced(pg_url):
    """The server drops every connection (a restart): a transaction cut mid-way leaves nothing half-written, and
    the next calls get fresh connections."""
    import psycopg

    def drop_all() -> None:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    pg = open_store(pg_url)
    try:
        fill(pg)
        with pytest.raises(psycopg.OperationalError):
            with pg.transaction():
                pg.add_verdict(Verdict(traj_id="cut", label="success", judge_id="llm:j"))
                drop_all()
                pg.add_verdict(Verdict(traj_id="cut", label="failure", judge_id="llm:j"))
        drop_all()
        assert pg.count("verdicts") == 3 and pg.verdict_history("cut") == []
        assert pg.add_verdict(Verdict(traj_id="after", label="success", judge_id="llm:j")).verdict_id == 4
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_bank_moves_from_duckdb_to_postgres_and_back_unchanged(tmp_path, pg_url):
    """export from DuckDB → import-bank into PostgreSQL → export again: the same bytes; and back into DuckDB."""
    import gzip

    from bankcore import Bank
    from bankcore.models import ItemSource as Source

    duck = Bank(tmp_path / "bank.duckdb")
    duck.import_path(FIXTURES / "mini-swe")
    made = fill(duck.store)
    lifecycle.add_item(duck.store, MemoryItem("Merged", "When merged.", "Do merged.", source="success",
                                              embedding=[0.25] * DIM, embedding_model="m"),
                       [Source(0, "parent", parent_item_id=made["items"][1].item_id)], actor="test")
    duck.store.add_llm_call(LLMCall(purpose="judge", model="m", prompt_hash="h", temperature=0.0,
                                    request={"messages": [{"role": "user", "content": "é ✓"}]}, response="ok"))
    first, second, third = (tmp_path / f"{n}.jsonl.gz" for n in ("one", "two", "three"))
    duck.export(first)
    pg_bank = Bank(pg_url)
    try:
        pg_bank.import_bank(first)
        pg_bank.export(second)
    finally:
        pg_bank.store.close()
    assert gzip.decompress(second.read_bytes()) == gzip.decompress(first.read_bytes())
    back = Bank(tmp_path / "back.duckdb")
    back.import_bank(second)
    back.export(third)
    assert gzip.decompress(third.read_bytes()) == gzip.decompress(first.read_bytes())


@pytest.mark.slow
@pytest.mark.subprocess
def test_read_only_postgres_bank_reads_and_refuses_writes(pg_url):
    import psycopg

    from bankcore.errors import SchemaError

    empty = open_store(pg_url, read_only=True)
    with pytest.raises(SchemaError, match="not a bankcore bank"):
        empty.schema_version()
    empty.close()
    writer = open_store(pg_url)
    fill(writer)
    writer.close()
    reader = open_store(pg_url, read_only=True)
    try:
        assert reader.get_item(1).title == "Lesson 0" and reader.count("verdicts") == 3
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.add_verdict(Verdict(traj_id="x", label="success", judge_id="human:x"))
        assert reader.count("verdicts") == 3
    finally:
        reader.close()


# ------------------------------------------------------------------------------------------------ the dialect
@pytest.mark.parametrize("duckdb_sql, postgres_sql", [
    ("SELECT a FROM t WHERE b = ? AND c LIKE 'human:%'", "SELECT a FROM t WHERE b = %s AND c LIKE 'human:%%'"),
    ("SELECT item_id FROM memory_items WHERE list_contains(?, item_id)",
     "SELECT item_id FROM memory_items WHERE item_id = ANY(%s)"),
    ("SELECT list(DISTINCT item_id ORDER BY item_id), len(embedding) FROM s",
     "SELECT array_agg(DISTINCT item_id ORDER BY item_id), cardinality(embedding) FROM s"),
    ("SELECT m.embedding::FLOAT[384] FROM m SEMI JOIN ids i ON m.item_id = i.item_id",
     "SELECT m.embedding::real[] FROM m JOIN ids i ON m.item_id = i.item_id"),
    ("SELECT count(*) FILTER (k.ok), count(*) FILTER (WHERE k.ok) FROM k",
     "SELECT count(*) FILTER (WHERE k.ok), count(*) FILTER (WHERE k.ok) FROM k"),
    ("INSERT OR REPLACE INTO bank_settings (key, value) VALUES (?, ?)",
     "INSERT INTO bank_settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
    ("SELECT json_extract_string(after, '$.status'), l.after->>'$.title', CAST(json_extract(after, '$.version') AS "
     "INTEGER), TRY_CAST(x AS DOUBLE), arg_max(after, event_id) FROM e",
     "SELECT (after->>'status'), l.after->>'title', CAST((after->>'version') AS INTEGER), "
     "CAST(x AS DOUBLE PRECISION), (array_agg(after ORDER BY event_id DESC))[1] FROM e"),
    ("SELECT unnest(CAST(related->'$.traj_ids' AS TEXT[])) FROM e WHERE json_type(related->'$.traj_ids') = 'ARRAY'",
     "SELECT json_array_elements_text(related->'traj_ids') FROM e WHERE json_typeof(related->'traj_ids') = 'array'"),
    ("SELECT (n - 1) // 5, strftime(date_trunc('hour', created_at), '%Y-%m-%d %H:00') FROM e",
     "SELECT (n - 1) / 5, to_char(date_trunc('hour', created_at), 'YYYY-MM-DD HH24:00') FROM e"),
])
def test_dialect_rewrites_duckdb_sql_for_postgres(duckdb_sql, postgres_sql):
    assert to_postgres(duckdb_sql).sql == postgres_sql


def test_dialect_reorders_reused_dollar_parameters():
    translated = to_postgres("SELECT * FROM m WHERE a = $2 AND b = $1 AND c = $2")
    assert translated.sql == "SELECT * FROM m WHERE a = %s AND b = %s AND c = %s"
    assert translated.params(["one", "two"]) == ["two", "one", "two"]
    assert ddl_to_postgres("CREATE TABLE t (e FLOAT[], d DOUBLE, j JSON)") == \
        "CREATE TABLE t (e REAL[], d DOUBLE PRECISION, j JSON)"


WRITER_PROCESS = """
import sys
from bankcore.curate import lifecycle
from bankcore.models import MemoryItem, Verdict
from bankcore.store import open_store
store = open_store(sys.argv[1])
name = sys.argv[2]
for i in range(15):
    store.add_verdict(Verdict(traj_id=f"{name}-{i}", label="success", judge_id=f"llm:{name}"))
    lifecycle.add_item(store, MemoryItem(f"{name} {i}", "d.", "c.", source="success"), actor=name)
    lifecycle.change_item(store, 1, kind="EDIT", actor=name, confidence=i / 15)
store.close()
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_several_processes_write_one_bank_and_nothing_is_lost(pg_url):
    """Four processes append verdicts, add items and edit one shared item at once: every write lands once, every
    id is distinct, and the shared item's history has one event per edit, in one chain."""
    import subprocess
    import sys

    pg = open_store(pg_url)
    try:
        lifecycle.add_item(pg, MemoryItem("Shared", "d.", "c.", source="success"), actor="test")
        procs = [subprocess.Popen([sys.executable, "-c", WRITER_PROCESS, pg_url, f"w{n}"]) for n in range(4)]
        assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
        verdicts = list(pg.iter_verdicts())
        assert len(verdicts) == 60 and len({v.verdict_id for v in verdicts}) == 60
        assert pg.count("memory_items") == 61 and len({i.item_id for i in pg.iter_items()}) == 61
        events = pg.item_events(1)
        assert [e.kind for e in events] == ["ADD"] + ["EDIT"] * 60
        assert all(later.before == earlier.after for earlier, later in zip(events, events[1:]))
        # the item and event checks pass; the verdicts are of trajectories this test never imported
        assert {kind: n for kind, n, _ in pg.audit_findings(0) if n} == {"verdict_points_nowhere": 60}
    finally:
        pg.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_password_in_the_url_is_used_but_never_shown(pg_url):
    with_password = pg_url.replace("postgres:@", "postgres:s3cret@")
    pg = open_store(with_password)
    try:
        assert pg.schema_version() == migrations.LATEST_VERSION
        assert "s3cret" not in str(pg.path) and "s3cret" not in pg.url and pg.url.startswith("postgresql://postgres@")
    finally:
        pg.close()
