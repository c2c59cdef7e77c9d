"""Shared pieces of the importers: streaming readers that locate every error, and typed field access.

Importers yield `Record`s (a trajectory and its ground truth) and `BadRecord`s (one unusable record, located
precisely). A problem that makes the rest of a file unreadable (binary content, a truncated JSON document)
is raised as an `InputError` instead.

Every parsed JSON value passes `clean` at this boundary, so nothing past the importers meets input Python or
DuckDB cannot hold: nesting deeper than `MAX_DEPTH` is a bad record; a lone UTF-16 surrogate (``"\\ud800"``, which
JSON allows and UTF-8 cannot encode) is replaced by U+FFFD, as a UTF-8 decoder does with a broken byte; a number
too long for Python to read is a bad record. Typed fields are range-checked where they are read (`need`,
`check_time`). Special files (FIFOs, devices, sockets) and symlink loops are refused before anything opens them.
"""

from __future__ import annotations

import codecs
import errno
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Where
from ...models import Trajectory, Truth

MB = 1024 * 1024  # sizes in messages are binary megabytes
DEFAULT_MAX_RECORD_BYTES = 16 * MB
CHUNK = 1 << 20
MAX_DEPTH = 64  # real trajectories nest under 10 levels; deeper is an attack on recursive code downstream
INT_RANGE = (-(2 ** 31), 2 ** 31 - 1)  # integer fields are DuckDB INTEGER columns
TIME_RANGE = (datetime(1900, 1, 1), datetime(2200, 1, 1))  # what a trajectory's time can sensibly be
BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs valid surrogates, so any left is lone


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
    with no steps): counted and reported by `reason`, never stored. `item`, when the entry has a name of its own (a
    Harbor trial), is listed in the report with why: "fix-permissions__Wn5Yx1c: no agent/trajectory.json"."""

    where: Where
    reason: str
    item: str | None = None


@dataclass
class ImportOptions:
    """Knobs an importer may use. Unknown ones are ignored by importers that do not need them."""

    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    swebench_results: Path | None = None
    domain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- files
_SPECIAL = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def refuse_special(path: Path) -> None:
    """Refuse what is neither a regular file nor a folder before anything opens it: opening a FIFO blocks until
    a writer comes, a device never ends. A symlink loop or an unreadable path is named, not a traceback."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise os_error(path, exc) from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
    raise InputError(Where(str(path)), f"not a regular file ({kind}); import a file or a folder")


def os_error(path: Path, exc: OSError) -> InputError:
    """An OSError met reading `path`, as one located line."""
    reasons = {errno.ELOOP: "symlink loop (too many levels of symbolic links)",
               errno.ENOENT: "no such file or folder", errno.EACCES: "permission denied",
               errno.EISDIR: "is a folder, not a file"}
    return InputError(Where(str(path)), reasons.get(exc.errno, f"cannot read it ({exc.strerror or exc})"))


def open_input(path: Path):
    """`open(path, "rb")` after `refuse_special`, with OS errors located."""
    refuse_special(path)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise os_error(path, exc) from None


def read_bytes(path: Path) -> bytes:
    with open_input(path) as fh:
        try:
            return fh.read()
        except OSError as exc:
            raise os_error(path, exc) from None


def read_text(path: Path) -> str:
    """A whole (small) file as text: UTF-8 with or without a BOM; a bad byte is named with its line."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(Where(str(path), line), f"not valid UTF-8 at byte {exc.start}") from None


# ---------------------------------------------------------------------- sniffing
def read_head(path: Path, size: int = 65536) -> bytes:
    with open_input(path) as fh:
        return fh.read(size)


def read_first_line(path: Path, limit: int = DEFAULT_MAX_RECORD_BYTES) -> bytes:
    """The first line, however long (up to `limit`): auto-detection must see a whole first record."""
    with open_input(path) as fh:
        return fh.readline(limit)


def ensure_one_record_size(path: Path, where: Where, limit: int) -> None:
    """A file read whole as one record (one JSON document) must fit the record limit, like a line of a stream."""
    size = path.stat().st_size
    if size > limit:
        raise InputError(where, f"file is {size / MB:.1f} MB, over the {limit / MB:.0f} MB limit for one record")


BINARY_MAGIC_BYTES = 16


def ensure_text(path: Path, head: bytes | None = None) -> None:
    """Refuse binary files up front, with the byte offset of the first NUL."""
    head = read_head(path) if head is None else head
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # the byte-order mark that opens line 1
        raise InputError(Where(str(path), 1), "encoded as UTF-16 (or UTF-32); save it as UTF-8")
    nul = head.find(b"\x00")
    # Binary formats put a NUL in their first bytes (zip, gzip, PNG, DuckDB) or are full of them; one stray NUL
    # further on is a bad record in a text file, for the reader to locate (and `--skip-bad` to skip).
    if 0 <= nul < BINARY_MAGIC_BYTES or head.count(b"\x00") * 100 >= max(len(head), 1):
        raise InputError(Where(str(path)), f"not a text file (binary content at byte {nul})")


# ---------------------------------------------------------------------- parsed values
class _TooDeep(Exception):
    def __init__(self) -> None:
        self.path: list[str] = []


def loads(text: str, where: Where) -> Any:
    """`json.loads` then `clean`: every failure an InputError at `where` (the JSON error's line when known)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if where.line is not None:  # one JSONL line
            raise InputError(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        reason = "truncated file" if exc.pos >= len(text.rstrip()) - 1 else "not valid JSON"
        raise InputError(Where(where.file, exc.lineno, where.field), f"{reason} ({exc.msg})") from None
    except (RecursionError, ValueError) as exc:
        raise value_error(exc, where) from None
    return clean(value, where)


def value_error(exc: Exception, where: Where) -> InputError:
    """What json's RecursionError or ValueError (a number too long to read) means, located."""
    if isinstance(exc, RecursionError):
        return InputError(where, f"nested more than {MAX_DEPTH} levels deep")
    if "digits" in str(exc):
        return InputError(where, f"a number with more than {_max_digits()} digits")
    return InputError(where, f"not valid JSON ({exc})")


def _max_digits() -> int:
    import sys
    return sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300


def clean(value: Any, where: Where) -> Any:
    """`value` with lone surrogates replaced (U+FFFD); InputError naming the field where it nests too deep."""
    try:
        return _clean(value, 0)
    except _TooDeep as exc:
        field_path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path).lstrip(".")
        at = where.at(_text(field_path)) if field_path else where
        raise InputError(at, f"nested more than {MAX_DEPTH} levels deep") from None


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _TooDeep()
        out = {}
        for key, item in value.items():
            try:
                out[_text(key)] = _clean(item, depth + 1)
            except _TooDeep as exc:
                exc.path.insert(0, _text(key))
                raise
        return out
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise _TooDeep()
        out_list = []
        for index, item in enumerate(value):
            try:
                out_list.append(_clean(item, depth + 1))
            except _TooDeep as exc:
                exc.path.insert(0, index)
                raise
        return out_list
    return value


def _text(text: str) -> str:
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def check_time(value: datetime, where: Where) -> datetime:
    if not TIME_RANGE[0] <= value < TIME_RANGE[1]:
        raise InputError(where, f"time {value.isoformat()} is outside {TIME_RANGE[0].year}–{TIME_RANGE[1].year - 1}")
    return value


# ---------------------------------------------------------------------- line reading
def iter_lines(path: Path, max_bytes: int) -> Iterator[tuple[int, str | InputError]]:
    """Yield (line number, text) for every non-blank line, streaming, with a bounded line length.

    A line over `max_bytes` is skipped in chunks (never held in memory) and reported as an error in its place;
    so is a line that is not valid UTF-8. Binary content stops the file.
    """
    name = str(path)
    with open_input(path) as fh:
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
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
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
            yield where, loads(text, where)
        except InputError as exc:
            yield BadRecord(exc)


def iter_json_array(path: Path, max_bytes: int) -> Iterator[tuple[Where, Any] | BadRecord]:
    """Stream the elements of a top-level JSON array without loading the file.

    Each element is parsed with `raw_decode` as soon as the buffer holds all of it; the buffer only ever holds
    the current element (bounded by `max_bytes`). A truncated file or a malformed element raises an
    `InputError` naming the line where that element starts; an element that is well-formed but unusable (nested
    too deep, a number too long) is a `BadRecord`, and reading goes on after it.
    """
    name = str(path)
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    with open_input(path) as fh:
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
        index, opened = 0, line
        while True:
            skip_ws()
            if pos >= len(buf):  # named where it opened: a stray '[' on line 1 is the likelier mistake
                raise InputError(Where(name, opened), f"truncated file: the JSON array opened here never closes "
                                                      f"(the file ends at line {line})")
            if buf[pos] == "]":
                pos += 1
                skip_ws()
                if pos < len(buf):  # records after the close would be lost without a word
                    raise InputError(Where(name, line), "content after the JSON array closes (a stray ']'?)")
                return
            start_line = line
            here = Where(name, start_line, f"[{index}]")
            bad: InputError | None = None
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    end = _value_end(buf, pos)
                    if end is not None and exc.pos < end and _element_follows(buf, end) \
                            and not _UNSURE_STRINGS.search(exc.msg):
                        # a complete, balanced element that is not JSON: one bad record, and reading goes on
                        bad = InputError(Where(name, start_line + buf.count("\n", pos, exc.pos), f"[{index}]"),
                                         f"not valid JSON ({exc.msg})")
                        value = None
                        break
                    if len(buf) - pos > max_bytes:
                        raise InputError(Where(name, start_line, f"[{index}]"),
                                         f"element is over the {max_bytes / MB:.0f} MB limit for one record "
                                         f"or not valid JSON") from None
                    if eof or not fill():
                        where = Where(name, start_line + buf.count("\n", pos, exc.pos), f"[{index}]")
                        reason = "truncated file" if exc.pos >= len(buf) - 1 or "Unterminated" in exc.msg \
                            else "not valid JSON"
                        raise InputError(where, f"{reason} ({exc.msg})") from None
                except (RecursionError, ValueError) as exc:  # parsed far enough to know it is unusable
                    bad = value_error(exc, here)
                    progress = [0, 0]
                    while (end := _value_end(buf, pos, progress)) is None:
                        if len(buf) - pos > max_bytes:
                            raise InputError(here, f"{bad.message}, and over the {max_bytes / MB:.0f} MB limit "
                                                   "for one record") from None
                        if eof or not fill():
                            raise InputError(here, f"{bad.message}, and the element never ends") from None
                    value = None
                    break
            line += buf.count("\n", pos, end)
            pos = end
            if bad is None:
                try:
                    value = clean(value, here)
                except InputError as exc:
                    bad = exc
            yield BadRecord(bad) if bad is not None else (Where(name, start_line), value)
            index += 1


# runs of brackets are one token each (a 16 MB run of '[' is one match); a lone '"' is a string not yet closed
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]+|[\]}]+|[^"\[\]{}]+|"')
_SCALAR = re.compile(r'[^ \t\r\n,\]}]+')  # JSON's own whitespace: a no-break space is junk, not a separator
_NEXT = re.compile(r"\s*([,\]])")
# after these errors the strings may be paired wrongly, so where the element ends is a guess: the file stops instead
_UNSURE_STRINGS = re.compile("Unterminated|control character|escape")


def _element_follows(buf: str, end: int) -> bool:
    """Whether the array goes on (``,``) or closes (``]``) right after `end`: the element's end is where it seems."""
    return _NEXT.match(buf, end) is not None


def _value_end(buf: str, pos: int, progress: list[int] | None = None) -> int | None:
    """Where the JSON value starting at `pos` ends, found without recursion (for values `json` cannot parse
    because they nest too deep); None while the buffer does not yet hold all of it. A caller that refills the
    buffer passes `progress` ([offset from pos, depth], updated here) so the scan resumes instead of starting over."""
    offset, depth = progress if progress else (0, 0)
    resume = pos + offset
    for token in _TOKEN.finditer(buf, pos + offset):
        text = token.group()
        first = text[0]
        if text == '"':
            resume = token.start()  # a string not yet closed (the buffer may end inside it): resume at its quote
            break
        if first in "[{":
            depth += len(text)
        elif first in "]}":
            if depth == 0:  # a closer where a value should start: no value here
                return None
            if len(text) >= depth:
                return token.start() + depth
            depth -= len(text)
        elif depth == 0:  # a string or a bare scalar: it ends where the next separator starts
            scalar = _SCALAR.match(buf, token.start())
            end = token.end() if first == '"' else scalar.end() if scalar else len(buf)
            if end < len(buf):
                return end
            resume = token.start()
            break
        resume = token.end()
    if progress is not None:
        progress[:] = [resume - pos, depth]
    return None


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
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float in kinds \
            and not math.isfinite(float(value) if abs(value) < 1e308 else math.inf):
        raise InputError(where.at(key), f"not a finite number ({_short(value) if isinstance(value, int) else value})")
    if isinstance(value, int) and not isinstance(value, bool) and str not in kinds and float not in kinds \
            and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InputError(where.at(key), f"out of range: {_short(value)} (limits {INT_RANGE[0]} to {INT_RANGE[1]})")
    return value


def _short(number: int) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:10]}…({len(text)} digits)"


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
