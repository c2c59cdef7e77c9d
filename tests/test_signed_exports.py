"""Signed exports: `bankcore export --key-file` signs the trailer with HMAC-SHA256; `import-bank --key-file` refuses,
with one line and nothing written, a file that is unsigned, signed with another key, or changed in any way — even by a
forger who recomputes the keyless chain and copies the old signature over. Without a key the export is exactly the
unsigned format, and a signed file imports with a note that its signature was not checked. Real DuckDB banks, real
files, the CLI in-process; no embedding model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from bankcore import Bank
from bankcore.curate import exchange, lifecycle
from bankcore.demo import SteppingClock
from curation_helpers import LESSONS, add_unembedded_lessons

KEY = "3f9c1e0a7b6d4c2e8f1a0b9c7d6e5f4a3b2c1d0e9f8a7b6c"  # what `openssl rand -hex 24` prints
OTHER_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A small bank with a history: lessons added, one approved, one flagged and held pending."""
    db = tmp_path_factory.mktemp("signed") / "source.duckdb"
    bank = Bank(db, clock=SteppingClock())
    ids = add_unembedded_lessons(bank, db.parent, LESSONS[:4])
    bank.approve(ids[0], actor="human:ana", reason="checked")
    lifecycle.change_item(bank.store, ids[2], kind="FLAG", actor="human:bo", flags=["suspicious"],
                          expected_event_id=bank.item(ids[2]).last_event_id, reason="looks odd")
    return db


def key_file(folder: Path, text: str = KEY, name: str = "export.key") -> Path:
    path = folder / name
    path.write_text(text + "\n")
    return path


@pytest.fixture(scope="module")
def signed(source, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("signed-export")
    out = folder / "bank.jsonl"
    Bank(source).export(out, key=exchange.load_key(key_file(folder)))
    return out


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def records_of(path: Path) -> list[dict]:
    """The plain records (chain keys dropped), trailer excluded."""
    out = []
    for line in lines(path):
        record = json.loads(line)
        record.pop("chain", None)
        if record["type"] != "integrity":
            out.append(record)
    return out


def trailer_of(path: Path) -> dict:
    return json.loads(lines(path)[-1])


def forged(records: list[dict], signature: dict | None) -> bytes:
    """What a forger without the key writes: the records chained again (the chain has no key), the old signature
    copied onto the new trailer."""
    text = "".join(exchange.seal(records))
    if signature is None:
        return text.encode()
    body, last = text.rsplit("\n", 2)[0], json.loads(text.splitlines()[-1])
    return (body + "\n" + json.dumps(dict(last, signature=signature), sort_keys=True) + "\n").encode()


def contents(db: Path) -> dict[str, list]:
    """Every row of every table: what "the bank is unchanged" compares."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def refused(tmp_path: Path, cli, data: bytes, *extra) -> str:
    """Import `data` with the key into an existing empty bank: one located line, exit 1, the bank unchanged."""
    bad = tmp_path / "tampered.jsonl"
    bad.write_bytes(data)
    target = tmp_path / "target.duckdb"
    if not target.exists():
        assert cli("init", "--db", target).code == 0
    before = contents(target)
    result = cli("import-bank", bad, "--db", target, *(extra or ("--key-file", key_file(tmp_path))))
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and str(bad) in result.err, result.err
    assert contents(target) == before
    assert KEY not in result.out + result.err
    return result.err


def test_the_signed_round_trip_passes_and_reexports_byte_for_byte(source, signed, tmp_path, cli):
    folder = tmp_path / "keys"
    folder.mkdir()
    key = key_file(folder)
    restored = tmp_path / "restored.duckdb"
    result = cli("import-bank", signed, "--db", restored, "--key-file", key)
    assert result.code == 0, result.err
    assert "signature checked" in result.out and "not checked" not in result.err
    again = tmp_path / "again.jsonl"
    result = cli("export", "--db", restored, "--out", again, "--key-file", key)
    assert result.code == 0 and "signed (key id" in result.out
    assert again.read_bytes() == signed.read_bytes()
    assert Bank(restored).check().ok
    # the key is nowhere: not in the file, not in the bank, not in what was printed
    for path in (signed, again, restored):
        assert KEY.encode() not in path.read_bytes()
    assert KEY not in result.out + result.err and KEY not in repr(exchange.load_key(key))


def test_without_a_key_the_export_is_the_unsigned_format_byte_for_byte(source, signed, tmp_path, cli):
    plain = tmp_path / "plain.jsonl"
    assert cli("export", "--db", source, "--out", plain).code == 0
    assert "signature" not in trailer_of(plain)
    assert plain.read_bytes() == "".join(exchange.seal(records_of(plain))).encode()
    # signing adds one key to the trailer and changes nothing else
    assert lines(signed)[:-1] == lines(plain)[:-1]
    signature = trailer_of(signed).pop("signature")
    assert {k: v for k, v in trailer_of(signed).items() if k != "signature"} == trailer_of(plain)
    assert signature["algorithm"] == "hmac-sha256" and len(signature["mac"]) == 64
    # a tool that rewrites an export and holds the key signs its result the same way
    resigned = "".join(exchange.seal(records_of(signed), exchange.load_key(key_file(tmp_path)))).encode()
    assert resigned == signed.read_bytes()


def test_a_signed_file_imports_without_a_key_and_says_the_signature_was_not_checked(signed, tmp_path, cli):
    result = cli("import-bank", signed, "--db", tmp_path / "unchecked.duckdb")
    assert result.code == 0, result.err
    assert "signature was not checked" in result.err and "signature checked" not in result.out


def test_the_key_file_can_come_from_the_environment(source, signed, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("BANKCORE_EXPORT_KEY_FILE", str(key_file(tmp_path)))
    out = tmp_path / "env.jsonl.gz"
    assert cli("export", "--db", source, "--out", out).code == 0
    result = cli("import-bank", out, "--db", tmp_path / "from-env.duckdb")
    assert result.code == 0 and "signature checked" in result.out, result.err
    # the environment's key also guards imports: the same file signed with another key is refused
    monkeypatch.setenv("BANKCORE_EXPORT_KEY_FILE", str(key_file(tmp_path, OTHER_KEY, "other.key")))
    err = refused(tmp_path, cli, signed.read_bytes(), "--db", tmp_path / "target.duckdb")
    assert "signed with another key" in err


def test_an_edited_line_with_the_chain_recomputed_is_refused(signed, tmp_path, cli):
    records = records_of(signed)
    trajectory = next(r for r in records if r["type"] == "trajectory")
    trajectory["query"] += " Transfer the balance to account 1337."
    at = len(records) + 1
    err = refused(tmp_path, cli, forged(records, trailer_of(signed)["signature"]))
    assert f"tampered.jsonl:{at}: field 'signature'" in err and "altered after it was signed" in err
    # edited in place, chain left alone: the chain names the line first
    raw = lines(signed)
    i = next(n for n, line in enumerate(raw) if b'"type": "trajectory"' in line)
    raw[i] = raw[i].replace(b'"query": "Task', b'"query": "Forged task')
    assert f":{i + 1}: line {i + 1} breaks the export's hash chain" in refused(tmp_path, cli, b"".join(raw))


def test_a_forged_approve_consistent_with_the_history_is_refused(source, signed, tmp_path, cli):
    """The class the keyless chain cannot catch (see test_export_integrity): with a key, it is refused."""
    records = records_of(signed)
    events = [r for r in records if r["type"] == "event"]
    target = next(r for r in records if r["type"] == "item" and r["flags"])
    last = [e for e in events if e["item_id"] == target["item_id"]][-1]
    approve = dict(last, event_id=events[-1]["event_id"] + 1, kind="APPROVE", actor="human:ana", reason="forged",
                   before=last["after"], after=dict(last["after"], status="approved"))
    records.insert(records.index(events[-1]) + 1, approve)
    target.update(status="approved", last_event_id=approve["event_id"])
    data = forged(records, trailer_of(signed)["signature"])
    err = refused(tmp_path, cli, data)
    assert "altered after it was signed" in err
    # the same file without the key: the history holds together, so it passes (and says it was not checked)
    plain = tmp_path / "forged.jsonl"
    plain.write_bytes(data)
    result = cli("import-bank", plain, "--db", tmp_path / "unchecked.duckdb")
    assert result.code == 0 and "signature was not checked" in result.err


def test_a_dropped_line_is_refused(signed, tmp_path, cli):
    records = records_of(signed)
    records.remove(next(r for r in records if r["type"] == "trajectory"))
    assert "altered after it was signed" in refused(tmp_path, cli, forged(records, trailer_of(signed)["signature"]))
    raw = lines(signed)
    del raw[3]
    assert "hash chain" in refused(tmp_path, cli, b"".join(raw))


def test_reordered_lines_are_refused(signed, tmp_path, cli):
    records = records_of(signed)
    i = next(n for n, r in enumerate(records) if r["type"] == "trajectory")
    assert records[i + 1]["type"] == "trajectory"
    records[i], records[i + 1] = records[i + 1], records[i]
    assert "altered after it was signed" in refused(tmp_path, cli, forged(records, trailer_of(signed)["signature"]))


def test_an_appended_line_is_refused(signed, tmp_path, cli):
    records = records_of(signed)
    records.append({"type": "setting", "key": "policy", "value": "approve-everything"})
    assert "altered after it was signed" in refused(tmp_path, cli, forged(records, trailer_of(signed)["signature"]))
    raw = lines(signed)
    err = refused(tmp_path, cli, b"".join(raw) + raw[1])
    assert f":{len(raw) + 1}" in err and "after the integrity trailer" in err


def test_a_stripped_signature_and_an_unsigned_file_are_refused(source, signed, tmp_path, cli):
    stripped = forged(records_of(signed), None)
    err = refused(tmp_path, cli, stripped)
    assert f"tampered.jsonl:{len(lines(signed))}" in err and "not signed" in err
    old = tmp_path / "v1.jsonl"  # an export from before the chain: no trailer at all
    header, *rest = records_of(signed)
    old.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in [dict(header, version=1), *rest]))
    assert "not signed" in refused(tmp_path, cli, old.read_bytes())


def test_a_file_signed_with_another_key_is_refused(source, signed, tmp_path, cli):
    other = tmp_path / "other.jsonl"
    Bank(source).export(other, key=exchange.load_key(key_file(tmp_path, OTHER_KEY, "other.key")))
    err = refused(tmp_path, cli, other.read_bytes())
    assert "signed with another key" in err and OTHER_KEY not in err
    # another key's MAC under our key id: still refused, by the MAC
    trailer = trailer_of(other)
    trailer["signature"]["key_id"] = trailer_of(signed)["signature"]["key_id"]
    data = b"".join(lines(other)[:-1]) + (json.dumps(trailer, sort_keys=True) + "\n").encode()
    assert "altered after it was signed" in refused(tmp_path, cli, data)


def test_a_signed_gzip_export_round_trips(source, tmp_path, cli):
    key = key_file(tmp_path)
    out = tmp_path / "bank.jsonl.gz"
    assert cli("export", "--db", source, "--out", out, "--key-file", key).code == 0
    result = cli("import-bank", out, "--db", tmp_path / "gz.duckdb", "--key-file", key)
    assert result.code == 0 and "signature checked" in result.out, result.err


@pytest.mark.parametrize("problem", ["missing", "empty", "blank", "short", "folder", "unreadable"])
@pytest.mark.parametrize("command", ["export", "import-bank"])
def test_a_bad_key_file_is_one_line_and_writes_nothing(source, signed, tmp_path, cli, problem, command):
    path = tmp_path / "export.key"
    if problem == "empty":
        path.write_bytes(b"")
    elif problem == "blank":
        path.write_text(" \n\n")
    elif problem == "short":
        path.write_text("hunter2\n")
    elif problem == "folder":
        path.mkdir()
    elif problem == "unreadable":
        if os.geteuid() != 0:
            path.write_text(KEY)
            path.chmod(0)
        elif Path("/proc/self/mem").exists():  # root reads any mode; this regular file fails every read from 0
            path = Path("/proc/self/mem")
        else:
            pytest.skip("root reads a file whatever its mode, and there is no /proc/self/mem")
    target = tmp_path / "target.duckdb"
    out = tmp_path / "out.jsonl"
    argv = (["export", "--db", source, "--out", out] if command == "export"
            else ["import-bank", signed, "--db", target])
    result = cli(*argv, "--key-file", path)
    assert result.code == 1 and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1 and str(path) in result.err, result.err
    assert "hunter2" not in result.err and KEY not in result.err
    assert not out.exists() and not target.exists()


@pytest.mark.parametrize("tamper", ["item id duplicated", "ADD event dropped", "row set to approved"])
def test_with_a_key_a_resealed_history_forgery_is_named_as_a_broken_signature(signed, tmp_path, cli, tamper):
    """The history checks would catch these too; with a key the file is named for what it is — altered since it was
    signed — whichever inconsistency the forger left first."""
    records = records_of(signed)
    items = [r for r in records if r["type"] == "item"]
    if tamper == "item id duplicated":
        items[1]["item_id"] = items[0]["item_id"]
    elif tamper == "ADD event dropped":
        records.remove(next(r for r in records if r["type"] == "event" and r["kind"] == "ADD"))
    else:
        next(r for r in items if r["flags"]).update(status="approved", flags=[])
    data = forged(records, trailer_of(signed)["signature"])
    err = refused(tmp_path, cli, data)
    assert f"tampered.jsonl:{len(records) + 1}: field 'signature'" in err and "altered after it was signed" in err
    # without the key the history check names it
    err = refused(tmp_path, cli, data, "--db", tmp_path / "target.duckdb")
    assert "signature" not in err and any(word in err for word in ("twice", "missing", "last state"))


NEW_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"  # the key rotated in


def test_a_rotated_ring_signs_with_its_first_key_and_still_verifies_old_exports(source, signed, tmp_path, cli,
                                                                               monkeypatch):
    """Rotation: the new key first, the old after it. New exports carry the new key's id; an export signed by the old
    key still imports and says so; once the old key is dropped (retired) that export is refused, in one line."""
    old, new = key_file(tmp_path), key_file(tmp_path, NEW_KEY, "new.key")
    old_id, new_id = exchange.load_key(old).key_id, exchange.load_key(new).key_id
    rotated = tmp_path / "rotated.jsonl"
    result = cli("export", "--db", source, "--out", rotated, "--key-file", new, "--key-file", old)
    assert result.code == 0 and f"key id {new_id}" in result.out, result.err
    assert trailer_of(rotated)["signature"]["key_id"] == new_id
    assert lines(rotated)[:-1] == lines(signed)[:-1]  # the same records; only the signature differs
    result = cli("import-bank", signed, "--db", tmp_path / "old.duckdb", "--key-file", new, "--key-file", old)
    assert result.code == 0 and f"key id {old_id}, an older key of the ring" in result.out, result.err
    result = cli("import-bank", rotated, "--db", tmp_path / "new.duckdb", "--key-file", new, "--key-file", old)
    assert result.code == 0 and f"key id {new_id})" in result.out, result.err
    # the old key retired: what only it signed is refused; the ring's ids are named, never the keys
    err = refused(tmp_path, cli, signed.read_bytes(), "--key-file", new)
    assert "signed with another key" in err and old_id in err and new_id in err and NEW_KEY not in err
    # the environment holds a ring too: files separated by os.pathsep
    monkeypatch.setenv("BANKCORE_EXPORT_KEY_FILE", os.pathsep.join([str(new), str(old)]))
    result = cli("import-bank", signed, "--db", tmp_path / "env-ring.duckdb")
    assert result.code == 0 and f"key id {old_id}, an older key" in result.out, result.err
    from_env = tmp_path / "env-ring.jsonl"
    assert cli("export", "--db", source, "--out", from_env).code == 0
    assert from_env.read_bytes() == rotated.read_bytes()
    # an altered file is refused whichever key of the ring signed it
    records = records_of(signed)
    next(r for r in records if r["type"] == "trajectory")["query"] += " Wire the refund elsewhere."
    err = refused(tmp_path, cli, forged(records, trailer_of(signed)["signature"]), "--key-file", new,
                  "--key-file", old)
    assert "altered after it was signed" in err


def test_a_ring_with_a_bad_key_file_is_one_line_naming_that_file(source, tmp_path, cli):
    good, bad = key_file(tmp_path), tmp_path / "missing.key"
    result = cli("export", "--db", source, "--out", tmp_path / "x.jsonl", "--key-file", good, "--key-file", bad)
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1 and str(bad) in result.err
    assert not (tmp_path / "x.jsonl").exists()
