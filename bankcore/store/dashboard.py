"""The only module that touches DuckDB. One `Store` owns all SQL; values in and out are `models` dataclasses.

Connections are short: each call (or each `transaction()` block) opens the file, does its work and closes it,
so the dashboard and a CLI import can take turns on one file. DuckDB lets one process hold a file at a time;
when another process has it we retry with backoff and then fail naming the holder.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import BankBusyError, NotFoundError, SchemaError
from ..migrations import INITIAL_SCHEMA, LATEST_VERSION, MIGRATIONS
from ..models import (
    ContrastExtraction, Event, Extraction, ItemSource, LLMCall, MemoryItem, Retrieval, Run, Selection, Step,
    Trajectory, Truth, Usefulness, VectorRows, Verdict,
)

Clock = Callable[[], datetime]
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")

# The current label of a trajectory: the newest human verdict if there is one, else the newest verdict.
CURRENT_VERDICTS_SQL = """
    SELECT traj_id, label, judge_id, verdict_id FROM (
        SELECT traj_id, label, judge_id, verdict_id,
               row_number() OVER (PARTITION BY traj_id
                                  ORDER BY (judge_id LIKE 'human:%') DESC, verdict_id DESC) AS rn
        FROM verdicts) WHERE rn = 1
"""


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _first(cursor) -> tuple | None:
    """The first row, fetching the rest: DuckDB 2 refuses some calls while a result is left unfinished."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


class Store:
    """A bank file. Thread-safe: each thread gets its own short-lived connection."""

    def __init__(self, path: str | Path, *, clock: Clock = utc_now, lock_timeout_s: float = 30.0,
                 on_busy: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.clock = clock
        self.lock_timeout_s = lock_timeout_s
        self.on_busy = on_busy
        self._local = threading.local()
        self._migrated = False
        self.upgraded: tuple[int, int] | None = None  # (old, new) schema version when opening upgraded the file

    # ------------------------------------------------------------------ connections
    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open the file, retrying with backoff while another process holds its lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                holder = _LOCK_HOLDER.search(str(exc))
                if holder is None:
                    if "lock" not in str(exc).lower():
                        raise SchemaError(f"{self.path}: cannot open as a bank ({exc})") from exc
                    holder_text = "another process"
                else:
                    holder_text = f"{holder.group(1)} (PID {holder.group(2)})"
                if time.monotonic() >= deadline:
                    raise BankBusyError(
                        f"bank busy: {self.path} is held by {holder_text}; gave up after "
                        f"{self.lock_timeout_s:.0f}s — wait for it to finish or stop it") from exc
                if self.on_busy:
                    self.on_busy(f"bank busy (held by {holder_text}), retrying…")
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except duckdb.Error as exc:
                raise SchemaError(f"{self.path}: not a bankcore bank ({exc})") from exc
        if not self._migrated:
            try:
                self._migrate(con)
            except BaseException:
                con.close()
                raise
            self._migrated = True
        return con

    @contextmanager
    def _con(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The current transaction's connection, else the current `reading()` one, else a fresh autocommit one
        closed on exit."""
        current = getattr(self._local, "con", None) or getattr(self._local, "read_con", None)
        if current is not None:
            yield current
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All store calls inside the block commit together or not at all. Nested blocks join the outer one."""
        if getattr(self._local, "con", None) is not None:
            yield
            return
        con = self._connect()
        con.execute("BEGIN TRANSACTION")
        self._local.con = con
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")
        finally:
            self._local.con = None
            con.close()

    # ------------------------------------------------------------------ migrations
    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)")
        applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        if applied and max(applied) > LATEST_VERSION:
            raise SchemaError(f"{self.path}: bank schema v{max(applied)} is newer than this bankcore "
                              f"(knows up to v{LATEST_VERSION}); upgrade bankcore")
        if applied and max(applied) < LATEST_VERSION:
            self.upgraded = (max(applied), LATEST_VERSION)
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in migration.statements:
                    con.execute(statement)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                            [migration.version, migration.name, utc_now()])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT max(version) FROM schema_migrations"))[0]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _next_id(con, table: str, column: str) -> int:
        return _first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0]

    @staticmethod
    def _insert_arrow(con, table: str, columns: dict[str, list], schema: pa.Schema | None = None) -> None:
        """Bulk insert through Arrow: ~50× faster than executemany for wide batches."""
        batch = pa.table(columns, schema=schema)
        con.register("_bankcore_batch", batch)
        try:
            names = ", ".join(columns)
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _bankcore_batch")
        finally:
            con.unregister("_bankcore_batch")

    def count(self, table: str) -> int:
        with self._con() as con:
            return _first(con.execute(f"SELECT count(*) FROM {table}"))[0]

    # ------------------------------------------------------------------ runs
    def add_run(self, run: Run) -> Run:
        with self._con() as con:
            run_id = run.run_id or self._next_id(con, "runs", "run_id")
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, run.name, run.source_format, run.source_path, run.agent_model, run.memory_mode,
                 run.matts_mode, run.matts_k, run.env, run.started_at, run.finished_at, _dumps(run.meta)])
        run.run_id = run_id
        return run

    def finish_run(self, run_id: int, finished_at: datetime, meta: dict[str, Any] | None = None) -> None:
        with self._con() as con:
            con.execute("UPDATE runs SET finished_at = ?, meta = coalesce(?, meta) WHERE run_id = ?",
                        [finished_at, _dumps(meta), run_id])

    def list_runs(self) -> list[Run]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs ORDER BY run_id").fetchall()
        return [_run(row) for row in rows]

    def get_run(self, run_id: int) -> Run:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", [run_id]))
        if row is None:
            raise NotFoundError(f"no run {run_id}")
        return _run(row)

    def find_run(self, name: str) -> Run | None:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE name = ? ORDER BY run_id DESC LIMIT 1",
                              [name]))
        return None if row is None else _run(row)

    # ------------------------------------------------------------------ trajectories
    def next_seq(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM trajectories"))[0]

    def existing_traj_ids(self, traj_ids: Iterable[str]) -> dict[str, int]:
        """Which of these trajectories are stored already, and under which run."""
        ids = list(traj_ids)
        if not ids:
            return {}
        with self._con() as con:
            con.register("_bankcore_ids", pa.table({"traj_id": ids}))
            try:
                rows = con.execute("SELECT t.traj_id, t.run_id FROM trajectories t "
                                   "SEMI JOIN _bankcore_ids i ON t.traj_id = i.traj_id").fetchall()
            finally:
                con.unregister("_bankcore_ids")
        return dict(rows)

    def insert_trajectories(self, items: list[tuple[Trajectory, Truth | None]]) -> int:
        """Insert trajectories (ids, run and seq already set) with their steps and truth. Returns steps written."""
        with self._con() as con:
            return _write_trajectories(con, items)

    @contextmanager
    def staging(self) -> Iterator["Staging"]:
        """A private side file to stream an import into; removed on exit. See `commit_staged`."""
        path = self.path.with_name(f".{self.path.name}.import-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stage = Staging(path)
        try:
            yield stage
        finally:
            stage.discard()

    def commit_staged(self, staged: list[tuple["Staging", Run]]) -> list[tuple[int, int]]:
        """Copy each stage's trajectories not yet in the bank into it, under its new run, all in one transaction.

        Why a side file: DuckDB keeps a transaction's uncommitted rows (and the Arrow batches they came from) in
        memory, so a long import inside one transaction grows with the file. Staging in autocommit batches and
        then one bulk INSERT … SELECT keeps memory flat and holds the bank's lock only for the copy. Several
        stages (a folder of run files) land together or not at all.
        Returns (trajectories added, steps added) per stage; creates a run only if something is added to it.
        """
        if getattr(self._local, "con", None) is not None:
            raise RuntimeError("commit_staged runs its own transaction")
        con = self._connect()
        try:
            con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
            for n, (stage, _) in enumerate(staged):
                stage.close()
                con.execute(f"ATTACH '{stage.path}' AS staged{n} (READ_ONLY)")
            con.execute("BEGIN TRANSACTION")
            self._local.con = con
            try:
                added = [self._copy_staged(con, f"staged{n}", run) for n, (_, run) in enumerate(staged)]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._local.con = None
            for n in range(len(staged)):
                con.execute(f"DETACH staged{n}")
            return added
        finally:
            con.close()

    def _copy_staged(self, con, alias: str, run: Run) -> tuple[int, int]:
        fresh = f"SELECT s.traj_id FROM {alias}.trajectories s ANTI JOIN trajectories t ON s.traj_id = t.traj_id"
        n_new = _first(con.execute(f"SELECT count(*) FROM ({fresh})"))[0]
        if not n_new:
            return 0, 0
        self.add_run(run)
        base = self.next_seq()  # staged seqs start at 0
        con.execute(f"INSERT INTO trajectories SELECT s.traj_id, ?, ? + s.seq, {_TRAJ_COLS.split(', ', 3)[3]} "
                    f"FROM {alias}.trajectories s WHERE s.traj_id IN ({fresh})", [run.run_id, base])
        mine = "SELECT traj_id FROM trajectories WHERE run_id = ?"
        con.execute(f"INSERT INTO steps SELECT * FROM {alias}.steps WHERE traj_id IN ({mine})", [run.run_id])
        con.execute(f"INSERT INTO truth SELECT * FROM {alias}.truth WHERE traj_id IN ({mine})", [run.run_id])
        n_steps = _first(con.execute(f"SELECT count(*) FROM steps WHERE traj_id IN ({mine})", [run.run_id]))[0]
        return n_new, n_steps

    def get_trajectory(self, traj_id: str) -> Trajectory:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_TRAJ_COLS} FROM trajectories WHERE traj_id = ?", [traj_id]))
            if row is None:
                raise NotFoundError(f"no trajectory {traj_id}")
            step_rows = con.execute("SELECT traj_id, idx, thought, action, observation, meta FROM steps "
                                    "WHERE traj_id = ? ORDER BY idx", [traj_id]).fetchall()
        return _trajectory(row, [_step(r) for r in step_rows])

    def get_truth(self, traj_id: str) -> Truth | None:
        with self._con() as con:
            row = _first(con.execute("SELECT success, reward, gold, source, details FROM truth WHERE traj_id = ?",
                              [traj_id]))
        return None if row is None else _truth(row)

    def iter_trajectories(self, *, page_size: int = 500, with_truth: bool = False
                          ) -> Iterator[Trajectory | tuple[Trajectory, Truth | None]]:
        """Every trajectory with its steps, in arrival order, a page at a time (keyset pagination on seq)."""
        last_seq = -1
        while True:
            with self._con() as con:
                rows = con.execute(f"SELECT {_TRAJ_COLS} FROM trajectories WHERE seq > ? ORDER BY seq LIMIT ?",
                                   [last_seq, page_size]).fetchall()
                if not rows:
                    return
                ids = pa.table({"traj_id": [r[0] for r in rows]})
                con.register("_bankcore_ids", ids)
                try:
                    step_rows = con.execute(
                        "SELECT s.traj_id, s.idx, s.thought, s.action, s.observation, s.meta FROM steps s "
                        "SEMI JOIN _bankcore_ids i ON s.traj_id = i.traj_id ORDER BY s.traj_id, s.idx").fetchall()
                    truth_rows = con.execute(
                        "SELECT t.traj_id, success, reward, gold, source, details FROM truth t "
                        "SEMI JOIN _bankcore_ids i ON t.traj_id = i.traj_id").fetchall() if with_truth else []
                finally:
                    con.unregister("_bankcore_ids")
            by_traj: dict[str, list[Step]] = {}
            for r in step_rows:
                by_traj.setdefault(r[0], []).append(_step(r))
            truths = {r[0]: _truth(r[1:]) for r in truth_rows}
            for row in rows:
                traj = _trajectory(row, by_traj.get(row[0], []))
                yield (traj, truths.get(traj.traj_id)) if with_truth else traj
            last_seq = rows[-1][2]

    # ------------------------------------------------------------------ verdicts
    def add_verdict(self, verdict: Verdict) -> Verdict:
        with self._con() as con:
            verdict.verdict_id = verdict.verdict_id or self._next_id(con, "verdicts", "verdict_id")
            verdict.created_at = verdict.created_at or self.clock()
            con.execute("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                verdict.verdict_id, verdict.traj_id, verdict.label, verdict.rationale, verdict.judge_id,
                verdict.prompt_version, verdict.confidence, _dumps(verdict.signals), verdict.tokens_in,
                verdict.tokens_out, verdict.created_at])
        return verdict

    def iter_verdicts(self) -> Iterator[Verdict]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_VERDICT_COLS} FROM verdicts ORDER BY verdict_id").fetchall()
        return (_verdict(r) for r in rows)

    # ------------------------------------------------------------------ memory items, provenance, events
    def add_item(self, item: MemoryItem) -> MemoryItem:
        with self._con() as con:
            item.item_id = item.item_id or self._next_id(con, "memory_items", "item_id")
            item.created_at = item.created_at or self.clock()
            item.updated_at = item.updated_at or item.created_at
            con.execute(f"INSERT INTO memory_items ({_ITEM_COLS}) VALUES ({', '.join('?' * 19)})", [
                item.item_id, item.title, item.description, item.content, item.source, item.status,
                item.confidence, item.domain, _dumps(item.flags), item.extractor_id, item.prompt_version,
                item.embedding, item.embedding_model, item.superseded_by, item.version, item.last_event_id,
                item.created_at, item.updated_at, _dumps(item.meta)])
        return item

    def get_item(self, item_id: int) -> MemoryItem:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ?", [item_id]))
        if row is None:
            raise NotFoundError(f"no memory item {item_id}")
        return _item(row)

    def get_items(self, item_ids: Iterable[int]) -> list[MemoryItem]:
        """Items in the order asked for; unknown ids are skipped."""
        ids = list(item_ids)
        if not ids:
            return []
        with self._con() as con:
            rows = con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE list_contains(?, item_id)",
                               [ids]).fetchall()
        by_id = {r[0]: _item(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def update_item(self, item: MemoryItem) -> None:
        """Write every mutable column of `item` (the caller records the matching event)."""
        with self._con() as con:
            con.execute(
                "UPDATE memory_items SET title = ?, description = ?, content = ?, source = ?, status = ?, "
                "confidence = ?, domain = ?, flags = ?, embedding = ?, embedding_model = ?, superseded_by = ?, "
                "version = ?, last_event_id = ?, updated_at = ?, meta = ? WHERE item_id = ?",
                [item.title, item.description, item.content, item.source, item.status, item.confidence,
                 item.domain, _dumps(item.flags), item.embedding, item.embedding_model, item.superseded_by,
                 item.version, item.last_event_id, item.updated_at, _dumps(item.meta), item.item_id])

    def query_items(self, *, status: Iterable[str] | None = None, source: Iterable[str] | None = None,
                    domain: str | None = None, flagged: bool | None = None, text: str | None = None,
                    min_confidence: float | None = None, item_ids: Iterable[int] | None = None,
                    limit: int | None = None, offset: int = 0, with_embedding: bool = False
                    ) -> list[MemoryItem]:
        where, params = _item_filter(status, source, domain, flagged, text, min_confidence, item_ids)
        cols = _ITEM_COLS if with_embedding else _ITEM_COLS.replace("embedding,", "NULL AS embedding,", 1)
        sql = f"SELECT {cols} FROM memory_items {where} ORDER BY item_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._con() as con:
            return [_item(r) for r in con.execute(sql, params).fetchall()]

    def count_items(self, **filters) -> int:
        where, params = _item_filter(**filters)
        with self._con() as con:
            return _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]

    def item_sources(self, item_id: int) -> list[ItemSource]:
        with self._con() as con:
            rows = con.execute("SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               "WHERE item_id = ? ORDER BY relation, traj_id, parent_item_id", [item_id]).fetchall()
        return [ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]) for r in rows]

    def items_from_trajectories(self, traj_ids: Iterable[str]) -> dict[str, list[int]]:
        """Item ids that rest on each trajectory (as evidence or contrast)."""
        ids = list(traj_ids)
        if not ids:
            return {}
        with self._con() as con:
            rows = con.execute("SELECT traj_id, list(DISTINCT item_id ORDER BY item_id) FROM item_sources "
                               "WHERE list_contains(?, traj_id) GROUP BY traj_id", [ids]).fetchall()
        return {r[0]: list(r[1]) for r in rows}

    def item_events(self, item_id: int) -> list[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE item_id = ? ORDER BY event_id",
                               [item_id]).fetchall()
        return [_event(r) for r in rows]

    def last_event_id(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(event_id), 0) FROM memory_events"))[0]

    def iter_items(self) -> Iterator[MemoryItem]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_ITEM_COLS} FROM memory_items ORDER BY item_id").fetchall()
        return (_item(r) for r in rows)

    def add_item_source(self, source: ItemSource) -> None:
        with self._con() as con:
            con.execute("INSERT INTO item_sources VALUES (?, ?, ?, ?, ?)", [
                source.item_id, source.relation, source.traj_id, source.step_idxs, source.parent_item_id])

    def iter_item_sources(self) -> Iterator[ItemSource]:
        with self._con() as con:
            rows = con.execute("SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               "ORDER BY item_id, relation, traj_id, parent_item_id").fetchall()
        return (ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]) for r in rows)

    def add_event(self, event: Event) -> Event:
        with self._con() as con:
            event.event_id = event.event_id or self._next_id(con, "memory_events", "event_id")
            event.created_at = event.created_at or self.clock()
            con.execute("INSERT INTO memory_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                event.event_id, event.item_id, event.kind, event.actor, event.reason, _dumps(event.before),
                _dumps(event.after), _dumps(event.related), event.batch_id, event.created_at])
        return event

    def iter_events(self) -> Iterator[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events ORDER BY event_id").fetchall()
        return (_event(r) for r in rows)

    # ------------------------------------------------------------------ extractions, retrievals, llm calls
    def add_extraction(self, extraction: Extraction) -> None:
        with self._con() as con:
            con.execute("INSERT INTO extractions VALUES (?, ?, ?, ?, ?, ?, ?)", [
                extraction.traj_id, extraction.extractor_id, extraction.prompt_version, extraction.verdict_id,
                extraction.label, extraction.n_items, extraction.created_at or self.clock()])

    def iter_extractions(self) -> Iterator[Extraction]:
        with self._con() as con:
            rows = con.execute("SELECT * FROM extractions ORDER BY created_at, traj_id, extractor_id").fetchall()
        return (Extraction(*r) for r in rows)

    def add_retrievals(self, retrievals: list[Retrieval]) -> None:
        if not retrievals:
            return
        with self._con() as con:
            first = self._next_id(con, "retrievals", "retrieval_id")
            now = self.clock()
            for offset, r in enumerate(retrievals):
                r.retrieval_id = r.retrieval_id or first + offset
                r.created_at = r.created_at or now
            con.executemany("INSERT INTO retrievals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                [r.retrieval_id, r.query, r.task_id, r.traj_id, r.run_id, r.item_id, r.rank, r.score, r.k,
                 r.as_of_event, r.created_at] for r in retrievals])

    def iter_retrievals(self) -> Iterator[Retrieval]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_RETRIEVAL_COLS} FROM retrievals ORDER BY retrieval_id").fetchall()
        return (_retrieval(r) for r in rows)

    def add_llm_call(self, call: LLMCall) -> LLMCall:
        with self._con() as con:
            call.call_id = call.call_id or self._next_id(con, "llm_calls", "call_id")
            call.created_at = call.created_at or self.clock()
            con.execute("INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                call.call_id, call.purpose, call.model, call.base_url, call.prompt_hash, call.temperature,
                _dumps(call.request), call.response, call.tokens_in, call.tokens_out, call.latency_ms,
                call.error, call.traj_id, call.created_at])
        return call

    def iter_llm_calls(self) -> Iterator[LLMCall]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_LLM_COLS} FROM llm_calls ORDER BY call_id").fetchall()
        return (_llm_call(r) for r in rows)

    # ------------------------------------------------------------------ bank settings
    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._con() as con:
            row = _first(con.execute("SELECT value FROM bank_settings WHERE key = ?", [key]))
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        with self._con() as con:
            con.execute("INSERT OR REPLACE INTO bank_settings VALUES (?, ?)", [key, _dumps(value)])

    def iter_settings(self) -> Iterator[tuple[str, Any]]:
        with self._con() as con:
            rows = con.execute("SELECT key, value FROM bank_settings ORDER BY key").fetchall()
        return ((k, json.loads(v)) for k, v in rows)

    # ------------------------------------------------------------------ judging and extraction (issue 3)
    @contextmanager
    def _id_table(self, con, traj_ids: Iterable[str] | None) -> Iterator[str]:
        """A `WHERE` fragment restricting `t.traj_id` to `traj_ids` (all trajectories when None)."""
        if traj_ids is None:
            yield "TRUE"
            return
        con.register("_bankcore_sel", pa.table({"traj_id": pa.array(list(traj_ids), pa.string())}))
        try:
            yield "t.traj_id IN (SELECT traj_id FROM _bankcore_sel)"
        finally:
            con.unregister("_bankcore_sel")

    def add_verdicts(self, verdicts: list[Verdict]) -> list[Verdict]:
        """Append verdicts in one Arrow batch (ids and times assigned here)."""
        if not verdicts:
            return verdicts
        with self._con() as con:
            first = self._next_id(con, "verdicts", "verdict_id")
            now = self.clock()
            for offset, v in enumerate(verdicts):
                v.verdict_id = first + offset
                v.created_at = v.created_at or now
            self._insert_arrow(con, "verdicts", {
                "verdict_id": pa.array([v.verdict_id for v in verdicts], pa.int32()),
                "traj_id": [v.traj_id for v in verdicts],
                "label": [v.label for v in verdicts],
                "rationale": [v.rationale for v in verdicts],
                "judge_id": [v.judge_id for v in verdicts],
                "prompt_version": pa.array([v.prompt_version for v in verdicts], pa.string()),
                "confidence": pa.array([v.confidence for v in verdicts], pa.float64()),
                "signals": pa.array([_dumps(v.signals) for v in verdicts], pa.string()),
                "tokens_in": pa.array([v.tokens_in for v in verdicts], pa.int32()),
                "tokens_out": pa.array([v.tokens_out for v in verdicts], pa.int32()),
                "created_at": pa.array([v.created_at for v in verdicts], pa.timestamp("us")),
            })
        return verdicts

    def verdict_history(self, traj_id: str) -> list[Verdict]:
        """Every verdict on a trajectory, oldest first."""
        with self._con() as con:
            rows = con.execute(f"SELECT {_VERDICT_COLS} FROM verdicts WHERE traj_id = ? ORDER BY verdict_id",
                               [traj_id]).fetchall()
        return [_verdict(r) for r in rows]

    def current_verdicts(self, traj_ids: Iterable[str] | None = None) -> dict[str, Verdict]:
        """The verdict that gives each trajectory its current label (a human's beats a judge's; newest wins)."""
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            rows = con.execute(
                f"WITH cur AS ({CURRENT_VERDICTS_SQL}) SELECT {self._cols('v', _VERDICT_COLS)} FROM verdicts v "
                f"JOIN cur USING (verdict_id) JOIN trajectories t ON t.traj_id = v.traj_id WHERE {selected}"
            ).fetchall()
        return {r[1]: _verdict(r) for r in rows}

    def select_traj_ids(self, *, run_id: int | None = None, task_id: str | None = None,
                        traj_ids: Iterable[str] | None = None) -> list[str]:
        """Trajectory ids in arrival order, optionally restricted to a run, a task, or a given set."""
        clauses, params = [], []
        if run_id is not None:
            clauses.append("t.run_id = ?")
            params.append(run_id)
        if task_id is not None:
            clauses.append("t.task_id = ?")
            params.append(task_id)
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            where = " AND ".join([selected, *clauses])
            return [r[0] for r in con.execute(f"SELECT t.traj_id FROM trajectories t WHERE {where} ORDER BY t.seq",
                                              params).fetchall()]

    def traj_ids_from_source(self, source_path: str) -> list[str]:
        """Trajectories imported from this file (in any run), in arrival order."""
        with self._con() as con:
            return [r[0] for r in con.execute(
                "SELECT t.traj_id FROM trajectories t JOIN runs r ON r.run_id = t.run_id WHERE r.source_path = ? "
                "ORDER BY t.seq", [source_path]).fetchall()]

    def unjudged(self, judge_id: str, prompt_version: str | None,
                 traj_ids: Iterable[str] | None = None) -> list[str]:
        """The judging queue: trajectories with no verdict from this judge at this prompt version."""
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            return [r[0] for r in con.execute(
                f"SELECT t.traj_id FROM trajectories t WHERE {selected} AND NOT EXISTS ("
                "  SELECT 1 FROM verdicts v WHERE v.traj_id = t.traj_id AND v.judge_id = ? "
                "  AND v.prompt_version IS NOT DISTINCT FROM ?) ORDER BY t.seq",
                [judge_id, prompt_version]).fetchall()]

    def unextracted(self, extractor_id: str, prompt_version: str | None,
                    traj_ids: Iterable[str] | None = None) -> list[Verdict]:
        """The extraction queue: the current verdict of each labelled trajectory this extractor has not yet
        distilled under that label. A trajectory whose label flipped is queued again for the new label."""
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            rows = con.execute(
                f"WITH cur AS ({CURRENT_VERDICTS_SQL}) SELECT {self._cols('v', _VERDICT_COLS)} FROM verdicts v "
                "JOIN cur USING (verdict_id) JOIN trajectories t ON t.traj_id = v.traj_id "
                f"WHERE {selected} AND NOT EXISTS (SELECT 1 FROM extractions e WHERE e.traj_id = v.traj_id "
                "  AND e.extractor_id = ? AND e.prompt_version IS NOT DISTINCT FROM ? AND e.label = v.label) "
                "ORDER BY t.seq", [extractor_id, prompt_version]).fetchall()
        return [_verdict(r) for r in rows]

    def get_trajectories(self, traj_ids: list[str]) -> list[Trajectory]:
        """Trajectories with their steps, in the order asked for; unknown ids are skipped."""
        if not traj_ids:
            return []
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            rows = con.execute(f"SELECT {self._cols('t', _TRAJ_COLS)} FROM trajectories t WHERE {selected}"
                               ).fetchall()
            step_rows = con.execute(
                "SELECT s.traj_id, s.idx, s.thought, s.action, s.observation, s.meta FROM steps s "
                f"JOIN trajectories t ON t.traj_id = s.traj_id WHERE {selected} ORDER BY s.traj_id, s.idx"
            ).fetchall()
        steps: dict[str, list[Step]] = {}
        for r in step_rows:
            steps.setdefault(r[0], []).append(_step(r))
        by_id = {r[0]: _trajectory(r, steps.get(r[0], [])) for r in rows}
        return [by_id[i] for i in traj_ids if i in by_id]

    def cached_llm_call(self, prompt_hash: str, model: str) -> LLMCall | None:
        """The newest successful temperature-0 call with this prompt and model, if any."""
        with self._con() as con:
            row = _first(con.execute(
                f"SELECT {_LLM_COLS} FROM llm_calls WHERE prompt_hash = ? AND model = ? AND temperature = 0 "
                "AND error IS NULL AND response IS NOT NULL ORDER BY call_id DESC LIMIT 1", [prompt_hash, model]))
        return None if row is None else _llm_call(row)

    def llm_usage(self) -> list[dict[str, Any]]:
        """Per purpose and model: calls, failed calls, tokens in/out and mean latency."""
        with self._con() as con:
            cursor = con.execute(
                "SELECT purpose, model, count(*) AS calls, count(error) AS failed, "
                "coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0) AS tokens_out, "
                "avg(latency_ms) AS mean_latency_ms FROM llm_calls GROUP BY ALL ORDER BY ALL")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def judge_outcomes(self) -> list[dict[str, Any]]:
        """Per judge, prompt version and run: the judge's newest label on each trajectory against the truth
        (confusion counts), and against the newest label of each human other than that judge (agreement)."""
        sql = """
            WITH latest AS (
                SELECT traj_id, judge_id, prompt_version, label FROM (
                    SELECT traj_id, judge_id, prompt_version, label,
                           row_number() OVER (PARTITION BY traj_id, judge_id, prompt_version
                                              ORDER BY verdict_id DESC) AS rn
                    FROM verdicts) WHERE rn = 1),
            human AS (
                SELECT traj_id, judge_id, label FROM (
                    SELECT traj_id, judge_id, label,
                           row_number() OVER (PARTITION BY traj_id, judge_id ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id LIKE 'human:%') WHERE rn = 1),
            pairs AS (
                SELECT l.traj_id, l.judge_id, l.prompt_version, count(*) AS n,
                       count(*) FILTER (WHERE h.label = l.label) AS agree
                FROM latest l JOIN human h ON h.traj_id = l.traj_id AND h.judge_id <> l.judge_id
                GROUP BY ALL)
            SELECT l.judge_id, l.prompt_version, t.run_id, r.name AS run_name,
                   count(*) AS judged,
                   count(*) FILTER (WHERE l.label = 'success' AND tr.success) AS tp,
                   count(*) FILTER (WHERE l.label = 'failure' AND tr.success) AS fn,
                   count(*) FILTER (WHERE l.label = 'success' AND NOT tr.success) AS fp,
                   count(*) FILTER (WHERE l.label = 'failure' AND NOT tr.success) AS tn,
                   coalesce(sum(p.n), 0) AS human_pairs,
                   coalesce(sum(p.agree), 0) AS human_agree
            FROM latest l
            JOIN trajectories t ON t.traj_id = l.traj_id
            JOIN runs r ON r.run_id = t.run_id
            LEFT JOIN truth tr ON tr.traj_id = l.traj_id
            LEFT JOIN pairs p ON p.traj_id = l.traj_id AND p.judge_id = l.judge_id
                             AND p.prompt_version IS NOT DISTINCT FROM l.prompt_version
            GROUP BY ALL ORDER BY ALL
        """
        with self._con() as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    @staticmethod
    def _cols(alias: str, columns: str) -> str:
        return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))

    def find_same_lesson(self, item: MemoryItem) -> MemoryItem | None:
        """The item already holding exactly this lesson (same text, source, domain and flags), followed through
        merges to the item that absorbed it; None when there is none or it was archived."""
        with self._con() as con:
            row = _first(con.execute(
                f"SELECT {_ITEM_COLS} FROM memory_items WHERE title = ? AND description = ? AND content = ? "
                "AND source = ? AND domain IS NOT DISTINCT FROM ? AND coalesce(flags, '[]') = ? "
                "ORDER BY item_id LIMIT 1",
                [item.title, item.description, item.content, item.source, item.domain, _dumps(item.flags)]))
            seen = set()
            while row is not None and row[13] is not None and row[0] not in seen:  # superseded_by
                seen.add(row[0])
                row = _first(con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ?", [row[13]]))
        if row is None or row[5] == "archived":
            return None
        return _item(row)

    # ------------------------------------------------------------------ retrieval and vectors (issue 4)
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

    def vector_rows(self, model_id: str, dim: int, *, changed_since: int | None = None) -> VectorRows:
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

    def item_vectors(self, item_ids: np.ndarray, dim: int, *, batch_rows: int = 1 << 16) -> np.ndarray:
        """The stored vectors of `item_ids` (ascending, distinct), as one (n, dim) float32 matrix in that order.

        Vectors are cast to FLOAT[dim] so Arrow hands each batch over as one flat buffer, and each batch is placed
        by id (no ORDER BY: sorting a million wide rows would cost more time and memory than reading them). The ids
        go in as an Arrow table and a semi-join, so a long list costs no more than a short one.
        """
        ids = np.asarray(item_ids, np.int64)
        out = np.empty((len(ids), dim), np.float32)
        if not len(ids):
            return out
        filled = 0
        with self._con() as con, self._memory_limit(con, "512MB" if len(ids) >= 100_000 else None):
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

    @staticmethod
    @contextmanager
    def _memory_limit(con, limit: str | None) -> Iterator[None]:
        """Cap DuckDB's buffer memory for one big streaming read, then put the old cap back. Streaming needs
        little; uncapped, DuckDB keeps what it read cached (~1 GB more at peak for a million vectors)."""
        if limit is None:
            yield
            return
        old = _first(con.execute("SELECT current_setting('memory_limit')"))[0]
        con.execute(f"SET memory_limit = '{limit}'")
        try:
            yield
        finally:
            con.execute(f"SET memory_limit = '{old}'")

    def bank_id(self) -> str:
        """A random id for this bank, made on first use: files derived from the bank (a vector snapshot) carry it,
        so a different bank later created at the same path never reads them."""
        with self.transaction():
            value = self.get_setting("bank_id")
            if value is None:
                value = uuid.uuid4().hex
                self.set_setting("bank_id", value)
        return value

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
        sql = f"SELECT {_ITEM_COLS.replace('embedding,', 'NULL AS embedding,', 1)} FROM memory_items WHERE {wrong}"
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

    def link_retrievals(self, traj_id: str, task_id: str, query: str) -> int:
        """Attach retrievals logged for a task (before its trajectory existed) to the trajectory that followed."""
        with self._con() as con:
            return _first(con.execute(
                "UPDATE retrievals SET traj_id = ? WHERE traj_id IS NULL AND task_id = ? AND query = ?",
                [traj_id, task_id, query]))[0]

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
                       CASE WHEN cur.label IS NOT NULL THEN cur.label = 'success' ELSE tr.success END AS ok
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

    # ------------------------------------------------------------------ consolidation, lineage, as-of (issue 5)
    def get_event(self, event_id: int) -> Event:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE event_id = ?", [event_id]))
        if row is None:
            raise NotFoundError(f"no event {event_id}")
        return _event(row)

    def events_of_kind(self, kinds: Iterable[str]) -> list[Event]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_EVENT_COLS} FROM memory_events WHERE list_contains(?, kind) "
                               "ORDER BY event_id", [list(kinds)]).fetchall()
        return [_event(r) for r in rows]

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

    def decided_item_ids(self) -> set[int]:
        """Items that have ever been approved or rejected (by anyone)."""
        with self._con() as con:
            rows = con.execute("SELECT DISTINCT item_id FROM memory_events WHERE kind IN ('APPROVE', 'REJECT')"
                               ).fetchall()
        return {r[0] for r in rows}

    def retrieval_counts(self) -> dict[int, int]:
        with self._con() as con:
            return dict(con.execute("SELECT item_id, count(*) FROM retrievals GROUP BY item_id").fetchall())

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

    def run_queries(self, run_id: int) -> list[tuple[str, str, str]]:
        """(traj_id, task_id, query) of a run's trajectories, in order."""
        with self._con() as con:
            return [tuple(r) for r in con.execute("SELECT traj_id, task_id, query FROM trajectories WHERE run_id = ? "
                                                  "ORDER BY seq", [run_id]).fetchall()]

    def run_as_of_event(self, run_id: int) -> int | None:
        """The bank state a live run retrieved from (its first retrieval's `as_of_event`), if it recorded one."""
        with self._con() as con:
            return _first(con.execute("SELECT min(as_of_event) FROM retrievals WHERE run_id = ?", [run_id]))[0]

    # ------------------------------------------------------------------ dashboard reads (issue 6)
    # Paginated and aggregated reads for the dashboard: each is one connection and does its grouping in SQL, so a
    # screen costs the same at 100k items as at 100. Rows come back as plain dicts (column → value).
    @contextmanager
    def reading(self) -> Iterator[None]:
        """One autocommit connection for a burst of reads — a dashboard screen — instead of one per read.

        Opening the file costs tens of milliseconds and starts with a cold buffer cache, so a screen of a dozen
        reads pays that a dozen times. Inside this block reads share one connection; a `transaction()` opened inside
        it still gets its own connection (served at once from the same in-process database), commits on its own,
        and the reads after it see its writes. The file stays locked for the block: keep it to one screen.
        """
        if getattr(self._local, "con", None) is not None or getattr(self._local, "read_con", None) is not None:
            yield
            return
        con = self._connect()
        self._local.read_con = con
        try:
            yield
        finally:
            self._local.read_con = None
            con.close()

    def fingerprint(self) -> tuple:
        """A cheap summary that changes whenever anything the dashboard shows changes: its caches key on it."""
        sql = """SELECT (SELECT coalesce(max(event_id), 0) FROM memory_events),
                        (SELECT count(*) FROM memory_items), (SELECT count(*) FROM trajectories),
                        (SELECT coalesce(max(verdict_id), 0) FROM verdicts), (SELECT count(*) FROM retrievals),
                        (SELECT count(*) FROM runs), (SELECT count(*) FROM extractions),
                        (SELECT coalesce(md5(string_agg(key || '=' || value, ';' ORDER BY key)), '')
                         FROM bank_settings)"""
        with self._con() as con:
            return tuple(_first(con.execute(sql)))

    def schema_history(self) -> list[dict[str, Any]]:
        with self._con() as con:
            return _dicts(con.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version"))

    def bank_settings(self) -> dict[str, Any]:
        return dict(self.iter_settings())

    def review_counts(self) -> dict[str, int]:
        """What needs a human: pending items, and active items per flag kind (the part of a flag before ':')."""
        sql = """
            SELECT 'pending' AS what, count(*) AS n FROM memory_items WHERE status = 'pending'
            UNION ALL
            SELECT 'flag:' || split_part(flag, ':', 1), count(DISTINCT item_id)
            FROM (SELECT item_id, unnest(CAST(flags AS VARCHAR[])) AS flag FROM memory_items
                  WHERE status IN ('pending', 'approved') AND coalesce(json_array_length(flags), 0) > 0)
            GROUP BY 1"""
        with self._con() as con:
            return dict(con.execute(sql).fetchall())

    def latest_batches(self, kinds: Iterable[str], limit: int = 1) -> list[dict[str, Any]]:
        """The most recent batches of events of these kinds: a consolidation is one batch of MERGE/SUPERSEDE."""
        sql = """SELECT coalesce(batch_id, 'event-' || event_id) AS batch, min(actor) AS actor,
                        min(created_at) AS started, max(created_at) AS finished, count(*) AS events,
                        count(DISTINCT item_id) AS items, max(event_id) AS last_event
                 FROM memory_events WHERE list_contains(?, kind) GROUP BY 1 ORDER BY last_event DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [list(kinds), limit]))

    def judge_usage(self) -> list[dict[str, Any]]:
        """Every judge that has labelled trajectories here, newest first (humans included)."""
        sql = """SELECT judge_id, count(*) AS verdicts, count(DISTINCT traj_id) AS trajectories,
                        max(created_at) AS last_at, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out
                 FROM verdicts GROUP BY judge_id ORDER BY max(verdict_id) DESC"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def extractor_usage(self) -> list[dict[str, Any]]:
        sql = """SELECT extractor_id, count(*) AS trajectories, sum(n_items) AS items, max(created_at) AS last_at
                 FROM extractions GROUP BY extractor_id ORDER BY max(created_at) DESC"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    # items
    def item_facets(self) -> dict[str, list[tuple[Any, int]]]:
        """Distinct values and counts of the filterable item columns (domain, source, status)."""
        with self._con() as con:
            return {column: con.execute(f"SELECT {column}, count(*) FROM memory_items GROUP BY 1 "
                                        "ORDER BY 2 DESC, 1 NULLS LAST").fetchall()
                    for column in ("domain", "source", "status")}

    def browse_items(self, *, filters: dict[str, Any], order: str = "newest", limit: int = 50,
                     offset: int = 0) -> tuple[list[MemoryItem], int]:
        """One page of items matching `filters` (see `_browse_filter`), and how many match in all."""
        where, params = _browse_filter(**filters)
        order_by = _ITEM_ORDER[order]
        cols = _ITEM_COLS.replace("embedding,", "NULL AS embedding,", 1)
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]
            rows = con.execute(f"SELECT {cols} FROM memory_items {where} ORDER BY {order_by} "
                               f"LIMIT {int(limit)} OFFSET {int(offset)}", params).fetchall()
        return [_item(r) for r in rows], total

    def retrieval_stats(self, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Per item: times retrieved, distinct tasks, and the outcome of the trajectories that retrieved it."""
        ids = list(item_ids)
        if not ids:
            return {}
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.item_id, count(*) AS retrieved, count(DISTINCT r.task_id) AS tasks,
                   min(r.rank) AS best_rank, avg(r.score) AS mean_score, max(r.created_at) AS last_at,
                   {_RATE.format(col='tr.success')} AS truth_success_rate,
                   {_LABEL_RATE.format(col='cur.label')} AS verdict_success_rate
            FROM retrievals r LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)
            WHERE list_contains(?, r.item_id) GROUP BY r.item_id"""
        with self._con() as con:
            return {row["item_id"]: row for row in _dicts(con.execute(sql, [ids]))}

    def item_retrievals(self, item_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """The latest times this item was shown to a task, with how that task went."""
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.created_at, r.query, r.task_id, r.traj_id, r.rank, r.score, r.k, tr.success AS truth,
                   cur.label AS verdict
            FROM retrievals r LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)
            WHERE r.item_id = ? ORDER BY r.retrieval_id DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [item_id, limit]))

    def review_queue(self, *, which: str = "all", limit: int = 20, offset: int = 0
                     ) -> tuple[list[MemoryItem], int]:
        """Items waiting for a human: pending ones and active flagged ones; flagged first, then oldest first."""
        where = {"all": "status = 'pending' OR (status = 'approved' AND " + _FLAGGED + ")",
                 "pending": "status = 'pending'",
                 "flagged": "status IN ('pending', 'approved') AND " + _FLAGGED}[which]
        cols = _ITEM_COLS.replace("embedding,", "NULL AS embedding,", 1)
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items WHERE {where}"))[0]
            rows = con.execute(f"SELECT {cols} FROM memory_items WHERE {where} "
                               f"ORDER BY ({_FLAGGED}) DESC, created_at, item_id "
                               f"LIMIT {int(limit)} OFFSET {int(offset)}").fetchall()
        return [_item(r) for r in rows], total

    def child_item_ids(self, item_id: int) -> list[int]:
        """Items merged (directly) from this one."""
        with self._con() as con:
            rows = con.execute("SELECT DISTINCT item_id FROM item_sources WHERE relation = 'parent' "
                               "AND parent_item_id = ? ORDER BY item_id", [item_id]).fetchall()
        return [r[0] for r in rows]

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

    # trajectories and verdicts
    def browse_trajectories(self, *, limit: int = 50, offset: int = 0, **filters: Any
                            ) -> tuple[list[dict[str, Any]], int]:
        """One page of trajectories (newest first) with their current label and truth, and the total matching.
        Filters: see `_traj_filter`."""
        where, params = _traj_filter(**filters)
        cols = ("t.traj_id, t.run_id, t.seq, t.task_id, t.trial, t.domain, left(t.query, 240) AS query, "
                "t.num_steps, t.started_at, cur.label AS verdict, cur.judge_id AS judge, tr.success AS truth, "
                "tr.reward")
        with self._con() as con:
            total = _first(con.execute(_TRAJ_BROWSE.format(cols="count(*)", where=where), params))[0]
            rows = _dicts(con.execute(_TRAJ_BROWSE.format(cols=cols, where=where)
                                      + f" ORDER BY t.seq DESC LIMIT {int(limit)} OFFSET {int(offset)}", params))
        return rows, total

    def matching_traj_ids(self, **filters: Any) -> list[str]:
        """Every trajectory the browser's filters match, in arrival order: a selection to judge again."""
        where, params = _traj_filter(**filters)
        with self._con() as con:
            return [r[0] for r in con.execute(_TRAJ_BROWSE.format(cols="t.traj_id", where=where)
                                              + " ORDER BY t.seq", params).fetchall()]

    def judge_vs_humans(self) -> list[dict[str, Any]]:
        """Per judge and prompt version: its newest label on each trajectory a human labelled, against the newest
        human label there — one row per (label, human label) cell with its count. (Against the truth:
        `judge_outcomes`.)"""
        sql = """
            WITH latest AS (
                SELECT traj_id, judge_id, prompt_version, label FROM (
                    SELECT traj_id, judge_id, prompt_version, label, row_number() OVER (
                        PARTITION BY traj_id, judge_id, prompt_version ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id NOT LIKE 'human:%') WHERE rn = 1),
            human AS (
                SELECT traj_id, label FROM (
                    SELECT traj_id, label, row_number() OVER (PARTITION BY traj_id ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id LIKE 'human:%') WHERE rn = 1)
            SELECT l.judge_id, l.prompt_version, l.label, h.label AS human_label, count(*) AS n
            FROM latest l JOIN human h USING (traj_id) GROUP BY ALL ORDER BY ALL"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def verdict_flips(self, since_verdict_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Trajectories whose current label changed with verdicts written after `since_verdict_id`."""
        sql = f"""
            WITH old AS ({_CURRENT_VERDICTS_UPTO}), now AS ({CURRENT_VERDICTS_SQL})
            SELECT now.traj_id, t.task_id, left(t.query, 240) AS query, old.label AS old_label,
                   old.judge_id AS old_judge, now.label AS new_label, now.judge_id AS new_judge,
                   tr.success AS truth
            FROM now JOIN old USING (traj_id) JOIN trajectories t USING (traj_id) LEFT JOIN truth tr USING (traj_id)
            WHERE now.verdict_id > ? AND now.label <> old.label ORDER BY t.seq LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [since_verdict_id, since_verdict_id, limit]))

    def max_verdict_id(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(verdict_id), 0) FROM verdicts"))[0]

    # outcomes over time
    def outcome_series(self, *, bucket: str = "run", split: str | None = None,
                       window: int = 50) -> list[dict[str, Any]]:
        """Success rate (by truth and by current verdict) and mean steps per bucket, optionally split in series.

        bucket: run | trial | day | week | window (every `window` trajectories in arrival order);
        split: None | memory_mode | domain. Every row has `start`, the earliest moment in its bucket, so a time
        axis can carry memory events next to it.
        """
        buckets = {"run": "t.run_id", "trial": "t.trial", "day": "date_trunc('day', t.moment)",
                   "week": "date_trunc('week', t.moment)", "window": f"(t.n - 1) // {max(1, int(window))}"}
        splits = {None: "'all'", "memory_mode": "coalesce(t.memory_mode, 'unknown')",
                  "domain": "coalesce(t.domain, 'unknown')"}
        sql = f"""
            WITH {_OUTCOMES_CTE}
            SELECT {buckets[bucket]} AS bucket, {splits[split]} AS series, min(t.moment) AS start,
                   min(t.run_name) AS run_name, {_OUTCOME_AGG}
            FROM t GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def outcome_breakdown(self, by: str) -> list[dict[str, Any]]:
        """Outcomes per memory mode, per domain, or per source of the memories the trajectory was given."""
        if by == "memory_source":
            sql = f"""
                WITH {_OUTCOMES_CTE},
                used AS (SELECT DISTINCT r.traj_id, i.source FROM retrievals r JOIN memory_items i USING (item_id)
                         WHERE r.traj_id IS NOT NULL),
                tagged AS (SELECT t.*, coalesce(u.source, 'no memory retrieved') AS value
                           FROM t LEFT JOIN used u USING (traj_id))
                SELECT value, {_OUTCOME_AGG} FROM tagged t GROUP BY value ORDER BY value"""
        else:
            column = {"memory_mode": "t.memory_mode", "domain": "t.domain"}[by]
            sql = f"""WITH {_OUTCOMES_CTE}
                      SELECT coalesce({column}, 'unknown') AS value, {_OUTCOME_AGG} FROM t GROUP BY 1 ORDER BY 1"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def event_markers(self, kinds: Iterable[str], limit: int = 500) -> list[dict[str, Any]]:
        """Batches of memory events (consolidations, approvals, imports of items) to mark on a time axis."""
        sql = """SELECT kind, coalesce(batch_id, strftime(date_trunc('hour', created_at), '%Y-%m-%d %H:00')) AS batch,
                        min(created_at) AS moment, count(*) AS events, min(actor) AS actor
                 FROM memory_events WHERE list_contains(?, kind) GROUP BY 1, 2 ORDER BY moment DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [list(kinds), limit]))

    # evolution
    def event_bounds(self) -> dict[str, Any]:
        sql = """SELECT coalesce(max(event_id), 0) AS last_event, min(created_at) AS first_at,
                        max(created_at) AS last_at, count(*) AS events FROM memory_events"""
        with self._con() as con:
            return _dicts(con.execute(sql))[0]

    def event_times(self, event_ids: Iterable[int]) -> dict[int, datetime]:
        ids = [int(e) for e in event_ids]
        if not ids:
            return {}
        with self._con() as con:
            return dict(con.execute("SELECT event_id, created_at FROM memory_events WHERE list_contains(?, event_id)",
                                    [ids]).fetchall())

    def status_counts_as_of(self, event_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Items per (status, source) as of each given event id — from the event log, not the current table.

        Each event moves one item out of its before-state and into its after-state. The moves are bucketed to the
        first requested point at or after them (an ASOF join) and summed; a running sum over the points then gives
        the counts at each, so many points cost one pass over the log.
        """
        points = sorted(set(int(e) for e in event_ids))
        if not points:
            return []
        sql = """
            WITH moves AS (
                SELECT event_id, json_extract_string(after, '$.status') AS status,
                       json_extract_string(after, '$.source') AS source, 1 AS delta
                FROM memory_events WHERE after IS NOT NULL
                UNION ALL
                SELECT event_id, json_extract_string(before, '$.status'), json_extract_string(before, '$.source'), -1
                FROM memory_events WHERE before IS NOT NULL),
            points AS (SELECT unnest(?::BIGINT[]) AS point),
            per_point AS (SELECT p.point, m.status, m.source, sum(m.delta) AS delta
                          FROM moves m ASOF JOIN points p ON m.event_id <= p.point GROUP BY ALL),
            grid AS (SELECT p.point, c.status, c.source FROM points p
                     CROSS JOIN (SELECT DISTINCT status, source FROM per_point) c),
            running AS (SELECT g.point, g.status, g.source,
                               sum(coalesce(pp.delta, 0)) OVER (PARTITION BY g.status, g.source ORDER BY g.point)
                               AS items
                        FROM grid g LEFT JOIN per_point pp USING (point, status, source))
            SELECT point AS event_id, status, source, items::BIGINT AS items FROM running WHERE items <> 0
            ORDER BY 1, 2, 3"""
        with self._con() as con:
            return _dicts(con.execute(sql, [points]))

    def items_as_of(self, event_id: int, *, status: Iterable[str] | None = None, text: str | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of the bank as it was at `event_id`: each item's state after its last event up to then.

        Only the status is read out of every state's JSON (to filter and count); the other fields only for the
        page shown. At the latest event the state is the current table (curation writes both together).
        """
        if event_id >= self.last_event_id():
            return self._items_now(status=status, text=text, limit=limit, offset=offset)
        clauses, params = [], [event_id]
        if status is not None:
            clauses.append("list_contains(?, status)")
            params.append(list(status))
        if text:
            clauses.append("(json_extract_string(after, '$.title') ILIKE ? "
                           "OR json_extract_string(after, '$.description') ILIKE ? "
                           "OR json_extract_string(after, '$.content') ILIKE ?)")
            params += [f"%{text}%"] * 3
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        state = f"""
            WITH last AS (SELECT item_id, max(event_id) AS event_id FROM memory_events WHERE event_id <= ?
                          GROUP BY item_id),
            state AS (SELECT l.item_id, l.event_id, e.after, json_extract_string(e.after, '$.status') AS status
                      FROM last l JOIN memory_events e USING (item_id, event_id))"""
        page = f"""{state}
            SELECT item_id, event_id, json_extract_string(after, '$.title') AS title,
                   json_extract_string(after, '$.content') AS content, status,
                   json_extract_string(after, '$.source') AS source, json_extract_string(after, '$.domain') AS domain,
                   CAST(json_extract(after, '$.version') AS INTEGER) AS version
            FROM state {where} ORDER BY item_id DESC LIMIT {int(limit)} OFFSET {int(offset)}"""
        with self._con() as con:
            total = _first(con.execute(f"{state} SELECT count(*) FROM state {where}", params))[0]
            rows = _dicts(con.execute(page, params))
        return rows, total

    def _items_now(self, *, status, text, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        where, params = _browse_filter(status=status, text=text)
        cols = "item_id, last_event_id AS event_id, title, content, status, source, domain, version"
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]
            rows = _dicts(con.execute(f"SELECT {cols} FROM memory_items {where} ORDER BY item_id DESC "
                                      f"LIMIT {int(limit)} OFFSET {int(offset)}", params))
        return rows, total

    def merge_graph(self, *, limit: int = 60, item_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The latest `limit` merges (or those around one item) as a graph: nodes (items) and parent → child edges."""
        focus = ""
        params: list[Any] = []
        if item_id is not None:
            focus = "AND (s.item_id = ? OR s.parent_item_id = ?)"
            params = [item_id, item_id]
        edges_sql = f"""
            WITH merges AS (SELECT DISTINCT s.item_id FROM item_sources s WHERE s.relation = 'parent' {focus}
                            ORDER BY s.item_id DESC LIMIT {int(limit)})
            SELECT s.parent_item_id AS parent, s.item_id AS child FROM item_sources s
            SEMI JOIN merges m ON s.item_id = m.item_id WHERE s.relation = 'parent' ORDER BY child, parent"""
        with self._con() as con:
            edges = _dicts(con.execute(edges_sql, params))
            ids = sorted({e["parent"] for e in edges} | {e["child"] for e in edges})
            nodes = _dicts(con.execute(
                "SELECT i.item_id, i.title, i.status, i.source, i.domain, i.version, i.created_at, "
                "(SELECT min(e.created_at) FROM memory_events e WHERE e.item_id = i.item_id AND e.kind = 'MERGE') "
                "AS merged_at FROM memory_items i WHERE list_contains(?, i.item_id) ORDER BY i.item_id", [ids])
            ) if ids else []
        return {"nodes": nodes, "edges": edges}

    def recent_events(self, *, kinds: Iterable[str] | None = None, item_id: int | None = None,
                      limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of the event log, newest first, with each item's current title; and how many events match."""
        clauses, params = [], []
        if kinds is not None:
            clauses.append("list_contains(?, e.kind)")
            params.append(list(kinds))
        if item_id is not None:
            clauses.append("e.item_id = ?")
            params.append(item_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"""SELECT e.event_id, e.created_at, e.kind, e.item_id, i.title, e.actor, e.reason, e.batch_id
                  FROM memory_events e LEFT JOIN memory_items i USING (item_id) {where}
                  ORDER BY e.event_id DESC LIMIT {int(limit)} OFFSET {int(offset)}"""
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_events e {where}", params))[0]
            return _dicts(con.execute(sql, params)), total

    # ---- agent runs and MaTTS (issue 7)
    def update_run(self, run: Run) -> None:
        """Rewrite a run's descriptive columns (a resumed live run records its settings and progress)."""
        with self._con() as con:
            con.execute("UPDATE runs SET agent_model = ?, memory_mode = ?, matts_mode = ?, matts_k = ?, env = ?, "
                        "finished_at = ?, meta = ? WHERE run_id = ?",
                        [run.agent_model, run.memory_mode, run.matts_mode, run.matts_k, run.env, run.finished_at,
                         _dumps(run.meta), run.run_id])

    def max_item_id(self) -> int:
        """The newest item's id (ids only grow), to tell items written from here on from those reinforced."""
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(item_id), 0) FROM memory_items"))[0]

    def run_task_ids(self, run_id: int) -> list[str]:
        """The tasks a run has trajectories for, in the order it did them."""
        with self._con() as con:
            return [r[0] for r in con.execute(
                "SELECT task_id FROM trajectories WHERE run_id = ? GROUP BY task_id ORDER BY min(seq)",
                [run_id]).fetchall()]

    def attach_llm_calls(self, traj_id: str, call_ids: Iterable[int]) -> None:
        """Point the calls that produced a trajectory (made before it had an id) at it, for cost per task."""
        ids = [int(i) for i in call_ids if i is not None]
        if ids:
            with self._con() as con:
                con.execute("UPDATE llm_calls SET traj_id = ? WHERE list_contains(?, call_id)", [traj_id, ids])

    def task_groups(self, *, run_id: int | None = None, min_size: int = 2) -> list[tuple[int, str, list[str]]]:
        """(run, task, trajectory ids by trial then arrival) for every task with at least `min_size` trajectories
        in one run: the groups MaTTS selects among and contrasts."""
        where, params = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
        with self._con() as con:
            rows = con.execute(
                f"SELECT run_id, task_id, list(traj_id ORDER BY trial NULLS LAST, seq) FROM trajectories {where} "
                f"GROUP BY run_id, task_id HAVING count(*) >= ? ORDER BY min(seq)", [*params, min_size]).fetchall()
        return [(r[0], r[1], list(r[2])) for r in rows]

    def get_truths(self, traj_ids: Iterable[str]) -> dict[str, Truth]:
        """Ground truth of the given trajectories that have it (for measuring, never for judging)."""
        with self._con() as con, self._id_table(con, list(traj_ids)) as selected:
            rows = con.execute("SELECT t.traj_id, success, reward, gold, source, details FROM truth t "
                               f"WHERE {selected}").fetchall()
        return {r[0]: _truth(r[1:]) for r in rows}

    def add_selection(self, selection: Selection) -> Selection:
        with self._con() as con:
            selection.selection_id = selection.selection_id or self._next_id(con, "selections", "selection_id")
            selection.created_at = selection.created_at or self.clock()
            con.execute(f"INSERT INTO selections ({_SELECTION_COLS}) VALUES ({', '.join('?' * 13)})", [
                selection.selection_id, selection.run_id, selection.task_id, selection.traj_ids,
                selection.selector_id, selection.prompt_version, selection.chosen_traj_id, selection.analysis,
                _dumps(selection.scores), selection.llm_call_id, selection.tokens_in, selection.tokens_out,
                selection.created_at])
        return selection

    def selections(self, *, run_id: int | None = None, selector_id: str | None = None) -> list[Selection]:
        """Best-of-N picks, oldest first (the newest per group and selector is the one that counts)."""
        clauses, params = [], []
        for column, value in (("run_id", run_id), ("selector_id", selector_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._con() as con:
            rows = con.execute(f"SELECT {_SELECTION_COLS} FROM selections {where} ORDER BY selection_id",
                               params).fetchall()
        return [_selection(r) for r in rows]

    def add_contrast_extraction(self, mark: ContrastExtraction) -> None:
        with self._con() as con:
            con.execute(f"INSERT INTO contrast_extractions ({_CONTRAST_COLS}) VALUES ({', '.join('?' * 10)})", [
                mark.run_id, mark.task_id, mark.traj_ids, mark.labels, mark.verdict_ids, mark.extractor_id,
                mark.prompt_version, mark.n_items, mark.llm_call_id, mark.created_at or self.clock()])

    def contrast_extractions(self, extractor_id: str | None = None) -> list[ContrastExtraction]:
        where, params = ("WHERE extractor_id = ?", [extractor_id]) if extractor_id else ("", [])
        with self._con() as con:
            rows = con.execute(f"SELECT {_CONTRAST_COLS} FROM contrast_extractions {where} ORDER BY created_at",
                               params).fetchall()
        return [_contrast(r) for r in rows]

    def agent_task_outcomes(self) -> list[dict[str, Any]]:
        """Per run and task, in the order the run did them: trajectories, steps, truth (mean and any), the
        outcome of the trajectory that counts for the task (its first best-of-N pick — for a live run, the one the
        run made; a later replay with another selector does not rewrite it — else the last attempt)
        by truth and by current verdict, and the LLM calls and tokens spent on it (agent, judge, extractor,
        selector and contrast calls; and the agent's own share)."""
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL}),
            t AS (SELECT t.run_id, t.task_id, t.traj_id, t.seq, t.num_steps, tr.success AS truth,
                         CASE WHEN cur.label IS NULL THEN NULL ELSE cur.label = 'success' END AS judged
                  FROM trajectories t LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)),
            pick AS (SELECT run_id, task_id, chosen_traj_id FROM (
                         SELECT run_id, task_id, chosen_traj_id,
                                row_number() OVER (PARTITION BY run_id, task_id ORDER BY selection_id) AS rn
                         FROM selections) WHERE rn = 1),
            last AS (SELECT run_id, task_id, traj_id AS last_traj_id FROM (
                         SELECT run_id, task_id, traj_id,
                                row_number() OVER (PARTITION BY run_id, task_id ORDER BY seq DESC) AS rn
                         FROM t) WHERE rn = 1),
            calls AS (SELECT t.run_id, t.task_id, count(*) AS n, sum(c.tokens_in) AS tin, sum(c.tokens_out) AS tout,
                             count(*) FILTER (WHERE c.purpose = 'agent') AS agent_n,
                             coalesce(sum(c.tokens_in + c.tokens_out) FILTER (WHERE c.purpose = 'agent'), 0)
                                 AS agent_tokens
                      FROM llm_calls c JOIN t ON c.traj_id = t.traj_id GROUP BY ALL),
            group_call_ids AS (SELECT run_id, task_id, llm_call_id FROM selections WHERE llm_call_id IS NOT NULL
                               UNION ALL
                               SELECT run_id, task_id, llm_call_id FROM contrast_extractions
                               WHERE llm_call_id IS NOT NULL),
            group_calls AS (SELECT g.run_id, g.task_id, count(*) AS n, sum(c.tokens_in) AS tin,
                                   sum(c.tokens_out) AS tout
                            FROM group_call_ids g JOIN llm_calls c ON c.call_id = g.llm_call_id GROUP BY ALL)
            SELECT t.run_id, t.task_id, min(t.seq) AS first_seq, count(*) AS trajectories,
                   avg(t.num_steps) AS mean_steps, count(t.truth) AS with_truth,
                   avg(CASE WHEN t.truth THEN 1.0 WHEN NOT t.truth THEN 0.0 END) AS mean_truth,
                   bool_or(t.truth) AS any_truth,
                   any_value(p.chosen_traj_id) IS NOT NULL AS selected,
                   any_value(t.truth) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
                       AS final_truth,
                   any_value(t.judged) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
                       AS final_judged,
                   any_value(t.num_steps) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
                       AS final_steps,
                   coalesce(any_value(c.n), 0) + coalesce(any_value(g.n), 0) AS llm_calls,
                   coalesce(any_value(c.tin), 0) + coalesce(any_value(g.tin), 0) AS tokens_in,
                   coalesce(any_value(c.tout), 0) + coalesce(any_value(g.tout), 0) AS tokens_out,
                   coalesce(any_value(c.agent_n), 0) AS agent_calls,
                   coalesce(any_value(c.agent_tokens), 0) AS agent_tokens
            FROM t
            LEFT JOIN pick p USING (run_id, task_id)
            LEFT JOIN last l USING (run_id, task_id)
            LEFT JOIN calls c USING (run_id, task_id)
            LEFT JOIN group_calls g USING (run_id, task_id)
            GROUP BY t.run_id, t.task_id
            ORDER BY t.run_id, first_seq
        """
        with self._con() as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # ------------------------------------------------------------------ statistics
    def table_counts(self) -> dict[str, int]:
        tables = ("runs", "trajectories", "steps", "truth", "verdicts", "memory_items", "item_sources",
                  "memory_events", "retrievals", "llm_calls")
        with self._con() as con:
            sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
            return dict(con.execute(sql).fetchall())

    def item_counts(self) -> list[tuple[str, str, int]]:
        """(source, status, count) for every combination present."""
        with self._con() as con:
            return con.execute("SELECT source, status, count(*) FROM memory_items GROUP BY ALL ORDER BY ALL"
                               ).fetchall()

    def run_outcomes(self) -> list[dict[str, Any]]:
        """Per run and trial: trajectories, mean steps, success rate by truth and by current verdict."""
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.run_id, r.name, r.source_format, r.memory_mode, t.trial,
                   count(*) AS trajectories,
                   avg(t.num_steps) AS mean_steps,
                   count(tr.success) AS with_truth,
                   avg(CASE WHEN tr.success THEN 1.0 WHEN NOT tr.success THEN 0.0 END) AS truth_success_rate,
                   avg(CASE WHEN tr.success THEN t.num_steps END) AS truth_mean_steps_success,
                   avg(CASE WHEN NOT tr.success THEN t.num_steps END) AS truth_mean_steps_failure,
                   count(cur.label) AS judged,
                   avg(CASE WHEN cur.label = 'success' THEN 1.0 WHEN cur.label = 'failure' THEN 0.0 END)
                       AS verdict_success_rate,
                   avg(CASE WHEN cur.label = 'success' THEN t.num_steps END) AS verdict_mean_steps_success,
                   avg(CASE WHEN cur.label = 'failure' THEN t.num_steps END) AS verdict_mean_steps_failure
            FROM trajectories t
            JOIN runs r USING (run_id)
            LEFT JOIN truth tr USING (traj_id)
            LEFT JOIN cur USING (traj_id)
            GROUP BY GROUPING SETS ((r.run_id, r.name, r.source_format, r.memory_mode),
                                    (r.run_id, r.name, r.source_format, r.memory_mode, t.trial))
            ORDER BY r.run_id, t.trial NULLS FIRST
        """
        with self._con() as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # ------------------------------------------------------------------ recorded LLM replies (issue 8)
    def trajectory_keys(self) -> dict[str, tuple[str, str, int]]:
        """traj_id → (run name, task id, trial) for every trajectory: what a recorded reply is looked up by."""
        with self._con() as con:
            rows = con.execute("SELECT t.traj_id, r.name, t.task_id, coalesce(t.trial, 0) FROM trajectories t "
                               "JOIN runs r USING (run_id)").fetchall()
        return {traj_id: (run, task, int(trial)) for traj_id, run, task, trial in rows}


# ---------------------------------------------------------------------- staging
IMPORT_MEMORY_LIMIT = "128MB"
_STAGED_TABLES = ("trajectories", "steps", "truth")


def _write_trajectories(con, items: list[tuple[Trajectory, Truth | None]]) -> int:
    """Bulk-write trajectories with their steps and truth through Arrow. Returns steps written."""
    if not items:
        return 0
    trajs = [t for t, _ in items]
    steps = [(t.traj_id, s) for t in trajs for s in t.steps]
    truths = [(t.traj_id, truth) for t, truth in items if truth is not None]
    Store._insert_arrow(con, "trajectories", {
        "traj_id": [t.traj_id for t in trajs],
        "run_id": pa.array([t.run_id for t in trajs], pa.int32()),
        "seq": [t.seq for t in trajs],
        "task_id": [t.task_id for t in trajs],
        "domain": pa.array([t.domain for t in trajs], pa.string()),
        "trial": pa.array([t.trial for t in trajs], pa.int32()),
        "query": [t.query for t in trajs],
        "final_answer": pa.array([t.final_answer for t in trajs], pa.string()),
        "final_state": pa.array([t.final_state for t in trajs], pa.string()),
        "num_steps": [t.num_steps for t in trajs],
        "started_at": pa.array([t.started_at for t in trajs], pa.timestamp("us")),
        "source_format": [t.source_format for t in trajs],
        "meta": [_dumps(t.meta) for t in trajs],
    })
    if steps:
        Store._insert_arrow(con, "steps", {
            "traj_id": [tid for tid, _ in steps],
            "idx": pa.array([s.index for _, s in steps], pa.int32()),
            "thought": pa.array([s.thought for _, s in steps], pa.string()),
            "action": pa.array([s.action for _, s in steps], pa.string()),
            "observation": pa.array([s.observation for _, s in steps], pa.string()),
            "meta": pa.array([_dumps(s.meta) if s.meta else None for _, s in steps], pa.string()),
        })
    if truths:
        Store._insert_arrow(con, "truth", {
            "traj_id": [tid for tid, _ in truths],
            "success": pa.array([t.success for _, t in truths], pa.bool_()),
            "reward": pa.array([t.reward for _, t in truths], pa.float64()),
            "gold": pa.array([t.gold for _, t in truths], pa.string()),
            "source": pa.array([t.source for _, t in truths], pa.string()),
            "details": pa.array([_dumps(t.details) if t.details else None for _, t in truths], pa.string()),
        })
    return len(steps)


class Staging:
    """A private DuckDB side file with the bank's trajectory tables, written in autocommit batches."""

    def __init__(self, path: Path):
        self.path = path
        self._con = duckdb.connect(str(path))
        self._con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
        for statement in INITIAL_SCHEMA:
            if any(statement.startswith(f"CREATE TABLE {t} ") for t in _STAGED_TABLES):
                self._con.execute(statement)

    def insert(self, items: list[tuple[Trajectory, Truth | None]]) -> int:
        return _write_trajectories(self._con, items)

    def contains(self, traj_ids: Iterable[str]) -> set[str]:
        self._con.register("_bankcore_ids", pa.table({"traj_id": list(traj_ids)}))
        try:
            rows = self._con.execute("SELECT t.traj_id FROM trajectories t "
                                     "SEMI JOIN _bankcore_ids i ON t.traj_id = i.traj_id").fetchall()
        finally:
            self._con.unregister("_bankcore_ids")
        return {r[0] for r in rows}

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def discard(self) -> None:
        self.close()
        for leftover in (self.path, Path(f"{self.path}.wal")):
            leftover.unlink(missing_ok=True)


# ---------------------------------------------------------------------- row → value mapping
_RUN_COLS = ("run_id, name, source_format, source_path, agent_model, memory_mode, matts_mode, matts_k, env, "
             "started_at, finished_at, meta")
_TRAJ_COLS = ("traj_id, run_id, seq, task_id, domain, trial, query, final_answer, final_state, num_steps, "
              "started_at, source_format, meta")
_VERDICT_COLS = ("verdict_id, traj_id, label, rationale, judge_id, prompt_version, confidence, signals, "
                 "tokens_in, tokens_out, created_at")
_ITEM_COLS = ("item_id, title, description, content, source, status, confidence, domain, flags, extractor_id, "
              "prompt_version, embedding, embedding_model, superseded_by, version, last_event_id, created_at, "
              "updated_at, meta")
_EVENT_COLS = "event_id, item_id, kind, actor, reason, before, after, related, batch_id, created_at"
_RETRIEVAL_COLS = ("retrieval_id, query, task_id, traj_id, run_id, item_id, rank, score, k, as_of_event, "
                   "created_at")
_SELECTION_COLS = ("selection_id, run_id, task_id, traj_ids, selector_id, prompt_version, chosen_traj_id, analysis, "
                   "scores, llm_call_id, tokens_in, tokens_out, created_at")
_CONTRAST_COLS = ("run_id, task_id, traj_ids, labels, verdict_ids, extractor_id, prompt_version, n_items, "
                  "llm_call_id, created_at")
_LLM_COLS = ("call_id, purpose, model, base_url, prompt_hash, temperature, request, response, tokens_in, "
             "tokens_out, latency_ms, error, traj_id, created_at")


def _item_filter(status=None, source=None, domain=None, flagged=None, text=None, min_confidence=None,
                 item_ids=None) -> tuple[str, list]:
    clauses, params = [], []
    for column, values in (("status", status), ("source", source)):
        if values is not None:
            values = [values] if isinstance(values, str) else list(values)
            clauses.append(f"list_contains(?, {column})")
            params.append(values)
    if domain is not None:
        clauses.append("domain = ?")
        params.append(domain)
    if flagged is not None:
        clauses.append("coalesce(json_array_length(flags), 0) " + ("> 0" if flagged else "= 0"))
    if text:
        clauses.append("(title ILIKE ? OR description ILIKE ? OR content ILIKE ?)")
        params += [f"%{text}%"] * 3
    if min_confidence is not None:
        clauses.append("confidence >= ?")
        params.append(min_confidence)
    if item_ids is not None:
        clauses.append("list_contains(?, item_id)")
        params.append(list(item_ids))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


# ---------------------------------------------------------------------- dashboard read helpers (issue 6)
def _dicts(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


_FLAGGED = "coalesce(json_array_length(flags), 0) > 0"
_RATE = "avg(CASE WHEN {col} THEN 1.0 WHEN NOT {col} THEN 0.0 END)"
_LABEL_RATE = "avg(CASE {col} WHEN 'success' THEN 1.0 WHEN 'failure' THEN 0.0 END)"
_ITEM_ORDER = {
    "newest": "created_at DESC, item_id DESC", "oldest": "created_at, item_id",
    "recently changed": "updated_at DESC, item_id DESC", "confidence": "confidence DESC NULLS LAST, item_id",
    "title": "title, item_id",
}
# Current label as of a verdict id: the newest human verdict up to then, else the newest verdict up to then.
_CURRENT_VERDICTS_UPTO = """
    SELECT traj_id, label, judge_id, verdict_id FROM (
        SELECT traj_id, label, judge_id, verdict_id,
               row_number() OVER (PARTITION BY traj_id
                                  ORDER BY (judge_id LIKE 'human:%') DESC, verdict_id DESC) AS rn
        FROM verdicts WHERE verdict_id <= ?) WHERE rn = 1
"""
# One row per trajectory with what the outcome charts need; the time is the trajectory's own, else its run's.
_OUTCOMES_CTE = f"""
    cur AS ({CURRENT_VERDICTS_SQL}),
    t AS (SELECT t.traj_id, t.run_id, t.trial, t.domain, t.num_steps, row_number() OVER (ORDER BY t.seq) AS n,
                 coalesce(t.started_at, r.started_at) AS moment, r.name AS run_name, r.memory_mode,
                 tr.success AS truth, cur.label AS label
          FROM trajectories t JOIN runs r USING (run_id) LEFT JOIN truth tr USING (traj_id)
          LEFT JOIN cur USING (traj_id))
"""
_OUTCOME_AGG = (f"count(*) AS trajectories, avg(t.num_steps) AS mean_steps, count(t.truth) AS with_truth, "
                f"{_RATE.format(col='t.truth')} AS truth_success_rate, count(t.label) AS judged, "
                f"{_LABEL_RATE.format(col='t.label')} AS verdict_success_rate")


_TRAJ_BROWSE = f"""WITH cur AS ({CURRENT_VERDICTS_SQL})
    SELECT {{cols}} FROM trajectories t LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id) {{where}}"""


def _traj_filter(run_id: int | None = None, task_id: str | None = None, label: str | None = None,
                 truth: bool | None = None, disagreement: bool = False, text: str | None = None) -> tuple[str, list]:
    """WHERE clause over trajectories `t`, current verdicts `cur` and truth `tr`. label: success | failure |
    unjudged; disagreement: the current label contradicts the truth."""
    clauses, params = [], []
    if label == "unjudged":
        clauses.append("cur.label IS NULL")
        label = None
    for column, value in (("t.run_id", run_id), ("t.task_id", task_id), ("cur.label", label), ("tr.success", truth)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if disagreement:
        clauses.append("(cur.label = 'success') <> tr.success")
    if text:
        clauses.append("(t.query ILIKE ? OR t.task_id ILIKE ?)")
        params += [f"%{text}%"] * 2
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _browse_filter(status=None, source=None, domain=None, flagged=None, text=None, min_confidence=None,
                   max_confidence=None, item_ids=None) -> tuple[str, list]:
    """`_item_filter` plus what a browser needs: several domains at once and an upper confidence bound."""
    where, params = _item_filter(status, source, None, flagged, text, min_confidence, item_ids)
    extra = []
    if domain is not None:
        extra.append("list_contains(?, domain)")
        params.append([domain] if isinstance(domain, str) else list(domain))
    if max_confidence is not None:
        extra.append("confidence <= ?")
        params.append(max_confidence)
    if extra:
        where = (where + " AND " if where else "WHERE ") + " AND ".join(extra)
    return where, params


def _run(r) -> Run:
    return Run(run_id=r[0], name=r[1], source_format=r[2], source_path=r[3], agent_model=r[4], memory_mode=r[5],
               matts_mode=r[6], matts_k=r[7], env=r[8], started_at=r[9], finished_at=r[10],
               meta=_loads(r[11], {}))


def _step(r) -> Step:
    return Step(index=r[1], thought=r[2], action=r[3], observation=r[4], meta=_loads(r[5], {}))


def _trajectory(r, steps: list[Step]) -> Trajectory:
    return Trajectory(traj_id=r[0], run_id=r[1], seq=r[2], task_id=r[3], domain=r[4], trial=r[5], query=r[6],
                      final_answer=r[7], final_state=r[8], started_at=r[10], source_format=r[11],
                      meta=_loads(r[12], {}), steps=steps)


def _truth(r) -> Truth:
    return Truth(success=r[0], reward=r[1], gold=r[2], source=r[3], details=_loads(r[4], {}))


def _verdict(r) -> Verdict:
    return Verdict(verdict_id=r[0], traj_id=r[1], label=r[2], rationale=r[3] or "", judge_id=r[4],
                   prompt_version=r[5], confidence=r[6], signals=_loads(r[7], {}), tokens_in=r[8],
                   tokens_out=r[9], created_at=r[10])


def _item(r) -> MemoryItem:
    return MemoryItem(item_id=r[0], title=r[1], description=r[2], content=r[3], source=r[4], status=r[5],
                      confidence=r[6], domain=r[7], flags=_loads(r[8], []), extractor_id=r[9],
                      prompt_version=r[10], embedding=None if r[11] is None else list(r[11]),
                      embedding_model=r[12], superseded_by=r[13], version=r[14], last_event_id=r[15],
                      created_at=r[16], updated_at=r[17], meta=_loads(r[18], {}))


def _event(r) -> Event:
    return Event(event_id=r[0], item_id=r[1], kind=r[2], actor=r[3], reason=r[4], before=_loads(r[5]),
                 after=_loads(r[6]), related=_loads(r[7], {}), batch_id=r[8], created_at=r[9])


def _retrieval(r) -> Retrieval:
    return Retrieval(retrieval_id=r[0], query=r[1], task_id=r[2], traj_id=r[3], run_id=r[4], item_id=r[5],
                     rank=r[6], score=r[7], k=r[8], as_of_event=r[9], created_at=r[10])


def _llm_call(r) -> LLMCall:
    return LLMCall(call_id=r[0], purpose=r[1], model=r[2], base_url=r[3], prompt_hash=r[4], temperature=r[5],
                   request=_loads(r[6], {}), response=r[7], tokens_in=r[8], tokens_out=r[9], latency_ms=r[10],
                   error=r[11], traj_id=r[12], created_at=r[13])


def _selection(r) -> Selection:
    return Selection(selection_id=r[0], run_id=r[1], task_id=r[2], traj_ids=list(r[3]), selector_id=r[4],
                     prompt_version=r[5], chosen_traj_id=r[6], analysis=r[7] or "", scores=_loads(r[8], {}),
                     llm_call_id=r[9], tokens_in=r[10], tokens_out=r[11], created_at=r[12])


def _contrast(r) -> ContrastExtraction:
    return ContrastExtraction(run_id=r[0], task_id=r[1], traj_ids=list(r[2]), labels=list(r[3]),
                              verdict_ids=list(r[4] or []), extractor_id=r[5], prompt_version=r[6], n_items=r[7],
                              llm_call_id=r[8], created_at=r[9])
