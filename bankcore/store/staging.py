"""The import side file: an import streams trajectories into a private DuckDB file in autocommit batches, and
`Store.commit_staged` then copies the new ones into the bank in one transaction, column by column name. The side
file gets its tables from the bank's own migrations, so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import duckdb

from ..lazy import lazy_module
from ..models import Trajectory, Truth
from . import core
from .core import CoreStore, apply_migrations
from .migrations import Migration
from .rows import _dumps

pa = lazy_module("pyarrow", globals())


IMPORT_MEMORY_LIMIT = "128MB"


def _write_trajectories(con, items: list[tuple[Trajectory, Truth | None]]) -> int:
    """Bulk-write trajectories with their steps and truth through Arrow. Returns steps written."""
    if not items:
        return 0
    trajs = [t for t, _ in items]
    steps = [(t.traj_id, s) for t in trajs for s in t.steps]
    truths = [(t.traj_id, truth) for t, truth in items if truth is not None]
    CoreStore._insert_arrow(con, "trajectories", {
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
        CoreStore._insert_arrow(con, "steps", {
            "traj_id": [tid for tid, _ in steps],
            "idx": pa.array([s.index for _, s in steps], pa.int32()),
            "thought": pa.array([s.thought for _, s in steps], pa.string()),
            "action": pa.array([s.action for _, s in steps], pa.string()),
            "observation": pa.array([s.observation for _, s in steps], pa.string()),
            "meta": pa.array([_dumps(s.meta) if s.meta else None for _, s in steps], pa.string()),
        })
    if truths:
        CoreStore._insert_arrow(con, "truth", {
            "traj_id": [tid for tid, _ in truths],
            "success": pa.array([t.success for _, t in truths], pa.bool_()),
            "reward": pa.array([t.reward for _, t in truths], pa.float64()),
            "gold": pa.array([t.gold for _, t in truths], pa.string()),
            "source": pa.array([t.source for _, t in truths], pa.string()),
            "details": pa.array([_dumps(t.details) if t.details else None for _, t in truths], pa.string()),
        })
    return len(steps)


_EMPTY_SIDE_FILES: dict[tuple[Migration, ...], bytes] = {}


def _write_empty_side_file(path: Path) -> None:
    """Write to `path` an empty DuckDB file migrated to the bank's schema. Migrating costs a commit per migration
    (~60 ms) and a folder import makes a side file per run file, so each process migrates one and copies its bytes."""
    image = _EMPTY_SIDE_FILES.get(core.MIGRATIONS)
    if image is None:
        scratch = path.with_name(f"{path.name}.empty")
        try:
            con = duckdb.connect(str(scratch))
            try:
                apply_migrations(con)
            finally:
                con.close()
            image = _EMPTY_SIDE_FILES[core.MIGRATIONS] = scratch.read_bytes()
        finally:
            for leftover in (scratch, Path(f"{scratch}.wal")):
                leftover.unlink(missing_ok=True)
    path.write_bytes(image)


class Staging:
    """A private DuckDB side file with the bank's tables (the same migrations), written in autocommit batches."""

    def __init__(self, path: Path):
        self.path = path
        _write_empty_side_file(path)
        self._con = duckdb.connect(str(path))
        self._con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")

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
