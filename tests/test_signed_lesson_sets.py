"""Signed lesson sets and datasets: `export-lessons --key-file` and `export-dataset --key-file` write FILE.sig beside
the file (which stays byte for byte the unsigned output); `import-lessons --key-file` refuses, with one line and
nothing written, a set that is unsigned, signed with a key not in the ring, altered, cut short, added to, or paired
with another file's or an edited signature. Key rings: the first key signs, any verifies, a retired key's sets are
refused. Real DuckDB banks and files, the CLI in-process."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from bankcore import Bank
from bankcore.curate import lifecycle, signing
from bankcore.errors import InputError
from bankcore.models import MemoryItem

KEY = "5e0c4a9b1d7f3e2a6c8b0d4f1e3a5c7b9d2f4e6a8c0b1d3f"  # what `openssl rand -hex 24` prints
OTHER_KEY = "fedcba9876543210fedcba9876543210"
NEW_KEY = "00112233445566778899aabbccddeeff0011223344556677"
LESSONS = [("Verify the reservation before cancelling", "Call get_reservation_details with the id first.", "airline"),
           ("Sort before choosing", "Sort by price, then pick the first.", "shopping"),
           ("Check pagination", "Look for Next Page before counting.", None)]


def key_file(folder: Path, text: str = KEY, name: str = "lessons.key") -> Path:
    path = folder / name
    path.write_text(text + "\n")
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A bank with three approved lessons and a run of one trajectory (for the dataset)."""
    folder = tmp_path_factory.mktemp("signed-lessons")
    bank = Bank(folder / "source.duckdb")
    for title, content, domain in LESSONS:
        item = MemoryItem(title, title + ".", content, source="success", domain=domain, status="approved",
                          extractor_id="heuristic:1", confidence=0.5)
        lifecycle.add_item(bank.store, item, [], actor="heuristic:1")
    trajectories = folder / "runs.jsonl"
    trajectories.write_text(json.dumps({"task_id": "t1", "query": "Cancel booking ABC", "success": True,
                                        "steps": [{"action": "cancel", "observation": "done"}]}) + "\n")
    bank.import_path(trajectories, run_name="r1")
    return bank.path


@pytest.fixture(scope="module")
def signed(source, tmp_path_factory) -> Path:
    """The JSON lesson set, signed with KEY (the CLI, as a user runs it)."""
    from bankcore.cli import main
    folder = tmp_path_factory.mktemp("signed-set")
    out = folder / "lessons.json"
    assert main(["export-lessons", "--db", str(source), "--format", "json", "-o", str(out), "-q",
                 "--key-file", str(key_file(folder))]) == 0
    return out


def refused(tmp_path: Path, cli, lesson_set: Path, *keys: Path) -> str:
    """Import with the key ring: exit 1, one line naming the set or its .sig, the bank unchanged, no key shown."""
    target = tmp_path / "target.duckdb"
    if not target.exists():
        assert cli("init", "--db", target).code == 0
    result = cli("import-lessons", lesson_set, "--db", target,
                 *[arg for key in (keys or (key_file(tmp_path),)) for arg in ("--key-file", key)])
    assert result.code == 1 and result.out == "" and "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and str(lesson_set) in result.err, result.err
    bank = Bank(target)
    assert bank.store.count_items() == 0 and bank.store.last_event_id() in (None, 0)
    for secret in (KEY, OTHER_KEY, NEW_KEY):
        assert secret not in result.err
    return result.err


def copy_signed(signed: Path, folder: Path, name: str = "copy.json", data: bytes | None = None) -> Path:
    """The signed set and its .sig under another folder, the set's bytes replaced by `data` if given."""
    path = folder / name
    path.write_bytes(signed.read_bytes() if data is None else data)
    signing.signature_path(path).write_bytes(signing.signature_path(signed).read_bytes())
    return path


@pytest.mark.parametrize("fmt", ["md", "json", "playbook", "skill"])
def test_a_signed_set_is_the_unsigned_bytes_plus_a_sig_and_imports_with_the_key(source, tmp_path, cli, fmt):
    key = key_file(tmp_path)
    plain, signed_set = tmp_path / f"plain.{fmt}", tmp_path / f"signed.{fmt}"
    assert cli("export-lessons", "--db", source, "--format", fmt, "-o", plain).code == 0
    result = cli("export-lessons", "--db", source, "--format", fmt, "-o", signed_set, "--key-file", key)
    key_id = signing.load_key(key).key_id
    assert result.code == 0 and f"signed in {signed_set}.sig (key id {key_id})" in result.out, result.err
    assert signed_set.read_bytes() == plain.read_bytes() and not signing.has_signature(plain)
    sig = json.loads(signing.signature_path(signed_set).read_text())
    assert (sig["format"], sig["kind"], sig["name"], sig["key_id"], sig["bytes"], sig["sha256"]) == \
        ("bankcore-signature", "lesson-set", signed_set.name, key_id, len(plain.read_bytes()),
         hashlib.sha256(plain.read_bytes()).hexdigest())
    result = cli("import-lessons", signed_set, "--db", tmp_path / "fresh.duckdb", "--key-file", key, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert (report["added"], report["signature"], report["signed_by"]) == (len(LESSONS), "verified", key_id)
    bank = Bank(tmp_path / "fresh.duckdb")
    assert {bank.history(i)[0].related["imported"]["signed_by"] for i in report["added_ids"]} == {key_id}
    for path in (signed_set, signing.signature_path(signed_set), tmp_path / "fresh.duckdb"):
        assert KEY.encode() not in path.read_bytes()
    assert KEY not in result.out + result.err


def test_without_a_key_a_signed_set_imports_and_says_its_signature_was_not_checked(signed, tmp_path, cli):
    result = cli("import-lessons", signed, "--db", tmp_path / "unchecked.duckdb")
    assert result.code == 0 and "signature was not checked" in result.err
    assert f"added {len(LESSONS)} as pending" in result.out
    plain = tmp_path / "plain.json"
    plain.write_bytes(signed.read_bytes())
    result = cli("import-lessons", plain, "--db", tmp_path / "plain.duckdb", "--json")
    assert result.code == 0 and result.err == "" and result.json()["signature"] is None


def altered(data: bytes) -> bytes:
    """One byte changed inside a lesson's text: still valid JSON, a lesson that reads differently."""
    at = data.index(b"Sort by price")
    return data[:at] + b"P" + data[at + 1:]


# (name, how the set under test is made from the signed one, what the one error line says)
TAMPER = {
    "unsigned": lambda signed, d: _without_sig(copy_signed(signed, d)),
    "other key": lambda signed, d: _signed_with(signed, d, OTHER_KEY),
    "altered byte": lambda signed, d: copy_signed(signed, d, data=altered(signed.read_bytes())),
    "truncated": lambda signed, d: copy_signed(signed, d, data=signed.read_bytes()[:-40]),
    "appended": lambda signed, d: copy_signed(signed, d, data=signed.read_bytes() + b"\n"),
    "signature of another file": lambda signed, d: _sig_of_another(signed, d),
    "edited signature": lambda signed, d: _edited_sig(signed, d),
    "signature not ours": lambda signed, d: _garbage_sig(signed, d),
    "signed as a dataset": lambda signed, d: _signed_as_dataset(signed, d),
}
MESSAGES = {
    "unsigned": "copy.json: not signed (no copy.json.sig beside it)",
    "other key": "copy.json.sig: field 'key_id': signed with another key",
    "altered byte": "copy.json: not the file that was signed",
    "truncated": "cut short",
    "appended": "added to",
    "signature of another file": "or copy.json.sig is the signature of another file ('other.json')",
    "edited signature": "copy.json.sig: field 'mac': the signature does not match its own fields",
    "signature not ours": "copy.json.sig: not a signature",
    "signed as a dataset": "copy.json.sig: field 'kind': signs a dataset, not a lesson set",
}


def _without_sig(path: Path) -> Path:
    signing.signature_path(path).unlink()
    return path


def _signed_with(signed: Path, folder: Path, secret: str) -> Path:
    path = copy_signed(signed, folder)
    signing.sign_file(path, signing.load_key(key_file(folder, secret, "signer.key")), kind="lesson-set")
    return path


def _sig_of_another(signed: Path, folder: Path) -> Path:
    other = folder / "other.json"
    other.write_text(json.dumps([{"title": "Other", "content": "Another team's lesson."}]))
    signing.sign_file(other, signing.load_key(key_file(folder)), kind="lesson-set")
    path = copy_signed(signed, folder, data=altered(signed.read_bytes()))
    signing.signature_path(path).write_bytes(signing.signature_path(other).read_bytes())
    return path


def _edited_sig(signed: Path, folder: Path) -> Path:
    """A forger without the key alters the set and writes its new length and sha256 into the .sig."""
    data = altered(signed.read_bytes())
    path = copy_signed(signed, folder, data=data)
    sig = signing.signature_path(path)
    body = json.loads(sig.read_text())
    sig.write_text(json.dumps(dict(body, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())))
    return path


def _garbage_sig(signed: Path, folder: Path) -> Path:
    path = copy_signed(signed, folder)
    signing.signature_path(path).write_bytes(b"\xff\xfe not json")
    return path


def _signed_as_dataset(signed: Path, folder: Path) -> Path:
    path = copy_signed(signed, folder)
    signing.sign_file(path, signing.load_key(key_file(folder)), kind="dataset")
    return path


@pytest.mark.parametrize("tamper", TAMPER)
def test_a_tampered_set_is_refused_in_one_line_and_writes_nothing(signed, tmp_path, cli, tamper):
    path = TAMPER[tamper](signed, tmp_path)
    assert MESSAGES[tamper] in refused(tmp_path, cli, path)


def test_a_rotated_ring_verifies_old_sets_and_refuses_a_retired_keys(signed, tmp_path, cli, monkeypatch):
    old, new = key_file(tmp_path), key_file(tmp_path, NEW_KEY, "new.key")
    old_id = signing.load_key(old).key_id
    result = cli("import-lessons", signed, "--db", tmp_path / "ring.duckdb", "--key-file", new, "--key-file", old,
                 "--json")
    assert result.code == 0 and result.json()["signed_by"] == old_id, result.err
    # the old key retired (dropped from the ring): refused, naming the ids, never the keys
    err = refused(tmp_path, cli, signed, new)
    assert "signed with another key" in err and old_id in err
    # the environment holds a ring too: files separated by os.pathsep
    monkeypatch.setenv(signing.KEY_FILE_ENV, os.pathsep.join([str(new), str(old)]))
    result = cli("import-lessons", signed, "--db", tmp_path / "env.duckdb", "--json")
    assert result.code == 0 and result.json()["signed_by"] == old_id


def test_the_first_key_of_the_ring_signs(source, tmp_path, cli):
    old, new = key_file(tmp_path), key_file(tmp_path, NEW_KEY, "new.key")
    out = tmp_path / "rotated.md"
    assert cli("export-lessons", "--db", source, "-o", out, "--key-file", new, "--key-file", old).code == 0
    assert json.loads(signing.signature_path(out).read_text())["key_id"] == signing.load_key(new).key_id
    assert signing.verify_detached(out, out.read_bytes(), signing.load_key_ring([old, new]), kind="lesson-set") \
        == signing.load_key(new).key_id


def test_a_key_for_stdout_is_refused_and_the_environment_key_leaves_stdout_unsigned(source, tmp_path, cli,
                                                                                  monkeypatch):
    result = cli("export-lessons", "--db", source, "--key-file", key_file(tmp_path))
    assert result.code == 1 and result.out == "" and "give -o/--out FILE" in result.err
    assert len(result.err.strip().splitlines()) == 1
    plain = cli("export-lessons", "--db", source).out
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(key_file(tmp_path)))
    result = cli("export-lessons", "--db", source)
    assert result.code == 0 and result.out == plain
    out = tmp_path / "env.md"  # with --out the environment's key signs
    assert cli("export-lessons", "--db", source, "-o", out).code == 0 and signing.has_signature(out)


@pytest.mark.parametrize("fmt", ["langfuse", "phoenix"])
def test_a_signed_dataset_is_the_unsigned_bytes_and_its_sig_verifies(source, tmp_path, cli, fmt):
    key = key_file(tmp_path)
    plain, out = tmp_path / f"plain.{fmt}", tmp_path / f"signed.{fmt}"
    assert cli("export-dataset", "--db", source, "--format", fmt, "-o", plain).code == 0
    result = cli("export-dataset", "--db", source, "--format", fmt, "-o", out, "--key-file", key)
    assert result.code == 0 and "signed in" in result.out, result.err
    assert out.read_bytes() == plain.read_bytes() and b"Cancel booking ABC" in out.read_bytes()
    ring = signing.load_key_ring([key])
    assert signing.verify_detached(out, out.read_bytes(), ring, kind="dataset") == ring.key_id
    with pytest.raises(InputError, match="not the file that was signed"):
        signing.verify_detached(out, out.read_bytes().replace(b"ABC", b"XYZ"), ring, kind="dataset")
    with pytest.raises(InputError, match="signs a dataset, not a lesson set"):
        signing.verify_detached(out, out.read_bytes(), ring, kind="lesson-set")


def test_a_failed_export_leaves_neither_file_nor_signature(tmp_path, cli):
    Bank(tmp_path / "bank.duckdb").init()
    out = tmp_path / "none.jsonl"
    result = cli("export-dataset", "--db", tmp_path / "bank.duckdb", "--run", "nope", "-o", out,
                 "--key-file", key_file(tmp_path))
    assert result.code == 1 and not out.exists() and not signing.has_signature(out)


@pytest.mark.parametrize("command", ["export-lessons", "import-lessons", "export-dataset"])
def test_a_bad_key_file_is_one_line_before_anything_is_written(source, signed, tmp_path, cli, command):
    short = tmp_path / "short.key"
    short.write_text("hunter2\n")
    out, target = tmp_path / "out.md", tmp_path / "target.duckdb"
    argv = ["import-lessons", signed, "--db", target] if command == "import-lessons" else \
        [command, "--db", source, "-o", out]
    result = cli(*argv, "--key-file", key_file(tmp_path), "--key-file", short)
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1 and str(short) in result.err
    assert "hunter2" not in result.err and KEY not in result.err
    assert not out.exists() and not signing.has_signature(out) and not target.exists()


# ---------------------------------------------------------------------- bankcore verify-signature
def verify(cli, path: Path, *keys: Path, extra: tuple[str, ...] = ()):
    return cli("verify-signature", path, *[arg for key in keys for arg in ("--key-file", key)], *extra)


def one_line_refusal(result, names: Path) -> str:
    """Exit 1, nothing on stdout, one line on stderr naming the file (or its .sig), no traceback, no key."""
    assert result.code == 1 and result.out == "" and "Traceback" not in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and str(names) in result.err, result.err
    for secret in (KEY, OTHER_KEY, NEW_KEY):
        assert secret not in result.err
    return result.err


def test_verify_signature_passes_a_signed_set_and_dataset_naming_the_key(source, signed, tmp_path, cli):
    key = key_file(tmp_path)
    key_id = signing.load_key(key).key_id
    result = verify(cli, signed, key)
    assert result.code == 0 and result.err == "", result.err
    assert f"{signed}: signature verified — a lesson set of {signed.stat().st_size} bytes" in result.out
    assert key_id in result.out and KEY not in result.out
    dataset = tmp_path / "set.jsonl"
    assert cli("export-dataset", "--db", source, "-o", dataset, "--key-file", key).code == 0
    result = verify(cli, dataset, key_file(tmp_path, NEW_KEY, "new.key"), key, extra=("--json",))
    assert result.code == 0 and result.json() == {"file": str(dataset), "verified": True, "kind": "dataset",
                                                  "key_id": key_id, "bytes": dataset.stat().st_size,
                                                  "older_key": True}
    err = one_line_refusal(verify(cli, dataset, key, extra=("--kind", "lesson-set")), dataset.name)
    assert "signs a dataset, not a lesson set" in err


@pytest.mark.parametrize("tamper", [t for t in TAMPER if t != "signed as a dataset"])
def test_verify_signature_refuses_each_tampering_in_one_line(signed, tmp_path, cli, tamper):
    path = TAMPER[tamper](signed, tmp_path)
    assert MESSAGES[tamper] in one_line_refusal(verify(cli, path, key_file(tmp_path)), path)


def test_verify_signature_refuses_no_key_and_what_cannot_be_read(signed, tmp_path, cli):
    err = one_line_refusal(verify(cli, signed), signed)
    assert "needs the key that signed" in err and signing.KEY_FILE_ENV in err
    key = key_file(tmp_path)
    assert "not found" in one_line_refusal(verify(cli, tmp_path / "gone.json", key), tmp_path / "gone.json")
    assert "not a regular file" in one_line_refusal(verify(cli, tmp_path, key), tmp_path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # reading it would hang: refused from its stat
    signing.signature_path(fifo).write_bytes(signing.signature_path(signed).read_bytes())
    assert "not a regular file" in one_line_refusal(verify(cli, fifo, key), fifo)
    short = tmp_path / "short.key"
    short.write_text("hunter2\n")
    assert "hunter2" not in one_line_refusal(verify(cli, signed, short), short)


def test_verify_signature_as_a_process_exits_0_or_1_with_one_line(signed, tmp_path):
    """The console command as a pipeline runs it: a fresh process, its exit status and stderr."""
    import subprocess
    import sys
    key = key_file(tmp_path)
    tampered = copy_signed(signed, tmp_path, data=altered(signed.read_bytes()))
    env = {k: v for k, v in os.environ.items() if k not in (signing.KEY_FILE_ENV, "BANKCORE_DEBUG")}

    def run(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bankcore.cli", "verify-signature", str(path), "--key", str(key)],
                              env=env, capture_output=True, text=True, timeout=60)
    good, bad = run(signed), run(tampered)
    assert (good.returncode, good.stderr) == (0, "") and "signature verified" in good.stdout
    assert bad.returncode == 1 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(f"error: {tampered}: not the file that was signed")


# ---------------------------------------------------------------------- a stale .sig beside a re-exported file
@pytest.mark.parametrize("command", ["export-lessons", "export-dataset"])
def test_an_unsigned_export_over_a_signed_file_removes_its_stale_signature(source, tmp_path, cli, command):
    """The old FILE.sig signed the replaced bytes: kept, it would fail verification as 'altered' — or pass, when the
    unsigned export writes the very same bytes (as here: the same bank). It is removed, saying so."""
    out, key = tmp_path / "out.txt", key_file(tmp_path)
    assert cli(command, "--db", source, "-o", out, "--key-file", key).code == 0
    assert verify(cli, out, key).code == 0
    signed_bytes = out.read_bytes()
    result = cli(command, "--db", source, "-o", out)
    assert result.code == 0 and out.read_bytes() == signed_bytes and not signing.has_signature(out)
    assert f"removed {out}.sig: it signed the file this unsigned export replaced" in result.err
    assert "not signed (no out.txt.sig beside it)" in one_line_refusal(verify(cli, out, key), out)
    result = cli(command, "--db", source, "-o", out)  # nothing to remove: nothing said
    assert result.code == 0 and result.err == ""
    # signed again, with another key: the new .sig replaces the old one and verifies with the new key only
    new = key_file(tmp_path, NEW_KEY, "new.key")
    assert cli(command, "--db", source, "-o", out, "--key-file", key).code == 0
    result = cli(command, "--db", source, "-o", out, "--key-file", new)
    assert result.code == 0 and result.err == "" and verify(cli, out, new).code == 0
    assert "signed with another key" in one_line_refusal(verify(cli, out, key), f"{out}.sig")


def test_a_failed_export_over_a_signed_file_keeps_file_and_signature(source, tmp_path, cli):
    out, key = tmp_path / "kept.jsonl", key_file(tmp_path)
    assert cli("export-dataset", "--db", source, "-o", out, "--key-file", key).code == 0
    before = (out.read_bytes(), signing.signature_path(out).read_bytes())
    assert cli("export-dataset", "--db", source, "--run", "nope", "-o", out).code == 1
    assert (out.read_bytes(), signing.signature_path(out).read_bytes()) == before
    assert verify(cli, out, key).code == 0
