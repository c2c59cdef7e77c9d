"""The one gate between new lesson text and an agent's prompt.

An item's text is pasted into future agents' prompts, so every path that writes or changes it — extraction,
contrast extraction, LLM and heuristic merges, human edits and restores, manual lessons, imported banks — passes
the item through this module before the approval policy looks at it. `curation.add_item` and `curation.change_item`
run `check` again on any new text, so a path added later cannot skip it, and the policy re-reads the text itself
(`holds_back`) before approving anything.

The gate only adds flags (with the reasons in `meta["injection_reasons"]`) and takes an approved item back to
pending; it never clears a flag on an item's own text — a person's approval answers a flag (`review.decide`). The one
place flags are dropped is a merge: the merged text is checked on its own, and a parent's flag is kept only if the
text that earned it survives into the merge.

Pure functions over values; the detection rules live in guard.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from . import guard
from .models import MemoryItem, Trajectory

FLAG = guard.FLAG
BORDERLINE = "borderline_injection"  # the rules are unsure: a person decides, the policy never approves it
HOLDING_FLAGS = (FLAG, BORDERLINE)
REASONS = "injection_reasons"
ACTOR = "gate:1"  # the actor of the FLAG events the gate writes on its own (import-bank)


@dataclass(frozen=True)
class Finding:
    """One reason to hold an item back: `severity` is "flag" (reads like an injected instruction) or "borderline"."""

    severity: str
    reason: str


_NO_TRAJECTORY = Trajectory(task_id="", query="", steps=[], source_format="none")


def text_findings(title: str, description: str, content: str) -> list[Finding]:
    """What the guard's rules say about a lesson's own words, with no trajectory to compare against.

    The single place the gate asks guard.py about lesson text: when the guard offers a severity-graded review of
    lesson text, it is called here and nowhere else."""
    probe = MemoryItem(title=title, description=description, content=content, source="manual")
    return [Finding("flag", r) for r in guard.item_injection_reasons(probe, _NO_TRAJECTORY, [])]


def trajectory_findings(item: MemoryItem, trajs: Sequence[Trajectory], *, provenance: bool) -> list[Finding]:
    """Reasons found by comparing the item with the trajectories it came from.

    With `provenance` (a lesson freshly distilled from them) a trajectory that tries to instruct its reader is a
    reason on its own, since the lesson may repeat the instruction in harmless words. Without (an edit, an
    imported item — a person may have judged the trajectory already), only text the item repeats word for word
    from an injected sentence counts."""
    found: list[Finding] = []
    for traj in trajs:
        injections = guard.find_injections(traj) if provenance else []
        found += [Finding("flag", r) for r in guard.item_injection_reasons(item, traj, injections)]
    return found


def holds_back(item: MemoryItem) -> list[str]:
    """Why the policy must not approve `item` without a person: its gate flags, or its text tripping the rules now
    (a path that skipped the gate still cannot slip text past the policy). Empty when nothing holds it."""
    held = [f for f in item.flags if f in HOLDING_FLAGS]
    if not held and (found := text_findings(item.title, item.description, item.content)):
        held = [f.reason for f in found]
    return held


def check(item: MemoryItem, trajs: Sequence[Trajectory] = (), *, provenance: bool = False) -> MemoryItem:
    """Run the guard over the item's text (and `trajs`, when it has any) and record what it finds on the item, in
    place: a FLAG (or BORDERLINE) flag, the reasons in meta, and an approved item back to pending. Idempotent."""
    found = _unique(text_findings(item.title, item.description, item.content) +
                    trajectory_findings(item, trajs, provenance=provenance))
    _record(item, found)
    return item


def check_all(items: Iterable[MemoryItem], trajs: Sequence[Trajectory]) -> list[MemoryItem]:
    """`check` for lessons just distilled from `trajs` (extraction, contrast extraction): provenance counts."""
    items = list(items)
    scanned = [(t, guard.find_injections(t)) for t in trajs]  # each trajectory scanned once, not once per item
    for item in items:
        found = text_findings(item.title, item.description, item.content)
        for traj, injections in scanned:
            found += [Finding("flag", r) for r in guard.item_injection_reasons(item, traj, injections)]
        _record(item, _unique(found))
    return items


def check_merged(child: MemoryItem, parents: Sequence[MemoryItem]) -> MemoryItem:
    """Gate a merged item: its own text is checked afresh, and a parent's injection flag is inherited only when the
    text that earned it survives into the merge (a sentence of it kept nearly word for word). A parent flagged for
    where it came from rather than for what it says counts all its text as flagged."""
    child.flags = [f for f in child.flags if f not in HOLDING_FLAGS]
    child.meta.pop(REASONS, None)
    found = []
    for parent in parents:
        held = [f for f in HOLDING_FLAGS if f in parent.flags]
        if not held:
            continue
        kept = _surviving(parent, child)
        if kept:
            severity = "flag" if FLAG in held else "borderline"
            found.append(Finding(severity, f"it keeps the flagged text of item {parent.item_id}: “{kept}”"))
    found += text_findings(child.title, child.description, child.content)
    _record(child, _unique(found))
    return child


# ---------------------------------------------------------------------- recording and survival (pure)
def _record(item: MemoryItem, found: list[Finding]) -> None:
    if not found:
        return
    severity = FLAG if any(f.severity == "flag" for f in found) else BORDERLINE
    if severity not in item.flags:
        item.flags = [*item.flags, severity]
    reasons = list(item.meta.get(REASONS) or [])
    item.meta = {**item.meta, REASONS: reasons + [f.reason for f in found if f.reason not in reasons]}
    if item.status == "approved":
        item.status = "pending"  # flagged text stays out of prompts until a person approves it again


def _unique(found: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in found:
        seen.setdefault(f.reason, f)
    return list(seen.values())


_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"[^\W_]+")


def _sentences(*texts: str) -> list[str]:
    return [s.strip() for t in texts for s in _SENTENCE.split(t or "") if s.strip()]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _surviving(parent: MemoryItem, child: MemoryItem, share: float = 0.8) -> str | None:
    """A flagged sentence of `parent` that `child` keeps: ≥ `share` of its words inside one sentence of the child.

    The flagged sentences are those that trip the rules on their own; if none does (the parent was flagged for its
    trajectory, or by a person), every sentence of the parent is flagged text."""
    parts = _sentences(parent.title, parent.description, parent.content)
    flagged = [s for s in parts if text_findings(s, "", "")] or parts
    child_words = [_words(s) for s in _sentences(child.title, child.description, child.content)]
    for sentence in flagged:
        words = _words(sentence)
        if words and any(len(words & cw) >= share * len(words) for cw in child_words):
            return " ".join(sentence.split())[:160]
    return None
