"""The agent runner: run (an LLM agent over tasks, learning after each), matts-replay, tasks."""

from __future__ import annotations

import argparse
import json

from ..bank import Bank
from ..errors import BankcoreError
from ..llm.client import require_llm
from ..models import to_dict
from .learning_commands import _add_extractor_option, _add_judge_option, _judge_choice, _report_errors
from .output import at_least, caused_by_ctrl_c, number_in, progress, say, warn
from .registry import command, open_bank


def _add_learner_options(p: argparse.ArgumentParser) -> None:
    """--model, --judge and --extractor: who learns from the agent's trajectories."""
    p.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    _add_judge_option(p)
    _add_extractor_option(p)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    _add_learner_options(p)
    p.add_argument("tasks", nargs="?", help="all, task ids (a,b,c), or a .jsonl file of tasks (not with --repeat)")
    p.add_argument("--env", default="shop", help="environment (default: shop; see `bankcore tasks`)")
    p.add_argument("--memory", default="reasoningbank", choices=["none", "reasoningbank"],
                   help="inject retrieved memory into the agent's system prompt (default: reasoningbank)")
    p.add_argument("--matts", choices=["parallel", "sequential"], help="memory-aware test-time scaling")
    p.add_argument("--k", type=at_least(1), help="MaTTS scaling factor: parallel attempts or refinement passes (default 3)")
    p.add_argument("--memory-k", type=at_least(1), default=1, help="memory items retrieved per task (default: 1, as the paper)")
    p.add_argument("--selector", choices=["heuristic", "llm"], help="best-of-N selector (default: as --judge)")
    p.add_argument("--temperature", type=number_in(0.0, 2.0), default=0.7, help="agent sampling temperature (default: 0.7)")
    p.add_argument("--no-consolidate", action="store_true", help="do not consolidate the bank after each task")
    p.add_argument("--limit", type=int, help="do at most this many (new) tasks")
    p.add_argument("--run", help="run name; an existing live run of that name is resumed")
    p.add_argument("--seed", type=int, help="sampling seed sent with the agent's requests (plus the attempt's trial); "
                                            "recorded with the run")
    p.add_argument("--repeat", metavar="RUN",
                   help="run a recorded live run (id or name) again: its tasks in its order, with its settings; "
                        "--run names the new run, --limit applies, other settings come from the recorded run")


@command("run", help="run an LLM agent over tasks, learning after each (resumable with --run NAME)",
         arguments=_run_arguments, creates_bank=True)
def cmd_run(args: argparse.Namespace) -> int:
    from ..agent.environments import get_environment
    from ..agent.runner import Runner, RunSettings
    from ..agent.tasks import select_tasks
    bank = open_bank(args)
    if args.repeat is not None:
        if args.tasks is not None:
            raise BankcoreError("--repeat runs the recorded run's own tasks: give no task list with it")
        from .experiment_commands import repeat_settings
        settings, tasks = repeat_settings(args, bank)
        name = settings.name
    else:
        if args.tasks is None:
            raise BankcoreError("say which tasks: all, task ids (a,b,c) or a .jsonl file — or --repeat RUN")
        tasks = select_tasks(args.tasks, get_environment(args.env))
        name = args.run or _default_run_name(args, bank)
        settings = RunSettings(name=name, env=args.env, memory=args.memory, matts=args.matts,
                               k=args.k if args.k is not None else (3 if args.matts else 1), model=args.model,
                               memory_k=args.memory_k, judge=args.judge, extractor=args.extractor,
                               selector=args.selector, temperature=args.temperature,
                               consolidate=not args.no_consolidate, seed=args.seed)
    require_llm(bank.settings,
                offline="the agent cannot act, but `bankcore matts-replay` runs MaTTS over imported trials")
    if args.run is None:
        say(args, f"run {name!r}: to resume it after an interruption, run the same command with --run {name!r}")
    position = finished = 0
    # With --limit the run does at most that many tasks not done before: count those, not the whole task list.
    total = len(tasks) if args.limit is None else min(args.limit, len(tasks))
    with progress(args, "tasks", "task", total=total) as advance:
        def on_task(result) -> None:
            nonlocal position, finished
            advance()
            position += 1
            if result is None:  # done by an earlier, interrupted invocation of this run
                return
            finished += 1
            outcome = {True: "success", False: "failure", None: "no check"}[result.success]
            shown = f", shown item(s) {', '.join(map(str, result.memory_item_ids))}" if result.memory_item_ids else ""
            learned = (f", learned {len(result.items_added)} new item(s)" if result.items_added else "") + \
                (f", reinforced {len(result.items_reinforced)}" if result.items_reinforced else "")
            say(args, f"  [{position if args.limit is None else finished}/{total}] {result.task_id}: {outcome} in "
                      f"{result.steps} steps{shown}"
                      f"{learned}")
        try:
            report = Runner(bank, settings).run(tasks, limit=args.limit, on_task=on_task)
        except (KeyboardInterrupt, Exception) as exc:
            if not caused_by_ctrl_c(exc):
                raise
            warn(f"interrupted after {finished} task(s) this time; run again with --run {name!r} to continue")
            return 130
    say(args, report.summary())
    return 4 if report.learning_failures else 0


def _default_run_name(args: argparse.Namespace, bank: Bank) -> str:
    scaling = f"-{args.matts}{args.k or 3}" if args.matts else ""
    return f"{args.env}-{args.memory}{scaling}-{bank.store.clock():%Y%m%d-%H%M%S}"


def _matts_replay_arguments(p: argparse.ArgumentParser) -> None:
    _add_learner_options(p)
    p.add_argument("--run", help="only this run (id or name)")
    p.add_argument("--selector", choices=["heuristic", "llm"],
                   help="best-of-N selector (default: llm when configured, else heuristic)")
    p.add_argument("--k", type=int, help="use the first K trajectories of each task (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("matts-replay", help="best-of-N and self-contrast extraction over tasks that already have several "
                              "trajectories", arguments=_matts_replay_arguments)
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
    # every stage's failures are told and count, the judge's too: a group it could not label is never contrasted
    return max(_report_errors(stage) for stage in (report.judged, report.selected, report.contrasted))


def _tasks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default="shop", help="environment (default: shop)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("tasks", help="list an environment's built-in tasks", arguments=_tasks_arguments)
def cmd_tasks(args: argparse.Namespace) -> int:
    from ..agent.environments import get_environment
    env = get_environment(args.env)
    tasks = env.tasks()
    if args.json:
        print(json.dumps([{"task_id": t.task_id, "kind": t.kind, "domain": t.domain, "query": t.query}
                          for t in tasks], indent=2))
    else:
        for t in tasks:
            print(f"{t.task_id}\t{t.kind}\t{t.query}")
    return 0
