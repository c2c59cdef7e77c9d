"""The command registry: a command is one `@command` definition, and what it declares is what `bankcore` shows and
runs — its help line, its arguments, whether it may start a bank file."""

from __future__ import annotations

import argparse

import pytest

from bankcore.cli import HELP_ORDER, build_parser, main
from bankcore.cli.registry import COMMANDS, DEFINITIONS, command, open_bank


def subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every (argv, parser) below `parser`: each command, and each action of review and policy."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from subcommands(sub, (*prefix, name))


@pytest.fixture
def scratch_registry():
    """Commands a test defines are gone after it."""
    definitions, handlers = dict(DEFINITIONS), dict(COMMANDS)
    yield
    DEFINITIONS.clear()
    DEFINITIONS.update(definitions)
    COMMANDS.clear()
    COMMANDS.update(handlers)


def test_every_command_is_listed_with_its_help_and_answers_help(capsys):
    listing = "".join(build_parser().format_help().split())  # argparse wraps the help lines
    assert len(DEFINITIONS) >= 26
    for name, definition in DEFINITIONS.items():
        assert definition.help.strip() and "".join(definition.help.split()) in listing, name
    for argv, _ in subcommands(build_parser()):
        with pytest.raises(SystemExit) as stopped:
            main([*argv, "--help"])
        out = capsys.readouterr().out
        assert stopped.value.code == 0, argv
        assert out.startswith(f"usage: bankcore {' '.join(argv)} ") and "--db DB" in out, argv


def test_the_registry_refuses_a_second_command_of_the_same_name(scratch_registry):
    stats = DEFINITIONS["stats"]

    def another_stats(args: argparse.Namespace) -> int:
        return 0

    with pytest.raises(ValueError, match=r"command 'stats' is defined twice: bankcore\.cli\.bank_commands\.cmd_stats "
                                         r"and .*another_stats"):
        command("stats", help="something else")(another_stats)
    assert DEFINITIONS["stats"] is stats and COMMANDS["stats"] is stats.handler


def test_a_command_without_help_text_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="command 'quiet-one' has no help text"):
        command("quiet-one", help=" ")
    assert "quiet-one" not in DEFINITIONS


def test_the_help_order_names_only_defined_commands():
    """A renamed command left behind in HELP_ORDER would silently move to the end of `bankcore --help`."""
    assert len(set(HELP_ORDER)) == len(HELP_ORDER)
    assert set(HELP_ORDER) <= set(DEFINITIONS)


def test_a_new_command_is_one_definition(scratch_registry, capsys, tmp_path):
    """Declared once, it is listed, parses its arguments, runs, and refuses a missing bank unless it creates one."""
    def greet_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("who", help="whom to greet")
        p.add_argument("--times", type=int, default=1, help="how often")

    @command("greet", help="say hello (a test command)", arguments=greet_arguments)
    def cmd_greet(args: argparse.Namespace) -> int:
        open_bank(args)
        print(" ".join([f"hello {args.who}"] * args.times))
        return 7

    listing = build_parser().format_help()
    assert "greet" in listing and "say hello (a test command)" in listing
    assert listing.index("as-of") < listing.index("greet")  # not in HELP_ORDER: listed after the others
    db = tmp_path / "bank.duckdb"
    assert main(["greet", "you", "--times", "2", "--db", str(db)]) == 1  # no bank there, and greet creates none
    assert f"no bank at {db}" in capsys.readouterr().err and not db.exists()
    assert main(["init", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "greet", "you", "--times", "2"]) == 7
    assert capsys.readouterr().out == "hello you hello you\n"


def test_the_catalog_names_each_command_its_module_and_help_as_defined():
    """`bankcore --help` lists the commands from cli/catalog.py without importing their modules: the table must say
    what each `@command` says, and name every command (one left out could not be chosen on the command line)."""
    from bankcore.cli.catalog import CATALOG
    defined = [(name, DEFINITIONS[name].handler.__module__.rsplit(".", 1)[-1], DEFINITIONS[name].help)
               for name in DEFINITIONS]
    assert sorted(CATALOG) == sorted(defined)
    assert len({name for name, _, _ in CATALOG}) == len(CATALOG)


def test_running_a_command_imports_only_its_own_module(tmp_path):
    """In a fresh process: `stats` loads bank_commands and no other command module; `--help` loads none and still
    lists every command with its help line."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    probe = ("import sys; from bankcore.cli import main\n"
             "try: main(sys.argv[1:])\nexcept SystemExit: pass\n"
             "print(sorted(m for m in sys.modules if m.endswith('_commands')))")
    db = tmp_path / "bank.duckdb"
    assert main(["init", "--db", str(db), "-q"]) == 0
    stats = subprocess.run([sys.executable, "-c", probe, "--db", str(db), "stats"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.splitlines()[-1]
    assert stats == "['bankcore.cli.bank_commands']"
    listing = subprocess.run([sys.executable, "-c", probe, "--help"], cwd=root, capture_output=True, text=True,
                             check=True).stdout
    assert listing.splitlines()[-1] == "[]"
    for name, definition in DEFINITIONS.items():
        assert "".join(definition.help.split()) in "".join(listing.split()), name
