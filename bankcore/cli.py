"""The `bankcore` command. Every subcommand takes `--db PATH` (default `$BANKCORE_DB` or data/bank.duckdb).

User errors print one line to stderr and exit 1; nothing prints a traceback unless BANKCORE_DEBUG is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .bank import Bank
from .errors import BankcoreError
from .importers import FORMATS, ImportOptions
from .importers.base import DEFAULT_MAX_RECORD_BYTES
from .metrics import format_stats
from .models import to_dict

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


# ---------------------------------------------------------------------- output helpers
def say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def warn(text: str) -> None:
    print(text, file=sys.stderr)


@contextmanager
def progress(args: argparse.Namespace, desc: str, unit: str, total: int | None = None) -> Iterator[Callable]:
    """A tqdm bar on stderr (only on a terminal, never with --quiet); yields an `advance(n=1)` callable."""
    if args.quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from tqdm import tqdm
    with tqdm(desc=desc, unit=unit, total=total, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        yield lambda n=1: bar.update(n)


def open_bank(args: argparse.Namespace) -> Bank:
    return Bank(args.db, on_busy=None if args.quiet else _busy_notice())


def _busy_notice() -> Callable[[str], None]:
    shown = False

    def notice(message: str) -> None:
        nonlocal shown
        if not shown:
            warn(message)
            shown = True
    return notice


# ---------------------------------------------------------------------- commands
@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    version = bank.init()
    say(args, f"bank ready: {bank.path} (schema v{version})")
    return 0


@command("import")
def cmd_import(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    options = ImportOptions(max_record_bytes=int(args.max_record_mb * 1024 * 1024),
                            swebench_results=Path(args.swebench_results) if args.swebench_results else None,
                            domain=args.domain)
    with progress(args, "importing", "traj") as advance:
        report = bank.import_path(args.path, fmt=args.format, run_name=args.run, skip_bad=args.skip_bad,
                                  options=options, on_record=advance, on_bad=warn)
    say(args, report.summary())
    return 3 if report.bad else 0


@command("stats")
def cmd_stats(args: argparse.Namespace) -> int:
    stats = open_bank(args).stats()
    print(json.dumps(stats, indent=2, default=str) if args.json else format_stats(stats))
    return 0


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "exporting", "rec") as advance:
        n = bank.export(args.out, on_line=advance)
    say(args, f"exported {n} records to {args.out}")
    return 0


@command("import-bank")
def cmd_import_bank(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "restoring", "rec") as advance:
        counts = bank.import_bank(args.file, on_line=advance)
    say(args, f"restored into {bank.path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


# ---- judging and extraction commands (issue 3)
def _judge_choice(args: argparse.Namespace, bank: Bank, what: str = "judge") -> str:
    """Say which judge/extractor runs, so an offline heuristic run is never mistaken for an LLM one."""
    from .learning import resolve_kind
    chosen = getattr(args, what) or ("llm" if getattr(args, "model", None) else None)  # --model implies an LLM
    kind = resolve_kind(chosen, bank.settings)
    if kind == "heuristic" and getattr(args, what) is None:
        say(args, f"no LLM configured: using the heuristic {what} (set OPENAI_API_KEY or BANKCORE_LLM_BASE_URL "
                  f"and BANKCORE_MODEL for an LLM one)")
    return kind


def _selection(bank: Bank, args: argparse.Namespace) -> list[str] | None:
    if getattr(args, "run", None) is None and getattr(args, "task", None) is None:
        return None
    run_id = bank.resolve_run(args.run) if args.run is not None else None
    return bank.store.select_traj_ids(run_id=run_id, task_id=args.task)


def _report_errors(report) -> int:
    for line in report.errors[:5]:
        warn(f"  {line}")
    return 4 if (report.failed or report.stopped) else 0


@command("judge")
def cmd_judge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "judging", "traj") as advance:
        report = bank.judge(_selection(bank, args), judge=kind, model=args.model, limit=args.limit,
                            on_progress=advance)
    say(args, report.summary())
    return _report_errors(report)


@command("extract")
def cmd_extract(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank, "extractor")
    with progress(args, "extracting", "traj") as advance:
        report = bank.extract(_selection(bank, args), extractor=kind, model=args.model, limit=args.limit,
                              on_progress=advance)
    say(args, report.summary())
    return _report_errors(report)


@command("learn")
def cmd_learn(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "learning", "step") as advance:
        report = bank.learn(args.path, fmt=args.format, run_name=args.run, judge=kind,
                            extractor=args.extractor or kind, model=args.model, on_progress=advance)
    say(args, report.summary())
    return _report_errors(report.judged) or _report_errors(report.extracted)


@command("rejudge")
def cmd_rejudge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "rejudging", "traj") as advance:
        report = bank.rejudge(run=args.run, task=args.task, all=args.all, judge=kind, model=args.model,
                              on_progress=advance)
    say(args, report.summary())
    for flip in report.flips[:20]:
        say(args, f"  {flip.traj_id}: {flip.before} → {flip.after}"
                  + (f" (items {', '.join(map(str, flip.items))} flagged)" if flip.items else ""))
    if len(report.flips) > 20:
        say(args, f"  … and {len(report.flips) - 20} more")
    return _report_errors(report)


@command("label")
def cmd_label(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    verdict, flips = bank.label(args.traj_id, args.label, by=args.by, rationale=args.reason or "")
    text = f"labelled {verdict.traj_id} {verdict.label} as {verdict.judge_id}"
    for flip in flips:
        text += f"; label flipped {flip.before} → {flip.after}"
        if flip.items:
            text += f", items {', '.join(map(str, flip.items))} flagged for review"
    say(args, text)
    return 0


@command("verdicts")
def cmd_verdicts(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    history = bank.verdicts(args.traj_id)
    current = bank.current_label(args.traj_id)
    if args.json:
        print(json.dumps({"traj_id": args.traj_id, "current": None if current is None else current.label,
                          "verdicts": [to_dict(v) for v in history]}, indent=2, default=str))
        return 0
    print(f"{args.traj_id}: current label {current.label + ' (' + current.judge_id + ')' if current else '—'}")
    for v in history:
        confidence = f" p={v.confidence:.2f}" if v.confidence is not None else ""
        print(f"  #{v.verdict_id} {v.created_at:%Y-%m-%d %H:%M:%S} {v.judge_id} [{v.prompt_version or '—'}] "
              f"{v.label}{confidence}: {v.rationale}")
    return 0


# ---- retrieval commands (issue 4)

# ---- consolidation and review commands (issue 5)

# ---- agent runner commands (issue 7)
@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    from .agent.env import get_environment
    from .agent.runner import RunSettings
    from .agent.tasks import select_tasks
    bank = open_bank(args)
    env = get_environment(args.env)
    tasks = select_tasks(args.tasks, env)
    name = args.run or _default_run_name(args, bank)
    settings = RunSettings(name=name, env=args.env, memory=args.memory, matts=args.matts,
                           k=args.k if args.k is not None else (3 if args.matts else 1), model=args.model,
                           memory_k=args.memory_k, judge=args.judge, extractor=args.extractor,
                           selector=args.selector, temperature=args.temperature, consolidate=not args.no_consolidate)
    if args.run is None:
        say(args, f"run {name!r}: to resume it after an interruption, run the same command with --run {name!r}")
    position = finished = 0
    with progress(args, "tasks", "task", total=len(tasks)) as advance:
        def on_task(result) -> None:
            nonlocal position, finished
            advance()
            position += 1
            if result is None:  # done by an earlier, interrupted invocation of this run
                return
            finished += 1
            outcome = {True: "success", False: "failure", None: "no check"}[result.success]
            shown = f", shown item(s) {', '.join(map(str, result.memory_item_ids))}" if result.memory_item_ids else ""
            learned = f", learned {len(result.items_added)} item(s)" if result.items_added else ""
            say(args, f"  [{position}/{len(tasks)}] {result.task_id}: {outcome} in {result.steps} steps{shown}"
                      f"{learned}")
        try:
            report = bank.run_agent(tasks, settings, limit=args.limit, on_task=on_task)
        except KeyboardInterrupt:
            warn(f"interrupted after {finished} task(s) this time; run again with --run {name!r} to continue")
            return 130
    say(args, report.summary())
    return 4 if report.learning_failures else 0


def _default_run_name(args: argparse.Namespace, bank: Bank) -> str:
    scaling = f"-{args.matts}{args.k or 3}" if args.matts else ""
    return f"{args.env}-{args.memory}{scaling}-{bank.store.clock():%Y%m%d-%H%M%S}"


@command("matts-replay")
def cmd_matts_replay(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank, "selector")
    with progress(args, "replaying", "group") as advance:
        report = bank.matts_replay(args.run, k=args.k, selector=kind, extractor=args.extractor, judge=args.judge,
                                   model=args.model, on_progress=advance)
    if args.json:
        print(json.dumps({"groups": report.groups, "selector": report.selected.selector_id,
                          "extractor": report.contrasted.extractor_id, "items": report.contrasted.items,
                          "approved": len(report.approved), **report.outcomes.rates(),
                          "per_group": [to_dict(g) for g in report.outcomes.groups]}, indent=2))
    else:
        say(args, report.summary())
    return _report_errors(report.selected) or _report_errors(report.contrasted)


@command("tasks")
def cmd_tasks(args: argparse.Namespace) -> int:
    from .agent.env import get_environment
    env = get_environment(args.env)
    tasks = env.tasks()
    if args.json:
        print(json.dumps([{"task_id": t.task_id, "kind": t.kind, "domain": t.domain, "query": t.query}
                          for t in tasks], indent=2))
    else:
        for t in tasks:
            print(f"{t.task_id}\t{t.kind}\t{t.query}")
    return 0


def add_agent_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Subcommands of issue 7: run, matts-replay, tasks."""
    learners = argparse.ArgumentParser(add_help=False)
    learners.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    learners.add_argument("--judge", choices=["heuristic", "llm"],
                          help="who judges (default: llm when an endpoint or key is configured, else heuristic)")
    learners.add_argument("--extractor", choices=["heuristic", "llm"], help="who extracts lessons (default: as --judge)")

    p = sub.add_parser("run", parents=[common, learners],
                       help="run an LLM agent over tasks, learning after each (resumable with --run NAME)")
    p.add_argument("tasks", help="all, task ids (a,b,c), or a .jsonl file of tasks")
    p.add_argument("--env", default="shop", help="environment (default: shop; see `bankcore tasks`)")
    p.add_argument("--memory", default="reasoningbank", choices=["none", "reasoningbank"],
                   help="inject retrieved memory into the agent's system prompt (default: reasoningbank)")
    p.add_argument("--matts", choices=["parallel", "sequential"], help="memory-aware test-time scaling")
    p.add_argument("--k", type=int, help="MaTTS scaling factor: parallel attempts or refinement passes (default 3)")
    p.add_argument("--memory-k", type=int, default=1, help="memory items retrieved per task (default: 1, as the paper)")
    p.add_argument("--selector", choices=["heuristic", "llm"], help="best-of-N selector (default: as --judge)")
    p.add_argument("--temperature", type=float, default=0.7, help="agent sampling temperature (default: 0.7)")
    p.add_argument("--no-consolidate", action="store_true", help="do not consolidate the bank after each task")
    p.add_argument("--limit", type=int, help="do at most this many (new) tasks")
    p.add_argument("--run", help="run name; an existing live run of that name is resumed")

    p = sub.add_parser("matts-replay", parents=[common, learners],
                       help="best-of-N and self-contrast extraction over tasks that already have several trajectories")
    p.add_argument("--run", help="only this run (id or name)")
    p.add_argument("--selector", choices=["heuristic", "llm"],
                   help="best-of-N selector (default: llm when configured, else heuristic)")
    p.add_argument("--k", type=int, help="use the first K trajectories of each task (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("tasks", parents=[common], help="list an environment's built-in tasks")
    p.add_argument("--env", default="shop", help="environment (default: shop)")
    p.add_argument("--json", action="store_true", help="machine-readable output")



@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    db = Path(args.db or Bank().path)
    bank = demo.build(db, force=args.force, say=lambda text: say(args, text))
    say(args, f"demo bank ready: {bank.path}")
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    # The same options before or after the subcommand. Subcommands default to SUPPRESS so that
    # `bankcore --db X stats` is not overwritten by the subcommand's own default.
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--db", help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    top.add_argument("-q", "--quiet", action="store_true", help="print only errors and requested output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors and requested output")

    parser = argparse.ArgumentParser(prog="bankcore", description="A ReasoningBank memory bank for agents.",
                                     parents=[top])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init", parents=[common], help="create or upgrade the bank file")

    p = sub.add_parser("import", parents=[common], help="import trajectories (file or folder)")
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p.add_argument("--skip-bad", action="store_true", help="import the good records and report each bad one")
    p.add_argument("--domain", help="domain for records that do not name one")
    p.add_argument("--swebench-results", help="SWE-bench results summary (resolved ids) for mini-swe-agent")
    p.add_argument("--max-record-mb", type=float, default=DEFAULT_MAX_RECORD_BYTES / 1024 / 1024,
                   help="largest single record accepted (default: %(default).0f)")

    p = sub.add_parser("stats", parents=[common], help="counts, success rates and mean steps per run")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", parents=[common], help="write the whole bank to a .jsonl.gz file")
    p.add_argument("--out", required=True, help="output file (.jsonl.gz)")

    add_learning_parsers(sub, common)
    add_agent_parsers(sub, common)

    p = sub.add_parser("demo", parents=[common], help="build the synthetic demo bank from data/demo (offline)")
    p.add_argument("--force", action="store_true", help="rebuild even if the bank file exists")

    p = sub.add_parser("import-bank", parents=[common], help="restore an export into an empty bank")
    p.add_argument("file", help="a file written by `bankcore export`")
    return parser


def add_learning_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Subcommands of issue 3: judge, extract, learn, rejudge, label, verdicts."""
    choose = argparse.ArgumentParser(add_help=False)
    choose.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    choose.add_argument("--limit", type=int, help="process at most this many queued trajectories")
    judge = argparse.ArgumentParser(add_help=False)
    judge.add_argument("--judge", choices=["heuristic", "llm"],
                       help="who judges (default: llm when an endpoint or key is configured, else heuristic)")
    extractor = argparse.ArgumentParser(add_help=False)
    extractor.add_argument("--extractor", choices=["heuristic", "llm"],
                           help="who extracts lessons (default: as --judge)")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--run", help="only this run (id or name)")
    where.add_argument("--task", help="only this task id")

    p = sub.add_parser("judge", parents=[common, judge, choose, where],
                       help="label trajectories without a verdict from this judge")
    p = sub.add_parser("extract", parents=[common, extractor, choose, where],
                       help="distil lessons from labelled trajectories not yet distilled")
    p.add_argument("--judge", dest="extractor", choices=["heuristic", "llm"], help=argparse.SUPPRESS)
    p = sub.add_parser("learn", parents=[common, judge, extractor, choose],
                       help="import a file, then judge and extract from its trajectories")
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p = sub.add_parser("rejudge", parents=[common, judge, choose],
                       help="judge again, report label flips and flag the items they affect")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--run", help="a run (id or name)")
    scope.add_argument("--task", help="a task id")
    scope.add_argument("--all", action="store_true", help="every trajectory")
    p = sub.add_parser("label", parents=[common], help="record a person's success/failure label")
    p.add_argument("traj_id")
    p.add_argument("label", choices=["success", "failure"])
    p.add_argument("--by", required=True, help="who is labelling (stored as human:NAME)")
    p.add_argument("--reason", help="why")
    p = sub.add_parser("verdicts", parents=[common], help="a trajectory's verdict history and current label")
    p.add_argument("traj_id")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BankcoreError as exc:
        if os.environ.get("BANKCORE_DEBUG"):
            raise
        warn(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
