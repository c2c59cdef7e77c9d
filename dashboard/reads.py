"""Every read a screen makes, by name and type: one function each, cached by `st.cache_data`.

Each function here reads through `Bank.views` (the read model, `bankcore/read/views.py`) or one of `Bank`'s own
reads, and is cached under the bank it read (`ui.bank_key()`) and this run's bank fingerprint (`ui.fingerprint()`):
after any write — on this dashboard or by a CLI in another process — the fingerprint changes and the next run reads
fresh values; within one fingerprint nothing is read twice. Screens call these and never reach the store.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Concatenate, ParamSpec, TypeVar

import streamlit as st

from bankcore.bank import Bank
from bankcore.models import Hit, MemoryItem, Run, Usefulness
from bankcore.read import (AsOfSummary, EventBounds, Evidence, ItemPage, JudgeQuality, Overview, TrajectoryPage,
                           memory_in_words)
from . import ui
from .tables import event_in_words

if TYPE_CHECKING:  # the values some of `Bank`'s reads return, named for the annotations only
    from bankcore.curate.lineage import DiffOp, Lineage, Version
    from bankcore.curate.policy import Policy
    from bankcore.curate.review import ContradictionPair
    from bankcore.read.compare import Comparison
    from bankcore.read.leakage import RunAudit
    from bankcore.search.retrieve import Explanation

P = ParamSpec("P")
T = TypeVar("T")


# The parts of `Store.fingerprint()`, in its order. A read that depends on only some of them is keyed on those
# (`cached_outcomes`), so a write that moves none of them leaves its cache warm.
FINGERPRINT_PARTS = ("last_event", "items", "trajectories", "last_verdict", "retrievals", "runs", "extractions",
                     "settings")
# What the run, trajectory and label reads depend on. Curating a lesson (approve, reject, edit, merge) moves only
# the event log and the items, so it no longer recomputes, at 100k items, every Metrics analysis over every
# trajectory (agent runs alone took ~3 s of a ~8 s cold Metrics screen).
OUTCOME_PARTS = ("trajectories", "last_verdict", "runs", "extractions", "settings")


def scoped(fingerprint: tuple, parts: tuple[str, ...] | None) -> tuple:
    """The `parts` of `fingerprint` (all of it for None, or when the store's fingerprint is not the shape
    FINGERPRINT_PARTS names: a cache may then be refreshed too often, never too rarely)."""
    if parts is None or len(fingerprint) != len(FINGERPRINT_PARTS):
        return fingerprint
    return tuple(fingerprint[FINGERPRINT_PARTS.index(part)] for part in parts)


def cached_read(read: Callable[Concatenate[Bank, P], T]) -> Callable[P, T]:
    """`read(bank, ...)` as `read(...)` on this session's bank for reading (`ui.reader_for`: read-only sessions on
    PostgreSQL), through `st.cache_data` keyed by the bank, the fingerprint and the arguments."""
    return _through_cache(read, ui.reader_for)


def cached_outcomes(read: Callable[Concatenate[Bank, P], T]) -> Callable[P, T]:
    """As `cached_read`, for a read of runs, trajectories, their labels and costs only: keyed on OUTCOME_PARTS of
    the fingerprint, not on the lessons' history."""
    return _through_cache(read, ui.reader_for, OUTCOME_PARTS)


def cached_retrieval(read: Callable[Concatenate[Bank, P], T]) -> Callable[P, T]:
    """As `cached_read`, on the writable bank: a retrieval embeds the few retrievable lessons that lack a vector
    (as the CLI's `retrieve` does), so it is not a read-only step. Nothing it does is logged."""
    return _through_cache(read, ui.bank_for)


def _through_cache(read: Callable[Concatenate[Bank, P], T], bank_for: Callable[[ui.BankKey], Bank],
                   parts: tuple[str, ...] | None = None) -> Callable[P, T]:
    """Each read gets its own cache (Streamlit names a cache by the function's qualified name, so the inner
    function is renamed after the read it serves), keyed on the `parts` of the fingerprint it depends on."""
    def cached(bank_key: ui.BankKey, fingerprint: tuple, *args: Any, **kwargs: Any) -> T:
        return read(bank_for(bank_key), *args, **kwargs)

    cached.__module__ = read.__module__
    cached.__qualname__ = cached.__name__ = f"{read.__qualname__}__cached"
    through_cache = st.cache_data(show_spinner=False, max_entries=512)(cached)

    @functools.wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> T:
        return through_cache(ui.bank_key(), scoped(ui.fingerprint(), parts), *args, **kwargs)
    return reading


# ---------------------------------------------------------------------- the whole bank (Overview, Settings)
@cached_read
def overview(bank: Bank) -> Overview:
    return bank.views.overview()


@cached_read
def schema_history(bank: Bank) -> list[dict[str, Any]]:
    return bank.views.schema_history()


@cached_read
def bank_settings(bank: Bank) -> dict[str, Any]:
    return bank.views.bank_settings()


@cached_read
def policy(bank: Bank) -> Policy:
    return bank.policy()


@cached_read
def llm_usage(bank: Bank) -> list[dict[str, Any]]:
    return bank.views.llm_usage()


# ---------------------------------------------------------------------- items (Memory bank, Review queue)
@cached_read
def item_facets(bank: Bank) -> dict[str, list[tuple[Any, int]]]:
    return bank.views.item_facets()


@cached_read
def browse_items(bank: Bank, filters: dict[str, Any], order: str, limit: int,
                 offset: int) -> tuple[list[MemoryItem], int]:
    return bank.views.browse_items(filters=filters, order=order, limit=limit, offset=offset)


@cached_read
def items(bank: Bank, item_ids: tuple[int, ...]) -> list[MemoryItem]:
    """These items (without embeddings), in this order."""
    return bank.views.get_items(item_ids)


@cached_read
def retrieval_stats(bank: Bank, item_ids: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    return bank.views.retrieval_stats(item_ids)


@cached_read
def item_page(bank: Bank, item_id: int, evidence_offset: int = 0) -> ItemPage:
    return bank.views.item_page(item_id, evidence_offset)


@cached_read
def lineage(bank: Bank, item_id: int) -> Lineage:
    return bank.lineage(item_id)


@cached_read
def usefulness(bank: Bank, item_id: int) -> Usefulness:
    return bank.usefulness(item_id)


@cached_read
def review_batch(bank: Bank, which: str, limit: int,
                 offset: int) -> tuple[list[tuple[MemoryItem, list[str]]], int]:
    return bank.views.review_batch(which, limit, offset)


@cached_read
def evidence(bank: Bank, item_ids: tuple[int, ...]) -> dict[int, Evidence]:
    return bank.views.evidence(item_ids)


@cached_read
def contradictions(bank: Bank) -> list[ContradictionPair]:
    return bank.contradictions()


# ---------------------------------------------------------------------- history (Evolution)
@cached_read
def event_bounds(bank: Bank) -> EventBounds:
    return bank.views.event_bounds()


@cached_read
def event_times(bank: Bank, event_ids: tuple[int, ...]) -> dict[int, datetime]:
    return bank.views.event_times(event_ids)


@cached_read
def consolidations(bank: Bank) -> int:
    """How many consolidations (batches of MERGE events) have run."""
    return bank.views.count_batches(["MERGE"])


@cached_read
def timeline(bank: Bank, frames: int, upto: int | None = None) -> tuple[list[dict[str, Any]], dict[int, datetime]]:
    return bank.views.timeline(frames, upto)


@cached_read
def confidence_timeline(bank: Bank, frames: int) -> tuple[list[dict[str, Any]], dict[int, datetime]]:
    return bank.views.confidence_timeline(frames)


@cached_read
def as_of_summary(bank: Bank, event_id: int) -> AsOfSummary:
    return bank.views.as_of_summary(event_id)


@cached_read
def items_as_of(bank: Bank, event_id: int, status: list[str] | None, limit: int,
                offset: int) -> tuple[list[dict[str, Any]], int]:
    return bank.views.items_as_of(event_id, status=status, limit=limit, offset=offset)


@cached_read
def merged_items(bank: Bank) -> list[dict[str, Any]]:
    return bank.views.merged_items()


@cached_read
def merge_graph(bank: Bank, limit: int, item_id: int | None) -> dict[str, list[dict[str, Any]]]:
    return bank.views.merge_graph(limit=limit, item_id=item_id)


@cached_read
def plan_consolidation(bank: Bank, threshold: float, llm: bool, max_group: int) -> list[Any]:
    """What a consolidation would do at this threshold (merges and contradiction pairs), writing nothing."""
    return bank.plan_consolidation(threshold=threshold, llm=llm, max_group=max_group)


@cached_read
def items_with_versions(bank: Bank) -> list[dict[str, Any]]:
    return bank.views.items_with_versions()


@cached_read
def versions(bank: Bank, item_id: int) -> list[Version]:
    return bank.versions(item_id)


@cached_read
def diff(bank: Bank, item_id: int, old: int, new: int) -> dict[str, list[DiffOp]]:
    return bank.diff(item_id, old, new)


@cached_read
def recent_events(bank: Bank, kinds: list[str] | None, limit: int, offset: int,
                  upto: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of the event log, each event's kind in words ("merged", not MERGE) as the item history says it."""
    rows, total = bank.views.recent_events(kinds=kinds, limit=limit, offset=offset, upto=upto)
    return [{**row, "kind": event_in_words(row["kind"])} for row in rows], total


# ---------------------------------------------------------------------- trajectories and judging
@cached_outcomes
def runs(bank: Bank) -> list[Run]:
    return bank.views.list_runs()


@cached_read
def browse_trajectories(bank: Bank, filters: dict[str, Any], limit: int,
                        offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    return bank.views.browse_trajectories(limit=limit, offset=offset, **filters)


@cached_read
def matching_traj_ids(bank: Bank, filters: dict[str, Any]) -> list[str]:
    return bank.views.matching_traj_ids(**filters)


@cached_read
def trajectory_page(bank: Bank, traj_id: str) -> TrajectoryPage:
    return bank.views.trajectory_page(traj_id)


@cached_read
def max_verdict_id(bank: Bank) -> int:
    return bank.views.max_verdict_id()


@cached_read
def verdict_flips(bank: Bank, since_verdict_id: int) -> list[dict[str, Any]]:
    return bank.views.verdict_flips(since_verdict_id)


@cached_outcomes
def judge_quality(bank: Bank) -> list[JudgeQuality]:
    return bank.views.judge_quality()


# ---------------------------------------------------------------------- metrics
@cached_outcomes
def outcome_series(bank: Bank, bucket: str, split: str | None, window: int) -> list[dict[str, Any]]:
    """Outcomes per bucket; split by memory mode, each line is named in words ('memory off', not 'none')."""
    rows = bank.views.outcome_series(bucket=bucket, split=split, window=window)
    return [{**r, "series": memory_in_words(r["series"])} for r in rows] if split == "memory_mode" else rows


@cached_read
def event_markers(bank: Bank, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    return bank.views.event_markers(kinds)


@cached_read
def outcome_breakdown(bank: Bank, by: str) -> list[dict[str, Any]]:
    """Outcomes by the source of the lessons retrieved ("memory_source": it reads the lessons too)."""
    return bank.views.outcome_breakdown(by)


@cached_outcomes
def run_outcome_breakdown(bank: Bank, by: str) -> list[dict[str, Any]]:
    """Outcomes by a property of the run or trajectory ("memory_mode", "domain"): no lesson is read. Memory modes
    are said in words ('memory off', 'ReasoningBank'), as the bars are labelled with them."""
    rows = bank.views.outcome_breakdown(by)
    return [{**r, "value": memory_in_words(r["value"])} for r in rows] if by == "memory_mode" else rows


@cached_read
def lesson_usefulness(bank: Bank, limit: int) -> dict[str, Any]:
    return bank.views.lesson_usefulness(limit)


@cached_outcomes
def _agent_runs(bank: Bank, written_later: tuple[int, int]) -> dict[str, Any]:  # noqa: ARG001 — a cache key
    return bank.views.agent_runs()


def agent_runs() -> dict[str, Any]:
    """Per-run task outcomes and costs. Keyed also on how many best-of-N picks and self-contrast extractions the
    bank holds: both are written after the trajectories they are about and may move no part of OUTCOME_PARTS."""
    store = ui.reader().store
    return _agent_runs((store.count("selections"), store.count("contrast_extractions")))


@cached_read
def compare_runs(bank: Bank, run_a: int, run_b: int) -> tuple[Comparison, list[RunAudit]]:
    return bank.compare_runs(run_a, run_b)


# ---------------------------------------------------------------------- retrieval (nothing here is logged)
@cached_retrieval
def retrieve(bank: Bank, query: str, k: int, *, include_pending: bool, task_id: str | None,
             min_similarity: float | None = None) -> list[Hit]:
    return bank.retrieve(query, k, log=False, include_pending=include_pending, task_id=task_id,
                         min_similarity=min_similarity)


@cached_read
def why_nothing_retrieved(bank: Bank, include_pending: bool) -> str:
    return bank.why_nothing_retrieved(include_pending=include_pending)


@cached_read
def retrieve_as_of(bank: Bank, event_id: int, query: str, k: int, task_id: str | None) -> list[Hit]:
    return bank.retrieve_as_of(event_id, query, k, task_id=task_id)


@cached_retrieval
def explain(bank: Bank, query: str, item_id: int, k: int, *, include_pending: bool,
            task_id: str | None) -> Explanation:
    return bank.explain(query, item_id, k, include_pending=include_pending, task_id=task_id)
