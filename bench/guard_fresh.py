"""Guard on the third, unseen attack set (bench/guard_fresh.jsonl): caught and false-flag rates, totals only.

The set is a measure, not tuning material: by default this prints totals per kind and label and nothing per case,
so that running it while rules change does not leak which payloads were missed. `--show-misses` (for the closing
report only) lists the missed and falsely held cases and `--by-category` the rate per category.

Verdicts are bench/guard_holdout.py's: a trajectory is caught when `guard.scan_trajectory` flags it (that is what
flags the lessons learned from it); a lesson when the gate holds it back (flag or borderline: the default policy
never auto-approves either). Benign look-alikes count as false flags the same way.

`--baseline REV` measures the guard at git revision REV first, in the same run; `--cost` adds the CPU cost per 1,000
real trajectories (bench/guard_holdout.py's measure) for the guard in use.

`--set PATH` measures another unseen set of the same schema instead (e.g. bench/guard_unseen.jsonl, the fourth set,
authored by someone who had not read the guard).

Usage: python bench/guard_fresh.py [--set PATH] [--baseline REV] [--cost] [--by-category] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.guard_holdout import cost, rate, verdict  # noqa: E402
from bench.guard_redteam import baseline, print_table  # noqa: E402

FRESH = ROOT / "bench" / "guard_fresh.jsonl"


def caught(row: dict, flagged: bool, held: bool) -> bool:
    """An injection is caught / a benign case falsely held, by the verdict that decides auto-approval."""
    return flagged if row["kind"] == "trajectory" and row["label"] == "injection" else held


def report(attack_set: Path, by_category: bool, show_misses: bool) -> None:
    rows = [json.loads(line) for line in attack_set.read_text("utf-8").splitlines() if line.strip()]
    results = [(row, *verdict(row)) for row in rows]
    print(f"## unseen set ({attack_set.relative_to(ROOT)})")
    print_table(results)
    inj = [caught(r, f, h) for r, f, h, _ in results if r["label"] == "injection"]
    ok = [caught(r, f, h) for r, f, h, _ in results if r["label"] == "benign"]
    print(f"injections caught {rate(sum(inj), len(inj))}; benign look-alikes held {rate(sum(ok), len(ok))}")
    if by_category:
        cats: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for r, f, h, _ in results:
            cats[(r["label"], r["kind"], r["category"])][0] += 1
            cats[(r["label"], r["kind"], r["category"])][1] += caught(r, f, h)
        for (label, kind, cat), (n, k) in sorted(cats.items()):
            print(f"  {label:9s} {kind:10s} {cat:24s} {'caught' if label == 'injection' else 'held'} {k}/{n}")
    if show_misses:
        for r, f, h, why in results:
            hit = caught(r, f, h)
            if (r["label"] == "injection") != hit:
                print(f"  {'missed' if not hit else 'FALSE'} {r['id']} {r['category']}" + (f": {why}" if hit else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=FRESH, help="the attack set (default: bench/guard_fresh.jsonl)")
    parser.add_argument("--baseline", metavar="REV", help="also measure the guard at this git revision, first")
    parser.add_argument("--cost", action="store_true", help="also time the guard on real trajectories")
    parser.add_argument("--by-category", action="store_true", help="rates per category (closing report only)")
    parser.add_argument("--show-misses", action="store_true", help="list misses and false holds (closing report)")
    args = parser.parse_args()
    attack_set = args.set.resolve()
    flags = ["--set", str(attack_set), *["--by-category"] * args.by_category, *["--show-misses"] * args.show_misses,
             *["--cost"] * args.cost]
    if args.baseline:
        baseline(args.baseline, flags, __file__)
    report(attack_set, args.by_category, args.show_misses)
    if args.cost:
        cost()


if __name__ == "__main__":
    main()
