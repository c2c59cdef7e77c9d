"""The `bankcore` command. Every subcommand takes `--db PATH` (default `$BANKCORE_DB` or data/bank.duckdb).

User errors print one line to stderr and exit 1; nothing prints a traceback unless BANKCORE_DEBUG is set.
A command is one definition, its handler decorated with `@command(name, help=..., arguments=...)` (registry.py),
in one module per concern (bank_, learning_, agent_, experiment_, retrieval_, curation_, export_, signature_commands);
`output` and `registry` hold what they share. `catalog.py` lists every command with its module and help line, so
that `bankcore --help` imports no command module and `bankcore stats` only its own (a cold start under half a
second); a new command is added there too (tests/test_cli_registry.py checks the two agree).
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import os
import sys
from types import ModuleType
from typing import Callable

from ..version import __version__
from ..errors import BankcoreError, printable
from .catalog import CATALOG
from .output import caused_by_ctrl_c, show_reply_progress, warn
from .registry import COMMANDS, DEFINITIONS, Command, common_options

# The order `bankcore --help` lists the commands in (catalog.py's); a command not named there is listed after
# these, in the order it is defined.
HELP_ORDER = tuple(name for name, _, _ in CATALOG)


def build_parser(*, load_all: bool = True) -> argparse.ArgumentParser:
    """The `bankcore` parser with every command. `load_all=False` (what `main` uses): the commands are listed from
    the catalog, and a command's module is imported and its arguments added only when the command line names it."""
    # --db and --quiet before the subcommand; every subcommand takes them too (registry.common_options).
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--db", help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    top.add_argument("-q", "--quiet", action="store_true", help="print only errors and requested output")
    parser = argparse.ArgumentParser(prog="bankcore", description="A ReasoningBank memory bank for agents.",
                                     parents=[top])
    parser.add_argument("--version", action="version", version=f"bankcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=_CommandChoice)
    if load_all:
        for command in sorted(DEFINITIONS.values(), key=_listed_at):
            command.add_parser(sub)
        return parser
    for name, _, help in CATALOG:
        sub.add_unloaded(name, help)
    for command in DEFINITIONS.loaded.values():  # defined in this process outside the catalog (a test's command)
        if command.name not in HELP_ORDER:
            command.add_parser(sub)
    return parser


class _CommandChoice(argparse._SubParsersAction):
    """The COMMAND argument. A command added with `add_unloaded` gets its own arguments when it is the one chosen,
    from its definition (which importing its module registers): parsing `bankcore stats` imports no other
    command's module."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unloaded: set[str] = set()

    def add_unloaded(self, name: str, help: str) -> None:
        self.add_parser(name, parents=[common_options()], help=help)
        self.unloaded.add(name)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        name = values[0]
        if name in self.unloaded:
            self.unloaded.discard(name)
            DEFINITIONS[name].add_arguments(self._name_parser_map[name])
        super().__call__(parser, namespace, values, option_string)


def _listed_at(command: Command) -> int:
    return HELP_ORDER.index(command.name) if command.name in HELP_ORDER else len(HELP_ORDER)


class _WhenImported(importlib.abc.MetaPathFinder):
    """Runs `then(module)` right after module `name` is first imported (at once if it already is), so the CLI can
    configure a part it does not import itself."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def install(self) -> None:
        if self.name in sys.modules:
            self.then(sys.modules[self.name])
        elif self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # the finders after this one find the module
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module, then = spec.loader.exec_module, self.then

            def exec_then(module: ModuleType) -> None:
                exec_module(module)
                then(module)
            spec.loader.exec_module = exec_then
        return spec

    def __eq__(self, other) -> bool:
        return isinstance(other, _WhenImported) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


def _show_reply_progress(client_module: ModuleType) -> None:
    client_module.LLMClient.default_progress = show_reply_progress  # streamed replies: tokens/s on the command's bar


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(load_all=False)
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `bankcore`: the list of commands, not an argparse complaint
        parser.print_help()
        return 2
    # only a command that uses an LLM imports the client (`bankcore stats` must not pay for it)
    _WhenImported("bankcore.llm.client", _show_reply_progress).install()
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
    except OSError as exc:
        # the environment (a file that vanished, a full disk, no permission): one line, it names the path
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
