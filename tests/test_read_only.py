"""Read-only means read-only: every command that does not say it writes opens the bank read-only, refuses a file that
is not a bankcore bank (a foreign DuckDB file, a text file) without touching it, and still reads a real bank without
changing a byte of it. The dashboard's reads check the file before anything could add bankcore's tables to it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import duckdb
import pytest

from bankcore.bank import Bank
from bankcore.cli.registry import DEFINITIONS
from curation_helpers import add_lessons

# (arguments after the command name) — every command or action that declares it only reads.
READ_COMMANDS = [
    ["stats"], ["stats", "--json"], ["check"], ["export", "--out", "{out}/all.jsonl.gz"],
    ["export-lessons", "--out", "{out}/lessons.md"], ["export-dataset"],
    ["compare", "1", "2"], ["audit-run", "1"], ["verdicts", "abcdef12"],
    ["review", "list"], ["review", "show", "1"], ["review", "history", "1"], ["review", "diff", "1", "1", "2"],
    ["review", "contradictions"], ["review", "useful"],
    ["policy"], ["policy", "show"], ["policy", "enforce", "--dry-run"],
    ["as-of", "1"], ["reembed", "--dry-run"],
]
# Commands that write only by the way (retrieve embeds lessons lacking a vector): read-write, but they too refuse a
# file that is not a bank rather than migrating it.
CHECKING_COMMANDS = [["retrieve", "refund a cancelled flight"],
                     ["retrieve", "refund a cancelled flight", "--task-id", "t1"]]


def _snapshot(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes, its mtime and the folder's names: what a write (or a WAL, a side file) would change."""
    return (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.iterdir()))


def _argv(args: list[str], db: Path, out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in args] + ["--db", str(db)]


def _foreign_duckdb(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER, total DOUBLE)")
    con.execute("INSERT INTO orders VALUES (1, 9.5), (2, 12.0)")
    con.close()
    return path


def _lookalike_duckdb(folder: Path) -> Path:
    """Another tool's DuckDB file that happens to use two of bankcore's table names, with other columns."""
    folder.mkdir()
    path = folder / "tool.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (id TEXT)")
    con.execute("CREATE TABLE memory_items (note TEXT)")
    con.close()
    return path


def _text_file(folder: Path) -> Path:
    """Like /etc/hostname: a small text file that exists but is no database."""
    folder.mkdir()
    path = folder / "hostname"
    path.write_text("build-host-7\n")
    return path


def _aged(path: Path) -> None:
    """Push the mtime into the past so that any write, even within the same second, shows."""
    past = time.time() - 3600
    os.utime(path, (past, past))


@pytest.mark.parametrize("make", [_foreign_duckdb, _lookalike_duckdb, _text_file],
                         ids=["foreign-duckdb", "lookalike-duckdb", "text-file"])
@pytest.mark.parametrize("args", READ_COMMANDS + CHECKING_COMMANDS,
                         ids=[" ".join(a[:3]) for a in READ_COMMANDS + CHECKING_COMMANDS])
def test_a_read_command_refuses_a_file_that_is_not_a_bank_and_leaves_it_unchanged(tmp_path, cli, make, args):
    target = make(tmp_path / "target")
    _aged(target)
    before = _snapshot(target)
    out = tmp_path / "out"
    out.mkdir()
    result = cli(*_argv(args, target, out))
    assert result.code != 0
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert "bank" in result.err and str(target) in result.err
    assert _snapshot(target) == before
    assert not list(out.iterdir())  # nothing written on the way to the refusal


WRITE_COMMANDS = [["init"], ["import", "{dataset}"], ["import-lessons", "{lessons}"],
                  ["policy", "set", "auto_approve", "false"], ["review", "approve", "1"], ["reembed"]]


@pytest.mark.parametrize("make", [_foreign_duckdb, _lookalike_duckdb], ids=["foreign-duckdb", "lookalike-duckdb"])
@pytest.mark.parametrize("args", WRITE_COMMANDS, ids=[" ".join(a[:2]) for a in WRITE_COMMANDS])
def test_a_write_command_never_adds_bankcore_tables_to_another_duckdb_file(tmp_path, cli, make, args):
    """Writing commands create a bank in a new file; a DuckDB file that holds other tables is someone else's."""
    target = make(tmp_path / "target")
    _aged(target)
    before = _snapshot(target)
    dataset = tmp_path / "one.jsonl"
    dataset.write_text('{"task_id": "t1", "query": "q", "steps": [], "final_answer": "a"}\n')
    lessons = tmp_path / "lessons.json"
    lessons.write_text('[{"title": "Check the fare rules", "description": "Before a refund.", '
                       '"content": "Read the fare rules before refunding."}]')
    result = cli(*[a.replace("{dataset}", str(dataset)).replace("{lessons}", str(lessons)) for a in args],
                 "--db", str(target))
    assert result.code != 0
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert "not a bankcore bank" in result.err and str(target) in result.err
    assert _snapshot(target) == before


def test_every_command_that_reads_only_is_in_the_list():
    """A new read command must be added above (and so be tested on foreign files)."""
    declared = {name for name, d in DEFINITIONS.items() if d.reads_only}
    assert declared == {args[0] for args in READ_COMMANDS}


@pytest.fixture(scope="module")
def real_bank(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bank")
    bank = Bank(folder / "bank.duckdb")
    add_lessons(bank, folder, status="approved")
    return bank.path


NOT_IN_THE_BANK = {"compare", "verdicts", "review diff"}  # ask for a run, trajectory or version it lacks


@pytest.mark.parametrize("args", READ_COMMANDS, ids=[" ".join(a[:2]) for a in READ_COMMANDS])
def test_a_read_command_reads_a_bank_without_changing_it(real_bank, tmp_path, cli, args):
    _aged(real_bank)
    before = _snapshot(real_bank)
    result = cli(*_argv(args, real_bank, tmp_path))
    if args[0] in NOT_IN_THE_BANK or " ".join(args[:2]) in NOT_IN_THE_BANK:
        assert result.code == 1 and result.err.startswith("error:") and " no " in result.err, result.err
    else:
        assert result.code == 0, result.err
    assert "Traceback" not in result.err and "read-only" not in result.err.lower(), result.err
    assert "not a bankcore bank" not in result.err
    assert _snapshot(real_bank) == before


@pytest.mark.parametrize("args", [["review", "approve", "1"], ["policy", "set", "auto_approve", "false"],
                                  ["review", "useful", "--flag-hurting"], ["retrieve", "q", "--task-id", "t"],
                                  ["reembed"], ["policy", "apply"], ["policy", "enforce"]])
def test_commands_that_write_do_not_open_read_only(args):
    from bankcore.cli import build_parser
    parsed = build_parser().parse_args(args)
    assert not DEFINITIONS[parsed.command].opens_read_only(parsed)


def test_an_older_bank_is_refused_by_a_read_command_not_upgraded(tmp_path, cli):
    bank = Bank(tmp_path / "old.duckdb")
    bank.init()
    con = duckdb.connect(str(bank.path))
    latest = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    con.execute("DELETE FROM schema_migrations WHERE version = ?", [latest])
    con.close()
    _aged(bank.path)
    before = _snapshot(bank.path)
    result = cli("stats", "--db", bank.path)
    assert result.code != 0 and f"older than v{latest}" in result.err and "bankcore init" in result.err
    assert _snapshot(bank.path) == before


# ---------------------------------------------------------------------- the dashboard
from streamlit_caches import fresh_streamlit_caches  # noqa: E402,F401 — autouse: clean caches per test
from test_dashboard import PAGES, app, problems, texts  # noqa: E402


@pytest.mark.parametrize("page", [None, *PAGES])
def test_the_dashboard_refuses_a_foreign_duckdb_file_on_every_screen_and_leaves_it_unchanged(tmp_path, monkeypatch,
                                                                                            page):
    target = _foreign_duckdb(tmp_path / "target")
    _aged(target)
    before = _snapshot(target)
    monkeypatch.setenv("BANKCORE_DB", str(target))
    at = app(page)
    assert not problems(at)
    said = texts(at, "error", "warning")
    assert any("cannot be opened as a bank" in t and "not a bankcore bank" in t for t in said), said
    assert _snapshot(target) == before
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()] == ["orders"]
    finally:
        con.close()


@pytest.mark.parametrize("make", [_text_file, lambda folder: (folder.mkdir(), folder / "empty.duckdb")[1]],
                         ids=["text-file", "empty-file"])
def test_the_dashboard_leaves_a_file_that_is_no_database_unchanged(tmp_path, monkeypatch, make):
    target = make(tmp_path / "target")
    target.touch()
    _aged(target)
    before = _snapshot(target)
    monkeypatch.setenv("BANKCORE_DB", str(target))
    at = app("memory")
    assert not problems(at)
    assert any("cannot be opened as a bank" in t for t in texts(at, "error"))
    assert _snapshot(target) == before


def test_an_older_bank_is_view_only_for_a_logged_out_viewer(tmp_path, monkeypatch):
    from bankcore.store import migrations
    db = tmp_path / "bank.duckdb"
    Bank(db).init()
    newer = migrations.MIGRATIONS + (migrations.Migration(
        migrations.LATEST_VERSION + 1, "test: a later column",
        lambda con: con.execute("ALTER TABLE runs ADD COLUMN note TEXT")),)
    monkeypatch.setattr("bankcore.store.core.MIGRATIONS", newer)
    monkeypatch.setattr("bankcore.store.core.LATEST_VERSION", newer[-1].version)
    monkeypatch.setenv("BANKCORE_DB", str(db))
    _aged(db)
    before = _snapshot(db)
    at = app("memory", secrets={"bankcore": {"users": {"Bea": "s3cret"}}})
    assert not problems(at)
    assert any("View only until someone with curation rights upgrades it" in t for t in texts(at, "info"))
    assert not [b for b in at.button if b.key == "upgrade_bank"]
    assert _snapshot(db) == before
