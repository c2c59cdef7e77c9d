"""Memory items, their provenance, their append-only event log (and the bank as of any event), and the marks
extractors leave. The item writes here record no event of their own: change items through `curation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator

from ..errors import NotFoundError
from ..models import Event, Extraction, ItemSource, MemoryItem
from .rows import _EVENT_COLS, _ITEM_COLS, _ITEM_COLS_NO_VECTOR, _dumps, _event, _first, _item, _item_filter, _loads


class ItemQueries:
    """Memory items, item sources, memory events, lineage edges, as-of snapshots, extractions."""

    def add_item(self, item: MemoryItem) -> MemoryItem:
        with self.transaction(), self._con() as con:
            item.created_at = item.created_at or self.clock()
            item.updated_at = item.updated_at or item.created_at
            item.item_id = self._insert_new(con, "memory_items", "item_id", _ITEM_COLS.split(", ")[1:], [
                item.title, item.description, item.content, item.source, item.status,
                item.confidence, item.domain, _dumps(item.flags), item.extractor_id, item.prompt_version,
                item.embedding, item.embedding_model, item.superseded_by, item.version, item.last_event_id,
                item.created_at, item.updated_at, _dumps(item.meta)], item.item_id)
        return item

    def get_item(self, item_id: int) -> MemoryItem:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ?", [item_id]))
        if row is None:
            raise NotFoundError(f"no memory item {item_id}")
        return _item(row)

    def get_items(self, item_ids: Iterable[int], *, with_embedding: bool = True) -> list[MemoryItem]:
        """Items in the order asked for; unknown ids are skipped. `with_embedding=False` leaves `embedding` None, for
        reads that only show or count items (a vector is most of an item's bytes)."""
        ids = list(item_ids)
        if not ids:
            return []
        cols = _ITEM_COLS if with_embedding else _ITEM_COLS_NO_VECTOR
        # One id (a retrieval's hit at k=1) by `=`: half the time of a list lookup at 100k items (~0.6 vs 1.2 ms).
        where, params = ("item_id = ?", ids) if len(ids) == 1 else ("list_contains(?, item_id)", [ids])
        with self._con() as con:
            rows = con.execute(f"SELECT {cols} FROM memory_items WHERE {where}", params).fetchall()
        by_id = {r[0]: _item(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def active_item_ids(self, item_ids: Iterable[int]) -> set[int]:
        """Which of these items are active (pending or approved), without reading the items themselves."""
        ids = list(item_ids)
        if not ids:
            return set()
        with self._con() as con:
            rows = con.execute("SELECT item_id FROM memory_items WHERE list_contains(?, item_id) "
                               "AND status IN ('pending', 'approved')", [ids]).fetchall()
        return {r[0] for r in rows}

    def lock_items(self, item_ids: Iterable[int]) -> list[MemoryItem]:
        """The items (unknown ids skipped), read inside a transaction to be changed in it. DuckDB's one writer at a
        time needs no more than `get_items`; PostgreSQL locks the rows to the commit (`PostgresStore.lock_items`)."""
        return self.get_items(item_ids)

    def update_item(self, item: MemoryItem, *, with_embedding: bool = True) -> None:
        """Write every mutable column of `item` (the caller records the matching event). `with_embedding=False`
        leaves the stored vector and its model as they are, for a change that kept them (a decision, a flag):
        DuckDB writes an update of a list column as a delete and an insert, so setting the same vector again moved
        the row to the table's end, left a deleted copy behind and doubled the update's work."""
        with self._con() as con:
            con.execute(_update_sql(with_embedding), _update_values(item, with_embedding))

    def update_items(self, items: Iterable[MemoryItem], *, with_embedding: bool = True) -> None:
        """`update_item` for many items in one statement (one round trip on PostgreSQL)."""
        rows = [_update_values(item, with_embedding) for item in items]
        if rows:
            with self._con() as con:
                con.executemany(_update_sql(with_embedding), rows)

    def query_items(self, *, status: Iterable[str] | None = None, source: Iterable[str] | None = None,
                    domain: str | None = None, flagged: bool | None = None, text: str | None = None,
                    min_confidence: float | None = None, item_ids: Iterable[int] | None = None,
                    limit: int | None = None, offset: int = 0, with_embedding: bool = False,
                    disputed: bool | None = None) -> list[MemoryItem]:
        where, params = _item_filter(status, source, domain, flagged, text, min_confidence, item_ids,
                                     disputed=disputed)
        cols = _ITEM_COLS if with_embedding else _ITEM_COLS_NO_VECTOR
        sql = f"SELECT {cols} FROM memory_items {where} ORDER BY item_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._con() as con:
            return [_item(r) for r in con.execute(sql, params).fetchall()]

    def items_to_compare(self, statuses: Iterable[str]) -> list[MemoryItem]:
        """Items of these statuses by id, holding only what consolidation planning reads: text, source, status,
        domain, flags, version, last event. Partial items, the other fields left at their defaults: never write
        them back (`consolidate.apply` re-reads what it changes). Reading and decoding the rest (meta's JSON, two
        timestamps, six more columns) was half of `query_items`' ~1.3 CPU s at 100k items."""
        with self._con() as con:
            rows = con.execute("SELECT item_id, title, description, content, source, status, domain, flags, version, "
                               "last_event_id FROM memory_items WHERE list_contains(?, status) ORDER BY item_id",
                               [list(statuses)]).fetchall()
        return [MemoryItem(title=r[1], description=r[2], content=r[3], source=r[4], status=r[5], domain=r[6],
                           flags=_loads(r[7], []), version=r[8], last_event_id=r[9], item_id=r[0]) for r in rows]

    def count_items(self, **filters) -> int:
        where, params = _item_filter(**filters)
        with self._con() as con:
            return _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]

    def iter_items(self) -> Iterator[MemoryItem]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_ITEM_COLS} FROM memory_items ORDER BY item_id").fetchall()
        return (_item(r) for r in rows)

    def max_item_id(self) -> int:
        """The newest item's id (ids only grow), to tell items written from here on from those reinforced."""
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(item_id), 0) FROM memory_items"))[0]

    def find_same_lesson(self, item: MemoryItem) -> MemoryItem | None:
        """The item already holding exactly this lesson (same text, source, domain and flags), followed through
        merges to the item that absorbed it; None when there is none or it was archived."""
        with self._con() as con:
            row = _first(con.execute(
                f"SELECT {_ITEM_COLS} FROM memory_items WHERE title = ? AND description = ? AND content = ? "
                "AND source = ? AND domain IS NOT DISTINCT FROM ? AND coalesce(CAST(flags AS TEXT), '[]') = ? "
                "ORDER BY item_id LIMIT 1",
                [item.title, item.description, item.content, item.source, item.domain, _dumps(item.flags)]))
            seen = set()
            while row is not None and row[13] is not None and row[0] not in seen:  # superseded_by
                seen.add(row[0])
                row = _first(con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ?", [row[13]]))
        if row is None or row[5] == "archived":
            return None
        return _item(row)

    def add_item_source(self, source: ItemSource) -> None:
        with self._con() as con:
            con.execute("INSERT INTO item_sources (item_id, relation, traj_id, step_idxs, parent_item_id) "
                        "VALUES (?, ?, ?, ?, ?)", [
                source.item_id, source.relation, source.traj_id, source.step_idxs, source.parent_item_id])

    def add_item_sources(self, sources: Iterable[ItemSource]) -> None:
        """Many provenance rows in one statement (a merged item's parents and evidence): one round trip on
        PostgreSQL, not one per row."""
        rows = [[s.item_id, s.relation, s.traj_id, s.step_idxs, s.parent_item_id] for s in sources]
        if not rows:
            return
        with self._con() as con:
            con.executemany("INSERT INTO item_sources (item_id, relation, traj_id, step_idxs, parent_item_id) "
                            "VALUES (?, ?, ?, ?, ?)", rows)

    def item_sources(self, item_id: int) -> list[ItemSource]:
        with self._con() as con:
            rows = con.execute("SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               "WHERE item_id = ? ORDER BY relation, traj_id, parent_item_id", [item_id]).fetchall()
        return [ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]) for r in rows]

    def item_sources_of(self, item_ids: Iterable[int]) -> dict[int, list[ItemSource]]:
        """Provenance rows of many items in one query."""
        ids = list(item_ids)
        if not ids:
            return {}
        with self._con() as con:
            rows = con.execute("SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               "WHERE list_contains(?, item_id) ORDER BY item_id, relation, traj_id, parent_item_id",
                               [ids]).fetchall()
        found: dict[int, list[ItemSource]] = {}
        for r in rows:
            found.setdefault(r[0], []).append(ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]))
        return found

    def iter_item_sources(self) -> Iterator[ItemSource]:
        with self._con() as con:
            rows = con.execute("SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               "ORDER BY item_id, relation, traj_id, parent_item_id").fetchall()
        return (ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]) for r in rows)

    def items_from_trajectories(self, traj_ids: Iterable[str]) -> dict[str, list[int]]:
        """Item ids that rest on each trajectory (as evidence or contrast)."""
        ids = list(traj_ids)
        if not ids:
            return {}
        with self._con() as con:
            rows = con.execute("SELECT traj_id, list(DISTINCT item_id ORDER BY item_id) FROM item_sources "
                               "WHERE list_contains(?, traj_id) GROUP BY traj_id", [ids]).fetchall()
        return {r[0]: list(r[1]) for r in rows}

    def child_item_ids(self, item_id: int) -> list[int]:
        """Items merged (directly) from this one."""
        with self._con() as con:
            rows = con.execute("SELECT DISTINCT item_id FROM item_sources WHERE relation = 'parent' "
                               "AND parent_item_id = ? ORDER BY item_id", [item_id]).fetchall()
        return [r[0] for r in rows]

    def lineage_edges(self, item_id: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Merge edges (parent, child, depth) above the item (ancestors) and below it (descendants)."""
        walk = """
            WITH RECURSIVE walk(parent, child, depth) AS (
                SELECT parent_item_id, item_id, 1 FROM item_sources
                WHERE relation = 'parent' AND {start} = ?
                UNION
                SELECT s.parent_item_id, s.item_id, w.depth + 1 FROM item_sources s JOIN walk w ON {step}
                WHERE s.relation = 'parent')
            SELECT parent, child, min(depth) FROM walk GROUP BY parent, child ORDER BY 3, 1, 2"""
        with self._con() as con:
            up = con.execute(walk.format(start="item_id", step="s.item_id = w.parent"), [item_id]).fetchall()
            down = con.execute(walk.format(start="parent_item_id", step="s.parent_item_id = w.child"),
                               [item_id]).fetchall()
        return [tuple(r) for r in up], [tuple(r) for r in down]

    def add_event(self, event: Event) -> Event:
        with self.transaction(), self._con() as con:
            event.created_at = event.created_at or self.clock()
            event.event_id = self._insert_new(con, "memory_events", "event_id", _EVENT_INSERT_COLS,
                                              _event_values(event), event.event_id)
        return event

    def add_events(self, events: list[Event]) -> list[Event]:
        """New events (no ids of their own) in one statement, their ids consecutive from max + 1: `transaction()`
        lets no other writer take one meanwhile (on PostgreSQL, the write lock `_next_id` takes)."""
        if not events:
            return events
        with self.transaction(), self._con() as con:
            first = self._next_id(con, "memory_events", "event_id")
            for offset, event in enumerate(events):
                event.event_id, event.created_at = first + offset, event.created_at or self.clock()
            con.executemany(f"INSERT INTO memory_events (event_id, {', '.join(_EVENT_INSERT_COLS)}) "
                            f"VALUES ({', '.join('?' * (len(_EVENT_INSERT_COLS) + 1))})",
                            [[e.event_id, *_event_values(e)] for e in events])
        return events

    def get_event(self, event_id: int) -> Event:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE event_id = ?", [event_id]))
        if row is None:
            raise NotFoundError(f"no event {event_id}")
        return _event(row)

    def item_events(self, item_id: int) -> list[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE item_id = ? ORDER BY event_id",
                               [item_id]).fetchall()
        return [_event(r) for r in rows]

    def iter_events(self) -> Iterator[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events ORDER BY event_id").fetchall()
        return (_event(r) for r in rows)

    def events_of_kind(self, kinds: Iterable[str]) -> list[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE list_contains(?, kind) "
                               "ORDER BY event_id", [list(kinds)]).fetchall()
        return [_event(r) for r in rows]

    def latest_events_of(self, item_ids: Iterable[int], kinds: Iterable[str]) -> dict[int, list[Event]]:
        """For each item, its events of these kinds (oldest first): why an item is flagged, for instance."""
        ids = list(item_ids)
        if not ids:
            return {}
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE list_contains(?, item_id) "
                               "AND list_contains(?, kind) ORDER BY event_id", [ids, list(kinds)]).fetchall()
        found: dict[int, list[Event]] = {}
        for row in rows:
            found.setdefault(row[1], []).append(_event(row))
        return found

    def last_event_id(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(event_id), 0) FROM memory_events"))[0]

    def event_id_at(self, moment: datetime) -> int:
        """The last event at or before `moment` (0 if none)."""
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(event_id), 0) FROM memory_events WHERE created_at <= ?",
                                      [moment]))[0]

    def snapshots_as_of(self, event_id: int) -> list[tuple[int, int, dict[str, Any]]]:
        """(item_id, event_id, after-snapshot) of each item's last event at or before `event_id`: the bank then."""
        with self._con() as con:
            rows = con.execute(
                "SELECT item_id, event_id, after FROM ("
                "  SELECT item_id, event_id, after, row_number() OVER (PARTITION BY item_id ORDER BY event_id DESC)"
                "  AS rn FROM memory_events WHERE event_id <= ?) WHERE rn = 1 ORDER BY item_id",
                [event_id]).fetchall()
        return [(r[0], r[1], _loads(r[2], {})) for r in rows]

    def decided_item_ids(self) -> set[int]:
        """Items that have ever been approved or rejected (by anyone)."""
        with self._con() as con:
            rows = con.execute("SELECT DISTINCT item_id FROM memory_events WHERE kind IN ('APPROVE', 'REJECT')"
                               ).fetchall()
        return {r[0] for r in rows}

    def add_extraction(self, extraction: Extraction) -> None:
        with self._con() as con:
            con.execute("INSERT INTO extractions (traj_id, extractor_id, prompt_version, verdict_id, label, "
                        "n_items, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", [
                extraction.traj_id, extraction.extractor_id, extraction.prompt_version, extraction.verdict_id,
                extraction.label, extraction.n_items, extraction.created_at or self.clock()])

    def iter_extractions(self) -> Iterator[Extraction]:
        with self._con() as con:
            rows = con.execute("SELECT * FROM extractions ORDER BY created_at, traj_id, extractor_id").fetchall()
        return (Extraction(*r) for r in rows)


_UPDATED = ["title", "description", "content", "source", "status", "confidence", "domain", "flags", "superseded_by",
            "version", "last_event_id", "updated_at", "meta"]
_EVENT_INSERT_COLS = ["item_id", "kind", "actor", "reason", "before", "after", "related", "batch_id", "created_at"]


def _update_sql(with_embedding: bool) -> str:
    columns = _UPDATED + (["embedding", "embedding_model"] if with_embedding else [])
    return f"UPDATE memory_items SET {', '.join(f'{c} = ?' for c in columns)} WHERE item_id = ?"


def _update_values(item: MemoryItem, with_embedding: bool) -> list:
    """The parameters of `_update_sql(with_embedding)`, in its column order."""
    return [item.title, item.description, item.content, item.source, item.status, item.confidence, item.domain,
            _dumps(item.flags), item.superseded_by, item.version, item.last_event_id, item.updated_at,
            _dumps(item.meta), *([item.embedding, item.embedding_model] if with_embedding else []), item.item_id]


def _event_values(event: Event) -> list:
    """An event's columns after its id, in `_EVENT_INSERT_COLS` order."""
    return [event.item_id, event.kind, event.actor, event.reason, _dumps(event.before), _dumps(event.after),
            _dumps(event.related), event.batch_id, event.created_at]
