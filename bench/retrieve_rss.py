"""Memory of a dashboard process that answers a Retrieve on a big bank: its resident set (RSS, split into anonymous
and file-backed pages) and its peak (VmHWM), in this checkout and in another one (`--compare TREE`), fresh processes
alternating, median of --runs.

Each run is one fresh process doing what a person does: the app starts (AppTest, headless), the Retrieval playground
opens, a query is typed and Retrieve clicked — the query embedder loads and the vector cache loads the bank's
vectors. Two cases: the vector snapshot beside the bank is current (every later start) and there is none (the first
start after the bank was built or copied: the vectors are read from the bank and the snapshot is written). The bank
is copied to --workdir first, so the one given is never written to.

Measured 2026-12-08 on /tmp/bankcore-bench/bank-100000.duckdb (100k 384-float vectors, bench/retrieval.py's),
against c82a090, median of 3, load average 8-11 on the shared 2 cores: snapshot current RSS 432 MB (180 anonymous
+ 252 file-backed, of which the 154 MB vector matrix) vs 472, peak 461 vs 533; no snapshot RSS 432 vs 473, peak 507
vs 771. The app alone is ~204 MB; the matrix, the model's layers (42 MB) and the app are most of what is left.

Usage: python bench/retrieve_rss.py BANK [--compare TREE] [--runs 3] [--workdir /tmp/bankcore-retrieve-rss]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "I booked a flight last week and want to cancel it and get my money back"

CHILD = r"""
import json, logging, sys, time
from streamlit.testing.v1 import AppTest
logging.getLogger("streamlit").setLevel(logging.ERROR)
def memory():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(status[name].split()[0]) / 1024
            for key, name in (("rss", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile"), ("peak", "VmHWM"))}
at = AppTest.from_file(sys.argv[1], default_timeout=600)
at.run()
started = memory()
at.switch_page(sys.argv[2]).run()
at.text_area(key="pg_query").input(sys.argv[3])
t0 = time.perf_counter()
at.form_submit_button(key="pg_go").click().run()
seconds = time.perf_counter() - t0
assert not at.exception, at.exception
print(json.dumps({"started": started, "retrieved": memory(), "retrieve_s": seconds}))
"""


def one_run(tree: Path, bank: Path) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from cold_start import playground_page
    env = {**os.environ, "BANKCORE_DB": str(bank), "PYTHONPATH": str(tree), "BANKCORE_EMBED_RUNTIME": "numpy"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree / "app.py"), playground_page(), QUERY], cwd=tree,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the Retrieve in {tree} failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bank", type=Path)
    parser.add_argument("--compare", type=Path, metavar="TREE", help="another checkout, measured alternately")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bankcore-retrieve-rss"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    bank = args.workdir / args.bank.name
    shutil.copyfile(args.bank, bank)
    snapshot = Path(f"{bank}.vectors")
    trees = {"this": ROOT, **({"base": args.compare.resolve()} if args.compare else {})}
    print(f"bank: {args.bank} (copied to {bank}); load average {os.getloadavg()[0]:.1f} at start")
    results: dict[tuple[str, str], list[dict]] = {}
    for case in ("snapshot current", "no snapshot"):
        for _ in range(args.runs):
            for name, tree in trees.items():
                if case == "no snapshot":
                    shutil.rmtree(snapshot, ignore_errors=True)
                elif not snapshot.exists():
                    one_run(ROOT, bank)  # writes the snapshot: not part of this case's figures
                results.setdefault((case, name), []).append(one_run(tree, bank))
    print("\nMB, median of fresh processes: RSS after the Retrieve (anonymous + file-backed), the process's peak; "
          "the app alone before it")
    for (case, name), runs in results.items():
        med = {key: statistics.median(r["retrieved"][key] for r in runs) for key in ("rss", "anon", "file", "peak")}
        app = statistics.median(r["started"]["rss"] for r in runs)
        seconds = statistics.median(r["retrieve_s"] for r in runs)
        print(f"  {case:17s} {name:5s} RSS {med['rss']:5.0f} ({med['anon']:4.0f} + {med['file']:4.0f})  peak "
              f"{med['peak']:5.0f}  app alone {app:4.0f}  Retrieve {seconds:5.2f} s")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
