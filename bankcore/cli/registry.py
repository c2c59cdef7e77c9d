"""The command registry (`@command(name)` fills COMMANDS, which `main` dispatches on) and `open_bank`, how every
handler opens the bank named by --db.
"""

from __future__ import annotations

import argparse
from typing import Callable

from ..bank import Bank
from .output import warn

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


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
