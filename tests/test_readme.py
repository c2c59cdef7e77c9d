"""The README is the first thing a new user reads: every command and every option the CLI accepts is in it."""

from __future__ import annotations

import argparse

from bankcore.cli import build_parser
from conftest import ROOT

COMMON = {"--help", "--db", "--quiet"}  # documented once, for every command


def subcommands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from subcommands(sub, f"{prefix}{name} ")


def test_every_command_and_option_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = []
    for name, parser in subcommands(build_parser()):
        top = name.split()[0]
        if f"bankcore {top}" not in readme:
            missing.append(f"command {top}")
        for action in parser._actions:
            missing += [f"{name} {opt}" for opt in action.option_strings
                        if opt.startswith("--") and opt not in COMMON and opt not in readme]
    assert not missing, f"not in README.md: {sorted(set(missing))}"
