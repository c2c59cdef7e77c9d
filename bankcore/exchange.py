"""The whole bank as gzip JSONL, and back: trajectories, truth, verdicts, items, provenance, history, settings.

One record per line, tagged with ``type``; a header line names the format and schema version. Ids, timestamps and
embeddings (with their model id) are kept, so export → import-bank → export is byte-identical.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from . import gate
from .curation import change_item, source_trajectories
from .errors import BankcoreError, InputError, Where
from .migrations import LATEST_VERSION
from .models import (
    ContrastExtraction, Event, Extraction, ItemSource, LLMCall, MemoryItem, Retrieval, Run, Selection, Step,
    Trajectory, Truth, Verdict,
)
from .store import Store

FORMAT = "bankcore-bank"
VERSION = 1
_TYPES: dict[str, type] = {
    "run": Run, "verdict": Verdict, "item": MemoryItem, "item_source": ItemSource, "event": Event,
    "extraction": Extraction, "retrieval": Retrieval, "llm_call": LLMCall,
    "selection": Selection, "contrast_extraction": ContrastExtraction,
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


def _line(kind: str, value: Any) -> str:
    body = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return json.dumps({"type": kind, **body}, ensure_ascii=False, sort_keys=True, default=_plain) + "\n"


def iter_lines(store: Store) -> Iterator[str]:
    yield json.dumps({"type": "header", "format": FORMAT, "version": VERSION, "schema": LATEST_VERSION},
                     sort_keys=True) + "\n"
    for key, value in store.iter_settings():
        yield _line("setting", {"key": key, "value": value})
    for run in store.list_runs():
        yield _line("run", run)
    for traj, truth in store.iter_trajectories(with_truth=True):
        body = dataclasses.asdict(traj)
        body["truth"] = None if truth is None else dataclasses.asdict(truth)
        yield _line("trajectory", body)
    for kind, rows in (("verdict", store.iter_verdicts()), ("item", store.iter_items()),
                       ("item_source", store.iter_item_sources()), ("event", store.iter_events()),
                       ("extraction", store.iter_extractions()), ("retrieval", store.iter_retrievals()),
                       ("llm_call", store.iter_llm_calls()), ("selection", store.selections()),
                       ("contrast_extraction", store.contrast_extractions())):
        for row in rows:
            yield _line(kind, row)


def export_bank(store: Store, out: Path, on_line: Callable[[], None] | None = None) -> int:
    """Write the bank to `out` (gzip if the name ends in .gz). Returns the number of records."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as raw:
        # No file name and mtime=0 in the gzip header: equal banks give byte-identical files.
        fh = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if out.name.endswith(".gz") else raw
        with fh:
            for line in iter_lines(store):
                fh.write(line.encode("utf-8"))
                count += 1
                if on_line:
                    on_line()
    tmp.replace(out)
    return count


def _revive(cls: type, body: dict[str, Any], where: Where) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(body) - names
    if unknown:
        raise InputError(where.at(sorted(unknown)[0]), f"unknown field for {cls.__name__}")
    values = {}
    for key, value in body.items():
        if key.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(where, f"bad {cls.__name__} record ({exc})") from None


def _trajectory(body: dict[str, Any], where: Where) -> tuple[Trajectory, Truth | None]:
    truth_body = body.pop("truth", None)
    steps = [_revive(Step, s, where.at(f"steps[{i}]")) for i, s in enumerate(body.pop("steps", []))]
    traj = _revive(Trajectory, {**body, "steps": []}, where)
    traj.steps = steps
    truth = None if truth_body is None else _revive(Truth, truth_body, where.at("truth"))
    return traj, truth


def import_bank(store: Store, path: Path, on_line: Callable[[], None] | None = None) -> dict[str, int]:
    """Restore an export into an empty bank, in one transaction. Returns counts per record type."""
    counts: dict[str, int] = {}
    with store.transaction():
        if any(store.count(t) for t in ("runs", "trajectories", "memory_items", "verdicts")):
            raise BankcoreError(f"{store.path} is not empty; import-bank restores into an empty bank "
                                "(use --db with a new file)")
        batch: list[tuple[Trajectory, Truth | None]] = []
        for where, record in _records(path):
            kind = record.pop("type", None)
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "header":
                _check_header(record, where)
            elif kind == "setting":
                store.set_setting(record["key"], record["value"])
            elif kind == "run":
                store.add_run(_revive(Run, record, where))
            elif kind == "trajectory":
                batch.append(_trajectory(record, where))
                if len(batch) >= 1000:
                    store.insert_trajectories(batch)
                    batch = []
            elif kind in _TYPES:
                value = _revive(_TYPES[kind], record, where)
                _ADDERS[kind](store, value)
            else:
                raise InputError(where.at("type"), f"unknown record type {kind!r}")
            if on_line:
                on_line()
        store.insert_trajectories(batch)
        if "header" not in counts:
            raise InputError(Where(str(path)), "not a bankcore export (no header line)")
        flagged = gate_imported_items(store)
    counts.pop("header", None)
    if flagged:
        counts["flagged_on_import"] = len(flagged)
    return counts


def gate_imported_items(store: Store) -> list[int]:
    """Pass every active imported item through the injection gate: an export is untrusted input (its rows, flags and
    approvals may have been edited), so the words that would reach a prompt are checked again (with their source
    trajectories as context), and what the gate holds back gets a FLAG event and leaves retrieval until a person
    approves it. Whether a trajectory itself carried an injection is not raised again: a reviewer may have judged
    that already, and re-raising it on every import would undo the judgement (a forged history is the export
    check's to catch). An item the gate passes is left untouched, so a
    clean bank round-trips byte for byte. Returns the flagged ids."""
    flagged = []
    for item in store.query_items(status=["pending", "approved"]):
        checked = gate.check_stored(dataclasses.replace(item, flags=list(item.flags), meta=dict(item.meta)),
                                    lambda: source_trajectories(store, item.item_id))
        if (checked.flags, checked.status) == (item.flags, item.status):
            continue
        change_item(store, item.item_id, kind="FLAG", actor=gate.ACTOR, flags=checked.flags, meta=checked.meta,
                    status=checked.status, expected_event_id=item.last_event_id,
                    reason="import-bank: the injection gate holds this text back until a person approves it",
                    related={"flag": checked.flags[-1], "on": "import-bank"})
        flagged.append(item.item_id)
    return flagged


_ADDERS: dict[str, Callable[[Store, Any], Any]] = {
    "verdict": Store.add_verdict, "item": Store.add_item, "item_source": Store.add_item_source,
    "event": Store.add_event, "extraction": Store.add_extraction,
    "retrieval": lambda store, r: store.add_retrievals([r]), "llm_call": Store.add_llm_call,
    "selection": Store.add_selection, "contrast_extraction": Store.add_contrast_extraction,
}


def _check_header(record: dict[str, Any], where: Where) -> None:
    if record.get("format") != FORMAT:
        raise InputError(where.at("format"), f"not a bankcore export (format {record.get('format')!r})")
    if record.get("version", 0) > VERSION:
        raise InputError(where.at("version"), f"export format v{record['version']} is newer than this bankcore")


def _records(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    name = str(path)
    if not path.exists():
        raise InputError(Where(name), "no such file")
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            for lineno, raw in enumerate(fh, 1):
                where = Where(name, lineno)
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise InputError(where, f"not valid JSON ({exc})") from None
                if not isinstance(record, dict):
                    raise InputError(where, "expected a JSON object per line")
                yield where, record
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(Where(name), f"unreadable or truncated export ({exc})") from None
