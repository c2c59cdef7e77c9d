"""The learning work queues: judge what has no verdict, extract what has a label but no lessons, rejudge on demand.

Queues are derived from the bank, never kept aside: a trajectory is queued for a judge while it lacks a verdict
from that judge at that prompt version, and for an extractor while its current label has not been distilled by
that extractor. Each trajectory's result is written in one transaction (a verdict and the flags its label flip
causes; or items, provenance, events and the extraction mark), so a failed LLM call or an interrupted run leaves
the trajectory queued with nothing half-written, and running again resumes where it stopped.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from ..curate import confidence as trust
from ..curate import lifecycle
from ..guard import gate
from ..curate import policy as policy_rules
from ..errors import BankcoreError
from .extract import HeuristicExtractor, LLMExtractor
from .judge import HeuristicJudge, LLMJudge, lean
from ..llm.client import LLMClient, LLMError
from ..models import (
    FLAG_SOURCE_REJUDGED,
    LABELS,
    UNCERTAIN,
    VERDICT_LABELS,
    Extraction,
    ImportReport,
    ItemSource,
    MemoryItem,
    Verdict,
)
from ..settings import Settings
from ..store import Store

PAGE = 200  # trajectories loaded (and claimed) at a time
CLAIM_LEASE_S = 3600.0  # a claim held this long without renewal is free again: its worker is presumed dead
MAX_CONSECUTIVE_FAILURES = 5  # then the endpoint is presumed down and the run stops, leaving the rest queued
MAX_ERRORS_KEPT = 20
KINDS = ("heuristic", "llm")

Progress = Callable[[int], None]


@dataclass
class Flip:
    """A trajectory whose current label changed."""

    traj_id: str
    before: str
    after: str
    by: str
    items: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)  # approved items sent back to pending (withdraw_on_relabel)


@dataclass
class QueueRun:
    """What a queue run did: shared by the judge and extraction reports here and MaTTS's selection and contrast
    reports (`matts/parallel.py`), which drain their queues of groups the same way."""

    queued: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None
    elsewhere: int = 0  # queued work another worker held (claimed) when this run came to it
    consecutive: int = field(default=0, repr=False)  # failed trajectories in a row

    def note_failure(self, key: str, exc: LLMError) -> None:
        """A failed LLM call for `key` (a trajectory or a group's task): it stays queued. A fatal error, or
        MAX_CONSECUTIVE_FAILURES in a row, stops the run: the endpoint is presumed down."""
        self.failed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(f"{key}: {exc}")
        if exc.fatal:
            self.stopped = str(exc)
            return
        self.consecutive += 1
        if self.consecutive >= MAX_CONSECUTIVE_FAILURES:
            self.stopped = f"{self.consecutive} trajectories in a row failed (last: {exc})"

    @property
    def left(self) -> int:
        return self.queued - self.done

    def tail(self) -> str:
        """The end of a summary: what failed or stopped the run, and what is left to resume."""
        text = ""
        if self.failed:
            text += f"; {self.failed} failed and stay queued"
        if self.stopped:
            text += f"; stopped early: {self.stopped}"
        if self.elsewhere:
            text += f"; {self.elsewhere} left to another worker that holds them"
        if self.left - self.elsewhere and (self.failed or self.stopped):
            text += f" — {self.left - self.elsewhere} left, run again to resume"
        return text


@dataclass
class JudgeReport(QueueRun):
    judge_id: str = ""
    prompt_version: str | None = None
    labels: dict[str, int] = field(default_factory=lambda: {label: 0 for label in VERDICT_LABELS})
    flips: list[Flip] = field(default_factory=list)
    items_flagged: int = 0

    def summary(self) -> str:
        text = (f"judged {self.done} of {self.queued} queued trajectories with {self.judge_id} "
                f"(success {self.labels['success']}, failure {self.labels['failure']}")
        if self.labels[UNCERTAIN]:
            text += f", uncertain {self.labels[UNCERTAIN]}: no label, so no lessons unless asked (--include-uncertain)"
        text += ")"
        if self.cached:
            text += f", {self.cached} answered from the LLM cache"
        if self.flips:
            text += f"; {len(self.flips)} label(s) flipped, {self.items_flagged} item(s) flagged for review"
            withdrawn = sum(len(f.withdrawn) for f in self.flips)
            if withdrawn:
                text += f" ({withdrawn} withdrawn from retrieval until approved again)"
        return text + self.tail()


@dataclass
class ExtractReport(QueueRun):
    extractor_id: str = ""
    prompt_version: str | None = None
    items: int = 0
    reinforced: int = 0  # lessons that matched an existing item and strengthened it instead
    flagged: int = 0
    from_uncertain: int = 0  # trajectories judged uncertain, distilled under their lean (--include-uncertain)
    by_source: dict[str, int] = field(default_factory=lambda: {label: 0 for label in LABELS})
    approved_by_policy: list[int] = field(default_factory=list)  # set by Bank.extract from the curation policy
    policy_actor: str = ""

    def summary(self) -> str:
        admitted = (f"{len(self.approved_by_policy)} approved by {self.policy_actor}, the rest pending review"
                    if self.approved_by_policy else "all pending review")
        text = (f"extracted {self.items} new item(s) from {self.done} of {self.queued} queued trajectories with "
                f"{self.extractor_id} (from successes {self.by_source['success']}, from failures "
                f"{self.by_source['failure']}; {admitted})")
        if self.reinforced:
            text += f", {self.reinforced} lesson(s) already in the bank reinforced"
        if self.from_uncertain:
            text += f"; {self.from_uncertain} of the trajectories were judged uncertain (distilled under their lean)"
        if self.flagged:
            text += f", {self.flagged} flagged"
        return text + self.tail()


@dataclass
class LearnReport:
    """Judge then extract (and, for `learn PATH`, the import before them)."""

    judged: JudgeReport | None  # None when the labels came from the ground truth (`--labels truth`)
    extracted: ExtractReport
    imported: ImportReport | None = None
    truth_labels: Any = None  # labels.TruthLabelReport, with `--labels truth`

    def summary(self) -> str:
        lines = [self.imported.summary()] if self.imported else []
        labelled = self.truth_labels if self.judged is None else self.judged
        return "\n".join(lines + [labelled.summary(), self.extracted.summary()])


# ---------------------------------------------------------------------- choosing a judge / extractor
def resolve_kind(kind: str | None, settings: Settings, client: LLMClient | None = None) -> str:
    """An explicit choice, else the LLM when one is configured (or a client is handed in), else the heuristic (the
    honest offline default)."""
    if kind is None:
        return "llm" if settings.llm_configured or client is not None else "heuristic"
    if kind not in KINDS:
        raise BankcoreError(f"unknown judge/extractor {kind!r} (choose heuristic or llm)")
    return kind


def make(kind, settings: Settings, store: Store, model: str | None, *, heuristic: Callable[[], Any],
         llm: Callable[[LLMClient], Any], client: LLMClient | None = None):
    """The one "heuristic or LLM" factory: a ready object (`kind` not a string: the demo's recorded LLM, a test's
    stand-in) is used as it is; else `heuristic()` or `llm(client)` as `resolve_kind` decides. `client`: an LLM
    client handed in (a `Bank`'s injected one), used instead of building one from the settings."""
    if kind is not None and not isinstance(kind, str):
        return kind
    if resolve_kind(kind, settings, client) == "heuristic":
        return heuristic()
    return llm(client or LLMClient(settings, store, model=model))


def make_judge(kind, settings: Settings, store: Store, model: str | None = None, *, strict: bool = False,
               client: LLMClient | None = None):
    """A judge for "heuristic" or "llm" (None: the default); a ready judge object is used as it is (the demo's
    `LLMJudge` over recorded replies, a test's judge). `strict`: the LLM judge's strict mode; the heuristic judge
    has none (it abstains when its evidence is weak), so asking for both is an error."""
    judge = make(kind, settings, store, model, heuristic=HeuristicJudge,
                 llm=lambda client_: LLMJudge(client_, strict=strict), client=client)
    if strict and isinstance(judge, HeuristicJudge):
        raise BankcoreError("--strict is a mode of the LLM judge; the heuristic judge already answers uncertain "
                            "when its evidence is weak (configure an endpoint or pass --judge llm)")
    return judge


def make_extractor(kind, settings: Settings, store: Store, model: str | None = None, *,
                   client: LLMClient | None = None):
    """An extractor for "heuristic" or "llm" (None: the default), or a ready extractor object as it is."""
    return make(kind, settings, store, model, heuristic=HeuristicExtractor, llm=LLMExtractor, client=client)


# ---------------------------------------------------------------------- judging
def judge_queue(store: Store, judge, traj_ids: Iterable[str] | None = None, *, limit: int | None = None,
                on_progress: Progress | None = None) -> JudgeReport:
    """Judge every trajectory (of `traj_ids`, or all) that lacks a verdict from this judge and prompt version."""
    queue = store.unjudged(judge.judge_id, judge.prompt_version, None if traj_ids is None else list(traj_ids))
    claims = Claims(store, f"judge:{judge.judge_id}:{judge.prompt_version}")
    return _judge(store, judge, queue[:limit] if limit else queue, fresh_only=True, on_progress=on_progress,
                  claims=claims)


def rejudge(store: Store, judge, traj_ids: list[str], *, on_progress: Progress | None = None) -> JudgeReport:
    """Judge these trajectories again (appending verdicts), report label flips and flag the items they affect."""
    return _judge(store, judge, traj_ids, fresh_only=False, on_progress=on_progress)


def _judge(store: Store, judge, queue: list[str], *, fresh_only: bool, on_progress: Progress | None,
           claims: Claims | None = None) -> JudgeReport:
    report = JudgeReport(judge_id=judge.judge_id, prompt_version=judge.prompt_version, queued=len(queue))

    def write(verdicts: list[Verdict]) -> None:
        _write_verdicts(store, verdicts, report, fresh_only=fresh_only, prompt_version=judge.prompt_version)

    _drain(store, queue, report, judge.judge, write, judge.write_every, on_progress, claims)
    return report


def _write_verdicts(store: Store, verdicts: list[Verdict], report: JudgeReport, *, fresh_only: bool,
                    prompt_version: str | None) -> None:
    """Append verdicts and, in the same transaction, flag the items of every trajectory whose label flipped."""
    ids = [v.traj_id for v in verdicts]
    with store.transaction():
        if fresh_only:  # another run may have judged some meanwhile: never duplicate a verdict
            still = set(store.unjudged(verdicts[0].judge_id, prompt_version, ids))
            verdicts = [v for v in verdicts if v.traj_id in still]
        before = store.current_verdicts(ids)
        store.add_verdicts(verdicts)
        flips = _flips(before, store.current_verdicts(ids), verdicts[0].judge_id if verdicts else "")
        report.items_flagged += flag_flipped_items(store, flips)
    for v in verdicts:
        report.done += 1
        report.cached += bool(v.signals.get("cached"))
        report.labels[v.label] += 1
        report.tokens_in += v.tokens_in or 0
        report.tokens_out += v.tokens_out or 0
    report.flips += flips


def _flips(before: dict[str, Verdict], after: dict[str, Verdict], by: str) -> list[Flip]:
    return [Flip(tid, old.label, after[tid].label, by) for tid, old in before.items()
            if tid in after and after[tid].label != old.label]


def flag_flipped_items(store: Store, flips: list[Flip]) -> int:
    """Each item resting on a flipped trajectory gets a SOURCE_REJUDGED event and the `source_rejudged` flag:
    its lesson was drawn under the other label and may now be backwards. Under the policy's `withdraw_on_relabel`
    an approved one also goes back to pending, out of retrieval until a person approves it again. Returns the
    number of events written."""
    if not flips:
        return 0
    withdraw = policy_rules.load(store).withdraw_on_relabel
    by_traj = store.items_from_trajectories([f.traj_id for f in flips])
    written = 0
    for flip in flips:
        flip.items = by_traj.get(flip.traj_id, [])
        for item_id in flip.items:
            item = store.get_item(item_id)
            flags = item.flags if FLAG_SOURCE_REJUDGED in item.flags else item.flags + [FLAG_SOURCE_REJUDGED]
            reason = (f"source trajectory {flip.traj_id} relabelled {flip.before} → {flip.after}; this "
                      f"{item.source} lesson may now be backwards")
            changes: dict[str, Any] = {"flags": flags}
            if withdraw and item.status == "approved":
                changes["status"] = "pending"
                reason += ": withdrawn from retrieval until a person approves it again"
                flip.withdrawn.append(item_id)
            lifecycle.change_item(store, item_id, kind="SOURCE_REJUDGED", actor=flip.by, reason=reason,
                                 related={"traj_id": flip.traj_id, "before": flip.before, "after": flip.after},
                                 **changes)
            written += 1
    return written


def human_label(store: Store, traj_id: str, label: str, *, by: str, rationale: str = "") -> tuple[Verdict, list[Flip]]:
    """Record a person's label (`human:<name>`); it outranks every judge. Flags items if the label flipped."""
    if label not in LABELS:
        raise BankcoreError(f"label must be success or failure, not {label!r}")
    name = " ".join((by or "").split())
    if not name:
        raise BankcoreError("say who is labelling (--by NAME)")
    store.get_trajectory(traj_id)  # NotFoundError for an unknown id
    verdict = Verdict(traj_id=traj_id, label=label, judge_id=f"human:{name}", rationale=rationale.strip(),
                      confidence=1.0)
    report = JudgeReport(judge_id=verdict.judge_id)
    _write_verdicts(store, [verdict], report, fresh_only=False, prompt_version=None)
    return verdict, report.flips


# ---------------------------------------------------------------------- extraction
def extract_queue(store: Store, extractor, traj_ids: Iterable[str] | None = None, *, embedder=None,
                  limit: int | None = None, on_progress: Progress | None = None,
                  include_uncertain: bool = False) -> ExtractReport:
    """Distil lessons from every labelled trajectory this extractor has not yet distilled under its label.
    An uncertain trajectory yields none unless `include_uncertain`: then it is distilled under the label its
    verdict leans to, and its items say so (`meta.uncertain_label`)."""
    queue = store.unextracted(extractor.extractor_id, extractor.prompt_version,
                              None if traj_ids is None else list(traj_ids), include_uncertain=include_uncertain)
    queue = [v for v in queue if lean(v) is not None]  # an abstention with no lean has nothing to extract under
    queue = queue[:limit] if limit else queue
    report = ExtractReport(extractor_id=extractor.extractor_id, prompt_version=extractor.prompt_version,
                           queued=len(queue))
    verdicts = {v.traj_id: v for v in queue}
    batch_id = store.new_batch_id(extractor.extractor_id)

    def work(traj) -> tuple[Verdict, list[tuple[MemoryItem, ItemSource]]]:
        verdict = verdicts[traj.traj_id]
        if verdict.label != UNCERTAIN:
            return verdict, extractor.extract(traj, verdict)
        pairs = extractor.extract(traj, replace(verdict, label=lean(verdict)))
        for item, _ in pairs:
            item.meta = dict(item.meta or {}, uncertain_label=True)
        return verdict, pairs

    def write(results) -> None:
        _write_extractions(store, extractor, results, report, embedder, batch_id, include_uncertain)

    claims = Claims(store, f"extract:{extractor.extractor_id}:{extractor.prompt_version}")
    _drain(store, list(verdicts), report, work, write, extractor.write_every, on_progress, claims)
    return report


def _write_extractions(store: Store, extractor, pending, report: ExtractReport, embedder, batch_id: str,
                       include_uncertain: bool = False) -> None:
    """Embed and ask the gate's second opinion first (never while holding the bank), then write items, events and
    extraction marks together."""
    embed_items([item for _, pairs in pending for item, _ in pairs], embedder)
    gate.ask_ahead([item for _, pairs in pending for item, _ in pairs], getattr(store, "second_opinion", None))
    with store.transaction():
        still = {(v.traj_id, v.label) for v in store.unextracted(
            extractor.extractor_id, extractor.prompt_version, [v.traj_id for v, _ in pending],
            include_uncertain=include_uncertain)}
        for verdict, pairs in pending:
            if (verdict.traj_id, verdict.label) not in still:
                continue  # distilled meanwhile by another run: never duplicate items
            related = {"traj_id": verdict.traj_id, "verdict_id": verdict.verdict_id, "judge_id": verdict.judge_id}
            for item, source in pairs:
                same = store.find_same_lesson(item)
                if same is not None:
                    reinforce(store, same, item, [source], actor=extractor.extractor_id, batch_id=batch_id,
                              reason=f"the same lesson again, from {verdict.label} trajectory {verdict.traj_id}",
                              related=related)
                    report.reinforced += 1
                    continue
                lifecycle.add_item(store, item, [source], actor=extractor.extractor_id, batch_id=batch_id,
                                  reason=f"extracted from {verdict.label} trajectory {verdict.traj_id}",
                                  related=related)
                report.items += 1
                report.by_source[lean(verdict)] += 1
                report.flagged += bool(item.flags)
            report.from_uncertain += verdict.label == UNCERTAIN
            store.add_extraction(Extraction(traj_id=verdict.traj_id, extractor_id=extractor.extractor_id,
                                            prompt_version=extractor.prompt_version, verdict_id=verdict.verdict_id,
                                            label=verdict.label, n_items=len(pairs)))
            report.done += 1


def reinforce(store: Store, same: MemoryItem, item: MemoryItem, sources: list[ItemSource], *, actor: str,
              batch_id: str, reason: str, related: dict) -> None:
    """A lesson learned again from other trajectories strengthens the item that holds it instead of being stored
    twice (ExpeL's AGREE): the new evidence rows, a REINFORCE event, and confidence raised by *distinct, correctly
    labelled* evidence (`confidence`): a new task counts, a repeat from a task already counted barely does, and a
    label that is uncertain or disputed counts for less."""
    for source in sources:
        source.item_id = same.item_id
        store.add_item_source(source)
    support = same.meta.get("support") or trust.start(same.confidence, _witness(store, same, []))
    support = trust.add(support, _witness(store, item, [s.traj_id for s in sources if s.traj_id]))
    meta = dict(same.meta, reinforced=int(same.meta.get("reinforced", 0)) + 1, support=support)
    lifecycle.change_item(store, same.item_id, kind="REINFORCE", actor=actor, reason=reason, batch_id=batch_id,
                         related=related, confidence=trust.level(support), meta=meta)


def _witness(store: Store, item: MemoryItem, traj_ids: list[str]) -> trust.Witness:
    """What one extraction adds as evidence: its task, and its label's weight (less when the label was only a lean
    of an uncertain verdict, or when the trajectory's verdicts disagree)."""
    meta = item.meta or {}
    traj_ids = traj_ids or [t for t in [meta.get("traj_id")] if t] or list(meta.get("traj_ids") or [])
    task = meta.get("task_id") or (traj_ids[0] if traj_ids else f"item:{item.item_id}")
    disputed = any(len({v.label for v in store.verdict_history(t) if v.label in LABELS}) > 1 for t in traj_ids)
    weight = trust.label_weight(meta.get("label_confidence"), str(meta.get("judge_id") or ""),
                                uncertain=bool(meta.get("uncertain_label")), disputed=disputed)
    return trust.Witness(str(task), weight)


def embed_items(items: list[MemoryItem], embedder=None) -> None:
    """Embed each distinct text once (templated heuristic lessons repeat across trajectories)."""
    if not items:
        return
    if embedder is None:
        from ..search.embed import Embedder
        embedder = Embedder()
    from ..search.embed import item_text
    groups: dict[str, list[MemoryItem]] = {}
    for item in items:
        groups.setdefault(item_text(item), []).append(item)
    firsts = [group[0] for group in groups.values()]
    embedder.embed_items(firsts)
    for group in groups.values():
        for other in group[1:]:
            other.embedding, other.embedding_model = group[0].embedding, group[0].embedding_model


# ---------------------------------------------------------------------- shared loop parts
class Claims:
    """This worker's claims on one queue (`store/claims.py`): taken a page at a time, renewed while the work goes
    on, given back when the run ends. Another worker's claimed trajectories are left to it."""

    def __init__(self, store: Store, queue: str, lease_s: float = CLAIM_LEASE_S):
        self.store, self.queue, self.lease_s = store, queue, lease_s
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held: list[str] = []
        self.renewed = time.monotonic()

    def take(self, keys: list[str]) -> list[str]:
        mine = self.store.claim_work(self.queue, keys, self.worker, self.lease_s)
        self.held += mine
        return mine

    def take_page(self, keys: list[str], report: QueueRun, on_progress: Progress | None) -> list[str]:
        """`take`, with the keys another worker holds counted in `report.elsewhere` and shown as progress."""
        mine = self.take(keys)
        report.elsewhere += len(keys) - len(mine)
        if on_progress and len(mine) < len(keys):
            on_progress(len(keys) - len(mine))
        return mine

    def keep(self) -> None:
        """Renew what is held once a third of the lease has gone (a slow model can take minutes a trajectory)."""
        if self.held and time.monotonic() - self.renewed > self.lease_s / 3:
            self.store.claim_work(self.queue, self.held, self.worker, self.lease_s)
            self.renewed = time.monotonic()

    def release(self) -> None:
        if self.held:
            self.store.release_work(self.queue, self.worker)
            self.held = []


def _drain(store: Store, queue: list[str], report: QueueRun, work: Callable, write: Callable, write_every: int,
           on_progress: Progress | None, claims: Claims | None = None) -> None:
    """Run `work(trajectory)` over the queue and hand the results to `write` in batches. A failed LLM call leaves
    its trajectory queued; results computed before an interruption are still written on the way out. With `claims`,
    a trajectory another worker holds is skipped (counted in `report.elsewhere`), so workers never do it twice."""
    pending: list = []
    try:
        for start in range(0, len(queue), PAGE):
            page = queue[start:start + PAGE]
            if claims is not None:
                page = claims.take_page(page, report, on_progress)
            for traj in store.get_trajectories(page):
                if report.stopped:
                    return
                try:
                    pending.append(work(traj))
                    report.consecutive = 0
                except LLMError as exc:
                    report.note_failure(traj.traj_id, exc)
                finally:
                    if on_progress:
                        on_progress(1)
                if len(pending) >= write_every:
                    write(pending)
                    pending = []
                if claims is not None:
                    claims.keep()
    finally:
        try:
            if pending:
                write(pending)
        finally:
            if claims is not None:
                claims.release()
