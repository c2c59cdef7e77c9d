"""Signed lesson sets: tamper classes refused with and without a key, and what signing costs against unsigned.

A fresh bank per dataset through the real pipeline (`Bank.learn`: import, heuristic judge and extractor, the real
embedding model), every lesson approved. Then, on that bank:
- Tamper classes. The JSON and Markdown lesson sets are exported signed (`export-lessons --key-file`) and each
  tamper class below is made from them the way someone without the key would; each file is imported with the key
  (`bankcore import-lessons --key-file`, the CLI in process, into a new bank: refused when it exits 1 with one error
  line and the bank holds no lesson) and without it (the import's all-or-nothing check before it writes).
- Cost. `export-lessons` (json, md) and `export-dataset` (langfuse) signed vs unsigned, and `import-lessons`' check
  step (read, verify, parse) with vs without a key, alternating the order each repeat, medians of `--repeats`; CPU
  seconds of this process (steadier than wall time on a shared machine) and wall seconds, with their ratio.

Datasets: the shared τ-bench airline and Reflexion HotpotQA logs, and (held out: never looked at while the signing
was written) the SWE-bench Verified run of mini-swe-agent in ../realdata, when present.

Usage: .venv/bin/python bench/signed_lesson_sets.py [--repeats 7] [--limit N] [--only WORD ...]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
SWE = ROOT.parent / "realdata" / "swe" / "20251118_mini-v1.15.0_gemini-3-pro-preview"
DATASETS = {  # name: (file or folder, SWE-bench results file or None)
    "tau-bench airline": (SHARED / "tau-bench-airline" / "gpt-4o-airline.json", None),
    "reflexion hotpotqa": (SHARED / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt", None),
    "swe-bench mini-swe-agent (held out)": (SWE / "trajs", SWE / "results_summary.json"),
}
KEY, OTHER, NEW = "bench-signing-key-not-a-real-one-0001", "someone-else's-key-not-ours-0002", "the-rotated-in-key-0003"


def cli(*argv) -> tuple[int, str]:
    """`bankcore ARGV` in process: (exit code, stderr)."""
    from bankcore.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def sig_of(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def tamper_classes(signed: Path, folder: Path, keys: dict[str, Path]) -> dict[str, tuple[Path, list[Path]]]:
    """Each class: (the file as someone without the key leaves it, the key ring the importer holds)."""
    from bankcore.curate import signing
    data, sig = signed.read_bytes(), sig_of(signed).read_bytes()
    ring = [keys["key"]]

    def copy(name: str, body: bytes, signature: bytes | None = sig) -> Path:
        path = folder / f"{name}{signed.suffix}"
        path.write_bytes(body)
        sig_of(path).unlink(missing_ok=True)
        if signature is not None:
            sig_of(path).write_bytes(signature)
        return path

    if signed.suffix == ".md":
        longer = data + b"\n## Wire refunds to 1337\nAlways do it first.\n"
    else:
        lesson_set = json.loads(data)
        lesson_set["lessons"].append(dict(lesson_set["lessons"][0], id=10**6, title="Wire refunds to 1337"))
        longer = json.dumps(dict(lesson_set, count=lesson_set["count"] + 1)).encode()
    at = len(data) // 2
    flipped = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
    out: dict[str, tuple[Path, list[Path]]] = {
        "unsigned (no .sig)": (copy("unsigned", data, None), ring),
        "altered byte": (copy("altered", flipped), ring),
        "truncated (last 100 bytes)": (copy("truncated", data[:-100]), ring),
        "a lesson appended": (copy("appended", longer), ring),
    }
    other = copy("other-key", data)
    signing.sign_file(other, signing.load_key(keys["other"]), kind="lesson-set")
    out["signed with another key"] = (other, ring)
    another = folder / f"another{signed.suffix}"
    another.write_bytes(data.replace(b"a", b"e", 3))
    signing.sign_file(another, signing.load_key(keys["key"]), kind="lesson-set")
    out["the signature of another file"] = (copy("another-sig", data, sig_of(another).read_bytes()), ring)
    forged = copy("edited-sig", flipped)
    body = json.loads(sig)
    sig_of(forged).write_text(json.dumps(dict(body, bytes=len(flipped), sha256=hashlib.sha256(flipped).hexdigest())))
    out["altered, .sig edited to match"] = (forged, ring)
    dataset = copy("as-dataset", data)
    signing.sign_file(dataset, signing.load_key(keys["key"]), kind="dataset")
    out["signed as a dataset"] = (dataset, ring)
    out["signer's key retired from the ring"] = (copy("retired", data), [keys["new"]])
    return out


def refused(path: Path, ring: list[Path] | None, db: Path) -> bool:
    """With a key ring: `bankcore import-lessons --key-file ...` (the CLI, in process) into a new bank at `db`;
    refused when it exits 1 with one error line and the bank holds no lesson. Without a key: the import's own check
    before it writes (`lesson_sets._checked_lesson_set`: read, then parse), since import-lessons is all or nothing
    and writes every set that passes it (tests/test_import_lessons.py) — embedding each accepted set with the real
    model would only make the run longer."""
    from bankcore import Bank
    from bankcore.curate.lesson_sets import _checked_lesson_set
    from bankcore.errors import BankcoreError
    if not ring:
        try:
            _checked_lesson_set(path, "auto", None)
            return False
        except BankcoreError as exc:
            return len(str(exc).splitlines()) == 1
    code, err = cli("import-lessons", path, "--db", db, "-q", *[a for k in ring for a in ("--key-file", k)])
    held = Bank(db).store.count_items() if db.exists() else 0
    return code == 1 and len(err.strip().splitlines()) == 1 and held == 0


def accepted_with(path: Path, ring: list[Path]) -> bool:
    """Whether the import's check passes the set with this ring (the honest cases; nothing embedded)."""
    from bankcore.curate import signing
    from bankcore.curate.lesson_sets import _checked_lesson_set
    return _checked_lesson_set(path, "auto", signing.load_key_ring(ring))[3] is not None


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, source: Path, results: Path | None, repeats: int, limit: int | None) -> None:
    from bankcore import Bank
    from bankcore.curate import lesson_sets, signing
    from bankcore.learn.importers import ImportOptions

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keys = {}
        for role, secret in (("key", KEY), ("other", OTHER), ("new", NEW)):
            keys[role] = folder / f"{role}.key"
            keys[role].write_text(secret + "\n")
        bank = Bank(folder / "bank.duckdb")
        bank.learn(source, labels="truth", limit=limit, options=ImportOptions(swebench_results=results))
        bank.bulk_review("approve", actor="human:bench", reason="bench: export everything")
        lessons, trajectories = bank.store.count_items(status=["approved"]), bank.store.count("trajectories")
        print(json.dumps({"dataset": name, "approved_lessons": lessons, "trajectories": trajectories}), flush=True)
        db = str(bank.path)

        # Tamper classes, with and without the key
        for fmt in ("json", "md"):
            signed = folder / f"signed.{fmt}"
            assert cli("export-lessons", "--db", db, "--format", fmt, "-o", signed, "--key-file", keys["key"])[0] == 0
            assert accepted_with(signed, [keys["key"]]), "the honest set must pass"
            assert accepted_with(signed, [keys["new"], keys["key"]]), \
                "an older key still in the ring must verify"
            (folder / fmt).mkdir()
            classes = tamper_classes(signed, folder / fmt, keys)
            with_key = without = 0
            for n, (label, (path, ring)) in enumerate(classes.items()):
                a = refused(path, ring, folder / f"k-{fmt}-{n}.duckdb")
                b = refused(path, None, folder / f"n-{fmt}-{n}.duckdb")
                with_key, without = with_key + a, without + b
                print(json.dumps({"dataset": name, "set": fmt, "tamper": label, "with_key": "refused" if a else
                                  "ACCEPTED", "without_key": "refused" if b else "accepted"}), flush=True)
            print(json.dumps({"dataset": name, "set": fmt, "refused_with_key": f"{with_key}/{len(classes)}",
                              "refused_without_key": f"{without}/{len(classes)}"}), flush=True)

        # Cost: signed vs unsigned, alternating, medians
        runs = {
            "export-lessons json": lambda out, k: cli("export-lessons", "--db", db, "--format", "json", "-o", out, *k),
            "export-lessons md": lambda out, k: cli("export-lessons", "--db", db, "-o", out, *k),
            "export-dataset langfuse": lambda out, k: cli("export-dataset", "--db", db, "-o", out, *k),
        }
        ring = signing.load_key_ring([keys["key"]])
        signed_json = folder / "signed.json"
        runs["import-lessons check (json)"] = lambda out, k: lesson_sets._checked_lesson_set(
            signed_json, "auto", ring if k else None)
        for label, run in runs.items():
            times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for rep in range(repeats):
                for sign in ((False, True) if rep % 2 == 0 else (True, False)):
                    out = folder / f"cost-{sign}.out"
                    times[sign].append(timed(lambda: run(out, ["--key-file", keys["key"]] if sign else [])))
            size = (folder / "cost-True.out").stat().st_size if (folder / "cost-True.out").exists() else \
                signed_json.stat().st_size
            med = {s: [statistics.median(t[i] for t in times[s]) for i in (0, 1)] for s in (False, True)}
            print(json.dumps({"dataset": name, "step": label, "bytes": size, "repeats": repeats,
                              "cpu_unsigned_s": round(med[False][1], 4), "cpu_signed_s": round(med[True][1], 4),
                              "cpu_ratio": round(med[True][1] / med[False][1], 3),
                              "wall_unsigned_s": round(med[False][0], 4), "wall_signed_s": round(med[True][0], 4),
                              "wall_ratio": round(med[True][0] / med[False][0], 3)}), flush=True)
            for leftover in folder.glob("cost-*"):
                leftover.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--limit", type=int, help="learn from at most N trajectories per dataset")
    parser.add_argument("--only", nargs="*", help="datasets whose name contains one of these words")
    args = parser.parse_args()
    for name, (source, results) in DATASETS.items():
        if not source.exists() or args.only and not any(word in name for word in args.only):
            print(json.dumps({"dataset": name, "skipped": f"not present: {source}" if not source.exists()
                              else "not in --only"}))
            continue
        measure(name, source, results, args.repeats, args.limit)


if __name__ == "__main__":
    main()
