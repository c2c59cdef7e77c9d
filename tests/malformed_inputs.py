"""Malformed-input classes an attacker tried on `bankcore import`, each built in a folder and checked the same way.

Shared by tests/test_input_fuzz.py (every class through the real CLI) and bench/malformed_inputs.py (how many
classes end in a traceback). Each case writes one file (or folder) and says what a correct import does with it:

- ``error``: exit 1 with one located line (``message`` appears in it); the file holds one bad record between
  good ones, so ``--skip-bad`` (exit 3) lands the ``good`` records — unless ``skippable`` is False (the whole file is
  unusable, say a FIFO);
- ``ok``: a valid file that must import cleanly (exit 0, ``good`` records).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEEP = 100_000


def native(i: int, **extra) -> dict:
    record = {"query": f"Task {i}: find the cheapest item", "task_id": f"t{i}",
              "steps": [{"thought": "look", "action": f"search('item {i}')", "observation": "2 results"}],
              "final_answer": "A", "truth": {"success": True}}
    record.update(extra)
    return record


def tau(i: int, **extra) -> dict:
    record = {"task_id": i, "trial": 0, "reward": 1.0, "info": {},
              "traj": [{"role": "system", "content": "You are an airline agent."},
                       {"role": "user", "content": f"Change my flight {i}"},
                       {"role": "assistant", "content": "Done."}]}
    record.update(extra)
    return record


def chat(i: int, **extra) -> dict:
    record = {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Yes."}]}
    record.update(extra)
    return record


def mini(i: int) -> dict:
    return {"info": {"exit_status": "Submitted", "submission": "diff"}, "instance_id": f"repo__x-{i}",
            "messages": [{"role": "system", "content": "You fix bugs."},
                         {"role": "user", "content": f"<pr_description>Bug {i}</pr_description>"},
                         {"role": "assistant", "content": "THOUGHT: look\n\n```bash\nls\n```"},
                         {"role": "user", "content": "file.py"}]}


def dumps(value) -> str:
    return json.dumps(value)


def lines(*rows: str) -> bytes:
    return "".join(row + "\n" for row in rows).encode("utf-8", "surrogatepass")


def deep(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def jsonl_around(bad: str, n: int = 3) -> bytes:
    """Good native records with `bad` (one JSONL line) as line 2."""
    rows = [dumps(native(i)) for i in range(n)]
    rows.insert(1, bad)
    return lines(*rows)


def array_around(bad: str, make=tau, n: int = 3) -> bytes:
    """A JSON array of good records (one per line) with `bad` as the second element, on line 3."""
    rows = [dumps(make(i)) for i in range(n)]
    rows.insert(1, bad)
    return ("[\n" + ",\n".join(rows) + "\n]\n").encode("utf-8", "surrogatepass")


def reflexion_log(trial: str = "0", step: str = "1") -> bytes:
    entry = ("Question: What is the capital of {q}?\nThought {s}: I know it.\nAction {s}: Finish[Paris]\n"
             "Observation {s}: Answer is CORRECT\nCorrect answer: Paris\n\n")
    return ("BEGIN TRIAL 0\n------------- BEGIN CORRECT AGENTS -------------\n\n"
            + entry.format(q="France", s=1) + f"BEGIN TRIAL {trial}\n"
            "------------- BEGIN CORRECT AGENTS -------------\n\n" + entry.format(q="Spain", s=step)
            + "BEGIN TRIAL 2\n------------- BEGIN CORRECT AGENTS -------------\n\n"
            + entry.format(q="Italy", s=1)).encode()


@dataclass
class Case:
    name: str
    build: Callable[[Path], Path]  # writes the input under the folder, returns what to import
    expect: str  # "error" or "ok"
    message: str = ""  # part of the error line (errors) or of the stored text (ok)
    fmt: str | None = None  # --format, when auto-detection is not what the case is about
    good: int = 3  # records that land (ok), or that --skip-bad keeps (error)
    skippable: bool = True
    line: int | None = 2  # the line the error names, when there is one


def _file(name: str, content: bytes | str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return build


def _fifo(folder: Path) -> Path:
    path = folder / "runs.jsonl"
    os.mkfifo(path)
    return path


def _socket(folder: Path) -> Path:
    path = folder / "runs.jsonl"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays behind
    return path


def _symlink_loop(folder: Path) -> Path:
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def _mini_folder(bad: bytes | None = None, fifo: bool = False) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        run = folder / "run"
        for i in range(3):
            (run / f"repo__x-{i}").mkdir(parents=True)
            (run / f"repo__x-{i}" / f"repo__x-{i}.traj.json").write_text(dumps(mini(i)))
        (run / "repo__x-9").mkdir()
        target = run / "repo__x-9" / "repo__x-9.traj.json"
        if fifo:
            os.mkfifo(target)
        else:
            target.write_bytes(bad)
        return run
    return build


def _big_first_record(folder: Path) -> Path:
    path = folder / "runs.jsonl"
    first = native(0, final_state="x" * 300_000)
    path.write_bytes(lines(dumps(first), dumps(native(1)), dumps(native(2))))
    return path


CASES = [
    # depth
    Case("nesting-100k-jsonl", _file("runs.jsonl", jsonl_around(deep())), "error", "nested"),
    Case("nesting-100k-in-field", _file("runs.jsonl", jsonl_around(
        dumps(native(9))[:-1] + ', "meta": {"x": ' + deep() + "}}")), "error", "nested"),
    Case("nesting-900-in-field", _file("runs.jsonl", jsonl_around(
        dumps(native(9))[:-1] + ', "meta": {"x": ' + deep(900) + "}}")), "error", "nested"),
    Case("nesting-100k-tau-array", _file("gpt-4o-airline.json", array_around(
        dumps(tau(9))[:-1] + ', "info": {"x": ' + deep() + "}}")), "error", "nested", line=3),
    Case("nesting-100k-openai-json", _file("chat.json", dumps(chat(1))[:-1] + ', "meta": ' + deep() + "}"),
         "error", "nested", fmt="openai", good=0, line=None),
    Case("nesting-100k-mini-swe", _mini_folder(b'{"info": {}, "messages": ' + deep().encode() + b"}"),
         "error", "nested", line=None),
    # encoding
    Case("lone-surrogate-query", _file("runs.jsonl", jsonl_around(
        dumps(native(9, query="Find \ud800 it")))), "ok", "Find \ufffd it", good=4),
    Case("lone-surrogate-key", _file("runs.jsonl", jsonl_around(
        dumps(native(9, meta={"\udfff": "x"})))), "ok", good=4),
    Case("lone-surrogate-openai", _file("chat.jsonl", lines(
        dumps(chat(0)), dumps(chat(9, messages=[{"role": "user", "content": "q\ud83d"},
                                                 {"role": "assistant", "content": "\ude00"}])), dumps(chat(1)))),
         "ok", "q\ufffd", good=3),
    Case("lone-surrogate-tau", _file("gpt-4o-airline.json", array_around(dumps(tau(9, info={"task": "\ud800"})))),
         "ok", good=4),
    Case("invalid-utf8-openai-json", _file("chat.json", dumps(chat(1)).encode().replace(b"Yes", b"Y\xffs")),
         "error", "UTF-8", fmt="openai", good=0, line=1),
    Case("invalid-utf8-openai-jsonl", _file("chat.jsonl", lines(dumps(chat(0)), "x", dumps(chat(1))).replace(
        b"x\n", b'{"messages": "\xff"}\n')), "error", "UTF-8", fmt="openai", good=2),
    Case("utf16-file", _file("runs.jsonl", lines(dumps(native(0))).decode().encode("utf-16")), "error",
         "UTF-16", good=0, skippable=False, line=None),
    Case("bom-jsonl", _file("runs.jsonl", b"\xef\xbb\xbf" + lines(*[dumps(native(i)) for i in range(3)])), "ok"),
    Case("bom-tau-array", _file("gpt-4o-airline.json", b"\xef\xbb\xbf" + array_around(dumps(tau(9)))), "ok",
         good=4),
    Case("bom-openai-json", _file("chat.json", b"\xef\xbb\xbf" + dumps(chat(1)).encode()), "ok", good=1),
    # size
    Case("big-first-record", _big_first_record, "ok"),
    Case("number-5000-digits", _file("runs.jsonl", jsonl_around(
        dumps(native(9))[:-1] + ', "trial": ' + "7" * 5000 + "}")), "error", "digits"),
    Case("number-5000-digits-tau", _file("gpt-4o-airline.json", array_around(
        dumps(tau(9))[:-1] + ', "extra": ' + "7" * 5000 + "}")), "error", "digits", line=3),
    # numeric range
    Case("trial-int64-overflow", _file("runs.jsonl", jsonl_around(dumps(native(9, trial=2 ** 63)))), "error",
         "trial"),
    Case("trial-int32-overflow-tau", _file("gpt-4o-airline.json", array_around(dumps(tau(9, trial=2 ** 31)))),
         "error", "trial", line=3),
    Case("matts-k-overflow", _file("runs.jsonl", lines(dumps({"type": "run", "matts_k": 10 ** 20}),
                                                       *[dumps(native(i)) for i in range(3)])),
         "error", "matts_k", line=1),
    Case("reward-infinity", _file("gpt-4o-airline.json", array_around(
        dumps(tau(9))[:-1].replace('"reward": 1.0', '"reward": Infinity') + "}")), "error", "reward", line=3),
    Case("reward-1e400", _file("chat.jsonl", lines(dumps(chat(0)), dumps(chat(9))[:-1] + ', "reward": 1e400}',
                                                   dumps(chat(1)))), "error", "reward", good=2),
    Case("reflexion-trial-overflow", _file("log.txt", reflexion_log(trial="9" * 30)), "error", "trial", good=2,
         line=10),
    Case("reflexion-trial-5000-digits", _file("log.txt", reflexion_log(trial="9" * 5000)), "error", "trial",
         good=2, line=10),
    Case("reflexion-step-number-huge", _file("log.txt", reflexion_log(step="99999999999")), "error", "step",
         good=2, line=14),
    # timestamps
    Case("timestamp-year-1-offset", _file("runs.jsonl", jsonl_around(
        dumps(native(9, started_at="0001-01-01T00:00:00+05:00")))), "error", "started_at"),
    Case("timestamp-year-9999-offset", _file("runs.jsonl", jsonl_around(
        dumps(native(9, started_at="9999-12-31T23:59:59-05:00")))), "error", "started_at"),
    Case("timestamp-year-1", _file("runs.jsonl", jsonl_around(dumps(native(9, started_at="0001-01-01")))),
         "error", "started_at"),
    Case("run-header-year-1", _file("runs.jsonl", lines(dumps({"type": "run", "started_at": "0001-01-01T00:00+01:00"}),
                                                        *[dumps(native(i)) for i in range(3)])),
         "error", "started_at", line=1),
    # special files
    Case("fifo", _fifo, "error", "FIFO", good=0, skippable=False, line=None),
    Case("socket", _socket, "error", "socket", good=0, skippable=False, line=None),
    Case("char-device", lambda folder: Path("/dev/zero"), "error", "device", good=0, skippable=False, line=None),
    Case("symlink-loop", _symlink_loop, "error", "symbolic links", good=0, skippable=False, line=None),
    Case("fifo-in-mini-swe-folder", _mini_folder(fifo=True), "error", "FIFO", line=None),
]
CASES.append(Case("syntax-error-in-tau-element", _file("gpt-4o-airline.json", array_around(
    dumps(tau(9)).replace("true", "tru").replace('"trial": 0', '"trial": tru'))), "error", "not valid JSON", line=3))
CASES.append(Case("newline-and-escape-in-a-key", _file("runs.jsonl", lines(
    dumps({"type": "run", "bad\nkey\u001b[2J": 1}), *[dumps(native(i)) for i in range(3)])),
    "error", "unknown run header field", line=1))
