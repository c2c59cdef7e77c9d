"""A copy of the retrieval cache's vectors beside the bank file, so opening a large bank does not re-read them all.

Reading a million 384-float vectors out of DuckDB takes seconds and, transiently, twice their size in memory; a
NumPy file is memory-mapped in milliseconds. Layout, in the folder `<bank file>.vectors/`:

    manifest.json          {"bank_id", "model_id", "dim", "rows", "token"}, replaced last and atomically
    <token>.vectors.npy    float32 (rows, dim), in item id order
    <token>.items.npy      int64 (rows, 2): item id, last event id of the item when its vector was copied

It is derived data: deleting the folder is always safe (the next open reads the bank and writes it again). A vector
is taken from it only for an item whose id *and* last event id match the bank's — every change to an item is a new
event, so a matching pair means the vector has not changed — and only if the snapshot was written for this bank
(its random `bank_id`) and this embedding model id — the retrieval recipe's (`embed.MODEL_ID`), so a snapshot of
vectors of an earlier recipe is never used. Anything else is read from the bank.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..lazy import lazy_module

np = lazy_module("numpy", globals())


@dataclass
class Snapshot:
    item_ids: np.ndarray  # int64, ascending
    last_events: np.ndarray  # int64, −1 for none
    vectors: np.ndarray  # float32 (rows, dim), memory-mapped copy-on-write


def folder(db_path: Path) -> Path:
    return Path(str(db_path) + ".vectors")


def read(db_path: Path, *, bank_id: str, model_id: str, dim: int) -> Snapshot | None:
    """The snapshot written for this bank and model, or None (absent, foreign, unreadable)."""
    where = folder(db_path)
    try:
        manifest = json.loads((where / "manifest.json").read_text("utf-8"))
        if (manifest.get("bank_id"), manifest.get("model_id"), manifest.get("dim")) != (bank_id, model_id, dim):
            return None
        items = np.load(where / f"{manifest['token']}.items.npy")
        vectors = np.load(where / f"{manifest['token']}.vectors.npy", mmap_mode="c")
    except (OSError, ValueError, KeyError):
        return None
    if vectors.shape != (len(items), dim) or vectors.dtype != np.float32:
        return None
    return Snapshot(item_ids=items[:, 0], last_events=items[:, 1], vectors=vectors)


def write(db_path: Path, *, bank_id: str, model_id: str, item_ids: np.ndarray, last_events: np.ndarray,
          vectors: np.ndarray) -> bool:
    """Write a new snapshot and switch the manifest to it; returns False (and leaves the old one) on an OS error."""
    where = folder(db_path)
    token = uuid.uuid4().hex[:12]
    events = np.where(np.isnan(last_events), -1, last_events).astype(np.int64)
    try:
        where.mkdir(exist_ok=True)
        np.save(where / f"{token}.items.npy", np.stack([np.asarray(item_ids, np.int64), events], axis=1))
        np.save(where / f"{token}.vectors.npy", np.ascontiguousarray(vectors, np.float32))
        staged = where / f"manifest.{token}.json"
        staged.write_text(json.dumps({"bank_id": bank_id, "model_id": model_id, "dim": int(vectors.shape[1]),
                                      "rows": int(len(item_ids)), "token": token}), "utf-8")
        os.replace(staged, where / "manifest.json")
    except OSError:
        return False
    for old in where.glob("*.npy"):  # readers that mapped an old file keep it alive until they let go
        if not old.name.startswith(token):
            old.unlink(missing_ok=True)
    return True


def lookup(snapshot: Snapshot | None, item_ids: np.ndarray, last_events: np.ndarray) -> np.ndarray:
    """Row of each item in the snapshot where its vector is current (same id, same last event), else −1."""
    if snapshot is None or not len(snapshot.item_ids):
        return np.full(len(item_ids), -1, np.int64)
    pos = np.minimum(np.searchsorted(snapshot.item_ids, item_ids), len(snapshot.item_ids) - 1)
    events = np.where(np.isnan(last_events), -2, last_events).astype(np.int64)
    current = (snapshot.item_ids[pos] == item_ids) & (snapshot.last_events[pos] == events)
    return np.where(current, pos, -1)
