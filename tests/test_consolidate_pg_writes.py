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
    """The SQL each psycopg cursor sends, recorded (the real driver, the real server)."""

    def __init__(self, monkeypatch):
        self.sent: list[str] = []
        original = psycopg.Cursor.execute

        def execute(cursor, query, *args, **kwargs):
            self.sent.append(" ".join(str(query).split()))
            return original(cursor, query, *args, **kwargs)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)

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
    assert sent.count("FOR UPDATE") == 3  # every parent's row still locked for the optimistic check
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
