"""Which vectors are near each other: exact thresholded cosine search by blocked matrix products, and clustering.

All pure numpy over L2-normalised float32 rows. An all-pairs loop in Python does ~1M pairs/s; one BLAS tile does
~100–300M pairs/s on two cores, so 100k items (5·10⁹ pairs) take tens of seconds instead of hours, and memory stays
at the matrix plus one tile (a 4096×4096 float32 tile is 64 MB), whatever the number of items.

`similar_pairs` is the oracle: every pair, one product each. `similar_pairs_pruned` returns the same pairs with
fewer products where the vectors have structure (real sentence embeddings do): it rotates onto the principal axes and
screens every pair with a cheap upper bound, a·b ≤ a_p·b_p + |a_r|·|b_r| (the first k coordinates exactly, the rest
by Cauchy–Schwarz), so no pair at or above the threshold can be screened out; only the survivors get the full product.
At fleet size (or when torch is already loaded) the screen's products run in bfloat16 (torch; AVX-512 BF16 does
twice the float32 rate) with the cut lowered by the rounding's worst case, so the screen still misses nothing.

`similar_pairs_ivf` is for fleet-size banks and is approximate: rows are clustered (spherical k-means) and each is
compared only with the members of its nearest clusters — ~5% of the pairs at 100k rows — each pair returned checked
exactly, a pair near the threshold whose rows lie in clusters apart sometimes missed. No exact bound prunes whole
clusters of sentence vectors at 0.80 (measured: the angle-to-centroid bound left 65% of pairs), hence the trade.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

import numpy as np

TILE = 4096
PRUNE_MIN_ROWS = 4096  # below this the plain search takes ~0.3 s at most and the sample would be every row: small
# banks (the demo's) plan by the oracle itself (measured: the screen already wins at 2k rows of real-like vectors)
SCREEN_DIMS = (16, 24, 32, 48, 64, 96, 128)  # leading principal coordinates the bound may keep; the sample picks one
SCREEN_TILE = (512, 1024)  # rows × columns of one screen product: 2 MB, cache-sized (a 4096² tile was 2× slower)
SAMPLE_ROWS = 4096  # rows that pick the axes and k
RESIDUAL_SLACK = 1e-5  # float32 rounding of |a_k|² is ~1e-6: the rest's norm stays an upper bound
BOUND_SLACK = 1e-4  # float32 rounding in the rotation and the screen product is ~1e-6: the bound stays an upper bound
# Estimated costs in ns per pair on one core (see _choose_dims); only their ratios matter.
DENSE_NS_PER_DIM = 0.023  # a full product in a cache-sized BLAS tile: 8.7 ns per 384-d pair
SCREEN_NS = 0.65  # the screen's compare and nonzero, plus its product per kept coordinate:
SCREEN_NS_PER_DIM = 0.021  # 1.0 ns at k=16, 1.5 at 32, 2.25 at 64
SURVIVOR_NS_PER_DIM = 1.2  # a survivor's full product: ~450 ns per 384-d pair, nearly all of it the two row
# gathers missing cache (a 32-coordinate screen passing 2.4% took 5.7× the time of a 64-coordinate one passing 0.1%)
BF16_SCREEN_NS_PER_DIM = 0.009  # the bfloat16 product per kept coordinate (torch, one thread: 0.64 ns at k=64 vs
# 1.47 in float32); the compare and nonzero stay SCREEN_NS
BF16_MIN_ROWS = 50_000  # importing torch costs ~2 s CPU; from here the halved screen saves more (100k: ~5 s CPU)
BF16_UNIT = 2.0 ** -8  # bfloat16's unit roundoff (8 significant bits, round to nearest)


@dataclass(frozen=True)
class Pairs:
    """Index pairs (i < j) whose cosine similarity is at least a threshold, with that similarity."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    def sorted_desc(self) -> "Pairs":
        """Most similar first; ties broken by (i, j) so every run clusters the same way."""
        order = np.lexsort((self.j, self.i, -self.sim))
        return Pairs(self.i[order], self.j[order], self.sim[order])


def normalize(vectors: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32. `in_place` reuses a float32 array's memory."""
    x = vectors if in_place and vectors.dtype == np.float32 else np.array(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no n×d temporary, unlike np.linalg.norm
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def similar_pairs(x: np.ndarray, threshold: float, *, tile: int = TILE) -> Pairs:
    """Every pair of rows of the normalised matrix `x` with cosine ≥ `threshold` — exact, no sampling.

    Walks the upper triangle tile by tile: one matrix product per tile into a reused buffer, a max() to skip the
    (usual) tiles with no hit, and np.nonzero only on tiles that have one.
    """
    n = len(x)
    found_i, found_j, found_s = [], [], []
    buffer = np.empty((min(tile, n), min(tile, n)), dtype=np.float32)
    for r0 in range(0, n, tile):
        rows = x[r0:r0 + tile]
        for c0 in range(r0, n, tile):
            cols = x[c0:c0 + tile]
            block = buffer[:len(rows), :len(cols)]
            np.matmul(rows, cols.T, out=block)
            if c0 == r0:
                np.fill_diagonal(block, -np.inf)
            if block.max() < threshold:
                continue
            bi, bj = np.nonzero(block >= threshold)
            if c0 == r0:  # diagonal tile: each pair appears twice, keep i < j
                keep = bi < bj
                bi, bj = bi[keep], bj[keep]
            found_i.append(bi + r0)
            found_j.append(bj + c0)
            found_s.append(block[bi, bj].copy())
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty.copy(), np.zeros(0, dtype=np.float32))
    return Pairs(np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64),
                 np.concatenate(found_s))


def complete_linkage_groups(x: np.ndarray, pairs: Pairs, threshold: float, *, max_size: int,
                            cannot_link: Iterable[tuple[int, int]] = ()) -> list[list[int]]:
    """Groups of ≥ 2 rows in which *every* pair is ≥ `threshold` (cliques), built greedily from the best pair down.

    Union-find over the candidate pairs, most similar first; two groups join only if all their cross pairs clear
    the threshold (complete linkage), the result stays within `max_size`, and no cannot-link pair would end up
    together. Plain connected components would chain A~B~C into one group although A and C differ.
    A pair sharing no row with any other pair is a group by itself whatever the order (found with numpy, most
    pairs of a bank's near-copies are such); only the rest go through the loop.
    """
    forbidden: dict[int, set[int]] = {}  # row → the rows it may not join: one set lookup per member, not a
    for p, q in cannot_link:  # frozenset built per cross pair (100k rows: ~220k pairs of groups tried)
        forbidden.setdefault(p, set()).add(q)
        forbidden.setdefault(q, set()).add(p)
    degree = np.bincount(np.concatenate([pairs.i, pairs.j]).astype(np.int64, copy=False))
    lone = (degree[pairs.i] == 1) & (degree[pairs.j] == 1)
    groups = [sorted((a, b)) for a, b in zip(pairs.i[lone].tolist(), pairs.j[lone].tolist())
              if max_size >= 2 and b not in forbidden.get(a, ())]
    root = list(range(len(degree)))  # union-find over rows 0..max: lists, not dicts (~85k pairs looped at 100k)
    members: dict[int, list[int]] = {}

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    ordered = Pairs(pairs.i[~lone], pairs.j[~lone], pairs.sim[~lone]).sorted_desc()
    for a, b in zip(ordered.i.tolist(), ordered.j.tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ga, gb = members.get(ra, [ra]), members.get(rb, [rb])
        if len(ga) + len(gb) > max_size:
            continue
        if forbidden and any(not forbidden[p].isdisjoint(gb) for p in ga if p in forbidden):
            continue
        if (len(ga) > 1 or len(gb) > 1) and float((x[ga] @ x[gb].T).min()) < threshold:
            continue
        root[rb] = ra
        members[ra] = ga + gb
        members.pop(rb, None)
    return sorted(groups + [sorted(g) for g in members.values()], key=lambda g: g[0])


@dataclass(frozen=True)
class Screen:
    """How `similar_pairs_pruned` screened: k principal coordinates kept (0: none, the plain search ran), the share of
    sampled pairs the bound let through, and the estimated cost against the plain search (1.0 = the same)."""

    dims: int
    pass_rate: float
    cost_ratio: float
    bf16: bool = False  # the screen's products ran in bfloat16 (with the cut lowered by their rounding)


def similar_pairs_pruned(x: np.ndarray, threshold: float, *, min_rows: int = PRUNE_MIN_ROWS, seed: int = 0,
                         dims: int | None = None, tile: tuple[int, int] = SCREEN_TILE,
                         bf16: bool | None = None) -> tuple[Pairs, Screen]:
    """The pairs `similar_pairs(x, threshold)` returns, screened by an upper bound first — exact, no pair is missed.

    Rotating onto principal axes keeps every dot product. Each row becomes z = (its first k rotated coordinates,
    the norm of the rest), so one small product z_a·z_b bounds a·b from above; only pairs whose bound reaches the
    threshold are computed in full. A sample of rows picks k (or none, when the bound is too loose to pay — on
    isotropic vectors it is) by estimated cost; `dims` forces k (0: the plain search). Similarities of survivors are
    exact float32 dot products; they can differ from `similar_pairs`' in the last bit, so a pair within ~1e-6 of the
    threshold may fall either way. `tile` is (rows, columns) of one screen product. `bf16` runs the screen's
    products in bfloat16 (None: from BF16_MIN_ROWS rows, or whenever torch is already loaded, where torch is
    installed and the CPU multiplies bfloat16 natively).
    """
    n = len(x)
    if n < max(min_rows, 2):
        return similar_pairs(x, threshold), Screen(0, 1.0, 1.0)
    if bf16 is None:
        bf16 = (n >= BF16_MIN_ROWS or "torch" in sys.modules) and _bf16_is_fast()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), _one_torch_thread(bf16):  # see _screened_pairs
        rng = np.random.default_rng(seed)
        sample = x[rng.permutation(n)[:SAMPLE_ROWS]]  # shuffled: rows come in order (time, source), and the pass
        # rate is estimated between the sample's two halves, which must not be two eras of the bank
        # Principal axes of the (uncentred) sample: eigenvectors of its d×d Gram matrix, largest first. A full
        # orthonormal basis whatever the sample size, so the rotation keeps every dot product.
        gram = (sample.T @ sample).astype(np.float64)
        axes = np.linalg.eigh(gram)[1][:, ::-1].T.astype(np.float32)
        rotated_sample = sample @ axes.T
        if dims is None:
            screen = _choose_dims(rotated_sample, threshold, bf16)
        elif 0 < dims < x.shape[1]:
            cut = screen_cut(threshold, dims, bf16)
            screen = Screen(dims, round(_bound_pass_rate(rotated_sample, dims, cut), 6), float("nan"), bf16)
        else:
            screen = Screen(0, 1.0, 1.0)
        if screen.dims > 0:
            z = _bounding_rows(x, axes, screen.dims)
            return _screened_pairs(x, z, threshold, tile, screen.bf16), screen
    return similar_pairs(x, threshold), screen  # big products: BLAS's own threads pay here


def screen_cut(threshold: float, dims: int, bf16: bool, norm_squared: float = 1.0) -> float:
    """The value a pair's screen product must reach: the threshold less the float32 slack, and in bfloat16 less
    the rounding's worst case too, so that no pair at or above the threshold is screened out.

    Rounding both rows to bfloat16 moves each term z_ai·z_bi by at most (2u + u²)|z_ai·z_bi| (u = 2⁻⁸), so the sum
    by (2u + u²)·|z_a||z_b| ≤ (2u + u²)·`norm_squared` (the largest |z|²); the float32 accumulation of dims+1 terms
    adds (dims+1)·2⁻²³ of that at most, and the product is rounded to bfloat16 once more, relative u."""
    cut = threshold - BOUND_SLACK
    if not bf16:
        return cut
    u = BF16_UNIT
    return (cut - (2 * u + u * u + (dims + 1) * 2.0 ** -23) * norm_squared - 1e-6) * (1 - u)


def _torch():
    """torch, when installed (bankcore's embedder needs it; the screen only borrows its bfloat16 products)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _bf16_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX): elsewhere torch converts each product's
    inputs and the screen would be slower than in float32. Exact either way."""
    torch = _torch()
    if torch is None:
        return False
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe is not None and probe() for probe in probes)


@contextmanager
def _one_torch_thread(active: bool):
    """torch's own threads off while our threads share the row bands (as for BLAS); the setting is restored."""
    if not active:
        yield
        return
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bounding_rows(x: np.ndarray, axes: np.ndarray, k: int) -> np.ndarray:
    """Each row as (its first k rotated coordinates, the norm of the other d-k): z_a·z_b ≥ a·b for every pair.

    The rest's norm comes from |a|² − |a_k|² in float64, so only k of the d rotated coordinates are computed; the
    small term under the root covers that subtraction's rounding, so the norm is never under-estimated."""
    z = np.empty((len(x), k + 1), dtype=np.float32)
    np.matmul(x, axes[:k].T, out=z[:, :k])
    kept = np.einsum("ij,ij->i", z[:, :k], z[:, :k], dtype=np.float64)
    whole = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    z[:, k] = np.sqrt(np.maximum(whole - kept, 0.0) + RESIDUAL_SLACK)
    return z


def _bound_pass_rate(rotated: np.ndarray, k: int, cut: float) -> float:
    z = np.hstack([rotated[:, :k], np.linalg.norm(rotated[:, k:], axis=1, keepdims=True)])
    half = len(z) // 2
    return float((z[:half] @ z[half:].T >= cut).mean())


def _choose_dims(rotated_sample: np.ndarray, threshold: float, bf16: bool = False) -> Screen:
    """k with the least estimated cost per pair, against the plain search's; none unless it saves a third.

    Per pair the screen costs its product, compare and nonzero; each survivor then costs a gathered full product.
    Constants measured on two shared cores with one BLAS thread (bench/consolidate.py --scale prints the outcome).
    In bfloat16 each kept coordinate costs less but the cut is lower, so more pairs survive."""
    d = rotated_sample.shape[1]
    plain = DENSE_NS_PER_DIM * d
    per_dim = BF16_SCREEN_NS_PER_DIM if bf16 else SCREEN_NS_PER_DIM
    best = Screen(0, 1.0, 1.0)
    for k in SCREEN_DIMS:
        if k >= d:
            break
        rate = _bound_pass_rate(rotated_sample, k, screen_cut(threshold, k, bf16))
        cost = (SCREEN_NS + per_dim * (k + 1) + rate * SURVIVOR_NS_PER_DIM * d) / plain
        if cost < min(best.cost_ratio, 0.67):
            best = Screen(k, round(rate, 6), round(cost, 3), bf16)
    return best


def _screened_pairs(x: np.ndarray, z: np.ndarray, threshold: float, tile: tuple[int, int],
                    bf16: bool = False) -> Pairs:
    """The upper triangle of z·zᵀ in tiles small enough to stay in cache, the survivors' exact similarities, and the
    pairs that hold.

    The screen is memory-bound (~33 multiply-adds per pair), and OpenBLAS's own threads on such small products
    spin-wait for each other: on two busy cores a 20k-row screen took 20 s with them and 1.2 s without. So the
    caller limits BLAS (and torch) to one thread per call and the row bands are shared among our own threads (numpy
    and torch release the GIL in products and comparisons).
    """
    from concurrent.futures import ThreadPoolExecutor

    norm_squared = float(np.einsum("ij,ij->i", z, z, dtype=np.float64).max(initial=0.0))
    screen = _Bf16Screen(z, screen_cut(threshold, z.shape[1] - 1, True, norm_squared), tile[1]) if bf16 else \
        _Float32Screen(z, screen_cut(threshold, z.shape[1] - 1, False))
    bands = range(0, len(x), tile[0])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = [p for p in pool.map(lambda r0: _screen_band(x, screen, r0, threshold, tile), bands) if p is not None]
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty.copy(), np.zeros(0, dtype=np.float32))
    return Pairs(*(np.concatenate(col) for col in zip(*found)))


class _Float32Screen:
    """Screen products in float32 (numpy/BLAS): the tile's flat indices whose bound reaches the cut."""

    def __init__(self, z: np.ndarray, cut: float):
        self.z, self.z_t, self.cut = z, np.ascontiguousarray(z.T), np.float32(cut)

    def band(self, r0: int, rows: int, cols: int):
        band, buffer = self.z[r0:r0 + rows], np.empty((min(rows, len(self.z) - r0), cols), dtype=np.float32)

        def passing(c0: int, width: int) -> np.ndarray:
            block = buffer[:, :width]
            np.matmul(band, self.z_t[:, c0:c0 + width], out=block)
            return np.flatnonzero(block >= self.cut)
        return passing


class _Bf16Screen:
    """Screen products in bfloat16 (torch), compared as int16 bit patterns in numpy: for values above zero the
    bits order as the numbers do, and torch's own compare on bfloat16 was 15× slower than the product."""

    def __init__(self, z: np.ndarray, cut: float, cols: int):
        torch = _torch()
        self.torch = torch
        self.z = torch.from_numpy(np.ascontiguousarray(z)).to(torch.bfloat16)  # rounds to nearest
        self.cut_bits = _bf16_bits_at_most(torch, cut) if cut > 0 else None

    def band(self, r0: int, rows: int, cols: int):
        torch = self.torch
        band = self.z[r0:r0 + rows]
        buffer = torch.empty((len(band), cols), dtype=torch.bfloat16)
        bits = buffer.view(torch.int16).numpy()

        def passing(c0: int, width: int) -> np.ndarray:
            if self.cut_bits is None:  # a cut at or below zero: every pair passes (the screen gains nothing)
                return np.arange(len(band) * width)
            torch.matmul(band, self.z[c0:c0 + width].T, out=buffer[:, :width])
            return np.flatnonzero(bits[:, :width] >= self.cut_bits)
        return passing


def _bf16_bits_at_most(torch, value: float) -> np.int16:
    """The int16 bit pattern of the largest bfloat16 ≤ `value` (> 0)."""
    rounded = torch.tensor([value], dtype=torch.float32).to(torch.bfloat16)
    bits = int(rounded.view(torch.int16).item())
    return np.int16(bits - 1 if float(rounded.item()) > value else bits)


def _screen_band(x: np.ndarray, screen, r0: int, threshold: float,
                 tile: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Pairs (i, j > i) with i in the band of rows starting at r0 whose similarity is ≥ threshold."""
    n = len(x)
    cols_per = tile[1]
    passing = screen.band(r0, tile[0], cols_per)
    found = []
    for c0 in range(r0, n, cols_per):
        width = min(cols_per, n - c0)
        flat = passing(c0, width)
        if r0 == c0:  # the band's first column tile holds the diagonal and the lower triangle
            flat = flat[flat % width > flat // width]
        if len(flat):
            found.append(_survivors(x, flat // width + r0, flat % width + c0, threshold))
    if not found:
        return None
    return tuple(np.concatenate(col) for col in zip(*found))


def _survivors(x: np.ndarray, i: np.ndarray, j: np.ndarray, threshold: float):
    """The pairs among (i, j) whose full similarity is ≥ threshold, computed the cheaper way: one product over the
    rows and columns involved when the survivors bunch up (templated text does), else pair by pair."""
    rows, row_at = np.unique(i, return_inverse=True)
    cols, col_at = np.unique(j, return_inverse=True)
    if len(rows) * len(cols) * DENSE_NS_PER_DIM < len(i) * SURVIVOR_NS_PER_DIM:
        sims = (x[rows] @ x[cols].T)[row_at, col_at]
    else:
        sims = _exact_dots(x, i, j)
    hit = sims >= threshold
    return i[hit].astype(np.int64), j[hit].astype(np.int64), sims[hit]


GATHER_CHUNK = 2048  # pairs per gather: two 3 MB buffers, reused (a gather of every survivor at once allocated
# gigabytes afresh, and the page faults of that were ~80% of the survivors' cost: ~1.3 µs a pair at 100k rows)


def _exact_dots(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """x[i[k]]·x[j[k]] for each k, the rows gathered a chunk at a time into the same two buffers."""
    out = np.empty(len(i), dtype=np.float32)
    chunk = min(GATHER_CHUNK, len(i))
    rows_i, rows_j = np.empty((chunk, x.shape[1]), x.dtype), np.empty((chunk, x.shape[1]), x.dtype)
    for start in range(0, len(i), GATHER_CHUNK):
        m = min(GATHER_CHUNK, len(i) - start)
        np.take(x, i[start:start + m], axis=0, out=rows_i[:m])
        np.take(x, j[start:start + m], axis=0, out=rows_j[:m])
        np.einsum("ij,ij->i", rows_i[:m], rows_j[:m], out=out[start:start + m])
    return out


# ---------------------------------------------------------------------- fleet size: candidate pairs from clusters
IVF_MIN_ROWS = 50_000  # below this `similar_pairs_pruned` (exact) is the search: 10k rows take ~1 s of it
IVF_PROBES = 16  # clusters each row is compared with: its own and the next nearest (pair recall vs rows per probe
# measured in bench/consolidate_scale_results.md: 16 of √n clusters found 99.98% of real-like pairs at 0.80)
IVF_ITERATIONS = 8  # k-means rounds on the sample: recall stops improving after ~6
IVF_SAMPLE_PER_CLUSTER = 48  # sample rows per cluster that k-means learns from
IVF_SCREEN_DIMS = 96  # the bound inside a cluster block: wider than the all-pairs screen's (fewer survivors, whose
# exact product is most of the cost once only a tenth of the pairs are screened)


@dataclass(frozen=True)
class Probe:
    """How `similar_pairs_ivf` searched: clusters, clusters probed per row, and the share of all pairs screened."""

    clusters: int
    probes: int
    screened: float


def similar_pairs_ivf(x: np.ndarray, threshold: float, *, probes: int = IVF_PROBES, clusters: int | None = None,
                      seed: int = 0, dims: int = IVF_SCREEN_DIMS) -> tuple[Pairs, Probe]:
    """Pairs with cosine ≥ `threshold` among the rows of `x`, found through clusters: APPROXIMATE, a subset of
    `similar_pairs(x, threshold)` (every pair returned is checked exactly; a pair whose two rows fall in clusters
    neither probes for the other is missed). For banks where the all-pairs search costs tens of seconds.

    Spherical k-means (√n clusters, learnt on a sample) gives each row a home cluster; each row is compared with the
    members of its `probes` nearest clusters, so ~2·probes/√n of all pairs are screened instead of all of them. A
    pair near the threshold whose rows sit in distant clusters is the one that can be missed: the bench measures
    recall against the exact search (99.98% of pairs at 0.80 on 100k real-like rows with 16 probes).
    In a block the pairs are screened by the same upper bound as `similar_pairs_pruned` (exact: it drops no pair),
    each pair in one block only, and the survivors' similarities are exact float32 products.
    """
    n, d = x.shape
    clusters = clusters or max(2, int(round(np.sqrt(n))))
    probes = min(probes, clusters)
    if n < 2 * clusters:
        pairs, _ = similar_pairs_pruned(x, threshold)
        return pairs, Probe(0, 0, 1.0)
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    sample = x[rng.permutation(n)[:SAMPLE_ROWS]]
    axes = np.linalg.eigh((sample.T @ sample).astype(np.float64))[1][:, ::-1].T.astype(np.float32)
    z = _bounding_rows(x, axes, min(dims, d - 1)) if 0 < dims < d else x
    centroids = _spherical_kmeans(z, clusters, rng)
    near = _nearest_clusters(z, centroids, probes)
    cut = screen_cut(threshold, z.shape[1] - 1, False) if z is not x else threshold - BOUND_SLACK
    members = _members_by_cluster(near[:, 0], clusters)
    queries = _members_by_cluster(near.ravel() if probes > 1 else near[:, 0], clusters, per_row=probes)
    with threadpool_limits(limits=1, user_api="blas"):
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            found = [p for p in pool.map(
                lambda c: _cluster_block(x, z, near, members[c], queries[c], cut, threshold), range(clusters))
                if p is not None]
    screened = sum(len(members[c]) * len(queries[c]) for c in range(clusters)) / max(1, n * (n - 1))
    probe = Probe(clusters, probes, round(screened, 6))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty.copy(), np.zeros(0, dtype=np.float32)), probe
    i, j, s = (np.concatenate(col) for col in zip(*found))
    order = np.lexsort((j, i))  # the order `similar_pairs` would not promise either, but a stable one
    return Pairs(i[order], j[order], s[order]), probe


def _spherical_kmeans(z: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Unit centroids learnt on a seeded sample (Lloyd's rounds on cosine); a cluster left empty keeps its seed."""
    sample = z[rng.permutation(len(z))[:clusters * IVF_SAMPLE_PER_CLUSTER]]
    centroids = sample[:clusters].copy()
    for _ in range(IVF_ITERATIONS):
        home = np.argmax(sample @ centroids.T, axis=1)
        order = np.argsort(home, kind="stable")
        used, starts = np.unique(home[order], return_index=True)
        centroids[used] = np.add.reduceat(sample[order], starts, axis=0)
        centroids = normalize(centroids, in_place=True)
    return centroids


def _nearest_clusters(z: np.ndarray, centroids: np.ndarray, probes: int, chunk: int = 8192) -> np.ndarray:
    """Each row's `probes` most similar centroids, nearest first (column 0 is the row's home cluster)."""
    near = np.empty((len(z), probes), dtype=np.int32)
    for r0 in range(0, len(z), chunk):
        sims = z[r0:r0 + chunk] @ centroids.T
        top = np.argpartition(-sims, probes - 1, axis=1)[:, :probes] if probes < sims.shape[1] else \
            np.tile(np.arange(sims.shape[1]), (len(sims), 1))
        ranked = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        near[r0:r0 + chunk] = np.take_along_axis(top, ranked, axis=1)
    return near


def _members_by_cluster(labels: np.ndarray, clusters: int, per_row: int = 1) -> list[np.ndarray]:
    """Row indices per cluster label (labels laid out `per_row` to a row), ascending."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(clusters + 1))
    rows = (order // per_row).astype(np.int64)
    return [rows[bounds[c]:bounds[c + 1]] for c in range(clusters)]


def _cluster_block(x: np.ndarray, z: np.ndarray, near: np.ndarray, members: np.ndarray, queries: np.ndarray,
                   cut: float, threshold: float):
    """Pairs (query, member) of one cluster whose bound reaches the cut, each pair kept in one block only, checked
    exactly. A pair is seen in cluster c = home(b) when a probes c, and in home(a) when b probes home(a): it is kept
    in the lower-numbered of the two (and once, as a < b, when both rows live in c)."""
    if not len(members) or not len(queries):
        return None
    block = z[queries] @ z[members].T
    qi, mi = np.nonzero(block >= cut)
    a, b = queries[qi], members[mi]
    home_a, home_b = near[a, 0], near[b, 0]
    b_probes_home_a = (near[b] == home_a[:, None]).any(axis=1)
    keep = (a != b) & ~(b_probes_home_a & (home_a < home_b)) & ~((home_a == home_b) & (a > b))
    qi, mi = qi[keep], mi[keep]
    if not len(qi):
        return None
    i, j, s = _survivors(x, queries[qi], members[mi], threshold)  # (query, member): the block's rows and columns,
    return np.minimum(i, j), np.maximum(i, j), s  # so that one product over those that survive may be the cheaper
