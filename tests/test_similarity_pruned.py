"""The pruned all-pairs search returns exactly what the plain one (the oracle) returns, on real and hostile vectors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bankcore.search.similarity import normalize, similar_pairs, similar_pairs_ivf, similar_pairs_pruned
from conftest import REFLEXION, REFLEXION_BASE, TAU, need_shared

BAND = 1e-6  # float32 products in another order may differ in the last bit: a pair this close to the line may flip


def assert_same_pairs(x: np.ndarray, threshold: float, **options) -> int:
    """Pruned vs oracle: the same pairs (bar ones within BAND of the threshold), similarities equal to 1e-5."""
    oracle = similar_pairs(x, threshold)
    pruned, _ = similar_pairs_pruned(x, threshold, **options)
    want = dict(zip(zip(oracle.i.tolist(), oracle.j.tolist()), oracle.sim.tolist()))
    got = dict(zip(zip(pruned.i.tolist(), pruned.j.tolist()), pruned.sim.tolist()))
    assert len(got) == len(pruned), "a pair was returned twice"
    assert all(i < j for i, j in got), "pairs must have i < j"
    on_the_line = {p for p, s in {**want, **got}.items() if abs(s - threshold) < BAND}
    assert set(want) - on_the_line == set(got) - on_the_line
    both = set(want) & set(got)
    assert np.allclose([want[p] for p in both], [got[p] for p in both], atol=1e-5)
    assert len(on_the_line) <= max(2, len(want) // 1000)  # the band is an allowance for rounding, not a loophole
    return len(want)


def real_texts(limit: int) -> list[str]:
    """Distinct real agent sentences: ReAct thoughts (HotpotQA) and τ-bench assistant replies, interleaved."""
    thoughts = [m.group(1) for path in (REFLEXION_BASE, REFLEXION)
                for m in re.finditer(r"^Thought \d+: (.+)$", path.read_text(), re.M)]
    replies = [m["content"] for run in json.loads(TAU.read_text()) for m in run["traj"]
               if m.get("role") == "assistant" and m.get("content")]
    texts: dict[str, None] = {}
    for pair in zip(thoughts, replies):
        for text in pair:
            texts.setdefault(" ".join(text.split())[:300])
    return list(texts)[:limit]


@pytest.fixture(scope="module")
def real_vectors() -> np.ndarray:
    need_shared(TAU, REFLEXION, REFLEXION_BASE)
    from bankcore.search.embed import Embedder
    return normalize(Embedder().embed(real_texts(1200)))


@pytest.mark.parametrize("threshold", [0.80, 0.85, 0.95])
def test_real_minilm_vectors_give_the_oracles_pairs(real_vectors, threshold):
    found = assert_same_pairs(real_vectors, threshold, min_rows=0, tile=(128, 300))
    assert found > 50  # templated replies and repeated thoughts: real near-duplicates, not an empty success


@pytest.mark.parametrize("threshold", [0.85, 0.95])
def test_real_vectors_have_the_structure_the_screen_needs(real_vectors, threshold):
    # Isotropic vectors would pass nearly every pair; real ones pass few. (At 0.80 these 1,200 templated sentences
    # pass ~3% at k=32, and the cost model may rightly prefer the plain search there.)
    _, screen = similar_pairs_pruned(real_vectors, threshold, min_rows=0)
    assert screen.dims > 0 and screen.pass_rate < 0.02


@pytest.mark.parametrize("dims", [1, 16, 64, 383])
def test_every_screen_width_is_exact_on_real_vectors(real_vectors, dims):
    assert_same_pairs(real_vectors, 0.8, min_rows=0, dims=dims, tile=(100, 257))


def structured(n: int, seed: int = 3, dim: int = 384) -> np.ndarray:
    """Unit vectors in a few strong directions plus noise, like sentence embeddings: the screen pays on them."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((24, dim)) * np.linspace(3, 0.5, 24)[:, None]
    return normalize(rng.standard_normal((n, 24)) @ basis + 0.4 * rng.standard_normal((n, dim)))


def test_isotropic_random_vectors_fall_back_to_the_plain_search():
    x = normalize(np.random.default_rng(5).standard_normal((3000, 384)))
    pruned, screen = similar_pairs_pruned(x, 0.2, min_rows=0)
    assert screen.dims == 0  # no principal axes to speak of: the bound would pass nearly everything
    oracle = similar_pairs(x, 0.2)
    assert np.array_equal(pruned.i, oracle.i) and np.array_equal(pruned.j, oracle.j) and len(oracle) > 0


def test_near_duplicates_crowded_around_the_threshold():
    rng = np.random.default_rng(9)
    x = structured(2000)
    # 300 pairs whose similarity is spread within ±0.002 of 0.85: the screen's slack and the rounding both matter.
    for a in range(0, 600, 2):
        direction = rng.standard_normal(384).astype(np.float32)
        direction -= (direction @ x[a]) * x[a]
        direction /= np.linalg.norm(direction)
        cos = 0.85 + rng.uniform(-0.002, 0.002)
        x[a + 1] = cos * x[a] + np.sqrt(1 - cos * cos) * direction
    x = normalize(x)
    _, screen = similar_pairs_pruned(x, 0.85, min_rows=0)
    assert screen.dims > 0
    assert assert_same_pairs(x, 0.85, min_rows=0, tile=(64, 96)) >= 140  # about half the planted pairs clear it


@pytest.mark.parametrize("n, tile", [(1001, (64, 100)), (777, (777, 1000)), (513, (512, 1024)), (300, (7, 13))])
def test_sizes_that_are_not_a_multiple_of_the_tile(n, tile):
    x = structured(n, seed=n)
    x[1::3] = normalize(x[0::3][:len(x[1::3])] + 0.01 * np.random.default_rng(n).standard_normal((len(x[1::3]), 384)))
    assert assert_same_pairs(x, 0.9, min_rows=0, dims=16, tile=tile) >= n // 4


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny_inputs(n):
    x = normalize(np.ones((n, 384), dtype=np.float32))
    pruned, _ = similar_pairs_pruned(x, 0.9, min_rows=0, dims=16)
    assert len(pruned) == n * (n - 1) // 2


def test_zero_rows_and_a_small_dimension():
    x = structured(400)
    x[::50] = 0  # an item whose vector is missing stays similar to nothing
    assert_same_pairs(x, 0.5, min_rows=0, dims=16, tile=(50, 70))
    small = normalize(np.random.default_rng(1).standard_normal((300, 8)))  # d below every screen width
    pruned, screen = similar_pairs_pruned(small, 0.9, min_rows=0)
    assert screen.dims == 0 and len(pruned) == len(similar_pairs(small, 0.9))


def test_below_min_rows_the_oracle_runs():
    x = structured(500)
    _, screen = similar_pairs_pruned(x, 0.8)  # the default min_rows is far above 500
    assert screen.dims == 0


# ---------------------------------------------------------------------- the bfloat16 screen (fleet size)
@pytest.fixture
def torch():
    """torch, which the bfloat16 screen borrows its products from; skipped where it is not installed. Asked for by
    every test of the screen, not imported with the module: the import (~2.5 s CPU) was paid by every run that
    collects this file, the fast tier's included, and asking for it leaves a test to `make test` (tests/tiers.py)."""
    return pytest.importorskip("torch", reason="the bfloat16 screen borrows torch's products")


def test_bfloat16_products_stay_within_the_rounding_the_cut_allows(torch):
    """The cut assumes torch rounds each input to bfloat16, accumulates in float32 and rounds the sum once: if a
    torch build accumulated in bfloat16 the screen could miss pairs, and this test says so first."""
    from bankcore.search.similarity import BF16_UNIT, _bounding_rows

    x = structured(1500, seed=21)
    axes = np.linalg.eigh((x.T @ x).astype(np.float64))[1][:, ::-1].T.astype(np.float32)
    for dims in (16, 96, 128):
        z = _bounding_rows(x, axes, dims)
        exact = z.astype(np.float64) @ z.T.astype(np.float64)
        zb = torch.from_numpy(z).to(torch.bfloat16)
        got = torch.matmul(zb[:700], zb.T).float().numpy().astype(np.float64)
        u = BF16_UNIT
        allowed = (2 * u + u * u + (dims + 1) * 2.0 ** -23) * np.abs(z[:700]).astype(np.float64) @ np.abs(z.T) \
            + u * np.abs(exact[:700]) * 1.01 + 1e-6
        assert (np.abs(got - exact[:700]) <= allowed).all()


@pytest.mark.usefixtures("torch")
@pytest.mark.parametrize("threshold", [0.80, 0.85, 0.95])
def test_bfloat16_screen_gives_the_oracles_pairs_on_real_vectors(real_vectors, threshold):
    assert assert_same_pairs(real_vectors, threshold, min_rows=0, tile=(128, 300), bf16=True) > 50


@pytest.mark.usefixtures("torch")
@pytest.mark.parametrize("dims", [1, 16, 96])
def test_bfloat16_screen_is_exact_at_every_width(dims):
    x = structured(1201, seed=dims)
    x[1::4] = normalize(x[0::4][:len(x[1::4])] + 0.02 * np.random.default_rng(dims).standard_normal((len(x[1::4]), 384)))
    _, screen = similar_pairs_pruned(x, 0.9, min_rows=0, dims=dims, bf16=True)
    assert screen.bf16 and screen.dims == dims
    assert assert_same_pairs(x, 0.9, min_rows=0, dims=dims, tile=(100, 257), bf16=True) >= 250


@pytest.mark.usefixtures("torch")
def test_bfloat16_screen_near_the_threshold_and_below_zero():
    rng = np.random.default_rng(4)
    x = structured(1600)
    for a in range(0, 400, 2):  # pairs within ±0.003 of 0.85: inside the bfloat16 rounding band
        direction = rng.standard_normal(384).astype(np.float32)
        direction -= (direction @ x[a]) * x[a]
        direction /= np.linalg.norm(direction)
        cos = 0.85 + rng.uniform(-0.003, 0.003)
        x[a + 1] = cos * x[a] + np.sqrt(1 - cos * cos) * direction
    x = normalize(x)
    assert assert_same_pairs(x, 0.85, min_rows=0, dims=32, tile=(64, 96), bf16=True) >= 80
    small = structured(300, seed=8)
    assert_same_pairs(small, 0.005, min_rows=0, dims=16, bf16=True)  # a cut at or below zero: every pair screened in


def test_bfloat16_screen_leaves_torchs_threads_as_they_were(torch):
    before = torch.get_num_threads()
    similar_pairs_pruned(structured(700), 0.9, min_rows=0, dims=16, bf16=True)
    assert torch.get_num_threads() == before


@pytest.mark.usefixtures("torch")  # loaded in this process, as the last checks need
def test_the_bfloat16_screen_is_chosen_only_where_it_pays(monkeypatch):
    from bankcore.search import similarity

    x = structured(5000, seed=12)
    monkeypatch.setattr(similarity, "_bf16_is_fast", lambda: False)  # a CPU without native bfloat16 products
    assert not similar_pairs_pruned(x, 0.9, dims=16)[1].bf16
    monkeypatch.setattr(similarity, "_bf16_is_fast", lambda: True)
    assert similar_pairs_pruned(x, 0.9, dims=16)[1].bf16  # torch is loaded in this process: no import to pay
    assert not similar_pairs_pruned(x, 0.9, dims=16, bf16=False)[1].bf16


# ---------------------------------------------------------------------- the cluster search (fleet size)
def assert_subset_of_the_oracle(x: np.ndarray, threshold: float, **options) -> tuple[int, int]:
    """Cluster search vs oracle: only true pairs, once each, i < j, exact similarities. Returns (found, oracle)."""
    oracle = similar_pairs(x, threshold)
    found, probe = similar_pairs_ivf(x, threshold, **options)
    want = dict(zip(zip(oracle.i.tolist(), oracle.j.tolist()), oracle.sim.tolist()))
    got = dict(zip(zip(found.i.tolist(), found.j.tolist()), found.sim.tolist()))
    assert len(got) == len(found), "a pair was returned twice"
    assert all(i < j for i, j in got)
    assert not {p for p in set(got) - set(want) if abs(got[p] - threshold) >= BAND}, "a pair below the threshold"
    both = set(want) & set(got)
    assert np.allclose([want[p] for p in both], [got[p] for p in both], atol=1e-5)
    assert 0 < probe.screened <= 1
    return len(both), len(want)


@pytest.mark.parametrize("threshold", [0.80, 0.85])
def test_cluster_search_finds_every_pair_of_real_minilm_vectors(real_vectors, threshold):
    found, oracle = assert_subset_of_the_oracle(real_vectors, threshold)
    assert oracle > 50 and found == oracle


def test_cluster_search_screens_a_fraction_of_the_pairs_and_misses_only_near_the_threshold():
    x = structured(6000, seed=9)
    rng = np.random.default_rng(2)
    x[1::3] = normalize(x[::3][:len(x[1::3])] + 0.03 * rng.standard_normal((len(x[1::3]), x.shape[1])))
    found, oracle = assert_subset_of_the_oracle(x, 0.8, probes=4)
    assert oracle > 1000 and found >= 0.99 * oracle
    _, probe = similar_pairs_ivf(x, 0.8, probes=4)
    assert probe.clusters == 77 and probe.screened < 0.25


def test_cluster_search_on_tiny_inputs_is_the_exact_search():
    x = structured(5)
    pairs, probe = similar_pairs_ivf(x, 0.5, clusters=4)
    assert probe.clusters == 0 and len(pairs) == len(similar_pairs(x, 0.5))


def test_exact_dots_across_gather_chunks():
    from bankcore.search.similarity import GATHER_CHUNK, _exact_dots
    x = structured(300)
    rng = np.random.default_rng(4)
    i, j = rng.integers(0, 300, 2 * GATHER_CHUNK + 17), rng.integers(0, 300, 2 * GATHER_CHUNK + 17)
    assert np.allclose(_exact_dots(x, i, j), np.einsum("ij,ij->i", x[i], x[j]), atol=1e-6)
    assert len(_exact_dots(x, i[:0], j[:0])) == 0
