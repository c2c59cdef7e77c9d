"""Malformed inputs through the real CLI: how many classes end in a traceback or a hang (goal 0).

Each class of tests/malformed_inputs.py is imported with `python -m bankcore.cli import` into a fresh bank, once
plainly and once with --skip-bad, each in its own process with a timeout. A class fails when either run prints a
traceback, hangs, or does not end as the class says (a one-line located error, the good records kept by
--skip-bad, or a clean import). Prints one row per class and the totals.
Usage: python bench/malformed_inputs.py [NAME ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from malformed_inputs import CASES, Case  # noqa: E402

TIMEOUT_S = 30


def run_cli(argv: list[str]) -> tuple[int | None, str, str]:
    try:
        proc = subprocess.run([sys.executable, "-m", "bankcore.cli", *argv], capture_output=True, text=True,
                              timeout=TIMEOUT_S, cwd=ROOT, errors="backslashreplace")
    except subprocess.TimeoutExpired:
        return None, "", ""
    return proc.returncode, proc.stdout, proc.stderr


def check(case: Case, folder: Path) -> tuple[str, str]:
    """(outcome, detail): outcome is 'ok', 'traceback', 'hang' or 'wrong'."""
    target = case.build(folder)
    fmt = ["--format", case.fmt] if case.fmt else []
    outcomes = []
    for skip in (False, True):
        db = folder / f"bank-{skip}.duckdb"
        code, out, err = run_cli(["import", str(target), "--db", str(db), "-q", *fmt, *(["--skip-bad"] if skip else [])])
        if code is None:
            return "hang", f"no exit in {TIMEOUT_S}s (skip_bad={skip})"
        if "Traceback" in err:
            return "traceback", err.strip().splitlines()[-1][:160]
        want = 0 if case.expect == "ok" else (3 if skip and case.skippable else 1)
        if code != want:
            outcomes.append(f"exit {code}, want {want} (skip_bad={skip}): {err.strip()[:160]}")
        elif case.expect == "error" and not skip and (len(err.strip().splitlines()) != 1 or case.message not in err):
            outcomes.append(f"error line does not say {case.message!r}: {err.strip()[:160]}")
    return ("wrong", "; ".join(outcomes)) if outcomes else ("ok", "")


def main(names: list[str]) -> None:
    counts: dict[str, int] = {}
    for case in CASES:
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            outcome, detail = check(case, Path(tmp))
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{case.name:32} {outcome:10} {detail}")
    total = sum(counts.values())
    print(f"\n{total} classes: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    print(f"classes ending in a traceback or a hang: {counts.get('traceback', 0) + counts.get('hang', 0)}")


if __name__ == "__main__":
    main(sys.argv[1:])
