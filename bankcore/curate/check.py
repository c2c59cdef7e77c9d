"""`bankcore check`: proof that the bank kept its promises — every item's current row is the after-state of its last
event, every event starts where the previous one left off (nothing changed off the log, so any version can be
restored and `as_of` is true), merges are linked both ways, and provenance, verdicts and retrievals point at rows
that exist. Read-only; the checks themselves are set-based SQL in `store/audit.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store.protocols import CheckStore


EXPLAIN = {
    "item_without_history": "an item with no event: it was written without going through curation",
    "item_ids_not_unique": "two item rows share an id: a row was copied or inserted off the log",
    "history_without_creation": "an item's history does not start with the event that created it: an event was "
                                "dropped or a history spliced in",
    "history_points_nowhere": "events of an item the bank does not hold: the item was deleted off the log",
    "item_differs_from_its_history": "an item's row is not the after-state of its last event: changed off the log",
    "history_gap": "an event's before-state is not what the previous event left: a change was not recorded",
    "event_ids_not_unique": "two events share an id",
    "superseded_without_successor": "a superseded item points at no existing item",
    "successor_does_not_name_parent": "the item that absorbed a superseded one does not list it as a parent",
    "provenance_points_nowhere": "an item's evidence or parent is missing from the bank",
    "verdict_points_nowhere": "a verdict on a trajectory the bank does not hold",
    "retrieval_points_nowhere": "a logged retrieval of an item that does not exist",
    "steps_without_trajectory": "steps whose trajectory is missing",
}


@dataclass
class Finding:
    check: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"where": ..., "detail": ...}


@dataclass
class AuditReport:
    bank: str
    items: int
    events: int
    checks: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        head = f"{self.bank}: {self.items} items, {self.events} events, {self.checks} checks"
        if self.ok:
            return head + " — consistent: every item is the last state of its history"
        lines = [head + f" — {sum(f.count for f in self.findings)} problems"]
        for finding in self.findings:
            lines.append(f"  {finding.check} ({finding.count}): {EXPLAIN[finding.check]}")
            lines += [f"    {e['where']}: {e['detail']}" for e in finding.examples]
            if finding.count > len(finding.examples):
                lines.append(f"    … and {finding.count - len(finding.examples)} more")
        return "\n".join(lines)


def audit(store: CheckStore, *, examples: int = 5) -> AuditReport:
    """Run every check in one reading of the bank."""
    with store.reading():
        found = store.audit_findings(limit_per_check=examples)
        items, events = store.count("memory_items"), store.count("memory_events")
    return AuditReport(bank=store.location, items=items, events=events, checks=len(found),
                       findings=[Finding(kind, n, rows) for kind, n, rows in found if n])
