"""Retrievals logged but not yet written: what a store that keeps its file open (`CoreStore.keep_open`) holds back
so that a warm retrieve does not pay for a write transaction (~4 ms at 100k items, most of it `max(id) + 1` and the
commit) on every call.

The store's watcher thread writes a batch in one transaction, in the order the rows were logged, on a cursor of its
own while retrievals go on reading — a retrieve never waits for it (at 100k items, waiting for a write that had
just begun was most of the p95) — within `flush_after_s` of the first row, or at once when `max_rows` are waiting.
Every other call of the process writes what is waiting first, after any write under way (so `Bank.record`, metrics,
the leakage audit and usefulness always read a complete log); so do letting go of the kept connection (another
process may read next), `keep_open(0)` and the interpreter's exit. Only past `overflow_rows` (the writes keep
failing) does a retrieve write the batch itself, so that the failure reaches a caller and memory stays bounded.

A crash — `kill -9`, a power cut — loses the rows not yet written: at most the last `flush_after_s` of retrievals
(the write under way is one transaction: all of its rows or none). A clean exit loses nothing.
"""

from __future__ import annotations

import threading
import time

from ..models import Retrieval


class RetrievalBatch:
    """Thread-safe queue of `Retrieval` rows waiting to be written, oldest first."""

    flush_after_s = 0.25
    max_rows = 256
    overflow_rows = 4096

    def __init__(self) -> None:
        self._rows: list[Retrieval] = []
        self._first_at = 0.0  # monotonic time the oldest waiting row was logged
        self._guard = threading.Lock()
        self._full = threading.Event()  # wakes the writer before its next poll

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: list[Retrieval]) -> None:
        """Queue `rows`; a full batch wakes the writer (`wait`)."""
        with self._guard:
            if not self._rows:
                self._first_at = time.monotonic()
            self._rows.extend(rows)
            if len(self._rows) >= self.max_rows:
                self._full.set()

    def wait(self, timeout: float) -> None:
        """The writer's poll: returns after `timeout`, or as soon as the batch is full."""
        self._full.wait(timeout)

    def due(self) -> bool:
        """Whether the batch should be written: full, or its oldest row has waited `flush_after_s`."""
        return bool(self._rows) and (len(self._rows) >= self.max_rows
                                     or time.monotonic() - self._first_at >= self.flush_after_s)

    def overflowing(self) -> bool:
        """Whether so many rows wait (the writes behind keep failing) that the retrieve must write them itself."""
        return len(self._rows) >= self.overflow_rows

    def take(self) -> list[Retrieval]:
        """Every waiting row, oldest first; the batch is empty afterwards."""
        with self._guard:
            rows, self._rows = self._rows, []
            self._full.clear()
            return rows

    def put_back(self, rows: list[Retrieval]) -> None:
        """Rows whose write failed go back in front of any logged since, keeping the log's order."""
        with self._guard:
            self._rows[:0] = rows
            self._first_at = time.monotonic() - self.flush_after_s  # due again at the next chance
