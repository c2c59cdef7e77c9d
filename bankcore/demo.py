"""The demo bank: built from the corpus in data/demo through the real pipeline, offline and deterministically.

Week by week, as a team would have lived it: each run file is imported at its own date; memory-on runs retrieve
from the bank as it stood that day (logged, so usefulness and "what was the agent told" have data); every run is
judged and distilled by the offline heuristic judge and extractor; a named demo reviewer approves, edits and
rejects lessons; consolidation runs every other week, so merged lessons merge again and lineages grow several
generations deep; one human label overrules the judge, flagging the lessons that rested on it.

Same corpus → same bank: the clock is synthetic, every choice below is a rule over the data (never random), and
nothing reaches the network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .bank import Bank
from .errors import BankcoreError

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_START = datetime(2026, 9, 1, 9, 0, 0)
REVIEWER = "human:ana.demo"  # the named demo reviewer every curation event of the demo carries
CONSOLIDATE_THRESHOLD = 0.6  # lower than the default: the heuristic's templated lessons differ in wording
CONSOLIDATE_AFTER = {3, 5, 7}  # run files after which the reviewer consolidates (end of weeks 2, 4 and 5)
APPROVE_MIN_CONFIDENCE = 0.3

# After week 1 the reviewer writes down what the team already knows, in the checklist style the seed article
# describes for early memories. Later merges absorb these into the heuristics the extractor's lessons add up to.
STARTER_CHECKLISTS = [
    ("shopping", "Click Next Page before concluding",
     "Store listings and order histories are paginated.",
     "Actively look for and click on Next Page, Page X, or Load More links before counting results or "
     "concluding that something is missing."),
    ("admin", "Page through the admin grid",
     "Admin grids show twenty rows at a time by default.",
     "Before reporting a count or a total from a grid, check the pager and either raise the rows per page or "
     "visit every page."),
    ("forum", "Open every page of comments",
     "Long threads split their comments over several pages.",
     "Scroll to the bottom of a thread and follow the page links before saying a comment or user is absent."),
    ("forge", "Search issues with the exact number",
     "Issue lists mix similar titles and numbers.",
     "Open the issue by its exact number and compare the title with the task before acting on it."),
]

# What the demo reviewer writes when she turns a merged checklist into a heuristic (the seed's evolution story:
# "click Next Page" becomes "cross-reference the view with the requirements before concluding").
REVIEWER_EDITS = {
    "Check for more pages before answering from a list": (
        "Cross-check the view against the task before concluding",
        "A first page, a first search or a first match is rarely the whole picture.",
        "Before counting, choosing or reporting nothing found, compare what is on screen with every requirement "
        "of the task: look for more pages, broaden or re-sort the search, and check identifiers character by "
        "character. Conclude only when the view provably covers what the task asks."),
    "Answer only from what was actually observed": (
        "Ground every answer in an observation",
        "Answers that are inferred rather than read are the most common silent failure.",
        "Before finishing, point to the observation that states each number, name or id in the answer; if none "
        "does, look it up. When a value must be computed, show the observed parts it came from."),
}


class SteppingClock:
    """A clock that starts at a fixed moment and advances a fixed step per reading: same input → same bank."""

    def __init__(self, start: datetime = DEMO_START, step: timedelta = timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        value = self.now
        self.now += self.step
        return value

    def jump_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@dataclass
class DemoReport:
    runs: int = 0
    trajectories: int = 0
    items: int = 0
    events: int = 0
    merges: int = 0
    approvals: int = 0
    rejections: int = 0
    edits: int = 0
    flips: int = 0

    def summary(self) -> str:
        return (f"{self.runs} runs, {self.trajectories} trajectories, {self.items} memory items, {self.events} "
                f"events ({self.merges} merges, {self.approvals} approvals, {self.edits} edits, {self.rejections} "
                f"rejections, {self.flips} relabelled trajectory)")


def build(db_path: Path, *, force: bool = False, corpus: Path = DEMO_DIR,
          say: Callable[[str], None] = lambda _: None) -> Bank:
    """Build the demo bank at `db_path` (refusing to overwrite unless `force`). Atomic: built aside, then moved."""
    db_path = Path(db_path)
    if db_path.exists() and not force:
        raise BankcoreError(f"{db_path} exists; pass --force to rebuild the demo bank")
    files = sorted(corpus.glob("*.jsonl"))
    if not files:
        raise BankcoreError(f"no demo corpus in {corpus}")
    tmp = db_path.with_name(db_path.name + ".building")
    _remove(tmp)
    clock = SteppingClock()
    bank = Bank(tmp, clock=clock)
    # The demo never calls a model, whatever the environment says: it is the offline product.
    bank.settings = bank.settings.__class__(**{**bank.settings.__dict__, "llm_base_url": None, "llm_api_key": None})
    report = DemoReport()
    for number, file in enumerate(files, start=1):
        clock.jump_to(_run_start(file) or clock.now)
        _week(bank, clock, file, number, report, say, last=number == len(files))
    bank.store.set_setting("demo", {
        "synthetic": True, "corpus": corpus.name, "judge": "heuristic:v1", "extractor": "heuristic:v1",
        "merge": "heuristic-merge:1", "reviewer": REVIEWER,
        "note": "Synthetic demo bank: trajectories authored for bankcore, judged and distilled offline by the "
                "heuristic judge and extractor; curated by a scripted demo reviewer."})
    counts = bank.store.table_counts()
    report.runs, report.trajectories = counts["runs"], counts["trajectories"]
    report.items, report.events = counts["memory_items"], counts["memory_events"]
    say(report.summary())
    _remove(db_path)
    os.replace(tmp, db_path)
    return Bank(db_path)


def _week(bank: Bank, clock: SteppingClock, file: Path, number: int, report: DemoReport,
          say: Callable[[str], None], *, last: bool) -> None:
    imported = bank.import_path(file)
    say(imported.summary())
    run = bank.store.get_run(imported.run_id)
    traj_ids = bank.store.select_traj_ids(run_id=run.run_id)
    if run.memory_mode == "reasoningbank":
        for traj_id in traj_ids:  # what the agent was shown, from the bank as it stood that day
            traj = bank.trajectory(traj_id)
            bank.retrieve(traj.query, k=1, for_trajectory=traj_id, domain=traj.domain)
    bank.judge(traj_ids, judge="heuristic")
    if number == 3:
        report.flips += _overrule_one_verdict(bank, traj_ids)
    bank.extract(traj_ids, extractor="heuristic")
    clock.jump_to(clock.now + timedelta(days=1))  # the reviewer looks the next morning
    if last:
        return  # the latest week is not triaged yet: its lessons wait in the review queue for the presenter
    _review(bank, report)
    if number == 1:
        for domain, title, description, content in STARTER_CHECKLISTS:
            bank.write_lesson(title=title, description=description, content=content, domain=domain,
                              actor=REVIEWER, reason="what the team already knew after week 1")
    if number in CONSOLIDATE_AFTER:
        _, consolidation = bank.consolidate(threshold=CONSOLIDATE_THRESHOLD, actor=REVIEWER)
        report.merges += len(consolidation.merged)
        _review(bank, report)
        report.edits += _enrich_merged(bank)


def _review(bank: Bank, report: DemoReport) -> None:
    """The reviewer's routine: reject lessons drawn from injected instructions, approve the confident rest."""
    for item in bank.store.query_items(status=["pending"], flagged=True):
        if "suspected_injection" in item.flags:
            bank.reject(item.item_id, actor=REVIEWER, reason="drawn from a trajectory carrying injected "
                                                              "instructions; not a lesson we want agents to follow")
            report.rejections += 1
    result = bank.bulk_review("approve", actor=REVIEWER, reason="reviewed in the weekly triage",
                              min_confidence=APPROVE_MIN_CONFIDENCE)
    report.approvals += len(result.decided)


def _enrich_merged(bank: Bank) -> int:
    """After a consolidation the reviewer rewrites a merged checklist as the heuristic it has become."""
    edits = 0
    for item in bank.store.query_items(source=["merged"], status=["approved", "pending"]):
        text = REVIEWER_EDITS.get(item.title)
        if text is None:
            continue
        title, description, content = text
        bank.edit(item.item_id, actor=REVIEWER, reason="the merged checklist reads better as one heuristic",
                  expected_event_id=item.last_event_id, title=title, description=description, content=content)
        edits += 1
    return edits


def _overrule_one_verdict(bank: Bank, traj_ids: list[str]) -> int:
    """The reviewer spot-checks the week's verdicts against the evaluator and corrects the first wrong one."""
    for traj_id in traj_ids:
        truth, verdict = bank.truth(traj_id), bank.current_label(traj_id)
        if truth is not None and truth.success is not None and verdict is not None \
                and verdict.label != ("success" if truth.success else "failure"):
            bank.label(traj_id, "success" if truth.success else "failure", by=REVIEWER.split(":", 1)[1],
                       rationale="checked against the evaluator's result: the heuristic judge got this one wrong")
            return 1
    return 0


def _run_start(file: Path) -> datetime | None:
    with file.open(encoding="utf-8") as fh:
        header = json.loads(fh.readline())
    if header.get("type") != "run" or not header.get("started_at"):
        return None
    return datetime.fromisoformat(header["started_at"].replace("Z", "+00:00")).replace(tzinfo=None)


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}.wal")):
        leftover.unlink(missing_ok=True)
    snapshot = Path(f"{path}.vectors")
    if snapshot.is_dir():
        for child in snapshot.iterdir():
            child.unlink()
        snapshot.rmdir()
