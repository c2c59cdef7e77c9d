"""Item page speed at real scale: a merged lesson resting on 50 trajectories of 50 steps (one with an 868 KB final
answer) against a lesson resting on one, in the same run.

- server: AppTest's run of the Memory bank screen with the item open (the script, its reads and its element tree,
  no browser), data caches cleared first; median of --repeats.
- browser: `streamlit run app.py` and headless Chromium; time from `goto(/memory?item=N)` on a warm server to the
  page settled (no script running, tables and charts drawn), a full page load; and from typing the id into the open
  screen (no page load) to settled; medians of --repeats. Skipped without Chromium.
- elements: step folds and code blocks on the page, and the page's height in pixels.
- floor: the same screen with no item open, to tell the item's cost from loading the page at all.

Goal (issue 19): the 50-evidence item settles in the browser in < 2 s. `--root DIR` runs the app of another checkout
(e.g. `git archive <commit> | tar -x -C DIR`) against the same bank, for a before/after.

Usage: python bench/item_page.py [--repeats 5] [--evidence 50] [--steps 50] [--root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUIET_S = 0.8  # the page counts as settled once nothing has been busy for this long (as tests/browser.py's settle)


def server_render(app_root: Path, db: Path, item_id: int, repeats: int) -> tuple[float, int, int]:
    """Median seconds of an AppTest run of the Memory bank screen with `item_id` open; step folds; code blocks."""
    import os

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["BANKCORE_DB"] = str(db)
    times, folds, codes = [], 0, 0
    for _ in range(repeats + 1):  # the first run warms imports and the cached Bank
        st.cache_data.clear()
        at = AppTest.from_file(str(app_root / "app.py"), default_timeout=600)
        at.run()
        folder = "screens" if (app_root / "screens").is_dir() else "pages"  # older checkouts kept them in pages/
        at.switch_page(f"{folder}/1_Memory_bank.py").run()
        start = time.perf_counter()
        at.number_input(key="item").set_value(item_id).run()
        times.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(at.exception[0].value)
        folds = sum(1 for e in at.expander if "Step " in e.label)
        codes = len(at.code) + len(at.text)
    return statistics.median(times[1:]), folds, codes


def browser_settle(app_root: Path, db: Path, item_ids: dict[str, int], repeats: int) -> dict[str, dict]:
    """Median seconds from navigation to settled, per item, on one warm server; and the page height."""
    import browser

    if browser.chromium_path() is None:
        return {}
    browser.ROOT = app_root  # the server runs this checkout's app.py (and its bankcore)
    found: dict[str, dict] = {}
    with browser.streamlit_server(db, log=db.parent / "streamlit.log") as url, browser.chromium() as chromium:
        tab = chromium.new_page(viewport={"width": 1440, "height": 1000})
        tab.goto(f"{url}/memory")  # the server learns the screens; the first visit is not what is measured
        browser.settle(tab, timeout_s=300)
        for name, item_id in item_ids.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                tab.goto(f"{url}/memory?item={item_id}")
                times.append(settled_after(tab, start))
            opened = []  # from the screen already open: type the id, as a reviewer does (no page load)
            for _ in range(repeats if item_id else 0):
                tab.goto(f"{url}/memory")
                browser.settle(tab, timeout_s=300)
                box = tab.get_by_label("Open item #")
                box.fill(str(item_id))
                start = time.perf_counter()
                box.press("Enter")
                tab.wait_for_selector('[data-testid="stTabs"]', timeout=600_000)
                opened.append(settled_after(tab, start))
            height = tab.evaluate("""() => {
                const b = document.querySelector('[data-testid="stMainBlockContainer"]');
                return b ? b.scrollHeight : 0; }""")
            found[name] = {"median_s": statistics.median(times), "height_px": height,
                           "in_app_s": statistics.median(opened) if opened else None,
                           "expanders": tab.locator('[data-testid="stExpander"]').count()}
    return found


def settled_after(tab, start: float, timeout_s: float = 600.0) -> float:
    """Seconds from `start` until the page went quiet for good (the quiet wait itself not counted)."""
    tab.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_s * 1000)
    quiet_since = None
    while time.perf_counter() - start < timeout_s:
        busy = tab.evaluate("""() => {
            const q = s => document.querySelectorAll(s).length;
            const visible = s => [...document.querySelectorAll(s)].filter(e => e.offsetParent !== null);
            return q('[data-testid="stStatusWidget"]') > 0 || q('[data-testid="stSpinner"]') > 0
                || q('[data-testid="stSkeleton"]') > 0
                || visible('[data-testid="stDataFrame"]').some(e => !e.querySelector('canvas'))
                || visible('[data-testid="stPlotlyChart"]').some(e => !e.querySelector('.main-svg')); }""")
        now = time.perf_counter()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since > QUIET_S:
            return quiet_since - start
        time.sleep(0.05)
    raise TimeoutError("the page did not settle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--evidence", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py is measured")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    sys.path[:0] = [str(args.root.resolve()), str(ROOT / "tests")]  # the measured checkout's bankcore
    import wide_item_bank  # noqa: PLC0415 — after the path is set
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bank.duckdb"
        start = time.perf_counter()
        ids = wide_item_bank.build(db, n_evidence=args.evidence, steps=args.steps)
        print(f"bank: lesson #{ids['wide']} on {args.evidence} trajectories × {args.steps} steps, lesson "
              f"#{ids['narrow']} on one ({time.perf_counter() - start:.1f} s to build); app: {args.root}")
        # the screen with no item open is the floor: what loading the page costs at all on this machine
        items = {f"{args.evidence} evidence": ids["wide"], "1 evidence": ids["narrow"], "no item": 0}
        server = {name: server_render(args.root.resolve(), db, item_id, args.repeats)
                  for name, item_id in items.items()}
        for name, (seconds, folds, codes) in server.items():
            print(f"server render  {name:>12}: median {seconds:6.2f} s  ({folds} step folds, {codes} text blocks)")
        narrow_s = server["1 evidence"][0]
        print(f"server ratio   wide / narrow: {server[f'{args.evidence} evidence'][0] / narrow_s:.2f}×")
        if args.skip_browser:
            return
        seen = browser_settle(args.root.resolve(), db, items, args.repeats)
        if not seen:
            print("browser: skipped (no chromium)")
            return
        print(f"browser floor (the list, no item open): {seen['no item']['median_s']:.2f} s")
        for name, row in seen.items():
            print(f"browser settle {name:>12}: median {row['median_s']:6.2f} s  ({row['expanders']} expanders, "
                  f"page {row['height_px']:,} px tall)"
                  + (f"; opened from the list {row['in_app_s']:.2f} s" if row["in_app_s"] is not None else ""))
        wide, narrow = seen[f"{args.evidence} evidence"], seen["1 evidence"]
        print(f"browser ratio  wide / narrow: {wide['median_s'] / narrow['median_s']:.2f}×; goal < 2 s: "
              f"{'met' if wide['median_s'] < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
