"""Dashboard speed: server-side render time of every screen, and the app's peak memory, on a small and a big bank.

- Small: the demo bank (data/demo, built offline) — goal < 0.3 s a screen.
- Big: a generated bank of 100k items / 50k trajectories (~450k steps, ~180k history events, 50k verdicts, 25k
  retrievals), written straight through Arrow — goal < 1.5 s a screen.

Render time is AppTest's `run()` of one screen (server side: the script, its reads and its element tree, no browser),
median of 5. Browser time-to-settled is what a person waits: a headless Chromium opens the screen by URL (a new
session, as a link or a reload does) until `browser.settle` sees it drawn and quiet — that includes its 0.8 s quiet
check, also shown subtracted — median of 5 after a first visit, printed beside the server-side times, their ratio,
and the load average (the machine is shared: read the figures with it). "cold" clears the data caches first — the
first visit after the bank changed (the fingerprint moved) — and keeps the cached Bank, as the running app does;
"warm" reruns with the caches full (what a widget click costs when nothing was written); "after an approval"
(big bank, a few screens) is the next run after a reviewer approved one lesson elsewhere. Peak RSS is the
`streamlit run` server process's VmHWM after a headless Chromium has visited every screen of the big bank (skipped
without Chromium).

Usage: python bench/dashboard.py [--items 100000] [--trajectories 50000] [--repeats 5] [--out bench/out]
       [--small BANK] [--no-big] [--no-rss] [--no-browser]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bankcore import Bank  # noqa: E402
from bankcore.search.embed import MODEL_ID  # noqa: E402
from bankcore.store import Store  # noqa: E402

DOMAINS = ("shopping", "gitlab", "reddit", "maps", "swe")
WORDS = ("search filter sort page next results order item price cart review issue commit branch merge user "
         "settings admin report total count date month status open closed verify confirm cancel refund").split()
START = datetime(2026, 6, 1, 9, 0)


# ---------------------------------------------------------------------- a big bank, generated fast
def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _snapshot(title, content, source, status, confidence, domain, flags, superseded_by, version) -> str:
    return json.dumps({"title": title, "description": f"When to {title}.", "content": content, "source": source,
                       "status": status, "confidence": confidence, "domain": domain, "flags": flags,
                       "superseded_by": superseded_by, "version": version}, sort_keys=True)


def generate(path: Path, n_items: int, n_trajs: int, seed: int = 11) -> dict:
    """Write a realistic big bank through Arrow (no per-row calls). Returns what it wrote."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    store = Store(path)
    store.schema_version()  # create the schema
    runs, per_run = max(1, n_trajs // 1000), 1000
    with store.transaction(), store._con() as con:  # bench only: straight to the store's Arrow path
        insert = Store._insert_arrow
        insert(con, "runs", {
            "run_id": list(range(1, runs + 1)), "name": [f"run {r:03d}" for r in range(1, runs + 1)],
            "source_format": ["native"] * runs,
            "memory_mode": ["none" if r % 3 == 0 else "reasoningbank" for r in range(1, runs + 1)],
            "started_at": [START + timedelta(days=r) for r in range(runs)]})
        traj_ids = [f"t{n:08d}" for n in range(n_trajs)]
        steps_n = nrng.integers(3, 16, n_trajs)
        domains = [DOMAINS[n % len(DOMAINS)] for n in range(n_trajs)]
        run_of = [1 + n // per_run for n in range(n_trajs)]
        insert(con, "trajectories", {
            "traj_id": traj_ids, "run_id": pa.array(run_of, pa.int32()), "seq": list(range(1, n_trajs + 1)),
            "task_id": [f"task-{n % 5000}" for n in range(n_trajs)], "domain": domains,
            "trial": pa.array([n // 5000 for n in range(n_trajs)], pa.int32()),
            "query": [f"{_text(rng, 14)}?" for _ in range(n_trajs)], "final_answer": ["done"] * n_trajs,
            "num_steps": steps_n.tolist(), "source_format": ["native"] * n_trajs,
            "started_at": [START + timedelta(days=run_of[n] - 1, minutes=n % per_run) for n in range(n_trajs)]})
        step_traj = np.repeat(np.array(traj_ids), steps_n).tolist()
        step_idx = np.concatenate([np.arange(k) for k in steps_n]).tolist()
        insert(con, "steps", {
            "traj_id": step_traj, "idx": pa.array(step_idx, pa.int32()),
            "thought": [_text(rng, 12) for _ in step_idx],
            "action": [f"click('{rng.choice(WORDS)}')" for _ in step_idx],
            "observation": [_text(rng, 30) for _ in step_idx]})
        memory_on = [run_of[n] % 3 != 0 for n in range(n_trajs)]
        success = [rng.random() < (0.5 if memory_on[n] else 0.4) for n in range(n_trajs)]
        insert(con, "truth", {"traj_id": traj_ids, "success": success,
                              "reward": [1.0 if s else 0.0 for s in success], "source": ["bench"] * n_trajs})
        judged = [s if rng.random() < 0.85 else not s for s in success]
        humans = list(range(0, n_trajs, 25))
        insert(con, "verdicts", {
            "verdict_id": list(range(1, n_trajs + len(humans) + 1)),
            "traj_id": traj_ids + [traj_ids[n] for n in humans],
            "label": ["success" if j else "failure" for j in judged] + ["success" if success[n] else "failure"
                                                                       for n in humans],
            "judge_id": ["llm:bench-judge"] * n_trajs + ["human:bench"] * len(humans),
            "rationale": ["generated"] * (n_trajs + len(humans)),
            "created_at": [START + timedelta(days=run_of[n], minutes=n % per_run) for n in range(n_trajs)]
            + [START + timedelta(days=60)] * len(humans)})
        written = _items(con, rng, nrng, n_items, traj_ids, run_of, domains, success)
        retrieved = [n for n in range(n_trajs) if memory_on[n]][: n_trajs // 2]
        approved = written["approved"]
        insert(con, "retrievals", {
            "retrieval_id": list(range(1, len(retrieved) + 1)), "query": ["q"] * len(retrieved),
            "task_id": [f"task-{n % 5000}" for n in retrieved], "traj_id": [traj_ids[n] for n in retrieved],
            "run_id": pa.array([run_of[n] for n in retrieved], pa.int32()),
            "item_id": pa.array([approved[rng.randrange(len(approved))] for _ in retrieved], pa.int32()),
            "rank": pa.array([1] * len(retrieved), pa.int32()), "score": [0.5 + rng.random() / 2 for _ in retrieved],
            "k": pa.array([1] * len(retrieved), pa.int32()),
            "created_at": [START + timedelta(days=run_of[n] - 1, minutes=n % per_run) for n in retrieved]})
    return {"trajectories": n_trajs, "steps": len(step_idx), "items": n_items, "events": written["events"],
            "verdicts": n_trajs + len(humans), "retrievals": len(retrieved)}


def _items(con, rng, nrng, n_items, traj_ids, run_of, domains, success) -> dict:
    """Items with provenance and a full event history: ADD for each, then approvals, rejections and merges."""
    n_merged = n_items // 25
    n_plain = n_items - n_merged
    statuses = rng.choices(["approved", "pending", "rejected", "archived"], [70, 24, 4, 2], k=n_plain)
    sources = ["success" if success[n % len(traj_ids)] else "failure" for n in range(n_plain)]
    created = [START + timedelta(minutes=n * 80_000 // max(1, n_items)) for n in range(n_items)]
    items = {k: [] for k in ("item_id", "title", "description", "content", "source", "status", "confidence",
                             "domain", "flags", "extractor_id", "version", "last_event_id", "created_at",
                             "updated_at", "superseded_by")}
    events = {k: [] for k in ("event_id", "item_id", "kind", "actor", "reason", "before", "after", "batch_id",
                              "created_at")}
    sources_rows = {k: [] for k in ("item_id", "relation", "traj_id", "step_idxs", "parent_item_id")}

    def event(item_id, kind, actor, before, after, at, batch=None, reason=None) -> int:
        events["event_id"].append(len(events["event_id"]) + 1)
        for key, value in (("item_id", item_id), ("kind", kind), ("actor", actor), ("reason", reason),
                           ("before", before), ("after", after), ("batch_id", batch), ("created_at", at)):
            events[key].append(value)
        return events["event_id"][-1]

    final: dict[int, tuple] = {}
    for n in range(n_plain):
        item_id, traj = n + 1, n % len(traj_ids)
        title, content = _text(rng, 6), f"{_text(rng, 25)}."
        flags = ["suspected_injection"] if rng.random() < 0.02 else []
        state = [title, content, sources[n], "pending", round(rng.random(), 2), domains[traj], flags, None, 1]
        last = event(item_id, "ADD", "llm:bench-extractor", None, _snapshot(*state), created[n])
        if statuses[n] != "pending":
            before = _snapshot(*state)
            state[3] = statuses[n]
            kind = {"approved": "APPROVE", "rejected": "REJECT", "archived": "ARCHIVE"}[statuses[n]]
            last = event(item_id, kind, "human:bench", before, _snapshot(*state), created[n] + timedelta(hours=6),
                         reason="bench")
        final[item_id] = (state, last)
        sources_rows["item_id"].append(item_id)
        sources_rows["relation"].append("evidence")
        sources_rows["traj_id"].append(traj_ids[traj])
        sources_rows["step_idxs"].append([0, 1])
        sources_rows["parent_item_id"].append(None)
    approved_pool = [i for i, (s, _) in final.items() if s[3] == "approved"]
    rng.shuffle(approved_pool)
    for m in range(n_merged):
        item_id = n_plain + m + 1
        parents = approved_pool[2 * m: 2 * m + 2]
        at = created[item_id - 1] + timedelta(days=1)
        state = [_text(rng, 7), f"{_text(rng, 30)}.", "merged", "approved", 0.8, final[parents[0]][0][5], [], None, 1]
        batch = f"merge-{m // 50}"
        event(item_id, "MERGE", "heuristic-merge:1", None, _snapshot(*state), at, batch)
        for p in parents:
            before = _snapshot(*final[p][0])
            final[p][0][3], final[p][0][7] = "superseded", item_id
            final[p] = (final[p][0], event(p, "SUPERSEDE", "heuristic-merge:1", before, _snapshot(*final[p][0]),
                                           at, batch))
            sources_rows["item_id"].append(item_id)
            sources_rows["relation"].append("parent")
            sources_rows["traj_id"].append(None)
            sources_rows["step_idxs"].append(None)
            sources_rows["parent_item_id"].append(p)
        final[item_id] = (state, events["event_id"][-1])
    for item_id in range(1, n_items + 1):
        state, last = final[item_id]
        for key, value in zip(("title", "content", "source", "status", "confidence", "domain", "flags",
                               "superseded_by", "version"), state):
            items[key].append(json.dumps(value) if key == "flags" else value)
        items["item_id"].append(item_id)
        items["description"].append(f"When to {state[0]}.")
        items["extractor_id"].append("llm:bench-extractor" if state[2] != "merged" else "heuristic-merge:1")
        items["last_event_id"].append(last)
        items["created_at"].append(created[item_id - 1])
        items["updated_at"].append(created[item_id - 1])
    vectors = nrng.standard_normal((n_items, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items["embedding"] = pa.array(list(vectors), pa.list_(pa.float32()))
    items["embedding_model"] = [MODEL_ID] * n_items  # retrieval's own: an older id makes every vector look stale
    Store._insert_arrow(con, "memory_items", {**items, "item_id": pa.array(items["item_id"], pa.int32()),
                                              "superseded_by": pa.array(items["superseded_by"], pa.int32()),
                                              "version": pa.array(items["version"], pa.int32())})
    Store._insert_arrow(con, "item_sources", {**sources_rows,
                                              "item_id": pa.array(sources_rows["item_id"], pa.int32()),
                                              "step_idxs": pa.array(sources_rows["step_idxs"], pa.list_(pa.int32())),
                                              "parent_item_id": pa.array(sources_rows["parent_item_id"], pa.int32())})
    Store._insert_arrow(con, "memory_events", {**events, "event_id": pa.array(events["event_id"], pa.int32()),
                                               "item_id": pa.array(events["item_id"], pa.int32())})
    return {"events": len(events["event_id"]), "approved": [i for i, (s, _) in final.items() if s[3] == "approved"]}


# ---------------------------------------------------------------------- render times
SCREENS = {  # name: (page file or None for the overview, session state to set before the run)
    "overview": (None, {}),
    "memory": ("screens/1_Memory_bank.py", {}),
    "memory, item open": ("screens/1_Memory_bank.py", {"item": "MERGED"}),
    "memory, text filter": ("screens/1_Memory_bank.py", {"f_text": "refund"}),
    "review, one by one": ("screens/2_Review_queue.py", {}),
    "review, in bulk": ("screens/2_Review_queue.py", {"review_mode": "In bulk"}),
    "evolution": ("screens/3_Evolution.py", {}),
    "trajectories": ("screens/4_Trajectories_and_judging.py", {}),
    "trajectory open": ("screens/4_Trajectories_and_judging.py", {"traj": "TRAJ"}),
    "judge quality": ("screens/4_Trajectories_and_judging.py", {"traj_mode": "Judge quality"}),
    "metrics": ("screens/5_Metrics.py", {}),
    "metrics, per week by domain": ("screens/5_Metrics.py", {"m_bucket": "per week", "m_split": "domain"}),
    "playground": ("screens/6_Retrieval_playground.py", {}),
    "settings": ("screens/7_Settings.py", {}),
}


def _on_screen(page: str | None, state: dict[str, object], picks: dict[str, object]):
    """An AppTest of the app with `state` set (placeholders from `picks`), switched to `page` (not yet run there)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    for key, value in state.items():
        at.session_state[key] = picks.get(value, value)
    at.run()
    if page:
        at.switch_page(page)
    return at


def render_times(db: Path, repeats: int, picks: dict[str, object]) -> dict[str, dict[str, float]]:
    import streamlit as st

    os.environ["BANKCORE_DB"] = str(db)
    st.cache_data.clear()
    st.cache_resource.clear()
    results = {}
    for name, (page, state) in SCREENS.items():
        cold, warm = [], []
        for _ in range(repeats):
            at = _on_screen(page, state, picks)
            st.cache_data.clear()  # cold: the bank changed since the last visit
            t0 = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{name}: {at.exception[0].message}")
        results[name] = {"cold_s": round(statistics.median(cold), 3), "warm_s": round(statistics.median(warm), 3)}
        print(f"  {name:32s} cold {results[name]['cold_s']:6.3f} s   warm {results[name]['warm_s']:6.3f} s",
              flush=True)
    return results


def curated_times(db: Path, repeats: int, picks: dict[str, object], out: Path,
                  screens: tuple[str, ...] = ("overview", "metrics", "metrics, per week by domain")
                  ) -> dict[str, float]:
    """Server-side render of each of `screens` right after a reviewer approved one lesson (on a copy of `db`,
    through `Bank`, as another tab or a CLI would): the caches are full, the fingerprint has moved. Median of
    `repeats`, one approval each."""
    import shutil

    import streamlit as st

    copy = out / f"{db.stem}-curated.duckdb"
    shutil.copyfile(db, copy)
    os.environ["BANKCORE_DB"] = str(copy)
    st.cache_data.clear()
    st.cache_resource.clear()
    pending = [i.item_id for i in Bank(copy).store.review_queue(which="pending", limit=repeats * len(screens))[0]]
    results = {}
    for name in screens:
        page, state = SCREENS[name]
        times = []
        for _ in range(repeats):
            at = _on_screen(page, state, picks)
            at.run()  # the caches full, as the screen was a moment ago
            Bank(copy).approve(pending.pop(), actor="human:bench", reason="bench")
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
        results[name] = round(statistics.median(times), 3)
        print(f"  {name:32s} after an approval {results[name]:6.3f} s", flush=True)
    copy.unlink()
    return results


# The server-side screens a browser visit is timed for: (screen of tests/browser.PAGES, query string).
BROWSER_VISITS = {
    "overview": ("overview", ""), "memory": ("memory", ""), "memory, item open": ("memory", "item={MERGED}"),
    "review, one by one": ("review", ""), "evolution": ("evolution", ""), "trajectories": ("trajectories", ""),
    "trajectory open": ("trajectories", "traj={TRAJ}"), "metrics": ("metrics", ""), "playground": ("playground", ""),
    "settings": ("settings", ""),
}
QUIET_S = 0.8  # browser.settle's quiet check, inside every time-to-settled


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)"


def browser_times(db: Path, repeats: int, picks: dict[str, object], out: Path,
                  server: dict[str, dict[str, float]]) -> dict[str, dict[str, float]] | None:
    """Time-to-settled of each screen in a headless Chromium at 1400 px, median of `repeats` after a first visit,
    beside the server-side render times measured before (`server`)."""
    from browser import chromium, chromium_path, open_page, streamlit_server
    if chromium_path() is None:
        print("  (no chromium: browser times skipped)")
        return None
    results = {}
    with streamlit_server(db, log=out / f"streamlit-{db.stem}.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        print(f"  load average at start {load_average()}")
        print(f"  {'screen':32s} {'first':>7s} {'settled':>8s} {'-quiet':>7s} {'server cold':>12s} "
              f"{'warm':>7s} {'browser/cold':>13s} {'browser/warm':>13s}")
        for name, (screen, query) in BROWSER_VISITS.items():
            query = query.format(**picks)

            def visit() -> float:
                t0 = time.perf_counter()
                open_page(page, url, screen, query)
                return time.perf_counter() - t0
            first = visit()
            settled = statistics.median(visit() for _ in range(repeats))
            cold, warm = server[name]["cold_s"], server[name]["warm_s"]
            results[name] = {"first_s": round(first, 3), "settled_s": round(settled, 3),
                             "browser_over_cold": round(settled / cold, 1),
                             "browser_over_warm": round(settled / warm, 1)}
            print(f"  {name:32s} {first:7.2f} {settled:8.2f} {settled - QUIET_S:7.2f} {cold:12.3f} {warm:7.3f} "
                  f"{settled / cold:13.1f} {settled / warm:13.1f}", flush=True)
        print(f"  load average at end   {load_average()}")
    return results


def peak_rss(db: Path, out: Path) -> float | None:
    """VmHWM of the `streamlit run` process after a browser has visited every screen."""
    from browser import PAGES, chromium, chromium_path, open_page, streamlit_server
    if chromium_path() is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server(db, log=out / "streamlit-big.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in PAGES:
            open_page(page, url, name)
        pid = _server_pid(url)
        status = Path(f"/proc/{pid}/status").read_text()
    return int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) / 1024


def _server_pid(url: str) -> int:
    """The pid of the streamlit process listening on `url`'s port (our own child)."""
    import subprocess
    port = url.rsplit(":", 1)[1]
    for child in subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split():
        cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "streamlit" in cmd and port in cmd:
            return int(child)
    raise RuntimeError("streamlit process not found")


def main() -> None:
    import logging
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's "no runtime" chatter
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--trajectories", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--no-rss", action="store_true", help="skip the browser-driven peak RSS measurement")
    parser.add_argument("--small", help="the small bank to measure (default: build the demo bank)")
    parser.add_argument("--no-big", action="store_true", help="measure the small bank only")
    parser.add_argument("--no-browser", action="store_true", help="server-side render times only")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}

    from bankcore import demo
    small = Path(args.small) if args.small else out / "demo.duckdb"
    if not small.exists():
        demo.build(small, force=True)
    print(f"small: the demo bank ({Bank(small).store.count('trajectories')} trajectories, "
          f"{Bank(small).store.count('memory_items')} items)")
    print(f"load average {load_average()}")
    report["small"] = render_times(small, args.repeats, _picks(small))
    if not args.no_browser:
        report["small_browser"] = browser_times(small, args.repeats, _picks(small), out, report["small"])

    if args.no_big:
        return _summarise(report, out)
    big = out / f"big-{args.items}-{args.trajectories}.duckdb"
    if not big.exists():
        t0 = time.perf_counter()
        wrote = generate(big.with_suffix(".building"), args.items, args.trajectories)
        big.with_suffix(".building").rename(big)
        print(f"generated {wrote} in {time.perf_counter() - t0:.1f} s")
    print(f"big: {big.name} ({big.stat().st_size / 1e6:.0f} MB)")
    report["big"] = render_times(big, args.repeats, _picks(big))
    report["big_curated"] = curated_times(big, args.repeats, _picks(big), out)
    if not args.no_browser:
        report["big_browser"] = browser_times(big, args.repeats, _picks(big), out, report["big"])
    if not args.no_rss:
        report["peak_rss_mb_big"] = peak_rss(big, out)
        print(f"peak RSS of the app process at {args.items:,} items: {report['peak_rss_mb_big']} MB")
    _summarise(report, out)


def _summarise(report: dict, out: Path) -> None:
    for size, goal in (("small", 0.3), ("big", 1.5)):
        if report.get(f"{size}_browser"):
            settled = [v["settled_s"] for v in report[f"{size}_browser"].values()]
            ratios = [v["browser_over_cold"] for v in report[f"{size}_browser"].values()]
            print(f"{size}: browser time-to-settled {min(settled):.2f}–{max(settled):.2f} s a screen (median of the "
                  f"screens {statistics.median(settled):.2f} s), {statistics.median(ratios):.1f}x the server-side "
                  "cold render (median ratio)")
        if size in report:
            worst = max(report[size].items(), key=lambda kv: kv[1]["cold_s"])
            print(f"{size}: slowest cold screen {worst[0]} {worst[1]['cold_s']} s (goal < {goal} s, "
                  f"ratio {worst[1]['cold_s'] / goal:.2f} of the goal)")
    (out / "dashboard.json").write_text(json.dumps(report, indent=2))


def _picks(db: Path) -> dict[str, object]:
    """Concrete ids for the placeholder session values: a merged item (else any item) and a trajectory."""
    store = Bank(db).store
    merged = store.browse_items(filters={"source": ["merged"]}, limit=1)[0] or store.browse_items(filters={},
                                                                                                   limit=1)[0]
    trajs = store.browse_trajectories(limit=1)[0]
    return {"MERGED": merged[0].item_id if merged else 0, "TRAJ": trajs[0]["traj_id"] if trajs else ""}


if __name__ == "__main__":
    main()
