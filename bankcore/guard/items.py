"""The guard applied to memory items: why an item distilled from a trajectory may carry an injected instruction
(`item_injection_reasons`), flagging in place (`flag_items`), and whether a flag blocks automatic approval."""

from __future__ import annotations

import re
from typing import Sequence

from ..models import MemoryItem, Trajectory
from .findings import BORDERLINE, FLAG, Injection
from .lesson_review import review_lesson
from .normalisation import normalise
from .rules import _LETTERS_ONLY
from .trajectory import find_injections, untrusted_texts

def item_injection_reasons(item: MemoryItem, traj: Trajectory, injections: list[Injection]) -> list[str]:
    """Why `item` (extracted from `traj`) may carry an injected instruction; empty when it looks clean.
    Flag-severity reasons only; `review_lesson` also gives the borderline ones."""
    reasons = []
    if injections:
        steps = sorted({i.step for i in injections if i.step is not None})
        where = f"steps {steps}" if steps else "the task text"
        reasons.append(f"its trajectory contains text that tries to instruct the agent ({where}: "
                       f"{', '.join(sorted({i.pattern for i in injections}))})")
    text = f"{item.title}\n{item.description}\n{item.content}"
    sources = [traj] if traj.query or traj.steps else []
    own = [f for f in review_lesson(text, sources) if f.severity == "flag"]
    if own:
        reasons.append("the lesson itself reads like an order: " + "; ".join(
            dict.fromkeys(f.reason.replace("the lesson itself reads like an order: ", "") for f in own)))
    copied = _copied_from_untrusted(text, traj)
    if copied:
        reasons.append(f"it repeats untrusted text word for word: “{copied}”")
    return reasons


def flag_items(items: list[MemoryItem], trajs: Sequence[Trajectory]) -> list[MemoryItem]:
    """Add the `suspected_injection` flag (and the reasons, in meta) to every item that needs it. With several
    trajectories (a contrast lesson) each is checked, since a lesson may echo an instruction from any of them;
    the reasons are merged in order without repeats."""
    scanned = [(traj, find_injections(traj)) for traj in trajs]
    for item in items:
        reasons: list[str] = []
        for traj, injections in scanned:
            reasons += [r for r in item_injection_reasons(item, traj, injections) if r not in reasons]
        if reasons:
            if FLAG not in item.flags:
                item.flags.append(FLAG)
            item.meta["injection_reasons"] = reasons
    return items


def blocks_auto_approval(item: MemoryItem) -> bool:
    """A flagged or borderline item is never approved without a human (the approval policy must ask this)."""
    return FLAG in item.flags or BORDERLINE in item.flags


_WORD = re.compile(r"[^\W_]+")
_IMPERATIVE = re.compile(r"\b(?:always|never|must|should|ignore|do not|don't|need no|no need)\b")


def _copied_from_untrusted(text: str, traj: Trajectory, n: int = 6) -> str | None:
    """A run of `n`+ words an item shares verbatim with an imperative sentence of the untrusted text."""
    words = _WORD.findall(normalise(text))
    if len(words) < n:
        return None
    grams = {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    gram_sets = {frozenset(w.encode() for w in g if w.isalpha() and w.isascii()) for g in grams}
    needed = frozenset().union(*gram_sets)
    for _, _, source in untrusted_texts(traj):
        body = normalise(source)
        present = needed & set(body.encode("utf-8", "replace").translate(_LETTERS_ONLY).split())
        if not any(g <= present for g in gram_sets):
            continue  # no run of the lesson's words can be in this text
        for hit in _IMPERATIVE.finditer(body):
            lo = max(body.rfind(".", 0, hit.start()), body.rfind("\n", 0, hit.start())) + 1
            hi = min([i for i in (body.find(".", hit.end()), body.find("\n", hit.end())) if i != -1] or [len(body)])
            swords = _WORD.findall(body[lo:hi][:2000])
            for i in range(len(swords) - n + 1):
                if tuple(swords[i:i + n]) in grams:
                    return " ".join(swords[i:i + n])
    return None
