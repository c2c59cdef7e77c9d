"""What retrieval reads and writes: item vectors (through Arrow, for the in-memory cache), re-embedding, the
retrieval log, measured usefulness, and the tasks each item rests on. Also the other vector of an item, the one
consolidation compares (`similarity_vectors`, the whole lesson; see `embed.SIMILARITY_RECIPE`).
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import duckdb

from ..errors import SchemaError
from ..lazy import lazy_module
from ..models import MemoryItem, Retrieval, Usefulness, VectorRows
from .rows import CURRENT_VERDICTS_SQL, _ITEM_COLS_NO_VECTOR, _RETRIEVAL_COLS, _dumps, _first, _item, _retrieval

np = lazy_module("numpy", globals())
pa = lazy_module("pyarrow", globals())
pc = lazy_module("pyarrow.compute", globals())


@functools.cache
def _retrieval_schema() -> pa.Schema:
    """The retrieval log's Arrow schema, built on first use: pyarrow is imported only by what writes or reads
    vectors and the log (bankcore.lazy), not by every command that opens the bank."""
    return pa.schema([
        ("retrieval_id", pa.int64()), ("query", pa.string()), ("task_id", pa.string()), ("traj_id", pa.string()),
        ("run_id", pa.int32()), ("item_id", pa.int32()), ("rank", pa.int32()), ("score", pa.float64()),
        ("k", pa.int32()), ("as_of_event", pa.int32()), ("created_at", pa.timestamp("us"))])


CAPPED_READ_ROWS = 10_000  # from this many vectors on, a bulk read caps DuckDB's buffer memory (`item_vectors`)
LOOSE_READ_CAP = "512MB"  # the cap before 2026-12-08: the retry when the tight one proves too tight


def _read_cap(rows: int, dim: int) -> str:
    """DuckDB's memory cap for streaming `rows` vectors of `dim` floats through the semi-join: twice what the read
    needs. Measured (the smallest cap that did not fail): 24 MB for 384-float vectors and 40 MB for 768, at 50k and
    100k rows alike and at 1 to 16 threads; the join's own table grows ~30 bytes a row."""
    need_mb = 8 + dim * 43 / 1024 + rows * 30 / 2**20
    return f"{math.ceil(2 * need_mb)}MB"


class RetrievalQueries:
    """Vectors, embeddings, the retrieval log, usefulness counts and item → task pairs."""

    def retrieval_signature(self) -> tuple[int, ...]:
        """What retrieval depends on, in one cheap query: (last event id, items, provenance rows) for the vectors,
        (linked retrievals, last verdict id, truth rows) for measured usefulness.

        Every change to an item is an event and items are never deleted, so an unchanged first part means the
        cached vectors are current; the counts catch writes that bypassed events (a restore into an empty bank).
        """
        with self._con() as con:
            return tuple(_first(con.execute(
                "SELECT (SELECT coalesce(max(event_id), 0) FROM memory_events), "
                "(SELECT count(*) FROM memory_items), (SELECT count(*) FROM item_sources), "
                "(SELECT count(*) FROM retrievals WHERE traj_id IS NOT NULL), "
                "(SELECT coalesce(max(verdict_id), 0) FROM verdicts), (SELECT count(*) FROM truth)")))

    def vector_rows(self, model_id: str, *, changed_since: int | None = None) -> VectorRows:
        """Items as the retrieval cache indexes them (ids, status, domain, source, confidence, last event), in item
        id order, through Arrow with no per-row Python; their vectors come from `item_vectors`.

        With `changed_since`, every item whose last event is newer, usable or not (so the cache can drop rows that
        stopped being retrievable); without it, only usable items: retrievable status and a vector from `model_id`.
        """
        # `embedding IS NOT NULL` reads only the validity mask; len(embedding) would read every float (0.7 s and
        # 1.5 GB at a million items). A vector of the wrong length under this model id is caught by item_vectors.
        usable = "coalesce(status IN ('approved', 'pending') AND embedding_model = $1 AND embedding IS NOT NULL, false)"
        where = "WHERE usable" if changed_since is None else "WHERE last_event_id > $2"
        params = [model_id] if changed_since is None else [model_id, changed_since]
        with self._con() as con:
            table = con.sql(f"SELECT item_id, usable, status, domain, source, confidence, last_event_id FROM "
                            f"(SELECT *, {usable} AS usable FROM memory_items) {where} ORDER BY item_id",
                            params=params).to_arrow_table()
        lookups: dict[str, dict[str, int]] = {"status": {}, "domain": {}, "source": {}}
        codes = {name: self._codes(table.column(name), lookups[name]) for name in lookups}
        return VectorRows(
            item_ids=table.column("item_id").to_numpy().astype(np.int64),
            usable=table.column("usable").to_numpy(zero_copy_only=False).astype(bool),
            last_event=table.column("last_event_id").to_numpy(zero_copy_only=False).astype(np.float64),
            status=codes["status"], statuses=list(lookups["status"]), domain=codes["domain"],
            domains=list(lookups["domain"]), source=codes["source"], sources=list(lookups["source"]),
            confidence=table.column("confidence").to_numpy(zero_copy_only=False).astype(np.float32))

    def item_vectors(self, item_ids: np.ndarray, dim: int, *, batch_rows: int = 8192) -> np.ndarray:
        """The stored vectors of `item_ids` (ascending, distinct), as one (n, dim) float32 matrix in that order.

        Vectors are cast to FLOAT[dim] so Arrow hands each batch over as one flat buffer, and each batch is placed
        by id (no ORDER BY: sorting a million wide rows would cost more time and memory than reading them). The ids
        go in as an Arrow table and a semi-join, so a long list costs no more than a short one.

        Memory beside the matrix is kept small: batches of 8,192 rows (12 MB at 384 floats), and from
        `CAPPED_READ_ROWS` ids on DuckDB's buffer memory capped at `_read_cap` (uncapped up to 512 MB, DuckDB kept
        what it read: the read peaked 270 MB above the 154 MB matrix at 100k vectors; capped, ~85 MB). Should the cap
        prove too tight, the read is retried at the old one where it can be: not inside a transaction, which
        DuckDB has aborted by then.
        """
        ids = np.asarray(item_ids, np.int64)
        out = np.empty((len(ids), dim), np.float32)
        if not len(ids):
            return out
        if len(ids) < CAPPED_READ_ROWS:
            return self._read_vectors(ids, out, batch_rows, None)
        try:
            return self._read_vectors(ids, out, batch_rows, _read_cap(len(ids), dim))
        except (duckdb.OutOfMemoryException, OSError):  # OSError: the same error, come through the Arrow reader
            if getattr(self._local, "con", None) is not None:
                raise
            return self._read_vectors(ids, out, batch_rows, LOOSE_READ_CAP)

    def _read_vectors(self, ids: np.ndarray, out: np.ndarray, batch_rows: int, cap: str | None) -> np.ndarray:
        dim, filled = out.shape[1], 0
        with self._con() as con, self._memory_limit(con, cap):
            con.register("_bankcore_vector_ids", pa.table({"item_id": ids}))
            try:
                reader = con.sql(f"SELECT m.item_id, m.embedding::FLOAT[{int(dim)}] AS embedding FROM memory_items m "
                                 "SEMI JOIN _bankcore_vector_ids i ON m.item_id = i.item_id"
                                 ).to_arrow_reader(batch_rows)
                for batch in reader:
                    m = batch.num_rows
                    at = np.searchsorted(ids, batch.column("item_id").to_numpy())
                    out[at] = batch.column("embedding").flatten().to_numpy().reshape(m, dim)
                    filled += m
            except duckdb.ConversionException as exc:
                bad = _first(con.execute(f"SELECT item_id, len(embedding), embedding_model FROM memory_items m SEMI "
                                         f"JOIN _bankcore_vector_ids i ON m.item_id = i.item_id "
                                         f"WHERE len(embedding) <> {int(dim)} LIMIT 1"))
                raise SchemaError(f"{self.path}: item {bad[0]} has a {bad[1]}-long vector under model {bad[2]}, "
                                  f"which makes {dim}-long vectors; run `bankcore reembed`") from exc
            finally:
                con.unregister("_bankcore_vector_ids")
        if filled != len(ids):
            raise ValueError(f"item_vectors: {len(ids) - filled} of the ids have no vector")
        return out

    def nearest_items(self, query: np.ndarray, k: int, *, model: str, statuses: Iterable[str] = ("approved",),
                      domain: str | None = None, exclude_tasks: Iterable[str] = (),
                      ef_search: int | None = None) -> list[tuple[int, float]]:
        """(item id, cosine) of the `k` items nearest `query`, best first (ties by item id): items in `statuses`
        with a vector of `query`'s length from `model`, in `domain` if given, none resting on a task in
        `exclude_tasks` (through merges, as retrieval's leave-one-task-out). Exact: every such vector is scored, so
        this is the oracle an index is measured against. `ef_search` is an index's knob, unused here."""
        q = np.asarray(query, np.float32).ravel()
        if k <= 0 or not np.linalg.norm(q):
            return []
        ids = self._nearest_candidates(len(q), model, list(statuses), domain, list(exclude_tasks))
        vectors = self.item_vectors(ids, len(q))
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
        keep = np.isfinite(cosine)  # a zero vector points nowhere
        ids, cosine = ids[keep], cosine[keep]
        order = np.lexsort((ids, -cosine))[:k]
        return [(int(ids[i]), float(cosine[i])) for i in order]

    def searches_by_index(self) -> bool:
        """Whether `nearest_items` walks an index (then retrieval may ask it instead of scoring every vector in
        memory). Not on DuckDB: its `nearest_items` scores exactly, slower than the in-process cache."""
        return False

    def _nearest_candidates(self, dim: int, model: str, statuses: list[str], domain: str | None,
                            exclude_tasks: list[str]) -> np.ndarray:
        """Ids (ascending) of the items `nearest_items` may return, before any vector is read."""
        sql = ("SELECT item_id FROM memory_items WHERE embedding_model = ? AND list_contains(?, status) "
               "AND embedding IS NOT NULL AND len(embedding) = ?")
        params: list[Any] = [model, statuses, int(dim)]
        if domain is not None:
            sql += " AND domain = ?"
            params.append(domain)
        with self._con() as con:
            ids = np.array([r[0] for r in con.execute(sql + " ORDER BY item_id", params).fetchall()], np.int64)
            blocked = self._items_resting_on(con, exclude_tasks)
        return ids[~np.isin(ids, blocked)] if len(blocked) else ids

    @staticmethod
    def _items_resting_on(con, task_ids: list[str]) -> np.ndarray:
        """Ids of the items whose lessons rest on one of `task_ids`: those citing a trajectory of such a task, and
        every item merged from one (down the `parent` links), as `item_task_pairs` counts an item's tasks."""
        if not task_ids:
            return np.empty(0, np.int64)
        rows = con.execute("""
            WITH RECURSIVE blocked(item_id) AS (
                SELECT s.item_id FROM item_sources s JOIN trajectories t ON t.traj_id = s.traj_id
                WHERE list_contains(?, t.task_id)
                UNION
                SELECT s.item_id FROM item_sources s JOIN blocked b ON s.parent_item_id = b.item_id
                WHERE s.relation = 'parent')
            SELECT item_id FROM blocked""", [list(task_ids)]).fetchall()
        return np.array(sorted(r[0] for r in rows), np.int64)

    @staticmethod
    @contextmanager
    def _memory_limit(con, limit: str | None) -> Iterator[None]:
        """Cap DuckDB's buffer memory for one big streaming read, then put the old cap back. Streaming needs
        little; uncapped, DuckDB keeps what it read cached (~1 GB more at peak for a million vectors). The cap is the
        database's (every connection to it shares it), so it is set for the read only."""
        if limit is None:
            yield
            return
        old = _first(con.execute("SELECT current_setting('memory_limit')"))[0]
        con.execute(f"SET memory_limit = '{limit}'")
        try:
            yield
        finally:
            con.execute(f"SET memory_limit = '{old}'")

    @staticmethod
    def _codes(column, lookup: dict[str, int]) -> np.ndarray:
        """Integer codes for a string column (−1 for null), extending `lookup` (value → code) with new values."""
        encoded = pc.dictionary_encode(column)
        chunks = encoded.chunks if hasattr(encoded, "chunks") else [encoded]
        parts = []
        for chunk in chunks:
            mapping = np.array([lookup.setdefault(v, len(lookup)) for v in chunk.dictionary.to_pylist()] or [0],
                               dtype=np.int32)
            idx = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            parts.append(np.where(idx >= 0, mapping[np.maximum(idx, 0)], -1).astype(np.int32))
        return np.concatenate(parts) if parts else np.empty(0, np.int32)

    def item_task_pairs(self, item_ids: Iterable[int] | None = None, *, retrievable_only: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(item ids, task codes, task ids): every task an item's lessons rest on, through merges.

        An item's tasks are those of the trajectories it cites (evidence or contrast), plus — following
        `relation = 'parent'` sources up the merge chain — those of every ancestor. The recursion starts from the
        parent links only (few), not from every item; UNION stops cycles.
        """
        if item_ids is not None:
            scope = "SELECT item_id FROM _bankcore_scope"
        else:
            scope = "SELECT item_id FROM memory_items" + (
                " WHERE status IN ('approved', 'pending')" if retrievable_only else "")
        sql = f"""
            WITH RECURSIVE scope AS ({scope}),
            ancestors(item_id, ancestor) AS (
                SELECT s.item_id, s.parent_item_id FROM item_sources s SEMI JOIN scope USING (item_id)
                WHERE s.relation = 'parent' AND s.parent_item_id IS NOT NULL
                UNION
                SELECT a.item_id, s.parent_item_id FROM ancestors a JOIN item_sources s
                    ON s.item_id = a.ancestor AND s.relation = 'parent' AND s.parent_item_id IS NOT NULL
            ),
            lineage AS (SELECT item_id, item_id AS ancestor FROM scope UNION ALL SELECT * FROM ancestors)
            SELECT DISTINCT l.item_id, t.task_id FROM lineage l
            JOIN item_sources s ON s.item_id = l.ancestor AND s.traj_id IS NOT NULL
            JOIN trajectories t ON t.traj_id = s.traj_id
        """
        with self._con() as con:
            if item_ids is not None:
                con.register("_bankcore_scope", pa.table({"item_id": np.asarray(list(item_ids), np.int64)}))
            try:
                table = con.sql(sql).to_arrow_table()
            finally:
                if item_ids is not None:
                    con.unregister("_bankcore_scope")
        lookup: dict[str, int] = {}
        codes = self._codes(table.column("task_id"), lookup)
        return table.column("item_id").to_numpy().astype(np.int64), codes, list(lookup)

    def item_task_ids(self, item_ids: Iterable[int]) -> dict[int, set[str]]:
        """The task ids each item rests on (for "never the same task"), inherited through merges like live
        retrieval's (`item_task_pairs`): a merged item is never shown to a task one of its ancestors came from."""
        ids = list(item_ids)
        if not ids:
            return {}
        found, codes, tasks = self.item_task_pairs(ids)
        out: dict[int, set[str]] = {}
        for item_id, code in zip(found.tolist(), codes.tolist()):
            out.setdefault(item_id, set()).add(tasks[code])
        return out

    def embedding_census(self, statuses: Iterable[str] = ("approved", "pending")) -> dict[str | None, int]:
        """How many items in `statuses` carry vectors from each embedding model (None: no vector)."""
        with self._con() as con:
            rows = con.execute("SELECT CASE WHEN embedding IS NULL THEN NULL ELSE embedding_model END, count(*) "
                               "FROM memory_items WHERE list_contains(?, status) GROUP BY 1",
                               [list(statuses)]).fetchall()
        return dict(rows)

    def items_needing_embedding(self, model_id: str, dim: int, *, missing_only: bool = False,
                                statuses: Iterable[str] | None = None, limit: int | None = None
                                ) -> list[MemoryItem]:
        """Items (without their old vectors) lacking a `dim`-long vector from `model_id` — or, with
        `missing_only`, lacking any vector — oldest first."""
        wrong = "embedding IS NULL" if missing_only else \
            f"(embedding IS NULL OR embedding_model IS DISTINCT FROM ? OR len(embedding) <> {int(dim)})"
        sql = f"SELECT {_ITEM_COLS_NO_VECTOR} FROM memory_items WHERE {wrong}"
        params: list[Any] = [] if missing_only else [model_id]
        if statuses is not None:
            sql += " AND list_contains(?, status)"
            params.append(list(statuses))
        sql += " ORDER BY item_id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        with self._con() as con:
            return [_item(r) for r in con.execute(sql, params).fetchall()]

    def set_embeddings(self, updates: list[tuple[MemoryItem, list[float]]], *, model_id: str, actor: str,
                       reason: str, batch_id: str | None = None) -> list[int]:
        """Store new vectors with one REEMBED event per item, in one transaction, through Arrow.

        Each item is written only if its last event is still the one it was read with (an item edited while
        its vector was being computed keeps the edit and is picked up by the next pass). Returns the ids written.
        """
        if not updates:
            return []
        with self.transaction(), self._con() as con:
            current = dict(con.execute("SELECT item_id, last_event_id FROM memory_items WHERE list_contains(?, item_id)",
                                       [[i.item_id for i, _ in updates]]).fetchall())
            fresh = [(i, v) for i, v in updates if i.item_id in current and current[i.item_id] == i.last_event_id]
            if not fresh:
                return []
            first = self._next_id(con, "memory_events", "event_id")
            now = self.clock()
            snapshots = [_dumps(i.snapshot()) for i, _ in fresh]
            self._insert_arrow(con, "memory_events", {
                "event_id": pa.array(range(first, first + len(fresh)), pa.int32()),
                "item_id": pa.array([i.item_id for i, _ in fresh], pa.int32()),
                "kind": ["REEMBED"] * len(fresh), "actor": [actor] * len(fresh), "reason": [reason] * len(fresh),
                "before": snapshots, "after": snapshots,
                "related": [_dumps({"from_model": i.embedding_model, "to_model": model_id}) for i, _ in fresh],
                "batch_id": pa.array([batch_id] * len(fresh), pa.string()),
                "created_at": pa.array([now] * len(fresh), pa.timestamp("us")),
            })
            batch = pa.table({
                "item_id": pa.array([i.item_id for i, _ in fresh], pa.int32()),
                "event_id": pa.array(range(first, first + len(fresh)), pa.int32()),
                "embedding": pa.array([list(map(float, v)) for _, v in fresh], pa.list_(pa.float32())),
            })
            con.register("_bankcore_vectors", batch)
            try:
                con.execute("UPDATE memory_items SET embedding = b.embedding, embedding_model = ?, "
                            "last_event_id = b.event_id, updated_at = ? FROM _bankcore_vectors b "
                            "WHERE memory_items.item_id = b.item_id", [model_id, now])
            finally:
                con.unregister("_bankcore_vectors")
        return [i.item_id for i, _ in fresh]

    # ------------------------------------------------------------------ similarity vectors (consolidation's)
    # An item's similarity vector is current when it was made from the item's present text (same version) by the
    # asked-for model id. The item's own vector counts too when it was made by that very recipe: a bank embedded
    # before the two purposes had separate vectors (or an embedder that uses one recipe for both).
    # $1: the similarity model id, $2: its dimension.
    _SIMILAR_ROW = ("EXISTS (SELECT 1 FROM similarity_vectors s WHERE s.item_id = m.item_id AND s.version = m.version "
                    "AND s.embedding_model = $1 AND len(s.embedding) = $2)")
    _SIMILAR_OWN = "coalesce(m.embedding_model = $1 AND len(m.embedding) = $2, false)"

    def similarity_vectors(self, item_ids: Iterable[int], model_id: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors): the current similarity vectors of those of `item_ids` that have one, ascending by id,
        as one float32 (n, dim) matrix read through Arrow.

        Two reads, neither touching a list column it does not return: the stored rows of the items' present
        versions, then — only for items left without one — their own vectors where made by the same recipe.
        One query doing both (a left join, `coalesce` with the item's own vector, DISTINCT ON) read every item's
        own vector and sorted lists: 4 of its 4.5 CPU s at 100k items; these take ~0.7 s."""
        ids = np.unique(np.asarray(list(item_ids), np.int64))
        stored = f"""
            SELECT s.item_id, s.embedding::FLOAT[{int(dim)}] AS embedding
            FROM similarity_vectors s SEMI JOIN _bankcore_similar_ids i ON s.item_id = i.item_id
            JOIN memory_items m ON m.item_id = s.item_id AND m.version = s.version
            WHERE s.embedding_model = $1 AND len(s.embedding) = $2"""
        own = f"""
            SELECT m.item_id, m.embedding::FLOAT[{int(dim)}] AS embedding
            FROM memory_items m SEMI JOIN _bankcore_similar_ids i ON m.item_id = i.item_id
            WHERE {self._SIMILAR_OWN}"""
        with self._con() as con:
            found, vectors = self._id_vectors(con, stored, ids, model_id, dim)
            rest = np.setdiff1d(ids, found, assume_unique=True)
            if len(rest):
                more, more_vectors = self._id_vectors(con, own, rest, model_id, dim)
                found, vectors = np.concatenate([found, more]), np.concatenate([vectors, more_vectors])
        found, first = np.unique(found, return_index=True)  # ascending; a row stored twice counts once
        return found, vectors[first]

    @staticmethod
    def _id_vectors(con, sql: str, ids: np.ndarray, model_id: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 matrix) of an `item_id, embedding` query over the ids registered as _bankcore_similar_ids,
        in the order the database returned them (sorting lists there cost more than a numpy sort here)."""
        con.register("_bankcore_similar_ids", pa.table({"item_id": ids}))
        try:
            table = con.sql(sql, params=[model_id, int(dim)]).to_arrow_table()
        finally:
            con.unregister("_bankcore_similar_ids")
        found = table.column("item_id").to_numpy().astype(np.int64)
        vectors = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return found, np.asarray(vectors, np.float32).reshape(len(found), dim)

    def items_needing_similarity_vector(self, model_id: str, dim: int, *, changed_since: int | None = None,
                                        statuses: Iterable[str] | None = None, limit: int | None = None
                                        ) -> list[MemoryItem]:
        """Items (without vectors) that have no current similarity vector from `model_id`, oldest first; with
        `changed_since`, only those whose last event is newer (what one operation wrote)."""
        sql = (f"SELECT {_ITEM_COLS_NO_VECTOR} FROM memory_items m "
               f"WHERE NOT ({self._SIMILAR_ROW}) AND NOT {self._SIMILAR_OWN}")
        params: list[Any] = [model_id, int(dim)]
        if changed_since is not None:
            params.append(int(changed_since))
            sql += f" AND m.last_event_id > ${len(params)}"
        if statuses is not None:
            params.append(list(statuses))
            sql += f" AND list_contains(${len(params)}, m.status)"
        sql += " ORDER BY m.item_id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        with self._con() as con:
            return [_item(r) for r in con.execute(sql, params).fetchall()]

    def adopt_similarity_vectors(self, model_id: str, dim: int, *, changed_since: int | None = None) -> int:
        """Keep, as similarity vectors, the items' own vectors made by the similarity recipe (a bank or an export
        from before the two purposes were split), before re-embedding replaces them. Returns how many."""
        since = "" if changed_since is None else f" AND m.last_event_id > {int(changed_since)}"
        with self.transaction(), self._con() as con:
            return _first(con.execute(
                f"INSERT INTO similarity_vectors SELECT m.item_id, m.version, m.embedding_model, m.embedding "
                f"FROM memory_items m WHERE {self._SIMILAR_OWN} AND NOT ({self._SIMILAR_ROW}){since}",
                [model_id, int(dim)]))[0]

    def set_similarity_vectors(self, updates: list[tuple[MemoryItem, list[float]]], *, model_id: str) -> list[int]:
        """Store similarity vectors, each for the item version it was computed from; an item whose text changed
        meanwhile (another version now) is skipped, and picked up by the next pass. Rows are only ever added (a
        vector of a version and model is a fact that never changes; reads pick the item's current version). No
        event: derived data, like the vector snapshot. Returns the ids written."""
        if not updates:
            return []
        batch = pa.table({
            "item_id": pa.array([i.item_id for i, _ in updates], pa.int32()),
            "version": pa.array([i.version for i, _ in updates], pa.int32()),
            "embedding": pa.array([list(map(float, v)) for _, v in updates], pa.list_(pa.float32())),
        })
        with self.transaction(), self._con() as con:
            con.register("_bankcore_similar", batch)
            try:
                fresh = ("FROM _bankcore_similar b JOIN memory_items m "
                         "ON m.item_id = b.item_id AND m.version = b.version "
                         "WHERE NOT EXISTS (SELECT 1 FROM similarity_vectors s WHERE s.embedding_model = $1 "
                         "AND s.item_id = b.item_id AND s.version = b.version)")
                written = [r[0] for r in con.execute(f"SELECT b.item_id {fresh} ORDER BY b.item_id",
                                                     [model_id]).fetchall()]
                con.execute(f"INSERT INTO similarity_vectors SELECT b.item_id, b.version, $1, b.embedding {fresh}",
                            [model_id])
            finally:
                con.unregister("_bankcore_similar")
        return written

    def add_retrievals(self, retrievals: list[Retrieval]) -> None:
        """Write retrieval rows now, in one transaction; ids (and times, where unset) are given here."""
        if not retrievals:
            return
        with self.transaction(), self._con() as con:
            self._insert_retrievals(con, retrievals)

    def log_retrievals(self, retrievals: list[Retrieval]) -> None:
        """Log what a retrieval returned. Inside `searching()` with the file kept open (`keep_open`) the rows are
        timed now and written in a batch, ids given in logging order when written (`log_batch` says when: always
        before any other call of this process reads the bank); otherwise at once, as `add_retrievals`."""
        if not retrievals:
            return
        if not self._batching_log():
            self.add_retrievals(retrievals)
            return
        now = self.clock()
        for r in retrievals:
            r.created_at = r.created_at or now
        self._queue_log(retrievals)

    def _insert_retrievals(self, con, retrievals: list[Retrieval]) -> None:
        first = self._next_id(con, "retrievals", "retrieval_id")
        now = self.clock()
        for offset, r in enumerate(retrievals):
            r.retrieval_id = r.retrieval_id or first + offset
            r.created_at = r.created_at or now
        if len(retrievals) <= 4:  # executemany costs per row; Arrow costs a registration, once
            con.executemany("INSERT INTO retrievals (retrieval_id, query, task_id, traj_id, run_id, item_id, rank, "
                            "score, k, as_of_event, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                [r.retrieval_id, r.query, r.task_id, r.traj_id, r.run_id, r.item_id, r.rank, r.score, r.k,
                 r.as_of_event, r.created_at] for r in retrievals])
            return
        self._insert_arrow(con, "retrievals", {
            name: [getattr(r, name) for r in retrievals] for name in _retrieval_schema().names},
            schema=_retrieval_schema())

    def iter_retrievals(self) -> Iterator[Retrieval]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_RETRIEVAL_COLS} FROM retrievals ORDER BY retrieval_id").fetchall()
        return (_retrieval(r) for r in rows)

    def link_retrievals(self, traj_id: str, task_id: str, query: str) -> int:
        """Attach retrievals logged for a task (before its trajectory existed) to the trajectory that followed."""
        with self._con() as con:
            return _first(con.execute(
                "UPDATE retrievals SET traj_id = ? WHERE traj_id IS NULL AND task_id = ? AND query = ?",
                [traj_id, task_id, query]))[0]

    def retrieval_counts(self) -> dict[int, int]:
        with self._con() as con:
            return dict(con.execute("SELECT item_id, count(*) FROM retrievals GROUP BY item_id").fetchall())

    def run_as_of_event(self, run_id: int) -> int | None:
        """The bank state a live run retrieved from (its first retrieval's `as_of_event`), if it recorded one."""
        with self._con() as con:
            return _first(con.execute("SELECT min(as_of_event) FROM retrievals WHERE run_id = ?", [run_id]))[0]

    def usefulness_counts(self, item_ids: Iterable[int] | None = None) -> list[Usefulness]:
        """Per item: labelled memory-on trajectories of its domain that retrieved it, and that did not.

        Label: the current verdict (human beats judge), else the truth. Population: trajectories with at least
        one linked retrieval (memory was on), so the comparison is "with this item" vs "with other items".
        """
        item_filter = "" if item_ids is None else "AND list_contains($1, item_id)"
        params = [] if item_ids is None else [list(map(int, item_ids))]
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL}),
            used AS (SELECT DISTINCT item_id, traj_id FROM retrievals WHERE traj_id IS NOT NULL {item_filter}),
            labelled AS (
                SELECT t.traj_id, t.domain,
                       CASE cur.label WHEN 'success' THEN true WHEN 'failure' THEN false ELSE tr.success END AS ok
                FROM trajectories t LEFT JOIN cur USING (traj_id) LEFT JOIN truth tr USING (traj_id)
                WHERE t.traj_id IN (SELECT traj_id FROM retrievals WHERE traj_id IS NOT NULL)),
            known AS (SELECT * FROM labelled WHERE ok IS NOT NULL),
            items AS (SELECT item_id, domain FROM memory_items WHERE item_id IN (SELECT item_id FROM used)),
            with_item AS (
                SELECT i.item_id, count(*) AS n, count(*) FILTER (k.ok) AS s
                FROM items i JOIN used u USING (item_id)
                JOIN known k ON k.traj_id = u.traj_id AND (i.domain IS NULL OR k.domain = i.domain)
                GROUP BY i.item_id),
            by_domain AS (SELECT domain, count(*) AS n, count(*) FILTER (ok) AS s FROM known GROUP BY domain),
            everything AS (SELECT count(*) AS n, count(*) FILTER (ok) AS s FROM known)
            SELECT i.item_id, coalesce(w.n, 0), coalesce(w.s, 0),
                   CASE WHEN i.domain IS NULL THEN e.n ELSE coalesce(d.n, 0) END - coalesce(w.n, 0),
                   CASE WHEN i.domain IS NULL THEN e.s ELSE coalesce(d.s, 0) END - coalesce(w.s, 0)
            FROM items i LEFT JOIN with_item w USING (item_id) LEFT JOIN by_domain d ON d.domain = i.domain
            CROSS JOIN everything e ORDER BY i.item_id
        """
        with self._con() as con:
            return [Usefulness(*map(int, row)) for row in con.execute(sql, params).fetchall()]
