"""The demo bank: built from the corpus in data/demo through the real pipeline, offline and deterministically.

Week by week, as a team would have lived it: each run file is imported at its own date; memory-on runs retrieve
from the bank as it stood that day (logged, so usefulness and "what was the agent told" have data); every run is
judged and distilled by the real LLM judge and extractor, answered from a recording authored for the demo (see
`replay`: no model is called, and every verdict and item says `llm:demo-recording`); a named demo reviewer writes
starter checklists, approves, rejects lessons drawn from injected instructions, corrects a judge error she finds in
a spot check, and rewrites a merged lesson as the heuristic it has become; consolidation runs with the offline
heuristic merge at the policy's threshold after weeks 2, 4 and 5, so merged lessons merge again; the MaTTS week gets
best-of-N picks and self-contrast lessons (`matts-replay`, on recorded replies too). The last week is left untriaged,
so the review queue has work.

Same corpus and recording → same bank: the clock is synthetic, every choice below is a rule over the data (never
random), and nothing reaches the network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .curate import policy as policy_rules
from .search import vector_snapshot
from .bank import Bank
from .curate.consolidate import HEURISTIC_MERGE_ID
from .errors import BankcoreError
from .learn.extract import LLMExtractor
from .guard import FLAG as INJECTION_FLAG
from .learn.judge import LLMJudge
from .matts.selection import LLMContrastExtractor, LLMSelector
from .llm.recorded import ReplayClient
from .search.recorded_vectors import RecordedEmbedder

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
RECORDING = Path("recording") / "llm_recording.jsonl"  # inside the corpus directory
VECTORS = Path("recording") / "vectors.npz"  # MiniLM's vectors of the build's texts (data/demo/make_vectors.py)
RUN_FILES = "[0-9][0-9]-*.jsonl"  # the corpus's run files, named in chronological order
DEMO_START = datetime(2026, 9, 1, 9, 0, 0)
REVIEWER = "human:ana.demo"  # the named demo reviewer every curation event of the demo carries
CONSOLIDATE_AFTER = {3, 5, 7}  # run files after which the reviewer consolidates: weeks 2, 4 and 5
STARTERS_AFTER = 1  # the reviewer writes the team's starter checklists after the first week
SPOT_CHECK_AFTER = 2  # ... and checks that week's verdicts against the evaluator after week 2
APPROVE_MIN_CONFIDENCE = 0.3
# The demo team reviews every lesson before agents may use it (the default policy lets clean LLM lessons in).
DEMO_POLICY = policy_rules.Policy(name="demo-team", auto_approve_llm=False)
NOTE = ("Synthetic trajectories authored for bankcore; judge and extractor replies (and MaTTS picks and contrast "
        "lessons) replayed from a recording authored for the demo — no model was called; lesson and query vectors "
        "replayed from ones all-MiniLM-L6-v2 computed for these texts; merges by the offline heuristic merge; curated "
        "by a scripted demo reviewer.")

# After week 1 the reviewer writes down what the team already knows, in the checklist style the seed article
# describes for early memories (source `manual`, approved as written).
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

# After week 4's consolidation the reviewer rewrites a merged pagination checklist as the heuristic it has become (the
# seed's evolution story: "click Next Page" becomes "cross-reference the view with the requirements before
# concluding"). The merged lesson to rewrite is found by its domain and the phrases its content holds; in week 5 the
# agent is shown the heuristic, its new lessons echo it, and the next consolidation folds them in.
EDITS_AFTER = 5
REVIEWER_EDITS = [
    ("shopping", ("Next Page", "counter"), (
        "Cross-check the view against the task before counting entries",
        "A first page or a default view rarely holds every match the task asks for, so a count read off it looks "
        "right and is wrong.",
        "Regularly cross-reference the current view with the task's requirements (every page, the right period, the "
        "right filter) and, if it cannot cover them, change the view before you conclude. Before counting from an "
        "order or review list, look for a Next Page link, page numbers or Load More. Read its 'x-y of N' counter: "
        "when N is more than one page holds, page through to the end or filter the list until one page holds every "
        "match.")),
    ("forge", ("Open the record", "character by character"), (
        "Cross-check every identifying detail before changing a record",
        "Near-identical records are a trap: any mismatch in the issue number or username means the wrong target.",
        "Cross-reference every identifying detail the task gives (the exact issue number or username and the title "
        "or name beside it) with the issue or member page, and after the change re-check that the right record "
        "changed. Before closing, adding or editing anything, compare the issue number or username on the issue or "
        "member page with the task character by character. If anything differs, go back and search for the exact "
        "record, and change only the one that matches.")),
]


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
    starters: int = 0
    flips: int = 0
    contrasts: int = 0

    def summary(self) -> str:
        return (f"{self.runs} runs, {self.trajectories} trajectories, {self.items} memory items, {self.events} "
                f"events ({self.merges} merges, {self.approvals} approvals, {self.edits} edits, {self.rejections} "
                f"rejections, {self.starters} starter checklists, {self.contrasts} contrast lessons, {self.flips} "
                f"relabelled trajectory)")


@dataclass
class _Demo:
    """What every week of the build works with."""

    bank: Bank
    clock: SteppingClock
    judge: LLMJudge
    extractor: LLMExtractor
    report: DemoReport
    say: Callable[[str], None]


def recorded_lessons(corpus: Path = DEMO_DIR) -> list[str]:
    """The distinct lessons the recording's extraction replies hold, each as its whole text (title, description,
    content: `embed.lesson_text`'s shape): real LLM-written lesson text for benches and embedding tests."""
    texts = []
    for line in (corpus / RECORDING).read_text("utf-8").splitlines():
        record = json.loads(line)
        if str(record.get("purpose", "")).startswith("extract"):
            try:
                items = json.loads(record["reply"]).get("items", [])
            except (ValueError, AttributeError):
                continue
            texts += [f"{i['title']}. {i['description']}\n{i['content']}" for i in items if isinstance(i, dict)]
    return list(dict.fromkeys(texts))


def run_files(corpus: Path = DEMO_DIR) -> list[Path]:
    return sorted(corpus.glob(RUN_FILES))


def build(db_path: Path, *, force: bool = False, corpus: Path = DEMO_DIR,
          say: Callable[[str], None] = lambda _: None, embedder: RecordedEmbedder | None = None) -> Bank:
    """Build the demo bank at `db_path` (refusing to overwrite unless `force`). Atomic: built aside, then moved.
    Vectors come from the corpus's recording where it has them (`embedder`: another recording, or none)."""
    db_path = Path(db_path)
    if db_path.exists() and not force:
        raise BankcoreError(f"{db_path} exists; pass --force to rebuild the demo bank")
    files = run_files(corpus)
    if not files:
        raise BankcoreError(f"no demo corpus in {corpus}")
    tmp = db_path.with_name(db_path.name + ".building")
    _remove(tmp)
    clock = SteppingClock()
    embedder = embedder if embedder is not None else RecordedEmbedder(corpus / VECTORS)
    bank = Bank(tmp, clock=clock, embedder=embedder)
    # The demo never calls a model, whatever the environment says: its LLM replies come from the recording.
    bank.settings = replace(bank.settings, llm_base_url=None, llm_api_key=None)
    client = ReplayClient.from_file(bank.store, corpus / RECORDING)
    policy_rules.save(bank.store, DEMO_POLICY)
    demo = _Demo(bank, clock, LLMJudge(client), LLMExtractor(client), DemoReport(), say)
    # One connection held open for the whole build: the file is private to it until the final move, and each of
    # the thousand store calls (one per recorded reply, among others) then costs no file open. Writes still
    # commit one by one, exactly as they would without it.
    with bank.store.reading():
        for number, file in enumerate(files, start=1):
            clock.jump_to(_run_start(file) or clock.now)
            _week(demo, file, number, last=number == len(files))
    bank.store.set_setting("demo", {
        "synthetic": True, "corpus": f"data/{corpus.name}", "recording": f"data/{corpus.name}/{RECORDING.as_posix()}",
        "judge": demo.judge.judge_id, "extractor": demo.extractor.extractor_id, "llm": "recorded replies (demo), "
        "no model called", "vectors": f"data/{corpus.name}/{VECTORS.as_posix()}", "merge": HEURISTIC_MERGE_ID,
        "reviewer": REVIEWER, "note": NOTE})
    report = demo.report
    counts = bank.store.table_counts()
    report.runs, report.trajectories = counts["runs"], counts["trajectories"]
    report.items, report.events = counts["memory_items"], counts["memory_events"]
    say(f"vectors: {embedder.summary()}")
    say(report.summary())
    _remove(db_path)
    os.replace(tmp, db_path)
    return Bank(db_path)


def _week(demo: _Demo, file: Path, number: int, *, last: bool) -> None:
    bank = demo.bank
    imported = bank.import_path(file)
    demo.say(imported.summary())
    run = bank.store.get_run(imported.run_id)
    traj_ids = bank.store.select_traj_ids(run_id=run.run_id)
    if run.memory_mode == "reasoningbank":
        _retrieve_as_the_agent_did(bank, traj_ids)
    _learn(demo, traj_ids)
    if run.matts_mode:
        _matts_contrast(demo, run.run_id)
    if last:
        return  # the newest week waits for its triage: the review queue has work
    demo.clock.jump_to(demo.clock.now + timedelta(days=1))  # the reviewer looks the next morning
    _review(demo)
    if number == STARTERS_AFTER:
        demo.report.starters += _write_starters(bank)
    if number == SPOT_CHECK_AFTER:
        _spot_check(demo, traj_ids)
    if number in CONSOLIDATE_AFTER:
        _, consolidation = bank.consolidate(actor=REVIEWER)  # the policy's threshold: the default
        demo.report.merges += len(consolidation.merged)
        _review(demo)
    if number == EDITS_AFTER:
        demo.report.edits += _enrich_merged(bank)


def _retrieve_as_the_agent_did(bank: Bank, traj_ids: list[str]) -> None:
    """What the agent was shown before each task, from the bank as it stood that day (k=1, its domain; logged)."""
    for traj in bank.store.get_trajectories(traj_ids):
        bank.retrieve(traj.query, k=1, for_trajectory=traj.traj_id, domain=traj.domain)


def _learn(demo: _Demo, traj_ids: list[str]) -> None:
    """Judge, then extract, with the recorded LLM."""
    _answered(demo.bank.judge(traj_ids, judge=demo.judge))
    _answered(demo.bank.extract(traj_ids, extractor=demo.extractor))


def _answered(report) -> None:
    """A queue the recording could not answer stops the build: a demo bank with holes would tell the story wrong."""
    if report.failed or report.stopped:
        raise BankcoreError(f"the demo recording could not answer every call: {report.errors[0]}")


def _matts_contrast(demo: _Demo, run_id: int) -> None:
    """MaTTS over the parallel run, as `bankcore matts-replay` does it: a best-of-N pick and self-contrast lessons
    (source `contrast`, pending review) for every task's trials, by the LLM selector and contrast extractor on
    recorded replies."""
    client = demo.judge.client
    report = demo.bank.matts_replay(run_id, judge=demo.judge, selector=LLMSelector(client),
                                    extractor=LLMContrastExtractor(client))
    _answered(report.selected)
    _answered(report.contrasted)
    demo.report.contrasts += report.contrasted.items


def _review(demo: _Demo) -> None:
    """The reviewer's routine: reject lessons drawn from injected instructions, approve the confident rest."""
    bank = demo.bank
    for item in bank.store.query_items(status=["pending"], flagged=True):
        if INJECTION_FLAG in item.flags:
            bank.reject(item.item_id, actor=REVIEWER, reason="drawn from a trajectory carrying injected "
                                                              "instructions; not a lesson we want agents to follow")
            demo.report.rejections += 1
    result = bank.bulk_review("approve", actor=REVIEWER, reason="reviewed in the weekly triage",
                              min_confidence=APPROVE_MIN_CONFIDENCE)
    demo.report.approvals += len(result.decided)


def _write_starters(bank: Bank) -> int:
    for domain, title, description, content in STARTER_CHECKLISTS:
        bank.write_lesson(title=title, description=description, content=content, domain=domain, actor=REVIEWER,
                          reason="what the team already knew after week 1")
    return len(STARTER_CHECKLISTS)


def _spot_check(demo: _Demo, traj_ids: list[str]) -> None:
    """The reviewer compares the week's verdicts with the evaluator and corrects the first wrong one whose lessons
    are in use: its lessons are flagged (SOURCE_REJUDGED) and the trajectory is distilled again under her label."""
    bank = demo.bank
    in_use = {i.item_id for i in bank.store.query_items(status=["approved", "pending"])}
    lessons = bank.store.items_from_trajectories(traj_ids)
    for traj_id in traj_ids:
        truth, verdict = bank.truth(traj_id), bank.current_label(traj_id)
        if truth is None or truth.success is None or verdict is None:
            continue
        label = "success" if truth.success else "failure"
        if verdict.label != label and in_use & set(lessons.get(traj_id, [])):
            bank.label(traj_id, label, by=REVIEWER.split(":", 1)[1],
                       rationale="checked against the evaluator's result: the judge got this one wrong")
            demo.report.flips += 1
            _learn(demo, [traj_id])
            _review(demo)
            return


def _enrich_merged(bank: Bank) -> int:
    """The reviewer rewrites the newest merged lesson on each topic of REVIEWER_EDITS as one heuristic."""
    edits = 0
    merged = bank.store.query_items(source=["merged"], status=["approved", "pending"])
    for domain, phrases, (title, description, content) in REVIEWER_EDITS:
        topic = [i for i in merged if i.domain == domain and not i.flags and all(p in i.content for p in phrases)]
        if not topic:
            continue
        item = max(topic, key=lambda i: i.item_id)
        bank.edit(item.item_id, actor=REVIEWER, reason="the merged checklist reads better as one heuristic",
                  expected_event_id=item.last_event_id, title=title, description=description, content=content)
        edits += 1
    return edits


def _run_start(file: Path) -> datetime | None:
    with file.open(encoding="utf-8") as fh:
        header = json.loads(fh.readline())
    if header.get("type") != "run" or not header.get("started_at"):
        return None
    return datetime.fromisoformat(header["started_at"].replace("Z", "+00:00")).replace(tzinfo=None)


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}.wal")):
        leftover.unlink(missing_ok=True)
    snapshot = vector_snapshot.folder(path)
    if snapshot.is_dir():
        for child in snapshot.iterdir():
            child.unlink()
        snapshot.rmdir()
