"""Giving items vectors from the current embedding model, one REEMBED event per item.

Vectors from two models — or from two recipes of one model (what an item is embedded as: `embed.RECIPE`, part of
the model id) — live in different spaces, so retrieval never mixes them: items embedded otherwise are skipped until
they are re-embedded here (on request: `bankcore reembed`). Items that have no vector at all
(an edit clears a stale one) are embedded here too; retrieval does that on its own for a handful of them.
Work goes a chunk at a time, each chunk one transaction: an interrupted run keeps what it wrote and the next run
continues with what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from .curation import new_batch_id
from .embed import Embedder, item_text
from .store import Store

CHUNK = 512  # texts per transaction: ~4 s of embedding on 2 cores, so progress shows and little is redone


@dataclass
class ReembedReport:
    model_id: str
    embedded: int = 0
    from_models: dict[str, int] = field(default_factory=dict)  # previous model id ("none") → items re-embedded

    def summary(self) -> str:
        if not self.embedded:
            return f"every item already has a {self.model_id} vector"
        sources = ", ".join(f"{n} from {m}" for m, n in sorted(self.from_models.items()))
        return f"embedded {self.embedded} item(s) with {self.model_id} ({sources})"


def pending_counts(store: Store, embedder: Embedder) -> dict[str, int]:
    """What `reembed` would do: items per previous model id ("none" when they have no vector)."""
    census = store.embedding_census(("pending", "approved", "rejected", "superseded", "archived"))
    return {("none" if m is None else m): n for m, n in census.items() if m != embedder.model_id}


def reembed(store: Store, embedder: Embedder, *, actor: str, missing_only: bool = False,
            statuses: Iterable[str] | None = None, chunk: int = CHUNK,
            on_progress: Callable[[int], None] | None = None) -> ReembedReport:
    """Embed every item lacking a current-model vector (or, with `missing_only`, lacking any vector)."""
    report = ReembedReport(model_id=embedder.model_id)
    batch_id = new_batch_id(store, "reembed")
    statuses = None if statuses is None else tuple(statuses)
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
