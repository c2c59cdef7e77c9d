"""What the guard reports: an `Injection` found in a trajectory, a `Finding` about a lesson's text, and the two
flags the gate records on an item."""

from __future__ import annotations

from dataclasses import dataclass

FLAG = "suspected_injection"
BORDERLINE = "borderline_injection"  # the rules are unsure; a person decides (the gate records it)
SEVERITIES = ("flag", "borderline")


@dataclass(frozen=True)
class Injection:
    """Where a trajectory tries to instruct its reader: step index (None for the query/final state), which
    field, which rule matched, and the matched words (for a reviewer; never turned into a lesson). `view` says
    what the rule read ("text", "decoded", "glossed" (another language read in English), "spaced", "html",
    "joined", "unicode") and `severity` how sure it is."""

    step: int | None
    field: str
    pattern: str
    excerpt: str
    severity: str = "flag"
    view: str = "text"


@dataclass(frozen=True)
class Finding:
    """One reason to hold a lesson back: `severity` "flag" (reads like an injected instruction, or asks for
    something no task-domain lesson asks) or "borderline" (a person should look); `kind` names the rule."""

    severity: str
    reason: str
    kind: str = ""
    excerpt: str = ""


def unique(found: list[Finding]) -> list[Finding]:
    """`found` with each reason once, first occurrence kept (rules and views often say the same thing twice)."""
    seen: dict[str, Finding] = {}
    for f in found:
        seen.setdefault(f.reason, f)
    return list(seen.values())
