"""Labelling and distilling: judge, extract, learn, rejudge, label, verdicts (and the helpers that say which judge
or extractor runs, shared with the agent commands).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import to_dict
from .output import at_least, progress, say, warn
from .registry import command, open_bank

if TYPE_CHECKING:
    from ..bank import Bank


def _judge_choice(args: argparse.Namespace, bank: Bank, what: str = "judge") -> str:
    """Say which judge/extractor runs, so an offline heuristic run is never mistaken for an LLM one."""
    from ..learn.queues import resolve_kind
    chosen = getattr(args, what) or ("llm" if getattr(args, "model", None) else None)  # --model implies an LLM
    kind = resolve_kind(chosen, bank.settings)
    if kind == "heuristic" and getattr(args, what) is None:
        say(args, f"no LLM configured: using the heuristic {what} (set OPENAI_API_KEY or BANKCORE_LLM_BASE_URL "
                  f"and BANKCORE_MODEL for an LLM one)")
    return kind


def _selection(bank: Bank, args: argparse.Namespace) -> list[str] | None:
    return bank.select_trajectories(getattr(args, "run", None), getattr(args, "task", None))


def _report_errors(report) -> int:
    for line in report.errors[:5]:
        warn(f"  {line}")
    return 4 if (report.failed or report.stopped) else 0


def _add_model_limit_options(p: argparse.ArgumentParser) -> None:
    """--model and --limit, for every command that calls the judge or extractor."""
    p.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    p.add_argument("--limit", type=at_least(1), help="process at most this many queued trajectories")


def _add_judge_option(p: argparse.ArgumentParser) -> None:
    """--judge: who labels the trajectories."""
    p.add_argument("--judge", choices=["heuristic", "llm"],
                   help="who judges (default: llm when an endpoint or key is configured, else heuristic)")


def _add_extractor_option(p: argparse.ArgumentParser) -> None:
    """--extractor: who distils the lessons."""
    p.add_argument("--extractor", choices=["heuristic", "llm"], help="who extracts lessons (default: as --judge)")


def _add_labels_option(p: argparse.ArgumentParser) -> None:
    """--labels: where the success/failure labels come from."""
    p.add_argument("--labels", choices=["judge", "truth"], default="judge",
                   help="judge (default): a judge labels each trajectory; truth: its ground truth is its label "
                        "(judge id truth:<source>), and those without truth stay unlabelled")


def _add_selection_options(p: argparse.ArgumentParser) -> None:
    """--run and --task: which trajectories (see `_selection`)."""
    p.add_argument("--run", help="only this run (id or name)")
    p.add_argument("--task", help="only this task id")


def _add_strict_option(p: argparse.ArgumentParser) -> None:
    """--strict: the LLM judge's strict mode."""
    p.add_argument("--strict", action="store_true",
                   help="LLM judge: a false success is worse than a false failure (memory amplifies it), so "
                        "when in doubt answer failure (its own prompt version)")


def _add_uncertain_option(p: argparse.ArgumentParser) -> None:
    """--include-uncertain: extract from trajectories the judge could not call."""
    p.add_argument("--include-uncertain", action="store_true",
                   help="also extract from trajectories judged uncertain, under the label their score leans "
                        "to (their items say so)")


def _judge_arguments(p: argparse.ArgumentParser) -> None:
    for add in (_add_judge_option, _add_strict_option, _add_model_limit_options, _add_selection_options):
        add(p)


@command("judge", help="label trajectories without a verdict from this judge", arguments=_judge_arguments)
def cmd_judge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "judging", "traj") as advance:
        report = bank.judge(_selection(bank, args), judge=kind, model=args.model, limit=args.limit,
                            on_progress=advance, strict=args.strict)
    say(args, report.summary())
    return _report_errors(report)


def _extract_arguments(p: argparse.ArgumentParser) -> None:
    for add in (_add_extractor_option, _add_model_limit_options, _add_selection_options, _add_labels_option,
                _add_uncertain_option):
        add(p)
    p.add_argument("--judge", dest="extractor", choices=["heuristic", "llm"], help=argparse.SUPPRESS)


@command("extract", help="distil lessons from labelled trajectories not yet distilled", arguments=_extract_arguments)
def cmd_extract(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank, "extractor")
    selection = _selection(bank, args)
    if args.labels == "truth":
        say(args, bank.label_from_truth(selection).summary())
    with progress(args, "extracting", "traj") as advance:
        report = bank.extract(selection, extractor=kind, model=args.model, limit=args.limit,
                              on_progress=advance, include_uncertain=args.include_uncertain)
    say(args, report.summary())
    return _report_errors(report)


def _learn_arguments(p: argparse.ArgumentParser) -> None:
    from ..learn.importers import FORMATS  # the importers load only for the commands that import
    for add in (_add_judge_option, _add_extractor_option, _add_model_limit_options, _add_labels_option,
                _add_strict_option, _add_uncertain_option):
        add(p)
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p.add_argument("--swebench-results", metavar="FILE",
                   help="SWE-bench results (harness or sb-cli report, results.json, report.json folder, CSV): "
                        "each trajectory's ground truth by instance id")


@command("learn", help="import a file, then judge and extract from its trajectories", arguments=_learn_arguments,
         creates_bank=True)
def cmd_learn(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    truth = args.labels == "truth"
    kind = _judge_choice(args, bank, "extractor" if truth else "judge")
    from ..learn.importers import ImportOptions
    options = ImportOptions(swebench_results=Path(args.swebench_results) if args.swebench_results else None)
    with progress(args, "learning", "step") as advance:
        report = bank.learn(args.path, fmt=args.format, run_name=args.run, judge=None if truth else kind,
                            extractor=args.extractor or kind, model=args.model, options=options, labels=args.labels,
                            on_progress=advance, strict=args.strict, include_uncertain=args.include_uncertain,
                            limit=args.limit)
    say(args, report.summary())
    return (report.judged and _report_errors(report.judged)) or _report_errors(report.extracted)


def _truth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="results: harness or sb-cli report, results.json, a folder of report.json, CSV")
    p.add_argument("--run", action="append",
                   help="the run the file scores (id or name; repeatable; default: the one run whose task ids it "
                        "names)")
    p.add_argument("--replace", action="store_true", help="replace a different ground truth already stored")
    p.add_argument("--labels", choices=["judge", "truth"], default="judge",
                   help="truth: the matched trajectories' ground truth becomes their label too")


@command("truth", help="attach a SWE-bench results file's ground truth to trajectories already in the bank",
         arguments=_truth_arguments)
def cmd_truth(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    report = bank.attach_truth(args.file, runs=args.run, replace=args.replace)
    say(args, report.summary())
    if args.labels == "truth":
        traj_ids = [tid for run in report.run_ids for tid in bank.select_trajectories(run)]
        say(args, bank.label_from_truth(traj_ids).summary())
    return 0


def _rejudge_arguments(p: argparse.ArgumentParser) -> None:
    for add in (_add_judge_option, _add_strict_option, _add_model_limit_options):
        add(p)
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--run", help="a run (id or name)")
    scope.add_argument("--task", help="a task id")
    scope.add_argument("--all", action="store_true", help="every trajectory")


@command("rejudge", help="judge again, report label flips and flag the items they affect", arguments=_rejudge_arguments)
def cmd_rejudge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "rejudging", "traj") as advance:
        report = bank.rejudge(run=args.run, task=args.task, all=args.all, judge=kind, model=args.model,
                              on_progress=advance, strict=args.strict, limit=args.limit)
    say(args, report.summary())
    for flip in report.flips[:20]:
        say(args, f"  {flip.traj_id}: {flip.before} → {flip.after}"
                  + (f" (items {', '.join(map(str, flip.items))} flagged)" if flip.items else "")
                  + (f", {', '.join(map(str, flip.withdrawn))} withdrawn" if flip.withdrawn else ""))
    if len(report.flips) > 20:
        say(args, f"  … and {len(report.flips) - 20} more")
    return _report_errors(report)


def _label_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("traj_id", help="trajectory id, or its first 6+ characters")
    p.add_argument("label", choices=["success", "failure"])
    p.add_argument("--by", required=True, help="who is labelling (stored as human:NAME)")
    p.add_argument("--reason", help="why")


@command("label", help="record a person's success/failure label", arguments=_label_arguments)
def cmd_label(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    traj_id = bank.resolve_trajectory(args.traj_id)
    verdict, flips = bank.label(traj_id, args.label, by=args.by, rationale=args.reason or "")
    text = f"labelled {verdict.traj_id} {verdict.label} as {verdict.judge_id}"
    for flip in flips:
        text += f"; label flipped {flip.before} → {flip.after}"
        if flip.items:
            text += f", {_ids('item', flip.items)} flagged for review"
        if flip.withdrawn:
            text += f" ({_ids('', flip.withdrawn)} withdrawn from retrieval until approved again)"
    say(args, text)
    return 0


def _ids(noun: str, ids: list[int]) -> str:
    """'item #3' / 'items #3, #5' (no noun: just the ids)."""
    listed = ", ".join(f"#{i}" for i in ids)
    return f"{noun}{'s' if len(ids) > 1 else ''} {listed}" if noun else listed


def _verdicts_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("traj_id", help="trajectory id, or its first 6+ characters")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("verdicts", help="a trajectory's verdict history and current label", arguments=_verdicts_arguments,
         reads_only=True)
def cmd_verdicts(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    traj_id = bank.resolve_trajectory(args.traj_id)
    history = bank.verdicts(traj_id)
    current = bank.current_label(traj_id)
    if args.json:
        print(json.dumps({"traj_id": traj_id, "current": None if current is None else current.label,
                          "verdicts": [to_dict(v) for v in history]}, indent=2, default=str))
        return 0
    print(f"{traj_id}: current label {current.label + ' (' + current.judge_id + ')' if current else '—'}")
    for v in history:
        confidence = f" p={v.confidence:.2f}" if v.confidence is not None else ""
        print(f"  #{v.verdict_id} {v.created_at:%Y-%m-%d %H:%M:%S} {v.judge_id} [{v.prompt_version or '—'}] "
              f"{v.label}{confidence}: {v.rationale}")
    return 0
