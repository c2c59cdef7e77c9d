"""`nearest_items` through PostgreSQL's HNSW index vs exact search, measured in one run (issue 17): recall@1 and
recall@10 of the index against the exact answer, query latency p50/p95 beside the numpy path retrieval uses today
(every vector in memory, X @ q, `ranking.top`), index build time and size.

    .venv/bin/python bench/pg_vectors.py [--sizes 10000 100000] [--queries 100] [--ef 40 100 200] [--exact-queries 5]

Items are real-like lessons: MiniLM vectors of real agent sentences mixed in pairs plus noise, a fifth near-copies
(`consolidate.real_like`; the sentence vectors are cached in the temp dir by `bench/consolidate.py --scale`, embedded
here on first use). 10% of items are pending, so the index walk has a status filter to honour (approved only, as
retrieval's default). Two query sets: real sentence vectors (their neighbours are the lessons made from them) and
fresh real-like lessons not in the bank. PostgreSQL is the embedded server the tests use (tests/embedded_pg.py: the
first wheel whose pgvector builds an HNSW index on this CPU) on a Unix socket.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from consolidate import normalize, real_like, real_sentence_vectors  # noqa: E402 — bench/ on the path first
from embedded_pg import new_database, running, wheel_of  # noqa: E402 — the server the tests start

from bankcore.search import ranking  # noqa: E402
from bankcore.store import Store, open_store  # noqa: E402
from bankcore.store.postgres import HNSW_EF_SEARCH, HNSW_INDEX, PostgresStore  # noqa: E402
from bankcore.store.retrieval import RetrievalQueries  # noqa: E402

T0 = datetime(2026, 1, 1)
K = 10
CHUNK = 10_000  # rows per bulk insert
RARE_SHARE = 0.05  # items in a small second domain: a filter the index walk must honour
FALLBACKS: list[int] = []  # searches that took the exact path (PostgreSQL reaches it through super())
_EXACT = RetrievalQueries.nearest_items


def _counted_exact(self, *args, **kwargs):
    if isinstance(self, PostgresStore):
        FALLBACKS.append(1)
    return _EXACT(self, *args, **kwargs)


RetrievalQueries.nearest_items = _counted_exact


def bulk_items(store, vectors: np.ndarray, pending: np.ndarray, domains: np.ndarray) -> None:
    """All items in one transaction through the store's own Arrow bulk insert (COPY on PostgreSQL)."""
    n = len(vectors)
    with store.transaction(), store._con() as con:
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            m = stop - start
            store._insert_arrow(con, "memory_items", {
                "item_id": pa.array(range(start + 1, stop + 1), pa.int32()),
                "title": [f"Lesson {i}" for i in range(start, stop)], "description": ["When."] * m,
                "content": ["Do."] * m, "source": ["success"] * m,
                "status": ["pending" if p else "approved" for p in pending[start:stop]], "domain": domains[start:stop].tolist(),
                "flags": ["[]"] * m,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors[start:stop].ravel()), vectors.shape[1]
                                                              ).cast(pa.list_(pa.float32())),
                "embedding_model": ["m"] * m, "version": pa.array([1] * m, pa.int32()),
                "created_at": pa.array([T0] * m, pa.timestamp("us")),
                "updated_at": pa.array([T0] * m, pa.timestamp("us")), "meta": ["{}"] * m})


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]


def timed(fn, queries: np.ndarray) -> tuple[list, list[float]]:
    out, spent = [], []
    for q in queries:
        start = time.perf_counter()
        out.append(fn(q))
        spent.append(time.perf_counter() - start)
    return out, spent


def recall(got: list[list[int]], want: list[list[int]]) -> tuple[float, float]:
    at1 = np.mean([bool(g) and g[0] == w[0] for g, w in zip(got, want)])
    at10 = np.mean([len(set(g[:K]) & set(w[:K])) / K for g, w in zip(got, want)])
    return float(at1), float(at10)


def bench_size(n: int, base: np.ndarray, args, pg_url: str, folder: Path) -> None:
    rng = np.random.default_rng(n)
    vectors, _ = real_like(n, base)
    pending = rng.random(n) < 0.1
    domains = np.where(rng.random(n) < RARE_SHARE, "rare", "fleet")
    sentences = base[rng.choice(len(base), args.queries, replace=False)]
    lessons, _ = real_like(args.queries, base, seed=n + 1)
    query_sets = {"sentence": sentences, "lesson": lessons}
    print(f"## {n} items ({int(pending.sum())} pending, {int((domains == 'rare').sum())} in domain 'rare'), k={K}, "
          f"{args.queries} queries per set", flush=True)

    # the numpy path: what VectorCache + ranking do today (every usable row in memory, approved eligible)
    ids = np.arange(1, n + 1, dtype=np.int64)
    eligible = ~pending

    def numpy_top(q, mask=eligible):
        return [r.item_id for r in ranking.top(ranking.score(q, vectors, ids, eligible=mask), K)]

    exact, numpy_s = {}, {}
    for name, qs in query_sets.items():
        exact[name], numpy_s[name] = timed(numpy_top, qs)
    rare = eligible & (domains == "rare")
    exact_rare, numpy_rare_s = timed(lambda q: numpy_top(q, rare), lessons)

    pg = open_store(pg_url)
    try:
        with pg._con() as con:
            con.raw.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")  # load first, then build once (as on an old bank)
        start = time.perf_counter()
        bulk_items(pg, vectors, pending, domains)
        load_s = time.perf_counter() - start
        with pg._con() as con:
            start = time.perf_counter()
            pg._make_vector_index(con)
            build_s = time.perf_counter() - start
            con.raw.execute("ANALYZE memory_items")
            size_mb = con.raw.execute("SELECT pg_relation_size(%s)", [HNSW_INDEX]).fetchone()[0] / 2**20
        pg._vector_index_seen = False
        print(f"PostgreSQL: load {load_s:.1f} s, HNSW build {build_s:.1f} s (m=16, ef_construction=64), "
              f"index {size_mb:.0f} MiB", flush=True)
        numpy_all = numpy_s["sentence"] + numpy_s["lesson"]
        p50_np, p95_np = percentiles(numpy_all)
        print(f"  numpy exact (in memory)   p50 {p50_np:7.2f} ms  p95 {p95_np:7.2f} ms  recall 1.000 / 1.000")
        for ef in args.ef:
            spent_all = []
            line = []
            for name, qs in query_sets.items():
                got, spent = timed(lambda q: [i for i, _ in pg.nearest_items(q, K, model="m", ef_search=ef)], qs)
                spent_all += spent
                r1, r10 = recall(got, exact[name])
                line.append(f"{name} r@1 {r1:.3f} r@10 {r10:.3f}")
            p50, p95 = percentiles(spent_all)
            print(f"  HNSW ef_search={ef:<4d}      p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({p50 / p50_np:.2f}x numpy "
                  f"p50)  {'; '.join(line)}", flush=True)
        FALLBACKS.clear()
        got, spent = timed(lambda q: [i for i, _ in pg.nearest_items(q, K, model="m", domain="rare")], lessons)
        p50, p95 = percentiles(spent)
        p50_rare, p95_rare = percentiles(numpy_rare_s)
        print(f"  domain='rare' ({RARE_SHARE:.0%}), lesson queries, default ef_search={HNSW_EF_SEARCH}: HNSW p50 "
              f"{p50:.2f} ms p95 {p95:.2f} ms vs numpy p50 {p50_rare:.2f} ms p95 {p95_rare:.2f} ms; "
              f"r@1 {recall(got, exact_rare)[0]:.3f} r@10 {recall(got, exact_rare)[1]:.3f}; "
              f"{len(FALLBACKS)} of {len(lessons)} fell back to exact", flush=True)
        retrieve_end_to_end(pg, query_sets)
        if args.exact_queries:
            qs = sentences[:args.exact_queries]
            got, spent = timed(lambda q: [i for i, _ in RetrievalQueries.nearest_items(pg, q, K, model="m")], qs)
            assert got == exact["sentence"][:len(qs)], "PostgreSQL's exact path disagrees with numpy"
            p50, p95 = percentiles(spent)
            print(f"  PostgreSQL exact (reads every vector) p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                  f"({len(qs)} queries, same ids as numpy)", flush=True)
        if args.writes:  # last: it adds items and drops the index
            write_cost(pg, args.writes, base)
    finally:
        pg.close()

    if args.exact_queries:
        duck = Store(folder / f"bank-{n}.duckdb")
        bulk_items(duck, vectors, pending, domains)
        qs = sentences[:args.exact_queries]
        got, spent = timed(lambda q: [i for i, _ in duck.nearest_items(q, K, model="m")], qs)
        assert got == exact["sentence"][:len(qs)], "DuckDB's nearest_items disagrees with numpy"
        p50, p95 = percentiles(spent)
        print(f"  DuckDB exact (reads every vector)     p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
              f"({len(qs)} queries, same ids as numpy)", flush=True)


class QueryVectors:
    """The bench's query vectors handed to the Retriever as its embedder, under the items' model id "m": what is
    timed is retrieval (search, loading the hits, the log), not the embedding, which both paths pay alike."""

    model_id = similarity_model_id = "m"
    dim = 384

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


def retrieve_end_to_end(pg, query_sets: dict[str, np.ndarray]) -> None:
    """`Retriever.retrieve` (logged, k=1, leave-one-task-out) on this PostgreSQL bank through the HNSW index and
    through the in-process cache, alternating query by query; the cache's first load of every vector is timed apart,
    and the two must return the same items wherever the index's recall allows."""
    from bankcore.search.retrieve import Query, Retriever

    texts = {f"{name} {i}": q for name, qs in query_sets.items() for i, q in enumerate(qs)}
    embedder = QueryVectors(texts)
    by_index = Retriever(pg, embedder, min_similarity=0.0, vector_search="index")
    in_memory = Retriever(pg, embedder, min_similarity=0.0, vector_search="memory")
    start = time.perf_counter()
    in_memory.refresh()
    load_s = time.perf_counter() - start
    spent: dict[str, list[float]] = {"index": [], "memory": []}
    same = 0
    for n, text in enumerate(texts):
        hits = {}
        for name, retriever in (("index", by_index), ("memory", in_memory)):
            query = Query(text, k=1, task_id=f"bench-task-{n}")
            start = time.perf_counter()
            hits[name] = [h.item.item_id for h in retriever.retrieve(query)]
            spent[name].append(time.perf_counter() - start)
        same += hits["index"] == hits["memory"]
    (i50, i95), (m50, m95) = percentiles(spent["index"]), percentiles(spent["memory"])
    print(f"  Retriever.retrieve end to end (logged, k=1), {len(texts)} queries: index p50 {i50:.2f} ms p95 "
          f"{i95:.2f} ms; memory p50 {m50:.2f} ms p95 {m95:.2f} ms (index/memory p50 {i50 / m50:.2f}x); same top "
          f"item {same}/{len(texts)}; the memory path first loads every vector: {load_s:.1f} s", flush=True)


def write_cost(pg, writes: int, base: np.ndarray) -> None:
    """What the index costs writers: approved items added through curation (`lifecycle.add_item`, one transaction
    each, like an extraction), with the index, then without it (dropped; the bench's last use of this bank's index)."""
    from bankcore.curate import lifecycle
    from bankcore.models import MemoryItem

    vectors, _ = real_like(writes, base, seed=99)
    spent: dict[bool, list[float]] = {True: [], False: []}
    for indexed in (True, False):
        if not indexed:
            with pg._con() as con:
                con.raw.execute(f"DROP INDEX {HNSW_INDEX}")
        for i in range(writes // 2):
            item = MemoryItem(f"Written {i}", "When.", "Do.", source="success", status="approved", domain="fleet",
                              embedding=vectors[i + (0 if indexed else writes // 2)].tolist(), embedding_model="m")
            start = time.perf_counter()
            lifecycle.add_item(pg, item, [], actor="bench")
            spent[indexed].append(time.perf_counter() - start)
    (w50, w95), (n50, n95) = percentiles(spent[True]), percentiles(spent[False])
    print(f"  item writes (lifecycle.add_item, approved, {writes // 2} each): with the index p50 {w50:.2f} ms "
          f"p95 {w95:.2f} ms; without p50 {n50:.2f} ms p95 {n95:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100, help="queries per set (two sets)")
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200], help="hnsw.ef_search values")
    parser.add_argument("--exact-queries", type=int, default=5, help="queries timed on the in-database exact paths")
    parser.add_argument("--writes", type=int, default=400, help="items written to time the index's write cost")
    parser.add_argument("--base-sentences", type=int, default=8000, help="real sentences embedded (cached)")
    args = parser.parse_args()

    import psycopg

    base = normalize(real_sentence_vectors(args.base_sentences))
    folder = Path(tempfile.mkdtemp(prefix="bankcore-pg-vectors-"))
    try:
        with running("bankcore-pg-vectors-server-") as server:
            print(f"embedded PostgreSQL from {wheel_of(server)}", flush=True)
            for n in args.sizes:
                bench_size(n, base, args, new_database(server, f"bench_{n}"), folder)
                with psycopg.connect(server.get_uri(), autocommit=True) as con:
                    con.execute(f"DROP DATABASE bench_{n}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
