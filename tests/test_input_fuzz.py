"""Input never crashes: every malformed-input class through the CLI, and a generated-input fuzz per importer.

A malformed input ends in a one-line located error (exit 1) or a clean import, never a traceback or a hang;
--skip-bad skips the one bad record and keeps the good ones. The fuzz tests build a valid file, break one record
(a value swapped for something nasty, bytes inserted, the line cut) and read it with the importer: the only
exception allowed is a located InputError, each bad record is a located BadRecord, every record that comes out
can be stored, and the good records around the broken one still come out.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bankcore import Bank
from bankcore.learn import importers
from bankcore.errors import InputError
from bankcore.learn.importers import BadRecord, ImportOptions, Record, RunHeader, Skipped, swebench_results
from bankcore.learn.importers.base import INT_RANGE, TIME_RANGE
from malformed_inputs import CASES, Case, array_around, chat, mini, native, reflexion_log, tau

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


# ---------------------------------------------------------------------- every class through the CLI
def stored_text(bank: Bank) -> str:
    return "\n".join(repr(t) for t in bank.store.iter_trajectories())


def one_located_line(err: str, target: Path, case: Case) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: ")
    located = str(target) if case.line is None else f"{target}:{case.line}"
    if target.is_dir():
        located = str(target)
    assert located in line, (located, line)
    return line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_malformed_class_ends_in_one_located_line_or_a_clean_import(cli, tmp_path, case):
    target = case.build(tmp_path)
    fmt = ["--format", case.fmt] if case.fmt else []
    plain = cli("import", target, "--db", tmp_path / "plain.duckdb", "-q", *fmt)
    skipping = cli("import", target, "--db", tmp_path / "skip.duckdb", "-q", "--skip-bad", *fmt)
    if case.expect == "ok":
        assert (plain.code, plain.err) == (0, "")
        bank = Bank(tmp_path / "plain.duckdb")
        assert bank.store.count("trajectories") == case.good
        assert case.message in stored_text(bank)
        return
    assert plain.code == 1
    assert case.message in one_located_line(plain.err, target, case)
    assert not (tmp_path / "plain.duckdb").exists() or Bank(tmp_path / "plain.duckdb").store.count("trajectories") == 0
    assert "Traceback" not in skipping.err
    if case.skippable:
        assert skipping.code == 3, skipping.err
        assert case.message in skipping.err
        assert Bank(tmp_path / "skip.duckdb").store.count("trajectories") == case.good
    else:
        assert skipping.code == 1
        one_located_line(skipping.err, target, case)


# one class of each kind through a real `python -m bankcore.cli` process: stderr as a user sees it
REAL_CLI = ["nesting-100k-jsonl", "lone-surrogate-query", "invalid-utf8-openai-json", "number-5000-digits",
            "trial-int64-overflow", "timestamp-year-1-offset", "fifo", "symlink-loop", "bom-jsonl"]


@pytest.mark.parametrize("name", REAL_CLI)
def test_the_real_cli_prints_one_line_and_no_traceback(tmp_path, name):
    case = next(c for c in CASES if c.name == name)
    target = case.build(tmp_path)
    fmt = ["--format", case.fmt] if case.fmt else []
    proc = subprocess.run([sys.executable, "-m", "bankcore.cli", "import", str(target), "--db",
                           str(tmp_path / "bank.duckdb"), "-q", *fmt], capture_output=True, text=True, timeout=120)
    if case.expect == "ok":
        assert (proc.returncode, proc.stderr) == (0, "")
    else:
        assert proc.returncode == 1
        assert case.message in one_located_line(proc.stderr, target, case)


def test_a_file_name_in_a_foreign_encoding_imports_and_prints(tmp_path):
    folder = bytes(tmp_path) + b"/runs-caf\xe9.jsonl"
    Path(folder.decode("utf-8", "surrogateescape")).write_text(json.dumps(native(1)) + "\n")
    proc = subprocess.run([sys.executable, "-m", "bankcore.cli", "import", folder, "--db",
                           str(tmp_path / "bank.duckdb")], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr and b"added 1" in proc.stdout


# ---------------------------------------------------------------------- fuzz: what may come out of an importer
def assert_located(error: InputError, path: Path) -> None:
    text = str(error)
    assert text.startswith(str(path)), text
    assert "\n" not in text and "\r" not in text
    text.encode("utf-8")  # printable


def assert_storable(record: Record) -> None:
    t = record.trajectory
    for text in (t.query, t.final_answer, t.final_state, t.domain, t.task_id,
                 *[x for s in t.steps for x in (s.thought, s.action, s.observation)]):
        if text is not None:
            text.encode("utf-8")
    truth = record.truth
    json.dumps([t.meta, [s.meta for s in t.steps], truth.details if truth else None],
               ensure_ascii=False).encode("utf-8")
    assert t.trial is None or INT_RANGE[0] <= t.trial <= INT_RANGE[1]
    assert t.started_at is None or TIME_RANGE[0] <= t.started_at < TIME_RANGE[1]
    assert truth is None or truth.reward is None or abs(truth.reward) < float("inf")
    t.content_hash("fuzz")


def read_all(path: Path, fmt: str) -> list | None:
    """Everything the importer yields; None when it refused the whole file (with a located InputError)."""
    try:
        detected = importers.detect(path)
    except InputError as exc:
        assert_located(exc, path)
    else:
        assert detected in importers.FORMATS
    try:
        items = list(importers.read(path, fmt, ImportOptions()))
    except InputError as exc:
        assert_located(exc, path)
        return None
    for item in items:
        assert isinstance(item, (Record, RunHeader, Skipped, BadRecord)), item
        if isinstance(item, BadRecord):
            assert_located(item.error, path)
        elif isinstance(item, Record):
            assert_storable(item)
    return items


def queries(items: list) -> set[str]:
    return {i.trajectory.query for i in items if isinstance(i, Record)}


NASTY = [
    "[" * 5000 + "]" * 5000, "[" * 70 + "]" * 70, '{"a":' * 80 + "1" + "}" * 80, "7" * 5000, "-" + "9" * 30,
    "2147483648", "-2147483649", "9223372036854775808", "Infinity", "-Infinity", "NaN", "1e400", "0", "-1",
    '"\\ud800"', '"\\udfff\\ud800x"', '"0001-01-01T00:00:00+05:00"', '"9999-12-31T23:59:59-05:00"', '"0001-01-01"',
    '"2024-02-30"', '"\\u0000"', "{}", "[]", "null", "true", '""', '"  "', '"' + "x" * 5000 + '"',
    '{"\\ud800": 1}', '[{"role": "tool", "content": "x"}]', '[{"role": "assistant", "tool_calls": [{}]}]',
    '[{"role": "user", "content": [{"type": "image"}, 3]}]', "{", "]", "1}]", '"unterminated',
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
lone_surrogates = st.tuples(st.text(max_size=4), st.integers(0xD800, 0xDFFF), st.text(max_size=4)).map(
    lambda t: json.dumps(t[0] + chr(t[1]) + t[2]))
fragments = st.one_of(st.sampled_from(NASTY), json_values.map(json.dumps), lone_surrogates)
EXTRA_KEYS = ["trial", "started_at", "reward", "task_id", "domain", "meta", "truth", "steps", "messages", "traj",
              "info", "final_answer", "query", "type", "matts_k"]
PLACEHOLDER = "\x00fuzz\x00"


def paths_in(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_in(item, prefix + (index,))


def broken(record: dict, data) -> str:
    """`record` as JSON text with one value (or a new key) swapped for a nasty fragment, then maybe bytes hit."""
    record = copy.deepcopy(record)
    if data.draw(st.booleans(), label="add a key"):
        record[data.draw(st.sampled_from(EXTRA_KEYS), label="key")] = PLACEHOLDER
    else:
        path = data.draw(st.sampled_from(list(paths_in(record))[1:]), label="path")
        parent = record
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = PLACEHOLDER
    text = json.dumps(record).replace(json.dumps(PLACEHOLDER), data.draw(fragments, label="fragment"))
    edit = data.draw(st.sampled_from(["none", "insert", "cut"]), label="edit")
    if edit != "none":
        at = data.draw(st.integers(0, len(text)), label="at")
        if edit == "insert":
            junk = data.draw(st.binary(max_size=4), label="junk").decode("latin-1").replace("\n", " ")
            text = text[:at] + junk + text[at:]
        else:
            text = text[:at]
    return text


def jsonl(path: Path, rows: list[str]) -> Path:
    path.write_bytes("".join(row + "\n" for row in rows).encode("utf-8", "surrogatepass"))
    return path


@FUZZ
@given(data=st.data())
def test_fuzz_native(tmp_path_factory, data):
    path = jsonl(tmp_path_factory.mktemp("native") / "runs.jsonl",
                 [json.dumps(native(0)), broken(native(1, trial=1, started_at="2025-01-02T03:04:05Z",
                                                       meta={"k": [1, {"x": "y"}]}), data), json.dumps(native(2))])
    items = read_all(path, "native")
    if items is not None:
        assert {native(0)["query"], native(2)["query"]} <= queries(items)


@FUZZ
@given(data=st.data())
def test_fuzz_openai(tmp_path_factory, data):
    bad = chat(1, task_id=7, trial=0, reward=1.0, messages=[
        {"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "q1"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "content": "r"}, {"role": "assistant", "content": "done"}])
    path = jsonl(tmp_path_factory.mktemp("openai") / "chat.jsonl",
                 [json.dumps(chat(0)), broken(bad, data), json.dumps(chat(2))])
    items = read_all(path, "openai")
    if items is not None:
        assert {"Question 0?", "Question 2?"} <= queries(items)


@FUZZ
@given(data=st.data())
def test_fuzz_openai_single_json(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("openai1") / "chat.json"
    path.write_bytes(broken(chat(1, reward=0.5), data).encode("utf-8", "surrogatepass"))
    read_all(path, "openai")


@FUZZ
@given(data=st.data())
def test_fuzz_tau_bench(tmp_path_factory, data):
    bad = tau(5, info={"task": {"user_id": "u", "actions": [{"name": "a", "kwargs": {"x": 1}}]}, "user_cost": 0.1})
    path = tmp_path_factory.mktemp("tau") / "gpt-4o-airline.json"
    path.write_bytes(array_around(broken(bad, data), n=2))
    items = read_all(path, "tau-bench")
    if items is not None:
        assert {"Change my flight 0", "Change my flight 1"} <= queries(items)


VOICE_RUN = Path(__file__).resolve().parent / "data" / "tau2" / "retail_voice_run"


@FUZZ
@given(data=st.data())
def test_fuzz_tau2_voice_ticks(tmp_path_factory, data):
    """A full-duplex simulation (ticks, chunks, tool calls) broken anywhere; the run's other simulation still reads."""
    run = Path(shutil.copytree(VOICE_RUN, tmp_path_factory.mktemp("voice") / "run"))
    sim_path = run / "simulations" / "9a7d41c0-0002.json"
    sim = json.loads(sim_path.read_text(encoding="utf-8"))
    sim_path.write_bytes(broken(sim, data).encode("utf-8", "surrogatepass"))
    items = read_all(run, "tau2-bench")
    if items is not None:
        assert any(q.startswith("Hi, I want to exchange the hiking boots") for q in queries(items))


@FUZZ
@given(data=st.data())
def test_fuzz_mini_swe(tmp_path_factory, data):
    run = tmp_path_factory.mktemp("mini")
    for i in range(2):
        (run / f"repo__x-{i}.traj.json").write_text(json.dumps(mini(i)))
    bad = mini(5)
    bad["info"]["config"] = {"model": {"model_name": "m", "action_regex": "```bash\\s*\\n(.*?)\\n```"}}
    bad["messages"].append({"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "bash", "arguments": json.dumps({"command": "ls"})}}]})
    (run / "repo__x-5.traj.json").write_bytes(broken(bad, data).encode("utf-8", "surrogatepass"))
    items = read_all(run, "mini-swe-agent")
    assert items is not None  # one bad file is one bad record: the folder still reads
    assert {"Bug 0", "Bug 1"} <= queries(items)


REFLEXION_LINES = ["BEGIN TRIAL 99999999999", "BEGIN TRIAL " + "9" * 5000, "Thought 99999999999: x", "Action 0: x",
                   "Observation 00: y", "Question:", "Question: another?", "Correct answer:", "Reflections:",
                   "- a reflection", "(END PREVIOUS TRIAL)", "------------- BEGIN HALTED AGENTS -------------",
                   "Action 2: Finish[", "Thought: unnumbered", "Observation 1: Answer is CORRECT"]


@FUZZ
@given(inserted=st.lists(st.sampled_from(REFLEXION_LINES)  # (a NUL makes it a binary file: refused whole, tested apart)
                         | st.text(max_size=30).map(lambda s: s.replace("\n", " ").replace("\x00", " ")),
                         min_size=1, max_size=3),
       at=st.integers(0, 3))
def test_fuzz_reflexion(tmp_path_factory, inserted, at):
    lines = reflexion_log().decode().split("\n")
    middle = lines.index("Question: What is the capital of Spain?") + 1 + at  # inside the second entry
    lines[middle:middle] = inserted
    path = tmp_path_factory.mktemp("reflexion") / "log.txt"
    path.write_text("\n".join(lines))
    items = read_all(path, "reflexion")
    assert items is not None
    assert {"What is the capital of France?", "What is the capital of Italy?"} <= queries(items)


@FUZZ
@given(data=st.data())
def test_fuzz_swebench_results(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("swe") / "results.json"
    path.write_bytes(broken({"resolved_ids": ["a"], "unresolved_ids": ["b"], "error_ids": []}, data)
                     .encode("utf-8", "surrogatepass"))
    try:
        results = swebench_results.load(path)
    except InputError as exc:
        assert_located(exc, path)
    else:
        json.dumps(results.status, ensure_ascii=False).encode("utf-8")


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_skip_bad_lands_the_good_records_in_a_real_bank(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("bank")
    path = jsonl(tmp / "runs.jsonl", [json.dumps(native(0)), broken(native(1, trial=3), data), json.dumps(native(2))])
    bank = Bank(tmp / "bank.duckdb")
    report = bank.import_path(path, skip_bad=True)
    stored = queries(Record(t) for t in bank.store.iter_trajectories())
    assert {native(0)["query"], native(2)["query"]} <= stored
    assert report.added == len(stored) and len(report.bad) + report.added >= 2


def test_junk_before_an_unreadable_array_element_is_located_not_a_crash(tmp_path):
    """Found by the fuzz: a no-break space (not JSON whitespace) before a too-deep element."""
    path = tmp_path / "gpt-4o-airline.json"
    path.write_bytes(array_around("\u00a0" + json.dumps(tau(5))[:-1] + ', "info": ' + "[" * 5000 + "]" * 5000 + "}"))
    items = read_all(path, "tau-bench")
    assert items is None or {"Change my flight 0", "Change my flight 2"} <= queries(items)


def test_an_os_error_from_the_environment_is_one_line(cli, monkeypatch, tmp_path):
    """Whatever the importers do not locate themselves (a disk that fills, a file that vanishes midway) still ends
    in one line naming the path, not a traceback."""
    from bankcore.cli import registry

    def vanished(args):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.jsonl"))

    monkeypatch.setitem(registry.COMMANDS, "import", vanished)
    result = cli("import", tmp_path / "gone.jsonl", "--db", tmp_path / "bank.duckdb")
    assert result.code == 1
    assert result.err == f"error: [Errno 2] No such file or directory: '{tmp_path / 'gone.jsonl'}'\n"
