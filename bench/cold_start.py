"""Cold starts: how long a fresh `bankcore` process takes, with the query embedded by numpy (bankcore.search.minilm, the
default) and by torch (sentence-transformers, BANKCORE_EMBED_RUNTIME=torch), measured in the same run.

- CLI: `bankcore --version`, `bankcore stats` and `bankcore retrieve QUERY --no-log` on a 1,000-item bank, each the
  median of --runs fresh processes per runtime (runs interleaved, so machine load hits both alike), with the peak RSS
  of the process (VmHWM).
- Bulk embedding: 500 lessons (the demo recording's authored lessons, then bench/retrieval.py's templated ones) in
  one `Embedder.embed` call, texts/s per runtime, each runtime in its own process; and how far apart the two
  runtimes' vectors are (max |difference|, min cosine).
- Dashboard (`--parts ...,dashboard`, headless AppTest): the playground page's first Retrieve in a fresh process,
  seconds and the process's peak RSS.

The bank: 1,000 approved lessons from bench/retrieval.py's templates, embedded for real (item_text, the current
recipe) and written with its bulk writer; kept in --workdir and rebuilt when the model id changes.
Measured 2026-12-07 on the shared 2-core machine at load average 14 (so walls are pessimistic; CPU s is the
steadier figure): retrieve torch 23.9 s wall / 7.6 CPU s / 632 MB, numpy 3.4 s / 1.1 s / 280 MB; --version and
stats ~1.6-1.8 s / 0.6 s either way (importing bankcore: pandas, duckdb, pyarrow); bulk 6.4 vs 12.7 texts/s (numpy
on one BLAS thread at that load; single-threaded both: numpy 31, torch 33 texts per CPU second); vectors max
|difference| 2.2e-7; dashboard first Retrieve 17.5 s / 675 MB vs 1.2 s / 392 MB.
- Against a baseline (`--compare TREE`, another checkout, e.g. `git worktree add /tmp/cold-base <commit>`): the
  commands that embed nothing (`--version`, `--help`, `stats`, `check`, `review list`, `verdicts`, `export-lessons`)
  and `retrieve`, each in this tree and in TREE, runs alternating, median of --runs; wall, CPU and peak RSS, and which
  command ran past the 0.5 s goal for a command that embeds nothing. Measured 2026-12-07 against 66fc13a, median
  of 7, load average 13-14 on the 2 cores (walls x3-5 inflated; CPU s is the figure to compare), this/base CPU s:
  --version 0.11/0.92, --help 0.09/0.86, stats 0.59/0.95, check 0.63/0.95, review list 0.63/1.01, verdicts
  0.97/1.46, export-lessons 1.30/1.64, retrieve 1.14/1.50. What is left for stats is the store's own imports:
  duckdb, pyarrow (+numpy) and pyarrow.compute, ~0.16 CPU s of it pyarrow's; verdicts and export-lessons also pay
  ~0.25 s for pandas, which duckdb imports on the first Arrow table registered (store.core._id_table).
  Measured 2026-12-07 against 81d3a14 (numpy and pyarrow imported on first use, bankcore.lazy), median of 7, load
  average 14 on the 2 cores, this/base CPU s: stats 0.64/0.82, check 0.59/0.86, review list 0.45/0.74, verdicts
  0.48/0.77, export-lessons 0.81/1.06, retrieve 1.51/1.47 (noise: it imports numpy either way); peak RSS of the
  read commands 73-87 MB where it was 120-135. What a read command still imports is duckdb itself (~0.19 CPU s,
  importlib.metadata included) and bankcore's own modules.
  Measured 2026-12-08 against c82a090 (export-lessons loads `guard.hidden`, not the guard's normaliser; ASCII and
  markup-free text skip the escaping; no query for a page past the last), `cold_cli` on the two commands alone,
  median of 15, load average 8-9: CPU s export-lessons 0.41/0.52, stats (unchanged) 0.42/0.48 — export-lessons now
  costs what stats does. The full --compare at load 10 (median of 5): export-lessons 0.47/0.54, stats 0.40/0.49;
  retrieve 1.00/1.19 CPU s and 231/275 MB peak RSS (the query model's word-piece table is mapped, not loaded).
  Measured 2026-12-08 against b7e9cc3 (stats opens the bank once, its read checking the file; `Bank` imports
  retrieval and re-embedding in the methods that use them; bank_commands loads signing for export and import-bank
  only), load average 5-6: stats alone, median of 15 alternating, CPU s 0.34/0.46 (min 0.30/0.39), wall 0.60/0.97;
  the full --compare (median of 5) stats 0.37/0.46, check 0.34/0.41, export-lessons 0.44/0.54.
Usage: python bench/cold_start.py [--runs 5] [--workdir /tmp/bankcore-cold-start] [--parts cli,bulk,dashboard]
       python bench/cold_start.py --compare /tmp/cold-base [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
RUNTIMES = ("torch", "numpy")
QUERY = "I booked a flight last week and want to cancel it and get my money back"

# Runs the CLI exactly as the console script does, then reports the process's peak RSS to a file (not stdout:
# ru_maxrss of a child can carry the parent's peak across fork).
CLI_CHILD = r"""
import atexit, sys
def _peak(path=sys.argv[1]):
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    open(path, "w").write(status["VmHWM"].split()[0])
atexit.register(_peak)
sys.argv = ["bankcore"] + sys.argv[2:]
from bankcore.cli import main
sys.exit(main())
"""

EMBED_CHILD = r"""
import json, sys, time
import numpy as np
from bankcore.search.embed import Embedder
texts = json.load(open(sys.argv[1]))
embedder = Embedder()
t0 = time.perf_counter(); embedder.embed(["warm up"]); load_s = time.perf_counter() - t0
t1 = time.perf_counter(); vectors = embedder.embed(texts); bulk_s = time.perf_counter() - t1
np.save(sys.argv[2], vectors)
print(json.dumps({"load_s": load_s, "texts_per_s": len(texts) / bulk_s}))
"""

DASHBOARD_CHILD = r"""
import json, sys, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.run()
at.switch_page("screens/6_Retrieval_playground.py").run()
at.text_area(key="pg_query").input(sys.argv[2])
t0 = time.perf_counter()
at.form_submit_button(key="pg_go").click().run()
first_s = time.perf_counter() - t0
assert not at.exception, at.exception
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"first_retrieve_s": first_s, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def lesson_texts(n: int) -> list[str]:
    """n distinct lesson texts: the demo recording's authored lessons first, then templated ones."""
    from retrieval import lesson_texts as templated
    from bankcore.demo import recorded_lessons
    texts = recorded_lessons()
    texts += [f"{t}. {d}\n{c}" for _, t, d, c in templated(n, random.Random(7))]
    return list(dict.fromkeys(texts))[:n]


def ensure_bank(workdir: Path, n: int) -> Path:
    import numpy as np
    from retrieval import build_bank
    from retrieval import lesson_texts as templated

    from bankcore.search.embed import MODEL_ID, Embedder, item_text
    path, stamp = workdir / f"bank-{n}.duckdb", workdir / f"bank-{n}.model"
    if path.exists() and stamp.exists() and stamp.read_text() == MODEL_ID:
        from bankcore import Bank
        Bank(path).init()  # a bank kept from an older bankcore: commands that only check would refuse it
        return path
    for old in workdir.glob(f"bank-{n}.*"):
        old.unlink()
    lessons = templated(n, random.Random(11))
    vectors = Embedder().embed([item_text(SimpleNamespace(title=t, description=d, content=c))
                                for _, t, d, c in lessons])
    build_bank(path, vectors, np.arange(n), lessons, seed=11)
    stamp.write_text(MODEL_ID)
    return path


def playground_page() -> str:
    """The playground's page file, as app.py names it (the screens have moved folder before)."""
    return re.search(r'st\.Page\("([^"]*Retrieval_playground\.py)"', (ROOT / "app.py").read_text("utf-8")).group(1)


def env_for(runtime: str, bank: Path | None = None, tree: Path = ROOT) -> dict:
    env = {**os.environ, "BANKCORE_EMBED_RUNTIME": runtime, "PYTHONPATH": str(tree)}
    return {**env, "BANKCORE_DB": str(bank)} if bank else env


def cold_cli(args: list[str], runtime: str, workdir: Path, tree: Path = ROOT,
             exit_codes: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: what load on a shared machine inflates least) and peak RSS (MB)
    of one fresh `bankcore ARGS` process, bankcore imported from the checkout `tree` (run in it: `python -c` puts
    the working folder first on sys.path)."""
    peak = workdir / "peak.txt"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CLI_CHILD, str(peak), *args], env=env_for(runtime, tree=tree),
                          cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in exit_codes:
        raise SystemExit(f"bankcore {' '.join(args)} (in {tree}) exited {done.returncode}: {done.stderr[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, int(peak.read_text()) / 1024


def child_json(code: str, args: list[str], runtime: str, bank: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         env=env_for(runtime, bank), cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])  # the last line: libraries may print before it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workdir", default="/tmp/bankcore-cold-start")
    parser.add_argument("--parts", default="cli,bulk", help="any of cli,bulk,dashboard (default: cli,bulk)")
    parser.add_argument("--compare", metavar="TREE", type=Path,
                        help="another checkout of bankcore: time the CLI's cold starts in both, alternating")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bank = ensure_bank(workdir, args.items)
    load = os.getloadavg()[0]
    print(f"bank: {bank} ({args.items} items); {os.cpu_count()} CPUs, load average {load:.1f} at start")
    commands = {"--version": ["--version"], "stats": ["--db", str(bank), "stats"],
                "retrieve": ["--db", str(bank), "retrieve", QUERY, "--no-log"]}
    if args.compare:
        compare_trees(bank, args.compare.resolve(), args.runs, workdir)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2-core machine shared with others when > 2)")
        return
    parts = set(args.parts.split(","))
    cold_cli(commands["retrieve"], "numpy", workdir)  # writes the vector snapshot: not a cold start's cost
    if "cli" in parts:
        cold_cli_table(commands, args.runs, workdir)
    if "bulk" in parts:
        bulk(workdir)
    if "dashboard" in parts:
        dashboard(bank)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2-core machine shared with others when > 2)")


def cold_cli_table(commands: dict[str, list[str]], n_runs: int, workdir: Path) -> None:
    print(f"\nCLI, median of {n_runs} fresh processes: wall s / CPU s / peak RSS MB")
    print(f"{'command':12s} {'torch':>22s} {'numpy':>22s} {'wall torch/numpy':>17s}")
    for name, argv in commands.items():
        runs: dict[str, list[tuple[float, float, float]]] = {r: [] for r in RUNTIMES}
        for _ in range(n_runs):
            for runtime in RUNTIMES:
                runs[runtime].append(cold_cli(argv, runtime, workdir))
        med = {r: [statistics.median(column) for column in zip(*v)] for r, v in runs.items()}
        print(f"{name:12s} " + " ".join(f"{w:7.2f} /{c:6.2f} /{m:5.0f}" for w, c, m in (med[r] for r in RUNTIMES))
              + f" {med['torch'][0] / med['numpy'][0]:16.1f}x")


GOAL_S = 0.5  # issue 19: a command that embeds nothing starts in under half a second


def compare_trees(bank: Path, base: Path, n_runs: int, workdir: Path) -> None:
    """Each command cold in this tree and in `base`, runs alternating (so load hits both alike), with the default
    embedding runtime; median wall / CPU / peak RSS, and base/this for the wall."""
    trees = {"this": ROOT, "base": base}
    for name, tree in trees.items():  # which bankcore each child imports: the comparison is void otherwise
        found = subprocess.run([sys.executable, "-c", "import bankcore; print(bankcore.__file__)"], cwd=tree,
                               env=env_for("numpy", tree=tree), capture_output=True, text=True).stdout.strip()
        assert found.startswith(str(tree)), f"{name}: imported {found}, not from {tree}"
        print(f"{name}: {tree} ({git_head(tree)})")
    db = ["--db", str(bank)]
    commands = {
        "--version": ["--version"], "--help": ["--help"], "stats": [*db, "stats"], "check": [*db, "check"],
        "review list": [*db, "review", "list", "--status", "approved"], "verdicts": [*db, "verdicts", "t0"],
        "export-lessons": [*db, "export-lessons", "--format", "md"],
        "retrieve": [*db, "retrieve", QUERY, "--no-log"],
    }
    for tree in trees.values():
        cold_cli(commands["retrieve"], "numpy", workdir, tree)  # writes the vector snapshot: not a cold start's cost
    print(f"\nCLI cold starts, median of {n_runs} fresh processes per tree (alternating): wall s / CPU s / peak RSS MB")
    print(f"{'command':15s} {'this tree':>22s} {'base':>22s} {'base/this':>10s}")
    for name, argv in commands.items():
        runs: dict[str, list[tuple[float, float, float]]] = {tree: [] for tree in trees}
        for _ in range(n_runs):
            for tree, path in trees.items():
                # `check` answers 1 for a bank with problems: the bench bank is bulk-written, its rows off the event log
                runs[tree].append(cold_cli(argv, "numpy", workdir, path, (0, 1) if name == "check" else (0,)))
        med = {tree: [statistics.median(column) for column in zip(*v)] for tree, v in runs.items()}
        over = "" if name == "retrieve" or med["this"][0] < GOAL_S else f"  over the {GOAL_S} s goal"
        print(f"{name:15s} " + " ".join(f"{w:7.2f} /{c:6.2f} /{m:5.0f}" for w, c, m in (med[t] for t in trees))
              + f" {med['base'][0] / med['this'][0]:9.2f}x{over}")


def git_head(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--short", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + (" + uncommitted changes" if dirty else "")


def bulk(workdir: Path) -> None:
    import numpy as np
    texts = lesson_texts(500)
    (workdir / "texts.json").write_text(json.dumps(texts))
    print(f"\nbulk embedding, {len(texts)} lessons in one call (each runtime in its own process)")
    speed = {}
    for runtime in RUNTIMES:
        speed[runtime] = child_json(EMBED_CHILD, [str(workdir / "texts.json"), str(workdir / f"{runtime}.npy")],
                                    runtime)
        print(f"  {runtime:6s} {speed[runtime]['texts_per_s']:7.1f} texts/s  "
              f"(model load {speed[runtime]['load_s']:.2f} s)")
    a, b = (np.load(workdir / f"{r}.npy") for r in RUNTIMES)
    print(f"  numpy/torch throughput {speed['numpy']['texts_per_s'] / speed['torch']['texts_per_s']:.2f}; vectors: "
          f"max |difference| {np.abs(a - b).max():.2e}, min cosine {(a * b).sum(axis=1).min():.7f}")


def dashboard(bank: Path) -> None:
    print("\ndashboard (AppTest, fresh process): playground's first Retrieve")
    for runtime in RUNTIMES:
        result = child_json(DASHBOARD_CHILD, [str(ROOT / "app.py"), QUERY, playground_page()], runtime, bank)
        print(f"  {runtime:6s} first Retrieve {result['first_retrieve_s']:.2f} s, peak RSS "
              f"{result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
