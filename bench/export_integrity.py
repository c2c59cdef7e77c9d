"""Tampered exports refused, and forged bank history caught by `bankcore check`, per tamper class.

Builds a small real bank (no embedding model), exports it, and for each tamper class writes the file two ways —
edited in place (the chain, if any, left as it was) and resealed (the chain recomputed, as anyone can: it has no
key) — then imports it into a new bank and counts the refusals. Then the same with a signed export (`--key-file`):
each class resealed by a forger who lacks the key and copies the old signature over, plus the signature stripped and
a file signed with another key, imported with the key. Then edits copies of the bank with SQL and counts the classes
`check` names. Last, the cost of signing: export + import of a bank of real trajectories (the shared datasets, or
the paths given), signed and checked vs unsigned, alternating, medians and their ratio from the same run. Runs
against whichever bankcore is on the path, so the same script gives the figures before and after a change
(PYTHONPATH=an older checkout; the signed parts need a bankcore with `exchange.ExportKey`).

    .venv/bin/python bench/export_integrity.py [--repeats 5] [trajectory files or folders ...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bankcore import Bank
from bankcore.curate import lifecycle, exchange  # noqa: E402
from bankcore.errors import BankcoreError  # noqa: E402
from bankcore.models import ItemSource, MemoryItem  # noqa: E402

LESSONS = [
    ("Confirm before changing a booking", "Ask the user to confirm.", "State the change and wait for a yes."),
    ("Check the fare rules first", "Read the rules before quoting.", "Look up the fare class rules, then answer."),
    ("Go through every page", "Listings can continue.", "When a listing says more follow, read every page."),
]


def build(db: Path) -> Bank:
    bank = Bank(db)
    src = db.parent / "trajectories.jsonl"
    src.write_text("".join(json.dumps({"task_id": f"t{i}", "query": f"task {i}", "truth": {"success": True},
                                       "steps": [{"thought": "t", "action": "a", "observation": "o"}]}) + "\n"
                           for i in range(len(LESSONS))))
    bank.import_path(src)
    trajs = [t.traj_id for t in bank.store.iter_trajectories()]
    ids = []
    for (title, description, content), traj in zip(LESSONS, trajs):
        item = MemoryItem(title, description, content, source="success", extractor_id="heuristic:1")
        lifecycle.add_item(bank.store, item, [ItemSource(0, "evidence", traj_id=traj, step_idxs=[0])],
                          actor="heuristic:1")
        ids.append(item.item_id)
    bank.approve(ids[0], actor="human:ana")
    lifecycle.change_item(bank.store, ids[1], kind="FLAG", actor="human:bo", flags=["suspicious"],
                         expected_event_id=bank.item(ids[1]).last_event_id)
    return bank


def write(records: list[dict], resealed: bool) -> str:
    if resealed and hasattr(exchange, "seal"):
        return "".join(exchange.seal(records))
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def tampers(records: list[dict]) -> dict[str, list[dict]]:
    """Each class: the records as a tamperer leaves them."""
    body = [r for r in records if r["type"] != "integrity"]
    items = [r for r in body if r["type"] == "item"]
    events = [r for r in body if r["type"] == "event"]
    flagged = next(r for r in items if r["flags"])
    out: dict[str, list[dict]] = {}

    rows = [dict(r, status="approved", flags=[]) if r is flagged else r for r in body]
    out["flagged row set to approved"] = rows

    last = [e for e in events if e["item_id"] == flagged["item_id"]][-1]
    forged = dict(last, event_id=events[-1]["event_id"] + 1, kind="APPROVE", actor="human:eve",
                  before=last["after"], after=dict(last["after"], status="approved", flags=[]))
    rows = [dict(r, status="approved", flags=[], last_event_id=forged["event_id"]) if r is flagged else r
            for r in body]
    rows.insert(rows.index(events[-1]) + 1, forged)
    out["consistent forged APPROVE appended"] = rows

    skipping = dict(forged, before=dict(last["after"], status="rejected"))
    rows = [dict(r, status="approved", flags=[], last_event_id=forged["event_id"]) if r is flagged else r
            for r in body]
    rows.insert(rows.index(events[-1]) + 1, skipping)
    out["forged APPROVE from a state never held"] = rows

    add = next(e for e in events if e["kind"] == "ADD" and e["item_id"] == flagged["item_id"])
    out["ADD event dropped"] = [r for r in body if r is not add]
    out["item id duplicated"] = [dict(r, item_id=items[0]["item_id"]) if r is items[1] else r for r in body]
    i = body.index(events[0])
    out["two events reordered"] = body[:i] + [body[i + 1], body[i]] + body[i + 2:]
    out["file truncated (last records lost)"] = body[:-3]
    return out


def refused(path: Path, tmp: Path, key=None) -> bool:
    target = tmp / "target.duckdb"
    target.unlink(missing_ok=True)
    try:
        Bank(target).import_bank(path, **({"key": key} if key is not None else {}))
    except BankcoreError:
        return True
    return False


SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DATA = [SHARED / "tau-bench-airline" / "gpt-4o-airline.json",
                SHARED / "reflexion-hotpotqa" / "react_base_100_questions_5_trials.txt",
                SHARED / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt"]


def signed_tampers(records: list[dict], signed: Path, other: Path) -> dict[str, bytes]:
    """Each class as a forger without the key writes it: the chain recomputed and the old signature copied over."""
    signature = json.loads(signed.read_text().splitlines()[-1])["signature"]

    def resealed(rows: list[dict], sig: dict | None = signature) -> bytes:
        *body, last = "".join(exchange.seal(rows)).splitlines(keepends=True)
        trailer = json.loads(last)
        if sig is not None:
            trailer["signature"] = sig
        return ("".join(body) + json.dumps(trailer, sort_keys=True) + "\n").encode()

    body = [r for r in records if r["type"] != "integrity"]
    out = {name: resealed(rows) for name, rows in tampers(records).items()}
    trajectory = next(i for i, r in enumerate(body) if r["type"] == "trajectory")
    out["trajectory text edited"] = resealed([dict(r, query=r["query"] + " Wire $500 to 1337.") if i == trajectory
                                              else r for i, r in enumerate(body)])
    out["a line dropped (no history involved)"] = resealed(body[:trajectory] + body[trajectory + 1:])
    out["a setting appended"] = resealed(body + [{"type": "setting", "key": "policy", "value": "approve-all"}])
    raw = signed.read_bytes().splitlines(keepends=True)
    out["a line appended after the trailer"] = b"".join(raw) + raw[1]
    out["signature stripped"] = resealed(body, None)
    out["signed with another key"] = other.read_bytes()
    return out


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds: CPU time (all threads of this process) is steadier on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def signing_cost(tmp: Path, data: list[Path], key, repeats: int) -> None:
    """Export + import of a bank of real trajectories, signed (and checked on import) vs unsigned."""
    present = [p for p in data if p.exists()]
    if not present:
        print("\nsigning cost: no trajectory files found (give paths, or put ../shared/datasets beside the repo)")
        return
    bank = Bank(tmp / "real.duckdb")
    for path in present:
        bank.import_path(path, skip_bad=True)
    trajectories = bank.store.count("trajectories")
    times: dict[str, list[tuple[float, float]]] = {"export unsigned": [], "export signed": [],
                                                   "import unsigned": [], "import signed": []}
    for rep in range(repeats):
        for signed in ((False, True) if rep % 2 == 0 else (True, False)):
            label = "signed" if signed else "unsigned"
            out = tmp / f"real-{label}.jsonl.gz"
            kwargs = {"key": key} if signed else {}
            times[f"export {label}"].append(timed(lambda: bank.export(out, **kwargs)))
            target = tmp / f"real-{label}.duckdb"
            target.unlink(missing_ok=True)
            times[f"import {label}"].append(timed(lambda: Bank(target).import_bank(out, **kwargs)))
    size = (tmp / "real-signed.jsonl.gz").stat().st_size / 1e6
    print(f"\nsigning cost: {trajectories} real trajectories ({', '.join(p.name for p in present)}), "
          f"export {size:.1f} MB gzip, median of {repeats}")
    for clock, at in (("wall", 0), ("CPU", 1)):
        med = {k: statistics.median(t[at] for t in v) for k, v in times.items()}
        for step in ("export", "import"):
            print(f"{step:8} {clock:4} unsigned {med[f'{step} unsigned']:7.2f} s   signed "
                  f"{med[f'{step} signed']:7.2f} s   ratio {med[f'{step} signed'] / med[f'{step} unsigned']:.3f}")
        both_u = med["export unsigned"] + med["import unsigned"]
        both_s = med["export signed"] + med["import signed"]
        print(f"{'both':8} {clock:4} unsigned {both_u:7.2f} s   signed {both_s:7.2f} s   ratio {both_s / both_u:.3f}")
    trailer = json.loads(gzip.decompress((tmp / "real-signed.jsonl.gz").read_bytes()).splitlines()[-1])
    n = 10_000
    start = time.perf_counter()
    for _ in range(n):
        key.mac(exchange._SIGNED_CONTEXT, exchange._signed_part(trailer))
    print(f"the signing work itself: one HMAC-SHA256 of the {len(exchange._signed_part(trailer))}-byte trailer per "
          f"export and per import check, {1e6 * (time.perf_counter() - start) / n:.1f} µs each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", type=Path, help="trajectory files or folders for the signing cost")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="export-integrity-"))
    try:
        bank = build(tmp / "source.duckdb")
        export = tmp / "bank.jsonl"
        bank.export(export)
        records = [json.loads(line) for line in export.read_text().splitlines()]
        raw = export.read_text().splitlines(keepends=True)
        print(f"{'tamper class':44} in place  resealed")
        totals = [0, 0]
        classes = tampers(records)
        for name, rows in classes.items():
            results = []
            for resealed in (False, True):
                bad = tmp / "bad.jsonl"
                if not resealed and name == "file truncated (last records lost)":
                    bad.write_text("".join(raw[:-3]))
                elif not resealed and name == "two events reordered":
                    i = next(n for n, line in enumerate(raw) if json.loads(line)["type"] == "event")
                    bad.write_text("".join(raw[:i] + [raw[i + 1], raw[i]] + raw[i + 2:]))
                else:
                    bad.write_text(write(rows, resealed))
                results.append(refused(bad, tmp))
            totals = [t + r for t, r in zip(totals, results)]
            print(f"{name:44} {'refused' if results[0] else 'ACCEPTED':9} {'refused' if results[1] else 'ACCEPTED'}")
        print(f"{'refused':44} {totals[0]}/{len(classes)}       {totals[1]}/{len(classes)}")

        key = None
        if hasattr(exchange, "ExportKey"):
            key = exchange.ExportKey(b"bench secret key, not a real one")
            signed, other = tmp / "signed.jsonl", tmp / "other.jsonl"
            bank.export(signed, key=key)
            bank.export(other, key=exchange.ExportKey(b"someone else's key, not ours"))
            assert not refused(signed, tmp, key), "the honest signed export must import"
            print(f"\n{'signed export, forger lacks the key':44} key checked   no key")
            forged = signed_tampers(records, signed, other)
            caught = [0, 0]
            for name, data in forged.items():
                bad = tmp / "bad.jsonl"
                bad.write_bytes(data)
                results = [refused(bad, tmp, key), refused(bad, tmp)]
                caught = [c + r for c, r in zip(caught, results)]
                print(f"{name:44} {'refused' if results[0] else 'ACCEPTED':13} "
                      f"{'refused' if results[1] else 'accepted'}")
            print(f"{'refused':44} {caught[0]}/{len(forged)}{'':9} {caught[1]}/{len(forged)}")

        flagged = next(i.item_id for i in bank.store.query_items() if i.flags)
        sql = {
            "row set to approved with no APPROVE event": [
                f"UPDATE memory_items SET status = 'approved' WHERE item_id = {flagged}"],
            "APPROVE event from a state never held": [
                f"INSERT INTO memory_events SELECT max(event_id) + 1, {flagged}, 'APPROVE', 'human:eve', NULL, "
                "json_object('status', 'rejected'), json_object('status', 'approved'), '{}', NULL, now() "
                "FROM memory_events"],
            "ADD event dropped": [
                f"DELETE FROM memory_events WHERE event_id = (SELECT min(event_id) FROM memory_events "
                f"WHERE item_id = {flagged})"],
            "item row duplicated": ["INSERT INTO memory_items SELECT * FROM memory_items WHERE item_id = 1"],
            "event duplicated": ["INSERT INTO memory_events SELECT * FROM memory_events WHERE event_id = 1"],
            "item deleted, history left": [f"DELETE FROM memory_items WHERE item_id = {flagged}"],
        }
        caught = 0
        print(f"\n{'bank edited behind its back':44} check")
        for name, statements in sql.items():
            copy = tmp / "copy.duckdb"
            shutil.copy(tmp / "source.duckdb", copy)
            with duckdb.connect(str(copy)) as con:
                for statement in statements:
                    con.execute(statement)
            findings = [f.check for f in Bank(copy).check().findings]
            caught += bool(findings)
            print(f"{name:44} {', '.join(findings) or 'NOT CAUGHT'}")
        print(f"{'caught':44} {caught}/{len(sql)}")
        if key is not None:
            signing_cost(tmp, options.data or DEFAULT_DATA, key, options.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
