"""Experiments (issue 18): compare two runs task by task, audit a run for leakage, and repeat a live run with its
recorded settings (`bankcore run --repeat RUN`, whose option lives with `run` in agent_commands)."""

from __future__ import annotations

import argparse

from ..compare import LEVEL, OUTCOMES, RESAMPLES, SEED, compare_runs, render
from ..errors import BankcoreError
from ..leakage import audit_run
from .output import _inert, _json_out, at_least, number_in, say
from .registry import command, open_bank


def add_compare_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common],
                       help="compare two runs paired by task: success with an exact test and bootstrap intervals, "
                            "steps, tokens, and a leakage audit of both")
    p.add_argument("run_a", metavar="RUN_A", help="the baseline run (id or name)")
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with it (id or name); differences are B − A")
    p.add_argument("--by", choices=["task"], help="also list every paired task")
    p.add_argument("--outcome", choices=OUTCOMES, default="truth",
                   help="what counts as success: the ground truth (default) or the current verdict")
    p.add_argument("--resamples", type=at_least(100), default=RESAMPLES,
                   help=f"bootstrap resamples (default {RESAMPLES})")
    p.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed (default {SEED})")
    p.add_argument("--level", type=number_in(0.5, 0.999), default=LEVEL,
                   help=f"confidence level of the intervals (default {LEVEL})")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("compare")
def cmd_compare(args: argparse.Namespace) -> int:
    bank = open_bank(args, read_only=True)
    a, b = bank.resolve_run(args.run_a), bank.resolve_run(args.run_b)
    if a == b:
        raise BankcoreError(f"RUN_A and RUN_B are the same run ({a}): compare two different runs")
    audits = {"a": audit_run(bank.store, a), "b": audit_run(bank.store, b)}
    comparison = compare_runs(bank.store, a, b, outcome=args.outcome, resamples=args.resamples, seed=args.seed,
                              level=args.level)
    if args.json:
        _json_out({"comparison": comparison.to_dict(), "audits": {k: v.to_dict() for k, v in audits.items()}})
        return 0
    leaking = [(tag, audit) for tag, audit in audits.items() if not audit.clean]
    if leaking:  # a comparison with leakage says so before anything else
        say(args, "WARNING: leakage found — the comparison below is not clean")
    for tag, audit in (leaking or audits.items()):
        for line in audit.summary():
            say(args, _inert(f"{tag.upper()} audit: {line}" if not line.startswith(" ") else line))
    for line in render(comparison, by_task=args.by == "task"):
        say(args, _inert(line))
    return 0


def add_audit_run_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit-run", parents=[common],
                       help="check a run for leakage: lessons from its own tasks, ground truth in a prompt, "
                            "lessons from after a task started")
    p.add_argument("run", metavar="RUN", help="run id or name")
    p.add_argument("--examples", type=at_least(0), default=3, help="examples shown per kind (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("audit-run")
def cmd_audit_run(args: argparse.Namespace) -> int:
    """Exit 0 when clean, 3 when leakage was found (scripts can gate a comparison on it)."""
    bank = open_bank(args, read_only=True)
    report = audit_run(bank.store, bank.resolve_run(args.run))
    if args.json:
        _json_out(report.to_dict())
    else:
        for line in report.summary(examples=args.examples):
            say(args, _inert(line))
    return 0 if report.clean else 3
