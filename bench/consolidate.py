"""Consolidation: planning time and peak memory at 10k and 100k items, LLM calls per group, and the real data.

1. Planning scale. Synthetic 384-d unit vectors shaped like MiniLM's (a shared component gives unrelated items a
   ~0.2 mean cosine) with planted near-duplicate clusters of 2–4 items (about a fifth of the items). Each size runs
   `consolidate.plan` in its own process: median seconds over --repeats, peak RSS, and the planning's own peak
   allocation (tracemalloc; numpy reports to it). Baselines measured in the same run: an all-pairs Python loop
   (pairs/s on 1,000 items, extrapolated) and one dense n×n numpy matrix (run at 10k; at 100k it would need 40 GB).
   Recall of the planted clusters is printed so that speed is not bought with misses.
2. LLM calls per group: a 2,000-item bank consolidated with a counting `complete` callable.
3. The real shared data (τ-bench airline + Reflexion HotpotQA): items after a heuristic learn when `Bank.learn`
   exists; otherwise items made by the documented stand-in below. Prints how many items, how many groups merged,
   and 3 before/after examples.

4. --scale N (alone): N real-like items (MiniLM vectors of real agent sentences, see `real_like`) in one domain,
   planned with the pruned pair search and with the plain all-pairs oracle, alternating in one process: median
   plan seconds of each, the ratio, the pair search's share, CPU seconds, the load average, and whether the two
   plans are equal. The first run embeds --base-sentences real sentences (minutes; cached in the temp dir).

5. --against ROOT (with --scale N, alone): `consolidate.plan` over the same N real-like items with this checkout's
   code and with the code at ROOT (e.g. `git worktree add /tmp/plan-base <commit>`), alternating, one fresh process
   per run (torch's import counted where planning imports it): median wall and CPU seconds, load average, and
   whether the two plans are identical.
6. --recall N: the cluster search (`similar_pairs_ivf`, what planning uses from IVF_MIN_ROWS rows) against the
   exact search on N real-like rows: pair recall at 0.80, the misses' similarities, whether the plans are equal.
7. --store-scale N [--against ROOT]: N real-like items in one domain bulk-loaded into a DuckDB bank and a bank on an
   embedded PostgreSQL (tests/embedded_pg.py), each with its similarity vectors stored: `Bank.plan_consolidation`
   seconds (reading items and vectors included) per backend and code version, one process per run. --backends
   duckdb leaves PostgreSQL out; the DuckDB bank is built once and kept in the temp dir.

Usage: python bench/consolidate.py [--sizes 10000,100000] [--repeats 3] [--skip-real]
       python bench/consolidate.py --scale 100000 [--repeats 3] [--base-sentences 8000] [--against /tmp/plan-base]
       python bench/consolidate.py --recall 100000
       python bench/consolidate.py --store-scale 10000 [--repeats 3] [--against /tmp/plan-base] [--backends duckdb]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bankcore.curate.consolidate import text_key  # noqa: E402 — after the path is set
from bankcore.search.similarity import normalize  # noqa: E402
SHARED = ROOT.parent / "shared" / "datasets"
TAU = SHARED / "tau-bench-airline" / "gpt-4o-airline.json"
REFLEXION = SHARED / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt"
THRESHOLD = 0.85


def synthetic(n: int, dim: int = 384, seed: int = 11) -> tuple[np.ndarray, list[list[int]]]:
    """Unit vectors with planted clusters; returns (vectors, clusters as index lists)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(dim)
    common /= np.linalg.norm(common)
    vectors = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    vectors += 0.5 * common  # unrelated items share a direction, as real sentence embeddings do
    clusters, k = [], 0
    while k < n // 5:
        size = int(rng.integers(2, 5))
        members = list(range(k, min(k + size, n)))
        center = vectors[members[0]].copy()
        for m in members:
            vectors[m] = center + 0.012 * rng.standard_normal(dim)
        clusters.append(members)
        k += size
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), clusters


CHILD = r"""
import json, resource, statistics, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from bench.consolidate import synthetic, fake_items, THRESHOLD
from bankcore.curate import consolidate
n, repeats, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
vectors, clusters = synthetic(n)
items = fake_items(n, 10 if mode == "blocked-10-domains" else 1, clusters)


def run():
    if mode.startswith("blocked"):
        return consolidate.plan(items, vectors, threshold=THRESHOLD)
    sims = vectors @ vectors.T  # dense baseline: one n×n similarity matrix
    return int(((sims >= THRESHOLD).sum() - n) // 2)


times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    actions = run()
    times.append(time.perf_counter() - t0)
tracemalloc.start()  # a separate, untimed run: tracing slows Python allocations down
run()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
out = {"n": n, "mode": mode, "median_s": statistics.median(times), "runs": [round(t, 3) for t in times],
       "plan_peak_mb": round(peak / 2**20, 1), "vectors_mb": round(vectors.nbytes / 2**20, 1),
       "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
if mode.startswith("blocked"):
    planted = {tuple(c) for c in clusters}
    found = {tuple(i - 1 for i in a.parent_ids) for a in actions if a.kind == "merge"}
    out.update(groups=len(found), planted=len(planted), exact_recovered=len(planted & found),
               recall=round(len(planted & found) / len(planted), 4))
print(json.dumps(out))
"""


def fake_items(n: int, domains: int = 1, clusters: list[list[int]] = ()):
    """Items for the vectors; with several domains, consecutive blocks share one and a cluster stays whole."""
    from bankcore.models import MemoryItem
    per = -(-n // domains)
    domain = [i // per for i in range(n)]
    for members in clusters:
        for m in members:
            domain[m] = domain[members[0]]
    return [MemoryItem(f"Lesson {i}", "A lesson.", f"Sentence of lesson {i}.", source="success",
                       domain=f"d{domain[i]}", item_id=i + 1, last_event_id=i + 1) for i in range(n)]


def child(n: int, repeats: int, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(n), str(repeats), mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def python_pairs_per_second(m: int = 1000) -> float:
    """The naive approach: every pair, one dot product at a time, in Python."""
    vectors, _ = synthetic(m)
    rows = [v.tolist() for v in vectors]
    t0 = time.perf_counter()
    found = 0
    for i in range(m):
        a = rows[i]
        for j in range(i + 1, m):
            if sum(x * y for x, y in zip(a, rows[j])) >= THRESHOLD:
                found += 1
    return (m * (m - 1) / 2) / (time.perf_counter() - t0)


def bench_scale(sizes: list[int], repeats: int) -> None:
    print("## planning scale (one domain, the worst case: every pair is compared)", flush=True)
    rate = python_pairs_per_second()
    print(json.dumps({"baseline": "all-pairs python loop", "pairs_per_s": round(rate)}), flush=True)
    for n in sizes:
        row = child(n, repeats, "blocked")
        pairs = n * (n - 1) / 2
        row["python_loop_s_extrapolated"] = round(pairs / rate)
        row["speedup_vs_python_loop"] = round(pairs / rate / row["median_s"])
        row["pairs_per_s"] = round(pairs / row["median_s"])
        if n <= 20_000:
            dense = child(n, repeats, "dense")
            row["dense_numpy_s"] = round(dense["median_s"], 3)
            row["dense_numpy_peak_mb"] = dense["plan_peak_mb"]
        else:
            row["dense_numpy_peak_mb"] = f"{n * n * 4 / 2**30:.0f} GB (not run)"
        row["median_s"] = round(row["median_s"], 3)
        print(json.dumps(row), flush=True)
    print("## planning scale, items spread over 10 domains (compared only within a domain)", flush=True)
    for n in sizes:
        row = child(n, repeats, "blocked-10-domains")
        row["median_s"] = round(row["median_s"], 3)
        print(json.dumps(row), flush=True)


def bench_llm_calls(n: int = 2000) -> None:
    print("## LLM calls per group", flush=True)
    from bankcore import Bank
    from bankcore.curate import lifecycle
    from bankcore.models import MemoryItem
    from bankcore.search.embed import Embedder

    class SyntheticEmbedder(Embedder):  # random vectors: the bench measures the merge calls, not the model
        model_id = similarity_model_id = "bench-synthetic"
        dim = 384

        def embed(self, texts, batch_size=32):
            rng = np.random.default_rng(len(texts))
            v = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    vectors, _ = synthetic(n)
    calls = []

    def complete(messages):
        calls.append(messages)
        ids = [entry["id"] for entry in json.loads(messages[1]["content"].split("Lessons (JSON):\n")[1]
                                                   .split("\n\nReply")[0])]
        return json.dumps({"decision": "merge", "absorbs": ids, "title": "Merged", "description": "Merged.",
                           "content": "Merged lesson.", "reason": "bench"})

    with tempfile.TemporaryDirectory() as tmp:
        bank = Bank(Path(tmp) / "b.duckdb", embedder=SyntheticEmbedder())
        with bank.store.transaction():
            for i, v in enumerate(vectors):
                lifecycle.add_item(bank.store, MemoryItem(f"Lesson {i}", "A lesson.", f"Lesson {i}.", source="success",
                                                         domain="bench", embedding=v.tolist(),
                                                         embedding_model="bench-synthetic"), actor="bench")
        t0 = time.perf_counter()
        actions, report = bank.consolidate(threshold=THRESHOLD, llm=True, complete=complete, model="counting")
        elapsed = time.perf_counter() - t0
    groups = len([a for a in actions if a.kind == "merge"])
    print(json.dumps({"items": n, "groups": groups, "llm_calls": len(calls), "calls_per_group": len(calls) / groups,
                      "merged": len(report.merged), "apply_s": round(elapsed, 2),
                      "groups_per_s": round(groups / elapsed, 1)}), flush=True)


# ---------------------------------------------------------------------- real sentence vectors (for --scale)
REALDATA = ROOT.parent / "realdata"
SWE_TRAJS = REALDATA / "swe" / "20251118_mini-v1.15.0_gemini-3-pro-preview" / "trajs"
REALDATA_REFLEXION = REALDATA / "reflexion"  # the full Reflexion HotpotQA logs: ReAct and CoT thoughts
VECTOR_CACHE = Path(tempfile.gettempdir()) / "bankcore-bench-consolidate"


def real_sentences(limit: int) -> list[str]:
    """Distinct real agent sentences, interleaved across sources: ReAct thoughts (HotpotQA), τ-bench assistant
    replies, mini-swe-agent THOUGHT paragraphs (SWE-bench), the full Reflexion logs' ReAct and CoT thoughts — each
    source where it is present. What the agents wrote, never outcomes or answers."""
    sources: list[list[str]] = []
    if REFLEXION.parent.exists():
        sources.append([m.group(1) for f in sorted(REFLEXION.parent.glob("*.txt"))
                        for m in re.finditer(r"^Thought \d+: (.+)$", f.read_text(), re.M)])
    if TAU.exists():
        sources.append([msg["content"] for run in json.loads(TAU.read_text()) for msg in run["traj"]
                        if msg.get("role") == "assistant" and msg.get("content")])
    if SWE_TRAJS.exists():
        sources.append([msg["content"].split("```")[0].removeprefix("THOUGHT:")
                        for f in sorted(SWE_TRAJS.glob("*/*.traj.json"))
                        for msg in json.loads(f.read_text())["messages"] if msg["role"] == "assistant"])
    if REALDATA_REFLEXION.exists():
        sources.append([m.group(1) for f in sorted(REALDATA_REFLEXION.glob("*.txt"))
                        for m in re.finditer(r"^Thought(?: \d+)?: (.+)$", f.read_text(), re.M)])
    seen: dict[str, None] = {}
    for row in zip_longest(*sources):
        for text in row:
            text = " ".join((text or "").split())[:600]
            if len(text) >= 20:
                seen.setdefault(text)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def real_sentence_vectors(limit: int) -> np.ndarray:
    """MiniLM vectors (the similarity recipe's model) of `real_sentences(limit)`, cached in the temp dir by content
    hash: embedding thousands of texts takes minutes on two cores."""
    texts = real_sentences(limit)
    if not texts:
        raise SystemExit("--scale needs real sentences: ../shared/datasets or /work/realdata")
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = VECTOR_CACHE / f"minilm-{len(texts)}-{key}.npy"
    if path.exists():
        return np.load(path)
    from bankcore.search.embed import Embedder
    vectors = Embedder().embed(texts)
    VECTOR_CACHE.mkdir(exist_ok=True)
    np.save(path, vectors)
    return vectors


# ---------------------------------------------------------------------- --scale: pruned search vs the oracle
def real_like(n: int, base: np.ndarray, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """n lesson-like vectors made from real sentence vectors; returns (vectors, each row's main sentence).

    Row = (real sentence i) + w·(real sentence j), w ~ U(0.7, 1), + 0.01·N(0, I) per coordinate, normalised: a
    lesson about one real thing with a good part of another, so rows stay in the directions real sentences use
    (pure random vectors have no such structure and would flatter nothing: the screen falls back on them). Then a
    fifth of the rows become near-copies of an earlier row (cosine ≈ 0.86–0.97), what consolidation is for.
    Measured at the k the screen picks here (64): it passes ~0.11% of these rows' pairs and ~0.33% of the real
    vectors' own pairs (both printed), so real text leaves ~3× more survivors; at ~115 ns each that is ~0.25 ns more
    per pair on a screen of ~2.1 ns: about 12% slower than measured here."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
    weight = rng.uniform(0.7, 1.0, (n, 1)).astype(np.float32)
    x = base[i] + weight * base[j] + 0.01 * rng.standard_normal((n, base.shape[1])).astype(np.float32)
    copies = np.flatnonzero(rng.random(n) < 0.2)
    copies = copies[copies > 0]
    sources = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier row
    spread = rng.uniform(0.25, 0.6, (len(copies), 1)).astype(np.float32) / np.sqrt(base.shape[1])
    x = normalize(x)
    x[copies] = x[sources] + spread * rng.standard_normal((len(copies), base.shape[1])).astype(np.float32)
    i[copies] = i[sources]
    return normalize(x), i


def bench_pruned_scale(n: int, repeats: int, base_sentences: int) -> None:
    """`consolidate.plan` over n items in one domain with the pruned search (what plan uses) and with the plain
    all-pairs oracle, alternating in one process so both see the same machine load; the plans must be equal."""
    import os
    from bankcore.curate import consolidate
    from bankcore.models import MemoryItem
    from bankcore.search.similarity import similar_pairs, similar_pairs_pruned

    print(f"## --scale {n}: one domain, pruned pair search vs the plain oracle", flush=True)
    texts = real_sentences(base_sentences)
    base = normalize(real_sentence_vectors(base_sentences))
    vectors, main = real_like(n, base)
    items = [MemoryItem(f"Lesson {k}", "A lesson.", f"{texts[main[k]]} (row {k})", source="success", domain="fleet",
                        item_id=k + 1, last_event_id=k + 1) for k in range(n)]
    spent: list[float] = []
    spent_cpu: list[float] = []
    screens: list = []

    def timed(search):
        def run(x, threshold):
            t0, cpu0 = time.perf_counter(), time.process_time()
            pairs, screen = search(x, threshold)
            spent.append(time.perf_counter() - t0)
            spent_cpu.append(time.process_time() - cpu0)
            screens.append(screen)
            return pairs, screen
        return run

    searches = {"pruned": timed(similar_pairs_pruned), "oracle": timed(lambda x, t: (similar_pairs(x, t), None))}
    runs: dict[str, list[dict]] = {name: [] for name in searches}
    plans = {}
    load_before = os.getloadavg()
    for _ in range(repeats):
        for name, search in searches.items():
            consolidate.similar_pairs_pruned = search
            spent.clear()
            spent_cpu.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            plans[name] = consolidate.plan(items, vectors)
            runs[name].append({"plan_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                               "pairs_s": sum(spent), "pairs_cpu_s": sum(spent_cpu)})
            print(json.dumps({"run": name, **{k: round(v, 2) for k, v in runs[name][-1].items()}}), flush=True)
    consolidate.similar_pairs_pruned = similar_pairs_pruned

    def median(name: str, key: str) -> float:
        return round(float(np.median([r[key] for r in runs[name]])), 2)

    real_screen = similar_pairs_pruned(base, consolidate.DEFAULT_CONTRADICTION_THRESHOLD, min_rows=0,
                                       dims=screens[0].dims)[1]
    merges = [a for a in plans["pruned"] if a.kind == "merge"]
    print(json.dumps({
        "n": n, "domains": 1, "repeats": repeats,
        "vectors": f"real_like: MiniLM vectors of {len(base)} real agent sentences (ReAct thoughts, τ-bench replies, "
                   "SWE-bench THOUGHTs), mixed in pairs + noise, a fifth near-copies (see real_like)",
        "screen_dims": screens[0].dims, "screen_bf16": screens[0].bf16, "screen_pass_rate": screens[0].pass_rate,
        "screen_pass_rate_on_the_real_vectors": real_screen.pass_rate,
        "pruned_plan_median_s": median("pruned", "plan_s"), "oracle_plan_median_s": median("oracle", "plan_s"),
        "speedup": round(median("oracle", "plan_s") / median("pruned", "plan_s"), 1),
        "pruned_pair_search_median_s": median("pruned", "pairs_s"),
        "oracle_pair_search_median_s": median("oracle", "pairs_s"),
        "rest_of_plan_median_s": round(median("pruned", "plan_s") - median("pruned", "pairs_s"), 2),
        "pruned_cpu_median_s": median("pruned", "cpu_s"), "oracle_cpu_median_s": median("oracle", "cpu_s"),
        "pruned_pair_search_cpu_median_s": median("pruned", "pairs_cpu_s"),
        "oracle_pair_search_cpu_median_s": median("oracle", "pairs_cpu_s"),
        "plans_identical": plans["pruned"] == plans["oracle"], "merges": len(merges),
        "contradictions": len(plans["pruned"]) - len(merges), "cores": os.cpu_count(),
        "load_avg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]}), flush=True)


# ---------------------------------------------------------------------- --recall: the cluster search vs the exact one
def bench_recall(n: int) -> None:
    """Pairs ≥ 0.80 (the contradiction threshold) found by the cluster search against the exact search on the same
    n real-like rows, the seconds of each, and whether the two plans are identical (and how many actions differ)."""
    from bankcore.curate import consolidate
    from bankcore.search.similarity import similar_pairs_ivf, similar_pairs_pruned
    items, vectors = real_like_items(n)
    x = normalize(vectors)
    threshold = min(consolidate.DEFAULT_THRESHOLD, consolidate.DEFAULT_CONTRADICTION_THRESHOLD)
    out: dict = {"n": n, "threshold": threshold, "load_avg_1min_before": round(os.getloadavg()[0], 1)}
    found = {}
    for name, search in (("exact", similar_pairs_pruned), ("clusters", similar_pairs_ivf)):
        wall, cpu = time.perf_counter(), time.process_time()
        pairs, how = search(x, threshold)
        out[f"{name}_pairs_s"] = round(time.perf_counter() - wall, 2)
        out[f"{name}_pairs_cpu_s"] = round(time.process_time() - cpu, 2)
        out[f"{name}_search"] = repr(how)
        found[name] = dict(zip(zip(pairs.i.tolist(), pairs.j.tolist()), pairs.sim.tolist()))
    missed = set(found["exact"]) - set(found["clusters"])
    out.update(exact_pairs=len(found["exact"]), missed=len(missed),
               recall=round(1 - len(missed) / max(1, len(found["exact"])), 6),
               missed_at_or_above_merge_threshold=sum(found["exact"][p] >= consolidate.DEFAULT_THRESHOLD
                                                      for p in missed),
               missed_max_similarity=round(max((found["exact"][p] for p in missed), default=0.0), 4))
    plans = {name: consolidate.plan(items, vectors, search=name) for name in ("exact", "clusters")}
    out.update(plans_identical=plans["exact"] == plans["clusters"], actions=len(plans["exact"]),
               actions_only_in_exact=len(set(map(repr, plans["exact"])) - set(map(repr, plans["clusters"]))),
               actions_only_in_clusters=len(set(map(repr, plans["clusters"])) - set(map(repr, plans["exact"]))),
               load_avg_1min_after=round(os.getloadavg()[0], 1))
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------------- --against: this code vs another checkout
VERSUS_CHILD = r"""
import json, os, resource, sys, time, hashlib
root, n, bench_root, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, root)
import importlib.util
import bankcore
assert bankcore.__file__.startswith(root), bankcore.__file__
spec = importlib.util.spec_from_file_location("bench_data", bench_root + "/bench/consolidate.py")
data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(data)  # the data makers only: plan and Bank come from `root`
from bankcore.curate import consolidate
before = resource.getrusage(resource.RUSAGE_SELF)
load = os.getloadavg()[0]
if target == "values":
    items, vectors = data.real_like_items(n)
    before, load, start = resource.getrusage(resource.RUSAGE_SELF), os.getloadavg()[0], time.perf_counter()
    actions = consolidate.plan(items, vectors)
else:
    from bankcore import Bank
    before, load, start = resource.getrusage(resource.RUSAGE_SELF), os.getloadavg()[0], time.perf_counter()
    bank = Bank(target, embedder=data.StoredVectors())
    actions = bank.plan_consolidation()
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": wall, "cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
                  "load": load, "actions": len(actions),
                  "plan_sha": hashlib.sha256(repr(actions).encode()).hexdigest()[:12]}))
"""


def real_like_items(n: int, base_sentences: int = 8000):
    """The --scale bank: n real-like items in one domain and their vectors."""
    from bankcore.models import MemoryItem
    texts = real_sentences(base_sentences)
    vectors, main = real_like(n, normalize(real_sentence_vectors(base_sentences)))
    items = [MemoryItem(f"Lesson {k}", "A lesson.", f"{texts[main[k]]} (row {k})", source="success", domain="fleet",
                        item_id=k + 1, last_event_id=k + 1) for k in range(n)]
    return items, vectors


class StoredVectors:
    """The embedder a store-backed plan is handed: every vector is already stored under model id "bench-real-like",
    so nothing is embedded (a call to embed would mean the bench measured the wrong thing)."""

    model_id = similarity_model_id = "bench-real-like"
    dim = 384

    def embed(self, texts, batch_size=32):
        raise AssertionError(f"the bench stored every vector, yet {len(texts)} texts were to be embedded")


def versus(roots: dict[str, str], n: int, repeats: int, target: str) -> dict[str, list[dict]]:
    """One fresh process per run, the versions alternating: {name: [run, ...]}."""
    runs: dict[str, list[dict]] = {name: [] for name in roots}
    for _ in range(repeats):
        for name, root in roots.items():
            out = subprocess.run([sys.executable, "-c", VERSUS_CHILD, root, str(n), str(ROOT), target], check=True,
                                 capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps({"run": name, "target": target if target == "values" else target.split(":")[0],
                              **{k: round(v, 2) if isinstance(v, float) else v
                                 for k, v in runs[name][-1].items()}}), flush=True)
    return runs


def summarise(label: str, n: int, runs: dict[str, list[dict]]) -> None:
    def median(name, key):
        return round(float(np.median([r[key] for r in runs[name]])), 2)
    names = list(runs)
    print(json.dumps({"what": label, "n": n, **{f"{name}_median_s": median(name, "wall_s") for name in names},
                      **{f"{name}_cpu_median_s": median(name, "cpu_s") for name in names},
                      "wall_ratio": round(median(names[-1], "wall_s") / median(names[0], "wall_s"), 2),
                      "cpu_ratio": round(median(names[-1], "cpu_s") / median(names[0], "cpu_s"), 2),
                      "plans_identical": len({r["plan_sha"] for rs in runs.values() for r in rs}) == 1,
                      "actions": runs[names[0]][0]["actions"],
                      "load_avg_1min": [round(min(r["load"] for rs in runs.values() for r in rs), 1),
                                        round(max(r["load"] for rs in runs.values() for r in rs), 1)],
                      "cores": os.cpu_count()}), flush=True)


def bench_against(n: int, repeats: int, against: str) -> None:
    print(f"## --scale {n} --against {against}: consolidate.plan, that code vs this", flush=True)
    summarise("plan over values", n, versus({"baseline": against, "this": str(ROOT)}, n, repeats, "values"))


def bench_store_plan(n: int, repeats: int, against: str | None, backends: list[str]) -> None:
    """Bank.plan_consolidation on a DuckDB bank and on an embedded PostgreSQL, same items and vectors. Each run
    plans over its own copy of the DuckDB bank, built once and kept in the temp dir (`duckdb_bank`)."""
    roots = {"baseline": against, "this": str(ROOT)} if against else {"this": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        if "duckdb" in backends:
            target = str(Path(tmp) / "plan.duckdb")
            shutil.copyfile(duckdb_bank(n), target)
            print(f"## --store-scale {n} on duckdb: Bank.plan_consolidation (reads included)", flush=True)
            summarise("Bank.plan_consolidation on duckdb", n, versus(roots, n, repeats, target))
        if "postgresql" in backends:
            _bench_pg_plan(n, repeats, roots)


def duckdb_bank(n: int) -> Path:
    """The --store-scale DuckDB bank of n real-like items with their similarity vectors stored, built on first use
    (loading 100k items takes minutes) and kept in the temp dir by the data's hash; runs plan over copies of it."""
    items, vectors = real_like_items(n)
    key = hashlib.sha256(vectors.tobytes() + repr([i.content for i in items[:100]]).encode()).hexdigest()[:12]
    path = VECTOR_CACHE / f"plan-{n}-{key}.duckdb"
    if not path.exists():
        from bankcore.store import open_store
        from bankcore.search.reembed import keep_similarity_vectors
        VECTOR_CACHE.mkdir(exist_ok=True)
        building = path.with_name("building-" + path.name)
        building.unlink(missing_ok=True)
        store = open_store(str(building))
        load_items(store, items, vectors)
        keep_similarity_vectors(store, StoredVectors())
        getattr(store, "close", lambda: None)()
        building.rename(path)
    return path


def _bench_pg_plan(n: int, repeats: int, roots: dict[str, str]) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from embedded_pg import new_database, running, wheel_of
    from bankcore.store import open_store
    from bankcore.search.reembed import keep_similarity_vectors
    items, vectors = real_like_items(n)
    with running("bankcore-plan-pg-") as server:
        print(f"embedded PostgreSQL from {wheel_of(server)}", flush=True)
        target = new_database(server, "plan_bench")
        store = open_store(target)
        load_items(store, items, vectors)
        keep_similarity_vectors(store, StoredVectors())
        print(f"## --store-scale {n} on postgresql: Bank.plan_consolidation (reads included)", flush=True)
        summarise("Bank.plan_consolidation on postgresql", n, versus(roots, n, repeats, target))


def load_items(store, items, vectors: np.ndarray) -> None:
    """All items in one transaction through the store's Arrow bulk insert (COPY on PostgreSQL), as
    bench/pg_vectors.py loads its banks: adding 100k items one event at a time would take most of an hour."""
    import pyarrow as pa
    from datetime import datetime
    when = datetime(2026, 1, 1)
    with store.transaction(), store._con() as con:
        for start in range(0, len(items), 10_000):
            part = items[start:start + 10_000]
            m = len(part)
            store._insert_arrow(con, "memory_items", {
                "item_id": pa.array([i.item_id for i in part], pa.int32()), "title": [i.title for i in part],
                "description": [i.description for i in part], "content": [i.content for i in part],
                "source": [i.source for i in part], "status": [i.status for i in part],
                "domain": [i.domain for i in part], "flags": ["[]"] * m,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors[start:start + m].ravel()),
                                                               vectors.shape[1]).cast(pa.list_(pa.float32())),
                "embedding_model": [StoredVectors.model_id] * m, "version": pa.array([1] * m, pa.int32()),
                "created_at": pa.array([when] * m, pa.timestamp("us")),
                "updated_at": pa.array([when] * m, pa.timestamp("us")), "meta": ["{}"] * m})


# ---------------------------------------------------------------------- real data
def real_items(bank) -> str:
    """Items from the real trajectories: a heuristic learn if this build has one, else the stand-in."""
    bank.import_path(TAU)
    bank.import_path(REFLEXION)
    if hasattr(bank, "learn_trajectories"):
        ids = [t.traj_id for t in bank.store.iter_trajectories()]
        bank.learn_trajectories(ids, judge="heuristic", extractor="heuristic")
        return "heuristic learn (heuristic judge + heuristic extractor)"
    standin_items(bank)
    return "stand-in:1 (see standin_items)"


def standin_items(bank) -> None:
    """Stand-in for the heuristic extractor while it is not on main — documented, crude, never shown as real.

    Per trajectory, one item per distinct tool/action kind it used, written from a fixed template that names the
    tool and the task's first words; label from the trajectory itself (an error-looking last observation or no
    final answer → failure), never from the ground truth. Lessons about the same tool in similar tasks come out
    alike, which is what consolidation must find.
    """
    from bankcore.curate import lifecycle
    from bankcore.search.embed import Embedder
    from bankcore.models import ItemSource, MemoryItem
    items = []
    for traj in bank.store.iter_trajectories():
        last = (traj.steps[-1].observation or "") if traj.steps else ""
        failed = not traj.final_answer or any(w in last.lower() for w in ("error", "not found", "invalid"))
        tools = []
        for step in traj.steps:
            name = (step.action or "").split("(")[0].split("[")[0].strip()
            if name and name not in tools and len(name) < 40:
                tools.append(name)
        intent = " ".join(traj.query.split()[:8])
        for tool in tools[:3]:
            title = f"Use {tool} when the task asks: {intent}"
            if failed:
                content = (f"In a failed attempt the agent called {tool} for: {intent}. "
                           f"Check the inputs to {tool} and verify its result before answering.")
            else:
                content = f"Calling {tool} helped with: {intent}. Use its result before answering."
            items.append((MemoryItem(title, f"Lesson about {tool}.", content, source="failure" if failed else "success",
                                     domain=traj.domain or traj.source_format, extractor_id="stand-in:1"),
                          ItemSource(0, "evidence", traj_id=traj.traj_id)))
    Embedder().embed_items([i for i, _ in items])
    with bank.store.transaction():
        for item, source in items:
            lifecycle.add_item(bank.store, item, [source], actor="stand-in:1")


def bench_real() -> None:
    print("## real shared data", flush=True)
    if not (TAU.exists() and REFLEXION.exists()):
        print(json.dumps({"skipped": "shared datasets not present"}))
        return
    from bankcore import Bank
    with tempfile.TemporaryDirectory() as tmp:
        bank = Bank(Path(tmp) / "real.duckdb")
        how = real_items(bank)
        before = {i.item_id: i for i in bank.store.query_items()}
        for threshold in (0.75, 0.80, 0.85, 0.90, 0.95):  # plans only: how the threshold changes what merges
            planned = bank.plan_consolidation(threshold=threshold)
            merges = [a for a in planned if a.kind == "merge"]
            print(json.dumps({"threshold": threshold, "groups": len(merges),
                              "items_in_groups": sum(len(m.parent_ids) for m in merges),
                              "groups_with_different_content": sum(
                                  len({text_key(before[p])[2] for p in m.parent_ids}) > 1 for m in merges),
                              "contradictions": len(planned) - len(merges)}), flush=True)
        t0 = time.perf_counter()
        bank.plan_consolidation()
        plan_s = time.perf_counter() - t0
        _, report = bank.consolidate()
        sizes = [len(p) for _, p in report.merged]
        texts = {text_key(i) for i in before.values()}
        print(json.dumps({"items_from": how, "items": len(before), "distinct_texts": len(texts),
                          "active": sum(i.status in ("pending", "approved") for i in before.values()),
                          "threshold": bank.policy().merge_threshold, "plan_s": round(plan_s, 2),
                          "groups_merged": len(report.merged), "items_absorbed": sum(sizes),
                          "group_sizes": {s: sizes.count(s) for s in sorted(set(sizes))},
                          "contradictions_flagged": len(report.contradictions),
                          "active_after": bank.store.count_items(status=["pending", "approved"])}), flush=True)
        for child_id, parents in _examples(report.merged, before):
            distinct: dict[tuple, list[int]] = {}
            for p in parents:
                distinct.setdefault(text_key(before[p]), []).append(p)
            print(f"\n### example: {len(parents)} items ({len(distinct)} distinct texts) → #{child_id}")
            for same in distinct.values():
                i = before[same[0]]
                copies = f" ×{len(same)}" if len(same) > 1 else ""
                print(f"  before #{same[0]}{copies} ({i.source}): {i.title} — {i.description} | {i.content}")
            c = bank.item(child_id)
            print(f"  after  #{child_id} ({c.extractor_id}, {c.status}): {c.title} — {c.description} | {c.content}")


def _examples(merged, before, n: int = 3):
    """Three merges that fold different texts together, from different domains when possible."""
    def distinct(parents, part=slice(None)):
        return len({text_key(before[p])[part] for p in parents})
    # Merges of different lessons first (different content), then of different wordings, then of many copies.
    ranked = sorted(merged, key=lambda m: (-distinct(m[1], slice(2, 3)), -min(distinct(m[1]), 4), -len(m[1]), m[0]))
    chosen, domains = [], set()
    for child_id, parents in ranked:
        if before[parents[0]].domain not in domains:
            chosen.append((child_id, parents))
            domains.add(before[parents[0]].domain)
    for m in ranked:
        if len(chosen) < n and m not in chosen:
            chosen.append(m)
    return chosen[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--only-real", action="store_true")
    parser.add_argument("--scale", type=int, metavar="N",
                        help="only: plan N real-like items in one domain, pruned search vs the plain oracle")
    parser.add_argument("--base-sentences", type=int, default=8000, help="real sentences --scale embeds (cached)")
    parser.add_argument("--against", metavar="ROOT", help="with --scale/--store-scale: another checkout's code, "
                                                          "measured alternately in the same run")
    parser.add_argument("--recall", type=int, metavar="N",
                        help="only: pairs the cluster search finds vs the exact search, and both plans, N rows")
    parser.add_argument("--store-scale", type=int, metavar="N",
                        help="only: Bank.plan_consolidation over N real-like items on DuckDB and on PostgreSQL")
    parser.add_argument("--backends", default="duckdb,postgresql", help="with --store-scale: which banks")
    args = parser.parse_args()
    if args.recall:
        bench_recall(args.recall)
        return
    if args.store_scale:
        bench_store_plan(args.store_scale, args.repeats, args.against, args.backends.split(","))
        return
    if args.scale and args.against:
        bench_against(args.scale, args.repeats, args.against)
        return
    if args.scale:
        bench_pruned_scale(args.scale, args.repeats, args.base_sentences)
        return
    if not args.only_real:
        bench_scale([int(s) for s in args.sizes.split(",")], args.repeats)
        bench_llm_calls()
    if not args.skip_real:
        bench_real()


if __name__ == "__main__":
    main()
