"""The command registry and `open_bank`, how every handler opens the bank named by --db.

A command is one definition, its handler decorated with `@command(name, help=..., arguments=..., creates_bank=...,
reads_only=...)`: `build_parser` gives every command in DEFINITIONS its subparser and `main` runs its handler from
COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import NotFoundError
from ..settings import Settings
from .catalog import CATALOG
from .output import warn

if TYPE_CHECKING:
    from ..bank import Bank

Handler = Callable[[argparse.Namespace], int]
AddArguments = Callable[[argparse.ArgumentParser], None]
ReadsOnly = bool | Callable[[argparse.Namespace], bool]  # a command that reads, or reads for these arguments


@dataclass(frozen=True)
class Command:
    """One `bankcore` subcommand, as `@command` declared it."""
    name: str
    help: str  # the line `bankcore --help` lists it with
    handler: Handler
    arguments: AddArguments | None = None  # adds its own arguments to its parser (after --db and --quiet)
    creates_bank: bool = False
    reads_only: ReadsOnly = False  # opens the bank read-only: no migration, a file that is not a bank refused

    def opens_read_only(self, args: argparse.Namespace) -> bool:
        return self.reads_only(args) if callable(self.reads_only) else self.reads_only

    def add_parser(self, sub) -> argparse.ArgumentParser:
        parser = sub.add_parser(self.name, parents=[common_options()], help=self.help)
        self.add_arguments(parser)
        return parser

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        if self.arguments is not None:
            self.arguments(parser)


MODULE_OF = {name: module for name, module, _ in CATALOG}


def import_command(name: str) -> None:
    """Import the module that defines command `name` (every command module for a name the catalog does not know)."""
    if name in MODULE_OF:
        importlib.import_module(f"{__package__}.{MODULE_OF[name]}")
    else:
        import_every_command()


def import_every_command() -> None:
    for module in dict.fromkeys(MODULE_OF.values()):
        importlib.import_module(f"{__package__}.{module}")


class CommandTable(MutableMapping):
    """Commands by name, filled in as their modules are imported: looking one up imports the module that defines it,
    listing them imports every command module. So `bankcore stats` loads bank_commands alone, and whoever reads
    DEFINITIONS or COMMANDS (a test, the full parser) still sees every command."""

    def __init__(self) -> None:
        self.loaded: dict = {}  # what the imported modules have registered so far

    def __getitem__(self, name: str):
        if name not in self.loaded:
            import_command(name)
        return self.loaded[name]

    def __setitem__(self, name: str, value) -> None:
        self.loaded[name] = value

    def __delitem__(self, name: str) -> None:
        self[name]  # its module first: importing it later would bring the command back
        del self.loaded[name]

    def __iter__(self):
        import_every_command()
        return iter(self.loaded)

    def __len__(self) -> int:
        import_every_command()
        return len(self.loaded)


DEFINITIONS: CommandTable = CommandTable()  # name -> Command
COMMANDS: CommandTable = CommandTable()  # name -> the handler `main` runs (a test may swap one in here)


def command(name: str, *, help: str, arguments: AddArguments | None = None, creates_bank: bool = False,
            reads_only: ReadsOnly = False):
    """Register the decorated handler as `bankcore NAME`. `arguments(parser)` adds its arguments. `creates_bank`: it
    may start a new bank file; every other command refuses a path with no bank, so a mistyped --db is an error rather
    than a fresh empty bank (and its folders) that then reports zero of everything. `reads_only` (or a function of
    the parsed arguments, for a command whose actions differ): it never writes, so `open_bank` opens the file
    read-only and refuses one that is not a bankcore bank of this schema instead of adding bankcore's tables to it."""
    if creates_bank and reads_only:
        raise ValueError(f"command {name!r} cannot both create a bank and only read one")
    if not help.strip():
        raise ValueError(f"command {name!r} has no help text: `bankcore --help` lists every command with one")

    def register(handler: Handler) -> Handler:
        if name in DEFINITIONS:
            raise ValueError(f"command {name!r} is defined twice: {_where(DEFINITIONS[name].handler)} and "
                             f"{_where(handler)}")
        DEFINITIONS[name] = Command(name, help, handler, arguments, creates_bank, reads_only)
        COMMANDS[name] = handler
        return handler
    return register


def _where(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def common_options() -> argparse.ArgumentParser:
    """--db and --quiet, which every subcommand (and subcommand action) takes too. They default to SUPPRESS so that
    `bankcore --db X stats` is not overwritten by the subcommand's own default."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors and requested output")
    return common


def open_bank(args: argparse.Namespace, *, read_only: bool | None = None, checks_only: bool = False,
              check_at_once: bool = True) -> Bank:
    """The bank --db names. `read_only` None: as the command declares (`reads_only`). `checks_only`: a command that
    writes only by the way (retrieve embeds the few lessons that lack a vector): read-write, but never creating or
    migrating, so a file that is not a bank of this schema is refused as by a read command. Either is checked at
    once — a file that is not a bank of this schema is refused before any slow work (loading the embedding model).
    On a PostgreSQL server a read command gets sessions the server itself keeps read-only (see
    `store.pg_connection`), so a write there fails whatever our code does. `check_at_once` False: for a command
    whose first act is to read the bank, with nothing slow before it (`stats`): the file is checked on that read's
    own connection, with the same error, so it is opened once rather than twice (~20 ms of a cold start)."""
    from ..bank import Bank
    from ..store import is_server_url
    settings = Settings.load()
    path = Path(args.db).expanduser() if args.db else Path(settings.db_path).expanduser()
    definition = DEFINITIONS[args.command]
    if not definition.creates_bank and not is_server_url(path) and not path.exists():
        raise NotFoundError(f"no bank at {path}: start one with `bankcore learn FILE`, `bankcore demo --db {path}` "
                            "or `bankcore init`, or pass --db")
    if read_only is None:
        read_only = definition.opens_read_only(args)
    bank = Bank(path, settings=settings, on_busy=None if args.quiet else _busy_notice(), read_only=read_only)
    if read_only or checks_only:
        bank.store.upgrade_on_open = False
        if check_at_once:
            bank.store.schema_version()
    return bank


def _busy_notice() -> Callable[[str], None]:
    shown = False

    def notice(message: str) -> None:
        nonlocal shown
        if not shown:
            warn(message)
            shown = True
    return notice
