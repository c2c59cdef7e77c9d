"""Read-only means read-only on PostgreSQL too, enforced by the server: a store opened `read_only` (what the read
commands get, `reads_only=` in the CLI registry) has sessions in which PostgreSQL itself refuses every write — a
statement our code sends by mistake included — while reads, those that stage id lists among them, still work. A
real PostgreSQL (tests/pg_server.py), skipped, saying why, only when it cannot start."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bankcore.cli import main
from bankcore.cli.registry import open_bank
from bankcore.curate import lifecycle
from bankcore.models import ItemSource, MemoryItem, Verdict
from bankcore.store import open_store
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
psycopg = pytest.importorskip("psycopg")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def bank_url(pg_url) -> str:
    """A PostgreSQL bank with trajectories, verdicts and a few lessons, written by an ordinary (read-write) store."""
    for step in (["import", str(FIXTURES / "mini-swe")], ["judge", "--judge", "heuristic"]):
        assert main(["--db", pg_url, "-q", *step]) == 0, step
    writer = open_store(pg_url)
    try:
        traj = next(iter(writer.iter_trajectories())).traj_id
        for n in range(3):
            item = MemoryItem(f"Lesson {n}", "When it applies.", f"Do step {n}.", source="success",
                              embedding=[0.1 * (n + 1)] * 4, embedding_model="m")
            lifecycle.add_item(writer, item, [ItemSource(0, "evidence", traj_id=traj, step_idxs=[0])],
                               actor="heuristic:1")
    finally:
        writer.close()
    return pg_url


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(sql).fetchall()


def test_the_server_refuses_a_write_sent_straight_through_a_read_only_connection(bank_url):
    """Not our code's check: the statement reaches the server, which refuses it."""
    before = rows(bank_url, "SELECT count(*) FROM verdicts")
    reader = open_store(bank_url, read_only=True)
    try:
        con = reader._connect()
        try:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
                con.raw.execute("INSERT INTO bank_settings (key, value) VALUES ('policy', '\"approve-all\"')")
            assert con.raw.execute("SHOW transaction_read_only").fetchone() == ("on",)
        finally:
            con.close()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            with reader.transaction():
                reader.add_verdict(Verdict(traj_id="x", label="success", judge_id="human:x"))
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.set_setting("policy", "approve-all")
    finally:
        reader.close()
    assert rows(bank_url, "SELECT count(*) FROM verdicts") == before
    assert rows(bank_url, "SELECT count(*) FROM bank_settings WHERE key = 'policy'") == [(0,)]


def test_a_connection_turned_writable_by_a_bug_is_read_only_again_at_its_next_checkout(bank_url):
    before = rows(bank_url, "SELECT count(*) FROM verdicts")
    assert before != [(0,)]
    reader = open_store(bank_url, read_only=True, pool_size=1)
    try:
        con = reader._connect()
        con.raw.execute("SET default_transaction_read_only = off")  # the bug
        con.close()
        again = reader._connect()
        try:
            assert again.raw is con.raw  # the same pooled connection, handed out again
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                again.raw.execute("DELETE FROM verdicts")
        finally:
            again.close()
    finally:
        reader.close()
    assert rows(bank_url, "SELECT count(*) FROM verdicts") == before


def test_reads_that_stage_id_lists_work_in_a_read_only_session(bank_url):
    """A read-only transaction refuses CREATE TEMPORARY TABLE: the id lists reads join against go in as CTEs, and
    answer as the read-write store's temporary tables do."""
    import numpy as np

    writer, reader = open_store(bank_url), open_store(bank_url, read_only=True)
    try:
        ids = [t.traj_id for t in writer.iter_trajectories()]
        asked = [ids[0], ids[-1], ids[0], "no-such-trajectory"]  # duplicates and a miss, as a semi-join sees them
        assert reader.existing_traj_ids(asked) == writer.existing_traj_ids(asked)
        assert len(writer.existing_traj_ids(asked)) == 2
        items = np.array([i.item_id for i in writer.iter_items()], np.int64)
        assert np.array_equal(reader.item_vectors(items, 4), writer.item_vectors(items, 4), equal_nan=True)
        assert reader.item_task_ids(items.tolist()) == writer.item_task_ids(items.tolist())
        assert len(writer.item_task_ids(items.tolist())) == 3
        assert reader.usefulness_counts(items.tolist()) == writer.usefulness_counts(items.tolist())
        assert reader.existing_traj_ids([]) == {}
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["check"], ["review", "list"],
                                     ["review", "list", "--status", "pending"]])
def test_read_commands_get_a_server_enforced_read_only_session_and_still_work(bank_url, command, capsys):
    assert main(["--db", bank_url, *command]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.strip()
    if command == ["check"]:
        assert "consistent" in out
    if command[0] == "review":
        assert "Lesson 0" in out
    parsed = _parsed(["--db", bank_url, *command])
    bank = open_bank(parsed)
    try:
        assert bank.store.read_only
        con = bank.store._connect()
        try:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                con.raw.execute("UPDATE memory_items SET status = 'approved'")
        finally:
            con.close()
    finally:
        bank.store.close()
    assert rows(bank_url, "SELECT count(*) FROM memory_items WHERE status = 'approved'") == [(0,)]


def test_a_read_command_refuses_a_database_that_is_not_a_bank_and_leaves_it_unchanged(pg_url, capsys):
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE TABLE invoices (id int)")
    assert main(["--db", pg_url, "stats"]) == 1
    err = capsys.readouterr().err
    assert "not a bankcore bank" in err and len(err.strip().splitlines()) == 1
    assert rows(pg_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'") == \
        [("invoices",)]


def _parsed(argv: list[str]) -> argparse.Namespace:
    from bankcore.cli import build_parser
    return build_parser().parse_args(argv)


def test_the_other_read_commands_work_read_only_on_postgres(bank_url, tmp_path, capsys):
    """export (signed, then restored into DuckDB), export-lessons, export-dataset, verdicts and audit-run: each
    opens the PostgreSQL bank read-only and does its work there."""
    writer = open_store(bank_url)
    try:
        traj = next(iter(writer.iter_trajectories()))
        run = writer.list_runs()[0].name
    finally:
        writer.close()
    key = tmp_path / "export.key"
    key.write_text("a-test-key-of-enough-length-0123456789\n")
    out = tmp_path / "bank.jsonl.gz"
    for command in (["export", "--out", out, "--key-file", key], ["export-lessons", "--status", "pending"],
                    ["export-dataset"], ["verdicts", traj.traj_id], ["audit-run", run]):
        opened = open_bank(_parsed(["--db", bank_url, *map(str, command)])).store
        opened.close()
        assert opened.read_only, command
        assert main(["--db", bank_url, *map(str, command)]) == 0, (command, capsys.readouterr().err)
    assert "Lesson 0" in capsys.readouterr().out
    assert main(["--db", str(tmp_path / "copy.duckdb"), "import-bank", str(out), "--key-file", str(key)]) == 0
    assert "signature checked" in capsys.readouterr().out
