"""Runs, trajectories with their steps and truth, and copying a staged import into the bank."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator


from ..errors import BankcoreError, NotFoundError
from ..lazy import lazy_module
from ..models import Run, Step, Trajectory, Truth, TruthAttached
from .core import _ctrl_c_stays_ctrl_c
from .rows import _RUN_COLS, _TRAJ_COLS, _dumps, _first, _run, _step, _trajectory, _truth
from .staging import IMPORT_MEMORY_LIMIT, Staging, _write_trajectories

pa = lazy_module("pyarrow", globals())

MIN_ID_PREFIX = 6  # the shortest trajectory-id prefix `resolve_traj_id` accepts


def _copy_by_name(con, alias: str, table: str, where: str, params: dict[str, Any],
                  computed: dict[str, str] | None = None) -> None:
    """INSERT the staged `table`'s rows matching `where` into the bank's, naming every column on both sides (taken
    from the staged table), so a migration that adds or reorders columns cannot shift a value into the wrong one.
    `computed` gives some columns an SQL expression over the staged row `s` instead of its own value."""
    columns = [row[0] for row in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' "
        "AND table_name = ? ORDER BY column_index", [alias, table]).fetchall()]
    computed = computed or {}
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(computed.get(c, f's."{c}"') for c in columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM {alias}.{table} s WHERE {where}", params)


class TrajectoryQueries:
    """Runs, trajectories, steps and truth: reading them, and writing them in bulk."""

    def add_run(self, run: Run) -> Run:
        with self.transaction(), self._con() as con:
            run_id = run.run_id or self._next_id(con, "runs", "run_id")
            con.execute(
                "INSERT INTO runs (run_id, name, source_format, source_path, agent_model, memory_mode, matts_mode, "
                "matts_k, env, started_at, finished_at, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, run.name, run.source_format, run.source_path, run.agent_model, run.memory_mode,
                 run.matts_mode, run.matts_k, run.env, run.started_at, run.finished_at, _dumps(run.meta)])
        run.run_id = run_id
        return run

    def finish_run(self, run_id: int, finished_at: datetime, meta: dict[str, Any] | None = None) -> None:
        with self._con() as con:
            con.execute("UPDATE runs SET finished_at = ?, meta = coalesce(?, meta) WHERE run_id = ?",
                        [finished_at, _dumps(meta), run_id])

    def update_run(self, run: Run) -> None:
        """Rewrite a run's descriptive columns (a resumed live run records its settings and progress)."""
        with self._con() as con:
            con.execute("UPDATE runs SET agent_model = ?, memory_mode = ?, matts_mode = ?, matts_k = ?, env = ?, "
                        "finished_at = ?, meta = ? WHERE run_id = ?",
                        [run.agent_model, run.memory_mode, run.matts_mode, run.matts_k, run.env, run.finished_at,
                         _dumps(run.meta), run.run_id])

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

    def run_queries(self, run_id: int) -> list[tuple[str, str, str]]:
        """(traj_id, task_id, query) of a run's trajectories, in order."""
        with self._con() as con:
            return [tuple(r) for r in con.execute("SELECT traj_id, task_id, query FROM trajectories WHERE run_id = ? "
                                                  "ORDER BY seq", [run_id]).fetchall()]

    def run_task_ids(self, run_id: int) -> list[str]:
        """The tasks a run has trajectories for, in the order it did them."""
        with self._con() as con:
            return [r[0] for r in con.execute(
                "SELECT task_id FROM trajectories WHERE run_id = ? GROUP BY task_id ORDER BY min(seq)",
                [run_id]).fetchall()]

    def task_groups(self, *, run_id: int | None = None, min_size: int = 2) -> list[tuple[int, str, list[str]]]:
        """(run, task, trajectory ids by trial then arrival) for every task with at least `min_size` trajectories
        in one run: the groups MaTTS selects among and contrasts."""
        where, params = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
        with self._con() as con:
            rows = con.execute(
                f"SELECT run_id, task_id, list(traj_id ORDER BY trial NULLS LAST, seq) FROM trajectories {where} "
                f"GROUP BY run_id, task_id HAVING count(*) >= ? ORDER BY min(seq)", [*params, min_size]).fetchall()
        return [(r[0], r[1], list(r[2])) for r in rows]

    def trajectory_keys(self) -> dict[str, tuple[str, str, int]]:
        """traj_id → (run name, task id, trial) for every trajectory: what a recorded reply is looked up by."""
        with self._con() as con:
            rows = con.execute("SELECT t.traj_id, r.name, t.task_id, coalesce(t.trial, 0) FROM trajectories t "
                               "JOIN runs r USING (run_id)").fetchall()
        return {traj_id: (run, task, int(trial)) for traj_id, run, task, trial in rows}

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
            with _ctrl_c_stays_ctrl_c():
                yield stage
        finally:
            stage.discard()

    def commit_staged(self, staged: list[tuple["Staging", Run]], then: Callable[[], Any] | None = None
                      ) -> list[tuple[int, int]]:
        """Copy each stage's trajectories not yet in the bank into it, under its new run, all in one transaction.

        Why a side file: DuckDB keeps a transaction's uncommitted rows (and the Arrow batches they came from) in
        memory, so a long import inside one transaction grows with the file. Staging in autocommit batches and
        then one bulk INSERT … SELECT keeps memory flat and holds the bank's lock only for the copy. Several
        stages (a folder of run files) land together or not at all; so does `then()`, called inside the same
        transaction after the copy (an import gives trajectories already in the bank the truth they lack).
        Returns (trajectories added, steps added) per stage; creates a run only if something is added to it.
        """
        if getattr(self._local, "con", None) is not None:
            raise RuntimeError("commit_staged runs its own transaction")
        con = self._connect()
        try:
            with _ctrl_c_stays_ctrl_c():
                con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
                for n, (stage, _) in enumerate(staged):
                    stage.close()
                    con.execute(f"ATTACH '{stage.path}' AS staged{n} (READ_ONLY)")
                con.execute("BEGIN TRANSACTION")
                self._local.con = con
                try:
                    added = [self._copy_staged(con, f"staged{n}", run) for n, (_, run) in enumerate(staged)]
                    if then is not None:
                        then()
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
        _copy_by_name(con, alias, "trajectories", f"s.traj_id IN ({fresh})", {"run_id": run.run_id, "base": base},
                      computed={"run_id": "$run_id", "seq": "$base + s.seq"})
        mine = "SELECT traj_id FROM trajectories WHERE run_id = $run_id"
        _copy_by_name(con, alias, "steps", f"s.traj_id IN ({mine})", {"run_id": run.run_id})
        _copy_by_name(con, alias, "truth", f"s.traj_id IN ({mine})", {"run_id": run.run_id})
        n_steps = _first(con.execute(f"SELECT count(*) FROM steps s WHERE s.traj_id IN ({mine})",
                                     {"run_id": run.run_id}))[0]
        return n_new, n_steps

    def attach_truth(self, truths: Iterable[tuple[str, Truth]], *, replace: bool = False) -> TruthAttached:
        """Give stored trajectories ground truth after their import, in one transaction. One without truth gets it;
        one with the same outcome keeps what it has; one with a different outcome keeps its truth (a conflict the
        caller reports) unless `replace`."""
        wanted = dict(truths)
        result = TruthAttached(replaced=replace)
        with self.transaction():
            stored = set(self.existing_traj_ids(wanted))
            existing = self.get_truths(stored)
            fresh: list[tuple[str, Truth]] = []
            for traj_id, truth in wanted.items():
                if traj_id not in stored:
                    continue
                old = existing.get(traj_id)
                if old is None:
                    result.attached.append(traj_id)
                    fresh.append((traj_id, truth))
                elif _same_outcome(old, truth):
                    result.unchanged.append(traj_id)
                else:
                    result.conflicts.append(traj_id)
                    if replace:
                        fresh.append((traj_id, truth))
            with self._con() as con:
                if replace and result.conflicts:
                    with self._id_table(con, result.conflicts) as selected:
                        con.execute(f"DELETE FROM truth t WHERE {selected}")
                _insert_truths(con, fresh)
        return result

    def task_trajectories(self, run_ids: Iterable[int] | None = None) -> list[tuple[str, str, int]]:
        """(traj_id, task_id, run_id) of every trajectory, or of these runs', in arrival order."""
        runs = None if run_ids is None else list(run_ids)
        where = "" if runs is None else f"WHERE run_id IN ({', '.join('?' * len(runs)) or 'NULL'})"
        with self._con() as con:
            return [tuple(r) for r in con.execute(
                f"SELECT traj_id, task_id, run_id FROM trajectories {where} ORDER BY seq", runs or []).fetchall()]

    def resolve_traj_id(self, ref: str) -> str:
        """A full trajectory id from the id or a unique prefix of at least MIN_ID_PREFIX characters (listings and
        screens show the first 10), as git takes a short commit id."""
        if len(ref) < MIN_ID_PREFIX:
            return ref  # too short to stand for one trajectory: used as given, reported missing where it is used
        with self._con() as con:  # sorted, so an exact match comes first
            found = [r[0] for r in con.execute("SELECT traj_id FROM trajectories WHERE starts_with(traj_id, ?) "
                                               "ORDER BY traj_id LIMIT 2", [ref]).fetchall()]
        if found and (found[0] == ref or len(found) == 1):
            return found[0]
        if found:
            raise BankcoreError(f"{ref} is ambiguous: several trajectories start with it; give more characters")
        raise NotFoundError(f"no trajectory {ref}")

    def get_trajectory(self, traj_id: str) -> Trajectory:
        with self._con() as con:
            row = _first(con.execute(f"SELECT {_TRAJ_COLS} FROM trajectories WHERE traj_id = ?", [traj_id]))
            if row is None:
                raise NotFoundError(f"no trajectory {traj_id}")
            step_rows = con.execute("SELECT traj_id, idx, thought, action, observation, meta FROM steps "
                                    "WHERE traj_id = ? ORDER BY idx", [traj_id]).fetchall()
        return _trajectory(row, [_step(r) for r in step_rows])

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

    def get_truth(self, traj_id: str) -> Truth | None:
        with self._con() as con:
            row = _first(con.execute("SELECT success, reward, gold, source, details FROM truth WHERE traj_id = ?",
                              [traj_id]))
        return None if row is None else _truth(row)

    def get_truths(self, traj_ids: Iterable[str]) -> dict[str, Truth]:
        """Ground truth of the given trajectories that have it (for measuring, never for judging)."""
        with self._con() as con, self._id_table(con, list(traj_ids)) as selected:
            rows = con.execute("SELECT t.traj_id, success, reward, gold, source, details FROM truth t "
                               f"WHERE {selected}").fetchall()
        return {r[0]: _truth(r[1:]) for r in rows}

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


def _same_outcome(old: Truth, new: Truth) -> bool:
    """Two truths agree when they say the same success (and the same reward, where both give one); the source's
    wording may differ between two files of the same evaluation."""
    rewards_differ = old.reward is not None and new.reward is not None and old.reward != new.reward
    return old.success == new.success and not rewards_differ


def _insert_truths(con, truths: list[tuple[str, Truth]]) -> None:
    if not truths:
        return
    con.executemany("INSERT INTO truth (traj_id, success, reward, gold, source, details) VALUES (?, ?, ?, ?, ?, ?)",
                    [[tid, t.success, t.reward, t.gold, t.source, _dumps(t.details) if t.details else None]
                     for tid, t in truths])
