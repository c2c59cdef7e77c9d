"""Guard on the outside attacker's set (bench/guard_redteam.jsonl) and on new benign real texts.

The verdicts are bench/guard_holdout.py's: a trajectory goes through `guard.scan_trajectory` (caught = flagged), a
lesson through `gate.findings` / `gate.holds_back` (caught = held back: flag or borderline, which the default
policy never auto-approves). Benign cases count as false flags the same way.

Benign real texts (read from /work/realdata at run time, never stored): passages that mention money, credentials,
confirmations, email addresses or are written in another script, taken from sources the other benches do not read as
lessons — mini-swe-agent THOUGHT paragraphs and tool outputs (SWE-bench instances after the first 250), tau2-bench
telecom messages, and HotpotQA context paragraphs. A model's reasoning paragraph is run as a lesson (the text an
extractor would keep); tool outputs, customer messages and contexts as the observation of a one-step trajectory.
Each text is in the `tune` or `test` half by its source file, like the attack set.

`--baseline REV` measures the guard at git revision REV first, in the same run; `--cost` adds the CPU cost per 1,000
real trajectories (bench/guard_holdout.py's measure).

Usage: python bench/guard_redteam.py [--show N] [--half tune|test|all] [--max-real N] [--baseline REV] [--cost]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.guard_holdout import cost, lesson_verdict, rate, trajectory_verdict, verdict  # noqa: E402
from bankcore.models import Step, Trajectory  # noqa: E402

REDTEAM = ROOT / "bench" / "guard_redteam.jsonl"
REALDATA = Path(os.environ.get("BANKCORE_REALDATA", "/work/realdata"))
SENSITIVE = re.compile(r"(?i)\b(password|passwd|token|secret|api[_ -]?key|credential|auth\w*|refund\w*|payment|"
                       r"charg\w+|credit|bill\w*|invoice|money|bank\w*|e-?mail\w*|confirm\w*|transfer\w*|send|"
                       r"forward\w*|approv\w+|verif\w+|ignore\w*)\b|\$\d|[\w.+-]+@[\w-]+\.\w+")
OTHER_SCRIPT = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u3040-\u30ff\u4e00-\u9fff"
                          r"\uac00-\ud7af]")
SWE_SKIP = 250  # instances the offline-extractor lessons of bench/guard_holdout.py may already read


def half_of(source: str) -> str:
    return "tune" if hashlib.sha1(source.encode()).digest()[0] % 2 == 0 else "test"


def _swe_texts(limit: int) -> tuple[list, list]:
    """(THOUGHT paragraphs, tool-output windows) from mini-swe-agent runs that mention a sensitive word."""
    thoughts, outputs = [], []
    for folder in sorted(REALDATA.glob("swe/*/trajs"))[:1]:
        for inst in sorted(folder.iterdir())[SWE_SKIP:]:
            for file in inst.glob("*.traj.json"):
                messages = json.loads(file.read_text("utf-8")).get("messages") or []
                for m in messages[2:]:
                    text = m.get("content") if isinstance(m.get("content"), str) else ""
                    hit = SENSITIVE.search(text)
                    if not hit:
                        continue
                    if m.get("role") == "assistant":
                        thought = text.split("```")[0].replace("THOUGHT:", "").strip()
                        if SENSITIVE.search(thought) and len(thoughts) < limit:
                            thoughts.append((inst.name, thought[:1500]))
                    elif m.get("role") == "user" and len(outputs) < limit:
                        start = max(0, hit.start() - 600)
                        outputs.append((inst.name, text[start:start + 1200]))
    return thoughts, outputs


def _tau2_texts() -> tuple[list, list]:
    """(assistant messages, customer and tool messages) of tau2-bench telecom runs that mention a sensitive word."""
    said, read_ = [], []
    for file in sorted(REALDATA.glob("tau2-bench/*.json")):
        for sim in json.loads(file.read_text("utf-8")).get("simulations", []):
            for m in sim.get("messages", []):
                text = m.get("content") if isinstance(m.get("content"), str) else ""
                if SENSITIVE.search(text):
                    (said if m.get("role") == "assistant" else read_).append((f"tau2 {sim.get('task_id')}", text))
    return said, read_


def _contexts(limit: int) -> list:
    """HotpotQA context paragraphs written partly in another script or naming money and banks."""
    out = []
    for file in sorted(REALDATA.glob("reflexion/hotpotqa__CoT__context__*.txt")):
        for block in re.findall(r"^Context: (.+)$", file.read_text("utf-8", "replace"), re.M):
            if (OTHER_SCRIPT.search(block) or SENSITIVE.search(block)) and len(out) < limit:
                out.append((f"{file.name}:{len(out)}", block[:1500]))
        if len(out) >= limit:
            break
    return list(dict.fromkeys(out))


def real_benign(limit: int) -> dict[str, list[tuple[str, str]]]:
    """Source kind → (source id, text), duplicates dropped; empty when /work/realdata is absent."""
    if not REALDATA.is_dir():
        return {}
    thoughts, outputs = _swe_texts(limit)
    said, read_ = _tau2_texts()
    sets = {"lesson: swe THOUGHT paragraphs": thoughts, "lesson: tau2 agent messages": said,
            "trajectory: swe tool outputs": outputs, "trajectory: tau2 customer/tool messages": read_,
            "trajectory: hotpotqa contexts": _contexts(limit)}
    return {k: list(dict.fromkeys(v)) for k, v in sets.items() if v}


def one_step(source: str, text: str) -> Trajectory:
    return Trajectory(task_id=source, query="(real text)", source_format="native",
                      steps=[Step(index=0, action="read()", observation=text)])


def attack_set(half: str, show: int) -> None:
    rows = [json.loads(line) for line in REDTEAM.read_text("utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if half == "all" or r["split"] == half]
    results = [(row, *verdict(row)) for row in rows]
    print(f"## red-team set (bench/guard_redteam.jsonl), half: {half}")
    print_table(results)
    caught = [flagged if r["kind"] == "trajectory" else held for r, flagged, held, _ in results
              if r["label"] == "injection"]
    false = [held for r, _, held, _ in results if r["label"] == "benign"]
    print(f"injections caught {rate(sum(caught), len(caught))}; benign look-alikes held {rate(sum(false), len(false))}")
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, flagged, held, _ in results:
        if r["label"] == "injection":
            by_cat[r["category"]][0] += 1
            by_cat[r["category"]][1] += flagged if r["kind"] == "trajectory" else held
    print("missed categories: " + ", ".join(f"{c} {n - k}/{n}" for c, (n, k) in sorted(by_cat.items()) if k < n))
    shown = 0
    for r, flagged, held, why in results:
        missed = r["label"] == "injection" and not (flagged if r["kind"] == "trajectory" else held)
        wrong = r["label"] == "benign" and held
        if (missed or wrong) and shown < show:
            shown += 1
            print(f"  {'missed' if missed else 'FALSE'} {r['id']} [{r['split']}] {r['category']}"
                  + (f": {why}" if wrong else ""))


def real_set(half: str, limit: int, show: int) -> None:
    sets = real_benign(limit)
    if not sets:
        print("\n## benign real texts: /work/realdata absent, skipped")
        return
    print(f"\n## benign real texts from /work/realdata (false flags: flagged / held back), half: {half}")
    total = [0, 0, 0]
    examples = []
    for name, texts in sets.items():
        texts = [t for t in texts if half == "all" or half_of(t[0]) == half]
        if name.startswith("lesson"):
            verdicts = [(t, *lesson_verdict("", "", t[1])) for t in texts]
        else:
            verdicts = [(t, *trajectory_verdict(one_step(*t))) for t in texts]
        flagged = sum(v[1] for v in verdicts)
        held = sum(v[2] for v in verdicts)  # a lesson held back / a trajectory with any cue
        total = [total[0] + len(texts), total[1] + flagged, total[2] + held]
        print(f"  {name:42s} n={len(texts):4d}  flagged {rate(flagged, len(texts)):>13s}  "
              f"held/cue {rate(held, len(texts)):>13s}")
        examples += [(t, why) for t, f, h, why in verdicts if f or (h and name.startswith("lesson"))][:show]
    print(f"  {'all':42s} n={total[0]:4d}  flagged {rate(total[1], total[0]):>13s}  "
          f"held/cue {rate(total[2], total[0]):>13s}")
    for (source, text), why in examples:
        print(f"    {source[:30]}: {' '.join(text.split())[:80]!r} — {why}")


def print_table(results: list[tuple]) -> None:
    """Flagged and held per kind (trajectory, lesson) and label (injection, benign): `results` rows are
    (case, flagged, held, ...), as `verdict` gives them."""
    print(f"{'kind':10s} {'label':9s} {'n':>4s}  {'flagged':>13s}  {'held (flag|border)':>18s}")
    for kind in ("trajectory", "lesson"):
        for label in ("injection", "benign"):
            part = [r for r in results if r[0]["kind"] == kind and r[0]["label"] == label]
            print(f"{kind:10s} {label:9s} {len(part):4d}  {rate(sum(r[1] for r in part), len(part)):>13s}  "
                  f"{rate(sum(r[2] for r in part), len(part)):>18s}")


def baseline(rev: str, argv: list[str], script: str = __file__) -> None:
    """`script`'s figures for the guard at `rev` (its bankcore unpacked to a temporary folder), run first."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev, "bankcore"], cwd=ROOT, capture_output=True, check=True)
        with tarfile.open(fileobj=__import__("io").BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        print(f"# baseline: the guard at {rev}")
        sys.stdout.flush()
        subprocess.run([sys.executable, script, *argv], env={**os.environ, "GUARD_HOLDOUT_ENGINE": tmp}, check=True)
    print("\n# after: the guard in this checkout")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=10, help="misses / false flags to print")
    parser.add_argument("--half", choices=("tune", "test", "all"), default="all")
    parser.add_argument("--max-real", type=int, default=400, help="real texts per source (0: none)")
    parser.add_argument("--baseline", metavar="REV", help="also measure the guard at this git revision, first")
    parser.add_argument("--cost", action="store_true", help="also time the guard on real trajectories (as "
                                                            "bench/guard_holdout.py does)")
    args = parser.parse_args()
    if args.baseline:
        baseline(args.baseline, ["--show", str(args.show), "--half", args.half, "--max-real", str(args.max_real)]
                 + ["--cost"] * args.cost)
    attack_set(args.half, args.show)
    if args.max_real:
        real_set(args.half, args.max_real, args.show)
    if args.cost:
        cost()


if __name__ == "__main__":
    main()
