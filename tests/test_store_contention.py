"""Readers do not starve writers: DuckDB lets one process hold a bank file at a time, and a dashboard whose tabs keep
refreshing could keep an import or a `learn` out until it gave up "bank busy" after committing half its work. A
writer that has to wait says so beside the file; readers (`Store.reading`, a dashboard screen) hold back while it
does. Real processes, a real file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from bankcore.store import Store
from bankcore.store.core import WRITER_WAITING_SUFFIX

ROOT = Path(__file__).resolve().parent.parent

# A dashboard-like reader: screen after screen, each holding the file for a moment, for `seconds`.
READER = textwrap.dedent("""
    import sys, time
    from bankcore.store import Store
    store = Store(sys.argv[1], lock_timeout_s=60)
    end = time.monotonic() + float(sys.argv[2])
    print("reading", flush=True)
    while time.monotonic() < end:
        with store.reading():
            store.fingerprint()
            time.sleep(0.3)
""")

HOLD = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def _start(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env)
    proc.stdout.readline()
    return proc


def _marker(db: Path) -> Path:
    return db.with_name(db.name + WRITER_WAITING_SUFFIX)


def test_a_waiting_writer_says_so_beside_the_file_and_cleans_up(tmp_path):
    db = tmp_path / "bank.duckdb"
    store = Store(db, lock_timeout_s=20)
    store.set_setting("x", 1)
    seen = []
    holder = _start(HOLD, str(db), "1.5")
    watcher = threading.Thread(target=lambda: [seen.append(_marker(db).exists()) or time.sleep(0.05)
                                               for _ in range(30)])
    watcher.start()
    try:
        store.set_setting("x", 2)
    finally:
        holder.wait()
        watcher.join()
    assert any(seen), "the writer waited without saying so"
    assert not _marker(db).exists() and store.get_setting("x") == 2


def test_readers_hold_back_while_a_writer_waits_but_not_for_a_stale_note(tmp_path):
    db = tmp_path / "bank.duckdb"
    store = Store(db, lock_timeout_s=20)
    store.set_setting("x", 1)
    _marker(db).touch()
    threading.Timer(0.6, _marker(db).unlink).start()
    started = time.monotonic()
    with store.reading():
        store.fingerprint()
    assert time.monotonic() - started >= 0.5
    _marker(db).touch()
    os.utime(_marker(db), (time.time() - 60, time.time() - 60))  # left by a writer that died
    started = time.monotonic()
    with store.reading():
        store.fingerprint()
    assert time.monotonic() - started < 0.5


def test_busy_readers_do_not_starve_a_writer(tmp_path):
    db = tmp_path / "bank.duckdb"
    Store(db).set_setting("x", 0)
    readers = [_start(READER, str(db), "20") for _ in range(3)]
    try:
        writer = Store(db, lock_timeout_s=4)
        for n in range(1, 6):  # a learn commits batch after batch
            writer.set_setting("x", n)
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()
    assert Store(db).get_setting("x") == 5
