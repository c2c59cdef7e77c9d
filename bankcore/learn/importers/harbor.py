"""Harbor job folders (Terminal-Bench 2): a whole job imported as one run, each trial's ATIF trajectory one record.

Harbor writes ``<jobs_dir>/<job_name>/`` with the job's ``config.json`` (``job_name``, ``n_attempts``, ``agents``)
and ``result.json`` (``id``, ``started_at``, ``finished_at``, ``n_total_trials``, ``stats``; its trial results are
left out), and one folder per trial, ``<task name>__<random suffix>/``, holding the trial's ``config.json``,
``result.json`` (a ``TrialResult``: ``task_name``, ``trial_name``, ``agent_info``, ``agent_result`` with token counts
and cost, ``verifier_result.rewards``, ``exception_info``, timings), ``agent/`` (where an ATIF agent writes
``trajectory.json``) and ``verifier/`` (``reward.txt``, which Harbor reads into ``verifier_result``).

What becomes of each trial:

- a trajectory and a result → one record; its truth is the verifier's ``reward`` (or its only reward), success at
  1.0, kept in the truth store only. A trial that raised before the verifier gave a reward counts as reward 0, as
  Harbor's own mean does; a trial with neither reward nor exception (verifier disabled) has no truth;
- no ``agent/trajectory.json`` (an agent that writes none, or one that failed to start) → left out and counted;
- no ``result.json`` (a trial still running, or killed) → left out and counted: it is not a finished attempt;
  each trial left out is named in the import report, one line each (name and why), and in the run's meta;
- a ``result.json`` that is not a TrialResult → one bad record naming the file and field (``--skip-bad`` goes on).

Trials of one task are its attempts (``n_attempts``): numbered 1, 2, … by start time, then trial name. Trials are
read one at a time; the first pass over the results keeps only their small facts, never a trajectory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Where
from ...models import Truth
from . import atif
from .base import (BadRecord, ImportOptions, Record, RunHeader, Skipped, clean, ensure_one_record_size, ensure_text,
                   loads, need,
                   os_error, read_text)
from .native import parse_time

NAME = atif.NAME  # a job folder is read as the ATIF format's folder form
RESULT = "result.json"
CONFIG = "config.json"
AGENT_DIR = "agent"
TRAJECTORY = "trajectory.json"
NO_TRAJECTORY = "Harbor trials without agent/trajectory.json"
UNFINISHED = "unfinished Harbor trials (no result.json)"
TRUTH_SOURCE = atif.TRUTH_SOURCE
MAX_MESSAGE = 300  # an exception message kept with a trial: its first line, this long at most


# ---------------------------------------------------------------------- finding the trials
def is_trial(path: Path) -> bool:
    """Harbor creates ``agent/`` when a trial starts and writes its config and result beside it."""
    return (path / AGENT_DIR).is_dir() and ((path / RESULT).is_file() or (path / CONFIG).is_file())


def trial_dirs(path: Path) -> list[Path]:
    """The trial folders of a job folder (name order), or the trial folder itself; [] for any other folder."""
    if is_trial(path):
        return [path]
    try:
        children = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise os_error(path, exc) from None
    return [p for p in children if p.is_dir() and is_trial(p)]


def sniff(path: Path, first: Any) -> bool:
    return path.is_dir() and bool(trial_dirs(path))


# ---------------------------------------------------------------------- one trial's result.json
@dataclass
class TrialResult:
    """What bankcore keeps of a trial's ``result.json`` (its rollout token ids and config are not kept)."""

    task_name: str
    trial_name: str
    truth: Truth | None
    model: str | None = None
    started_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def order(self) -> tuple:
        return (self.started_at is None, self.started_at or datetime.min, self.trial_name)


def load_result(trial: Path, options: ImportOptions) -> TrialResult | None:
    """The trial's result, None when it has none; InputError naming the file (and field) when it is malformed."""
    path = trial / RESULT
    if not path.is_file():
        return None
    where = Where(str(path))
    ensure_text(path)
    ensure_one_record_size(path, where, options.max_record_bytes)
    return parse_result(_load_pruned(read_text(path), where), where, trial.name)


def _load_pruned(text: str, where: Where) -> Any:
    """The result, parsed, without what is never read (the trial's config, the rollouts' token ids): checking
    them for depth and surrogates took most of a job's import time."""
    try:
        data = json.loads(text)
    except (RecursionError, ValueError):
        return loads(text, where)  # fails again, located as every importer locates it
    if isinstance(data, dict):
        data.pop("config", None)
        if isinstance(data.get("agent_result"), dict):
            data["agent_result"].pop("rollout_details", None)
            data["agent_result"].pop("metadata", None)
    return clean(data, where)


def parse_result(data: Any, where: Where, folder_name: str) -> TrialResult:
    task_name = need(data, "task_name", where, str)
    trial_name = need(data, "trial_name", where, str, optional=True) or folder_name
    agent_info = need(data, "agent_info", where, dict, optional=True) or {}
    at = where.at("agent_info")
    model_info = need(agent_info, "model_info", at, dict, optional=True) or {}
    model = need(model_info, "name", at.at("model_info"), str, optional=True)
    exception = _exception(data, where)
    rewards = _rewards(data, where)
    meta: dict[str, Any] = {
        "harbor_trial": trial_name, "harbor_trial_id": need(data, "id", where, str, optional=True),
        "harbor_source": need(data, "source", where, str, optional=True),
        "agent": need(agent_info, "name", at, str, optional=True),
        "agent_version": need(agent_info, "version", at, str, optional=True), "agent_model": model,
        **_usage(data, where), **_timing(data, where),
    }
    if exception:
        meta["harbor_exception"] = exception
    return TrialResult(task_name=task_name, trial_name=trial_name, model=model,
                       truth=trial_truth(rewards, exception, trial_name),
                       started_at=parse_time(need(data, "started_at", where, str, optional=True),
                                             where.at("started_at")),
                       meta={k: v for k, v in meta.items() if v is not None})


def _rewards(data: dict, where: Where) -> dict[str, float] | None:
    verifier = need(data, "verifier_result", where, dict, optional=True)
    if verifier is None:
        return None
    rewards = need(verifier, "rewards", where.at("verifier_result"), dict, optional=True)
    if rewards is None:
        return None
    at = where.at("verifier_result.rewards")
    return {key: float(need(rewards, key, at, float)) for key in rewards}


def _exception(data: dict, where: Where) -> str | None:
    info = need(data, "exception_info", where, dict, optional=True)
    if info is None:
        return None
    at = where.at("exception_info")
    kind = need(info, "exception_type", at, str)
    message = (need(info, "exception_message", at, str, optional=True) or "").strip().split("\n", 1)[0]
    return f"{kind}: {message[:MAX_MESSAGE]}" if message else kind


def _usage(data: dict, where: Where) -> dict[str, Any]:
    """Tokens and cost the trial's agent reported (``agent_result``; input tokens include cached ones)."""
    usage = need(data, "agent_result", where, dict, optional=True)
    if usage is None:
        return {}
    at = where.at("agent_result")
    tokens = {f"{name}_tokens": need(usage, f"n_{key}_tokens", at, int, optional=True)
              for name, key in (("input", "input"), ("cached", "cache"), ("output", "output"))}
    return {"usage": {k: v for k, v in tokens.items() if v is not None} or None,  # named as the otel importer does
            "cost_usd": need(usage, "cost_usd", at, float, optional=True)}


def _timing(data: dict, where: Where) -> dict[str, Any]:
    finished = need(data, "finished_at", where, str, optional=True)
    parse_time(finished, where.at("finished_at"))  # checked, kept as written
    execution = need(data, "agent_execution", where, dict, optional=True) or {}
    at = where.at("agent_execution")
    agent_started = need(execution, "started_at", at, str, optional=True)
    agent_finished = need(execution, "finished_at", at, str, optional=True)
    seconds = None
    if agent_started and agent_finished:
        start, end = parse_time(agent_started, at.at("started_at")), parse_time(agent_finished, at.at("finished_at"))
        seconds = round((end - start).total_seconds(), 3) if start and end else None
    return {"finished_at": finished, "agent_seconds": seconds}


def trial_truth(rewards: dict[str, float] | None, exception: str | None, trial_name: str) -> Truth | None:
    """The verifier's reward as truth. Several named rewards with none called ``reward`` give no truth (Harbor
    itself refuses to average them)."""
    if rewards:
        reward = rewards.get("reward", next(iter(rewards.values())) if len(rewards) == 1 else None)
        if reward is None:
            return None
        return Truth(success=reward >= 1.0, reward=reward, source=TRUTH_SOURCE,
                     details={"rewards": rewards, "trial": trial_name})
    if exception:  # Harbor's mean scores a trial without a reward as 0
        return Truth(success=False, reward=0.0, source=TRUTH_SOURCE,
                     details={"rewards": None, "trial": trial_name, "scored": "0: no verifier reward",
                              "exception": exception})
    return None


# ---------------------------------------------------------------------- the job
def job_header(job_dir: Path, options: ImportOptions) -> tuple[RunHeader, list[BadRecord]]:
    """The run: named after the job, its model when the job ran one agent, the job's own facts in meta."""
    facts: dict[str, Any] = {}
    bad: list[BadRecord] = []
    config = _job_file(job_dir / CONFIG, options, bad)
    result = _job_file(job_dir / RESULT, options, bad)
    name = model = started = None
    try:
        if config is not None:
            at = Where(str(job_dir / CONFIG))
            name = need(config, "job_name", at, str, optional=True)
            facts["n_attempts"] = need(config, "n_attempts", at, int, optional=True)
            agents = need(config, "agents", at, list, optional=True) or []
            named = [need(a, "model_name", at.at(f"agents[{i}]"), str, optional=True) for i, a in enumerate(agents)]
            facts["agents"] = [need(a, "name", at.at(f"agents[{i}]"), str, optional=True) for i, a in enumerate(agents)]
            model = named[0] if len(named) == 1 else None
        if result is not None:
            at = Where(str(job_dir / RESULT))
            facts["job_id"] = need(result, "id", at, str, optional=True)
            facts["n_total_trials"] = need(result, "n_total_trials", at, int, optional=True)
            started = parse_time(need(result, "started_at", at, str, optional=True), at.at("started_at"))
    except InputError as exc:
        bad.append(BadRecord(exc))
    header = RunHeader(name=name or job_dir.name, agent_model=model, started_at=started,
                       meta={"harbor": {k: v for k, v in facts.items() if v not in (None, [])}})
    return header, bad


def _job_file(path: Path, options: ImportOptions, bad: list[BadRecord]) -> dict | None:
    # An older Harbor kept every trial's result in the job's result.json: too big, it is passed over (its facts are
    # optional; the trials' own files are read).
    if not path.is_file() or path.stat().st_size > options.max_record_bytes:
        return None
    try:
        ensure_text(path)
        data = loads(read_text(path), Where(str(path)))
        if not isinstance(data, dict):
            raise InputError(Where(str(path)), "expected an object")
        return data
    except InputError as exc:
        bad.append(BadRecord(exc))
        return None


def read(path: Path, options: ImportOptions) -> Iterator[Record | RunHeader | Skipped | BadRecord]:
    """Every trial of the job folder `path` (or the one trial folder `path`), as described above."""
    trials = trial_dirs(path)
    if not trials:
        raise InputError(Where(str(path)), "not a Harbor job folder: no trial folders (agent/ with result.json or "
                                           "config.json beside it)")
    job_dir = path if trials[0] != path else path.parent
    header, bad = job_header(job_dir, options) if trials[0] != path else (RunHeader(name=job_dir.name), [])
    yield from bad
    results: list[tuple[Path, TrialResult | None]] = []
    for trial in trials:
        try:
            results.append((trial, load_result(trial, options)))
        except InputError as exc:
            yield BadRecord(exc)
    attempts = number_attempts([r for _, r in results if r is not None])
    models = {r.model for _, r in results if r is not None and r.model}
    if header.agent_model is None and len(models) == 1:
        header.agent_model = models.pop()
    yield header
    left_out: list[str] = []
    for trial, result in results:
        if result is None:
            left_out.append(trial.name)
            yield Skipped(Where(str(trial / RESULT)), UNFINISHED, f"{trial.name}: no {RESULT} (unfinished)")
            continue
        trajectory = trial / AGENT_DIR / TRAJECTORY
        if not trajectory.is_file():
            left_out.append(trial.name)
            yield Skipped(Where(str(trajectory)), NO_TRAJECTORY, f"{trial.name}: no {AGENT_DIR}/{TRAJECTORY}")
            continue
        yield from _trial_records(trajectory, result, attempts[id(result)], options)
    if left_out:  # the run remembers which trials it does not hold
        header.meta.setdefault("harbor", {})["trials_left_out"] = left_out
        yield RunHeader(meta=header.meta)


def number_attempts(results: list[TrialResult]) -> dict[int, int]:
    """Each result's attempt number among the trials of its task by the same agent and model (1-based, by start
    time, then trial name): a job running two agents holds two sets of attempts."""
    by_task: dict[tuple, list[TrialResult]] = {}
    for result in results:
        by_task.setdefault((result.task_name, result.meta.get("agent"), result.model), []).append(result)
    return {id(r): n for group in by_task.values() for n, r in enumerate(sorted(group, key=TrialResult.order), 1)}


def _trial_records(trajectory: Path, result: TrialResult, attempt: int,
                   options: ImportOptions) -> Iterator[Record | BadRecord]:
    try:
        ensure_text(trajectory)
        for parsed in atif.objects(trajectory, options):
            if isinstance(parsed, BadRecord):
                yield parsed
                continue
            where, obj = parsed
            try:
                record = atif.parse_record(obj, where, options.domain, {"task_name": result.task_name})
            except InputError as exc:
                yield BadRecord(exc)
                continue
            traj = record.trajectory
            traj.trial = attempt
            traj.started_at = traj.started_at or result.started_at
            traj.meta.update({k: v for k, v in result.meta.items() if k not in traj.meta or k.startswith("harbor")})
            record.truth = result.truth
            yield record
    except InputError as exc:
        yield BadRecord(exc)
