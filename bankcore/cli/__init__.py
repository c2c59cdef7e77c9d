"""The `bankcore` command. Every subcommand takes `--db PATH` (default `$BANKCORE_DB` or data/bank.duckdb).

User errors print one line to stderr and exit 1; nothing prints a traceback unless BANKCORE_DEBUG is set.
A command is one definition, its handler decorated with `@command(name, help=..., arguments=...)` (registry.py),
in one module per concern (bank_, learning_, agent_, experiment_, retrieval_, curation_, export_commands); `output` and
`registry` hold what they share.
"""

from __future__ import annotations

import argparse
import os

from ..version import __version__
from ..errors import BankcoreError, printable
from . import (
    agent_commands, bank_commands, curation_commands, experiment_commands, export_commands, learning_commands,
    retrieval_commands,
)
from ..llm.client import LLMClient
from .output import caused_by_ctrl_c, show_reply_progress, warn
from .registry import COMMANDS, DEFINITIONS, Command

# The order `bankcore --help` lists the commands in; a command not named here is listed after these, in the order
# it is defined.
HELP_ORDER = (
    "init", "check", "import", "stats", "export", "export-lessons", "import-lessons", "export-dataset",
    "judge", "extract", "learn", "rejudge", "label", "verdicts", "truth",
    "run", "matts-replay", "tasks",
    "compare", "audit-run",
    "demo", "import-bank",
    "retrieve", "reembed", "mcp",
    "consolidate", "review", "policy",
    "as-of",
)


def build_parser() -> argparse.ArgumentParser:
    # --db and --quiet before the subcommand; every subcommand takes them too (registry.common_options).
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--db", help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    top.add_argument("-q", "--quiet", action="store_true", help="print only errors and requested output")
    parser = argparse.ArgumentParser(prog="bankcore", description="A ReasoningBank memory bank for agents.",
                                     parents=[top])
    parser.add_argument("--version", action="version", version=f"bankcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in sorted(DEFINITIONS.values(), key=_listed_at):
        command.add_parser(sub)
    return parser


def _listed_at(command: Command) -> int:
    return HELP_ORDER.index(command.name) if command.name in HELP_ORDER else len(HELP_ORDER)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `bankcore`: the list of commands, not an argparse complaint
        parser.print_help()
        return 2
    LLMClient.default_progress = show_reply_progress  # streamed replies show tokens/s on the command's bar
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
    except OSError as exc:  # the environment (a file that vanished, a full disk, no permission): one line, it names the path
        if os.environ.get("BANKCORE_DEBUG"):
            raise
        if caused_by_ctrl_c(exc):
            warn("interrupted")
            return 130
        warn(printable(f"error: {exc}"))
        return 1
    except Exception as exc:
        if not caused_by_ctrl_c(exc):
            raise
        warn("interrupted")
        return 130
