"""Applying MaTTS to groups of trajectories of one task: best-of-N selection and self-contrast extraction.

The live runner's parallel mode and `matts-replay` over imported data (τ-bench's four trials per task, the demo's
MaTTS run) share these queues. Like the judging and extraction queues they are derived from the bank: a group is
queued for a selector until a selection of it by that selector (and prompt version) exists, and for a contrast
extractor until it was distilled under its current labels — so a label that flips queues the group again, and a
run that stops half-way resumes where it stopped. Results are written a batch at a time, each batch in one
transaction, so nothing is half-written and nothing computed before an interruption is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean
from typing import Callable, Sequence

from ..curate import lifecycle
from ..guard import gate
from ..learn import queues
from ..errors import BankcoreError
from ..learn.queues import JudgeReport, QueueRun, embed_items
from ..llm.client import LLMClient, LLMError
from .selection import HeuristicContrastExtractor, HeuristicSelector, LLMContrastExtractor, LLMSelector
from ..models import ContrastExtraction, Selection, Trajectory
from ..settings import Settings
from ..store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Group:
    """The trajectories of one task in one run, in trial order: what MaTTS selects among and contrasts."""

    run_id: int | None
    task_id: str
    traj_ids: tuple[str, ...]


def groups_of(store: Store, *, run_id: int | None = None, k: int | None = None) -> list[Group]:
    """Every task with at least two trajectories in one run; with `k`, only its first k (trial order)."""
    if k is not None and k < 2:
        raise BankcoreError(f"best-of-N needs k ≥ 2 (got {k})")
    return [Group(run, task, tuple(ids[:k] if k else ids)) for run, task, ids in store.task_groups(run_id=run_id)]


def make_selector(kind, settings: Settings, store: Store, model: str | None = None, *,
                  client: LLMClient | None = None):
    """A selector for "heuristic" or "llm" (None: the default), or a ready selector object as it is."""
    return queues.make(kind, settings, store, model, heuristic=HeuristicSelector, llm=LLMSelector, client=client)


def make_contrast_extractor(kind, settings: Settings, store: Store, model: str | None = None, *,
                            client: LLMClient | None = None):
    """A contrast extractor for "heuristic" or "llm" (None: the default), or a ready one as it is."""
    return queues.make(kind, settings, store, model, heuristic=HeuristicContrastExtractor,
                       llm=LLMContrastExtractor, client=client)


# ---------------------------------------------------------------------- selection
@dataclass
class SelectReport(QueueRun):
    selector_id: str = ""
    skipped: int = 0  # groups this selector had already chosen in

    def summary(self) -> str:
        text = f"best-of-N with {self.selector_id}: chose in {self.done} of {self.queued} groups"
        if self.skipped:
            text += f" ({self.skipped} chosen before)"
        return text + self.tail()


def select_groups(store: Store, groups: Sequence[Group], selector, *,
                  on_progress: Progress | None = None) -> SelectReport:
    """Pick the best trajectory of every group this selector has not chosen in yet; one row per pick, written
    `selector.write_every` groups at a time. Picks made before an interruption are still written on the way out."""
    report = SelectReport(selector_id=selector.selector_id, queued=len(groups))
    done = {tuple(s.traj_ids) for s in store.selections(selector_id=selector.selector_id)
            if s.prompt_version == selector.prompt_version}
    todo = [g for g in groups if g.traj_ids not in done]
    report.skipped = report.done = len(groups) - len(todo)
    if on_progress and report.skipped:
        on_progress(report.skipped)

    _drain_groups(store, todo, report, lambda group, members: _select(group, selector, members),
                  lambda picks: _write_selections(store, picks, report), selector.write_every, on_progress,
                  queues.Claims(store, f"select:{selector.selector_id}:{selector.prompt_version}"))
    return report


def _select(group: Group, selector, members: list[Trajectory]) -> Selection:
    choice = selector.select(members[0].query, members)
    return Selection(task_id=group.task_id, run_id=group.run_id, traj_ids=list(group.traj_ids),
                     selector_id=selector.selector_id, prompt_version=selector.prompt_version,
                     chosen_traj_id=group.traj_ids[choice.index], analysis=choice.analysis, scores=choice.scores,
                     llm_call_id=choice.llm_call_id, tokens_in=choice.tokens_in, tokens_out=choice.tokens_out)


def _write_selections(store: Store, picks: list[Selection], report: SelectReport) -> None:
    if picks:
        with store.transaction():
            for pick in picks:
                store.add_selection(pick)
        report.done += len(picks)


# ---------------------------------------------------------------------- self-contrast extraction
@dataclass
class ContrastReport(QueueRun):
    extractor_id: str = ""
    items: int = 0
    reinforced: int = 0  # lessons that matched an existing item and strengthened it instead
    flagged: int = 0
    unlabelled: int = 0  # groups with a trajectory not judged yet: they wait for the judge
    item_ids: list[int] = field(default_factory=list)  # new and reinforced

    def summary(self) -> str:
        text = (f"self-contrast with {self.extractor_id}: {self.items} new item(s) from {self.done} of "
                f"{self.queued} groups (pending review)")
        if self.reinforced:
            text += f", {self.reinforced} lesson(s) already in the bank reinforced"
        if self.flagged:
            text += f", {self.flagged} flagged"
        if self.unlabelled:
            text += f"; {self.unlabelled} group(s) wait for a judge"
        return text + self.tail()


def contrast_groups(store: Store, groups: Sequence[Group], extractor, *, embedder=None,
                    on_progress: Progress | None = None) -> ContrastReport:
    """Distil lessons from every group not yet contrasted by this extractor under its members' current labels.

    Results are embedded and written `extractor.write_every` groups at a time (templated heuristic lessons repeat,
    so a batch embeds each distinct text once); what was computed before an interruption is still written."""
    report = ContrastReport(extractor_id=extractor.extractor_id, queued=len(groups))
    verdicts = store.current_verdicts([t for g in groups for t in g.traj_ids])
    done = _labels_done(store, extractor)

    def contrast(group: Group, members: list[Trajectory]) -> _Contrasted | None:
        return _contrast(group, extractor, members, verdicts, done.get(group.traj_ids, set()), report)

    _drain_groups(store, list(groups), report, contrast,
                  lambda results: _write_contrasts(store, extractor, results, report, embedder),
                  extractor.write_every, on_progress,
                  queues.Claims(store, f"contrast:{extractor.extractor_id}:{extractor.prompt_version}"))
    return report


def _drain_groups(store: Store, groups: list[Group], report: QueueRun, work: Callable, write: Callable,
                  write_every: int, on_progress: Progress | None, claims: queues.Claims | None = None) -> None:
    """Run `work(group, its trajectories)` over the groups and hand what it returns (None: nothing, skipped) to
    `write` `write_every` groups at a time — the group twin of `queues._drain`. A result ends a run of failed
    LLM calls; a failed call leaves its group queued; results computed before an interruption are still written on
    the way out, and a failed write is not retried there. With `claims`, a group another worker holds (keyed by its
    trajectories) is left to it and counted in `report.elsewhere`, so several workers never do one group twice."""
    results: list = []
    try:
        for start in range(0, len(groups), write_every):
            page = groups[start:start + write_every]
            if claims is not None:
                mine = set(claims.take_page([_claim_key(g) for g in page], report, on_progress))
                page = [g for g in page if _claim_key(g) in mine]
            trajs = {t.traj_id: t for t in store.get_trajectories([i for g in page for i in g.traj_ids])}
            for group in page:
                if report.stopped:
                    return
                try:
                    result = work(group, [trajs[i] for i in group.traj_ids])
                except LLMError as exc:
                    report.note_failure(group.task_id, exc)
                else:
                    if result is not None:
                        report.consecutive = 0
                        results.append(result)
                if on_progress:
                    on_progress(1)
                if claims is not None:
                    claims.keep()
            written, results = results, []
            write(written)
    finally:
        try:
            if results:
                write(results)
        finally:
            if claims is not None:
                claims.release()


def _claim_key(group: Group) -> str:
    """A group's key in a claim queue: its trajectories, in order (a group is its members)."""
    return ",".join(group.traj_ids)


@dataclass
class _Contrasted:
    group: Group
    verdicts: list
    pairs: list
    call_id: int | None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(v.label for v in self.verdicts)


def _labels_done(store: Store, extractor) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    """For each group this extractor has distilled: the label combinations it distilled it under."""
    done: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for mark in store.contrast_extractions(extractor.extractor_id):
        if mark.prompt_version == extractor.prompt_version:
            done.setdefault(tuple(mark.traj_ids), set()).add(tuple(mark.labels))
    return done


def _contrast(group: Group, extractor, trajs, verdicts, done: set[tuple[str, ...]],
              report: ContrastReport) -> _Contrasted | None:
    if any(t not in verdicts or verdicts[t].label not in ("success", "failure") for t in group.traj_ids):
        report.unlabelled += 1  # not judged yet, or judged uncertain: contrast needs a label on every member
        return None
    group_verdicts = [verdicts[t] for t in group.traj_ids]
    if tuple(v.label for v in group_verdicts) in done:
        report.done += 1
        return None
    pairs, call_id = extractor.extract(trajs, group_verdicts)
    return _Contrasted(group, group_verdicts, pairs, call_id)


def _write_contrasts(store: Store, extractor, pending: list[_Contrasted], report: ContrastReport, embedder) -> None:
    """Embed and ask the gate's second opinion first (never while holding the bank), then write items, provenance,
    events and marks together."""
    embed_items([item for result in pending for item, _ in result.pairs], embedder)
    gate.ask_ahead([item for result in pending for item, _ in result.pairs], getattr(store, "second_opinion", None))
    batch_id = store.new_batch_id(extractor.extractor_id)
    with store.transaction():
        done = _labels_done(store, extractor)
        for result in pending:
            group, labels = result.group, result.labels
            if labels in done.get(group.traj_ids, set()):
                report.done += 1  # distilled meanwhile by another process: never duplicate items
                continue
            related = {"task_id": group.task_id, "traj_ids": list(group.traj_ids), "labels": list(labels),
                       "verdict_ids": [v.verdict_id for v in result.verdicts]}
            what = f"self-contrast over {len(group.traj_ids)} trajectories of task {group.task_id} ({', '.join(labels)})"
            for item, sources in result.pairs:
                same = store.find_same_lesson(item)
                if same is None:
                    lifecycle.add_item(store, item, sources, actor=extractor.extractor_id, batch_id=batch_id,
                                      reason=what, related=related)
                    report.items += 1
                    report.flagged += bool(item.flags)
                else:  # the same lesson again: strengthen the item that holds it, with evidence to every member
                    queues.reinforce(store, same, item, sources, actor=extractor.extractor_id,
                                       batch_id=batch_id, reason=f"the same lesson again, from {what}",
                                       related=related)
                    report.reinforced += 1
                report.item_ids.append(item.item_id if same is None else same.item_id)
            store.add_contrast_extraction(ContrastExtraction(
                task_id=group.task_id, run_id=group.run_id, traj_ids=list(group.traj_ids), labels=list(labels),
                verdict_ids=[v.verdict_id for v in result.verdicts], extractor_id=extractor.extractor_id,
                prompt_version=extractor.prompt_version, n_items=len(result.pairs), llm_call_id=result.call_id))
            report.done += 1


# ---------------------------------------------------------------------- outcomes against the truth
@dataclass(frozen=True)
class GroupOutcome:
    """How a best-of-N pick did against the truth, next to a random pick (pass@1) and the oracle (pass@k)."""

    task_id: str
    k: int
    chosen: int  # 0-based
    chosen_success: bool
    pass_at_1: float  # the exact expectation of a uniformly random pick: the group's success rate
    pass_at_k: bool  # does any trajectory succeed


@dataclass
class Outcomes:
    groups: list[GroupOutcome] = field(default_factory=list)

    def rates(self) -> dict[str, float | int | None]:
        n = len(self.groups)
        if not n:
            return {"groups": 0, "best_of_n": None, "pass_at_1": None, "pass_at_k": None}
        return {"groups": n, "best_of_n": round(mean(g.chosen_success for g in self.groups), 4),
                "pass_at_1": round(mean(g.pass_at_1 for g in self.groups), 4),
                "pass_at_k": round(mean(g.pass_at_k for g in self.groups), 4)}


def outcomes(store: Store, groups: Sequence[Group], selector_id: str) -> Outcomes:
    """Per group with truth for every member and a pick by `selector_id`: the newest pick against the truth."""
    picks = {tuple(s.traj_ids): s for s in store.selections(selector_id=selector_id)}
    truths = store.get_truths([t for g in groups for t in g.traj_ids])
    found = Outcomes()
    for group in groups:
        pick = picks.get(group.traj_ids)
        known = [truths.get(t) for t in group.traj_ids]
        if pick is None or any(t is None or t.success is None for t in known):
            continue
        wins = [bool(t.success) for t in known]
        chosen = group.traj_ids.index(pick.chosen_traj_id)
        found.groups.append(GroupOutcome(group.task_id, len(wins), chosen, wins[chosen], mean(wins), any(wins)))
    return found



# ---------------------------------------------------------------------- replay over stored trajectories
@dataclass
class ReplayReport:
    """`matts-replay`: the judge, the best-of-N picks and the contrast lessons over the groups, and how the picks
    did against the truth."""

    groups: int
    judged: JudgeReport
    selected: SelectReport
    contrasted: ContrastReport
    outcomes: Outcomes
    approved: list[int] = field(default_factory=list)

    def summary(self) -> str:
        rates = self.outcomes.rates()
        lines = [f"{self.groups} task group(s) with several trajectories", self.judged.summary(),
                 self.selected.summary(), self.contrasted.summary()]
        if self.approved:
            lines.append(f"{len(self.approved)} item(s) approved by the curation policy")
        if rates["groups"]:
            lines.append(f"against the truth ({rates['groups']} groups): best-of-N picks a success "
                         f"{100 * rates['best_of_n']:.1f}% of the time; a random pick (pass@1) "
                         f"{100 * rates['pass_at_1']:.1f}%; any of them (pass@k) {100 * rates['pass_at_k']:.1f}%")
        return "\n".join(lines)


def replay(store: Store, settings: Settings, *, run_id: int | None = None, k: int | None = None,
           selector: str | None = None, extractor: str | None = None, judge: str | None = None,
           model: str | None = None, embedder=None, client: LLMClient | None = None,
           on_progress: Progress | None = None) -> ReplayReport:
    """Best-of-N and self-contrast extraction over tasks that already have several trajectories, without an agent:
    judge what is unjudged, pick in every group, distil contrast lessons (pending), measure picks against the truth.
    The kinds default to the LLM when one is configured, else the heuristics; the extractor and judge follow the
    selector's kind unless given. Ready objects may stand for any of the three (the demo's recorded LLM); `client`
    is an LLM client handed in for the LLM kinds (a `Bank`'s injected one)."""
    groups = groups_of(store, run_id=run_id, k=k)
    if not groups:
        where = f" in run {run_id}" if run_id is not None else ""
        raise BankcoreError(f"no task has two or more trajectories{where}: nothing to select among or contrast")
    kind = selector if isinstance(selector, str) else None  # a ready selector object is not a kind to follow
    judge_ = queues.make_judge(judge or kind, settings, store, model, client=client)
    judged = queues.judge_queue(store, judge_, [t for g in groups for t in g.traj_ids], on_progress=on_progress)
    selector_ = make_selector(selector, settings, store, model, client=client)
    selected = select_groups(store, groups, selector_, on_progress=on_progress)
    extractor_ = make_contrast_extractor(extractor or kind, settings, store, model, client=client)
    contrasted = contrast_groups(store, groups, extractor_, embedder=embedder, on_progress=on_progress)
    return ReplayReport(len(groups), judged, selected, contrasted, outcomes(store, groups, selector_.selector_id))
