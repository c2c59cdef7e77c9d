"""Shared pieces of the importers: streaming readers that locate every error, and typed field access.

Importers yield `Record`s (a trajectory and its ground truth) and `BadRecord`s (one unusable record, located
precisely). A problem that makes the rest of a file unreadable (binary content, a truncated JSON document)
is raised as an `InputError` instead.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, Where
from ..models import Trajectory, Truth

MB = 1024 * 1024  # sizes in messages are binary megabytes
DEFAULT_MAX_RECORD_BYTES = 16 * MB
CHUNK = 1 << 20


@dataclass
class Record:
    trajectory: Trajectory
    truth: Truth | None = None


@dataclass
class RunHeader:
    """Run-level facts a file may state once, before its first trajectory (native format)."""

    name: str | None = None
    agent_model: str | None = None
    memory_mode: str | None = None
    matts_mode: str | None = None
    matts_k: int | None = None
    env: str | None = None
    started_at: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class BadRecord:
    error: InputError


@dataclass
class Skipped:
    """An entry of the input that is not a trajectory (say, a Reflexion trial listing an already-solved question
    with no steps): counted and reported by `reason`, never stored."""

    where: Where
    reason: str


@dataclass
class ImportOptions:
    """Knobs an importer may use. Unknown ones are ignored by importers that do not need them."""

    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    swebench_results: Path | None = None
    domain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- sniffing
def read_head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def ensure_text(path: Path, head: bytes | None = None) -> None:
    """Refuse binary files up front, with the byte offset of the first NUL."""
    head = read_head(path) if head is None else head
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InputError(Where(str(path)), f"not a text file (binary content at byte {nul})")


# ---------------------------------------------------------------------- line reading
def iter_lines(path: Path, max_bytes: int) -> Iterator[tuple[int, str | InputError]]:
    """Yield (line number, text) for every non-blank line, streaming, with a bounded line length.

    A line over `max_bytes` is skipped in chunks (never held in memory) and reported as an error in its place;
    so is a line that is not valid UTF-8. Binary content stops the file.
    """
    name = str(path)
    with open(path, "rb") as fh:
        lineno = 0
        while True:
            raw = fh.readline(max_bytes + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                skipped = len(raw)
                while True:
                    more = fh.readline(CHUNK)
                    skipped += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield lineno, InputError(Where(name, lineno), f"line is {skipped / MB:.1f} MB, over the "
                                                              f"{max_bytes / MB:.0f} MB limit for one record")
                continue
            if b"\x00" in raw:
                raise InputError(Where(name, lineno), "not a text file (binary content)")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, InputError(Where(name, lineno), f"not valid UTF-8 at byte {exc.start}")
                continue
            if text.strip(" \t\r\n"):  # only ASCII whitespace makes a line blank; control characters are junk
                yield lineno, text


def iter_jsonl(path: Path, max_bytes: int) -> Iterator[tuple[Where, Any] | BadRecord]:
    """Yield (where, parsed object) per JSONL line, or a BadRecord for a line that is not JSON."""
    for lineno, text in iter_lines(path, max_bytes):
        where = Where(str(path), lineno)
        if isinstance(text, InputError):
            yield BadRecord(text)
            continue
        try:
            yield where, json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadRecord(InputError(where, f"not valid JSON ({exc.msg} at column {exc.colno})"))


def iter_json_array(path: Path, max_bytes: int) -> Iterator[tuple[Where, Any]]:
    """Stream the elements of a top-level JSON array without loading the file.

    Each element is parsed with `raw_decode` as soon as the buffer holds all of it; the buffer only ever holds
    the current element (bounded by `max_bytes`). A truncated file or a malformed element raises an
    `InputError` naming the line where that element starts.
    """
    name = str(path)
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        buf, pos, line, eof = "", 0, 1, False

        def fill() -> bool:
            nonlocal buf, pos, eof
            chunk = fh.read(CHUNK)
            if b"\x00" in chunk:
                raise InputError(Where(name, line), "not a text file (binary content)")
            try:
                text = utf8.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise InputError(Where(name, line), f"not valid UTF-8 ({exc.reason})") from None
            buf, pos = buf[pos:] + text, 0
            eof = not chunk
            return bool(chunk)

        def skip_ws() -> None:
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    line += buf[pos] == "\n"
                    pos += 1
                if pos < len(buf) or not fill():
                    return

        skip_ws()
        if pos >= len(buf) or buf[pos] != "[":
            raise InputError(Where(name, line), "expected a JSON array of trajectories")
        pos += 1
        index = 0
        while True:
            skip_ws()
            if pos >= len(buf):
                raise InputError(Where(name, line), "truncated file: the JSON array never closes")
            if buf[pos] == "]":
                return
            start_line = line
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if len(buf) - pos > max_bytes:
                        raise InputError(Where(name, start_line, f"[{index}]"),
                                         f"element is over the {max_bytes / MB:.0f} MB limit for one record "
                                         f"or not valid JSON") from None
                    if eof or not fill():
                        where = Where(name, start_line + buf.count("\n", pos, exc.pos), f"[{index}]")
                        reason = "truncated file" if exc.pos >= len(buf) - 1 or "Unterminated" in exc.msg \
                            else "not valid JSON"
                        raise InputError(where, f"{reason} ({exc.msg})") from None
            line += buf.count("\n", pos, end)
            pos = end
            yield Where(name, start_line), value
            index += 1


# ---------------------------------------------------------------------- typed field access
_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "object",
               type(None): "null"}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def need(obj: Any, key: str, where: Where, kind: type | tuple[type, ...], *, optional: bool = False,
         nullable: bool = False) -> Any:
    """`obj[key]` checked against `kind`; raises an InputError naming the field otherwise."""
    if not isinstance(obj, dict):
        raise InputError(where, f"expected an object, got {type_name(obj)}")
    if key not in obj:
        if optional:
            return None
        raise InputError(where.at(key), "missing required field")
    value = obj[key]
    if value is None and (optional or nullable):
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a JSON true is never a valid number here.
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    elif float in kinds and isinstance(value, int):
        ok = True
    else:
        ok = isinstance(value, kinds)
    if not ok:
        expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise InputError(where.at(key), f"expected {expected}, got {type_name(value)}")
    return value


def text_of(content: Any, where: Where) -> str | None:
    """Chat message content: a string, null, or a list of parts with text."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif not (isinstance(part, dict) and "type" in part):
                raise InputError(where.at(f"[{i}]"), f"expected a content part, got {type_name(part)}")
        return "\n".join(parts)
    raise InputError(where, f"expected string or list of parts, got {type_name(content)}")
