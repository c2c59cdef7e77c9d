"""The vector cache against the bank: incremental refreshes, growth and compaction give what a fresh load gives.

Vectors here are random unit vectors stamped with the current model id: the cache's bookkeeping does not need the
embedding model, and this keeps these tests fast. The last tests cover the vector snapshot beside the bank file.
"""

from __future__ import annotations

import numpy as np
import pytest

from bankcore.search import vector_snapshot
from bankcore.curate.lifecycle import add_item, change_item
from bankcore.search.embed import DIM, MODEL_ID
from bankcore.models import ItemSource, MemoryItem, Step, Trajectory
from bankcore.store import Store
from bankcore.search.vectors import APPROVED, GONE, PENDING, VectorCache

RNG = np.random.default_rng(3)


def unit() -> list[float]:
    v = RNG.normal(size=DIM)
    return list(map(float, v / np.linalg.norm(v)))


def item(store: Store, status: str = "approved", domain: str = "d1", source: str = "success",
         model: str | None = MODEL_ID, traj: str | None = None) -> int:
    it = MemoryItem(title="t", description="d", content="c", source=source, status=status, domain=domain,
                    embedding=unit() if model else None, embedding_model=model)
    sources = [ItemSource(0, "evidence", traj_id=traj)] if traj else []
    return add_item(store, it, sources, actor="test").item_id


def snapshot(cache: VectorCache) -> dict:
    live = [r for r in range(cache.n) if cache.state[r] != GONE]
    return {
        "rows": {int(cache.item_ids[r]): (int(cache.state[r]), cache.vectors[r].tobytes(),
                                          float(cache.confidence[r]) if not np.isnan(cache.confidence[r]) else None)
                 for r in live},
        "domains": {d: sorted(int(i) for i in cache.item_ids[cache.eligible(domain=d)] if cache.row_of(int(i)) in live)
                    for d in cache.domain_codes},
        # the index may keep entries for items that left (harmless: they have no live row); compare live ones
        "tasks": {t: sorted(int(i) for i in ids if cache.row_of(int(i)) in live)
                  for t, ids in cache.task_items.items()},
    }


def fresh(store: Store) -> VectorCache:
    cache = VectorCache(store, MODEL_ID, DIM)
    cache.refresh()
    return cache


@pytest.fixture
def store(db) -> Store:
    return Store(db)


def test_refresh_is_a_no_op_when_nothing_changed(store):
    item(store)
    cache = fresh(store)
    generation = cache.generation
    assert cache.refresh() is False and cache.generation == generation


def test_incremental_refreshes_match_a_fresh_load(store):
    traj = Trajectory(task_id="T", query="q", steps=[Step(0)], source_format="native", traj_id="tr-1", run_id=1,
                      seq=1)
    store.insert_trajectories([(traj, None)])
    ids = [item(store, traj="tr-1" if i % 3 == 0 else None, domain=f"d{i % 2}") for i in range(12)]
    cache = fresh(store)
    cache.compact_at = 2
    steps = [
        lambda: item(store, status="pending", domain="d9"),
        lambda: change_item(store, ids[0], kind="REJECT", actor="t", status="rejected"),
        lambda: change_item(store, ids[1], kind="EDIT", actor="t", confidence=0.9, domain="d9"),
        lambda: change_item(store, ids[2], kind="EDIT", actor="t", title="new text"),  # vector cleared
        lambda: change_item(store, ids[3], kind="REEMBED", actor="t", embedding=unit(), embedding_model="other"),
        lambda: change_item(store, ids[4], kind="SUPERSEDE", actor="t", status="superseded"),
        lambda: change_item(store, ids[0], kind="RESTORE", actor="t", status="approved"),
        lambda: [item(store, traj="tr-1") for _ in range(40)],  # growth past the loaded capacity
        lambda: change_item(store, ids[5], kind="APPROVE", actor="t", status="pending"),
    ]
    for step in steps:
        step()
        assert cache.refresh() is True
        assert snapshot(cache) == snapshot(fresh(store))
    assert cache.census == {MODEL_ID: 12 + 1 + 40 - 3, None: 1, "other": 1}  # -3: no vector, other, superseded
    state = {int(i): int(s) for i, s in zip(cache.item_ids, cache.state)}
    assert state[ids[5]] == PENDING and state[ids[0]] == APPROVED
    assert ids[2] not in state or state[ids[2]] == GONE


def test_compaction_drops_gone_rows_and_keeps_lookups_right(store):
    ids = [item(store) for _ in range(10)]
    cache = fresh(store)
    cache.compact_at = 2
    for i in ids[:3]:
        change_item(store, i, kind="REJECT", actor="t", status="rejected")
    cache.refresh()
    assert cache.n == 7 and GONE not in cache.state
    for i in ids[3:]:
        assert cache.item_ids[cache.row_of(i)] == i
    assert all(cache.row_of(i) is None for i in ids[:3])
    assert list(cache.rows_of(np.array([ids[0], ids[5], 10_000]))) == [-1, cache.row_of(ids[5]), -1]


def test_blocked_rows_follow_status(store):
    approved, pending = item(store), item(store, status="pending")
    cache = fresh(store)
    assert [int(cache.item_ids[r]) for r in cache.blocked(False)] == [pending]
    assert len(cache.blocked(True)) == 0
    change_item(store, pending, kind="APPROVE", actor="t", status="approved")
    cache.refresh()
    assert len(cache.blocked(False)) == 0 and approved


def test_filters_by_domain_and_source(store):
    a = item(store, domain="air", source="success")
    b = item(store, domain="air", source="failure")
    c = item(store, domain=None, source="failure")
    cache = fresh(store)
    pick = lambda mask: sorted(int(i) for i in cache.item_ids[mask])  # noqa: E731
    assert pick(cache.eligible(domain="air")) == [a, b]
    assert pick(cache.eligible(source="failure")) == [b, c]
    assert pick(cache.eligible(domain="air", source=("failure", "contrast"))) == [b]
    assert pick(cache.eligible(domain="unknown")) == [] and cache.eligible() is None


def test_warnings_name_other_models_and_missing_vectors(store):
    item(store)
    item(store, model="old/model")
    item(store, model=None, status="pending")
    item(store, model="old/model", status="rejected")  # not retrievable anyway: not worth a warning
    cache = fresh(store)
    warnings = cache.warnings()
    assert len(warnings) == 2
    assert any("1 approved/pending item(s) are embedded with old/model" in w for w in warnings)
    assert any("1 approved/pending item(s) have no embedding" in w for w in warnings)


@pytest.fixture
def snapshots(monkeypatch):
    """Snapshot every bank, however small (the default spares banks under 20k items)."""
    monkeypatch.setattr(VectorCache, "snapshot_min_rows", 0)


def stored_vectors(store: Store, ids) -> np.ndarray:
    return np.array([store.get_item(int(i)).embedding for i in ids], np.float32)


def test_a_snapshot_serves_unchanged_vectors_and_the_bank_the_rest(store, snapshots, db):
    ids = [item(store) for _ in range(30)]
    first = fresh(store)
    assert first.last_load == {"rows": 30, "from_snapshot": 0, "from_bank": 30}
    assert vector_snapshot.folder(db).joinpath("manifest.json").exists()

    again = fresh(store)  # nothing changed: the snapshot file itself is mapped
    assert again.last_load == {"rows": 30, "from_snapshot": 30, "from_bank": 0}
    assert isinstance(again._vectors, np.memmap)
    assert np.array_equal(again.vectors, stored_vectors(store, again.item_ids))

    change_item(store, ids[3], kind="REEMBED", actor="t", embedding=unit(), embedding_model=MODEL_ID)
    change_item(store, ids[4], kind="REJECT", actor="t", status="rejected")
    added = item(store)
    on_disk = np.load(next(vector_snapshot.folder(db).glob("*.vectors.npy"))).copy()
    assert again.refresh()  # an incremental patch writes into the mapping copy-on-write, never into the file
    assert np.array_equal(np.load(next(vector_snapshot.folder(db).glob("*.vectors.npy"))), on_disk)

    third = fresh(store)
    assert third.last_load == {"rows": 30, "from_snapshot": 28, "from_bank": 2}  # ids[3] changed, `added` new
    assert np.array_equal(third.vectors, stored_vectors(store, third.item_ids))
    assert snapshot(third) == snapshot(again) and added in set(third.item_ids.tolist())


def test_a_snapshot_of_another_bank_or_model_is_never_used(store, snapshots, db, tmp_path):
    for _ in range(5):
        item(store)
    fresh(store)
    other = Store(tmp_path / "other.duckdb")
    for _ in range(5):
        item(other)
    import shutil
    shutil.copytree(vector_snapshot.folder(db), vector_snapshot.folder(other.path))  # same ids, other bank
    cache = fresh(other)
    assert cache.last_load["from_snapshot"] == 0
    assert np.array_equal(cache.vectors, stored_vectors(other, cache.item_ids))
    assert vector_snapshot.read(db, bank_id=store.bank_id(), model_id="other/model", dim=DIM) is None
    assert vector_snapshot.read(db, bank_id=store.bank_id(), model_id=MODEL_ID, dim=DIM) is not None


def test_an_unreadable_snapshot_is_ignored(store, snapshots, db):
    for _ in range(3):
        item(store)
    fresh(store)
    folder = vector_snapshot.folder(db)
    next(folder.glob("*.vectors.npy")).write_bytes(b"not numpy")
    cache = fresh(store)
    assert cache.last_load["from_bank"] == 3
    assert np.array_equal(cache.vectors, stored_vectors(store, cache.item_ids))


def test_a_vector_of_the_wrong_length_is_a_clear_error_that_reembed_fixes(store):
    from bankcore.errors import SchemaError
    from bankcore.search.reembed import reembed
    good = item(store)
    bad = item(store)
    change_item(store, bad, kind="REEMBED", actor="t", embedding=[0.5] * 10, embedding_model=MODEL_ID)
    with pytest.raises(SchemaError, match=f"item {bad} has a 10-long vector"):
        fresh(store)

    class Fake:  # stands in for the model: the bookkeeping is what is tested here
        model_id, dim = MODEL_ID, DIM

        def embed(self, texts):
            return np.array([unit() for _ in texts], np.float32)
    assert reembed(store, Fake(), actor="t").embedded == 1
    assert sorted(fresh(store).item_ids.tolist()) == [good, bad]


def duckdb_memory_limit(store: Store) -> str:
    with store._con() as con:
        return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_a_bulk_vector_read_caps_duckdb_memory_for_the_read_only(store, monkeypatch):
    """From CAPPED_READ_ROWS vectors on, the read runs under a tight DuckDB memory cap (uncapped, DuckDB kept what
    it read: 270 MB beside a 154 MB matrix at 100k) and the database's own cap is back afterwards."""
    import bankcore.store.retrieval as retrieval
    ids = np.array([item(store) for _ in range(40)], np.int64)
    expected = stored_vectors(store, ids)
    before = duckdb_memory_limit(store)
    seen = []
    real_limit = retrieval.RetrievalQueries._memory_limit
    monkeypatch.setattr(retrieval, "CAPPED_READ_ROWS", 10)
    monkeypatch.setattr(retrieval.RetrievalQueries, "_memory_limit",
                        staticmethod(lambda con, cap: seen.append(cap) or real_limit(con, cap)))
    assert np.array_equal(store.item_vectors(ids, DIM, batch_rows=16), expected)  # several batches, placed by id
    assert seen == [retrieval._read_cap(40, DIM)] and duckdb_memory_limit(store) == before
    # at least twice the smallest caps the read was measured to work under at 100k rows: 24 MB (384), 40 MB (768)
    assert int(retrieval._read_cap(100_000, 384)[:-2]) >= 48 and int(retrieval._read_cap(100_000, 768)[:-2]) >= 80


def test_a_cap_too_tight_is_retried_at_the_loose_one_outside_a_transaction(store, monkeypatch):
    import bankcore.store.retrieval as retrieval
    ids = np.array([item(store) for _ in range(40)], np.int64)
    monkeypatch.setattr(retrieval, "CAPPED_READ_ROWS", 10)
    monkeypatch.setattr(retrieval, "_read_cap", lambda rows, dim: "1KB")  # DuckDB cannot stream under this
    assert np.array_equal(store.item_vectors(ids, DIM), stored_vectors(store, ids))
    with pytest.raises(Exception, match="(?i)out of memory"), store.transaction():
        store.item_vectors(ids, DIM)  # DuckDB has aborted the transaction: no retry can run in it
