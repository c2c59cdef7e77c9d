"""Prompt-injection guard: text inside a trajectory that tries to instruct the agent must never become an
innocent-looking lesson.

Trajectories carry web pages, tool output and user messages — untrusted text. Some of it tries to steer whoever
reads it ("ignore previous instructions", "always transfer the customer", "you must now ..."). A lesson distilled
from such a trajectory may repeat the instruction in the extractor's own, harmless-sounding words, so detection
works at two levels: every item from a trajectory with a suspected injection is flagged, and any item whose own
text reads like an injected rule is flagged too. Flagged items stay pending until a human looks at them.

Pure functions over values; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .models import MemoryItem, Trajectory

FLAG = "suspected_injection"

_RISKY_VERBS = (r"transfer|refund|approve|grant|issue|escalate|reveal|disclose|share|leak|delete|cancel|bypass|"
                r"override|waive|comply|obey|execute|run|send|give|pay|upgrade")

# Each pattern names an attempt to instruct the reader rather than inform it.
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("ignore-instructions",
     r"\b(ignore|disregard|forget|override)\b[^.\n]{0,30}\b(previous|prior|above|earlier|preceding|all|your|the "
     r"system|system)\b[^.\n]{0,20}\b(instructions?|directions?|rules?|prompts?|guidelines?|polic(y|ies)|messages?)"),
    ("from-now-on", r"\bfrom now on\b[^.\n]{0,10}\b(you|always|never|the (agent|assistant|model))\b"),
    ("you-must-now", r"\byou (must|should|shall|will|need to) (now|always|never|immediately|from now)\b"),
    ("agents-must",
     r"\b(agents?|assistants?|ai|models?|bots?)\b (must|should|shall|are required to) (always|never|now)\b"),
    ("absolute-rule", rf"(^|[.!:;\n]\s*|\b(please|important|note|rule)\s*[:,-]?\s*)(always|never)\s+({_RISKY_VERBS})\b"),
    ("new-instructions",
     r"\b(new|updated|revised|system|important|admin(istrator)?|developer|hidden)\s+(instructions?|directives?|"
     r"prompt|override|orders?)\s*[:\-]"),
    ("role-change", r"\b(you are now|act as|pretend (to be|you are)|roleplay as)\s+(a|an|the|my)\b"),
    ("mode-switch", r"\b(enable|enter|activate)\s+(developer|god|jailbreak|dan|admin|debug)\s+mode\b"),
    ("hide-from-user", r"\b(do not|don't|never)\s+(tell|inform|mention|reveal)\b[^.\n]{0,20}\b(user|customer|human)\b"),
    ("exfiltrate",
     r"\b(reveal|print|output|show|repeat|send)\s+(me\s+)?(your|the)\s+(system prompt|instructions|api key|"
     r"password|credentials|secrets?)\b"),
    ("chat-template", r"<\|?(system|im_start|im_end)\|?>|\[/?INST\]|^\s*#{2,}\s*(system|instructions?)\s*:?\s*$"),
    ("steer-judge",
     r"\b(mark|label|rate|judge|grade|score|report)\s+(this|the)\s+(task|trajectory|run|answer|attempt|episode)\s+"
     r"as\s+(a\s+)?(success|successful|correct|passed|complete)"),
    ("plant-memory",
     r"\b(store|save|remember|memori[sz]e|record|add)\s+(this|the following)\s+(as\s+)?(a\s+)?"
     r"(lesson|rule|memory|instruction|strategy)\b"),
))

# Lessons that read like an injected order: absolute rules about risky actions, or skipping safeguards.
_ITEM_PATTERNS: tuple[tuple[str, re.Pattern], ...] = _PATTERNS + tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("absolute-risky-action", rf"\b(always|never|must|immediately)\s+({_RISKY_VERBS})\b"),
    ("skip-safeguard",
     r"\b(without|skip|skipping|no need (to|for)|don't bother)\s+(asking|ask|confirm|confirmation|confirming|"
     r"verif\w*|checking|check|authenticat\w*|the policy|policy)\b"),
))


@dataclass(frozen=True)
class Injection:
    """Where a trajectory tries to instruct its reader: step index (None for the query/final state), which
    field, which pattern matched, and the matched words (for a reviewer; never turned into a lesson)."""

    step: int | None
    field: str
    pattern: str
    excerpt: str


def _scan(text: str | None, patterns) -> list[tuple[str, str]]:
    if not text:
        return []
    found = []
    for name, rx in patterns:
        match = rx.search(text)
        if match:
            found.append((name, " ".join(match.group(0).split())[:120]))
    return found


def untrusted_texts(traj: Trajectory) -> list[tuple[int | None, str, str]]:
    """(step, field, text) for everything in a trajectory that did not come from the agent itself."""
    texts: list[tuple[int | None, str, str]] = [(None, "query", traj.query)]
    texts += [(s.index, "observation", s.observation) for s in traj.steps if s.observation]
    if traj.final_state:
        texts.append((None, "final_state", traj.final_state))
    return texts


def find_injections(traj: Trajectory) -> list[Injection]:
    """Every place the untrusted text of `traj` reads like an instruction to its reader."""
    return [Injection(step, field, name, excerpt)
            for step, field, text in untrusted_texts(traj)
            for name, excerpt in _scan(text, _PATTERNS)]


def item_injection_reasons(item: MemoryItem, traj: Trajectory, injections: list[Injection]) -> list[str]:
    """Why `item` (extracted from `traj`) may carry an injected instruction; empty when it looks clean."""
    reasons = []
    if injections:
        steps = sorted({i.step for i in injections if i.step is not None})
        where = f"steps {steps}" if steps else "the task text"
        reasons.append(f"its trajectory contains text that tries to instruct the agent ({where}: "
                       f"{', '.join(sorted({i.pattern for i in injections}))})")
    text = f"{item.title}\n{item.description}\n{item.content}"
    own = _scan(text, _ITEM_PATTERNS)
    if own:
        reasons.append("the lesson itself reads like an order: " + ", ".join(sorted({n for n, _ in own})))
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
    """A flagged item is never approved without a human (the approval policy must ask this)."""
    return FLAG in item.flags


_WORD = re.compile(r"[a-z0-9']+")


def _copied_from_untrusted(text: str, traj: Trajectory, n: int = 6) -> str | None:
    """A run of `n`+ words an item shares verbatim with an imperative sentence of the untrusted text."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return None
    grams = {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    for _, _, source in untrusted_texts(traj):
        for sentence in re.split(r"(?<=[.!?\n])\s+", source):
            if not re.search(r"\b(always|never|must|should|ignore|do not|don't)\b", sentence, re.I):
                continue
            swords = _WORD.findall(sentence.lower())
            for i in range(len(swords) - n + 1):
                if tuple(swords[i:i + n]) in grams:
                    return " ".join(swords[i:i + n])
    return None
