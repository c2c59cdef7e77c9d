"""Human curation of items: approve, reject, edit, restore a version, un-merge, bulk decisions, contradictions.

Every operation is one or more `curation.change_item` calls — a new state plus an append-only event carrying the
actor and the reason — inside one transaction. Embeddings for new text are computed *before* the transaction, so
the file is never held while the model runs; the optimistic check on the item's last event then guarantees the
text that was embedded is still the text being replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..guard import gate
from . import lineage
from .lifecycle import add_item, change_item, require_text, source_trajectories
from ..search.embed import item_text
from ..errors import BankcoreError, ConflictError, NotFoundError
from ..models import TEXT_FIELDS, MemoryItem, Usefulness
from .policy import Policy, decide_merged, decide_new, origin
from .policy import actor as policy_actor

if TYPE_CHECKING:
    from ..store.protocols import CurationStore, ItemHistory

CONTRADICTS = "contradicts:"  # flag prefix: `contradicts:<other item id>` while a contradiction is open
HURTS_FLAG = "hurts_outcomes"  # measured usefulness says tasks given this item fail more often: a person decides
REVIEWABLE = {"approve": ("pending", "rejected", "archived"), "reject": ("pending", "approved", "archived")}


def _refuse_superseded(item: MemoryItem, what: str) -> None:
    if item.status == "superseded":
        raise BankcoreError(f"cannot {what} item {item.item_id}: it is superseded by item {item.superseded_by} "
                            f"(un-merge {item.superseded_by} to bring it back)")


def decide(store: CurationStore, item_id: int, action: str, *, actor: str, reason: str | None = None,
           expected_event_id: int | None = None, batch_id: str | None = None) -> MemoryItem:
    """Approve or reject one item.

    A person's approval answers the flags that asked for one (suspected injection, source re-judged), so it clears
    them — the APPROVE event keeps them in its before-state. Approving an item that is already approved but was
    flagged since (its source was re-judged) is how a reviewer says "still right, keep it". Contradiction flags
    stay: they are settled by deciding the pair (`resolve_contradiction`).

    One transaction: the flags cleared are those of the state written over (not of a read another writer may have
    changed since), and on DuckDB the file is opened once, not twice (~20 ms of CPU each)."""
    with store.transaction():
        item = store.get_item(item_id)
        _refuse_superseded(item, action)
        answered = [f for f in item.flags if not f.startswith(CONTRADICTS)] if action == "approve" else []
        if item.status not in REVIEWABLE[action] and not (action == "approve" and needs_keep_decision(item)):
            raise BankcoreError(f"item {item_id} is already {item.status}")
        changes: dict[str, Any] = {"status": "approved" if action == "approve" else "rejected"}
        if answered:
            changes["flags"] = [f for f in item.flags if f not in answered]
        return change_item(store, item_id, kind=action.upper(), actor=actor, reason=reason,
                           expected_event_id=expected_event_id, batch_id=batch_id, **changes)


def needs_keep_decision(item: MemoryItem) -> bool:
    """An approved item flagged since its approval: a person either keeps it (approve again) or rejects it."""
    return item.status == "approved" and any(not f.startswith(CONTRADICTS) for f in item.flags)


@dataclass(frozen=True)
class BulkResult:
    decided: list[int]
    skipped_flagged: list[int]  # bulk approval never covers a flagged item: each needs a human to read it
    batch_id: str | None = None  # the decisions' batch: what an undo of this bulk decision reverses


def bulk_decide(store: CurationStore, action: str, *, actor: str, reason: str | None = None,
                **filters: Any) -> BulkResult:
    """Approve or reject every item matching `filters` (store.query_items filters; default: pending), at once.

    One transaction and one batch id: either every matching item is decided or none is. Flagged items (e.g.
    suspected_injection) are left out of a bulk approval and listed, so they are approved one at a time or not at all.
    """
    filters.setdefault("status", "pending")
    matches = [i for i in store.query_items(**filters) if i.status in REVIEWABLE[action]]
    skipped = [i.item_id for i in matches if action == "approve" and i.flags]
    batch = store.new_batch_id("bulk")
    with store.transaction():
        for item in matches:
            if item.item_id not in skipped:
                decide(store, item.item_id, action, actor=actor, reason=reason, batch_id=batch)
    return BulkResult([i.item_id for i in matches if i.item_id not in skipped], skipped, batch)


def write_lesson(store: CurationStore, *, actor: str, embedder, title: str, description: str, content: str,
                 domain: str | None = None, reason: str | None = None) -> MemoryItem:
    """A lesson a person wrote (source `manual`): approved as written, since its author is the reviewer — unless the
    injection gate flags its text, which then waits for an explicit approval like any flagged lesson (a pasted
    "always transfer …" is not vouched for by being typed in).

    Embedded before the write, like every item, and recorded with an ADD event by its author. Curators use it to
    seed a bank with what the team already knows, or to write the lesson the extractor missed.
    """
    if not actor.startswith("human:"):
        raise BankcoreError("a manual lesson is written by a person (actor human:<name>)")
    fields = require_text({"title": title, "description": description, "content": content})
    if len(fields) < len(TEXT_FIELDS):
        raise BankcoreError("a lesson needs a title, a description and content")
    item = MemoryItem(**fields, source="manual", status="approved", confidence=1.0, domain=domain or None,
                      extractor_id=actor)
    embedder.embed_items([item])
    return add_item(store, item, [], actor=actor, reason=reason or "written by a reviewer")


def edit(store: CurationStore, item_id: int, *, actor: str, embedder, reason: str | None = None,
         expected_event_id: int | None = None, **fields: str | None) -> MemoryItem:
    """Change title/description/content; re-embeds. Refused if the item changed since `expected_event_id`.

    The new text passes the injection gate, compared with the item's source trajectories too: an edit that brings
    in an injected instruction is flagged and, if the item was approved, goes back to pending until a person
    approves it explicitly."""
    cleaned = require_text(fields)
    item = store.get_item(item_id)
    _refuse_superseded(item, "edit")
    stale = expected_event_id is not None and item.last_event_id != expected_event_id  # refused in change_item
    if not stale and all(getattr(item, k) == v for k, v in cleaned.items()):
        raise BankcoreError(f"edit changes nothing in item {item_id}")
    return _rewrite(store, item, cleaned, kind="EDIT", actor=actor, reason=reason, embedder=embedder,
                    expected_event_id=expected_event_id or item.last_event_id)


def restore(store: CurationStore, item_id: int, version: int, *, actor: str, embedder, reason: str | None = None,
            expected_event_id: int | None = None) -> MemoryItem:
    """Bring back the text of an earlier version, as a new version (RESTORE event); re-embeds."""
    item = store.get_item(item_id)
    _refuse_superseded(item, "restore")
    found = {v.version: v for v in lineage.versions(store.item_events(item_id))}
    if version not in found:
        raise NotFoundError(f"item {item_id} has no version {version} (versions: "
                            f"{', '.join(map(str, sorted(found)))})")
    target = found[version]
    if all(getattr(item, k) == getattr(target, k) for k in TEXT_FIELDS):
        raise BankcoreError(f"item {item_id} already has the text of version {version}")
    return _rewrite(store, item, target.text_fields(), kind="RESTORE", actor=actor,
                    reason=reason or f"restored version {version}", embedder=embedder,
                    expected_event_id=expected_event_id or item.last_event_id,
                    related={"restored_version": version, "from_event": target.event_id})


def _rewrite(store: CurationStore, item: MemoryItem, fields: dict[str, str], *, kind, actor, reason, embedder,
             expected_event_id, related=None) -> MemoryItem:
    draft = MemoryItem(**{**{k: getattr(item, k) for k in TEXT_FIELDS}, **fields}, source=item.source,
                       status=item.status, flags=list(item.flags), meta=dict(item.meta), extractor_id=item.extractor_id)
    gate.check(draft, source_trajectories(store, item.item_id))
    gate.ask_ahead([draft], getattr(store, "second_opinion", None))  # a model call, before the write holds the bank
    held = {k: getattr(draft, k) for k in ("flags", "meta", "status") if getattr(draft, k) != getattr(item, k)}
    vector = embedder.embed([item_text(draft)])[0]
    return change_item(store, item.item_id, kind=kind, actor=actor, reason=reason,
                       expected_event_id=expected_event_id, related=related, **fields, **held,
                       embedding=vector.tolist(), embedding_model=embedder.model_id)


def unmerge(store: CurationStore, item_id: int, *, actor: str, reason: str | None = None,
            expected_event_id: int | None = None) -> list[int]:
    """Undo a merge: each parent gets back its exact pre-merge state, the merged item is archived (UNMERGE events).

    Refused when the merged item was itself merged further (un-merge that one first) or was already un-merged, and,
    with `expected_event_id`, when the merged item changed since that event (ConflictError, nothing written).
    Returns the restored parents.
    """
    child = store.get_item(item_id)
    merge = next((e for e in store.item_events(item_id) if e.kind == "MERGE"), None)
    if merge is None:
        raise BankcoreError(f"item {item_id} is not the result of a merge")
    if child.status == "superseded":
        raise BankcoreError(f"item {item_id} was merged again into item {child.superseded_by}; "
                            f"un-merge {child.superseded_by} first")
    if child.status == "archived" and any(e.kind == "UNMERGE" for e in store.item_events(item_id)):
        raise BankcoreError(f"item {item_id} was already un-merged")
    parents = merge.related.get("parents", [])
    batch = store.new_batch_id("unmerge")
    with store.transaction():
        for parent_id in parents:
            before = _pre_merge_state(store, parent_id, item_id)
            change_item(store, parent_id, kind="UNMERGE", actor=actor, reason=reason or f"un-merged {item_id}",
                        batch_id=batch, related={"unmerged_from": item_id}, **before)
        change_item(store, item_id, kind="UNMERGE", actor=actor, reason=reason or "un-merged", batch_id=batch,
                    related={"parents": parents}, status="archived", expected_event_id=expected_event_id)
    return parents


UNDOABLE = ("status", "flags", "confidence", "domain", *TEXT_FIELDS)  # what `undo` puts back (merges: `unmerge`)


def undo(store: CurationStore, event_ids: list[int], *, actor: str, embedder,
         reason: str | None = None) -> list[MemoryItem]:
    """Put each item these events changed back as it was before the first of them, as new RESTORE events in one
    transaction (nothing is deleted; the undone events stay in the history, named in `related`).

    The optimistic check is on the last of them: an item changed by anything since is refused (ConflictError) and
    nothing is written, so an undo never overwrites a later decision. Merges are undone by `unmerge`; additions are
    rejected, not undone. Text put back is re-embedded before the write, like an edit."""
    events = sorted((store.get_event(n) for n in set(event_ids)), key=lambda e: e.event_id)
    if not events:
        raise BankcoreError("nothing to undo")
    spans: dict[int, tuple[Any, Any]] = {}
    for e in events:
        if e.kind in ("ADD", "MERGE", "SUPERSEDE", "UNMERGE"):
            raise BankcoreError(f"event {e.event_id} ({e.kind}) is not undone this way"
                                + (": un-merge the merged item" if e.kind in ("MERGE", "SUPERSEDE") else ""))
        spans[e.item_id] = (spans.get(e.item_id, (e, e))[0], e)
    writes = []
    for item_id, (first, last) in spans.items():
        item = store.get_item(item_id)
        if item.last_event_id != last.event_id:
            later = store.item_events(item_id)[-1]
            raise ConflictError(f"item {item_id} changed since ({later.kind} by {later.actor}, event "
                                f"{later.event_id}): not undone, so that change is not overwritten")
        back = {k: first.before[k] for k in UNDOABLE if k in first.before and first.before[k] != getattr(item, k)}
        if any(k in back for k in TEXT_FIELDS):
            draft = MemoryItem(**{**{k: getattr(item, k) for k in TEXT_FIELDS},
                                  **{k: v for k, v in back.items() if k in TEXT_FIELDS}}, source=item.source)
            back.update(embedding=embedder.embed([item_text(draft)])[0].tolist(), embedding_model=embedder.model_id)
        if back:
            writes.append((item_id, last.event_id, back))
    undone = [e.event_id for e in events]
    batch = store.new_batch_id("undo")
    with store.transaction():
        return [change_item(store, item_id, kind="RESTORE", actor=actor, batch_id=batch,
                            reason=reason or f"undid {', '.join(sorted({e.kind.lower() for e in events}))}",
                            expected_event_id=seen, related={"undoes": undone}, **back)
                for item_id, seen, back in writes]


def _pre_merge_state(store: CurationStore, parent_id: int, child_id: int) -> dict[str, Any]:
    supersede = [e for e in store.item_events(parent_id)
                 if e.kind == "SUPERSEDE" and e.related.get("merged_into") == child_id]
    if not supersede:
        raise BankcoreError(f"item {parent_id} has no record of being merged into {child_id}")
    before = supersede[-1].before
    return {k: before[k] for k in ("status", "superseded_by", "flags", "confidence", "domain", *TEXT_FIELDS)}


def apply_policy(store: CurationStore, policy: Policy, *, item_ids=None) -> list[int]:
    """Let the policy approve the pending items it allows and no one has decided on yet. Returns those approved.

    Extraction calls this on the items it adds; it is also run by `bankcore policy apply` after a policy change.
    Items a human (or the policy) approved or rejected before are left alone.
    """
    decided = store.decided_item_ids()
    merges = {e.item_id: e for e in store.events_of_kind(["MERGE"])}
    pending = [i for i in store.query_items(status="pending", item_ids=item_ids) if i.item_id not in decided]
    approved = []
    batch = store.new_batch_id("policy")
    with store.transaction():
        for item in pending:
            if item.item_id in merges:
                decision = decide_merged(policy, item,
                                         parents_approved=merges[item.item_id].related.get("review_state") == "approved",
                                         by_llm=origin(item) == "llm")
            else:
                decision = decide_new(policy, item)
            if decision.approve:
                change_item(store, item.item_id, kind="APPROVE", actor=policy_actor(policy), reason=decision.reason,
                            expected_event_id=item.last_event_id, batch_id=batch, status="approved")
                approved.append(item.item_id)
    return approved


# ---------------------------------------------------------------------- contradictions
@dataclass(frozen=True)
class ContradictionPair:
    a: MemoryItem
    b: MemoryItem
    reason: str
    detector: str
    event_id: int
    open: bool
    resolution: str | None


def flag_contradiction(store: CurationStore, a: int, b: int, *, actor: str, reason: str,
                       similarity: float | None = None, batch_id: str | None = None) -> None:
    """Mark both items as contradicting each other (a CONTRADICTION event and a `contradicts:<id>` flag on each)."""
    related = {"pair": sorted((a, b)), "similarity": similarity}
    with store.transaction():
        for this, other in ((a, b), (b, a)):
            item = store.get_item(this)
            flag = f"{CONTRADICTS}{other}"
            change_item(store, this, kind="CONTRADICTION", actor=actor, reason=reason, batch_id=batch_id,
                        related=related, flags=sorted({*item.flags, flag}))


def resolve_contradiction(store: CurationStore, a: int, b: int, keep: str, *, actor: str,
                          reason: str | None = None) -> None:
    """A human's decision on a pair: keep both (clears the flags), or keep one and reject the other."""
    if keep not in ("both", str(a), str(b)):
        raise BankcoreError(f"--keep takes both, {a} or {b}")
    items = {i: store.get_item(i) for i in (a, b)}
    if not all(f"{CONTRADICTS}{other}" in items[this].flags for this, other in ((a, b), (b, a))):
        raise BankcoreError(f"items {a} and {b} are not an open contradiction")
    related = {"pair": sorted((a, b)), "resolution": "keep-both" if keep == "both" else f"keep-{keep}"}
    batch = store.new_batch_id("resolve")
    with store.transaction():
        for this, other in ((a, b), (b, a)):
            flags = [f for f in items[this].flags if f != f"{CONTRADICTS}{other}"]
            changes: dict[str, Any] = {"flags": flags}
            if keep not in ("both", str(this)):
                changes["status"] = "rejected"
            change_item(store, this, kind="CONTRADICTION" if "status" not in changes else "REJECT", actor=actor,
                        reason=reason or f"contradiction resolved: {related['resolution']}", batch_id=batch,
                        related=related, **changes)


def contradictions(store: ItemHistory, *, open_only: bool = True) -> list[ContradictionPair]:
    """Contradiction pairs, newest first: open ones (both still flagged) and, unless `open_only`, resolved ones."""
    events = store.events_of_kind(["CONTRADICTION", "REJECT"])
    raised: dict[tuple[int, int], Any] = {}
    resolved: dict[tuple[int, int], str] = {}
    for e in events:
        pair = tuple(e.related.get("pair") or ())
        if len(pair) != 2:
            continue
        if "resolution" in e.related:
            resolved[pair] = e.related["resolution"]
        elif e.kind == "CONTRADICTION":
            raised[pair] = e
            resolved.pop(pair, None)
    items = {i.item_id: i for i in store.get_items({n for p in raised for n in p})}
    pairs = []
    for (a, b), e in sorted(raised.items(), key=lambda kv: -kv[1].event_id):
        is_open = (f"{CONTRADICTS}{b}" in items[a].flags and f"{CONTRADICTS}{a}" in items[b].flags)
        if open_only and not is_open:
            continue
        pairs.append(ContradictionPair(items[a], items[b], e.reason or "", e.actor, e.event_id, is_open,
                                       resolved.get((a, b))))
    return pairs


def known_contradiction_pairs(store: ItemHistory) -> set[tuple[int, int]]:
    """Every pair ever surfaced as a contradiction: consolidation neither re-surfaces nor merges them."""
    return {tuple(e.related["pair"]) for e in store.events_of_kind(["CONTRADICTION"]) if e.related.get("pair")}


def hurting_to_flag(store: ItemHistory, measured: list[Usefulness]) -> list[tuple[MemoryItem, Usefulness]]:
    """Active items whose measured usefulness says they hurt (`Usefulness.hurts`) and that were never flagged for
    it before (once a person has seen that evidence, they decided)."""
    hurting = {u.item_id: u for u in measured if u.hurts}
    seen = store.latest_events_of(list(hurting), ["FLAG"])
    items = store.get_items(sorted(hurting), with_embedding=False)
    return [(i, hurting[i.item_id]) for i in items if i.status in ("pending", "approved")
            and not any(e.related.get("flag") == HURTS_FLAG for e in seen.get(i.item_id, []))]


def flag_hurting(store: CurationStore, measured: list[Usefulness], *, actor: str,
                 reason: str | None = None) -> list[int]:
    """Flag the items `hurting_to_flag` finds, so a person keeps one (approve) or rejects it; retrieval is
    unchanged until they do. One transaction, one batch; returns the ids flagged."""
    candidates = hurting_to_flag(store, measured)
    if not candidates:
        return []
    batch = store.new_batch_id("flag-hurting")
    with store.transaction():
        for item, u in candidates:
            change_item(store, item.item_id, kind="FLAG", actor=actor, batch_id=batch,
                        flags=item.flags + [HURTS_FLAG], reason=(reason + ": " if reason else "") + u.summary(),
                        related={"flag": HURTS_FLAG, "n_with": u.n_with, "success_with": u.success_with,
                                 "n_without": u.n_without, "success_without": u.success_without,
                                 "score": round(u.score, 4)})
    return [item.item_id for item, _ in candidates]
