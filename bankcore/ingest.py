"""Importing a file into the bank: stream records, dedupe by content hash, write in batches, all in one transaction.

Either the whole file lands or nothing does (unless `skip_bad`, which keeps the good records and reports each bad
one). Memory stays flat: only one batch of records is held at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import importers
from .errors import InputError, Where
from .importers import BadRecord, ImportOptions, Record, RunHeader
from .models import ImportReport, Run, Trajectory, Truth
from .store import Store

BATCH = 1000


def import_path(store: Store, path: Path, *, fmt: str = "auto", run_name: str | None = None,
                skip_bad: bool = False, options: ImportOptions | None = None,
                on_record: Callable[[int], None] | None = None,
                on_bad: Callable[[str], None] | None = None) -> ImportReport:
    """Import `path` into `store`. Raises InputError (bank untouched) on the first bad record unless `skip_bad`."""
    path = Path(path)
    options = options or ImportOptions()
    fmt = importers.detect(path) if fmt == "auto" else fmt
    report = ImportReport(path=str(path), format=fmt)
    records = importers.read(path, fmt, options)
    with store.transaction():
        writer = _BatchWriter(store, report, _run_for(path, fmt, run_name, store), scope=path.name)
        for record in records:
            if isinstance(record, BadRecord):
                if not skip_bad:
                    raise record.error
                report.bad.append(str(record.error))
                if on_bad:
                    on_bad(str(record.error))
                continue
            if isinstance(record, RunHeader):
                writer.apply_header(record, explicit_name=run_name is not None)
                continue
            report.read += 1
            writer.add(record)
            if on_record:
                on_record(1)
        writer.flush()
        if report.read == 0 and not report.bad:
            raise InputError(Where(str(path)), f"no trajectories found (read as {fmt})")
    return report


def add_trajectory(store: Store, trajectory: Trajectory, truth: Truth | None = None, *, run_name: str = "live",
                   agent_model: str | None = None, memory_mode: str | None = None) -> tuple[str, bool]:
    """Store one finished trajectory as part of the live run `run_name` (created on first use).

    Same identity as an import — the content hash, scoped by the run's name — so recording the same attempt twice
    stores it once. Returns (trajectory id, whether it was new).
    """
    report = ImportReport(path=f"live:{run_name}", format=trajectory.source_format)
    with store.transaction():
        run = store.find_run(run_name) or Run(name=run_name, source_format="live", started_at=store.clock(),
                                               agent_model=agent_model, memory_mode=memory_mode)
        writer = _BatchWriter(store, report, run, scope=f"live:{run_name}")
        writer.add(Record(trajectory, truth))
        writer.flush()
    return trajectory.traj_id, report.added == 1


def _run_for(path: Path, fmt: str, run_name: str | None, store: Store) -> Run:
    described = importers.tau_bench.describe(path) if fmt == importers.tau_bench.NAME else {}
    return Run(name=run_name or path.name.removesuffix(".gz"), source_format=fmt, source_path=str(path),
               started_at=store.clock(), agent_model=described.get("agent_model"), env=described.get("env"),
               memory_mode="unknown")


class _BatchWriter:
    """Collects records and writes the new ones a batch at a time; the run row is created on first write."""

    def __init__(self, store: Store, report: ImportReport, run: Run, scope: str):
        self.store, self.report, self.run, self.scope = store, report, run, scope
        self.pending: dict[str, Record] = {}
        self.seq: int | None = None

    def apply_header(self, header: RunHeader, *, explicit_name: bool) -> None:
        for name in ("agent_model", "memory_mode", "matts_mode", "matts_k", "env", "started_at"):
            value = getattr(header, name)
            if value is not None:
                setattr(self.run, name, value)
        if header.name and not explicit_name:
            self.run.name = header.name
        self.run.meta.update(header.meta)

    def add(self, record: Record) -> None:
        traj = record.trajectory
        traj.traj_id = traj.content_hash(self.scope)
        if traj.traj_id in self.pending:
            self.report.repeated += 1
            return
        self.pending[traj.traj_id] = record
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        existing = self.store.existing_traj_ids(self.pending)  # id -> run it was filed under
        fresh = [r for tid, r in self.pending.items() if tid not in existing]
        for run_id in existing.values():
            if run_id == self.run.run_id:
                self.report.repeated += 1
            else:
                self.report.duplicates += 1
        self.pending = {}
        if not fresh:
            return
        if self.run.run_id is None:
            self.store.add_run(self.run)
        self.report.run_id = self.run.run_id
        if self.seq is None:
            self.seq = self.store.next_seq()
        for record in fresh:
            record.trajectory.run_id = self.run.run_id
            record.trajectory.seq = self.seq
            self.seq += 1
        self.report.steps_added += self.store.insert_trajectories([(r.trajectory, r.truth) for r in fresh])
        self.report.added += len(fresh)
