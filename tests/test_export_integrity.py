"""Exports verified: `bankcore export` chains every line and seals the file; `import-bank` refuses a tampered file
with one located error and leaves the bank empty; `bankcore check` names forged, dropped and duplicated history in a
bank edited behind its back. Real DuckDB banks and real export files; no embedding model is needed (items are
stored without vectors)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from bankcore import Bank
from bankcore.curate import lifecycle, exchange
from bankcore.demo import SteppingClock
from curation_helpers import LESSONS, add_unembedded_lessons, tampered


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A small bank's whole life: lessons added, two approved, one flagged and held pending, one edited."""
    db = tmp_path_factory.mktemp("integrity") / "source.duckdb"
    bank = Bank(db, clock=SteppingClock())
    ids = add_unembedded_lessons(bank, db.parent)
    bank.approve(ids[0], actor="human:ana", reason="checked")
    bank.approve(ids[1], actor="human:ana", reason="checked")
    item = bank.item(ids[2])
    lifecycle.change_item(bank.store, ids[2], kind="FLAG", actor="human:bo", flags=["suspicious"],
                         expected_event_id=item.last_event_id, reason="looks odd")
    bank.edit(ids[1], actor="human:ana", content=bank.item(ids[1]).content + " Say which rule applies.")
    return db


@pytest.fixture(scope="module")
def export(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "bank.jsonl"
    Bank(source).export(out)
    return out


def flagged_id(source: Path) -> int:
    return next(i.item_id for i in Bank(source).store.query_items() if i.flags)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def unchained(line: bytes) -> dict:
    record = json.loads(line)
    record.pop("chain", None)
    return record


def plain(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def reseal(records: list[dict]) -> bytes:
    """What a forger who knows the format writes: the records chained again from scratch (the chain has no key)."""
    head, counts, out = b"", {}, []
    for record in records:
        line = plain(record)
        head = hashlib.sha256(head + line.encode()).digest()
        counts[record["type"]] = counts.get(record["type"], 0) + 1
        out.append('{"chain": "' + head.hex() + '", ' + line[1:])
    out.append(json.dumps({"type": "integrity", "algorithm": "sha256-chain", "head": head.hex(),
                           "lines": len(records), "counts": counts}, sort_keys=True) + "\n")
    return "".join(out).encode()


def records_of(path: Path) -> list[dict]:
    return [unchained(line) for line in lines(path) if json.loads(line)["type"] != "integrity"]


def refused(tmp_path: Path, cli, data: bytes, *extra: str) -> str:
    """Import `data` into a new bank through the CLI: it must fail with one located line and store nothing."""
    bad = tmp_path / "tampered.jsonl"
    bad.write_bytes(data)
    db = tmp_path / "target.duckdb"
    result = cli("import-bank", bad, "--db", db, *extra)
    assert result.code != 0 and "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert str(bad) in result.err
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            for table in ("runs", "trajectories", "memory_items", "memory_events", "verdicts", "item_sources"):
                assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    return result.err


def line_of(path: Path, predicate) -> int:
    return next(n for n, line in enumerate(lines(path), 1) if predicate(unchained(line)))


def test_export_is_chained_sealed_and_round_trips_byte_for_byte(source, export, tmp_path, cli):
    raw = lines(export)
    assert all(line.startswith(b'{"chain": "') for line in raw[:-1])
    trailer = json.loads(raw[-1])
    assert trailer["type"] == "integrity" and trailer["lines"] == len(raw) - 1
    assert trailer["counts"]["item"] == len(LESSONS) and trailer["counts"]["header"] == 1
    # the format is what the docstring says: chaining the plain records again gives the same bytes
    assert reseal(records_of(export)) == export.read_bytes()
    assert "".join(exchange.seal(json.loads(line) for line in raw)).encode() == export.read_bytes()
    restored = Bank(tmp_path / "restored.duckdb")
    counts = restored.import_bank(export)
    assert counts["item"] == len(LESSONS) and "no_integrity_record" not in counts
    again = tmp_path / "again.jsonl"
    restored.export(again)
    assert again.read_bytes() == export.read_bytes()
    gz_one, gz_two = tmp_path / "one.jsonl.gz", tmp_path / "two.jsonl.gz"
    Bank(source).export(gz_one)
    Bank(tmp_path / "restored-gz.duckdb").import_bank(gz_one)
    Bank(tmp_path / "restored-gz.duckdb").export(gz_two)
    assert gz_one.read_bytes() == gz_two.read_bytes()
    assert restored.check().ok


def test_a_flagged_item_whose_row_was_set_to_approved_is_refused(source, export, tmp_path, cli):
    target = flagged_id(source)
    records = records_of(export)
    for record in records:
        if record["type"] == "item" and record["item_id"] == target:
            record.update(status="approved", flags=[])
    at = line_of(export, lambda r: r["type"] == "item" and r["item_id"] == target)
    # edited in place, chain left as it was: the chain names the line
    edited = lines(export)
    edited[at - 1] = edited[at - 1].replace(b'"status": "pending"', b'"status": "approved"')
    err = refused(tmp_path, cli, b"".join(edited))
    assert f"tampered.jsonl:{at}: line {at} breaks the export's hash chain" in err
    # chain recomputed by the forger: the history check names the row
    err = refused(tmp_path, cli, reseal(records))
    assert f":{at}" in err and f"item {target} is not the last state of its history" in err
    assert "status" in err


def test_a_forged_approve_appended_is_caught_by_the_chain_but_not_once_resealed(source, export, tmp_path, cli):
    """The honest limit: a forged APPROVE that agrees with the rest of the history, with the chain recomputed,
    cannot be told from a real one without a key. The chain catches it when the forger does not recompute it."""
    target = flagged_id(source)
    records = records_of(export)
    events = [r for r in records if r["type"] == "event"]
    last = [e for e in events if e["item_id"] == target][-1]
    forged = dict(last, event_id=events[-1]["event_id"] + 1, kind="APPROVE", actor="human:ana",
                  reason="forged", before=last["after"], after=dict(last["after"], status="approved"))
    position = records.index(events[-1]) + 1
    item = next(r for r in records if r["type"] == "item" and r["item_id"] == target)
    item.update(status="approved", last_event_id=forged["event_id"])
    records.insert(position, forged)
    # inserted without chaining: the inserted line is named
    raw = lines(export)
    raw.insert(position, plain(forged).encode())
    err = refused(tmp_path, cli, b"".join(raw))
    assert f":{position + 1}" in err and "carries no chain digest" in err
    # resealed: accepted (the limit the README states), and the gate still sees the text again
    ok = tmp_path / "resealed.jsonl"
    ok.write_bytes(reseal(records))
    counts = Bank(tmp_path / "forged.duckdb").import_bank(ok)
    assert counts["event"] == len(events) + 1


def test_a_dropped_add_event_is_refused(source, export, tmp_path, cli):
    records = records_of(export)
    target = next(r for r in records if r["type"] == "event" and r["kind"] == "ADD"
                  and any(e["type"] == "event" and e["item_id"] == r["item_id"] and e["kind"] != "ADD"
                          for e in records))
    at = line_of(export, lambda r: r == target)
    raw = lines(export)
    del raw[at - 1]
    err = refused(tmp_path, cli, b"".join(raw))
    assert f":{at}" in err and "hash chain" in err  # the line after the gap is named
    records.remove(target)
    err = refused(tmp_path, cli, reseal(records))
    assert f"item {target['item_id']}'s history starts at event" in err and "created the item is missing" in err


def test_a_duplicated_item_id_is_refused(export, tmp_path, cli):
    records = records_of(export)
    items = [r for r in records if r["type"] == "item"]
    duplicate = dict(items[1], item_id=items[0]["item_id"])
    records[records.index(items[1])] = duplicate
    err = refused(tmp_path, cli, reseal(records))
    first = line_of(export, lambda r: r["type"] == "item" and r["item_id"] == items[0]["item_id"])
    assert f"item {items[0]['item_id']} appears twice (first on line {first})" in err


def test_a_reordered_line_is_refused(export, tmp_path, cli):
    raw = lines(export)
    at = line_of(export, lambda r: r["type"] == "event")
    raw[at - 1], raw[at] = raw[at], raw[at - 1]
    err = refused(tmp_path, cli, b"".join(raw))
    assert f":{at}" in err and "hash chain" in err
    # resealed in the new order: event ids no longer increase
    records = records_of(export)
    records[at - 1], records[at] = records[at], records[at - 1]
    err = refused(tmp_path, cli, reseal(records))
    assert "event ids are unique and increase" in err


@pytest.mark.parametrize("cut", ["trailer", "mid-line", "gzip"])
def test_a_truncated_file_is_refused(source, export, tmp_path, cli, cut):
    raw = lines(export)
    if cut == "trailer":
        data = b"".join(raw[:-3])
    elif cut == "mid-line":
        data = b"".join(raw[:-2]) + raw[-2][: len(raw[-2]) // 2]
    else:
        full = tmp_path / "full.jsonl.gz"
        Bank(source).export(full)
        data = full.read_bytes()[:-40]
    err = refused(tmp_path, cli, data)
    if cut == "trailer":
        assert f"ends after line {len(raw) - 3} without its integrity trailer" in err
    elif cut == "mid-line":
        assert f":{len(raw) - 1}" in err
    else:
        assert "truncated" in err


def test_lines_appended_after_the_trailer_are_refused(export, tmp_path, cli):
    raw = lines(export)
    err = refused(tmp_path, cli, b"".join(raw) + raw[-2])
    assert f":{len(raw) + 1}" in err and "after the integrity trailer" in err


def test_an_old_export_without_integrity_record_is_accepted_with_a_warning_and_refused_when_strict(
        export, tmp_path, cli):
    records = records_of(export)
    records[0]["version"] = 1
    old = tmp_path / "old.jsonl"
    old.write_text("".join(plain(r) for r in records))
    result = cli("import-bank", old, "--db", tmp_path / "old.duckdb")
    assert result.code == 0 and "carries no integrity record" in result.err
    err = refused(tmp_path, cli, old.read_bytes(), "--strict")
    assert ":1" in err and "--strict" in err
    # an old file still gets the history checks
    for record in records:
        if record["type"] == "item":
            record["status"] = "approved" if record["status"] != "approved" else "rejected"
            break
    err = refused(tmp_path, cli, "".join(plain(r) for r in records).encode())
    assert "is not the last state of its history" in err


def test_check_names_an_item_approved_with_no_approve_event(source, tmp_path, cli):
    target = flagged_id(source)
    bank = tampered(tmp_path, source, f"UPDATE memory_items SET status = 'approved' WHERE item_id = {target}")
    found = {f.check: f for f in bank.check().findings}
    assert set(found) == {"item_differs_from_its_history"}
    assert found["item_differs_from_its_history"].examples[0]["detail"].endswith("in status")
    assert cli("check", "--db", bank.path).code == 1


def test_check_names_a_forged_approve_that_skips_a_state(source, tmp_path):
    target = flagged_id(source)
    bank = tampered(tmp_path, source, f"""
        INSERT INTO memory_events
        SELECT max(event_id) + 1, {target}, 'APPROVE', 'human:eve', 'forged',
               json_object('status', 'rejected'), json_object('status', 'approved'), '{{}}', NULL, now()
        FROM memory_events""")
    found = {f.check: f for f in bank.check().findings}
    assert "history_gap" in found and "APPROVE starts from a state" in found["history_gap"].examples[0]["detail"]


def test_check_names_a_dropped_add_event(source, tmp_path):
    with duckdb.connect(str(source), read_only=True) as con:
        item_id, event_id = con.execute("""SELECT item_id, min(event_id) FROM memory_events GROUP BY item_id
                                           HAVING count(*) > 1 ORDER BY item_id LIMIT 1""").fetchone()
    bank = tampered(tmp_path, source, f"DELETE FROM memory_events WHERE event_id = {event_id}")
    found = {f.check: f for f in bank.check().findings}
    assert set(found) == {"history_without_creation"}
    assert found["history_without_creation"].examples[0]["where"] == f"item {item_id}"


def test_check_names_duplicated_item_and_event_ids(source, tmp_path, cli):
    bank = tampered(tmp_path, source,
                    "INSERT INTO memory_items SELECT * FROM memory_items WHERE item_id = 1",
                    "INSERT INTO memory_events SELECT * FROM memory_events WHERE event_id = 2")
    found = {f.check: f for f in bank.check().findings}
    assert found["item_ids_not_unique"].examples == [{"where": "item 1", "detail": "2 rows share this id"}]
    assert found["event_ids_not_unique"].count == 1
    result = cli("check", "--db", bank.path)
    assert result.code == 1 and "item_ids_not_unique" in result.out


def test_check_names_history_of_an_item_that_is_gone(source, tmp_path):
    bank = tampered(tmp_path, source, "DELETE FROM memory_items WHERE item_id = 1")
    found = {f.check for f in bank.check().findings}
    assert "history_points_nowhere" in found
