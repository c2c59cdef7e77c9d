"""Retrieval through PostgreSQL's HNSW index gives what the in-process exact search gives: the same items in the same
order, under every rule a query carries (status, domain, source, leave-one-task-out, minimum similarity, k). The
exact search in memory is the oracle; a real PostgreSQL with pgvector, real MiniLM vectors."""

from __future__ import annotations

import itertools
import json

import pytest

from bankcore import Bank
from bankcore.curate import lifecycle
from bankcore.models import ItemSource, MemoryItem
from bankcore.search.embed import Embedder
from bankcore.search.retrieve import Query, Retriever
from bankcore.store import Store, open_store
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

VERBS = ["Verify", "Look up", "Confirm", "Check", "Search for", "Compare", "Read", "Record"]
OBJECTS = [("the reservation id before cancelling", "airline"), ("the fare rules before a refund", "airline"),
           ("the baggage allowance by tier", "airline"), ("the exact title of the entity", "qa"),
           ("the failing test before editing code", "swe"), ("the order status before a return", "shop"),
           ("the shipping address with the user", "shop"), ("the stack trace of the error", "swe")]
TASKS = 12
QUERIES = ["I need to cancel my flight and get my money back", "Which film did the director of Jaws make next?",
           "The unit test fails after my change to the parser", "Return a pair of shoes I bought last week",
           "How many checked bags can a gold member take?"]


def _lessons() -> list[MemoryItem]:
    items = []
    for n, (verb, (obj, domain)) in enumerate(itertools.product(VERBS, OBJECTS)):
        status = "approved" if n % 5 else "pending"
        if n % 17 == 3:
            status = "rejected"
        items.append(MemoryItem(f"{verb} {obj}", f"{verb} {obj}, every time.",
                                f"{verb} {obj}; acting without it failed before.",
                                source="success" if n % 3 else "failure", domain=domain, status=status,
                                extractor_id="heuristic:1", confidence=0.5))
    return items


def _fill(bank: Bank, tmp_path) -> None:
    runs = tmp_path / "runs.jsonl"
    runs.write_text("".join(json.dumps({"task_id": f"task-{t}", "query": f"task {t}", "steps": [
        {"thought": "t", "action": "a", "observation": "o"}], "truth": {"success": True}}) + "\n" for t in range(TASKS)))
    bank.import_path(runs)
    by_task = {t.task_id: t.traj_id for t in bank.store.iter_trajectories()}
    items = _lessons()
    Embedder().embed_items(items)
    for n, item in enumerate(items):
        lifecycle.add_item(bank.store, item, [ItemSource(0, "evidence", traj_id=by_task[f"task-{n % TASKS}"],
                                                         step_idxs=[0])], actor="heuristic:1")


def _queries():
    for text, k, task, domain, source, pending, floor in itertools.product(
            QUERIES, (1, 4), (None, "task-3"), (None, "airline"), (None, "failure"), (False, True), (None, 0.3)):
        yield Query(text, k=k, task_id=task, domain=domain, source=source, include_pending=pending,
                    min_similarity=floor)


@pytest.fixture
def pg_bank(pg_url, tmp_path):
    store = open_store(pg_url)
    store.schema_version()
    bank = Bank(store)
    _fill(bank, tmp_path)
    yield bank
    store.close()


def test_the_index_returns_what_the_exact_search_returns(pg_bank):
    by_index = Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0, vector_search="index")
    in_memory = Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0, vector_search="memory")
    assert pg_bank.store.searches_by_index()
    checked = 0
    for query in _queries():
        assert by_index.uses_index(query) and not in_memory.uses_index(query)
        got = by_index.retrieve(query, log=False)
        want = in_memory.retrieve(query, log=False)
        assert [h.item.item_id for h in got] == [h.item.item_id for h in want], query
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
        checked += bool(want)
    assert checked > 200  # not vacuous: 264 of the 640 queries return something (floors and domains empty the rest)


def test_a_logged_retrieval_through_the_index_is_logged_like_any_other(pg_bank):
    retriever = Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0, vector_search="index")
    hits = retriever.retrieve(Query(QUERIES[0], k=2, task_id="task-3"))
    logged = [r for r in pg_bank.store.iter_retrievals() if r.task_id == "task-3"]
    assert len(hits) == 2
    assert [(r.item_id, r.rank) for r in logged] == [(h.item.item_id, h.rank) for h in hits]
    assert all(r.as_of_event and r.as_of_event > 0 for r in logged)


def test_auto_searches_in_memory_on_a_small_bank_and_duckdb_never_uses_an_index(pg_bank, tmp_path):
    auto = Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0)
    assert not auto.uses_index(Query("anything"))  # 64 items: far below the size where the index pays
    assert not Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0, vector_search="index").uses_index(
        Query("anything", ranking="hybrid"))  # a bonus on every item: only the full ranking can apply it
    duck = Store(tmp_path / "bank.duckdb")
    assert not duck.searches_by_index()
    assert not Retriever(duck, pg_bank.embedder, min_similarity=0.0, vector_search="index").uses_index(Query("x"))


def test_an_unknown_vector_search_is_refused(pg_bank):
    from bankcore.errors import BankcoreError
    with pytest.raises(BankcoreError, match="unknown vector search 'hnsw'"):
        Retriever(pg_bank.store, pg_bank.embedder, min_similarity=0.0, vector_search="hnsw")
