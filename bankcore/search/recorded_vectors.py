"""Recorded vectors: an embedder that answers texts from vectors the packaged model computed earlier, and computes
only the texts the recording lacks.

Why: the demo bank replays recorded LLM replies so that it builds offline and the same every time; embedding its
~400 lesson and query texts was then most of `make run`'s wait (~30 s of MiniLM on two cores). The recording holds
each text beside its vector and names the base model that made it, so a text it lacks (an edited corpus, a changed
extractor) is embedded live, and a recording made by another model is not used at all. `data/demo/make_vectors.py`
writes it; tests/test_recorded_vectors.py checks the recorded vectors against the live model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .embed import BASE_MODEL_ID, BATCH_SIZE, DIM, Embedder


class RecordedEmbedder(Embedder):
    """`Embedder` with a recording in front. `served` and `computed` count the texts asked for that the recording
    held and lacked (each text the recording lacks is computed once), so a build can say how many vectors it
    replayed; `save` writes the vectors of every text asked for since construction (the recording a
    build needs, no more)."""

    def __init__(self, recording: Path | None = None):
        self.recording = recording
        self._vectors: dict[str, np.ndarray] = _load(recording) if recording is not None else {}
        self._recorded = frozenset(self._vectors)
        self._asked: dict[str, None] = {}  # insertion-ordered set: the texts this embedder was asked for
        self.served = 0
        self.computed = 0

    def embed(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        texts = [str(t) for t in texts]
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, super().embed(missing, batch_size=batch_size)):
                self._vectors[text] = vector
        served = sum(t in self._recorded for t in texts)
        self.served += served
        self.computed += len(texts) - served
        self._asked.update(dict.fromkeys(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32, copy=True)

    def summary(self) -> str:
        return f"{self.served} vectors from the recording, {self.computed} computed"

    def save(self, path: Path) -> int:
        """Write the texts asked for and their vectors; returns how many."""
        texts = list(self._asked)
        vectors = np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, DIM), np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, model=np.array(BASE_MODEL_ID), texts=np.array(texts, dtype=str),
                                vectors=vectors.astype(np.float32))
        return len(texts)


def _load(path: Path) -> dict[str, np.ndarray]:
    """The recording's vectors by text; empty when the file is absent or was made by another model."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as recording:
        if str(recording["model"]) != BASE_MODEL_ID or recording["vectors"].shape[1:] != (DIM,):
            return {}
        return dict(zip(recording["texts"].tolist(), recording["vectors"].astype(np.float32)))
