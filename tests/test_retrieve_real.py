"""Retrieval on the real τ-bench airline runs: queries from one trial, lessons learned from other tasks.

The bank (tests/realbank.py) holds a note per task written from its first trial — the item the official code would
retrieve for the same task, contamination included — and hand-written lessons citing τ-bench trajectories. Queries
are the customers' first messages in trial 1.
"""

from __future__ import annotations

import random

import pytest
from conftest import TAU, need_shared
from realbank import RealBank, build

from bankcore import Bank


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> RealBank:
    need_shared(TAU)
    return build(Bank(tmp_path_factory.mktemp("real") / "bank.duckdb"), TAU)


def tasks_of(real: RealBank, item_id: int) -> set[str]:
    """Straight from the provenance tables, independently of the retrieval cache."""
    _, codes, tasks = real.bank.store.item_task_pairs([item_id])
    return {tasks[c] for c in codes}


def test_a_query_never_gets_a_lesson_from_its_own_task(real):
    own_first_without_guard = 0
    for task_id, query in real.queries.items():
        for k in (1, 4):
            for hit in real.bank.retrieve(query, k, task_id=task_id, log=False):
                assert task_id not in tasks_of(real, hit.item.item_id)
        unguarded = real.bank.retrieve(query, 1, log=False)
        if unguarded and task_id in tasks_of(real, unguarded[0].item.item_id):
            own_first_without_guard += 1
    # without the guard a third of the tasks would be shown their own earlier attempt: the guard does real work
    assert own_first_without_guard >= 10


def test_a_query_retrieves_a_lesson_of_the_same_kind_from_another_task(real):
    kinds = list(real.task_kind.values())
    chance = sum((kinds.count(k) / len(kinds)) ** 2 for k in set(kinds))
    hits_by_kind: dict[str, list[bool]] = {}
    for task_id, query in real.queries.items():
        kind = real.task_kind[task_id]
        if kinds.count(kind) < 2 or kind == "other":
            continue  # no other task of this kind to learn from
        hits = real.bank.retrieve(query, 1, task_id=task_id, log=False)
        assert hits, f"nothing retrieved for {task_id}: {query!r}"
        top = hits[0].item.item_id
        assert real.item_task[top] != task_id and real.item_domain[top] == "airline"
        hits_by_kind.setdefault(kind, []).append(real.item_kind[top] == kind)
    overall = [ok for oks in hits_by_kind.values() for ok in oks]
    rate = sum(overall) / len(overall)
    assert rate >= 0.6 and rate >= 2.5 * chance, (rate, chance, hits_by_kind)
    for kind in ("cancel", "modify"):  # the two kinds with many tasks
        assert sum(hits_by_kind[kind]) / len(hits_by_kind[kind]) >= 0.75, (kind, hits_by_kind[kind])


def test_a_cancellation_request_is_shown_another_tasks_cancellation_lesson(real):
    task_id = next(t for t, q in sorted(real.queries.items()) if real.task_kind[t] == "cancel"
                   and any(real.item_task[i] == t and not i == real.notes.get(t) for i in real.item_task))
    hits = real.bank.retrieve(real.queries[task_id], 4, task_id=task_id, log=False)
    assert hits and real.item_kind[hits[0].item.item_id] == "cancel"
    assert all(real.item_task[h.item.item_id] != task_id for h in hits)
    own_lessons = [i for i, t in real.item_task.items() if t == task_id]
    for item_id in own_lessons:
        explanation = real.bank.explain(real.queries[task_id], item_id, 4, task_id=task_id)
        assert not explanation.retrieved and "same_task" in explanation.reasons


def test_other_domains_lessons_are_not_offered_to_airline_customers(real):
    for task_id, query in real.queries.items():
        for hit in real.bank.retrieve(query, 1, task_id=task_id, log=False):
            assert real.item_domain[hit.item.item_id] == "airline"


def test_explain_agrees_with_retrieve_over_many_queries(real):
    rng = random.Random(4)
    all_items = sorted(real.item_task)
    queries = sorted(real.queries.items())
    checked = 0
    for n, (task_id, query) in enumerate(queries[::2]):
        k = (1, 2, 4)[n % 3]
        options = dict(task_id=task_id if n % 4 else None, ranking="hybrid" if n % 5 == 0 else "cosine",
                       domain="airline" if n % 7 == 0 else None)
        hits = real.bank.retrieve(query, k, log=False, **options)
        shown = {h.item.item_id: h.rank for h in hits}
        candidates = set(shown) | set(rng.sample(all_items, 4))
        if task_id in real.notes:
            candidates.add(real.notes[task_id])
        for item_id in sorted(candidates):
            e = real.bank.explain(query, item_id, k, **options)
            assert e.retrieved == (item_id in shown), (query, item_id, e)
            if e.retrieved:
                assert e.rank == shown[item_id] and e.reasons == []
            else:
                assert e.reasons, e
                if e.reasons == ["outranked"]:
                    assert e.rank > k and e.outranked_by == e.rank - 1
            if options["task_id"] and real.item_task.get(item_id) == task_id:
                assert "same_task" in e.reasons
            checked += 1
    assert checked > 100
