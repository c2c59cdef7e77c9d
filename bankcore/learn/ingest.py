"""Importing a file into the bank: stream records, dedupe by content hash, stage them, then land them at once.

Records stream into a private staging file a batch at a time; only when the whole input has been read do they
land in the bank, in one transaction (`Store.commit_staged`). So either the whole file lands or nothing does
(unless `skip_bad`, which keeps the good records and reports each bad one), memory stays flat however large the
file, and the bank's lock is held only for the final copy.

Ground truth: a SWE-bench results file (`--swebench-results`) gives every record its truth by task id, whatever
the trajectory format. A record already in the bank that comes with truth its stored copy lacks gets that truth in
the same transaction (importing again with a results file labels what the first import left unlabelled); one whose
stored truth differs keeps it, and the report says how many.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import importers
from ..errors import InputError, Where, printable
from .importers import BadRecord, ImportOptions, Record, RunHeader, Skipped, swebench_results
from ..models import ImportReport, Run, Trajectory, Truth, TruthAttached

if TYPE_CHECKING:
    from ..store.protocols import ImportStore
    from ..store.staging import Staging

BATCH = 1000


def import_path(store: ImportStore, path: Path, *, fmt: str = "auto", run_name: str | None = None,
                skip_bad: bool = False, options: ImportOptions | None = None,
                on_record: Callable[[int], None] | None = None,
                on_bad: Callable[[str], None] | None = None) -> ImportReport:
    """Import `path` into `store`: a file, a mini-swe-agent folder, or a folder of run files (one run each, all
    landing in one transaction; the report then has one part per file). Raises InputError (bank untouched) on the
    first bad record unless `skip_bad`."""
    path = Path(path)
    options = options or ImportOptions()
    files = importers.run_files(path)
    if run_name is not None and len(files) > 1:
        raise InputError(Where(str(path)), f"--run names one run, but this folder holds {len(files)} run files; "
                                           "import them one at a time to name each")
    results = swebench_results.load(options.swebench_results) if options.swebench_results else None
    late_truth: dict[str, tuple[Truth, ImportReport]] = {}
    attached = TruthAttached()
    with ExitStack() as stack:
        staged = [_stage_file(store, stack.enter_context(store.staging()), file, fmt=fmt, run_name=run_name,
                              skip_bad=skip_bad, options=options, on_record=on_record, on_bad=on_bad,
                              results=results, late_truth=late_truth)
                  for file in files]

        def attach_late_truth() -> None:
            nonlocal attached
            attached = store.attach_truth((tid, truth) for tid, (truth, _) in late_truth.items())

        if results is not None and not any(p.truth_named for _, _, p in staged):
            raise InputError(Where(str(options.swebench_results)), "names none of the task ids of "
                                                                   f"{path}: not the results of this run?")
        landed = store.commit_staged([(stage, run) for stage, run, _ in staged],
                                     then=attach_late_truth if late_truth else None)
    for (_, run, report), (added, steps_added) in zip(staged, landed):
        report.added, report.steps_added, report.run_id = added, steps_added, run.run_id
    for tid in attached.attached:
        late_truth[tid][1].truth_attached += 1
    for tid in attached.conflicts:
        late_truth[tid][1].truth_kept += 1
    reports = [report for _, _, report in staged]
    return reports[0] if len(reports) == 1 else ImportReport.of_folder(printable(str(path)), reports)


def _stage_file(store: ImportStore, stage: Staging, path: Path, *, fmt: str, run_name: str | None, skip_bad: bool,
                options: ImportOptions, on_record: Callable[[int], None] | None,
                on_bad: Callable[[str], None] | None, results: swebench_results.Results | None = None,
                late_truth: dict | None = None) -> tuple[Staging, Run, ImportReport]:
    """Stream one file (or mini-swe-agent folder) into `stage`; returns the stage, the run it will land as, and
    its report so far. Records already in the bank leave their truth in `late_truth` (traj id → truth, report)."""
    fmt = importers.detect(path) if fmt == "auto" else fmt
    report = ImportReport(path=printable(str(path)), format=fmt)
    records = importers.read(path, fmt, options)
    writer = _StagingWriter(store, stage, report, scope=printable(path.name),
                            late_truth=late_truth if late_truth is not None else {})
    run = _run_for(path, fmt, run_name, store)
    for record in records:
        if isinstance(record, BadRecord):
            if not skip_bad:
                raise record.error
            report.bad.append(str(record.error))
            if on_bad:
                on_bad(str(record.error))
            continue
        if isinstance(record, RunHeader):
            _apply_header(run, record, explicit_name=run_name is not None)
            continue
        if isinstance(record, Skipped):
            report.skipped[record.reason] = report.skipped.get(record.reason, 0) + 1
            if record.item:
                report.left_out.append(record.item)
            continue
        report.read += 1
        if results is not None:  # the results file is the truth of the records it comes with
            record.truth = results.truth(record.trajectory.task_id)
            report.truth_named += record.trajectory.task_id in results.status
        writer.add(record)
        if on_record:
            on_record(1)
    writer.flush()
    if report.read == 0 and not report.bad:
        raise InputError(Where(str(path)), f"no trajectories found (read as {fmt})")
    stage.close()  # its rows wait on disk for the commit; a folder of many files keeps no connection open each
    return stage, run, report


def add_trajectory(store: ImportStore, trajectory: Trajectory, truth: Truth | None = None, *, run_name: str = "live",
                   agent_model: str | None = None, memory_mode: str | None = None) -> tuple[str, bool]:
    """Store one finished trajectory as part of the live run `run_name` (created on first use).

    Same identity as an import — the content hash, scoped by the run's name — so recording the same attempt twice
    stores it once. One record needs no staging file: a short transaction writes it. Returns (id, whether new).
    """
    trajectory.traj_id = trajectory.content_hash(f"live:{run_name}")
    with store.transaction():
        if store.existing_traj_ids([trajectory.traj_id]):
            return trajectory.traj_id, False
        run = store.find_run(run_name) or store.add_run(Run(
            name=run_name, source_format="live", started_at=store.clock(), agent_model=agent_model,
            memory_mode=memory_mode))
        trajectory.run_id, trajectory.seq = run.run_id, store.next_seq()
        store.insert_trajectories([(trajectory, truth)])
    return trajectory.traj_id, True


def _run_for(path: Path, fmt: str, run_name: str | None, store: ImportStore) -> Run:
    described = importers.tau_bench.describe(path) if fmt == importers.tau_bench.NAME else {}
    # A file name in a foreign encoding arrives with lone surrogates, which UTF-8 (the bank, the terminal) refuses.
    return Run(name=run_name or printable(path.name.removesuffix(".gz")), source_format=fmt,
               source_path=printable(str(path)),
               started_at=store.clock(), agent_model=described.get("agent_model"), env=described.get("env"),
               memory_mode="unknown")


def _apply_header(run: Run, header: RunHeader, *, explicit_name: bool) -> None:
    for name in ("agent_model", "memory_mode", "matts_mode", "matts_k", "env", "started_at"):
        value = getattr(header, name)
        if value is not None:
            setattr(run, name, value)
    if header.name and not explicit_name:
        run.name = header.name
    run.meta.update(header.meta)


class _StagingWriter:
    """Collects records a batch at a time and stages the ones that are neither in the bank nor staged already."""

    def __init__(self, store: ImportStore, stage, report: ImportReport, scope: str,
                 late_truth: dict[str, tuple[Truth, ImportReport]]):
        self.store, self.stage, self.report, self.scope = store, stage, report, scope
        self.late_truth = late_truth  # truth of records the bank holds already: attached at commit if it lacks it
        self.pending: dict[str, Record] = {}
        self.seq = 0

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
        in_bank = self.store.existing_traj_ids(self.pending)
        staged = self.stage.contains(self.pending)
        self.report.duplicates += len(in_bank)
        self.report.repeated += len(staged - set(in_bank))
        for tid in in_bank:
            if self.pending[tid].truth is not None:
                self.late_truth[tid] = (self.pending[tid].truth, self.report)
        fresh = [r for tid, r in self.pending.items() if tid not in in_bank and tid not in staged]
        self.pending = {}
        for record in fresh:
            record.trajectory.run_id = 0  # the real run is assigned when the stage is committed
            record.trajectory.seq = self.seq
            self.seq += 1
        self.stage.insert([(r.trajectory, r.truth) for r in fresh])
