"""The search structure: retrievable items as a normalised float32 matrix in process, kept in step with the bank.

A DuckDB scan per query is 4.5–9× slower than numpy over a matrix, and reloading vectors per query is slower
still, so the cache loads once — metadata through Arrow with no per-row Python, vectors memory-mapped from the
snapshot beside the bank where it is current (`vector_snapshot.py`), the rest read by id — and afterwards asks the
bank one cheap question per query, its signature (last event id, counts), applying only the items whose last event
is newer than the one it saw. Items are never deleted and every change is an event, so that is exact.

Rows hold approved and pending items embedded by the current model — their retrieval vectors (the item's own
`embedding`, `embed.RECIPE`); the whole-lesson vectors consolidation compares live apart and never load here. Per row: item id, state (approved / pending /
gone), domain and source codes, confidence, and — per task id — the items whose provenance includes that task
(leave-one-task-out). Everything a query filters on is an array or a small index list: no Python loop over items.
Items embedded by another model are not loaded: they are counted, and `warnings()` says so.

Warm, with the bank file kept open (`CoreStore.keep_open`), even the signature query is skipped while the store's
`change_token` says nothing but retrieval has touched the file since the last check; and the rows of items returned
recently are kept here too (`items`), dropped whenever the check finds those items changed.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import TYPE_CHECKING

from . import vector_snapshot
from ..lazy import lazy_module
from ..models import MemoryItem, VectorRows

if TYPE_CHECKING:
    from ..store.protocols import VectorSource

np = lazy_module("numpy", globals())

APPROVED, PENDING, GONE = 0, 1, 2
RETRIEVABLE = ("approved", "pending")
_STATE = {"approved": APPROVED, "pending": PENDING}


class VectorCache:
    """One bank's retrievable vectors and their metadata. Not thread-safe: callers serialise `refresh`."""

    compact_at = 1024  # gone rows tolerated before compacting (or a tenth of the rows, if more)
    snapshot_min_rows = 20_000  # below this, reading vectors from the bank is as fast as a snapshot (~0.1 s)
    items_kept = 4096  # item rows kept for hits served again (without vectors: ~1 KB each)

    def __init__(self, store: VectorSource, model_id: str, dim: int):
        self.store, self.model_id, self.dim = store, model_id, dim
        self.signature: tuple[int, ...] | None = None
        self.census: dict[str | None, int] = {}
        self.generation = 0  # bumped whenever rows change, so derived arrays know to recompute
        self.last_load: dict[str, int] = {}  # where the last full load found its vectors
        self._token: object | None = None  # the store's change token at the last check (None: always ask the bank)
        self._items: OrderedDict[int, MemoryItem] = OrderedDict()  # recent hits' rows, least recently used first
        self._clear()

    def _clear(self) -> None:
        self.n = 0
        self._vectors = np.empty((0, self.dim), np.float32)
        self._ids = np.empty(0, np.int64)
        self._state = np.empty(0, np.int8)
        self._domain = np.empty(0, np.int32)
        self._source = np.empty(0, np.int32)
        self._confidence = np.empty(0, np.float32)
        self._row_of = np.full(1, -1, np.int64)  # item id → row, −1 when absent
        self.domain_codes: dict[str, int] = {}
        self.source_codes: dict[str, int] = {}
        self.task_items: dict[str, np.ndarray] = {}
        self._blocked: dict[bool, np.ndarray] = {}
        self._items.clear()

    # ------------------------------------------------------------------ views (rows [0, n))
    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[:self.n]

    @property
    def item_ids(self) -> np.ndarray:
        return self._ids[:self.n]

    @property
    def state(self) -> np.ndarray:
        return self._state[:self.n]

    @property
    def confidence(self) -> np.ndarray:
        return self._confidence[:self.n]

    def row_of(self, item_id: int) -> int | None:
        row = int(self._row_of[item_id]) if 0 <= item_id < len(self._row_of) else -1
        return None if row < 0 else row

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each item id, aligned with the input; −1 for items without a row."""
        ids = np.asarray(item_ids, dtype=np.int64)
        known = (ids >= 0) & (ids < len(self._row_of))
        rows = np.full(len(ids), -1, np.int64)
        rows[known] = self._row_of[ids[known]]
        return rows

    @property
    def nbytes(self) -> int:
        """Resident size of the structure (arrays at their allocated capacity, plus the task index)."""
        arrays = (self._vectors, self._ids, self._state, self._domain, self._source, self._confidence, self._row_of)
        return sum(a.nbytes for a in arrays) + sum(a.nbytes + 100 for a in self.task_items.values())

    # ------------------------------------------------------------------ filters
    def blocked(self, include_pending: bool) -> np.ndarray:
        """Rows a query may not return because of their state (pending unless asked for; gone always)."""
        if include_pending not in self._blocked:
            self._blocked[include_pending] = np.flatnonzero(
                self.state == GONE if include_pending else self.state != APPROVED)
        return self._blocked[include_pending]

    def task_rows(self, task_id: str | None) -> np.ndarray:
        """Rows of items whose provenance includes `task_id` (and so may not be shown to that task)."""
        items = self.task_items.get(task_id) if task_id is not None else None
        if items is None:
            return np.empty(0, np.int64)
        rows = self.rows_of(items)
        return rows[rows >= 0]

    def eligible(self, domain: str | None = None, source: str | tuple[str, ...] | None = None) -> np.ndarray | None:
        """Boolean mask for the domain / source filters, or None when there is none. An unknown value matches nothing."""
        mask = None
        if domain is not None:
            mask = self._domain[:self.n] == self.domain_codes.get(domain, -2)
        if source is not None:
            sources = source_tuple(source)
            codes = [self.source_codes[s] for s in sources if s in self.source_codes]
            by_source = np.isin(self._source[:self.n], codes)
            mask = by_source if mask is None else mask & by_source
        return mask

    # ------------------------------------------------------------------ keeping in step with the bank
    def refresh(self) -> bool:
        """Bring the cache up to date with the bank; returns whether anything was reloaded.

        Costs one signature query when nothing changed, nothing at all while the store's change token is unchanged.
        Call inside `store.searching()` (or a transaction) to share its connection and turn.
        """
        token = self.store.change_token()
        if token is not None and token == self._token and self.signature is not None:
            return False
        signature = self.store.retrieval_signature()
        self._token = token
        vector_part = signature[:3]
        if self.signature is not None and vector_part == self.signature[:3]:
            self.signature = signature
            return False
        if self.signature is None or vector_part[0] <= self.signature[0]:
            self._clear()  # first load, or the bank was replaced / written around its events
            self._apply(self.store.vector_rows(self.model_id), full=True)
        else:
            self._apply(self.store.vector_rows(self.model_id, changed_since=self.signature[0]), full=False)
        self.census = self.store.embedding_census(RETRIEVABLE)
        self.signature = signature
        return True

    def items(self, item_ids: list[int]) -> dict[int, MemoryItem]:
        """The current rows (without vectors) of `item_ids`, by id: kept ones from memory, the rest read once and
        kept. Valid between refreshes, which drop the rows of items that changed; callers get copies."""
        missing = [i for i in item_ids if i not in self._items]
        if missing:
            for item in self.store.get_items(missing, with_embedding=False):
                self._items[item.item_id] = item
            while len(self._items) > self.items_kept:
                self._items.popitem(last=False)
        out = {}
        for item_id in item_ids:
            item = self._items.get(item_id)
            if item is not None:
                self._items.move_to_end(item_id)
                out[item_id] = copy.deepcopy(item)
        return out

    def _apply(self, rows: VectorRows, *, full: bool) -> None:
        if not full:
            for item_id in rows.item_ids.tolist():
                self._items.pop(item_id, None)
        state = _state_codes(rows)
        domain = _recode(rows.domain, rows.domains, self.domain_codes)
        source = _recode(rows.source, rows.sources, self.source_codes)
        self._grow_row_index(int(rows.item_ids.max()) if len(rows.item_ids) else 0)
        if full:
            self._adopt(rows, state, domain, source)
        else:
            self._patch(rows, state, domain, source)
        self._add_tasks(None if full else rows.item_ids[rows.usable])
        if np.count_nonzero(self.state == GONE) > max(self.compact_at, self.n // 10):
            self._compact()
        self._blocked.clear()
        self.generation += 1

    def _adopt(self, rows: VectorRows, state, domain, source) -> None:
        """A full load: every row usable, in item id order. Vectors come from the snapshot beside the bank where
        it has them current, the rest from the bank; a snapshot that had to be topped up a lot is rewritten."""
        self._vectors = self._load_vectors(rows)
        self._ids, self._state = rows.item_ids, state
        self._domain, self._source, self._confidence = domain, source, rows.confidence
        self.n = len(rows.item_ids)
        self._row_of[self._ids] = np.arange(self.n)

    def _load_vectors(self, rows: VectorRows) -> np.ndarray:
        n = len(rows.item_ids)
        if n < self.snapshot_min_rows:
            self.last_load = {"rows": n, "from_snapshot": 0, "from_bank": n}
            return self.store.item_vectors(rows.item_ids, self.dim)
        bank_id = self.store.bank_id()
        snapshot = vector_snapshot.read(self.store.path, bank_id=bank_id, model_id=self.model_id, dim=self.dim)
        at = vector_snapshot.lookup(snapshot, rows.item_ids, rows.last_event)
        stale = at < 0
        if snapshot is not None and not stale.any() and len(snapshot.item_ids) == n:
            vectors = snapshot.vectors  # the same rows in the same order: map it, copy-on-write
        elif stale.all():
            vectors = self.store.item_vectors(rows.item_ids, self.dim)  # filled in place: no second matrix
        else:
            vectors = np.empty((n, self.dim), np.float32)
            _copy_rows(vectors, np.flatnonzero(~stale), snapshot.vectors, at[~stale])
            vectors[stale] = self.store.item_vectors(rows.item_ids[stale], self.dim)
        fetched = int(stale.sum())
        self.last_load = {"rows": n, "from_snapshot": n - fetched, "from_bank": fetched}
        if snapshot is None or fetched > max(self.snapshot_min_rows, n // 10):
            vector_snapshot.write(self.store.path, bank_id=bank_id, model_id=self.model_id,
                                  item_ids=rows.item_ids, last_events=rows.last_event, vectors=vectors)
        return vectors

    def _patch(self, rows: VectorRows, state, domain, source) -> None:
        """Changed items: update their rows in place (marking the unusable ones gone), append the new ones."""
        usable = np.flatnonzero(rows.usable)
        vectors = self.store.item_vectors(rows.item_ids[usable], self.dim)
        existing = self._row_of[rows.item_ids]
        here = existing >= 0
        if here.any():
            at = existing[here]
            self._state[at] = state[here]
            self._domain[at], self._source[at] = domain[here], source[here]
            self._confidence[at] = rows.confidence[here]
        rewritten = existing[usable] >= 0
        self._vectors[existing[usable][rewritten]] = vectors[rewritten]
        new = ~here & rows.usable
        count = int(new.sum())
        if count:
            self._reserve(self.n + count)
            at = np.arange(self.n, self.n + count)
            self._vectors[at] = vectors[~rewritten]
            self._ids[at] = rows.item_ids[new]
            self._state[at], self._domain[at], self._source[at] = state[new], domain[new], source[new]
            self._confidence[at] = rows.confidence[new]
            self._row_of[rows.item_ids[new]] = at
            self.n += count

    def _add_tasks(self, item_ids: np.ndarray | None) -> None:
        """Index the tasks of `item_ids` (all retrievable items when None). Provenance never changes after an
        item is written, so entries are only ever added."""
        if item_ids is not None and not len(item_ids):
            return
        ids, codes, tasks = self.store.item_task_pairs(item_ids, retrievable_only=item_ids is None)
        if not len(ids):
            return
        order = np.argsort(codes, kind="stable")
        codes, ids = codes[order], ids[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        for code, group in zip(codes[starts], np.split(ids, starts[1:])):
            task = tasks[code]
            known = self.task_items.get(task)
            self.task_items[task] = group if known is None else np.union1d(known, group)

    def _reserve(self, rows: int) -> None:
        """Grow the row arrays geometrically (by 1/8: at a million items each step is 190 MB, not 750) so that
        appends stay amortised O(1)."""
        capacity = len(self._ids)
        if rows <= capacity:
            return
        capacity = max(rows, capacity + capacity // 8 + 1024)
        for name in ("_vectors", "_ids", "_state", "_domain", "_source", "_confidence"):
            old = getattr(self, name)
            grown = np.empty((capacity, *old.shape[1:]), old.dtype)
            grown[:self.n] = old[:self.n]
            setattr(self, name, grown)

    def _grow_row_index(self, max_item_id: int) -> None:
        if max_item_id >= len(self._row_of):
            grown = np.full(max(max_item_id + 1, int(len(self._row_of) * 1.5)), -1, np.int64)
            grown[:len(self._row_of)] = self._row_of
            self._row_of = grown

    def _compact(self) -> None:
        """Drop rows that are gone for good (rejected, superseded, re-embedded away) once they are 10% of rows."""
        keep = np.flatnonzero(self.state != GONE)
        gone_ids = self.item_ids[self.state == GONE]
        for name in ("_vectors", "_ids", "_state", "_domain", "_source", "_confidence"):
            setattr(self, name, getattr(self, name)[keep])
        self.n = len(keep)
        self._row_of[gone_ids] = -1
        self._row_of[self._ids] = np.arange(self.n)

    # ------------------------------------------------------------------ what was left out
    def warnings(self) -> list[str]:
        """Why some approved/pending items cannot be retrieved right now, one line each."""
        out = []
        for model, count in sorted(self.census.items(), key=lambda kv: str(kv[0])):
            if model is None:
                out.append(f"{count} approved/pending item(s) have no embedding yet and are skipped: "
                           "run `bankcore reembed`")
            elif model != self.model_id:
                out.append(f"{count} approved/pending item(s) are embedded with {model}, not {self.model_id}, "
                           "and are skipped (vectors from different models are never mixed): run `bankcore reembed`")
        return out


def _copy_rows(target: np.ndarray, to_rows: np.ndarray, source: np.ndarray, from_rows: np.ndarray,
               block: int = 8192) -> None:
    """target[to_rows] = source[from_rows], a block of rows at a time: the one-line form builds the whole gathered
    matrix first, a transient copy as big as the snapshot."""
    for i in range(0, len(to_rows), block):
        target[to_rows[i:i + block]] = source[from_rows[i:i + block]]


def source_tuple(source: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A query's source filter as a tuple (one source may be given as a plain string), or None for no filter."""
    return None if source is None else ((source,) if isinstance(source, str) else tuple(source))


def _state_codes(rows: VectorRows) -> np.ndarray:
    by_code = np.array([_STATE.get(name, GONE) for name in rows.statuses] or [GONE], np.int8)
    state = by_code[np.maximum(rows.status, 0)]
    state[~rows.usable] = GONE
    return state


def _recode(codes: np.ndarray, names: list[str], lookup: dict[str, int]) -> np.ndarray:
    """Translate a batch's local string codes into the cache's own (stable across refreshes)."""
    mapping = np.array([lookup.setdefault(name, len(lookup)) for name in names] or [0], np.int32)
    return np.where(codes >= 0, mapping[np.maximum(codes, 0)], -1).astype(np.int32)
