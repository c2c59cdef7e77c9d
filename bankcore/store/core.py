"""The base of `Store`: connections, transactions, migrations, settings and the helpers every query mixin uses.

Connections are short: each call (or each `transaction()` block) opens the file, does its work and closes it,
so the dashboard and a CLI import can take turns on one file. DuckDB lets one process hold a file at a time;
when another process has it we retry with backoff and then fail naming the holder.
"""

from __future__ import annotations

import atexit
import json
import re
import sys
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb

from ..errors import BankBusyError, SchemaError
from ..lazy import lazy_module
from .log_batch import RetrievalBatch
from .migrations import LATEST_VERSION, MIGRATIONS
from .rows import _dicts, _dumps, _first

pa = lazy_module("pyarrow", globals())

Clock = Callable[[], datetime]


class OutdatedBankError(SchemaError):
    """A bankcore bank of an older schema, opened by a store that does not upgrade on open (read-only, or the
    dashboard's): it stays as it is until someone upgrades it on purpose (`bankcore init`, `CoreStore.upgrade()`)."""

    def __init__(self, message: str, version: int, latest: int):
        super().__init__(message)
        self.version, self.latest = version, latest

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")
# A writer kept out by the lock leaves this file beside the bank, touched on every retry; readers (`reading()`,
# the dashboard's screens) hold back while it is fresh, so refreshing tabs cannot starve an import or a learn.
WRITER_WAITING_SUFFIX = ".writer-waiting"
# DuckDB lets one process open a file for writing; inside it, threads (an MCP server's requests, the dashboard's
# sessions) take turns through one lock per bank file: ids taken as max+1 and read-then-write checks never race, and
# neither does the Python client's registration of Arrow tables, which fails when two connections do it at once.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()
# Per bank file, a second lock for writing the batched retrieval log (`log_batch`). The batch is written behind the
# callers' backs, on a cursor of its own, while retrievals go on reading (a retrieve never waits for it); every other
# turn holds this lock as well, so it waits for a write under way and none starts inside it. Taken after the turn's.
_LOG_WRITES: dict[str, threading.RLock] = {}
# Per bank file, how many turns this process took for anything but retrieval (its reads in `searching()`, and its
# batched log unless a row names a trajectory: those count for usefulness). While a store keeps its connection open
# no other process can open the file, so an unchanged count means an unchanged bank and a warm retrieve can skip
# asking the bank for its signature (`change_token`).
_OTHER_TURNS: dict[str, int] = {}


def _writer_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.RLock())


def _log_write_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _WRITERS_GUARD:
        return _LOG_WRITES.setdefault(key, threading.RLock())


def _count_turn(path: Path) -> None:
    key = str(path.resolve())
    with _WRITERS_GUARD:
        _OTHER_TURNS[key] = _OTHER_TURNS.get(key, 0) + 1


def _other_turns(path: Path) -> int:
    return _OTHER_TURNS.get(str(path.resolve()), 0)


# Stores that kept a connection open or batched retrievals: let go of at interpreter exit.
_KEPT_STORES: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _let_go_at_exit() -> None:
    """Before Python tears down: write every waiting batch, close every kept connection and wait for the watcher
    threads to stop — a daemon thread still inside DuckDB when the interpreter finalises aborts the process."""
    for store in list(_KEPT_STORES):
        try:
            store._let_go(force=True)
            store._flush_log()
        except Exception as exc:  # noqa: BLE001 — say what was lost rather than die silently at exit
            print(f"bankcore: {len(store._log)} retrieval log row(s) for {store.path} could not be written at exit: "
                  f"{exc}", file=sys.stderr)
        watcher = store._kept_watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=5)
WRITER_WAITING_FRESH_S = 3.0
# Every process kept out by the lock, reader or writer, touches this one: a store that keeps its connection open
# between calls (`keep_open`) lets go of the file when it sees it, instead of holding it until it idles.
OPEN_WAITING_SUFFIX = ".open-waiting"
MARKER_POLL_S = 0.05
_QUERY_INTERRUPTED = "Query interrupted"
_VARIABLE_IDS = 2000  # `_id_table`: up to this many ids go in as a session variable, more through Arrow


@contextmanager
def _ctrl_c_stays_ctrl_c() -> Iterator[None]:
    """A Ctrl-C that lands while DuckDB runs a query comes back as RuntimeError("Query interrupted") (or an
    InterruptException), ordinary Exceptions that a handler meant for real failures — a merge group that failed, a
    learning step that failed — would swallow, and the interrupted command would carry on. Give it back as the
    KeyboardInterrupt it was."""
    try:
        yield
    except duckdb.InterruptException as exc:
        raise KeyboardInterrupt from exc
    except RuntimeError as exc:
        if str(exc) != _QUERY_INTERRUPTED:
            raise
        raise KeyboardInterrupt from exc


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)")
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def apply_migrations(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the migrations this file lacks, in order, each in its own transaction with its version bump, so a
    failure leaves the file at the last good version. The bank and an import's side file both come through here,
    so the tables an import copies between are always of one schema."""
    applied = _applied_versions(con)
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration.apply(con)
            con.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                        [migration.version, migration.name, utc_now()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


class CoreStore:
    """A bank file's connections (one per thread, short-lived), transactions, schema and settings."""

    session_variables = True  # DuckDB's SET VARIABLE / getvariable() (`_id_table`); PostgreSQL has neither

    @property
    def location(self) -> str:
        """Where the bank is, as a person types it (`--db`): the file's path here, the server's URL on PostgreSQL
        (whose `path` is that URL as a Path, which folds `//`)."""
        return str(self.path)

    def __init__(self, path: str | Path, *, clock: Clock = utc_now, lock_timeout_s: float = 30.0,
                 on_busy: Callable[[str], None] | None = None, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only  # open without writing: no directory made, no migration, foreign files refused
        # False: writes allowed, but the file must already be a bank of this schema — nothing is created, converted or
        # added to a foreign file just by opening it (the dashboard's views); `upgrade()` does that on purpose.
        self.upgrade_on_open = True
        self.clock = clock
        self.lock_timeout_s = lock_timeout_s
        self.on_busy = on_busy
        self._local = threading.local()
        self._migrated = False
        self.upgraded: tuple[int, int] | None = None  # (old, new) schema version when opening upgraded the file
        self._keep_open_s = 0.0  # see keep_open(); 0: every call opens the file and closes it again
        self._kept: duckdb.DuckDBPyConnection | None = None
        self._kept_used = 0.0
        self._kept_opened = 0  # kept connections opened so far: a new one may find the file changed by others
        self._kept_watcher: threading.Thread | None = None
        self._log = RetrievalBatch()  # retrievals logged while the file is kept open, not yet written
        self._log_cursor: duckdb.DuckDBPyConnection | None = None  # the kept connection's cursor the batch goes by

    def new_batch_id(self, kind: str) -> str:
        """An id for the events one operation writes together, from the bank's clock rather than a random number,
        so that a build driven by a fixed clock (the demo) is reproducible byte for byte."""
        return f"{kind}@{self.clock():%Y%m%dT%H%M%S.%f}"

    @property
    def _writer_waiting(self) -> Path:
        return self.path.with_name(self.path.name + WRITER_WAITING_SUFFIX)

    def _signal_writer_waiting(self) -> bool:
        return self._touch(self._writer_waiting)  # False in a read-only folder: readers will simply not hold back

    @staticmethod
    def _touch(marker: Path) -> bool:
        try:
            marker.touch()
            return True
        except OSError:
            return False

    @staticmethod
    def _remove(marker: Path) -> None:
        try:
            marker.unlink(missing_ok=True)
        except OSError:
            pass

    @property
    def _open_waiting(self) -> Path:
        return self.path.with_name(self.path.name + OPEN_WAITING_SUFFIX)

    def _is_fresh(self, marker: Path) -> bool:
        try:
            return time.time() - marker.stat().st_mtime <= WRITER_WAITING_FRESH_S
        except OSError:
            return False

    def _yield_to_writer(self) -> None:
        """Before a burst of reads: wait (up to the lock timeout) while a writer says it is waiting for the file (a
        stale marker, left by a writer that died or gave up, is not waited on)."""
        self._wait_while(self._writer_waiting)

    def _connect(self, *, reader: bool = False) -> duckdb.DuckDBPyConnection:
        """Open the file, retrying with backoff while another process holds its lock. A writer (`reader=False`)
        that has to wait says so beside the file, and readers hold back until it is in."""
        if self._checks_only and not self.path.is_file():
            raise SchemaError(f"{self.location}: no bank file there")
        if self._checks_only and not self.read_only and self.path.stat().st_size == 0:
            # DuckDB would make an empty file a bank: refuse it instead
            raise SchemaError(f"{self.location}: an empty file, not a bankcore bank; left unchanged")
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open_with_retries(signal=not reader and not self.read_only)
        return self._ready(con)

    @property
    def _checks_only(self) -> bool:
        """Opening checks the file is a bank of this schema rather than creating or migrating it."""
        return self.read_only or not self.upgrade_on_open

    def _ready(self, con):
        """A new connection, once per store after the bank is checked (read-only, or not upgrading on open) or
        migrated; closed if that fails. The check only reads, so a foreign file opened for writing stays unchanged."""
        if not self._migrated:
            try:
                self._verify_bank(con) if self._checks_only else self._migrate(con)
            except BaseException:
                con.close()
                raise
            self._migrated = True
        return con

    def _open_with_retries(self, *, signal: bool) -> duckdb.DuckDBPyConnection:
        """`duckdb.connect`, retried with backoff for up to the lock timeout while another process holds the lock. A
        waiting writer (`signal`) touches the waiting file on every retry and polls more often, as readers hold
        back; it removes the file once it is in, or gives up."""
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        signalled = waited = False
        try:
            while True:
                try:
                    return duckdb.connect(str(self.path), read_only=self.read_only)
                except duckdb.IOException as exc:
                    holder = _LOCK_HOLDER.search(str(exc))
                    if holder is None:
                        if "lock" not in str(exc).lower():
                            raise SchemaError(f"{self.location}: cannot open as a bank ({exc})") from exc
                        holder_text = "another process"
                    else:
                        holder_text = f"{holder.group(1)} (PID {holder.group(2)})"
                    if time.monotonic() >= deadline:
                        raise BankBusyError(
                            f"bank busy: {self.location} is held by {holder_text}; gave up after "
                            f"{self.lock_timeout_s:.0f}s — wait for it to finish or stop it") from exc
                    if self.on_busy:
                        self.on_busy(f"bank busy (held by {holder_text}), retrying…")
                    if signal:
                        signalled = self._signal_writer_waiting() or signalled
                    waited = self._touch(self._open_waiting) or waited
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25 if signal else 1.0)
                except duckdb.Error as exc:
                    raise SchemaError(f"{self.location}: not a bankcore bank ({exc})") from exc
        finally:
            if signalled:
                self._remove(self._writer_waiting)
            if waited:
                self._remove(self._open_waiting)

    @contextmanager
    def _turn(self, *, counted: bool = True, beside_log_write: bool = False) -> Iterator[None]:
        """This thread's turn at the bank file among the process's threads (see `_WRITERS`); re-entrant. Every turn
        but retrieval's own (`counted=False`: see `_OTHER_TURNS`) is counted, as one that may have changed the bank.
        Only a retrieval's reads (`beside_log_write`) may run while the batched log is written behind them."""
        lock = _writer_lock(self.path)
        self._acquire(lock)
        if counted:
            _count_turn(self.path)
        try:
            if beside_log_write:
                yield
            else:
                with self._log_writes():
                    yield
        finally:
            lock.release()

    @contextmanager
    def _log_writes(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the file's log-write lock (`_LOG_WRITES`); without `wait`, yields False at once when it is taken."""
        lock = _log_write_lock(self.path)
        if wait:
            self._acquire(lock)
        elif not lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def _acquire(self, lock: threading.RLock) -> None:
        if not lock.acquire(timeout=self.lock_timeout_s):
            raise BankBusyError(f"bank busy: another thread of this process has held {self.location} for "
                                f"{self.lock_timeout_s:.0f}s — try again when it finishes")

    @contextmanager
    def _con(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The current transaction's connection, else the current `reading()` one, else a fresh autocommit one
        closed on exit."""
        current = getattr(self._local, "con", None) or getattr(self._local, "read_con", None)
        with _ctrl_c_stays_ctrl_c():
            if current is not None:
                yield current
                return
            self._flush_log()
            with self._turn():
                con = self._open()
                try:
                    yield con
                finally:
                    self._done_with(con)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All store calls inside the block commit together or not at all. Nested blocks join the outer one."""
        if getattr(self._local, "con", None) is not None:
            yield
            return
        self._flush_log()
        with self._turn():
            con = self._open()
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
                self._done_with(con)

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
        self._flush_log()
        with self._read_block(counted=True):
            yield

    @contextmanager
    def searching(self) -> Iterator[None]:
        """A retrieval: its reads, then its log (`RetrievalQueries.log_retrievals`).

        With the file kept open (`keep_open`), one autocommit connection — no BEGIN/COMMIT: this process alone holds
        the file and its threads take turns, so the reads are consistent without one — and the log is batched: the
        rows waiting are not written first (they are written behind, beside this turn: `_write_log_behind`), and the
        turn is not counted as one that may change the bank. Otherwise one transaction, as before."""
        if not self._keep_open_s or getattr(self._local, "con", None) is not None \
                or getattr(self._local, "read_con", None) is not None:
            with self.transaction():
                yield
            return
        with self._read_block(counted=False):
            yield

    @contextmanager
    def _read_block(self, *, counted: bool) -> Iterator[None]:
        """Reads on one connection: a screen's (`counted`), or a retrieval's, which the log written behind it does
        not hold up."""
        self._yield_to_writer()
        with self._turn(counted=counted, beside_log_write=not counted):
            con = self._open(reader=True)
            self._local.read_con = con
            try:
                yield
            finally:
                self._local.read_con = None
                self._done_with(con)

    # ------------------------------------------------------------------ a connection kept open between calls
    def keep_open(self, idle_s: float) -> None:
        """Keep one connection open between calls, for a long-lived process that retrieves and records in bursts
        (an MCP server, the agent runner): opening the file costs ~20-40 ms and starts with a cold cache, and closing it
        checkpoints, which together were most of a warm retrieve at 100k items.

        The file is let go after `idle_s` without a call, or at once (between two calls, never inside one) when
        another process is waiting for it: every process kept out by DuckDB's lock touches `<bank>.open-waiting`,
        and this store, before opening again, lets that process in first. 0 turns it off.

        While kept, retrieval (`searching()`) batches its log (`log_batch`: written behind the callers, on a cursor of
        its own, without holding a retrieve up) and skips the change check while nothing else touched the file
        (`change_token`); letting go writes the batch first."""
        self._keep_open_s = max(0.0, float(idle_s))
        if not self._keep_open_s:
            self._let_go(force=True)

    def _open(self, *, reader: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection for one call or block: the kept one, else a new one (kept when `keep_open` says so)."""
        if self._kept is not None:
            return self._kept
        if not self._keep_open_s:
            return self._connect(reader=reader)
        self._wait_while(self._open_waiting)  # whoever we let go of the file for gets in first
        con = self._kept = self._connect(reader=reader)
        self._log_cursor = con.cursor()
        self._kept_opened += 1
        _KEPT_STORES.add(self)
        self._kept_used = time.monotonic()
        if self._kept_watcher is None or not self._kept_watcher.is_alive():
            self._kept_watcher = threading.Thread(target=self._watch_kept, name=f"bankcore-keep-open:{self.path.name}",
                                                  daemon=True)
            self._kept_watcher.start()
        return con

    def _done_with(self, con: duckdb.DuckDBPyConnection) -> None:
        """End of a call or block: close its connection, or keep it — unless another process waits for the file,
        which a store answering calls back to back would otherwise never notice between two of them."""
        if con is not self._kept:
            con.close()
            return
        self._kept_used = time.monotonic()
        if getattr(self._local, "read_con", None) is None and getattr(self._local, "con", None) is None:
            self._let_go()  # not inside an outer block of this thread, which still uses it

    def _wait_while(self, marker: Path) -> None:
        deadline = time.monotonic() + self.lock_timeout_s
        while self._is_fresh(marker) and time.monotonic() < deadline:
            time.sleep(MARKER_POLL_S)

    def _watch_kept(self) -> None:
        """Writes the batched log behind the callers (when due, or at once when full) and lets go of the kept
        connection when it idles or another process waits; ends when it is let go."""
        while self._kept is not None:
            self._log.wait(MARKER_POLL_S)
            if self._log.due():
                try:
                    self._write_log_behind()
                except Exception:  # noqa: BLE001 — the rows went back; the next call's flush raises it
                    pass
            self._let_go()

    def _write_log_behind(self) -> None:
        """Write the batch on the kept connection's own log cursor without taking a turn: retrievals go on reading
        meanwhile. Skipped while another turn holds the log lock (it writes the batch itself, first)."""
        with self._log_writes(wait=False) as mine:
            cursor = self._log_cursor
            if mine and cursor is not None and self._kept is not None:
                self._write_log(cursor)

    def _let_go(self, *, force: bool = False) -> None:
        """Close the kept connection if it is due (or `force`), only while no thread of this process is using it."""
        if self._kept is None:
            return
        due = force or time.monotonic() - self._kept_used > self._keep_open_s \
            or self._is_fresh(self._open_waiting) or self._is_fresh(self._writer_waiting)
        lock = _writer_lock(self.path)
        if not due or not lock.acquire(timeout=self.lock_timeout_s if force else 0):
            return
        try:
            with self._log_writes():  # a write behind the callers finishes first
                kept, self._kept, self._log_cursor = self._kept, None, None
                if kept is not None:
                    try:
                        self._write_log(kept)  # whoever gets the file next reads a complete log
                    finally:
                        kept.close()  # its log cursor with it
        finally:
            lock.release()

    # ------------------------------------------------------------------ the batched retrieval log
    def change_token(self) -> tuple[int, int] | None:
        """Equal tokens mean an unchanged bank: (which kept connection, turns this process took at the file for
        anything but retrieval). Only while the file is kept open, and read inside `searching()`: then no other
        process can open the file, and every call of this one through any store is a counted turn (a raw DuckDB
        connection opened to the same file in this process is not seen). None otherwise: ask the bank."""
        if self._kept is None:
            return None
        return self._kept_opened, _other_turns(self.path)

    def _batching_log(self) -> bool:
        """Whether retrievals logged now wait in the batch: inside `searching()` on a kept connection, outside any
        transaction (whose rows must commit or roll back with it)."""
        return bool(self._keep_open_s) and self._kept is not None and getattr(self._local, "con", None) is None \
            and getattr(self._local, "read_con", None) is self._kept

    def _queue_log(self, rows: list) -> None:
        """Add rows to the batch (the caller holds the turn and the kept connection). A full batch wakes the writer
        behind; only a batch it cannot write (`RetrievalBatch.overflowing`: the writes fail) is written here, where a
        failure reaches the caller."""
        self._log.add(rows)
        if self._log.overflowing():
            with self._log_writes():
                self._write_log(self._kept)

    def _flush_log(self) -> None:
        """Write the waiting retrievals now (see `log_batch`), before any other call: its turn waits for a write
        under way behind the callers, then writes what is left."""
        if not len(self._log):
            return
        with self._turn(counted=False):
            if self._kept is not None:
                self._write_log(self._kept)
                return
            con = self._connect()
            try:
                self._write_log(con)
            finally:
                con.close()

    def _write_log(self, con) -> None:
        """The waiting retrievals, in one transaction on `con` (whose turn the caller holds); put back on failure."""
        rows = self._log.take()
        if not rows:
            return
        try:
            con.execute("BEGIN TRANSACTION")
            self._insert_retrievals(con, rows)  # RetrievalQueries, which every store is composed with
            con.execute("COMMIT")
            if any(r.traj_id is not None for r in rows):
                _count_turn(self.path)  # a trajectory's retrievals feed usefulness, part of the retrieval signature
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 — the connection may be what failed; the rows are kept either way
                pass
            self._log.put_back(rows)
            raise

    def _verify_bank(self, con: duckdb.DuckDBPyConnection) -> None:
        """For an open that checks (read-only, or not upgrading on open): the file must already be a bankcore bank of
        this schema. Nothing is converted. The tables are probed by name (a catalog lookup): listing them through
        `duckdb_tables()` costs ~10 ms more on every first open, which a dashboard pays per bank."""
        try:
            con.execute("SELECT 1 FROM memory_items LIMIT 0")
            version = _first(con.execute("SELECT max(version) FROM schema_migrations"))[0]
        except (duckdb.CatalogException, duckdb.BinderException):  # no such table, or one of another shape
            version = False
        if version is False or not isinstance(version, (int, type(None))):
            raise SchemaError(f"{self.location}: not a bankcore bank (a DuckDB file without bankcore's tables); "
                              "left unchanged")
        if version is not None and version < LATEST_VERSION:
            raise OutdatedBankError(f"{self.location}: bank schema v{version} is older than v{LATEST_VERSION}; "
                                    f"`bankcore init --db {self.location}` upgrades it", version, LATEST_VERSION)
        if version != LATEST_VERSION:
            raise SchemaError(f"{self.location}: bank schema v{version} is " +
                              ("newer than this bankcore; upgrade bankcore" if version is not None else
                               "unknown (no migration recorded)"))

    def upgrade(self) -> int:
        """Create or upgrade the bank now, whatever `upgrade_on_open` says: what `bankcore init` does, or a curator's
        Upgrade button in the dashboard. Returns the schema version; `upgraded` says from which one."""
        if self.read_only:
            raise SchemaError(f"{self.location}: opened read-only; cannot upgrade it")
        with self._turn():
            held, self.upgrade_on_open = self.upgrade_on_open, True
            self._migrated = False
            try:
                return self.schema_version()
            finally:
                self.upgrade_on_open = held

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        self._refuse_foreign_file(con)
        applied = _applied_versions(con)
        if applied and max(applied) > LATEST_VERSION:
            raise SchemaError(f"{self.location}: bank schema v{max(applied)} is newer than this bankcore "
                              f"(knows up to v{LATEST_VERSION}); upgrade bankcore")
        if applied and max(applied) < LATEST_VERSION:
            self.upgraded = (max(applied), LATEST_VERSION)
        apply_migrations(con)

    def _refuse_foreign_file(self, con: duckdb.DuckDBPyConnection) -> None:
        """A writing command creates a bank in a new or empty file, never inside a DuckDB file that already holds
        other tables: adding bankcore's tables there would change someone else's database. Checked before anything
        is written; a bank (it has `schema_migrations`) costs one catalog lookup."""
        try:
            con.execute("SELECT version, name, applied_at FROM schema_migrations LIMIT 0")
            return
        except duckdb.CatalogException:
            pass
        except duckdb.BinderException:  # a table of that name with other columns: another tool's
            raise SchemaError(f"{self.location}: not a bankcore bank (its schema_migrations table is not bankcore's); "
                              "left unchanged") from None
        others = _first(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
                                    " AND NOT temporary"))[0]
        if others:
            raise SchemaError(f"{self.location}: not a bankcore bank (a DuckDB file holding {others} other table(s)); "
                              "left unchanged — give a new file for the bank")

    def schema_version(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT max(version) FROM schema_migrations"))[0]

    @staticmethod
    def _next_id(con, table: str, column: str) -> int:
        """The next id of `table`: max + 1. Only inside `transaction()`, which lets one writer at a time take one."""
        return _first(con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))[0]

    @classmethod
    def _insert_new(cls, con, table: str, id_column: str, columns: list[str], values: list, given_id) -> int:
        """Insert one row under a new id (max + 1) unless `given_id` is set; the id. Only inside `transaction()`.
        PostgreSQL takes the id inside the INSERT (one round trip, not two: `PostgresCore._insert_new`)."""
        row_id = given_id or cls._next_id(con, table, id_column)
        con.execute(f"INSERT INTO {table} ({id_column}, {', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * (len(columns) + 1))})", [row_id, *values])
        return row_id

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

    @contextmanager
    def _id_table(self, con, traj_ids: Iterable[str] | None) -> Iterator[str]:
        """A `WHERE` fragment restricting `t.traj_id` to `traj_ids` (all trajectories when None).

        A short list goes in as a session variable: registering an Arrow table makes duckdb import pandas the
        first time (~0.25 s of a cold CLI command such as `verdicts`). A long one is registered: from a few
        thousand ids on, the variable costs more than the import (+13 ms at 5k ids, +58 ms at 20k)."""
        if traj_ids is None:
            yield "TRUE"
            return
        ids = list(traj_ids)
        if self.session_variables and len(ids) <= _VARIABLE_IDS:
            _first(con.execute("SET VARIABLE _bankcore_sel = ?::VARCHAR[]", [ids]))
            try:
                yield "t.traj_id IN (SELECT unnest(getvariable('_bankcore_sel')))"
            finally:
                _first(con.execute("RESET VARIABLE _bankcore_sel"))
            return
        con.register("_bankcore_sel", pa.table({"traj_id": pa.array(ids, pa.string())}))
        try:
            yield "t.traj_id IN (SELECT traj_id FROM _bankcore_sel)"
        finally:
            con.unregister("_bankcore_sel")

    @staticmethod
    def _cols(alias: str, columns: str) -> str:
        return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))

    def count(self, table: str) -> int:
        with self._con() as con:
            return _first(con.execute(f"SELECT count(*) FROM {table}"))[0]

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

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._con() as con:
            row = _first(con.execute("SELECT value FROM bank_settings WHERE key = ?", [key]))
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        with self._con() as con:
            con.execute("INSERT OR REPLACE INTO bank_settings (key, value) VALUES (?, ?)", [key, _dumps(value)])

    def iter_settings(self) -> Iterator[tuple[str, Any]]:
        with self._con() as con:
            rows = con.execute("SELECT key, value FROM bank_settings ORDER BY key").fetchall()
        return ((k, json.loads(v)) for k, v in rows)

    def bank_settings(self) -> dict[str, Any]:
        return dict(self.iter_settings())

    def bank_id(self) -> str:
        """A random id for this bank, made on first use: files derived from the bank (a vector snapshot) carry it,
        so a different bank later created at the same path never reads them."""
        with self.transaction():
            value = self.get_setting("bank_id")
            if value is None:
                value = uuid.uuid4().hex
                self.set_setting("bank_id", value)
        return value
