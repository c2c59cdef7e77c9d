"""Retrievals logged but not yet written: what a store that keeps its file open (`CoreStore.keep_open`) holds back
so that a warm retrieve does not pay for a write transaction (~4 ms at 100k items, most of it `max(id) + 1` and the
commit) on every call.

The store writes a batch in one transaction, in the order the rows were logged: within `flush_after_s` of the first
row, at once when `max_rows` are waiting, before any other call of the process touches the bank (so `Bank.record`,
metrics, the leakage audit and usefulness always read a complete log), before the kept connection is let go (another
process may read next), on `keep_open(0)` and at interpreter exit. A crash — a kill, a power cut — loses at most the
rows of the last `flush_after_s`.
"""

from __future__ import annotations

import threading
import time

from ..models import Retrieval


class RetrievalBatch:
    """Thread-safe queue of `Retrieval` rows waiting to be written, oldest first."""

    flush_after_s = 0.25
    max_rows = 256

    def __init__(self) -> None:
        self._rows: list[Retrieval] = []
        self._first_at = 0.0  # monotonic time the oldest waiting row was logged
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: list[Retrieval]) -> bool:
        """Queue `rows`; True when the batch is full and should be written now."""
        with self._guard:
            if not self._rows:
                self._first_at = time.monotonic()
            self._rows.extend(rows)
            return len(self._rows) >= self.max_rows

    def due(self) -> bool:
        """Whether the oldest waiting row has waited `flush_after_s`."""
        return bool(self._rows) and time.monotonic() - self._first_at >= self.flush_after_s

    def take(self) -> list[Retrieval]:
        """Every waiting row, oldest first; the batch is empty afterwards."""
        with self._guard:
            rows, self._rows = self._rows, []
            return rows

    def put_back(self, rows: list[Retrieval]) -> None:
        """Rows whose write failed go back in front of any logged since, keeping the log's order."""
        with self._guard:
            self._rows[:0] = rows
            self._first_at = time.monotonic() - self.flush_after_s  # due again at the next chance
