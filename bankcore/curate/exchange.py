"""The whole bank as gzip JSONL, and back: trajectories, truth, verdicts, items, provenance, history, settings.

One record per line, tagged with ``type``; a header line names the format and schema version. Ids, timestamps and
embeddings (with their model id) are kept, so export → import-bank → export is byte-identical.

Integrity (format v2). Every line starts with ``"chain"``: the SHA-256 of the previous line's digest followed by the
line's own bytes (without that key), and a last ``integrity`` line holds the chain head, the number of lines and the
count per record type. `import-bank` reads the whole file once before it writes anything and refuses, naming the
line, a line that was changed, dropped, inserted or reordered, a file cut short, and a history that does not hold
together: an item id given twice, event ids that do not increase, an item's history that does not start with the
event that created it, an event whose ``before`` is not the previous ``after``, an item row that is not the last
``after`` of its own history.

The limit, said plainly: the chain has no key, so whoever edits a file can recompute it. It catches careless edits,
truncation and corruption; against a deliberate forger only the history checks stand, and a forged event that is
consistent with the rest (an APPROVE appended with the right before/after and the row to match) passes them too.
An imported bank is therefore still untrusted input, and every active item passes the injection gate again
(`gate_imported_items`). Exports from before v2 carry no integrity record: they are still imported (history checks
included) and say so, unless ``strict`` is asked for.

Signed exports close that gap for whoever holds a secret key (`signing.ExportKey`, read from a file): the trailer then
carries ``signature``, an HMAC-SHA256 under the key of the trailer's other fields — the chain head, which commits
to every line in order, and the counts. Import with the key refuses an unsigned file, a file signed with another
key, and any change to any line (a recomputed chain moves the head, and the forger cannot sign the new one). Import
without the key reads a signed file as an unsigned one and says the signature was not checked. Without a key the
export is byte for byte what it was before signing existed. The key is never written, printed or shown in a repr;
the file names it only by ``key_id``, an HMAC of a fixed text, so a reader can tell "another key" from "altered".
Keys rotate through a key ring (`signing.KeyRing`): the first key signs, any key of the ring verifies, so an export
signed before a new key came in still imports, and one signed only by a retired key (dropped from the ring) does not.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..guard import gate
from .lifecycle import change_item, source_trajectories
from .signing import KEY_FILE_ENV, MIN_KEY_BYTES, ExportKey, KeyRing, as_ring, load_key, load_key_ring  # noqa: F401
from ..errors import BankcoreError, InputError, Where
from ..store.migrations import LATEST_VERSION
from ..models import (
    ContrastExtraction,
    Event,
    Extraction,
    ItemSource,
    LLMCall,
    MemoryItem,
    Retrieval,
    Run,
    Selection,
    Step,
    Trajectory,
    Truth,
    Verdict,
)

if TYPE_CHECKING:
    from ..store.protocols import BankStore

FORMAT = "bankcore-bank"
VERSION = 2  # v2: each line carries its hash-chain digest and an integrity trailer ends the file
CHAIN_FROM = 2  # the first format version whose files are chained
_CHAIN_OPEN = b'{"chain": "'
_CHAIN_LEN = len(_CHAIN_OPEN) + 64 + len(b'", ')
TRAILER = "integrity"
SIGNATURE = "signature"  # the trailer's key for the HMAC of its other fields
SIGNATURE_ALGORITHM = "hmac-sha256"
_SIGNED_CONTEXT = b"bankcore-bank signed export v1\n"  # so a MAC made for anything else never passes as one
SNAPSHOT_KEYS = ("title", "description", "content", "source", "status", "confidence", "domain", "flags",
                 "superseded_by", "version")
_TYPES: dict[str, type] = {
    "run": Run, "verdict": Verdict, "item": MemoryItem, "item_source": ItemSource, "event": Event,
    "extraction": Extraction, "retrieval": Retrieval, "llm_call": LLMCall,
    "selection": Selection, "contrast_extraction": ContrastExtraction,
}


def _signed_part(trailer: dict[str, Any]) -> bytes:
    """What the signature covers: every trailer field but the signature itself, in one canonical form."""
    return json.dumps({k: v for k, v in trailer.items() if k != SIGNATURE}, sort_keys=True).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


def _line(kind: str, value: Any) -> str:
    body = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return json.dumps({"type": kind, **body}, ensure_ascii=False, sort_keys=True, default=_plain) + "\n"


def _plain_lines(store: BankStore) -> Iterator[tuple[str, str]]:
    """(type, line) for every record, before chaining."""
    yield "header", json.dumps({"type": "header", "format": FORMAT, "version": VERSION, "schema": LATEST_VERSION},
                     sort_keys=True) + "\n"
    for key, value in store.iter_settings():
        yield "setting", _line("setting", {"key": key, "value": value})
    for run in store.list_runs():
        yield "run", _line("run", run)
    for traj, truth in store.iter_trajectories(with_truth=True):
        body = dataclasses.asdict(traj)
        body["truth"] = None if truth is None else dataclasses.asdict(truth)
        yield "trajectory", _line("trajectory", body)
    for kind, rows in (("verdict", store.iter_verdicts()), ("item", store.iter_items()),
                       ("item_source", store.iter_item_sources()), ("event", store.iter_events()),
                       ("extraction", store.iter_extractions()), ("retrieval", store.iter_retrievals()),
                       ("llm_call", store.iter_llm_calls()), ("selection", store.selections()),
                       ("contrast_extraction", store.contrast_extractions())):
        for row in rows:
            yield kind, _line(kind, row)


def _link(previous: bytes, line: bytes) -> bytes:
    return hashlib.sha256(previous + line).digest()


def iter_lines(store: BankStore, key: ExportKey | KeyRing | None = None) -> Iterator[str]:
    """The export, line by line: each record with its chain digest put first, then the integrity trailer (signed
    when a key is given)."""
    return _chained(_plain_lines(store), key)


def seal(records: Iterable[dict[str, Any]], key: ExportKey | KeyRing | None = None) -> Iterator[str]:
    """Parsed export records (their ``chain`` keys and trailer ignored) written back as a chained export, signed
    when `key` is given. For tools that rewrite exports — and a reminder that anyone can: the chain has no key (see
    the module docstring); only whoever holds the key can sign the result."""
    kept = ((r["type"], {k: v for k, v in r.items() if k != "chain"}) for r in records if r.get("type") != TRAILER)
    return _chained(((kind, json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n") for kind, body in kept), key)


def _chained(lines: Iterable[tuple[str, str]], key: ExportKey | KeyRing | None = None) -> Iterator[str]:
    head, counts, n = b"", {}, 0
    for kind, line in lines:
        head = _link(head, line.encode("utf-8"))
        counts[kind] = counts.get(kind, 0) + 1
        n += 1
        yield '{"chain": "' + head.hex() + '", ' + line[1:]
    trailer: dict[str, Any] = {"type": TRAILER, "algorithm": "sha256-chain", "head": head.hex(), "lines": n,
                               "counts": counts}
    if key is not None:
        signer = as_ring(key).signer
        trailer[SIGNATURE] = {"algorithm": SIGNATURE_ALGORITHM, "key_id": signer.key_id,
                              "mac": signer.mac(_SIGNED_CONTEXT, _signed_part(trailer))}
    yield json.dumps(trailer, sort_keys=True) + "\n"


def export_bank(store: BankStore, out: Path, on_line: Callable[[], None] | None = None, *,
                key: ExportKey | KeyRing | None = None) -> int:
    """Write the bank to `out` (gzip if the name ends in .gz), chained and sealed by its integrity trailer, which
    `key` signs when given. Returns the number of records (the trailer is not one)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as raw:
        # No file name and mtime=0 in the gzip header: equal banks give byte-identical files.
        fh = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if out.name.endswith(".gz") else raw
        with fh:
            for line in iter_lines(store, key):
                fh.write(line.encode("utf-8"))
                count += 1
                if on_line:
                    on_line()
    tmp.replace(out)
    return count - 1


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


@dataclasses.dataclass(frozen=True)
class Verified:
    """What `verify_export` found besides the records: whether the file carried an integrity record (False: an
    export from before v2), whether it was signed and the signature checked against a key, and its chain head."""

    sealed: bool
    signed: bool
    signature_checked: bool
    head: str
    signed_by: int | None = None  # with a key ring: the place of the key that signed (0: the ring's signing key)


def import_bank(store: BankStore, path: Path, on_line: Callable[[], None] | None = None, *,
                strict: bool = False, key: ExportKey | KeyRing | None = None) -> dict[str, int]:
    """Restore an export into an empty bank, in one transaction, after `verify_export` has read the whole file and
    found it whole and consistent — and, with `key`, signed by it (so a tampered file changes nothing). Returns
    counts per record type, with ``no_integrity_record`` 1 for an export from before the chain (refused when
    `strict`), ``signature_verified`` 1 when `key` checked the signature (with ``signature_key`` the place in the ring
    of the key that signed it: 0 the signing key, more an older one), ``signature_not_checked`` 1 for a signed file
    read without a key."""
    verified = verify_export(path, strict=strict, key=key)
    counts: dict[str, int] = {}
    with store.transaction():
        if any(store.count(t) for t in ("runs", "trajectories", "memory_items", "verdicts")):
            raise BankcoreError(f"{store.location} is not empty; import-bank restores into an empty bank "
                                "(use --db with a new file)")
        batch: list[tuple[Trajectory, Truth | None]] = []
        reading = _ExportReader(path, key)
        for where, record in reading:  # chained (and signed) again: a file edited since the check is refused here
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
        if reading.head.hex() != verified.head:
            raise InputError(Where(str(path)), "the file changed while it was being imported (its chain head "
                             "differs from the one checked): nothing was imported")
        flagged = gate_imported_items(store)
    counts.pop("header", None)
    if flagged:
        counts["flagged_on_import"] = len(flagged)
    if not verified.sealed:
        counts["no_integrity_record"] = 1
    if verified.signature_checked:
        counts["signature_verified"] = 1
        counts["signature_key"] = verified.signed_by or 0
    elif verified.signed:
        counts["signature_not_checked"] = 1
    return counts


def verify_export(path: Path, *, strict: bool = False, key: ExportKey | KeyRing | None = None) -> Verified:
    """Read a whole export without writing anything and raise one located `InputError` at the first thing wrong
    with it: the hash chain and trailer (see the module docstring), with `key` its signature (a file not signed by
    that key is refused), then the history. An export from before v2 is accepted unless `strict` or `key`. With a
    key, a history check that fails is held until the signature has been checked at the end of the file, so a
    tampered signed file is named as such rather than by whichever inconsistency the forger left first."""
    items: dict[int, tuple[int, dict[str, Any]]] = {}        # item id -> (line, record)
    last: dict[int, tuple[int, dict[str, Any]]] = {}         # item id -> (line, its latest event so far)
    last_event_id: int | None = None

    def see(where: Where, record: dict[str, Any]) -> None:
        nonlocal last_event_id
        kind = record.get("type")
        if kind == "item":
            item_id = record.get("item_id")
            if item_id in items:
                raise InputError(where.at("item_id"), f"item {item_id} appears twice (first on line "
                                 f"{items[item_id][0]})")
            items[item_id] = (where.line, {k: record[k] for k in (*SNAPSHOT_KEYS, "last_event_id") if k in record})
        elif kind == "event":
            event_id, item_id = record.get("event_id"), record.get("item_id")
            if not isinstance(event_id, int) or (last_event_id is not None and event_id <= last_event_id):
                raise InputError(where.at("event_id"), f"event {event_id!r} does not come after event "
                                 f"{last_event_id} (event ids are unique and increase)")
            last_event_id = event_id
            previous = last.get(item_id)
            before = record.get("before")
            if previous is None and before is not None:
                raise InputError(where.at("before"), f"item {item_id}'s history starts at event {event_id} "
                                 f"({record.get('kind')}), which changes an existing state: the event that "
                                 "created the item is missing")
            if previous is not None and before != previous[1].get("after"):
                raise InputError(where.at("before"), f"event {event_id} ({record.get('kind')}) of item {item_id} "
                                 f"does not start where event {previous[1].get('event_id')} (line {previous[0]}) "
                                 "left it: the history was edited or an event dropped")
            last[item_id] = (where.line, record)

    reading = _ExportReader(path, key)
    held: InputError | None = None
    for where, record in reading:
        if record.get("type") == "header":
            _check_header(record, where)
            if record.get("version", 0) < CHAIN_FROM and strict:
                raise InputError(where.at("version"), "this export carries no integrity record (written before "
                                 "format v2); --strict refuses it")
        elif held is None:
            try:
                see(where, record)
            except InputError as exc:
                if key is None:
                    raise
                held = exc
    if held is not None:
        raise held
    for item_id, (line, item) in items.items():
        where = Where(str(path), line)
        if item_id not in last:
            raise InputError(where, f"item {item_id} has no history (no event created it)")
        event_line, event = last[item_id]
        after = event.get("after") or {}
        differing = [k for k in SNAPSHOT_KEYS if k in after and item.get(k) != after[k]]
        if item.get("last_event_id") != event.get("event_id"):
            differing.insert(0, "last_event_id")
        if differing:
            raise InputError(where.at(differing[0]), f"item {item_id} is not the last state of its history "
                             f"(event {event.get('event_id')}, line {event_line}) in "
                             f"{', '.join(differing)}: the row was edited off the log")
    orphans = sorted(set(last) - set(items))
    if orphans:
        line, event = last[orphans[0]]
        raise InputError(Where(str(path), line).at("item_id"),
                         f"event {event.get('event_id')} is the history of item {orphans[0]}, which the file "
                         "does not hold")
    return Verified(sealed=reading.sealed, signed=reading.signed, signature_checked=reading.signed and key is not None,
                    head=reading.head.hex(), signed_by=reading.signed_by)


def gate_imported_items(store: BankStore) -> list[int]:
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


# Called on the store given (not as `Store.add_x`), so an import writes through whichever backend holds the bank.
_ADDERS: dict[str, Callable[[BankStore, Any], Any]] = {
    "verdict": lambda store, v: store.add_verdict(v), "item": lambda store, i: store.add_item(i),
    "item_source": lambda store, s: store.add_item_source(s), "event": lambda store, e: store.add_event(e),
    "extraction": lambda store, e: store.add_extraction(e), "retrieval": lambda store, r: store.add_retrievals([r]),
    "llm_call": lambda store, c: store.add_llm_call(c), "selection": lambda store, s: store.add_selection(s),
    "contrast_extraction": lambda store, c: store.add_contrast_extraction(c),
}


def _check_header(record: dict[str, Any], where: Where) -> None:
    if record.get("format") != FORMAT:
        raise InputError(where.at("format"), f"not a bankcore export (format {record.get('format')!r})")
    if record.get("version", 0) > VERSION:
        raise InputError(where.at("version"), f"export format v{record['version']} is newer than this bankcore")


class _ExportReader:
    """One pass over an export: its records, each checked against the hash chain as it is read (a v2 file), and the
    trailer checked at the end — with its signature when a key is given. The chain key and the trailer are not
    yielded. After the pass: `sealed` (the file is chained), `signed` (its trailer carries a signature) and `head`."""

    def __init__(self, path: Path, key: ExportKey | KeyRing | None = None):
        self.path, self.ring = path, None if key is None else as_ring(key)
        self.sealed = self.signed = False
        self.signed_by: int | None = None  # the place in the ring of the key that signed the file, once checked
        self.head = b""

    def __iter__(self) -> Iterator[tuple[Where, dict[str, Any]]]:
        path, name = self.path, str(self.path)
        if not path.exists():
            raise InputError(Where(name), "no such file")
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        head, counts, n, trailer = b"", {}, 0, None
        try:
            with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
                for lineno, raw in enumerate(fh, 1):
                    where = Where(name, lineno)
                    if trailer is not None:
                        raise InputError(where, f"a line after the integrity trailer (line {trailer}): "
                                         "lines were appended to the export")
                    chained = raw.startswith(_CHAIN_OPEN)
                    if chained:
                        stated = raw[len(_CHAIN_OPEN):_CHAIN_LEN - 3].decode("ascii", "replace")
                        raw = b"{" + raw[_CHAIN_LEN:]
                        head = _link(head, raw)
                        if raw[-1:] != b"\n" or head.hex() != stated:
                            raise InputError(where, f"line {lineno} breaks the export's hash chain: it was changed, "
                                             "or a line was dropped, inserted or reordered just before it")
                    record = _loads(raw, where)
                    if lineno == 1:
                        self.sealed = chained or record.get("version", 0) >= CHAIN_FROM
                    if record.get("type") == TRAILER and self.sealed and not chained:
                        _check_trailer(record, where, head, n, counts)
                        self.signed = SIGNATURE in record
                        if self.ring is not None and self.signed:
                            self.signed_by = _check_signature(record, where, self.ring)
                        trailer = lineno
                        continue
                    if self.sealed and not chained:
                        raise InputError(where, f"line {lineno} carries no chain digest: it was inserted or edited")
                    if not self.sealed and "chain" in record:
                        raise InputError(where.at("chain"), "a chained line in an export whose header is not chained")
                    record.pop("chain", None)
                    kind = record.get("type")
                    counts[kind] = counts.get(kind, 0) + 1
                    n += 1
                    yield where, record
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise InputError(Where(name), f"unreadable or truncated export ({exc})") from None
        if self.sealed and trailer is None:
            raise InputError(Where(name, n + 1), f"the export ends after line {n} without its integrity trailer: "
                             "the file was cut short")
        if self.ring is not None and not self.signed:
            raise InputError(Where(name, trailer), "the export is not signed, and a key was given to check its "
                             "signature: an unsigned file (or one whose signature was stripped) is refused")
        self.head = head


def _loads(raw: bytes, where: Where) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(where, f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(where, "expected a JSON object per line")
    return record


def _check_trailer(record: dict[str, Any], where: Where, head: bytes, n: int, counts: dict[str, int]) -> None:
    if record.get("head") != head.hex():
        raise InputError(where.at("head"), "the chain head does not match the lines before it")
    if record.get("lines") != n:
        raise InputError(where.at("lines"), f"the trailer counts {record.get('lines')} lines, the file has {n}: "
                         "lines were dropped or added")
    if record.get("counts") != counts:
        raise InputError(where.at("counts"), "the record counts per type do not match the file")


def _check_signature(record: dict[str, Any], where: Where, ring: KeyRing) -> int:
    """Check the trailer's signature against the ring; returns the place in the ring of the key that signed it."""
    signature = record.get(SIGNATURE)
    if not isinstance(signature, dict) or signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise InputError(where.at(SIGNATURE), f"not a {SIGNATURE_ALGORITHM} signature this bankcore can check")
    position = ring.position(signature.get("key_id"))
    if position is None:
        raise InputError(where.at(SIGNATURE), f"signed with another key (key id {str(signature.get('key_id'))[:16]!r}; "
                         f"{ring.describe()})")
    stated = str(signature.get("mac", "")).encode("utf-8", "replace")
    if not hmac.compare_digest(stated, ring.keys[position].mac(_SIGNED_CONTEXT, _signed_part(record)).encode("ascii")):
        raise InputError(where.at(SIGNATURE), "the signature does not match: the file was altered after it was "
                         "signed (a line changed, dropped, added or reordered, and the chain recomputed)")
    return position
