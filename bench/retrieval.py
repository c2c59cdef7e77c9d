"""Retrieval speed, memory and embedding throughput at 10k, 100k and 1M items.

Banks. Item texts are generated from lesson templates over five domains (airline, shopping, SWE, QA, web forms:
"Check the fare rules before you cancel a reservation", ...). A sample of them (`--real`, default 2,000) is embedded
for real with all-MiniLM-L6-v2 — this is also the embedding-throughput figure. The other items get vectors drawn
near the real ones: v = normalise(b + 0.6·g/√384), b a random real vector, g standard normal, so each synthetic item
sits at cosine ≈ 0.86 from a real lesson, like a paraphrase — the bank has the clustered structure real banks have,
not uniform noise. Items are written to a real bank file through Arrow bulk inserts (items with their vectors, an ADD
event each, provenance to one of N/10 trajectories spread over N/50 tasks), all approved, with domains, sources and
confidences, so retrieval's filters and leave-one-task-out run over real data.

Queries are task texts (generated customer/user requests across the domains, plus the τ-bench customers' first
messages when ../shared is present), embedded once; each carries the task id of a task in the bank.

Measured, in this process, per size (medians; ratios against baselines timed interleaved with ours, query by query):
- search-only top-1 and top-4: bankcore's default path (approved items, leave-one-task-out, minimum similarity,
  over the in-process cache) vs (a) numpy `X @ q` + argpartition + sort of the k over a normalised float32 matrix
  and (b) DuckDB `array_cosine_distance` ORDER BY LIMIT over a FLOAT[384] table (fewer queries at 1M: it is slow).
  Recall@k of bankcore against exact search (without the task exclusion, which exact search does not do).
- end to end at 100k (`Bank.retrieve`: embed a new query + change check + search + load items + log): median, p95,
  CPU per retrieve and the split (`Split`), with the file closed after each call and kept open between calls
  (`Bank.keep_open`), in alternating blocks; `--compare-tree` runs the same against another checkout.
- memory: bytes of the search structure per million items, and resident-set growth when it loads;
- opening: the cold load (no vector snapshot yet: vectors read from the bank through Arrow, then the snapshot is
  written) in this process, and in a fresh process the time to open the 1M bank and answer the first query with the
  snapshot present (model load reported apart), with that process's peak RSS.

Usage: python bench/retrieval.py [--sizes 10000,100000,1000000] [--real 2000] [--queries 200] [--workdir DIR]
       python bench/retrieval.py --end-to-end-only [--queries 100]   (warm Bank.retrieve at 100k: closed vs kept)
       python bench/retrieval.py --compare-tree DIR [--queries 200]   (warm Bank.retrieve at 100k: this tree against
                                                                       the checkout in DIR, two processes, alternating)
Banks are kept in the work dir (default /tmp/bankcore-bench) and reused when present: delete it to rebuild.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
TAU = ROOT.parent / "shared" / "datasets" / "tau-bench-airline" / "gpt-4o-airline.json"
DIM = 384

VOCAB = {
    "airline": (["reservation", "flight", "booking", "ticket", "itinerary", "baggage allowance", "refund", "seat",
                 "travel certificate", "cabin upgrade"],
                ["cancel", "change", "upgrade", "refund", "book", "rebook", "split", "modify"],
                ["the fare rules", "the membership tier", "the payment methods on file", "the flight status",
                 "the insurance coverage", "the passenger count", "the cabin class", "the booking date"]),
    "shopping": (["order", "product", "review", "shopping cart", "coupon", "shipping address", "wishlist",
                  "return request", "gift card", "subscription"],
                 ["find", "compare", "return", "reorder", "filter", "sort", "buy", "cancel"],
                 ["the order history", "every page of results", "the product specifications", "the final price",
                  "the seller rating", "the delivery estimate", "the size chart", "the stock level"]),
    "swe": (["function", "unit test", "module", "config file", "dependency", "stack trace", "migration",
             "API endpoint", "regression", "build script"],
            ["fix", "refactor", "patch", "debug", "upgrade", "rename", "remove", "test"],
            ["every caller", "the failing test", "the changelog", "the type signature", "the error message",
             "the reproduction script", "the git history", "the documentation"]),
    "qa": (["film", "author", "album", "river", "football club", "election", "novel", "scientist", "city",
            "band"],
           ["identify", "compare", "date", "locate", "verify", "name", "rank", "count"],
           ["the full entity name", "both candidates", "the infobox", "the first paragraph", "the disambiguation page",
            "the release year", "the birthplace", "a second source"]),
    "web": (["form", "dropdown menu", "search box", "data table", "admin page", "settings panel", "report",
             "user account", "calendar entry", "map view"],
            ["submit", "fill in", "update", "export", "delete", "create", "open", "edit"],
            ["the required fields", "the confirmation message", "the current page", "the selected filters",
             "the user permissions", "the date range", "the saved draft", "the sort order"]),
}
TITLES = ["Check {check} before you {action} the {obj}", "{Action} a {obj} only after reading {check}",
          "Verify {check} when asked to {action} a {obj}", "Do not {action} the {obj} without {check}"]
DESCRIPTIONS = ["Whether the {obj} can be handled depends on {check}.", "Most failures to {action} a {obj} came from "
                "skipping {check}.", "{Check} decides what to do with the {obj}."]
CONTENTS = ["When the task is to {action} a {obj}, first look at {check}; if it does not allow the change, say so "
            "instead of acting.", "Before you {action} the {obj}, read {check} and confirm the plan with the user; "
            "then act once.", "Agents that tried to {action} the {obj} directly failed; checking {check} first and "
            "re-reading the goal before the final step worked."]
REQUESTS = ["Hi, I need to {action} my {obj}, can you help?", "Please {action} the {obj} for me as soon as possible.",
            "I'd like to {action} a {obj}. What are my options?", "Can you {action} the {obj} I told you about?"]


# ---------------------------------------------------------------------- generated texts
def lesson_texts(n: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(domain, title, description, content) for n lessons from the templates."""
    out = []
    domains = list(VOCAB)
    for _ in range(n):
        domain = rng.choice(domains)
        objs, actions, checks = VOCAB[domain]
        slots = dict(obj=rng.choice(objs), action=rng.choice(actions), check=rng.choice(checks))
        slots.update(Action=slots["action"].capitalize(), Check=slots["check"].capitalize())
        out.append((domain, rng.choice(TITLES).format(**slots), rng.choice(DESCRIPTIONS).format(**slots),
                    rng.choice(CONTENTS).format(**slots)))
    return out


def query_texts(n: int, rng: random.Random) -> list[str]:
    texts = []
    if TAU.exists():
        runs = json.loads(TAU.read_text("utf-8"))
        texts = sorted({next(m["content"] for m in r["traj"] if m["role"] == "user") for r in runs})
    while len(texts) < n:
        domain = rng.choice(list(VOCAB))
        objs, actions, _ = VOCAB[domain]
        texts.append(rng.choice(REQUESTS).format(obj=rng.choice(objs), action=rng.choice(actions)))
    rng.shuffle(texts)
    return texts[:n]


def synthetic_vectors(real: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n vectors near the real ones (cos ≈ 0.86 to their base); the first len(real) are the real vectors."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    bases = np.concatenate([np.arange(len(real)), rng.integers(0, len(real), max(0, n - len(real)))])[:n]
    out[:len(real)] = real[:n]
    for start in range(len(real), n, 100_000):
        stop = min(n, start + 100_000)
        v = real[bases[start:stop]] + 0.6 * rng.standard_normal((stop - start, DIM), dtype=np.float32) / np.sqrt(DIM)
        out[start:stop] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, bases


# ---------------------------------------------------------------------- bank writing (Arrow bulk inserts)
def build_bank(path: Path, vectors: np.ndarray, bases: np.ndarray, lessons: list, seed: int) -> None:
    from bankcore.search.embed import MODEL_ID
    from bankcore.store import Store
    n = len(vectors)
    n_traj, n_tasks = max(1, n // 10), max(1, n // 50)
    rng = np.random.default_rng(seed)
    store = Store(path)
    store.schema_version()
    now = store.clock()
    domains = np.array([lessons[b][0] for b in bases])
    traj_domain = np.array(list(VOCAB))[rng.integers(0, len(VOCAB), n_traj)]
    with store.transaction(), store._con() as con:
        con.execute("INSERT INTO runs (run_id, name, source_format, started_at) VALUES (1, 'bench', 'native', ?)",
                    [now])
        store._insert_arrow(con, "trajectories", {
            "traj_id": [f"t{j}" for j in range(n_traj)], "run_id": pa.array(np.ones(n_traj, np.int32)),
            "seq": pa.array(np.arange(1, n_traj + 1)), "task_id": [f"task-{j % n_tasks}" for j in range(n_traj)],
            "domain": traj_domain.tolist(), "query": [f"bench trajectory {j}" for j in range(n_traj)],
            "num_steps": pa.array(np.zeros(n_traj, np.int32)), "source_format": ["native"] * n_traj})
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            ids = np.arange(start + 1, stop + 1)
            m = stop - start
            texts = [lessons[b] for b in bases[start:stop]]
            flat = pa.array(vectors[start:stop].ravel())
            store._insert_arrow(con, "memory_items", {
                "item_id": pa.array(ids.astype(np.int32)), "title": [t[1] for t in texts],
                "description": [t[2] for t in texts], "content": [t[3] for t in texts],
                "source": rng.choice(["success", "failure"], m).tolist(), "status": ["approved"] * m,
                "confidence": pa.array(rng.uniform(0.3, 1.0, m)), "domain": domains[start:stop].tolist(),
                "flags": ["[]"] * m, "extractor_id": ["bench"] * m,
                "embedding": pa.FixedSizeListArray.from_arrays(flat, DIM).cast(pa.list_(pa.float32())),
                "embedding_model": [MODEL_ID] * m, "version": pa.array(np.ones(m, np.int32)),
                "last_event_id": pa.array(ids.astype(np.int32)),
                "created_at": pa.array([now] * m, pa.timestamp("us")),
                "updated_at": pa.array([now] * m, pa.timestamp("us"))})
            store._insert_arrow(con, "item_sources", {
                "item_id": pa.array(ids.astype(np.int32)), "relation": ["evidence"] * m,
                "traj_id": [f"t{(i - 1) % n_traj}" for i in ids]})
            store._insert_arrow(con, "memory_events", {
                "event_id": pa.array(ids.astype(np.int32)), "item_id": pa.array(ids.astype(np.int32)),
                "kind": ["ADD"] * m, "actor": ["bench"] * m, "after": ["{}"] * m,
                "created_at": pa.array([now] * m, pa.timestamp("us"))})


def build_baseline_table(path: Path, vectors: np.ndarray) -> None:
    import duckdb
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE v (item_id INTEGER, vec FLOAT[{DIM}])")
    for start in range(0, len(vectors), 100_000):
        chunk = vectors[start:start + 100_000]
        table = pa.table({"item_id": pa.array(np.arange(start + 1, start + 1 + len(chunk), dtype=np.int32)),
                          "vec": pa.FixedSizeListArray.from_arrays(pa.array(chunk.ravel()), DIM)})
        con.register("b", table)
        con.execute("INSERT INTO v SELECT * FROM b")
        con.unregister("b")
    con.close()


# ---------------------------------------------------------------------- timing
def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def numpy_baseline(matrix: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ q
    top = np.argpartition(scores, len(scores) - k)[len(scores) - k:]
    return top[np.argsort(-scores[top])]


def duckdb_baseline(con, q: np.ndarray, k: int) -> list[int]:
    return [r[0] for r in con.execute(
        f"SELECT item_id FROM v ORDER BY array_cosine_distance(vec, ?::FLOAT[{DIM}]) LIMIT {k}",
        [q.tolist()]).fetchall()]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_size(n: int, vectors: np.ndarray, bank_path: Path, base_path: Path, queries: np.ndarray,
                 query_tasks: list[str], duckdb_queries: int) -> dict:
    import duckdb

    from bankcore import Bank
    from bankcore.search.retrieve import Query
    from bankcore.search import vector_snapshot
    shutil.rmtree(vector_snapshot.folder(bank_path), ignore_errors=True)  # time the cold open: no snapshot yet
    bank = Bank(bank_path)
    retriever = bank.retriever
    rss_before = rss_mb()
    load_s, _ = timed(retriever.refresh)
    rss_after = rss_mb()
    cache = retriever.cache
    assert cache.n == n, (cache.n, n)
    matrix = np.ascontiguousarray(vectors[:n])
    for q in queries[:10]:  # warm up both paths
        retriever.search(q, Query("bench", 1))
        numpy_baseline(matrix, q, 1)
    row = {"items": n, "cold_load_s": round(load_s, 2), "cold_load": cache.last_load,
           "structure_mb_per_million": round(cache.nbytes / n * 1e6 / 2**20, 1),
           "rss_growth_mb_per_million": round((rss_after - rss_before) / n * 1e6, 1)}
    con = duckdb.connect(str(base_path), read_only=True)
    med = statistics.median
    for k in (1, 4):
        ours, base_a, hybrid = [], [], []
        agree = 0.0
        for i, q in enumerate(queries):
            query = Query("bench", k, task_id=query_tasks[i], min_similarity=bank.settings.min_similarity)
            mixed = Query("bench", k, task_id=query_tasks[i], ranking="hybrid",
                          min_similarity=bank.settings.min_similarity)
            if i % 2:  # alternate who goes first, so neither always pays for a cold cache or a waking thread
                t_a, exact = timed(numpy_baseline, matrix, q, k)
                t_ours, _ = timed(retriever.search, q, query)
            else:
                t_ours, _ = timed(retriever.search, q, query)
                t_a, exact = timed(numpy_baseline, matrix, q, k)
            ours.append(t_ours)
            base_a.append(t_a)
            hybrid.append(timed(retriever.search, q, mixed)[0])
            unfiltered = retriever.search(q, Query("bench", k))  # what exact search answers: no task, no floor
            agree += len({r.item_id for r in unfiltered} & {int(j) + 1 for j in exact}) / k  # item id = row + 1
        base_b = [timed(duckdb_baseline, con, q, k)[0] for q in queries[:duckdb_queries]]
        row[f"top{k}"] = {
            "ours_ms": round(med(ours) * 1e3, 3), "numpy_ms": round(med(base_a) * 1e3, 3),
            "duckdb_ms": round(med(base_b) * 1e3, 1), "hybrid_ms": round(med(hybrid) * 1e3, 3),
            "ratio_vs_numpy": round(med(ours) / med(base_a), 3),
            "ratio_vs_duckdb": round(med(ours) / med(base_b), 4),
            f"recall@{k}_vs_exact": round(agree / len(queries), 4),
            "queries": len(queries), "duckdb_queries": len(base_b)}
    con.close()
    return row


PARTS = ("embed", "wait", "open", "check", "search", "hits", "log")  # disjoint parts of a call, in order
ALSO = ("flush", "hit_reads", "gc")  # timed too, but overlapping the parts or outside the call


class Split:
    """Where a `Bank.retrieve` spends its time: the retriever's and store's steps are wrapped on the instance (no
    change to the library, so a baseline tree is measured the same way). `wait`: waiting for this thread's turn at
    the file (another thread's turn, such as a batched log write, under way); `open`: opening the file (the first call
    after it was let go); `check`: the cache's refresh (the change check); `search`: ranking over the cache; `hits`:
    loading the returned items; `log`: logging them (written at once, or queued in a batch). Whatever is left of the
    call is `other` (BEGIN/COMMIT, building the hits). Not parts of the call: `flush`, batched log writes, whichever
    thread does them (a write behind the call overlaps it); `gc`, the garbage collector's pauses, inside any part."""

    def __init__(self, bank):
        self.now = {name: 0.0 for name in (*PARTS, *ALSO)}
        retriever, store = bank.retriever, bank.store
        self._wrap_turn(store)
        self._wrap(store, "_connect", "open", main_only=True)
        gc.callbacks.append(self._gc)
        self._gc_started = 0.0
        self._wrap(retriever.cache, "refresh", "check")
        self._wrap(retriever, "search", "search")
        if hasattr(retriever.cache, "items"):  # hits kept in memory; `hit_reads`: the misses read from the bank
            self._wrap(retriever.cache, "items", "hits")
            self._wrap(store, "get_items", "hit_reads")
        else:
            self._wrap(store, "query_items", "hits")
        self._wrap(store, "log_retrievals" if hasattr(store, "log_retrievals") else "add_retrievals", "log")
        if hasattr(store, "_write_log"):
            self._wrap(store, "_write_log", "flush")

    def _wrap(self, owner, method: str, part: str, main_only: bool = False) -> None:
        inner = getattr(owner, method)

        def timed_call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                if not main_only or threading.current_thread() is threading.main_thread():
                    self.now[part] += time.perf_counter() - t
        setattr(owner, method, timed_call)

    def _wrap_turn(self, store) -> None:
        """`wait`: the time the calling thread waits to enter `store._turn` (a context manager)."""
        inner = store._turn

        @contextlib.contextmanager
        def timed_turn(*args, **kwargs):
            t = time.perf_counter()
            with inner(*args, **kwargs):
                if threading.current_thread() is threading.main_thread():
                    self.now["wait"] += time.perf_counter() - t
                yield
        store._turn = timed_turn

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.now["gc"] += time.perf_counter() - self._gc_started

    def take(self) -> dict[str, float]:
        out, self.now = self.now, {name: 0.0 for name in self.now}
        return out


def retrieve_block(bank, split: Split, texts: list[str], tasks: list[str]) -> list[dict[str, float]]:
    """One block of warm retrieves on never-seen queries, each logged for its task: per call the wall time of each
    part (the embedding timed first; `retrieve` then finds it in the query cache), the call's total and CPU time."""
    from bankcore.search.retrieve import Query
    embedder = bank.retriever.embedder
    out = []
    for at, (text, task) in enumerate(zip(texts, tasks)):
        split.take()
        cpu = time.process_time()
        embed_s, vector = timed(embedder.embed_query, text)
        bank_s, _ = timed(lambda: bank.retrieve(text, 1, task_id=task))
        row = {**split.take(), "embed": embed_s, "bank": bank_s, "total": embed_s + bank_s,
               "cpu": time.process_time() - cpu, "first": at == 0}
        row["other"] = bank_s - sum(row[p] for p in PARTS if p != "embed")
        row["search_only"] = timed(bank.retriever.search, vector, Query(text, 1, task_id=task))[0]
        out.append(row)
    return out


def quantile(xs, q: float):
    return sorted(xs)[int(q * (len(xs) - 1))]


def p95(xs):
    return quantile(xs, 0.95)


def tail_split(rows: list[dict[str, float]], q: float = 0.95) -> dict[str, float]:
    """Where the slowest calls (total at or above the q quantile) spend their time: each part's mean over them (ms)."""
    cut = quantile([r["total"] for r in rows], q)
    slow = [r for r in rows if r["total"] >= cut]
    return {p: round(statistics.fmean(r.get(p, 0.0) for r in slow) * 1e3, 2)
            for p in (*PARTS, "other", "gc", "flush")}


def summarise(rows: list[dict[str, float]], block_cpu: list[float]) -> dict:
    """Medians (ms) of the total and each part, the total's p95 and p99, and CPU per retrieve: of the calls, and of
    whole blocks (every thread of the process, so batched log writes off the call count too). The tail twice: of
    every call, and of the calls after the first of each block (`steady`: the first opens the file again when it was
    let go between blocks), with the mean split of the calls at or above the p95 (`tail_split_ms`)."""
    med = statistics.median
    total = [r["total"] for r in rows]
    steady = [r for r in rows if not r.get("first")]
    firsts = [r["total"] for r in rows if r.get("first")]
    ms = lambda x: round(x * 1e3, 1)  # noqa: E731
    out = {"queries": len(rows), "median_ms": ms(med(total)), "p95_ms": ms(p95(total)),
           "p99_ms": ms(quantile(total, 0.99)),
           "bank_median_ms": ms(med([r["bank"] for r in rows])), "bank_p95_ms": ms(p95([r["bank"] for r in rows])),
           "steady": {"queries": len(steady), "median_ms": ms(med([r["total"] for r in steady])),
                      "p95_ms": ms(p95([r["total"] for r in steady])),
                      "p99_ms": ms(quantile([r["total"] for r in steady], 0.99))},
           "first_of_block_median_ms": ms(med(firsts)) if firsts else None,
           "tail_split_ms": tail_split(rows), "steady_tail_split_ms": tail_split(steady),
           "cpu_per_call_ms": round(med([r["cpu"] for r in rows]) * 1e3, 1),
           "cpu_per_retrieve_ms": round(sum(block_cpu) / len(rows) * 1e3, 1),
           "split_median_ms": {p: round(med([r[p] for r in rows]) * 1e3, 2)
                               for p in (*PARTS, "other", "flush", "gc", "search_only")}}
    misses = [r["hit_reads"] for r in rows if r["hit_reads"]]
    out["hits_read_from_bank"] = {"share": round(len(misses) / len(rows), 2),
                                  "median_ms": round(med(misses) * 1e3, 2) if misses else None}
    return out


def end_to_end(bank_path: Path, texts: list[str], tasks: list[str], block: int = 10) -> dict:
    """Bank.retrieve on queries it has never seen, logging each retrieval: embed + change check + search + load the
    hit + log, with the split (`Split`); `search_only` is the ranking alone over the cache, timed again after.

    Two ways of holding the file, in alternating blocks of queries so that both see the same machine: `closed` (each
    call opens the file and closes it again: the CLI, the dashboard) and `kept` (`Bank.keep_open`: an MCP server,
    the agent runner, a Python agent loop). The first call of each kept block opens the file, as a burst does."""
    from bankcore import Bank
    bank = Bank(bank_path)
    bank.retrieve("warm up the model and the cache", log=False)
    split = Split(bank)
    rows = {mode: [] for mode in ("closed", "kept")}
    cpu = {mode: [] for mode in ("closed", "kept")}
    for start in range(0, len(texts), block):
        mode = "kept" if (start // block) % 2 else "closed"
        bank.keep_open(2.0 if mode == "kept" else 0)
        t = time.process_time()
        rows[mode] += retrieve_block(bank, split, texts[start:start + block], tasks[start:start + block])
        bank.keep_open(0)  # a clean close: batched log rows are written, and counted in the block's CPU
        cpu[mode].append(time.process_time() - t)
    out = {"items": bank.retriever.cache.n, "load_1min": round(os.getloadavg()[0], 2)}
    for mode in rows:
        out[mode] = summarise(rows[mode], cpu[mode])
    out["kept_vs_closed_median"] = round(out["kept"]["median_ms"] / out["closed"]["median_ms"], 2)
    return out


# ---------------------------------------------------------------------- this tree against another, same machine
def serve_blocks(bank_path: Path) -> None:
    """A child for `compare_trees`: opens the bank, then answers one JSON request per stdin line — a block of
    queries and whether to keep the file open — with the block's per-call rows and its CPU time."""
    from bankcore import Bank
    bank = Bank(bank_path)
    bank.retrieve("warm up the model and the cache", log=False)
    split = Split(bank)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        bank.keep_open(2.0 if request["kept"] else 0)
        t = time.process_time()
        rows = retrieve_block(bank, split, request["texts"], request["tasks"])
        if request["kept"]:
            time.sleep(0.4)  # batched log rows are written off the call: let that happen inside the block's CPU
        cpu = time.process_time() - t
        print(json.dumps({"rows": rows, "cpu": cpu}), flush=True)
    bank.keep_open(0)


def read_answer(child: subprocess.Popen) -> dict:
    """The child's next JSON line (a library may print other lines first)."""
    while True:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"a --serve-blocks child ended (exit {child.wait()}); its stderr says why")
        if line.startswith("{"):
            return json.loads(line)


def compare_trees(work: Path, other_tree: Path, texts: list[str], tasks: list[str], block: int = 10) -> dict:
    """Warm retrieval at 100k in two processes — this tree and `other_tree` (a baseline checkout) — each on its own
    copy of the bank, in alternating blocks of the same queries (kept open, then closed), so both see the same
    machine. Reports the medians, p95, the split, CPU per retrieve and the load average."""
    source = work / "bank-100000.duckdb"
    trees = {"this": ROOT, "baseline": Path(other_tree).resolve()}
    children = {}
    for name, tree in trees.items():
        copy = work / f"compare-{name}.duckdb"
        Path(str(copy) + ".wal").unlink(missing_ok=True)  # a WAL left from an earlier copy would not match
        for suffix in ("", ".wal"):
            if Path(str(source) + suffix).exists():
                shutil.copyfile(str(source) + suffix, str(copy) + suffix)
        shutil.rmtree(str(copy) + ".vectors", ignore_errors=True)
        if Path(str(source) + ".vectors").is_dir():
            shutil.copytree(str(source) + ".vectors", str(copy) + ".vectors")
        env = {**os.environ, "PYTHONPATH": str(tree)}
        children[name] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-blocks", str(copy)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        read_answer(children[name])
    loads = [os.getloadavg()]
    rows = {(name, mode): [] for name in trees for mode in ("kept", "closed")}
    cpu = {key: [] for key in rows}
    half = len(texts) // 2  # kept blocks take queries from the first half, closed ones from the second: all new
    for i, start in enumerate(range(0, half, block)):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))  # neither always goes first
        for mode, at in (("kept", start), ("closed", half + start)):
            request = {"texts": texts[at:at + block], "tasks": tasks[at:at + block], "kept": mode == "kept"}
            for name in order:
                child = children[name]
                child.stdin.write(json.dumps(request) + "\n")
                child.stdin.flush()
                answer = read_answer(child)
                rows[name, mode] += answer["rows"]
                cpu[name, mode].append(answer["cpu"])
        loads.append(os.getloadavg())
    for child in children.values():
        child.stdin.close()
        child.wait(timeout=60)
    out = {"items": 100_000, "blocks": len(loads) - 1, "block": block,
           "load_1min": {"start": round(loads[0][0], 2), "end": round(loads[-1][0], 2),
                         "median": round(statistics.median(l[0] for l in loads), 2)}}
    for (name, mode), found in rows.items():
        out.setdefault(mode, {})[name] = summarise(found, cpu[name, mode])
    for mode in ("kept", "closed"):
        this, base = out[mode]["this"], out[mode]["baseline"]
        out[mode]["this_vs_baseline"] = {key: round(this[key] / base[key], 2)
                                         for key in ("median_ms", "p95_ms", "p99_ms", "cpu_per_retrieve_ms")}
        steady = round(this["steady"]["p95_ms"] / base["steady"]["p95_ms"], 2)
        out[mode]["this_vs_baseline"]["steady_p95_ms"] = steady
    return out


OPEN_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from bankcore import Bank
from bankcore.search.embed import Embedder
Embedder().embed_query("load the model first: its cost is reported apart")
model_s = time.perf_counter() - t0
t1 = time.perf_counter()
bank = Bank(sys.argv[1])
hits = bank.retrieve(sys.argv[2], 1, task_id="task-1", log=False)
first_s = time.perf_counter() - t1
t2 = time.perf_counter()
bank.retrieve(sys.argv[2] + " again", 1, task_id="task-1", log=False)
second_s = time.perf_counter() - t2
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"model_load_s": round(model_s, 2), "open_and_first_query_s": round(first_s, 2),
                  "second_query_ms": round(second_s * 1e3, 1), "hit": hits[0].item.item_id if hits else None,
                  "load": bank.retriever.cache.last_load,
                  # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec
                  "peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024),
                  "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024)}))
"""


def open_first_query(bank_path: Path, text: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", OPEN_CHILD, str(bank_path), text], check=True, capture_output=True,
                         text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])  # the last line: libraries may print before it


def embedding_speed(texts: list[str]) -> tuple[np.ndarray, dict]:
    from bankcore.search.embed import BATCH_SIZE, Embedder
    embedder = Embedder()
    embedder.embed(["warm up"])
    seconds, vectors = timed(embedder.embed, texts)
    singles = [timed(embedder.embed, [f"Please help me with request number {i}"])[0] for i in range(30)]
    return vectors, {"items": len(texts), "batch_size": BATCH_SIZE, "items_per_s": round(len(texts) / seconds, 1),
                     "single_query_ms": round(statistics.median(singles) * 1e3, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--real", type=int, default=2000, help="items embedded for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", default="/tmp/bankcore-bench")
    parser.add_argument("--end-to-end-only", action="store_true",
                        help="only Bank.retrieve at 100k, file closed vs kept open (the bank must be built already)")
    parser.add_argument("--compare-tree", metavar="DIR",
                        help="only Bank.retrieve at 100k, this tree against the checkout in DIR (e.g. a `git worktree` "
                             "of the commit before), in alternating blocks; the bank must be built already")
    parser.add_argument("--block", type=int, default=10,
                        help="queries per block for --compare-tree / --end-to-end-only (the first of a kept block "
                             "opens the file again)")
    parser.add_argument("--serve-blocks", metavar="BANK", help=argparse.SUPPRESS)  # a child of --compare-tree
    args = parser.parse_args()
    if args.serve_blocks:
        serve_blocks(Path(args.serve_blocks))
        return
    if args.compare_tree:
        fresh = [f"{t} (request {i})" for i, t in enumerate(query_texts(args.queries, random.Random(99)))]
        tasks = [f"task-{random.Random(i).randrange(2000)}" for i in range(len(fresh))]
        print(json.dumps({"compare": compare_trees(Path(args.workdir), Path(args.compare_tree), fresh, tasks,
                                                   block=args.block)}))
        return
    if args.end_to_end_only:
        fresh = [f"{t} (request {i})" for i, t in enumerate(query_texts(args.queries, random.Random(99)))]
        tasks = [f"task-{random.Random(i).randrange(2000)}" for i in range(len(fresh))]
        print(json.dumps({"end_to_end": end_to_end(Path(args.workdir) / "bank-100000.duckdb", fresh, tasks,
                                                     block=args.block)}))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)

    lessons = lesson_texts(args.real, rng)
    real, embedding = embedding_speed([f"{t}. {d}\n{c}" for _, t, d, c in lessons])
    print(json.dumps({"embedding": embedding}), flush=True)
    texts = query_texts(args.queries, rng)
    from bankcore.search.embed import Embedder
    queries = Embedder().embed(texts)
    vectors, bases = synthetic_vectors(real, max(sizes), seed=11)

    results = {"embedding": embedding, "sizes": []}
    for n in sizes:
        bank_path, base_path = work / f"bank-{n}.duckdb", work / f"vectors-{n}.duckdb"
        if not bank_path.exists():
            t, _ = timed(build_bank, bank_path, vectors[:n], bases[:n], lessons, 13)
            print(json.dumps({"built": str(bank_path), "seconds": round(t, 1)}), flush=True)
        if not base_path.exists():
            build_baseline_table(base_path, vectors[:n])
        tasks = [f"task-{random.Random(i).randrange(max(1, n // 50))}" for i in range(len(queries))]
        row = measure_size(n, vectors, bank_path, base_path, queries, tasks,
                           duckdb_queries=len(queries) if n <= 100_000 else 5)
        if n == 100_000:
            fresh = [f"{t} (request {i})" for i, t in enumerate(query_texts(100, random.Random(99)))]
            row["end_to_end"] = end_to_end(bank_path, fresh, tasks[:100])
        print(json.dumps(row), flush=True)
        results["sizes"].append(row)
        if n == max(sizes):
            print(json.dumps({"items": n, "open": open_first_query(bank_path, texts[0])}), flush=True)
    print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
