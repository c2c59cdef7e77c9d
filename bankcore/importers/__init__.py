"""Importers: each turns one upstream format into `Record`s, streaming. `detect` picks one for `--format auto`."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Iterator

from ..errors import InputError, Where
from . import mini_swe, native, openai_chat, reflexion, tau_bench
from .base import BadRecord, ImportOptions, Record, RunHeader, Skipped, ensure_text, iter_json_array, read_head

FORMATS: dict[str, ModuleType] = {
    m.NAME: m for m in (native, openai_chat, tau_bench, reflexion, mini_swe)
}

__all__ = ["FORMATS", "BadRecord", "ImportOptions", "Record", "RunHeader", "Skipped", "detect", "read",
           "run_files"]

# In a folder that is not mini-swe-agent's, the files read as runs; anything else (README, LICENSE, scripts) is left.
RUN_FILE_SUFFIXES = (".jsonl", ".json", ".txt")


def run_files(path: Path) -> list[Path]:
    """What importing `path` reads, one run per entry: the file itself, a mini-swe-agent folder as one run, or
    each data file directly inside any other folder (name order, so numbered run files land in order)."""
    if not path.exists():
        raise InputError(Where(str(path)), "no such file or folder")
    if not path.is_dir() or mini_swe.sniff(path, None):
        return [path]
    found = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix in RUN_FILE_SUFFIXES and not p.name.startswith("."))
    if not found:
        raise InputError(Where(str(path)), f"folder holds no trajectory files ({', '.join(RUN_FILE_SUFFIXES)}, "
                                           f"or mini-swe-agent {mini_swe.SUFFIX} files in any subfolder)")
    return found


def detect(path: Path) -> str:
    """Name of the format of `path`, from its name and first record."""
    if not path.exists():
        raise InputError(Where(str(path)), "no such file or folder")
    if path.is_dir():
        if mini_swe.sniff(path, None):
            return mini_swe.NAME
        raise InputError(Where(str(path)), f"folder holds no {mini_swe.SUFFIX} files")
    if path.name.endswith(mini_swe.SUFFIX):
        return mini_swe.NAME
    head = read_head(path)
    ensure_text(path, head)
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if not stripped:
        raise InputError(Where(str(path)), "file is empty")
    if reflexion.sniff(path, text):
        return reflexion.NAME
    first = _first_object(path, stripped)
    for module in (tau_bench, mini_swe, openai_chat, native):
        if module.sniff(path, first):
            return module.NAME
    raise InputError(Where(str(path), 1), "cannot tell the format from the first record; pass --format "
                                          f"({', '.join(FORMATS)})")


def _first_object(path: Path, stripped: str):
    if stripped.startswith("["):
        try:
            for _, value in iter_json_array(path, 16 * 1024 * 1024):
                return value
        except InputError:
            return None
        return None
    first_line = stripped.split("\n", 1)[0]
    try:
        return json.loads(first_line)
    except json.JSONDecodeError:
        pass
    if path.suffix == ".json" and path.stat().st_size <= 16 * 1024 * 1024:
        try:
            return json.loads(path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
    return None


def read(path: Path, fmt: str, options: ImportOptions) -> Iterator[Record | RunHeader | Skipped | BadRecord]:
    if fmt not in FORMATS:
        raise InputError(Where(str(path)), f"unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    if not path.exists():
        raise InputError(Where(str(path)), "no such file or folder")
    if not path.is_dir():
        ensure_text(path)
    return FORMATS[fmt].read(path, options)
