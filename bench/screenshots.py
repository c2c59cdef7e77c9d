"""README screenshots: every screen of the dashboard on the demo bank, taken by headless Chromium.

Builds the demo bank (offline, deterministic) unless --db names one, serves `app.py` on a loopback port, and saves
one PNG per screen into docs/screenshots/. Re-run after changing a screen. If the demo build leaves the bank without
lessons, they are learned here the way `bankcore learn` would offline: the heuristic judge and extractor, then a
heuristic consolidation and the approval policy, where this build has them.

Prints each screen's browser time-to-settled (`goto` until `browser.settle` sees it drawn and quiet; that includes
its 0.8 s quiet check), first visit and the median of --repeat further visits, and the load average beside them.

Usage: python bench/screenshots.py [--db BANK] [--out docs/screenshots] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bankcore import Bank, demo  # noqa: E402
from browser import chromium, chromium_path, open_page, snapshot, streamlit_server  # noqa: E402


# Down to the word diff of the rewritten lesson Evolution is opened on; on Metrics, to the agent-runs grid and links.
TALLER = {"evolution": 4300, "metrics": 4250}
WIDTH = 1440  # the width issue 19 reads the dashboard at (a 1440 px laptop screen)
SCREENS = ("overview", "memory", "review", "evolution", "trajectories", "metrics", "playground", "settings")


def interesting(db: Path) -> dict[str, str]:
    """Query strings that open something worth showing: a merged (else any) item, a judged trajectory."""
    store = Bank(db).store
    items = (store.browse_items(filters={"source": ["merged"]}, limit=1)[0]
             or store.browse_items(filters={}, order="confidence", limit=1)[0])
    trajs = (store.browse_trajectories(label="failure", limit=1)[0] or store.browse_trajectories(limit=1)[0])
    item = f"item={items[0].item_id}" if items else ""
    # Evolution: a lesson a person rewrote (its versions diff), and the merges that later absorbed it.
    edited = [e.item_id for e in store.events_of_kind(["EDIT"])]
    shown = edited[0] if edited else (items[0].item_id if items else None)
    absorbed = store.get_item(shown).superseded_by if shown is not None else None
    evolution = f"versions_item={shown}" + (f"&lineage_item={absorbed}" if absorbed else "") if shown else ""
    return {"memory": item, "trajectories": f"traj={trajs[0]['traj_id']}" if trajs else "",
            "evolution": evolution,
            "metrics": "m_bucket=per+week&m_split=memory+on+%2F+off",
            "playground": "pg_query=" + quote(_a_task(Bank(db))) + "&pg_k=3&pg_pending=true"}


def _a_task(bank: Bank) -> str:
    """A failed task from the bank's own trajectories that an approved lesson now answers (the best-matched of the
    first few), so the playground shows what the agent would be told next time rather than an empty block."""
    rows = bank.store.browse_trajectories(label="failure", limit=25)[0] or bank.store.browse_trajectories(limit=1)[0]
    if not rows:
        return "Find the cheapest item that matches the request"

    def best_score(row) -> float:
        hits = bank.retrieve(row["query"], task_id=row["task_id"], log=False)
        return hits[0].score if hits else -1.0
    return max(rows, key=best_score)["query"]


def learn_offline(db: Path) -> None:
    """Judge, extract, consolidate and apply the approval policy with the offline defaults (what exists)."""
    bank = Bank(db)
    if bank.store.count("memory_items"):
        return
    for step, call in (("judge", lambda: bank.judge(judge="heuristic")),
                       ("extract", lambda: bank.extract(extractor="heuristic")),
                       ("consolidate", lambda: bank.consolidate()),
                       ("apply_policy", lambda: bank.apply_policy())):
        if hasattr(bank, step):
            call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="bank to show (default: build the demo bank in a temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--repeat", type=int, default=5, help="timed visits per screen after the first (median)")
    parser.add_argument("--screens", nargs="+", choices=SCREENS, default=list(SCREENS), help="only these screens")
    args = parser.parse_args()
    if chromium_path() is None:
        sys.exit("chromium is not installed (make browser)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else demo.build(Path(tmp) / "demo.duckdb").path
        if not args.db:
            learn_offline(db)
        queries = interesting(db)
        with streamlit_server(db, extra_env={"BANKCORE_REVIEWER": "demo"}, log=Path(tmp) / "streamlit.log") as url, \
                chromium() as browser:
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
                  f"({os.cpu_count()} cores)")
            print(f"{'screen':<14}{'first s':>9}{'median s':>10}  screenshot")
            for name in args.screens:
                first = _settled(page, url, name, queries.get(name, ""))
                snapshot(page, out / f"{name}.png", width=WIDTH, max_height=TALLER.get(name, 3200))
                again = [_settled(page, url, name, queries.get(name, "")) for _ in range(args.repeat)]
                print(f"{name:<14}{first:>9.2f}{statistics.median(again) if again else float('nan'):>10.2f}  "
                      f"{out / name}.png")
            print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _settled(page, url: str, name: str, query: str) -> float:
    """Seconds from opening a screen by URL until it is drawn and quiet (`browser.settle`)."""
    start = time.perf_counter()
    open_page(page, url, name, query)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
