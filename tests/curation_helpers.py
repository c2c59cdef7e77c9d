"""Shared setup for the curation tests: a small bank of realistic lessons with real embeddings and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from bankcore import Bank
from bankcore.curate import lifecycle
from bankcore.search.embed import Embedder
from bankcore.models import ItemSource, MemoryItem

# (title, description, content, source, domain, task). Measured with all-MiniLM-L6-v2: the two reservation lessons
# are 0.84 similar, the two search lessons 0.83, the confirm/never-confirm pair 0.93; every other pair < 0.55.
LESSONS = [
    ("Verify the reservation before cancelling", "Check a booking's id and status before cancelling it.",
     "Look up the reservation by id and confirm its status before calling cancel. Cancelling the wrong booking "
     "cannot be undone.", "success", "airline", "air-1"),
    ("Look up the reservation before cancelling", "Cancelling without looking up the booking failed.",
     "Always look up the reservation and confirm its status before cancelling it. Check the cancellation policy "
     "of the fare class too.", "failure", "airline", "air-2"),
    ("Always ask the user to confirm before booking", "Get explicit confirmation of the itinerary.",
     "Always ask the user to confirm the itinerary before booking a flight.", "success", "airline", "air-3"),
    ("Never ask the user to confirm before booking", "Confirmation wastes turns.",
     "Never ask the user to confirm the itinerary before booking a flight.", "failure", "airline", "air-4"),
    ("Check the baggage allowance by membership tier", "Free bags depend on tier and cabin.",
     "Read the user's membership tier and cabin class before quoting free checked bags.", "success", "airline",
     "air-5"),
    ("Search the exact entity name first", "Exact names find the right page.",
     "Search for the exact full name of the entity; if the search fails, try the closest suggested title.",
     "success", "hotpotqa", "hp-1"),
    ("Search for the entity's exact title", "Exact titles avoid disambiguation pages.",
     "Search for the exact full title of the entity, and when search fails pick the closest similar title it "
     "suggests.", "failure", "hotpotqa", "hp-2"),
    ("Use Lookup for keywords in long pages", "Lookup jumps to the sentence.",
     "When a page is long, use Lookup with a distinctive keyword instead of searching again.", "success",
     "hotpotqa", "hp-3"),
]
THRESHOLD = 0.8


def write_trajectories(path: Path) -> Path:
    """One native trajectory per lesson, so items have real evidence (and task ids) behind them."""
    with path.open("w") as f:
        for title, _, _, source, domain, task in LESSONS:
            f.write(json.dumps({"task_id": task, "domain": domain, "query": f"Task {task}: {title.lower()}",
                                "steps": [{"thought": "think", "action": "act", "observation": "saw"}],
                                "truth": {"success": source == "success"}}) + "\n")
    return path


def add_lessons(bank: Bank, tmp_path: Path, *, extractor: str = "heuristic:1", status: str = "pending") -> list[int]:
    bank.import_path(write_trajectories(tmp_path / "lessons.jsonl"))
    by_task = {t.task_id: t.traj_id for t in bank.store.iter_trajectories()}
    items = [MemoryItem(title, description, content, source=source, domain=domain, extractor_id=extractor,
                        status=status, confidence=0.5)
             for title, description, content, source, domain, _ in LESSONS]
    Embedder().embed_items(items)
    ids = []
    for item, lesson in zip(items, LESSONS):
        lifecycle.add_item(bank.store, item, [ItemSource(0, "evidence", traj_id=by_task[lesson[5]], step_idxs=[0])],
                          actor=extractor)
        ids.append(item.item_id)
    return ids


def add_unembedded_lessons(bank: Bank, folder: Path, lessons=LESSONS) -> list[int]:
    """`lessons` as pending items, each citing its own trajectory, without vectors: a history to export or check,
    not to search (embedding them would cost the tests that use it a model load)."""
    bank.import_path(write_trajectories(folder / "lessons.jsonl"))
    by_task = {t.task_id: t.traj_id for t in bank.store.iter_trajectories()}
    ids = []
    for title, description, content, source, domain, task in lessons:
        item = MemoryItem(title, description, content, source=source, domain=domain, extractor_id="heuristic:1",
                          confidence=0.5)
        lifecycle.add_item(bank.store, item, [ItemSource(0, "evidence", traj_id=by_task[task], step_idxs=[0])],
                          actor="heuristic:1")
        ids.append(item.item_id)
    return ids


def state(item: MemoryItem) -> dict:
    """Everything about an item except the bookkeeping that every write moves forward."""
    return {k: v for k, v in vars(item).items() if k not in ("last_event_id", "updated_at")}


def tampered(tmp_path: Path, source: Path, *statements: str) -> Bank:
    """A copy of the bank changed behind its back, as a bad script or a hand-run SQL statement would."""
    db = tmp_path / "copy.duckdb"
    db.write_bytes(source.read_bytes())
    with duckdb.connect(str(db)) as con:
        for sql in statements:
            con.execute(sql)
    return Bank(db)
