"""Import throughput and peak memory.

Prints, for the shared τ-bench and Reflexion files, trajectories/s and steps/s (median of 5 imports into fresh banks)
and the peak RSS of the importing process; then the same for generated native JSONL files of 10k and 100k
trajectories (~10 steps each), to show that memory does not grow with the file (the import streams).

Each import runs in its own process so that peak RSS is that import's alone.
Usage: python bench/import_speed.py [--sizes 10000,100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

CHILD = r"""
import json, resource, sys, time
from bankcore import Bank
bank = Bank(sys.argv[1])
bank.init()
t0 = time.perf_counter()
report = bank.import_path(sys.argv[2])
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "added": report.added, "steps": report.steps_added,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def one_import(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "b.duckdb"), str(path)],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def measure(label: str, path: Path, repeats: int) -> dict:
    runs = [one_import(path) for _ in range(repeats)]
    secs = statistics.median(r["seconds"] for r in runs)
    row = {"input": label, "trajectories": runs[0]["added"], "steps": runs[0]["steps"], "median_s": round(secs, 3),
           "traj_per_s": round(runs[0]["added"] / secs), "steps_per_s": round(runs[0]["steps"] / secs),
           "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)), "repeats": repeats}
    print(json.dumps(row), flush=True)
    return row


WORDS = ("search filter sort page next results order item price cart review issue commit branch merge user "
         "settings admin report total count date month status open closed").split()


def generate(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            steps = [{"thought": " ".join(rng.choices(WORDS, k=12)),
                      "action": f"click('{rng.choice(WORDS)}-{rng.randrange(100)}')",
                      "observation": " ".join(rng.choices(WORDS, k=40))} for _ in range(rng.randint(8, 12))]
            fh.write(json.dumps({"task_id": f"gen-{i % 5000}", "trial": i // 5000, "domain": rng.choice(WORDS),
                                 "query": " ".join(rng.choices(WORDS, k=15)), "steps": steps,
                                 "final_answer": rng.choice(WORDS),
                                 "truth": {"success": rng.random() < 0.4}}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for label, path in [("tau-bench airline (200)", SHARED / "tau-bench-airline" / "gpt-4o-airline.json"),
                        ("reflexion base (512)", SHARED / "reflexion-hotpotqa" / "react_base_100_questions_5_trials.txt"),
                        ("reflexion (498)", SHARED / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt")]:
        if path.exists():
            measure(label, path, args.repeats)
    generated = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"gen-{n}.jsonl"
            generate(path, n)
            size_mb = path.stat().st_size / 1024 / 1024
            generated.append(measure(f"generated native JSONL ({n}, {size_mb:.0f} MB)", path, 1))
            path.unlink()
    if len(generated) >= 2:
        small, large = generated[0], generated[-1]
        print(json.dumps({"streaming_check": f"{large['trajectories']} vs {small['trajectories']} trajectories",
                          "file_ratio": round(large["trajectories"] / small["trajectories"], 1),
                          "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)}))


if __name__ == "__main__":
    main()
