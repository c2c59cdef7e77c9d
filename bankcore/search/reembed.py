"""Giving items their two vectors from the current embedding model.

One model, two purposes (`embed.py`): an item's own vector is what retrieval finds it by (`embed.RECIPE`, title +
description; one REEMBED event per item when it is redone), and its similarity vector is what consolidation and the
near-duplicate view compare (`embed.SIMILARITY_RECIPE`, the whole lesson; derived data in the store's
`similarity_vectors`, written without events and never exported, like the vector snapshot).

Vectors from two models — or from two recipes of one model (part of the model id) — live in different spaces, so
nothing mixes them: retrieval skips items embedded otherwise until they are re-embedded here (on request:
`bankcore reembed`), and consolidation embeds, in memory, whatever lacks a current similarity vector. Items that
have no retrieval vector at all (an edit clears a stale one) are embedded here too; retrieval does that on its own
for a handful of them. The bank's write operations keep the similarity vectors of what they wrote current
(`keep_similarity_vectors`). Work goes a chunk at a time, each chunk one transaction: an interrupted run keeps what
it wrote and the next run continues with what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .embed import Embedder, item_text, lesson_text
from ..lazy import lazy_module
from ..models import MemoryItem

if TYPE_CHECKING:
    from ..store.protocols import EmbeddingStore

np = lazy_module("numpy", globals())

CHUNK = 512  # texts per transaction: ~4 s of embedding on 2 cores, so progress shows and little is redone
ALL_STATUSES = ("pending", "approved", "rejected", "superseded", "archived")


@dataclass
class ReembedReport:
    model_id: str
    embedded: int = 0  # retrieval vectors
    from_models: dict[str, int] = field(default_factory=dict)  # previous model id ("none") → items re-embedded
    similarity_model_id: str = ""
    similarity_embedded: int = 0
    similarity_kept: int = 0  # whole-lesson vectors an item already had, kept as its similarity vector

    def summary(self) -> str:
        if not self.embedded:
            retrieval = f"every item already has a {self.model_id} vector for retrieval"
        else:
            sources = ", ".join(f"{n} from {m}" for m, n in sorted(self.from_models.items()))
            retrieval = f"embedded {self.embedded} item(s) with {self.model_id} for retrieval ({sources})"
        if not (self.similarity_embedded or self.similarity_kept):
            similarity = f"every item already has a {self.similarity_model_id} vector for consolidation"
        else:
            kept = f", kept {self.similarity_kept} it already had" if self.similarity_kept else ""
            similarity = (f"embedded {self.similarity_embedded} item(s) with {self.similarity_model_id} for "
                          f"consolidation{kept}")
        return f"{retrieval}; {similarity}"


def similarity_model_id(embedder) -> str:
    """The model id of the embedder's similarity vectors; an embedder with one recipe for both has one id."""
    return getattr(embedder, "similarity_model_id", embedder.model_id)


def pending_counts(store: EmbeddingStore, embedder: Embedder) -> dict[str, int]:
    """What `reembed` would do: items per previous model id ("none" when they have no vector), and the items
    without a current similarity vector ("none (similarity vector)")."""
    census = store.embedding_census(ALL_STATUSES)
    counts = {("none" if m is None else m): n for m, n in census.items() if m != embedder.model_id}
    missing = len(store.items_needing_similarity_vector(similarity_model_id(embedder), embedder.dim))
    if missing:
        counts["none (similarity vector)"] = missing
    return counts


def reembed(store: EmbeddingStore, embedder: Embedder, *, actor: str, missing_only: bool = False,
            statuses: Iterable[str] | None = None, chunk: int = CHUNK, similarity: bool = True,
            on_progress: Callable[[int], None] | None = None) -> ReembedReport:
    """Embed every item lacking a current-model retrieval vector (or, with `missing_only`, lacking any), and, with
    `similarity`, every item lacking a current similarity vector — first, so that a whole-lesson vector an item
    holds from before the split is kept as its similarity vector before its own vector is replaced."""
    report = ReembedReport(model_id=embedder.model_id, similarity_model_id=similarity_model_id(embedder))
    statuses = None if statuses is None else tuple(statuses)
    if similarity:
        report.similarity_kept, report.similarity_embedded = keep_similarity_vectors(
            store, embedder, statuses=statuses, chunk=chunk, on_progress=on_progress)
    batch_id = store.new_batch_id("reembed")
    while True:
        items = store.items_needing_embedding(embedder.model_id, embedder.dim, missing_only=missing_only,
                                              statuses=statuses, limit=chunk)
        if not items:
            return report
        vectors = embedder.embed([item_text(i) for i in items])
        reason = "no vector yet" if missing_only else f"re-embedded with {embedder.model_id}"
        written = set(store.set_embeddings(list(zip(items, vectors)), model_id=embedder.model_id, actor=actor,
                                           reason=reason, batch_id=batch_id))
        for item in items:
            if item.item_id in written:
                previous = item.embedding_model or "none"
                report.from_models[previous] = report.from_models.get(previous, 0) + 1
        report.embedded += len(written)
        if on_progress:
            on_progress(len(written))
        if not written:  # every item of the chunk was edited meanwhile: stop rather than chase the editor
            return report


def keep_similarity_vectors(store: EmbeddingStore, embedder, *, changed_since: int | None = None,
                            statuses: Iterable[str] | None = None, chunk: int = CHUNK,
                            on_progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Give items without a current similarity vector one: (kept, embedded). With `changed_since`, only items
    whose last event is newer (what one operation wrote: `Bank` calls this after each write that adds or changes
    text). A whole-lesson vector an item already holds as its own is kept rather than computed again."""
    model, dim = similarity_model_id(embedder), embedder.dim
    kept = store.adopt_similarity_vectors(model, dim, changed_since=changed_since)
    embedded = 0
    while True:
        items = store.items_needing_similarity_vector(model, dim, changed_since=changed_since, statuses=statuses,
                                                      limit=chunk)
        if not items:
            return kept, embedded
        vectors = embedder.embed([lesson_text(i) for i in items])
        written = store.set_similarity_vectors(list(zip(items, vectors)), model_id=model)
        embedded += len(written)
        if on_progress:
            on_progress(len(written))
        if not written:  # the whole chunk was edited meanwhile: the next write's pass picks it up
            return kept, embedded


def similarity_vectors(store: EmbeddingStore, embedder, items: Sequence[MemoryItem]) -> np.ndarray:
    """The similarity vector of each item, aligned with `items`: stored where current, the rest computed here in
    memory (planning a consolidation never writes)."""
    model, dim = similarity_model_id(embedder), embedder.dim
    wanted = np.fromiter((i.item_id for i in items), np.int64, len(items))
    ids, vectors = store.similarity_vectors(wanted, model, dim)  # ascending ids
    if np.array_equal(ids, wanted):  # items in id order, every one stored (a whole bank's plan): no 150 MB copy
        return vectors
    row = np.minimum(np.searchsorted(ids, wanted), max(len(ids) - 1, 0))
    has = (ids[row] == wanted) if len(ids) else np.zeros(len(items), bool)
    out = np.zeros((len(items), dim), np.float32)
    out[has] = vectors[row[has]]
    missing = np.flatnonzero(~has).tolist()
    if missing:
        out[missing] = embedder.embed([lesson_text(items[k]) for k in missing])
    return out
