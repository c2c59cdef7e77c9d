"""A bank on a PostgreSQL server is named by its URL as a person types it (`store.location`), never by the URL folded
into a Path (`postgresql:/user@host/db`, which cannot be pasted back into `--db`)."""

from __future__ import annotations

import pytest

from bankcore.cli import main
from bankcore.store import open_store
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
pytest.importorskip("psycopg")


def test_commands_name_a_server_bank_by_its_url(pg_url, capsys):
    store = open_store(pg_url)
    try:
        shown = store.location
    finally:
        store.close()
    assert shown.startswith("postgresql://") and shown != str(store.path)
    for command, line in ((["init"], f"bank ready: {shown} (schema v"), (["stats"], f"bank {shown} (schema v"),
                          (["check"], f"{shown}: 0 items")):
        assert main(["--db", pg_url, *command]) == 0
        out = capsys.readouterr().out
        assert line in out, out
        assert "postgresql:/" + shown.removeprefix("postgresql://") not in out
