"""Which text of a trajectory is untrusted, and where it tries to instruct its reader (`scan_trajectory`,
`find_injections`), including an instruction split across consecutive steps."""

from __future__ import annotations

import re
from typing import Iterator

from ..models import Trajectory
from .findings import Injection
from .addressed import addressed_harms
from .lesson_review import _source_text
from .normalisation import normalise, views
from .rules import RULES, _Body, _excerpt, scan_text, scan_tool_name
from .tool_calls import suggested_calls
from .unaddressed import unaddressed_orders

JOIN_EDGE = 400  # characters from each end of a step's text that the cross-step view keeps
JOIN_REACH = 240  # how far either side of a join a split instruction may reach

_CALL_NAME = re.compile(r"^\s*([A-Za-z_][\w.-]{2,80})\s*\(")
_SPLIT_NAME = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")


def tool_names(traj: Trajectory) -> list[tuple[int, str]]:
    """(step, name) for the tools the agent called: the names a tool server chose, read as words."""
    names: list[tuple[int, str]] = []
    for step in traj.steps:
        seen = set()
        listed = step.meta.get("tools") if isinstance(step.meta, dict) else None
        for name in (listed if isinstance(listed, list) else []):
            if isinstance(name, str):
                seen.add(name)
        match = _CALL_NAME.match(step.action or "")
        if match:
            seen.add(match.group(1))
        names += [(step.index, " ".join(_SPLIT_NAME.split(n))) for n in sorted(seen) if len(n) <= 200]
    return names


def untrusted_texts(traj: Trajectory) -> list[tuple[int | None, str, str]]:
    """(step, field, text) for everything in a trajectory that did not come from the agent itself."""
    texts: list[tuple[int | None, str, str]] = [(None, "query", traj.query)]
    texts += [(s.index, "observation", s.observation) for s in traj.steps if s.observation]
    if traj.final_state:
        texts.append((None, "final_state", traj.final_state))
    return texts


def _edges(text: str) -> str:
    return text if len(text) <= 2 * JOIN_EDGE else text[:JOIN_EDGE] + "\n" + text[-JOIN_EDGE:]


def _split_instructions(texts: list[tuple[int | None, str, str]]) -> list[Injection]:
    """Rules tripped only when consecutive untrusted texts are read as one: an instruction split across steps.
    Only the ends of each text are joined, and a match must reach across a join."""
    if len(texts) < 2:
        return []
    pieces, bounds, at = [], [], 0
    for step, field, text in texts:
        edge = normalise(_edges(text))
        pieces.append(edge)
        bounds.append((at, at + len(edge), step, field))
        at += len(edge) + 1
    text = " ".join(pieces)
    regions = [(lo, _Body(text[max(0, lo - JOIN_REACH):lo + JOIN_REACH])) for lo, _, _, _ in bounds[1:]]
    found = []
    per_region = [(lo, {r.name for r in region.candidates()}) for lo, region in regions]
    for rule in RULES:
        for lo, names in per_region:
            if rule.name not in names:
                continue
            end = min(len(text), lo + JOIN_REACH)
            match = rule.rx.search(text, max(0, lo - JOIN_REACH), end)
            while match and match.end() < lo:
                match = rule.rx.search(text, match.start() + 1, end)
            if match and match.start() < lo:
                parts = [(s, f) for a, b, s, f in bounds if a < match.end() and b > match.start()]
                where = next((s for s, _ in parts if s is not None), step)
                found.append(Injection(where, parts[0][1], rule.name, _excerpt(match), "flag", "joined"))
                break
    return found


def scan_trajectory(traj: Trajectory) -> list[Injection]:
    """Every place the untrusted text of `traj` reads like an instruction to its reader, flags and borderline."""
    texts = untrusted_texts(traj)
    found = [Injection(step, field, name, excerpt, severity, view)
             for step, field, text in texts
             for name, excerpt, severity, view in scan_text(text)]
    found += [Injection(step, "tool_name", name, excerpt, severity, view)
              for step, text in tool_names(traj)
              for name, excerpt, severity, view in scan_tool_name(text)]
    task = _source_text([traj], task_only=False)  # what the user asked and the agent itself did belongs to the task
    found += _judged(texts, task, {(i.step, i.field) for i in found if i.severity == "flag"})
    seen = {(i.pattern, i.step) for i in found}
    found += [i for i in _split_instructions(texts) if (i.pattern, i.step) not in seen
              and not any(j.pattern == i.pattern for j in found)]
    return found


def _judged(texts: list[tuple[int | None, str, str]], task: str,
            flagged: set[tuple[int | None, str]]) -> list[Injection]:
    """What each untrusted text the wording rules did not flag already asks, whatever its wording (one flag per
    text is enough to hold its lessons): orders to an AI reader (`addressed.addressed_harms`), and in observations
    risky tool calls they suggest (`tool_calls.suggested_calls`: the raw text keeps names' camel case, decoded
    views what obfuscation hid) and harmful actions with their safeguard dropped that name no reader
    (`unaddressed.unaddressed_orders`). Accounts and addresses the user gave or the agent itself used are the
    task's own. A text's views are computed once for all three."""
    found: list[Injection] = []
    for step, field, text in texts:
        if (step, field) in flagged or not text:
            continue
        seen = views(text)
        # squashed: letters without word gaps, which only the spaced-letters rule reads
        hits = _first(addressed_harms(body, task, step, field, view) for view, body in seen if view != "squashed")
        if not hits and field == "observation":
            hits = (suggested_calls(text, task, step, field, "text")
                    or _first(suggested_calls(body, task, step, field, view) for view, body in seen
                              if view == "decoded")
                    or unaddressed_orders(seen[0][1], task, step, field, "text"))
        found += hits
    return found


def _first(hits: Iterator[list[Injection]]) -> list[Injection]:
    return next((h for h in hits if h), [])


def find_injections(traj: Trajectory) -> list[Injection]:
    """Every place the untrusted text of `traj` tries to instruct its reader (flag severity)."""
    return [i for i in scan_trajectory(traj) if i.severity == "flag"]
