"""The read model's entry, `Views` (`Bank.views`): what each screen and `bankcore stats` show, assembled from
paginated and aggregated store reads, one named method per read.

Values in, values out — no Streamlit here, so every screen's content is testable without a browser and the same
reads serve any other front end. Shaping that needs no I/O (flag explanations, confusion matrices, the backend
described in words) is pure and lives in module functions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ..errors import NotFoundError
from ..models import Event, ItemSource, MemoryItem, Run, Trajectory, Truth, Usefulness, Verdict
from ..llm.recorded import MODEL as REPLAY_MODEL
from ..curate.review import HURTS_FLAG, hurting_to_flag
from ..settings import Settings
from ..store import Store
from .counts import ItemCounts
from .metrics import BankStats, agent_stats, read_stats
from .quality import JudgeQuality, judge_quality  # noqa: F401 (the judging screen's values, named here too)

REPLAYED = f"llm:{REPLAY_MODEL}"  # the id of verdicts and items made from the demo's recorded replies
# Event kinds that explain why an item sits in the review queue.
WHY_KINDS = ("FLAG", "SOURCE_REJUDGED", "CONTRADICTION")
# Event kinds worth a marker on a time axis.
MARKER_KINDS = ("MERGE", "APPROVE", "REJECT")
# Fewer outcomes than this give no headline rate (say why instead): "100%" of one task is not a rate.
MIN_N = 10
# Source trajectories shown per page of an item's evidence: a merged lesson may rest on dozens, each with its steps.
EVIDENCE_PAGE = 5


# ---------------------------------------------------------------------- pure shaping
def describe_backend(settings: Settings, judges: list[dict[str, Any]],
                     extractors: list[dict[str, Any]]) -> dict[str, str]:
    """The active judge, extractor and LLM backend in plain words (never the key)."""
    if settings.llm_configured:
        where = settings.llm_endpoint_shown or "api.openai.com (OpenAI)"
        model = settings.llm_model or "the endpoint's default model"
        llm = f"LLM configured: {model} at {where}" + (" (key set)" if settings.llm_api_key else " (no key)")
    else:
        llm = ("No LLM configured: judging and extraction run offline with the heuristic judge and extractor, "
               "which read the trajectory's own signals (errors, loops, empty answers) — not an LLM's reading")
    if any(row.get(key) == REPLAYED for rows, key in ((judges, "judge_id"), (extractors, "extractor_id"))
           for row in rows):
        # The demo bank: what built it matters more than what is configured for new work.
        llm = ("Recorded replies (demo), no model called: the LLM judge and extractor ran on replies replayed from "
               "a recording authored for the demo" + (f". For new work — {llm}" if settings.llm_configured else ""))
    machine_judges = [j for j in judges if not j["judge_id"].startswith("human:")]
    judge = _latest_in_words(machine_judges, "judge_id", "verdicts", "no judge has labelled trajectories yet")
    extractor = _latest_in_words(extractors, "extractor_id", "trajectories",
                                 "no extractor has distilled trajectories yet")
    return {"llm": llm, "judge": judge, "extractor": extractor}


def _latest_in_words(rows: list[dict[str, Any]], key: str, count: str, none: str) -> str:
    if not rows:
        return none
    latest = rows[0]
    text = f"{latest[key]} ({kind_of(latest[key])}, {latest[count]:,} {count})"
    if len(rows) > 1:
        text += "; earlier: " + ", ".join(r[key] for r in rows[1:4])
    return text


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95% by default) of a rate of `successes` out of `n`; None without outcomes.
    Unlike rate ± z·SE it stays inside 0–1 and is honest at small n and at rates near 0 or 1."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def usefulness_row(item: MemoryItem, u: Usefulness) -> dict[str, Any]:
    """One lesson's measured usefulness as a table row (pure)."""
    return {"item_id": item.item_id, "title": item.title, "source": item.source, "status": item.status,
            "domain": item.domain, "used": u.n_with, "success_with": u.rate_with, "compared": u.n_without,
            "success_without": u.rate_without, "lift": u.lift,
            "lift_low": u.interval[0] if u.interval else None, "lift_high": u.interval[1] if u.interval else None,
            "helpful": u.helpful, "harmful": u.harmful, "score": round(u.score, 4), "hurts": u.hurts,
            "flagged": HURTS_FLAG in item.flags}


def kind_of(actor_id: str) -> str:
    """What produced a verdict or an item, from its id: heuristic:<v>, llm:<model>, human:<name>, policy:<name>,
    truth:<source>."""
    prefix = actor_id.split(":", 1)[0]
    if actor_id == REPLAYED:
        return "recorded LLM replies, no model called"
    return {"heuristic": "offline heuristic", "llm": "LLM", "human": "human", "policy": "approval policy",
            "heuristic-merge": "offline heuristic merge", "llm-merge": "LLM merge",
            "truth": "ground truth (--labels truth)"}.get(prefix, prefix)


def flag_reasons(item: MemoryItem, events: Iterable[Event] = ()) -> list[str]:
    """Why an item needs a human, in words: its flags, explained by the events that raised them."""
    by_kind: dict[str, Event] = {}
    by_flag: dict[str, Event] = {}
    for e in events:
        by_kind[e.kind] = e  # the latest of each kind
        if e.kind == "FLAG" and e.related.get("flag"):
            by_flag[e.related["flag"]] = e  # a FLAG event that names its flag explains that one
    reasons = []
    for flag in item.flags:
        name, _, arg = flag.partition(":")
        if name == "contradicts":
            text = f"contradicts item {arg}"
            why = by_kind.get("CONTRADICTION")
        elif name in ("suspected_injection", "suspected-injection", "injection"):
            gate_said = "; ".join(item.meta.get("injection_reasons") or [])  # the gate's reasons (gate.REASONS)
            text = f"suspected prompt injection: {gate_said or 'its source text tries to instruct the agent'}"
            why = by_kind.get("FLAG")
        elif name == "borderline_injection":  # the gate's rules (or its LLM second opinion) were unsure
            gate_said = "; ".join(item.meta.get("injection_reasons") or [])
            text = f"held back by the injection gate for a person to decide: {gate_said or 'the rules were unsure'}"
            why = by_kind.get("FLAG")
        elif name == HURTS_FLAG:  # the event's reason carries the evidence, so a short heading will do
            why = by_flag.get(HURTS_FLAG)
            text = "hurts outcomes" if why is not None and why.reason else \
                "tasks given this lesson succeeded less often than comparable ones: keep it or reject it"
        elif name in ("source_rejudged", "source-rejudged", "rejudged"):  # likewise: its reason says it all
            why = by_kind.get("SOURCE_REJUDGED")
            text = "source re-judged" if why is not None and why.reason else \
                "its source trajectory was re-judged and its label flipped: the lesson may now be backwards"
        else:
            text = f"flagged: {flag}"
            why = by_kind.get("FLAG")
        if why is not None and why.reason:
            text += f" — {why.reason} ({why.actor})"
        reasons.append(text)
    if "SOURCE_REJUDGED" in by_kind and not any("re-judged" in r for r in reasons):
        e = by_kind["SOURCE_REJUDGED"]
        reasons.append(f"its source trajectory was re-judged ({e.actor}): {e.reason or 'label changed'}")
    if item.status == "pending" and not reasons:
        reasons.append("new, not yet reviewed")
    return reasons


def checkpoints(last_event: int, frames: int) -> list[int]:
    """`frames` event ids spread evenly over the log (always ending at the last event)."""
    if last_event <= 0:
        return []
    frames = max(1, min(frames, last_event))
    return sorted({round(last_event * (n + 1) / frames) for n in range(frames)})


# ---------------------------------------------------------------------- screen values
@dataclass
class Overview:
    counts: dict[str, int]
    items: ItemCounts
    review: dict[str, int]
    latest_consolidation: dict[str, Any] | None
    backend: dict[str, str]
    demo: dict[str, Any] | None
    runs: list[dict[str, Any]]  # outcomes per `trend_bucket`
    trend_bucket: str = "run"  # "trial" when the bank is one run of several trials (a benchmark's file)
    disputed: int = 0  # approved lessons resting on a trajectory whose current label the truth contradicts

    @property
    def empty(self) -> bool:
        return not (self.counts.get("trajectories") or self.counts.get("memory_items"))

    @property
    def items_by_source(self) -> dict[str, int]:
        return self.items.by_source

    @property
    def items_by_status(self) -> dict[str, int]:
        return self.items.by_status


@dataclass(frozen=True)
class EventBounds:
    """The event log's extent: how many events, the last id (0 before the first) and when the first and last were."""

    events: int
    last_event: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class AsOfSummary:
    """The bank at one event: when that was (None before the first), and items per status then and now."""

    moment: datetime | None
    then: dict[str, int]
    now: dict[str, int]


@dataclass
class Provenance:
    """One trajectory an item rests on, with the steps it cites, the verdicts on it and the truth."""

    source: ItemSource
    trajectory: Trajectory | None
    verdicts: list[Verdict] = field(default_factory=list)
    truth: Truth | None = None


@dataclass(frozen=True)
class Evidence:
    """What a lesson rests on, for a reviewer weighing it against another: how its source trajectories are labelled
    now and what the truth says of them, and how tasks went when it was given to the agent."""

    trajectories: int
    labelled: dict[str, int]  # current label → trajectories
    truth: dict[str, int]  # "success" / "failure" → trajectories with a known truth
    usefulness: Usefulness | None
    disagree: int = 0  # trajectories whose current label is not their truth

    def outcomes(self) -> str:
        """'labelled 1 success; truth 1 failure (1 disagrees)': the sources in a few words."""
        def counts(by: dict[str, int]) -> str:
            return ", ".join(f"{n} {label}" for label, n in sorted(by.items())) or "none"
        text = f"labelled {counts(self.labelled)}; truth {counts(self.truth) if self.truth else 'unknown'}"
        return text + (f" ({self.disagree} disagree{'s' if self.disagree == 1 else ''})" if self.disagree else "")

    def summary(self) -> str:
        text = f"rests on {self.trajectories} trajector{'y' if self.trajectories == 1 else 'ies'}: {self.outcomes()}"
        if self.usefulness is not None and self.usefulness.n_with:
            text += f"; {self.usefulness.summary()}"
        return text


@dataclass
class ItemPage:
    item: MemoryItem
    provenance: list[Provenance]
    parents: list[MemoryItem]
    children: list[MemoryItem]
    events: list[Event]
    retrieval: dict[str, Any] | None
    retrievals: list[dict[str, Any]]
    reasons: list[str]
    evidence_total: int = 0  # source trajectories in all; `provenance` holds one page of them
    evidence_offset: int = 0


@dataclass
class TrajectoryPage:
    trajectory: Trajectory
    truth: Truth | None
    verdicts: list[Verdict]
    current: Verdict | None  # the verdict that gives it its label now (a human's beats a judge's)
    items: list[MemoryItem]  # lessons extracted from it
    run_name: str | None


class Views:
    """Read-only screens over one store. Cheap to construct.

    Every read a front end needs is a named method here returning values (dataclasses, or rows where a table is all
    a screen does with them): the dashboard, `bankcore stats` and other readers reach the bank's data only through
    this object, and can never write through it.
    """

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    def fingerprint(self) -> tuple:
        return self.store.fingerprint()

    # the whole bank
    def stats(self) -> BankStats:
        """What `bankcore stats` reports: counts, items, run outcomes, judge quality, agent runs."""
        return read_stats(self.store)

    def overview(self) -> Overview:
        s = self.store
        with s.transaction():
            counts = s.table_counts()
            items = ItemCounts.of(s.item_counts())
            merges = s.latest_batches(["MERGE"], limit=1)
            judges, extractors = s.judge_usage(), s.extractor_usage()
            demo = s.get_setting("demo")
            review = s.review_counts()
            disputed = s.count_items(status="approved", disputed=True)
            # one line per environment: a bug-fixing run's 11 steps between web runs' 8 read as a regression
            runs, bucket = [{**r, "series": r["series"] if r["series"] != "unknown" else "environment not recorded"}
                            for r in s.outcome_series(bucket="run", split="env")], "run"
            if len(runs) == 1:  # one point says little: a single run's trials say how the attempts compare
                trials = s.outcome_series(bucket="trial")
                if len([t for t in trials if t["bucket"] is not None]) > 1:
                    runs, bucket = trials, "trial"
        return Overview(counts, items, review, merges[0] if merges else None,
                        describe_backend(self.settings, judges, extractors), demo, runs, bucket, disputed)

    def schema_history(self) -> list[dict[str, Any]]:
        """Migrations applied to this file: version, name, applied_at."""
        return self.store.schema_history()

    def bank_settings(self) -> dict[str, Any]:
        """Settings stored in the bank file (the approval policy, the demo note, ...)."""
        return self.store.bank_settings()

    def llm_usage(self) -> list[dict[str, Any]]:
        """Per purpose and model: LLM calls, failed calls, tokens in/out, mean latency."""
        return self.store.llm_usage()

    # items
    def item_facets(self) -> dict[str, list[tuple[Any, int]]]:
        """Distinct values and counts of the filterable item columns (domain, source, status)."""
        return self.store.item_facets()

    def browse_items(self, *, filters: dict[str, Any], order: str = "newest", limit: int = 50,
                     offset: int = 0) -> tuple[list[MemoryItem], int]:
        """One page of items matching `filters`, and how many match in all."""
        return self.store.browse_items(filters=filters, order=order, limit=limit, offset=offset)

    def get_items(self, item_ids: Iterable[int]) -> list[MemoryItem]:
        """Items in the order asked for, without their embeddings (unknown ids skipped)."""
        return self.store.get_items(item_ids, with_embedding=False)

    def retrieval_stats(self, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Per item: times retrieved, distinct tasks, and how the tasks that were given it went."""
        return self.store.retrieval_stats(item_ids)

    def evidence(self, item_ids: tuple[int, ...]) -> dict[int, Evidence]:
        """Per item: its source trajectories' current labels and truth, and its measured usefulness."""
        s = self.store
        with s.transaction():
            sources = s.item_sources_of(item_ids)
            traj_ids = sorted({src.traj_id for srcs in sources.values() for src in srcs if src.traj_id})
            current = s.current_verdicts(traj_ids)
            truths = s.get_truths(traj_ids)
            useful = {u.item_id: u for u in s.usefulness_counts(item_ids)}
        found = {}
        for item_id in item_ids:
            mine = {src.traj_id for src in sources.get(item_id, []) if src.traj_id}
            labelled = Counter(current[t].label for t in mine if t in current)
            known = {t: "success" if truths[t].success else "failure" for t in mine
                     if t in truths and truths[t].success is not None}
            disagree = sum(1 for t, outcome in known.items() if t in current and current[t].label != outcome)
            found[item_id] = Evidence(len(mine), dict(labelled), dict(Counter(known.values())), useful.get(item_id),
                                      disagree)
        return found

    def item_page(self, item_id: int, evidence_offset: int = 0, evidence_limit: int = EVIDENCE_PAGE) -> ItemPage:
        """One item in full, with one page of the trajectories it rests on (`evidence_limit` from `evidence_offset`)."""
        s = self.store
        with s.transaction():
            item = s.get_item(item_id)
            sources, total = s.item_evidence(item_id, limit=evidence_limit, offset=evidence_offset)
            provenance = [Provenance(src, self._trajectory_or_none(src.traj_id), s.verdict_history(src.traj_id),
                                     s.get_truth(src.traj_id)) for src in sources]
            parents = s.get_items(s.item_parent_ids(item_id), with_embedding=False)
            children = s.get_items(s.child_item_ids(item_id), with_embedding=False)
            events = s.item_events(item_id)
            stats = s.retrieval_stats([item_id]).get(item_id)
            retrievals = s.item_retrievals(item_id, limit=50)
        return ItemPage(item, provenance, parents, children, events, stats, retrievals,
                        flag_reasons(item, [e for e in events if e.kind in WHY_KINDS]), total, evidence_offset)

    def _trajectory_or_none(self, traj_id: str) -> Trajectory | None:
        try:
            return self.store.get_trajectory(traj_id)
        except NotFoundError:  # provenance may outlive a trajectory in an imported bank
            return None

    def lesson_usefulness(self, limit: int = 10) -> dict[str, Any]:
        """Active lessons ranked by measured usefulness: the ones that help most and the ones that hurt
        (`Usefulness.hurts`), each row with its evidence; `measured` counts active lessons with any evidence,
        `to_flag` the hurting ones `Bank.flag_hurting` would send to review."""
        with self.store.transaction():
            counts = self.store.usefulness_counts()
            active = self.store.active_item_ids(u.item_id for u in counts)
            ranked = sorted((u for u in counts if u.item_id in active), key=lambda u: u.score)
            hurting = [u for u in counts if u.hurts]  # asked once: hurting_to_flag would ask every lesson again
            hurting_ids = {u.item_id for u in hurting}
            hurts = [u for u in ranked if u.item_id in hurting_ids][:limit]
            helps = [u for u in reversed(ranked) if u.score > 0][:limit]
            items = {i.item_id: i for i in self.store.get_items([u.item_id for u in hurts + helps],
                                                                  with_embedding=False)}
            to_flag = len(hurting_to_flag(self.store, hurting))
        return {"measured": len(ranked), "to_flag": to_flag,
                "hurts": [usefulness_row(items[u.item_id], u) for u in hurts],
                "helps": [usefulness_row(items[u.item_id], u) for u in helps]}

    def review_batch(self, which: str, limit: int, offset: int) -> tuple[list[tuple[MemoryItem, list[str]]], int]:
        """A page of the review queue, each item with why it is there."""
        items, total = self.store.review_queue(which=which, limit=limit, offset=offset)
        why = self.store.latest_events_of([i.item_id for i in items], WHY_KINDS)
        return [(i, flag_reasons(i, why.get(i.item_id, []))) for i in items], total

    # trajectories
    def list_runs(self) -> list[Run]:
        return self.store.list_runs()

    def browse_trajectories(self, *, limit: int = 50, offset: int = 0,
                            **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """One page of trajectories (newest first) with their current label and truth, and how many match."""
        return self.store.browse_trajectories(limit=limit, offset=offset, **filters)

    def matching_traj_ids(self, **filters: Any) -> list[str]:
        """Every trajectory the browser's filters match: a selection to judge again."""
        return self.store.matching_traj_ids(**filters)

    def max_verdict_id(self) -> int:
        return self.store.max_verdict_id()

    def verdict_flips(self, since_verdict_id: int) -> list[dict[str, Any]]:
        """Trajectories whose current label changed with verdicts written after `since_verdict_id`."""
        return self.store.verdict_flips(since_verdict_id)

    def trajectory_page(self, traj_id: str) -> TrajectoryPage:
        s = self.store
        with s.transaction():
            traj_id = s.resolve_traj_id(traj_id)
            traj = s.get_trajectory(traj_id)
            truth = s.get_truth(traj_id)
            verdicts = s.verdict_history(traj_id)
            current = s.current_verdicts([traj_id]).get(traj_id)
            items = s.get_items(s.items_from_trajectories([traj_id]).get(traj_id, []))
            run = s.get_run(traj.run_id) if traj.run_id is not None else None
        return TrajectoryPage(traj, truth, verdicts, current, items, run.name if run else None)

    def judge_quality(self) -> list[JudgeQuality]:
        with self.store.transaction():
            return judge_quality(self.store.judge_outcomes(), self.store.judge_vs_humans())

    # evolution
    def timeline(self, frames: int = 40, upto: int | None = None) -> tuple[list[dict[str, Any]], dict[int, datetime]]:
        """Items per status and source at `frames` points of the event log (up to event `upto`, ending exactly
        there; by default the whole log), and when each point was."""
        points = checkpoints(self.event_bounds().last_event if upto is None else upto, frames)
        return self.store.status_counts_as_of(points), self.store.event_times(points)

    def confidence_timeline(self, frames: int = 40) -> tuple[list[dict[str, Any]], dict[int, datetime]]:
        """Active items per confidence band, and reinforcements so far, at `frames` points of the event log."""
        points = checkpoints(self.event_bounds().last_event, frames)
        return self.store.confidence_as_of(points), self.store.event_times(points)

    def as_of_summary(self, event_id: int) -> AsOfSummary:
        """The bank at one event: when that was, and items per status then and now."""
        now = ItemCounts.of(self.store.item_counts()).by_status
        moment = self.store.event_times([event_id]).get(event_id)
        if event_id >= self.event_bounds().last_event:  # as of the latest event is now
            return AsOfSummary(moment, dict(now), now)
        then = ItemCounts.of((row["source"], row["status"], row["items"])
                             for row in (self.store.status_counts_as_of([event_id]) if event_id else []))
        return AsOfSummary(moment, then.by_status, now)

    def event_bounds(self) -> EventBounds:
        row = self.store.event_bounds()
        return EventBounds(row["events"], row["last_event"], row["first_at"], row["last_at"])

    def event_times(self, event_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these events was written."""
        return self.store.event_times(event_ids)

    def event_markers(self, kinds: Iterable[str]) -> list[dict[str, Any]]:
        """Batches of events of these kinds (consolidations, approvals) to mark on a time axis."""
        return self.store.event_markers(kinds)

    def count_batches(self, kinds: Iterable[str]) -> int:
        """How many batches of events of these kinds there are (consolidations: MERGE batches)."""
        return self.store.count_batches(kinds)

    def items_as_of(self, event_id: int, *, status: Iterable[str] | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of the bank as it was at `event_id`, and how many items it held (of `status`)."""
        return self.store.items_as_of(event_id, status=status, limit=limit, offset=offset)

    def merged_items(self) -> list[dict[str, Any]]:
        """Items written by a merge, newest first: the list a lineage is centred from."""
        return self.store.merged_items()

    def merge_graph(self, *, limit: int = 60, item_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The latest `limit` merges (or those around one item) as nodes and parent → child edges."""
        return self.store.merge_graph(limit=limit, item_id=item_id)

    def items_with_versions(self) -> list[dict[str, Any]]:
        """Items whose text or state changed at least once, most recently changed first."""
        return self.store.items_with_versions()

    def recent_events(self, *, kinds: Iterable[str] | None = None, limit: int = 50, offset: int = 0,
                      upto: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of the event log, newest first (from event `upto` back, when given), and how many events
        there are (of `kinds`)."""
        return self.store.recent_events(kinds=kinds, limit=limit, offset=offset, upto=upto)

    # metrics
    def outcome_series(self, *, bucket: str = "run", split: str | None = None,
                       window: int = 50) -> list[dict[str, Any]]:
        """Success rate (by truth and by current verdict) and mean steps per bucket, optionally split."""
        return self.store.outcome_series(bucket=bucket, split=split, window=window)

    def outcome_breakdown(self, by: str) -> list[dict[str, Any]]:
        """Outcomes per memory mode, per domain, or per source of the lessons the trajectory was given."""
        return self.store.outcome_breakdown(by)


    def agent_runs(self) -> dict[str, Any]:
        """Task-level outcomes per run and per memory mode: success, steps (successes vs failures), cost per task,
        best-of-N / pass@1 / pass@k, and each run's success-over-time curve (see `metrics.agent_stats`)."""
        return agent_stats(self.store)
