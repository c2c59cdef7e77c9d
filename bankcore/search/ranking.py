"""Ranking memory items for a query: pure functions over arrays. No I/O, no state, no knowledge of the bank.

Anything that holds candidate items — the live search cache, a past state of the bank (`Bank.as_of`), a test —
ranks them the same way: `score(...)` gives every candidate a score (−inf where it may not be retrieved), `top(...)`
takes the best k and `place(...)` says where one candidate stands. Order is by score, then by item id, so equal
scores always break the same way and `place` agrees with `top` exactly.

Two rankings:

* **cosine** (the default, as in the paper): score = cos(query, item). It needs no history, so it is right for a
  new bank and for any lesson that has not been retrieved often enough to have a measured effect.
* **hybrid**: score = cos + bonus, bonus = w_conf·(confidence − ½) + w_use·usefulness, where usefulness is the
  item's measured lift in success rate, shrunk towards 0 while evidence is thin (see `usefulness.py`). The bonus is
  bounded (±0.125 with the default weights), so it only reorders lessons that are already close in meaning: it
  wins when near-duplicate lessons differ in how well they worked, and loses when an extractor's confidence is
  miscalibrated or a popular lesson's lift comes from the tasks it happened to be shown to, not from the lesson.
  Both cases are shown in tests/test_ranking.py and tests/test_retrieve_real.py.

Minimum similarity always applies to the cosine, never to the hybrid score: a bonus cannot make an unrelated
lesson relevant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..lazy import lazy_module

np = lazy_module("numpy", globals())

RANKINGS = ("cosine", "hybrid")


@dataclass(frozen=True)
class HybridWeights:
    """How much confidence and measured usefulness move an item, in units of cosine similarity."""

    confidence: float = 0.05  # confidence 1.0 vs 0.0 is worth 0.05 cosine: a tie-breaker, extractors are not calibrated
    usefulness: float = 0.10  # a lift of +1.0 (always helps) is worth 0.10 cosine


@dataclass(frozen=True)
class Scored:
    """Every candidate's ranking score for one query. A candidate is eligible when its score is finite and at
    least `floor` (the minimum similarity, when the score is the cosine itself; −inf otherwise)."""

    item_ids: np.ndarray  # int64, one per candidate
    score: np.ndarray  # float32, −inf where ineligible
    floor: float = -math.inf

    def eligible(self, value) -> bool:
        return value > -np.inf and value >= self.floor


@dataclass(frozen=True)
class Ranked:
    row: int
    item_id: int
    score: float


def hybrid_bonus(confidence: np.ndarray, usefulness: np.ndarray, weights: HybridWeights = HybridWeights()
                 ) -> np.ndarray:
    """Per-item bonus for the hybrid ranking. Unknown confidence counts as ½ and unknown usefulness as 0 (neutral)."""
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float32), nan=0.5)
    use = np.nan_to_num(np.asarray(usefulness, dtype=np.float32), nan=0.0)
    return (weights.confidence * (np.clip(conf, 0.0, 1.0) - 0.5)
            + weights.usefulness * np.clip(use, -1.0, 1.0)).astype(np.float32)


def cosines(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each row's dot product with `query` (the cosine, both being normalised).

    numpy's own SIMD dot per row, not BLAS: OpenBLAS's sgemv took twice the time and CPU on a (100k, 384) float32
    matrix (15 vs 7 ms on an idle 2-core machine, 50 vs 20 ms loaded). A row's result does not depend on the rows
    around it, so scoring one item alone (`explain`) gives the very bits ranking all of them does."""
    return np.einsum("ij,j->i", vectors, np.asarray(query, dtype=vectors.dtype))


def score(query: np.ndarray, vectors: np.ndarray, item_ids: np.ndarray, *, bonus: np.ndarray | None = None,
          eligible: np.ndarray | None = None, blocked: np.ndarray | None = None,
          min_similarity: float | None = None) -> Scored:
    """Score every candidate.

    `vectors` are L2-normalised rows (so a dot product is the cosine) and `query` a normalised vector. `eligible` is
    a boolean mask and `blocked` an array of row indices; both remove candidates (blocked is cheaper when few are
    removed). `bonus` turns cosine into the hybrid score. Candidates below `min_similarity` cosine are removed.

    The cosine ranking works in place on the product's own array and applies the minimum as a floor at selection
    time, so the default path costs one pass over the matrix like a bare `X @ q`; the hybrid ranking needs the
    cosine and the score apart, and masks.
    """
    cosine = cosines(query, vectors)
    floor = np.float32(-np.inf)
    if bonus is None:
        result = cosine
        if min_similarity is not None:
            floor = np.float32(min_similarity)
    else:
        result = cosine + bonus
        if min_similarity is not None:
            np.copyto(result, np.float32(-np.inf), where=below(cosine, min_similarity))
    if blocked is not None and len(blocked):
        result[blocked] = -np.inf
    if eligible is not None:
        np.copyto(result, np.float32(-np.inf), where=~eligible)
    return Scored(item_ids=item_ids, score=result, floor=float(floor))


def top(scored: Scored, k: int) -> list[Ranked]:
    """The best `k` eligible candidates, best first (score descending, then item id ascending)."""
    s = scored.score
    n = len(s)
    k = min(int(k), n)
    if k <= 0:
        return []
    if k < n:
        rows = np.argpartition(s, n - k)[n - k:]
        kth = s[rows].min()
        if kth == -np.inf:
            rows = np.flatnonzero(s > -np.inf)  # fewer than k eligible: all of them
        elif np.count_nonzero(s >= kth) > k:
            rows = np.flatnonzero(s >= kth)  # a tie straddles the cut: let the item id decide who is in
    else:
        rows = np.arange(n)
    rows = rows[np.lexsort((scored.item_ids[rows], -s[rows]))][:k]
    return [Ranked(int(r), int(scored.item_ids[r]), float(s[r])) for r in rows if scored.eligible(s[r])]


def below(cosine, min_similarity: float):
    """Cosine under the minimum, compared in float32 as the vectors are (so every caller agrees at the edge)."""
    return np.asarray(cosine, np.float32) < np.float32(min_similarity)


def ahead(scored: Scored, score: float, item_id: int) -> int:
    """How many eligible candidates `top` orders before an item with this score and id (eligible or not)."""
    value = np.float32(score)
    if value < scored.floor:  # only candidates at or above the floor are eligible
        return int(np.count_nonzero(scored.score >= np.float32(scored.floor)))
    ties = scored.score == value
    return int(np.count_nonzero(scored.score > value)) + int(np.count_nonzero(scored.item_ids[ties] < item_id))


def place(scored: Scored, row: int) -> int | None:
    """1-based position of candidate `row` in the full order `top` uses, or None if it is not eligible."""
    value = scored.score[row]
    return ahead(scored, value, int(scored.item_ids[row])) + 1 if scored.eligible(value) else None


def rank(query: np.ndarray, vectors: np.ndarray, item_ids: np.ndarray, k: int, **options) -> list[Ranked]:
    """`top(score(...), k)`: the whole ranking in one call, for callers that do not need `place`."""
    return top(score(query, vectors, item_ids, **options), k)
