"""Consolidation's writes on PostgreSQL: the bank's write lock is asked of the server once per transaction (not once
per id and row lock), and it is still held for the whole transaction and taken again by the next one."""

from __future__ import annotations

import numpy as np
import pytest

from bankcore.curate import consolidate, lifecycle
from bankcore.models import MemoryItem
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

psycopg = pytest.importorskip("psycopg")


class Statements:
    """The SQL each psycopg cursor sends (`executemany`: once for all its rows), recorded (the real driver, the real
    server)."""

    def __init__(self, monkeypatch):
        self.sent: list[str] = []
        original = psycopg.Cursor.execute

        def execute(cursor, query, *args, **kwargs):
            self.sent.append(" ".join(str(query).split()))
            return original(cursor, query, *args, **kwargs)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        original_many = psycopg.Cursor.executemany

        def executemany(cursor, query, *args, **kwargs):  # many rows, one statement sent once
            self.sent.append(" ".join(str(query).split()))
            return original_many(cursor, query, *args, **kwargs)
        monkeypatch.setattr(psycopg.Cursor, "executemany", executemany)

    def count(self, fragment: str) -> int:
        return sum(fragment in s for s in self.sent)


def lock_is_held(url: str) -> bool:
    """Whether another session finds the bank's write lock taken."""
    from bankcore.store.postgres import _WRITE_LOCK
    with psycopg.connect(url, autocommit=True) as other:
        free = other.execute("SELECT pg_try_advisory_lock(%s)", [_WRITE_LOCK]).fetchone()[0]
        if free:
            other.execute("SELECT pg_advisory_unlock(%s)", [_WRITE_LOCK])
    return not free


def test_a_merge_asks_the_write_lock_once_and_merges_as_before(pg_url, monkeypatch):
    from bankcore.store import open_store
    store = open_store(pg_url)
    vector = (np.ones(384, np.float32) / np.sqrt(384)).tolist()
    with store.transaction():
        for k in range(3):
            lifecycle.add_item(store, MemoryItem("Check the id", "A lesson.", f"Look up the id first ({k}).",
                                                 source="success", domain="d", embedding=vector,
                                                 embedding_model="m"), actor="test")
    items = store.query_items(status=["pending", "approved"])
    actions = consolidate.plan(items, np.array([vector] * 3), threshold=0.9)
    sent = Statements(monkeypatch)

    class NoEmbedder:
        def embed_items(self, items):
            for item in items:
                item.embedding, item.embedding_model = vector, "m"

    report = consolidate.apply(store, actions, embedder=NoEmbedder(), method=consolidate.HEURISTIC_MERGE_ID)
    assert [parents for _, parents in report.merged] == [(1, 2, 3)]
    assert sent.count("pg_advisory_xact_lock") == 1  # was 8: the child's id and event, then per parent two more
    assert sent.count("FOR UPDATE") == 1  # every parent's row still locked for the optimistic check, in one read
    # one statement per step, not per step per parent: was 24 (ids in their own SELECT, a row per statement)
    assert sent.count("INSERT INTO memory_events") == 2 and sent.count("UPDATE memory_items") == 2
    assert sent.count("max(event_id)") == 2 and sent.count("max(item_id)") == 1
    child = store.get_item(report.merged[0][0])
    assert child.meta["merged_from"] == [1, 2, 3]
    assert {store.get_item(p).status for p in (1, 2, 3)} == {"superseded"}
    store.close()


def test_the_write_lock_is_held_to_commit_and_taken_again_by_the_next_transaction(pg_url):
    from bankcore.store import open_store
    store = open_store(pg_url)
    first = lifecycle.add_item(store, MemoryItem("T", "D", "C.", source="success"), actor="test")
    for _ in range(2):  # the second transaction must ask again: the first one's lock ended at its commit
        with store.transaction():
            assert not lock_is_held(pg_url)
            store.get_item(first.item_id)  # the write lock, then the row lock
            assert lock_is_held(pg_url)
            lifecycle.change_item(store, first.item_id, kind="EDIT", actor="test", confidence=0.5)  # asks no more
            assert lock_is_held(pg_url)
        assert not lock_is_held(pg_url)
    outside = store.get_item(first.item_id)  # outside a transaction: no row lock, and no write lock left behind
    assert outside.confidence == 0.5 and not lock_is_held(pg_url)
    store.close()


def test_change_items_locks_every_row_and_refuses_all_on_one_conflict(pg_url):
    from bankcore.errors import ConflictError
    from bankcore.store import open_store
    store = open_store(pg_url)
    ids = [lifecycle.add_item(store, MemoryItem("T", "D", f"C {k}.", source="success"), actor="test").item_id
           for k in range(3)]
    seen = {i: store.get_item(i).last_event_id for i in ids}
    with store.transaction():
        store.lock_items(ids)
        with psycopg.connect(pg_url, autocommit=True) as other:
            for item_id in ids:
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute("SELECT 1 FROM memory_items WHERE item_id = %s FOR UPDATE NOWAIT", [item_id])
    lifecycle.change_item(store, ids[1], kind="EDIT", actor="other", confidence=0.4)
    events = store.last_event_id()
    with pytest.raises(ConflictError, match=f"item {ids[1]} was changed"):
        lifecycle.change_items(store, seen, kind="SUPERSEDE", actor="test", status="superseded")
    assert store.last_event_id() == events and {store.get_item(i).status for i in ids} == {"pending"}
    seen[ids[1]] = store.get_item(ids[1]).last_event_id
    changed = lifecycle.change_items(store, seen, kind="SUPERSEDE", actor="test", status="superseded")
    assert [i.item_id for i in changed] == ids and [i.last_event_id for i in changed] == [events + 1, events + 2,
                                                                                          events + 3]
    assert [(e.item_id, e.kind, e.before["status"], e.after["status"]) for e in list(store.iter_events())[-3:]] == [
        (i, "SUPERSEDE", "pending", "superseded") for i in ids]
    assert [store.get_item(i).last_event_id for i in ids] == [events + 1, events + 2, events + 3]
    store.close()
