"""The life of a memory item: every write is the item's new state plus one append-only event.

`add_item` and `change_item` are the only ways items are written; they keep `memory_items` (the current state)
and `memory_events` (the history, with before/after snapshots) in step inside one transaction. Nothing here, or
anywhere, deletes an item or an event. Both pass any new or changed text through the injection gate (`gate.check`)
before it is stored, whatever path wrote it, so the event records the flags the text earned — with the LLM's second
opinion when the store was given a way to reach one (`store.second_opinion`, set by `Bank`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..guard import gate
from ..errors import BankcoreError, ConflictError, NotFoundError
from ..models import TEXT_FIELDS, Event, ItemSource, MemoryItem

if TYPE_CHECKING:
    from ..store.protocols import CurationStore

MUTABLE = {"title", "description", "content", "source", "status", "confidence", "domain", "flags",
           "superseded_by", "embedding", "embedding_model", "meta"}


def add_item(store: CurationStore, item: MemoryItem, sources: Iterable[ItemSource] = (), *, actor: str,
             kind: str = "ADD", reason: str | None = None, batch_id: str | None = None,
             related: dict[str, Any] | None = None) -> MemoryItem:
    """Store a new item with its provenance and its first event."""
    sources = list(sources)
    gate.check_stored(item, lambda: store.get_trajectories(sorted({s.traj_id for s in sources if s.traj_id})),
                      opinion_source=getattr(store, "second_opinion", None))
    with store.transaction():
        store.add_item(item)
        for source in sources:
            source.item_id = item.item_id
        store.add_item_sources(sources)
        event = store.add_event(Event(item_id=item.item_id, kind=kind, actor=actor, reason=reason, before=None,
                                      after=item.snapshot(), related=related or {}, batch_id=batch_id))
        item.last_event_id = event.event_id
        store.update_item(item, with_embedding=False)  # the vector was inserted with the row
    return item


def change_item(store: CurationStore, item_id: int, *, kind: str, actor: str, reason: str | None = None,
                expected_event_id: int | None = None, batch_id: str | None = None,
                related: dict[str, Any] | None = None, **changes: Any) -> MemoryItem:
    """Apply `changes` to an item and append a `kind` event with the before/after snapshots.

    `expected_event_id` is an optimistic check: if the item's last event is not the one the caller saw, someone
    else changed it meanwhile and the write is refused (nothing is lost; the caller reloads and retries).
    A change to title/description/content is a new version; pass the new `embedding` with it.
    """
    _refuse_unknown(changes)
    with store.transaction():
        item = store.get_item(item_id)
        event = _changed(store, item, expected_event_id, changes, kind=kind, actor=actor, reason=reason,
                         batch_id=batch_id, related=related)
        item.last_event_id = store.add_event(event).event_id
        store.update_item(item, with_embedding=_writes_vector(event, changes))
    return item


def change_items(store: CurationStore, expected: dict[int, int | None], *, kind: str, actor: str,
                 reason: str | None = None, batch_id: str | None = None, related: dict[str, Any] | None = None,
                 **changes: Any) -> list[MemoryItem]:
    """`change_item` for several items (in `expected`'s order: item id → the last event the caller saw, or None),
    the same changes and one event each, in one transaction: the rows are read, their events appended and the items
    written a statement each for all of them (a merge's SUPERSEDEs: a round trip per step on PostgreSQL, not one
    per step per parent). Any optimistic check failing refuses them all."""
    _refuse_unknown(changes)
    with store.transaction():
        current = {i.item_id: i for i in store.lock_items(list(expected))}
        items, events = [], []
        for item_id, seen in expected.items():
            if item_id not in current:
                raise NotFoundError(f"no memory item {item_id}")
            items.append(current[item_id])
            events.append(_changed(store, items[-1], seen, changes, kind=kind, actor=actor, reason=reason,
                                   batch_id=batch_id, related=related))
        for item, event in zip(items, store.add_events(events)):
            item.last_event_id = event.event_id
        store.update_items(items, with_embedding=any(_writes_vector(e, changes) for e in events))
    return items


def _refuse_unknown(changes: dict[str, Any]) -> None:
    unknown = set(changes) - MUTABLE
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")


def _changed(store: CurationStore, item: MemoryItem, expected_event_id: int | None, changes: dict[str, Any], *,
             kind: str, actor: str, reason: str | None, batch_id: str | None,
             related: dict[str, Any] | None) -> Event:
    """Apply `changes` to `item` (read in this transaction) after its optimistic check; the event to record."""
    if expected_event_id is not None and item.last_event_id != expected_event_id:
        raise ConflictError(_conflict_message(store, item, expected_event_id))
    before = item.snapshot()
    for name, value in changes.items():
        setattr(item, name, value)
    if any(before[f] != getattr(item, f) for f in TEXT_FIELDS):
        gate.check_stored(item, lambda: source_trajectories(store, item.item_id),
                          opinion_source=getattr(store, "second_opinion", None))
        item.version += 1
        if "embedding" not in changes:
            item.embedding, item.embedding_model = None, None  # stale: must be re-embedded
    item.updated_at = store.clock()
    return Event(item_id=item.item_id, kind=kind, actor=actor, reason=reason, before=before, after=item.snapshot(),
                 related=related or {}, batch_id=batch_id)


def _writes_vector(event: Event, changes: dict[str, Any]) -> bool:
    """Whether a change sets the item's vector: a new one given, or none after a text change (a new version)."""
    return "embedding" in changes or "embedding_model" in changes or event.before["version"] != event.after["version"]


def source_trajectories(store: CurationStore, item_id: int) -> list:
    """The trajectories an item was learned from (a merge's inherited evidence included)."""
    sources = store.item_sources_of([item_id]).get(item_id, [])
    return store.get_trajectories(sorted({s.traj_id for s in sources if s.traj_id}))


def _conflict_message(store: CurationStore, item: MemoryItem, expected: int) -> str:
    last = store.item_events(item.item_id)[-1]
    return (f"item {item.item_id} was changed since you loaded it ({last.kind} by {last.actor} at "
            f"{last.created_at:%Y-%m-%d %H:%M:%S}, event {last.event_id}; you loaded event {expected}) — "
            "reload it and apply your change again")


def require_text(fields: dict[str, str]) -> dict[str, str]:
    """Validate edited text: every given field non-empty after trimming."""
    cleaned = {}
    for name, value in fields.items():
        if name not in TEXT_FIELDS:
            raise BankcoreError(f"cannot edit {name!r} (editable: {', '.join(TEXT_FIELDS)})")
        if value is None:
            continue
        value = " ".join(value.split()) if name != "content" else value.strip()
        if not value:
            raise BankcoreError(f"{name} must not be empty")
        cleaned[name] = value
    return cleaned
