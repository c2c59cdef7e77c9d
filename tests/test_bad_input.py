"""Broken inputs: one clear located error, non-zero exit, and the bank exactly as it was."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from bankcore import Bank
from conftest import TAU, need_shared

GOOD = [
    {"query": f"Task number {i}: find the cheapest item", "task_id": f"t{i}", "domain": "shopping",
     "steps": [{"thought": "look", "action": f"search('item {i}')", "observation": "2 results"},
               {"thought": "answer", "action": "send_msg_to_user('A')", "observation": ""}],
     "final_answer": "A", "truth": {"success": i % 2 == 0}}
    for i in range(6)
]


def write_jsonl(path, records):
    path.write_bytes(b"".join(r if isinstance(r, bytes) else (json.dumps(r) + "\n").encode() for r in records))
    return path


def bank_content(bank: Bank, tmp_path) -> bytes:
    out = tmp_path / "snapshot.jsonl.gz"
    bank.export(out)
    return gzip.decompress(out.read_bytes())


@pytest.fixture
def seeded(tmp_path, db):
    """A bank with some content already in it, and its exact export."""
    bank = Bank(db)
    bank.import_path(write_jsonl(tmp_path / "seed.jsonl", [dict(r, task_id="seed" + r["task_id"]) for r in GOOD[:3]]))
    return bank, bank_content(bank, tmp_path)


# Each mutation breaks line 3 of a 6-line file in one way; the expected message names where.
def drop_field(rec):
    del rec["query"]
    return rec, "field 'query': missing required field"


def wrong_type(rec):
    rec["steps"][1]["action"] = 42
    return rec, "field 'steps[1].action': expected string, got integer"


def steps_not_list(rec):
    rec["steps"] = {"thought": "x"}
    return rec, "field 'steps': expected list, got object"


def bad_truth(rec):
    rec["truth"] = {"success": "yes"}
    return rec, "field 'truth.success': expected boolean, got string"


def bad_time(rec):
    rec["started_at"] = "last tuesday"
    return rec, "field 'started_at': not an ISO-8601 time"


MUTATIONS = [drop_field, wrong_type, steps_not_list, bad_truth, bad_time]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_each_bad_field_is_located_and_nothing_lands(cli, tmp_path, db, seeded, mutate):
    bank, before = seeded
    records = [json.loads(json.dumps(r)) for r in GOOD]
    records[2], message = mutate(records[2])
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    result = cli("import", path, "--db", db)
    assert result.code == 1
    assert result.err.strip().splitlines() == [f"error: {path}:3: {message}" + result.err.strip().split(message, 1)[1]]
    assert message in result.err
    assert bank_content(bank, tmp_path) == before


def test_skip_bad_imports_the_good_lines_and_reports_each_bad(cli, tmp_path, db, seeded):
    bank, _ = seeded
    records = [json.loads(json.dumps(r)) for r in GOOD]
    del records[1]["steps"]
    records[4] = b"{not json\n"
    path = write_jsonl(tmp_path / "mixed.jsonl", records)
    result = cli("import", path, "--db", db, "--skip-bad")
    assert result.code == 3
    assert f"{path}:2: field 'steps': missing required field" in result.err
    assert f"{path}:5: not valid JSON" in result.err
    assert "added 4" in result.out and "skipped 2 bad" in result.out
    assert bank.store.count("trajectories") == 3 + 4


def test_truncated_binary_and_oversized_inputs(cli, tmp_path, db, seeded):
    bank, before = seeded
    truncated = tmp_path / "truncated.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in GOOD)
    truncated.write_text(text[: len(text) - 40])
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10)
    huge = tmp_path / "huge.jsonl"
    with huge.open("w") as fh:
        fh.write(json.dumps(GOOD[0]) + "\n")
        fh.write('{"query": "' + "x" * (50 * 1024 * 1024) + '", "steps": []}\n')
    cases = {truncated: f"{truncated}:6: not valid JSON", binary: f"{binary}: not a text file",
             huge: f"{huge}:2: line is 50.0 MB, over the 16 MB limit"}
    for path, message in cases.items():
        result = cli("import", path, "--db", db)
        assert result.code == 1, path
        assert len(result.err.strip().splitlines()) == 1
        assert message in result.err
    assert bank_content(bank, tmp_path) == before


def test_truncated_tau_bench_file(cli, tmp_path, db, seeded):
    need_shared(TAU)
    bank, before = seeded
    data = TAU.read_bytes()
    path = tmp_path / "gpt-4o-airline.json"
    path.write_bytes(data[: len(data) // 2])
    result = cli("import", path, "--db", db, "--format", "tau-bench")
    assert result.code == 1
    assert "truncated file" in result.err and f"{path}:" in result.err
    assert bank_content(bank, tmp_path) == before


def test_user_errors_print_no_traceback(tmp_path, db):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"query": 3, "steps": []}])
    proc = subprocess.run([sys.executable, "-m", "bankcore.cli", "import", str(path), "--db", str(db)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"error: {path}:1: field 'query': expected string, got integer\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line_index=st.integers(0, len(GOOD) - 1), junk=st.one_of(
    json_values.map(lambda v: json.dumps(v).encode() + b"\n"),
    st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b" ") + b"\n"),
    st.fixed_dictionaries({"query": json_values, "steps": json_values}).map(lambda v: json.dumps(v).encode() + b"\n"),
))
@example(line_index=0, junk=b"\x1c\n")  # a control character alone is junk, not a blank line
@example(line_index=2, junk=b" \t\n")
@example(line_index=0, junk=b"[\n")  # the file now reads as a JSON array that never closes: named at line 1
@example(line_index=0, junk=b"\xff\xfe\n")  # a UTF-16 byte-order mark: the file's encoding, named at line 1
def test_generated_broken_lines(tmp_path_factory, line_index, junk):
    """Any one generated line in place of a good one: either it is a valid record, or the import fails
    with a one-line error naming that line, and the bank is unchanged."""
    tmp = tmp_path_factory.mktemp("gen")
    bank = Bank(tmp / "bank.duckdb")
    bank.import_path(write_jsonl(tmp / "seed.jsonl", [dict(GOOD[0], task_id="seed")]))
    before = bank_content(bank, tmp)
    records = list(GOOD)
    records[line_index] = junk
    path = write_jsonl(tmp / "gen.jsonl", records)
    from bankcore.cli import main
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["import", str(path), "--db", str(bank.path), "-q"])
    if code == 0:  # the generated line was a valid record, or blank (blank lines are skipped)
        assert bank.store.count("trajectories") == 1 + len(GOOD) - (not junk.strip())
    else:
        assert code == 1
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert str(path) in lines[0]
        assert f"{path}:{line_index + 1}" in lines[0] or "not a text file" in lines[0]
        assert bank_content(bank, tmp) == before
