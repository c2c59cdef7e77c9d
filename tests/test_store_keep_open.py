"""A store that keeps its connection open between calls (an MCP server, the agent runner) holds the bank file only
while it is useful: it lets go when it idles, and at once when another process waits for the file — also while it is
answering calls back to back, so it never starves a CLI or the dashboard. Real processes, a real file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from bankcore.store import Store

ROOT = Path(__file__).resolve().parent.parent

# A process that is not bankcore: it does not say it is waiting, so it gets in only when the file is let go.
RAW_OPEN = textwrap.dedent("""
    import sys, duckdb
    try:
        duckdb.connect(sys.argv[1]).close()
        print("opened")
    except duckdb.IOException:
        print("locked")
""")

# Another bankcore process writing a setting, and how long it waited for the file.
WRITE = textwrap.dedent("""
    import sys, time
    from bankcore.store import Store
    start = time.monotonic()
    Store(sys.argv[1], lock_timeout_s=20).set_setting("written_by", "other process")
    print(f"{time.monotonic() - start:.3f}")
""")


def _run(script: str, db: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, str(db)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _kept_store(db: Path, idle_s: float) -> Store:
    store = Store(db, lock_timeout_s=20)
    store.set_setting("x", 1)
    store.keep_open(idle_s)
    store.get_setting("x")  # opens the kept connection
    return store


def test_a_kept_store_holds_the_file_between_calls_and_lets_go_when_told(tmp_path):
    db = tmp_path / "bank.duckdb"
    store = _kept_store(db, idle_s=60)
    assert _run(RAW_OPEN, db) == "locked"
    store.keep_open(0)
    assert _run(RAW_OPEN, db) == "opened"
    assert store.get_setting("x") == 1  # and it still works, one connection per call again


def test_an_idle_kept_store_lets_go_of_the_file(tmp_path):
    db = tmp_path / "bank.duckdb"
    store = _kept_store(db, idle_s=0.2)
    deadline = time.monotonic() + 10
    while _run(RAW_OPEN, db) != "opened":
        assert time.monotonic() < deadline, "the idle store kept the file"
    assert store.get_setting("x") == 1


def test_a_waiting_process_gets_the_file_and_the_kept_store_sees_its_write(tmp_path):
    db = tmp_path / "bank.duckdb"
    store = _kept_store(db, idle_s=60)
    waited = float(_run(WRITE, db))
    assert waited < 10
    assert store.get_setting("written_by") == "other process"
    assert not db.with_name(db.name + ".open-waiting").exists()  # the waiter cleaned up once in


def test_a_busy_kept_store_does_not_starve_another_process(tmp_path):
    """Calls back to back never idle; the waiting process still gets in between two of them."""
    db = tmp_path / "bank.duckdb"
    store = _kept_store(db, idle_s=60)
    stop = threading.Event()
    calls = []

    def busy():
        while not stop.is_set():
            store.fingerprint()
            calls.append(1)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        time.sleep(0.3)
        waited = float(_run(WRITE, db))
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join()
    assert waited < 5, waited
    assert store.get_setting("written_by") == "other process"
    assert len(calls) > 10  # it really was busy, and carried on after letting go
