"""The CLI package: a command's parser (listed in `PARSERS`) and its handler (`@command`) live apart, so check that
every command shown by `bankcore --help` runs a handler and every handler is reachable."""

from __future__ import annotations

import argparse

from bankcore.cli import build_parser
from bankcore.cli.registry import COMMANDS


def test_every_listed_command_has_a_handler_and_every_handler_is_listed():
    parser = build_parser()
    listed = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert sorted(listed) == sorted(COMMANDS)
