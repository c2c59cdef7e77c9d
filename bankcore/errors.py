"""Typed errors. Anything a user can cause is a `BankcoreError`: the CLI prints its one-line message, no traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass


class BankcoreError(Exception):
    """Base for errors caused by input, configuration or the environment — shown to the user as one line."""


class NotFoundError(BankcoreError):
    """A run, trajectory or item that the caller named does not exist."""


class ConflictError(BankcoreError):
    """An optimistic check failed: someone changed the thing since the caller loaded it."""


class BankBusyError(BankcoreError):
    """Another process held the DuckDB write lock for longer than we were willing to wait."""


class SchemaError(BankcoreError):
    """The bank file was written by a newer bankcore, or is not a bank at all."""


@dataclass(frozen=True)
class Where:
    """A place in an input: file, 1-based line (if known) and a field path such as ``steps[2].action``."""

    file: str
    line: int | None = None
    field: str | None = None

    def at(self, field: str) -> "Where":
        joined = field if not self.field else (f"{self.field}{field}" if field.startswith("[") else f"{self.field}.{field}")
        return Where(self.file, self.line, joined)

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
        if self.field:
            text += f": field '{self.field}'"
        return text


class InputError(BankcoreError):
    """Bad input, located precisely. ``str()`` is the one line the user sees."""

    def __init__(self, where: Where, message: str):
        self.where = where
        self.message = printable(message)
        super().__init__(printable(f"{where}: {message}"))


def printable(text: str) -> str:
    """`text` as one safe line: what UTF-8 cannot encode (lone surrogates: a file name in a foreign encoding, a
    broken escape in the input) and control characters (a newline in a JSON key, a terminal escape sequence) are
    written as escapes such as ``\\udcff`` and ``\\x1b``, so printing the error never fails, never spans two lines
    and never drives the terminal."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
