"""Recorded vectors (bankcore.search.recorded_vectors): the demo's recording matches the live model, a text it lacks
is computed, and a recording made by another model is not used."""

from __future__ import annotations

import numpy as np
import pytest

from bankcore import demo
from bankcore.search.embed import Embedder
from bankcore.search.recorded_vectors import RecordedEmbedder

RECORDING = demo.DEMO_DIR / demo.VECTORS

pytestmark = pytest.mark.skipif(not RECORDING.is_file(), reason=f"no recorded vectors at {RECORDING}")


def _recorded() -> tuple[list[str], np.ndarray]:
    with np.load(RECORDING, allow_pickle=False) as recording:
        return recording["texts"].tolist(), recording["vectors"]


def test_the_demo_recording_holds_what_the_packaged_model_computes():
    texts, vectors = _recorded()
    assert len(texts) == len(set(texts)) > 300
    sample = list(range(0, len(texts), max(1, len(texts) // 24)))
    live = Embedder().embed([texts[i] for i in sample])
    assert np.abs(live - vectors[sample]).max() <= 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_recorded_texts_are_served_and_the_rest_computed_live():
    texts, vectors = _recorded()
    embedder = RecordedEmbedder(RECORDING)
    unseen = "A lesson no demo build has ever written: check the tide table before launching the dinghy."
    out = embedder.embed([texts[0], unseen, texts[0], unseen])
    assert (embedder.served, embedder.computed) == (2, 2)
    assert np.array_equal(out[0], vectors[0]) and np.array_equal(out[2], vectors[0])
    assert np.abs(out[1] - Embedder().embed([unseen])[0]).max() <= 1e-5
    assert np.array_equal(out[1], out[3])
    assert embedder.summary() == "2 vectors from the recording, 2 computed"


def test_saving_writes_exactly_the_texts_asked_for(tmp_path):
    texts, vectors = _recorded()
    embedder = RecordedEmbedder(RECORDING)
    embedder.embed([texts[3], texts[1]])
    embedder.embed_query(texts[3])
    written = tmp_path / "vectors.npz"
    assert embedder.save(written) == 2
    again = RecordedEmbedder(written)
    assert np.array_equal(again.embed([texts[1]])[0], vectors[1])
    assert (again.served, again.computed) == (1, 0)


def test_a_recording_made_by_another_model_is_not_used(tmp_path):
    texts, vectors = _recorded()
    other = tmp_path / "other.npz"
    np.savez_compressed(other, model=np.array("some-org/another-model"), texts=np.array(texts[:2]),
                        vectors=vectors[:2])
    embedder = RecordedEmbedder(other)
    embedder.embed([texts[0]])
    assert (embedder.served, embedder.computed) == (0, 1)


def test_a_missing_recording_computes_everything(tmp_path):
    embedder = RecordedEmbedder(tmp_path / "absent.npz")
    out = embedder.embed(["Open the issue by its exact number."])
    assert (embedder.served, embedder.computed) == (0, 1) and out.shape == (1, 384)
