"""`Bank`: the public API. Wires the store to importers, judges, extractors, embeddings and retrieval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from . import exchange, ingest, learning, metrics
from .importers import ImportOptions
from .errors import BankcoreError, NotFoundError
from .models import ImportReport, Trajectory, Truth, Verdict
from .settings import Settings
from .store import Clock, Store, utc_now


class Bank:
    """One bank file and the settings to work on it."""

    def __init__(self, db_path: str | Path | None = None, *, settings: Settings | None = None,
                 clock: Clock = utc_now, on_busy: Callable[[str], None] | None = None):
        self.settings = settings or Settings.load()
        if db_path is not None:
            self.settings = replace(self.settings, db_path=Path(db_path))
        self.store = Store(self.settings.db_path, clock=clock, lock_timeout_s=self.settings.lock_timeout_s,
                           on_busy=on_busy)

    @property
    def path(self) -> Path:
        return self.store.path

    def init(self) -> int:
        """Create (or upgrade) the bank file. Returns the schema version."""
        return self.store.schema_version()

    # ------------------------------------------------------------------ trajectories
    def import_path(self, path: str | Path, *, fmt: str = "auto", run_name: str | None = None,
                    skip_bad: bool = False, options: ImportOptions | None = None,
                    on_record: Callable[[int], None] | None = None,
                    on_bad: Callable[[str], None] | None = None) -> ImportReport:
        return ingest.import_path(self.store, Path(path), fmt=fmt, run_name=run_name, skip_bad=skip_bad,
                                  options=options, on_record=on_record, on_bad=on_bad)

    def trajectory(self, traj_id: str) -> Trajectory:
        return self.store.get_trajectory(traj_id)

    def truth(self, traj_id: str) -> Truth | None:
        return self.store.get_truth(traj_id)

    # ------------------------------------------------------------------ judging and extraction (issue 3)
    def judge(self, traj_ids: list[str] | None = None, *, judge: str | None = None, model: str | None = None,
              limit: int | None = None, on_progress: Callable[[int], None] | None = None) -> learning.JudgeReport:
        """Judge the queue: trajectories (of `traj_ids`, or all) without a verdict from this judge.

        `judge` is "heuristic" or "llm"; by default the LLM when one is configured, else the heuristic."""
        judge_ = learning.make_judge(judge, self.settings, self.store, model)
        return learning.judge_queue(self.store, judge_, traj_ids, limit=limit, on_progress=on_progress)

    def extract(self, traj_ids: list[str] | None = None, *, extractor: str | None = None, model: str | None = None,
                limit: int | None = None, on_progress: Callable[[int], None] | None = None
                ) -> learning.ExtractReport:
        """Distil lessons from labelled trajectories this extractor has not yet distilled (items land pending)."""
        extractor_ = learning.make_extractor(extractor, self.settings, self.store, model)
        return learning.extract_queue(self.store, extractor_, traj_ids, limit=limit, on_progress=on_progress)

    def learn_trajectories(self, traj_ids: list[str], *, judge: str | None = None, extractor: str | None = None,
                           model: str | None = None, on_progress: Callable[[int], None] | None = None
                           ) -> learning.LearnReport:
        """Judge, then extract from, these trajectories (what `record` calls after each agent task)."""
        judged = self.judge(traj_ids, judge=judge, model=model, on_progress=on_progress)
        extracted = self.extract(traj_ids, extractor=extractor or judge, model=model, on_progress=on_progress)
        return learning.LearnReport(judged=judged, extracted=extracted)

    def learn(self, path: str | Path, *, fmt: str = "auto", run_name: str | None = None, judge: str | None = None,
              extractor: str | None = None, model: str | None = None, options: ImportOptions | None = None,
              on_progress: Callable[[int], None] | None = None) -> learning.LearnReport:
        """Import a file, then judge and extract from its trajectories (also those imported earlier)."""
        imported = self.import_path(path, fmt=fmt, run_name=run_name, options=options)
        traj_ids = self.store.traj_ids_from_source(str(Path(path)))
        report = self.learn_trajectories(traj_ids, judge=judge, extractor=extractor, model=model,
                                         on_progress=on_progress)
        report.imported = imported
        return report

    def rejudge(self, run: str | int | None = None, task: str | None = None, all: bool = False, *,
                judge: str | None = None, model: str | None = None,
                on_progress: Callable[[int], None] | None = None) -> learning.JudgeReport:
        """Judge a run, a task or the whole bank again; flipped labels flag the items drawn from them."""
        if [run is not None, task is not None, bool(all)].count(True) != 1:
            raise BankcoreError("rejudge needs exactly one of a run, a task, or all")
        run_id = self.resolve_run(run) if run is not None else None
        traj_ids = self.store.select_traj_ids(run_id=run_id, task_id=task)
        if not traj_ids:
            raise BankcoreError(f"no trajectories for {'run ' + str(run) if run is not None else 'task ' + str(task)}")
        judge_ = learning.make_judge(judge, self.settings, self.store, model)
        return learning.rejudge(self.store, judge_, traj_ids, on_progress=on_progress)

    def label(self, traj_id: str, label: str, *, by: str, rationale: str = "") -> tuple[Verdict, list[learning.Flip]]:
        """A person's label (`human:<by>`), which outranks every judge."""
        return learning.human_label(self.store, traj_id, label, by=by, rationale=rationale)

    def verdicts(self, traj_id: str) -> list[Verdict]:
        """Every verdict on a trajectory, oldest first."""
        self.store.get_trajectory(traj_id)
        return self.store.verdict_history(traj_id)

    def current_label(self, traj_id: str) -> Verdict | None:
        """The verdict that gives a trajectory its label now (a human's beats a judge's; newest wins)."""
        return self.store.current_verdicts([traj_id]).get(traj_id)

    def resolve_run(self, run: str | int) -> int:
        """A run id from an id or a name."""
        if isinstance(run, int) or str(run).isdigit():
            return self.store.get_run(int(run)).run_id
        found = self.store.find_run(str(run))
        if found is None:
            raise NotFoundError(f"no run named {run!r}")
        return found.run_id

    # ------------------------------------------------------------------ agent runs and MaTTS (issue 7)
    def run_agent(self, tasks: list, settings, *, limit: int | None = None, on_task: Callable | None = None):
        """Run an LLM agent over `tasks` in the paper's online setting (see `agent.runner`); resumable by run name.
        `settings` is an `agent.runner.RunSettings`."""
        from .agent.runner import Runner
        return Runner(self, settings).run(tasks, limit=limit, on_task=on_task)

    def matts_replay(self, run: str | int | None = None, *, k: int | None = None, selector: str | None = None,
                     extractor: str | None = None, judge: str | None = None, model: str | None = None,
                     on_progress: Callable[[int], None] | None = None):
        """Best-of-N and self-contrast extraction over tasks that already have several trajectories (no agent);
        the curation policy then approves what it may."""
        from . import scaling
        run_id = self.resolve_run(run) if run is not None else None
        report = scaling.replay(self.store, self.settings, run_id=run_id, k=k, selector=selector,
                                extractor=extractor, judge=judge, model=model, on_progress=on_progress)
        if report.contrasted.item_ids and hasattr(self, "apply_policy"):
            report.approved = list(self.apply_policy(item_ids=report.contrasted.item_ids))
        return report

    # ------------------------------------------------------------------ whole bank
    def stats(self) -> dict[str, Any]:
        return metrics.bank_stats(self.store)

    def export(self, out: str | Path, on_line: Callable[[], None] | None = None) -> int:
        return exchange.export_bank(self.store, Path(out), on_line)

    def import_bank(self, path: str | Path, on_line: Callable[[], None] | None = None) -> dict[str, int]:
        return exchange.import_bank(self.store, Path(path), on_line)
