"""A bank on PostgreSQL (issue 17): the same query mixins and migrations as the DuckDB `Store`, over a psycopg 3
connection pool, so many processes can write to one bank at once.

The mixins talk to a connection the way DuckDB's Python client is talked to; `pg_connection.PgConnection` gives
them that over psycopg, passing each statement through `dialect.to_postgres`. What changes with many writers:
- ids stay max + 1, taken under one transaction-scoped advisory lock (`_next_id`), so two writers never take the
  same one and an id is never seen before its row commits (one lock, not one per table: no deadlock between them);
- inside a transaction an item is read `FOR UPDATE` (`get_item`), so the optimistic check of a concurrent edit
  (`curate.lifecycle.change_item`) waits for the other writer's commit and then refuses, instead of both passing;
- migrations run under a session advisory lock, so processes opening a new bank together migrate it once;
- after them, an HNSW index (pgvector, cosine) over retrievable items' 384-long vectors, for `nearest_items`. It is
  an expression index on the shared schema's real[] column, so the migrations stay one list for both backends. Its
  costs: each write of an approved/pending 384-long vector also updates the graph (bench/pg_vectors.py measures
  it), and such a vector holding NaN or infinity is refused by the server (pgvector's cast), where DuckDB keeps it.
Needs PostgreSQL 16 or newer (subqueries without an alias). psycopg, psycopg_pool are the `postgres` extra.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import uuid
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute  # noqa: F401 — pa.compute
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import BankBusyError, BankcoreError, NotFoundError, SchemaError
from ..models import MemoryItem, Run
from .audit import AuditQueries
from .claims import ClaimQueries
from .core import Clock, CoreStore, utc_now
from .dashboard import DashboardQueries
from .experiments import ExperimentQueries
from .items import ItemQueries
from .judging import JudgingQueries
from .llm_calls import LLMCallQueries
from .metrics import MetricQueries
from .migrations import LATEST_VERSION
from .dialect import normalize_url
from .pg_connection import PgConnection, check_read_only, configure, configure_read_only
from .retrieval import RetrievalQueries
from .rows import _ITEM_COLS, _first, _item
from .staging import Staging
from .trajectories import TrajectoryQueries

_PASSWORD = re.compile(r"(://[^:/@]*):[^@]*@")  # "user:password@" in a URL
_COPY_BATCH_ROWS = 1 << 14  # rows per Arrow batch read from an import's side file
_MIGRATION_LOCK = 0x62616E6B  # "bank": the advisory lock key openers of one database migrate under
_WRITE_LOCK = 0x62616E6C  # the transaction-scoped lock writers take ids (and lock items to change) under
# The approximate index (pgvector HNSW, cosine) over retrievable items' 384-long vectors (MiniLM, the default model):
# an expression index on the shared schema's real[] column, made at open time, so both backends keep one migration
# list. `nearest_items` uses it when a query is one it covers, else searches exactly.
HNSW_INDEX = "memory_items_embedding_hnsw"
HNSW_DIM = 384
HNSW_STATUSES = ("approved", "pending")
_HNSW_VECTOR = f"(embedding::vector({HNSW_DIM}))"
_HNSW_PREDICATE = f"status IN ('approved', 'pending') AND cardinality(embedding) = {HNSW_DIM}"
HNSW_EF_SEARCH = 200  # candidates the graph search keeps (pgvector's default 40); see bench/pg_vectors.py


class ServerGone(BankcoreError, psycopg.OperationalError):
    """The server went away in the middle of a command (a restart, a crash, a dropped network): one line for the
    user, and still the `psycopg.OperationalError` that code catching psycopg's errors expects. The server rolled
    back the transaction in progress; what earlier transactions of the command committed stays."""


# Errors that mean the connection is gone (client-side: no SQLSTATE; connection exceptions; the server shutting down
# or starting), not a statement refused on a live connection (a deadlock, a lock or statement timeout: 57014).
_GONE_STATES = ("57P01", "57P02", "57P03")


@contextmanager
def _server_lost(where: str) -> Iterator[None]:
    try:
        yield
    except ServerGone:
        raise
    except psycopg.OperationalError as exc:
        if exc.sqlstate is not None and not exc.sqlstate.startswith("08") and exc.sqlstate not in _GONE_STATES:
            raise
        raise ServerGone(f"{where}: lost the connection to the server ({_first_line(exc)}); its transaction in "
                         "progress was rolled back — run the command again") from exc


def _first_line(exc: BaseException) -> str:
    """psycopg's connection errors add a hint on a second line ("Is the server running locally…"): an error message
    stays one line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _take_write_lock(con: PgConnection) -> None:
    """The bank's write lock (transaction-scoped), asked of the server once per transaction: asking again while it
    is held changes nothing but costs a round trip, and a merge asked 8 times (an id and a row lock per parent).
    Outside a transaction the lock ends with its statement, so there it is asked every time."""
    if getattr(con, "holds_write_lock", False):
        return
    con.raw.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK])
    if con.raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        con.holds_write_lock = True  # reset when the next transaction opens (`PostgresCore.transaction`)


class PostgresCore(CoreStore):
    """Connections from a pool instead of a file, advisory locks instead of the file lock."""

    session_variables = False  # id lists go in as registered tables (`PgConnection.register`: an unnest CTE)

    def __init__(self, url: str | Path, *, clock: Clock = utc_now, lock_timeout_s: float = 30.0,
                 on_busy: Callable[[str], None] | None = None, read_only: bool = False, pool_size: int = 8):
        self._url = normalize_url(url)  # to connect with; `url` and `path` (what is shown and handed on) carry
        self.url = _PASSWORD.sub(r"\1@", self._url)  # no password: give it in PGPASSWORD or ~/.pgpass instead
        super().__init__(Path(self.url), clock=clock, lock_timeout_s=lock_timeout_s, on_busy=on_busy,
                         read_only=read_only)
        self._pool_size = pool_size
        self._pool: ConnectionPool | None = None
        self._pool_guard = threading.Lock()

    @property
    def location(self) -> str:
        return self.url

    def _open_pool(self) -> ConnectionPool:
        with self._pool_guard:
            if self._pool is None:
                # `check`: a connection the server dropped (a restart, an idle timeout) is replaced on checkout
                # instead of failing the next statement.
                kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
                if self.read_only:  # as a DuckDB file opened read-only: the server refuses every write
                    kwargs["options"] = "-c default_transaction_read_only=on"
                pool_log = logging.getLogger("psycopg.pool")
                if pool_log.level == logging.NOTSET:  # unless the application set it: bankcore reports in one line
                    pool_log.setLevel(logging.ERROR)  # what the pool warns of (a dead connection discarded, retries)
                self._pool = ConnectionPool(
                    self._url, min_size=1, max_size=self._pool_size, open=True, kwargs=kwargs, name="bankcore",
                    configure=configure_read_only if self.read_only else configure,
                    check=check_read_only if self.read_only else ConnectionPool.check_connection)
            return self._pool

    def close(self) -> None:
        """Close the pool's connections (the bank stays on the server)."""
        with self._pool_guard:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _replace_pool(self, pool: ConnectionPool) -> None:
        with self._pool_guard:
            if self._pool is pool:
                self._pool = None
        pool.close(timeout=0)  # connections still lent out are closed as they come back

    def _connect(self, *, reader: bool = False, _fresh_pool: bool = False) -> PgConnection:
        pool = self._open_pool()
        try:
            con = PgConnection(pool, pool.getconn(timeout=self.lock_timeout_s), read_only=self.read_only)
        except PoolTimeout as exc:
            try:  # every connection in use, or the server unreachable? Say which.
                psycopg.connect(self._url, connect_timeout=5).close()
            except psycopg.OperationalError as down:
                raise BankcoreError(f"{self._where}: cannot reach the server ({_first_line(down)})") from exc
            if not _fresh_pool and pool.get_stats().get("pool_size", 0) < self._pool_size:
                # Not busy: the server is back after an outage and the pool, short of connections, is still
                # backing off between reconnection attempts (1, 2, 4 … s). Start a fresh pool once.
                self._replace_pool(pool)
                return self._connect(reader=reader, _fresh_pool=True)
            raise BankBusyError(f"bank busy: all {self._pool_size} connections to {self._where} stayed in use for "
                                f"{self.lock_timeout_s:.0f}s — try again when a writer finishes") from exc
        except psycopg.OperationalError as exc:
            raise BankcoreError(f"{self._where}: cannot connect ({_first_line(exc)})") from exc
        return self._ready(con)

    @property
    def _where(self) -> str:
        return self.url

    @contextmanager
    def _con(self) -> Iterator[PgConnection]:
        with _server_lost(self._where), super()._con() as con:
            yield con

    @contextmanager
    def transaction(self) -> Iterator[None]:
        outermost = getattr(self._local, "con", None) is None
        with _server_lost(self._where), super().transaction():
            if outermost:
                self._local.con.holds_write_lock = False  # taken at most once per transaction (_take_write_lock)
            yield

    @contextmanager
    def reading(self) -> Iterator[None]:
        with _server_lost(self._where), super().reading():
            yield

    def _turn(self, *, counted: bool = True, beside_log_write: bool = False):
        # the server orders writers; no in-process turn-taking, counting (never kept open) or log written behind
        return nullcontext()

    def _yield_to_writer(self) -> None:
        return None

    def _migrate(self, con: PgConnection) -> None:
        con.raw.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            super()._migrate(con)
            # DuckDB finds a row by id through its zone maps; PostgreSQL would scan the table (get_item 33 ms and
            # add_item 80 ms at 100k items, 0.4 and 4.4 ms with this; bench/pg_vectors_results.md).
            con.raw.execute("CREATE INDEX IF NOT EXISTS memory_items_item_id ON memory_items (item_id)")
            self._make_vector_index(con)
        finally:
            con.raw.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])

    def _refuse_foreign_file(self, con: PgConnection) -> None:
        """As `CoreStore._refuse_foreign_file`, by a catalog lookup: probing a missing table with a failing SELECT, as
        on DuckDB, raises UndefinedTable here (and would abort an open transaction)."""
        tables = {r[0] for r in con.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}
        if "schema_migrations" in tables:
            return
        if tables:
            raise SchemaError(f"{self._where}: not a bankcore bank (a database holding {len(tables)} other "
                              "table(s) in its schema); left unchanged — give a new database for the bank")

    def _make_vector_index(self, con: PgConnection) -> None:
        """The HNSW index, if pgvector can be had; without it `nearest_items` stays exact (slower, same answers).
        Building it over an existing big bank takes a while, once (about a minute per 100k items on two cores)."""
        try:
            with con.raw.transaction():
                con.raw.execute("CREATE EXTENSION IF NOT EXISTS vector")
                con.raw.execute("SET LOCAL maintenance_work_mem = '512MB'")  # the graph built in memory
                con.raw.execute(f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON memory_items USING hnsw "
                                f"({_HNSW_VECTOR} vector_cosine_ops) WHERE {_HNSW_PREDICATE}")
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile,
                psycopg.errors.InsufficientPrivilege, psycopg.errors.DataException) as exc:
            warnings.warn(f"{self._where}: no HNSW index on item vectors, nearest_items searches exactly "
                          f"({str(exc).strip().splitlines()[0]})", stacklevel=2)

    def _verify_bank(self, con: PgConnection) -> None:
        tables = {r[0] for r in con.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}
        if "schema_migrations" not in tables or "memory_items" not in tables:
            raise SchemaError(f"{self._where}: not a bankcore bank (no bankcore tables); left unchanged")
        version = _first(con.execute("SELECT max(version) FROM schema_migrations"))[0]
        if version != LATEST_VERSION:
            raise SchemaError(f"{self._where}: bank schema v{version}, this bankcore needs v{LATEST_VERSION}")

    @staticmethod
    def _next_id(con: PgConnection, table: str, column: str) -> int:
        """max + 1, under the bank's write lock held to the end of the transaction: concurrent writers queue here
        instead of taking the same id. One lock for every table, not one per table: writers taking two tables' ids
        in opposite orders (an item then its event; an event then a merged item) deadlocked under
        bench/fleet_load.py, and `get_item` takes it before an item's row lock for the same reason."""
        _take_write_lock(con)
        return _first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0]

    @classmethod
    def _insert_new(cls, con: PgConnection, table: str, id_column: str, columns: list[str], values: list,
                    given_id) -> int:
        """As `CoreStore._insert_new`, the id (max + 1, under the write lock as `_next_id` takes it) computed in the
        INSERT and returned by it: a merge writes its item, its event and one SUPERSEDE event per parent, each
        a round trip fewer."""
        if given_id:
            return super()._insert_new(con, table, id_column, columns, values, given_id)
        _take_write_lock(con)
        return _first(con.execute(
            f"INSERT INTO {table} ({id_column}, {', '.join(columns)}) VALUES ((SELECT coalesce(max({id_column}), 0) "
            f"+ 1 FROM {table}), {', '.join('?' * len(columns))}) RETURNING {id_column}", values))[0]

    def keep_open(self, idle_s: float) -> None:
        """Nothing to do: the pool already keeps connections open, and PostgreSQL serves many processes at once."""

    @staticmethod
    @contextmanager
    def _memory_limit(con, limit: str | None) -> Iterator[None]:
        yield  # DuckDB's buffer cap; the server manages its own memory

    @contextmanager
    def staging(self) -> Iterator[Staging]:
        """The import side file is a local DuckDB file either way; on PostgreSQL it lives in the temp folder."""
        stage = Staging(Path(tempfile.gettempdir()) / f"bankcore-import-{os.getpid()}-{uuid.uuid4().hex[:8]}.duckdb")
        try:
            yield stage
        finally:
            stage.discard()


class PostgresStore(PostgresCore, TrajectoryQueries, JudgingQueries, ItemQueries, RetrievalQueries, LLMCallQueries,
                    DashboardQueries, MetricQueries, AuditQueries, ExperimentQueries, ClaimQueries):
    """A bank in a PostgreSQL database: `PostgresStore("postgresql://user@host:port/dbname")`."""

    def get_item(self, item_id: int) -> MemoryItem:
        """Inside a transaction the row stays locked until it commits: a concurrent edit's optimistic check then
        sees this one's event and refuses."""
        lock = " FOR UPDATE" if getattr(self._local, "con", None) is not None else ""
        with self._con() as con:
            if lock:  # the write lock first, then the row: every writer takes them in that order (see `_next_id`)
                _take_write_lock(con)
            row = _first(con.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ?{lock}", [item_id]))
        if row is None:
            raise NotFoundError(f"no memory item {item_id}")
        return _item(row)

    def lock_items(self, item_ids: Iterable[int]) -> list[MemoryItem]:
        """As `get_item` for several items in one statement: inside a transaction their rows stay locked to its
        commit, taken after the write lock and in id order."""
        ids = list(item_ids)
        if not ids or getattr(self._local, "con", None) is None:
            return self.get_items(ids)
        with self._con() as con:
            _take_write_lock(con)
            rows = con.raw.execute(f"SELECT {_ITEM_COLS} FROM memory_items WHERE item_id = ANY(%s) ORDER BY item_id "
                                   "FOR UPDATE", [ids]).fetchall()
        by_id = {r[0]: _item(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def nearest_items(self, query: np.ndarray, k: int, *, model: str, statuses: Iterable[str] = ("approved",),
                      domain: str | None = None, exclude_tasks: Iterable[str] = (),
                      ef_search: int | None = None) -> list[tuple[int, float]]:
        """As `RetrievalQueries.nearest_items`, through the HNSW index when it covers the query (a 384-long vector,
        retrievable statuses): approximate, `ef_search` candidates kept per search (default `HNSW_EF_SEARCH`), the
        filters applied while the graph is walked (pgvector's iterative scan, so a filter never starves the top k).
        Exact otherwise, and when the index walk gives up before finding k (then fewer may truly match)."""
        q = np.asarray(query, np.float32).ravel()
        statuses = list(statuses)
        if (k <= 0 or len(q) != HNSW_DIM or not set(statuses) <= set(HNSW_STATUSES) or not np.linalg.norm(q)
                or not self._has_vector_index()):
            return super().nearest_items(q, k, model=model, statuses=statuses, domain=domain,
                                         exclude_tasks=exclude_tasks)
        literal = "[" + ",".join(repr(float(x)) for x in q) + "]"
        where = f"{_HNSW_PREDICATE} AND status = ANY(%s) AND embedding_model = %s"
        params: list[Any] = [literal, statuses, model]
        if domain is not None:
            where += " AND domain = %s"
            params.append(domain)
        with self.transaction(), self._con() as con:
            blocked = self._items_resting_on(con, list(exclude_tasks))
            if len(blocked):
                where += " AND NOT (item_id = ANY(%s))"
                params.append(blocked.tolist())
            con.raw.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                            "set_config('hnsw.iterative_scan', 'strict_order', true)",
                            [str(max(int(ef_search or HNSW_EF_SEARCH), k))])
            rows = con.raw.execute(
                f"SELECT item_id, 1 - distance FROM (SELECT item_id, {_HNSW_VECTOR} <=> %s::vector({HNSW_DIM}) "
                f"AS distance FROM memory_items WHERE {where} ORDER BY distance LIMIT %s) nearest "
                f"ORDER BY distance, item_id", [*params, int(k)]).fetchall()
        if len(rows) < k:  # the walk stopped early (hnsw.max_scan_tuples) or fewer match: the exact answer
            return super().nearest_items(q, k, model=model, statuses=statuses, domain=domain,
                                         exclude_tasks=exclude_tasks)
        return [(int(item_id), float(similarity)) for item_id, similarity in rows]

    def searches_by_index(self) -> bool:
        """Whether retrieval may ask the HNSW index (see `RetrievalQueries.searches_by_index`)."""
        return self._has_vector_index()

    def _has_vector_index(self) -> bool:
        """Whether this database has the HNSW index (remembered once seen: it is made once, never dropped)."""
        if not getattr(self, "_vector_index_seen", False):
            with self._con() as con:
                self._vector_index_seen = con.raw.execute(
                    "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
                    [HNSW_INDEX]).fetchone() is not None
        return self._vector_index_seen

    def _running_as_of(self, moves: str, keys: tuple[str, ...], event_ids) -> list[tuple]:
        """As `DashboardQueries._running_as_of`, with the ASOF join (each move to the first point at or after it)
        spelt as a range join on the points and the point before each."""
        points = sorted(set(int(e) for e in event_ids))
        if not points:
            return []
        cols = ", ".join(keys)
        m_cols = ", ".join(f"m.{k}" for k in keys)
        g_cols = ", ".join(f"g.{k}" for k in keys)
        sql = f"""
            WITH moves AS ({moves}),
            points AS (SELECT unnest(?::BIGINT[]) AS point),
            spans AS (SELECT point, lag(point) OVER (ORDER BY point) AS previous FROM points),
            per_point AS (SELECT p.point, {m_cols}, sum(m.delta) AS delta
                          FROM moves m JOIN spans p ON m.event_id <= p.point
                               AND (p.previous IS NULL OR m.event_id > p.previous)
                          GROUP BY p.point, {m_cols}),
            grid AS (SELECT p.point, c.* FROM points p CROSS JOIN (SELECT DISTINCT {cols} FROM per_point) c),
            running AS (SELECT g.point, {g_cols},
                               sum(coalesce(pp.delta, 0)) OVER (PARTITION BY {g_cols} ORDER BY g.point) AS n
                        FROM grid g LEFT JOIN per_point pp USING (point, {cols}))
            SELECT point, {cols}, n::BIGINT FROM running WHERE n <> 0 ORDER BY point, {cols}"""
        with self._con() as con:
            return con.execute(sql, [points]).fetchall()

    def commit_staged(self, staged: list[tuple[Staging, Run]], then: Callable[[], Any] | None = None
                      ) -> list[tuple[int, int]]:
        """As `Store.commit_staged`: each stage's trajectories not yet in the bank, under its new run, all stages
        (and `then()`) in one transaction. The side file is read in Arrow batches and COPYed into the server."""
        if getattr(self._local, "con", None) is not None:
            raise RuntimeError("commit_staged runs its own transaction")
        with self.transaction():
            added = [self._copy_staged(stage, run) for stage, run in staged]
            if then is not None:
                then()
        return added

    def _copy_staged(self, stage: Staging, run: Run) -> tuple[int, int]:
        stage.close()
        side = duckdb.connect(str(stage.path), read_only=True)
        try:
            staged_ids = [r[0] for r in side.execute("SELECT traj_id FROM trajectories ORDER BY seq").fetchall()]
            known = self.existing_traj_ids(staged_ids)
            fresh = [traj_id for traj_id in staged_ids if traj_id not in known]
            if not fresh:
                return 0, 0
            self.add_run(run)
            base = self.next_seq()  # staged seqs start at 0
            side.register("_bankcore_fresh", pa.table({"traj_id": fresh}))
            copied = {}
            with self._con() as con:
                for table in ("trajectories", "steps", "truth"):
                    reader = side.sql(f"SELECT s.* FROM {table} s SEMI JOIN _bankcore_fresh f "
                                      "ON s.traj_id = f.traj_id").to_arrow_reader(_COPY_BATCH_ROWS)
                    copied[table] = 0
                    for batch in reader:
                        part = pa.Table.from_batches([batch])
                        if table == "trajectories":
                            part = part.set_column(part.schema.get_field_index("run_id"), "run_id",
                                                   pa.array([run.run_id] * part.num_rows, pa.int32()))
                            seq = part.schema.get_field_index("seq")
                            part = part.set_column(seq, "seq", pa.compute.add(part.column(seq), base))
                        con._copy_into(table, ", ".join(f'"{c}"' for c in part.column_names), part)
                        copied[table] += part.num_rows
            return copied["trajectories"], copied["steps"]
        finally:
            side.close()


__all__ = ["PostgresStore", "ServerGone", "normalize_url"]
