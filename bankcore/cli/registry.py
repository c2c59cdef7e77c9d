"""The command registry (`@command(name)` fills COMMANDS, which `main` dispatches on) and `open_bank`, how every
handler opens the bank named by --db.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..bank import Bank
from ..errors import NotFoundError
from ..settings import Settings
from .output import warn

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


# Commands that may start a new bank file; every other one refuses a path with no bank, so a mistyped --db is an
# error rather than a fresh empty bank (and its folders) that then reports zero of everything.
CREATES_BANK = frozenset({"init", "import", "learn", "import-bank", "run", "mcp"})


def open_bank(args: argparse.Namespace, *, read_only: bool = False) -> Bank:
    settings = Settings.load()
    path = Path(args.db).expanduser() if args.db else Path(settings.db_path).expanduser()
    if args.command not in CREATES_BANK and not path.exists():
        raise NotFoundError(f"no bank at {path}: start one with `bankcore learn FILE`, `bankcore demo --db {path}` "
                            "or `bankcore init`, or pass --db")
    return Bank(path, settings=settings, on_busy=None if args.quiet else _busy_notice(), read_only=read_only)


def _busy_notice() -> Callable[[str], None]:
    shown = False

    def notice(message: str) -> None:
        nonlocal shown
        if not shown:
            warn(message)
            shown = True
    return notice
