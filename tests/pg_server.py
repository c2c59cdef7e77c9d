"""A real PostgreSQL with pgvector for the tests: one server per test session, in a temp dir, on a Unix socket; each
test gets a fresh database (`pg_url`). Which wheel serves, and the HNSW check each must pass first, is
tests/embedded_pg.py's (the benches start theirs there too); here a machine where none works skips the tests, saying
why for each wheel.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack, contextmanager

import pytest

from embedded_pg import NoServer, new_database, pg_ctl, running  # noqa: F401 — pg_ctl for the fault tests

_counter = itertools.count()


@contextmanager
def embedded_server(prefix: str = "bankcore-pg-"):
    """A PostgreSQL server of its own in a temp dir, stopped and removed on exit; skips the test, saying why, when
    the `postgres` extra is missing or no wheel's server starts and builds a vector index."""
    try:
        import psycopg  # noqa: F401 — the backend's driver: without it there is nothing to test
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the `postgres` extra (pip install -e '.[postgres]'): {exc}")
    with ExitStack() as stack:
        try:
            server = stack.enter_context(running(prefix))
        except NoServer as exc:
            pytest.skip(str(exc))
        yield server


@pytest.fixture(scope="session")
def pg_server():
    with embedded_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's server, with pgvector available."""
    return new_database(pg_server, f"bank_{next(_counter)}")
