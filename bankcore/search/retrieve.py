"""Retrieval: the lessons that matter for the next task, never one learned from that same task.

`Retriever.retrieve` embeds the query, brings the in-process vector cache up to date (one cheap signature query,
none while a kept-open bank file saw nothing but retrieval), ranks with the pure functions of `ranking.py`, loads
the winning items (recent ones are kept with the vectors) and logs what was shown — all on one connection, the log
batched where the store keeps its file open (`store.log_batch`). `explain` runs the very same scoring and says where an item stands and why it was or was not returned,
so the two cannot disagree.

What a query may return, by default: approved items, embedded by the current model, whose provenance does not
include the query's task (leave-one-task-out: an item's tasks are those of the trajectories it cites, inherited
through merges), within the domain/source filters, and at least `min_similarity` cosine away from unrelated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import ranking
from .embed import Embedder
from ..errors import BankcoreError
from ..lazy import lazy_module
from ..models import FLAG_SOURCE_REJUDGED, Hit, MemoryItem, Retrieval
from .ranking import HybridWeights, Ranked, Scored
from .reembed import reembed
from .vectors import GONE, RETRIEVABLE, VectorCache, source_tuple

if TYPE_CHECKING:
    from ..store.protocols import RetrievalStore

np = lazy_module("numpy", globals())

MAX_K = 50
AUTO_EMBED_LIMIT = 256  # retrieval embeds up to this many vector-less items itself (~2 s); more need `reembed`
# `vector_search="auto"` asks the bank's vector index (PostgreSQL's HNSW) from this many retrievable items up: below
# it, loading every vector into this process once is cheap and the search in memory is faster than a round trip.
INDEX_MIN_ITEMS = 20_000
VECTOR_SEARCHES = ("auto", "memory", "index")


@dataclass(frozen=True)
class Query:
    """Everything that decides a retrieval's outcome; `retrieve` and `explain` take the same one."""

    text: str
    k: int = 1
    task_id: str | None = None
    domain: str | None = None
    source: str | tuple[str, ...] | None = None
    include_pending: bool = False
    ranking: str = "cosine"
    min_similarity: float | None = None

    def check(self) -> "Query":
        if not self.text or not self.text.strip():
            raise BankcoreError("query must not be empty")
        if not 1 <= self.k <= MAX_K:
            raise BankcoreError(f"k must be between 1 and {MAX_K} (got {self.k}); the paper's best is k=1")
        if self.ranking not in ranking.RANKINGS:
            raise BankcoreError(f"unknown ranking {self.ranking!r} (choose {' or '.join(ranking.RANKINGS)})")
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise BankcoreError(f"minimum similarity must be a cosine in [-1, 1] (got {self.min_similarity})")
        return self


@dataclass
class Explanation:
    """Where one item stands for one query, and every reason it was or was not retrieved."""

    item_id: int
    query: str
    k: int
    retrieved: bool
    rank: int | None  # 1-based place among what this query may return; None when the item may not be returned
    outranked_by: int  # eligible items that rank above it
    score: float | None
    cosine: float | None
    reasons: list[str] = field(default_factory=list)  # codes: status, same_task, domain, source, no_vector, ...
    details: list[str] = field(default_factory=list)  # one sentence per reason

    def summary(self) -> str:
        where = f"rank {self.rank}" if self.rank is not None else "not eligible"
        cos = "" if self.cosine is None else f", cosine {self.cosine:.3f}"
        score = "" if self.score is None or self.score == self.cosine else f", score {self.score:.3f}"
        head = f"item {self.item_id}: {'retrieved' if self.retrieved else 'not retrieved'} ({where}{cos}{score}; k={self.k})"
        return "\n".join([head, *[f"  - {line}" for line in self.details]])


class Retriever:
    """Retrieval over one bank: a vector cache, an embedder and the default settings."""

    def __init__(self, store: RetrievalStore, embedder: Embedder, *, min_similarity: float,
                 weights: HybridWeights = HybridWeights(), vector_search: str = "auto"):
        if vector_search not in VECTOR_SEARCHES:
            raise BankcoreError(f"unknown vector search {vector_search!r} (choose {', '.join(VECTOR_SEARCHES)})")
        self.store, self.embedder = store, embedder
        self.min_similarity = min_similarity
        self.weights = weights
        self.vector_search = vector_search
        self._index_worth_it: bool | None = None
        self.cache = VectorCache(store, embedder.model_id, embedder.dim)
        self._lock = threading.RLock()
        self._bonus_key: tuple | None = None
        self._bonus = np.empty(0, np.float32)
        self._usefulness: dict[int, float] = {}

    # ------------------------------------------------------------------ public
    def retrieve(self, query: Query, *, log: bool = True, traj_id: str | None = None,
                 run_id: int | None = None) -> list[Hit]:
        """Top-k hits for `query`. Logged (task, trajectory, item, rank, score, k) when made for a task."""
        query = self._with_defaults(query).check()
        vector = self.embedder.embed_query(query.text)  # the slow part, done before touching the bank
        with self._lock, self.store.searching():
            found = self._from_index(vector, query) if self.uses_index(query) else None
            if found is None:
                self._refresh()
                ranked, items = self._from_memory(vector, query)
                as_of = self.cache.signature[0]
            else:
                ranked, items = found
                as_of = self.store.retrieval_signature()[0]
            hits = [self._hit(items[r.item_id], r, place, query.ranking) for place, r in enumerate(ranked, 1)]
            if log and (query.task_id is not None or traj_id is not None) and hits:
                self.store.log_retrievals([
                    Retrieval(query=query.text, item_id=h.item.item_id, rank=h.rank, score=h.score, k=query.k,
                              task_id=query.task_id, traj_id=traj_id, run_id=run_id, as_of_event=as_of)
                    for h in hits])
        return hits

    def uses_index(self, query: Query) -> bool:
        """Whether `query` is answered by the bank's vector index rather than the in-process cache: never for the
        hybrid ranking (it adds a bonus to every item, which an index over vectors alone cannot rank by), only where
        the bank has an index (PostgreSQL), and under "auto" only for a bank big enough to be worth it."""
        if self.vector_search == "memory" or query.ranking != "cosine" or not self.store.searches_by_index():
            return False
        if self.vector_search == "index":
            return True
        if self._index_worth_it is None:
            self._index_worth_it = self.store.count_items(status=RETRIEVABLE) >= INDEX_MIN_ITEMS
        return self._index_worth_it

    def _from_memory(self, vector: np.ndarray, query: Query) -> tuple[list[Ranked], dict[int, MemoryItem]]:
        ranked = self.search(vector, query)
        return ranked, self.cache.items([r.item_id for r in ranked])

    def _from_index(self, vector: np.ndarray, query: Query) -> tuple[list[Ranked], dict[int, MemoryItem]] | None:
        """The top k from the bank's index, with the same rules as the cache (status, model, domain, source,
        leave-one-task-out, minimum similarity; best first, ties by item id). The index filters all but the source,
        so a source filter asks for more and keeps what matches; None when that still leaves the answer unsure
        (then the cache answers)."""
        sources = source_tuple(query.source)
        want = query.k if sources is None else min(query.k * 8, MAX_K * 8)
        statuses = ("approved", "pending") if query.include_pending else ("approved",)
        nearest = self.store.nearest_items(vector, want, model=self.embedder.model_id, statuses=statuses,
                                           domain=query.domain,
                                           exclude_tasks=[query.task_id] if query.task_id is not None else ())
        items = {i.item_id: i for i in self.store.query_items(item_ids=[item_id for item_id, _ in nearest])}
        floor = query.min_similarity
        kept = [(item_id, cosine) for item_id, cosine in nearest
                if (sources is None or items[item_id].source in sources)
                and (floor is None or not ranking.below(np.float32(cosine), floor))]
        if sources is not None and len(kept) < query.k and len(nearest) == want:
            return None  # more of that source may lie beyond what was asked for
        ranked = [Ranked(row=-1, item_id=item_id, score=float(np.float32(cosine))) for item_id, cosine in kept[:query.k]]
        return ranked, items

    def search(self, vector: np.ndarray, query: Query) -> list[Ranked]:
        """Rank over the cache as it is (no refresh, no I/O): what the speed benchmark times."""
        return ranking.top(self._score(vector, query), query.k)

    def explain(self, query: Query, item_id: int) -> Explanation:
        query = self._with_defaults(query).check()
        vector = self.embedder.embed_query(query.text)
        with self._lock, self.store.transaction():
            self._refresh()
            item = self.store.get_item(item_id)
            scored = self._score(vector, query)
            return self._explain(item, query, vector, scored)

    def refresh(self) -> None:
        with self._lock, self.store.transaction():
            self._refresh()

    def warnings(self) -> list[str]:
        """Why some approved/pending items are not retrievable right now (other model, no vector)."""
        with self._lock:
            return self.cache.warnings()

    # ------------------------------------------------------------------ internals
    def _with_defaults(self, query: Query) -> Query:
        return query if query.min_similarity is not None else replace(query, min_similarity=self.min_similarity)

    def _refresh(self) -> None:
        if self.cache.refresh():
            missing = self.cache.census.get(None, 0)
            if 0 < missing <= AUTO_EMBED_LIMIT:
                reembed(self.store, self.embedder, actor="bankcore:retrieval", missing_only=True,
                        statuses=RETRIEVABLE, similarity=False)
                self.cache.refresh()

    def _score(self, vector: np.ndarray, query: Query) -> Scored:
        cache = self.cache
        blocked = cache.blocked(query.include_pending)
        same_task = cache.task_rows(query.task_id)
        if len(same_task):
            blocked = np.concatenate([blocked, same_task])
        return ranking.score(vector, cache.vectors, cache.item_ids,
                             bonus=self._hybrid_bonus() if query.ranking == "hybrid" else None,
                             eligible=cache.eligible(query.domain, query.source), blocked=blocked,
                             min_similarity=query.min_similarity)

    def _hybrid_bonus(self) -> np.ndarray:
        """Per-row bonus for the hybrid ranking; recomputed only when rows or usefulness evidence changed."""
        key = (self.cache.generation, self.cache.signature[3:], self.weights)
        if key != self._bonus_key:
            self._usefulness = {u.item_id: u.score for u in self.store.usefulness_counts()}
            ids = np.fromiter(self._usefulness, np.int64, len(self._usefulness))
            values = np.fromiter(self._usefulness.values(), np.float32, len(ids))
            rows = self.cache.rows_of(ids)
            usefulness = np.zeros(self.cache.n, np.float32)
            usefulness[rows[rows >= 0]] = values[rows >= 0]
            self._bonus = ranking.hybrid_bonus(self.cache.confidence, usefulness, self.weights)
            self._bonus_key = key
        return self._bonus

    def _hit(self, item: MemoryItem, r: Ranked, place: int, ranking_name: str) -> Hit:
        signals = {"cosine": r.score}
        if ranking_name == "hybrid":
            bonus = float(self._bonus[r.row])
            signals.update(cosine=r.score - bonus, bonus=bonus, usefulness=self._usefulness.get(item.item_id, 0.0))
        if item.confidence is not None:
            signals["confidence"] = float(item.confidence)
        return Hit(item=item, score=r.score, rank=place, signals=signals)

    def _explain(self, item: MemoryItem, query: Query, vector: np.ndarray, scored: Scored) -> Explanation:
        reasons = self._exclusions(item, query)
        row = self.cache.row_of(item.item_id)
        if row is not None and self.cache.state[row] == GONE:
            row = None  # a gone row may hold a stale vector
        cosine, score, ranked_as_is = self._item_scores(item, row, query, vector, scored)
        if cosine is not None and not ranked_as_is and ranking.below(cosine, query.min_similarity):
            reasons.append(("below_min_similarity", f"its cosine {cosine:.3f} is below the minimum similarity "
                                                    f"{query.min_similarity:.2f}"))
        rank = ranking.place(scored, row) if row is not None else None
        ahead = ranking.ahead(scored, score, item.item_id) if score is not None \
            else ranking.ahead(scored, -np.inf, item.item_id)
        if rank is not None and rank > query.k:
            reasons.append(("outranked", f"{ahead} eligible item(s) rank above it and k={query.k}"))
        retrieved = rank is not None and rank <= query.k
        details = [text for _, text in reasons]
        if retrieved:
            details = [f"it ranks {rank} of the items this query may return (k={query.k})"]
        elif rank is None and score is not None:
            details.append(f"were it eligible, {ahead} item(s) would rank above it")
        if item.status == "approved" and item.flags:  # flags ask a human; they do not withhold an approved item
            details.append(f"it is flagged ({', '.join(item.flags)}) and is served as approved until a reviewer "
                           "decides")
        elif item.status == "pending" and FLAG_SOURCE_REJUDGED in item.flags:
            details.append("it was withdrawn to the review queue when its source trajectory was relabelled: its "
                           "lesson may now be backwards")
        return Explanation(item_id=item.item_id, query=query.text, k=query.k, retrieved=retrieved, rank=rank,
                           outranked_by=ahead, score=score, cosine=cosine, reasons=[c for c, _ in reasons],
                           details=details)

    def _exclusions(self, item: MemoryItem, query: Query) -> list[tuple[str, str]]:
        """Every rule of this query that keeps `item` out, as (code, sentence); same rules as the cache's masks."""
        out = []
        current = self.embedder.model_id
        if item.embedding is None:
            out.append(("no_vector", "it has no embedding yet (run `bankcore reembed`)"))
        elif item.embedding_model != current or len(item.embedding) != self.embedder.dim:
            out.append(("wrong_model", f"it is embedded with {item.embedding_model}, not {current}: vectors from "
                                       "different models are never compared (run `bankcore reembed`)"))
        if item.status != "approved" and not (item.status == "pending" and query.include_pending):
            hint = " (pass include_pending to see pending items)" if item.status == "pending" else ""
            out.append(("status", f"its status is {item.status}, not approved{hint}"))
        if query.task_id is not None and query.task_id in self._tasks_of(item.item_id):
            out.append(("same_task", f"it was learned from task {query.task_id}, the task of this query "
                                     "(leave-one-task-out)"))
        if query.domain is not None and item.domain != query.domain:
            out.append(("domain", f"its domain is {item.domain!r}, the query asked for {query.domain!r}"))
        sources = source_tuple(query.source)
        if sources is not None and item.source not in sources:
            out.append(("source", f"its source is {item.source!r}, the query asked for {' or '.join(sources)}"))
        return out

    def _item_scores(self, item: MemoryItem, row: int | None, query: Query, vector: np.ndarray, scored: Scored
                     ) -> tuple[float | None, float | None, bool]:
        """(cosine, ranking score, whether the ranking scored it as it is) — also for an item the query excludes.

        An item the ranking kept (a finite score in `scored`, floor aside) is reported with exactly that score, so
        explain and retrieve agree to the last bit; an excluded one is scored the same way on its own.
        """
        hybrid = query.ranking == "hybrid"
        if row is not None and scored.score[row] > -np.inf:
            value = scored.score[row]
            cosine = value - self._bonus[row] if hybrid else value
            return float(cosine), float(value), hybrid or scored.eligible(value)
        if row is not None:
            cosine = ranking.cosines(vector, self.cache.vectors[row:row + 1])[0]
            bonus = self._hybrid_bonus()[row] if hybrid else None
        elif item.embedding is not None and item.embedding_model == self.embedder.model_id \
                and len(item.embedding) == self.embedder.dim:
            cosine = ranking.cosines(vector, np.asarray([item.embedding], np.float32))[0]
            bonus = None
            if hybrid:
                self._hybrid_bonus()
                bonus = ranking.hybrid_bonus(np.array([np.nan if item.confidence is None else item.confidence]),
                                             np.array([self._usefulness.get(item.item_id, 0.0)]), self.weights)[0]
        else:
            return None, None, False
        return float(cosine), float(cosine if bonus is None else np.float32(cosine + bonus)), False

    def _tasks_of(self, item_id: int) -> set[str]:
        _, codes, tasks = self.store.item_task_pairs([item_id])
        return {tasks[c] for c in codes}
