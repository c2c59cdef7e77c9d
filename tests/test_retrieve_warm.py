"""Warm retrieval with the bank file kept open (an MCP server, an agent loop): the retrieval log is written in
batches — written behind the callers, never holding a retrieve up — yet complete for every reader and after a clean
close or a reopen, in logging order (a kill loses only the rows not yet written); and skipping the change check
between retrieves never serves a stale hit — an edit, a withdrawal or another process's write between two retrieves
is seen by the second. Real bank file, real MiniLM, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

from bankcore import Bank
from bankcore.store.log_batch import RetrievalBatch
from test_retrieve import CANCEL_QUERY, LESSONS, lesson, trajectory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kept(bank):
    """A seeded bank kept open, whose batches wait until something writes them (no timer in the way)."""
    ids = {key: lesson(bank, key, task=f"task-{key}") for key in LESSONS}
    bank.keep_open(60)
    yield bank, ids
    bank.keep_open(0)


@pytest.fixture
def no_timer(monkeypatch):
    monkeypatch.setattr(RetrievalBatch, "flush_after_s", 3600.0)


def written(db: Path) -> list[tuple]:
    """The retrieval rows as committed in the file, read past the store (same process: DuckDB shares the open file)."""
    con = duckdb.connect(str(db))
    try:
        return con.execute("SELECT retrieval_id, task_id, item_id, rank, k FROM retrievals "
                           "ORDER BY retrieval_id").fetchall()
    finally:
        con.close()


def test_the_log_waits_in_a_batch_and_any_other_call_writes_it_first_in_order(kept, no_timer):
    bank, ids = kept
    shown = []
    for i in range(3):
        hits = bank.retrieve(f"{CANCEL_QUERY} (call {i})", k=2, task_id=f"t{i}", min_similarity=-1.0)
        shown += [(f"t{i}", h.item.item_id, h.rank) for h in hits]
    assert len(shown) == 6
    assert written(bank.store.path) == []  # batched: no write transaction on the retrieve path
    logged = list(bank.store.iter_retrievals())  # another call: the batch is written before it reads
    assert [(r.task_id, r.item_id, r.rank) for r in logged] == shown
    assert [r.retrieval_id for r in logged] == [1, 2, 3, 4, 5, 6]  # ids in logging order
    assert logged[0].item_id == ids["cancel"] and all(r.created_at is not None for r in logged)
    assert all(r.as_of_event == bank.store.last_event_id() for r in logged)


def test_a_clean_close_writes_the_whole_batch(kept, no_timer):
    bank, ids = kept
    for i in range(4):
        bank.retrieve(f"{CANCEL_QUERY} (close {i})", k=1, task_id=f"c{i}")
    bank.keep_open(0)
    assert [(r[0], r[1], r[2]) for r in written(bank.store.path)] == \
        [(i + 1, f"c{i}", ids["cancel"]) for i in range(4)]


def test_record_links_retrievals_still_waiting_in_the_batch(kept, no_timer):
    bank, _ = kept
    bank.retrieve(CANCEL_QUERY, k=1, task_id="live-1")
    recorded = bank.record(trajectory("live-1", CANCEL_QUERY), learn=False)
    assert recorded.linked_retrievals == 1


def test_the_timer_writes_the_batch_soon_without_another_call(kept):
    bank, _ = kept
    bank.retrieve(CANCEL_QUERY, k=1, task_id="timed")
    deadline = RetrievalBatch.flush_after_s + 10
    start = time.monotonic()
    while not written(bank.store.path):
        assert time.monotonic() - start < deadline, "the batch was never written"
        time.sleep(0.05)
    assert [r[1] for r in written(bank.store.path)] == ["timed"]


KEPT_THEN_EXIT = textwrap.dedent("""
    import sys
    from bankcore import Bank
    from bankcore.store.log_batch import RetrievalBatch
    RetrievalBatch.flush_after_s = 3600.0  # only the exit writes them
    bank = Bank(sys.argv[1])
    bank.keep_open(60)
    for i in range(3):
        bank.retrieve("Hi, I need to cancel my flight reservation and get a refund. " + str(i), k=1, task_id=f"x{i}")
    print(len(bank.store._log))
""")  # exits without keep_open(0): the interpreter's exit writes the batch


def test_rows_waiting_at_interpreter_exit_are_written(kept):
    bank, _ = kept
    bank.keep_open(0)  # let the child have the file
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", KEPT_THEN_EXIT, str(bank.store.path)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "3"  # all three still waiting when the interpreter exits
    assert [r[1] for r in written(bank.store.path)] == ["x0", "x1", "x2"]


WAITER = textwrap.dedent("""
    import sys
    from bankcore.store import Store
    print(sum(1 for _ in Store(sys.argv[1], lock_timeout_s=60).iter_retrievals()))
""")


def test_a_process_waiting_for_the_file_reads_a_complete_log(kept, no_timer):
    bank, _ = kept
    for i in range(3):
        bank.retrieve(f"{CANCEL_QUERY} (waiter {i})", k=1, task_id=f"w{i}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", WAITER, str(bank.store.path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


# ------------------------------------------------------------------------------- no stale hit between two retrieves
def test_an_edit_between_two_retrieves_is_served_by_the_second(kept):
    bank, ids = kept
    first = bank.retrieve(CANCEL_QUERY, k=1)[0].item
    assert first.item_id == ids["cancel"]
    bank.edit(ids["cancel"], title="Read the fare rules and the insurance before cancelling", actor="test")
    second = bank.retrieve(CANCEL_QUERY, k=1)[0].item
    assert second.item_id == ids["cancel"]
    assert second.title == "Read the fare rules and the insurance before cancelling"
    assert second.version == first.version + 1 and second.last_event_id > first.last_event_id


def test_a_withdrawal_between_two_retrieves_is_never_served(kept):
    bank, ids = kept
    assert bank.retrieve(CANCEL_QUERY, k=1)[0].item.item_id == ids["cancel"]
    bank.reject(ids["cancel"], actor="test")
    assert ids["cancel"] not in [h.item.item_id for h in bank.retrieve(CANCEL_QUERY, k=3)]


def test_a_write_by_another_store_of_this_process_is_seen(kept):
    """Two stores of one file in one process (a server's bank and a tool's): the other's write counts as a turn."""
    bank, ids = kept
    assert bank.retrieve(CANCEL_QUERY, k=1)[0].item.item_id == ids["cancel"]
    other = Bank(bank.store.path)
    other.reject(ids["cancel"], actor="test")
    assert ids["cancel"] not in [h.item.item_id for h in bank.retrieve(CANCEL_QUERY, k=3)]


REJECT = textwrap.dedent("""
    import sys
    from bankcore import Bank
    Bank(sys.argv[1]).reject(int(sys.argv[2]), actor="other process")
""")


def test_a_withdrawal_by_another_process_is_seen(kept):
    """The other process gets the file only when this one lets go, so the next retrieve opens anew and checks."""
    bank, ids = kept
    assert bank.retrieve(CANCEL_QUERY, k=1)[0].item.item_id == ids["cancel"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", REJECT, str(bank.store.path), str(ids["cancel"])],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ids["cancel"] not in [h.item.item_id for h in bank.retrieve(CANCEL_QUERY, k=3)]


def test_repeated_warm_retrieves_skip_the_signature_query_and_hand_out_copies(kept):
    bank, ids = kept
    bank.retrieve(CANCEL_QUERY, k=1)
    asked = []
    signature = bank.store.retrieval_signature
    bank.store.retrieval_signature = lambda: asked.append(1) or signature()
    try:
        hit = bank.retrieve(CANCEL_QUERY + " Thanks!", k=1)[0]
        hit.item.title = "changed by the caller"
        again = bank.retrieve(CANCEL_QUERY + " Please.", k=1)[0]
    finally:
        del bank.store.retrieval_signature
    assert asked == []
    assert again.item.title == LESSONS["cancel"][0]


# ------------------------------------------------------------------------------- the log written behind the callers
def test_a_retrieve_does_not_wait_for_the_log_being_written_behind_it(kept, monkeypatch):
    """The batch is written on its own cursor without the retrievals' turn: a retrieve that lands while a (here
    slowed) write is under way answers at once; the next other call waits for that write and reads both rows."""
    bank, ids = kept
    monkeypatch.setattr(RetrievalBatch, "flush_after_s", 0.0)
    store, started = bank.store, threading.Event()
    insert = store._insert_retrievals

    def slow_insert(con, rows):
        if threading.current_thread() is not threading.main_thread():
            started.set()
            time.sleep(3.0)
        insert(con, rows)

    monkeypatch.setattr(store, "_insert_retrievals", slow_insert)
    bank.retrieve(CANCEL_QUERY, k=1, task_id="behind-1")
    assert started.wait(30), "the batch was never written behind the caller"
    bank.retriever.embedder.embed_query(f"{CANCEL_QUERY} (behind)")  # the embedding is not what is timed
    t = time.monotonic()
    hits = bank.retrieve(f"{CANCEL_QUERY} (behind)", k=1, task_id="behind-2")
    assert time.monotonic() - t < 2.0, "the retrieve waited for the log write under way"
    assert hits[0].item.item_id == ids["cancel"]
    logged = [(r.retrieval_id, r.task_id) for r in store.iter_retrievals()]
    assert logged == [(1, "behind-1"), (2, "behind-2")]


def test_every_retrieve_is_logged_once_across_writes_behind_lets_go_and_reopening(kept, monkeypatch):
    """Two threads retrieving while the writer behind runs often, the file let go and kept again in between, and a
    fresh Bank on the same file afterwards: every retrieval is in the file exactly once, each thread's in its order."""
    bank, ids = kept
    monkeypatch.setattr(RetrievalBatch, "flush_after_s", 0.005)
    calls = 12

    def agent(name: str) -> None:
        for i in range(calls):
            bank.retrieve(f"{CANCEL_QUERY} ({name})", k=2, task_id=f"{name}-{i}", min_similarity=-1.0)

    threads = [threading.Thread(target=agent, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for _ in range(3):
        time.sleep(0.05)
        bank.keep_open(0)  # let go: what waits is written first
        bank.keep_open(60)
    for thread in threads:
        thread.join()
    bank.keep_open(0)
    again = Bank(bank.store.path)
    again.keep_open(60)
    again.retrieve(CANCEL_QUERY, k=2, task_id="c-0", min_similarity=-1.0)
    again.keep_open(0)
    rows = written(bank.store.path)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # ids unique, in logging order
    tasks = [r[1] for r in rows]
    assert len(rows) == 2 * (2 * calls + 1) and all(tasks.count(t) == 2 for t in set(tasks))
    for name in ("a", "b"):
        mine = [t for t in tasks if t.startswith(f"{name}-")]
        assert mine == [f"{name}-{i}" for i in range(calls) for _ in range(2)]


def test_kept_and_closed_retrieves_return_the_same_hits(kept):
    bank, _ = kept
    queries = [CANCEL_QUERY, "How many suitcases can I check for free?", "Find the cheapest blender in the shop"]
    warm = [[(h.item.item_id, h.rank, h.score) for h in bank.retrieve(q, k=3, min_similarity=-1.0, task_id="same")]
            for q in queries]
    bank.keep_open(0)
    cold = [[(h.item.item_id, h.rank, h.score) for h in Bank(bank.store.path).retrieve(q, k=3, min_similarity=-1.0,
                                                                                       task_id="same")]
            for q in queries]
    assert warm == cold and all(len(hits) == 3 for hits in warm)


KILLED = textwrap.dedent("""
    import sys, time
    from bankcore import Bank
    from bankcore.store.log_batch import RetrievalBatch
    RetrievalBatch.flush_after_s = 0.0
    bank = Bank(sys.argv[1])
    bank.keep_open(60)
    for i in range(2):
        bank.retrieve("Hi, I need to cancel my flight reservation and get a refund.", k=1, task_id=f"w{i}")
    while len(bank.store._log):  # written behind
        time.sleep(0.01)
    time.sleep(0.2)
    RetrievalBatch.flush_after_s = 3600.0
    bank.retrieve("Hi, I need to cancel my flight reservation and get a refund.", k=1, task_id="lost")
    print("ready", flush=True)
    time.sleep(600)
""")


def test_kill_9_loses_only_the_rows_not_yet_written(kept):
    """What a crash costs: the rows still waiting in the batch; what was written stays, and the bank opens."""
    bank, _ = kept
    bank.keep_open(0)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(bank.store.path)], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    assert [r[1] for r in written(bank.store.path)] == ["w0", "w1"]
