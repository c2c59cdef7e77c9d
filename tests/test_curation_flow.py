"""Consolidation, lineage, curation and time travel on a real DuckDB bank with real embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bankcore import Bank
from bankcore.curate import lifecycle
from bankcore.curate.asof import compare
from bankcore.demo import SteppingClock
from bankcore.search.embed import Embedder, item_text
from bankcore.errors import BankcoreError, ConflictError, NotFoundError
from bankcore.models import MemoryItem
from bankcore.curate.lineage import render
from curation_helpers import THRESHOLD, add_lessons, state


@pytest.fixture
def lessons(tmp_path):
    bank = Bank(tmp_path / "bank.duckdb", clock=SteppingClock())
    return bank, add_lessons(bank, tmp_path)


def test_plan_on_real_embeddings(lessons):
    bank, ids = lessons
    actions = bank.plan_consolidation(threshold=THRESHOLD)
    merges = {a.parent_ids for a in actions if a.kind == "merge"}
    contradictions = {(a.a, a.b) for a in actions if a.kind == "contradiction"}
    assert merges == {(ids[0], ids[1]), (ids[5], ids[6])}
    assert contradictions == {(ids[2], ids[3])}
    assert bank.store.count("memory_events") == len(ids)  # planning writes nothing


def test_merge_lineage_diff_unmerge_returns_the_exact_prior_state(lessons):
    bank, ids = lessons
    before = {i: state(bank.item(i)) for i in ids}
    _, report = bank.consolidate(threshold=THRESHOLD, actor="human:ana")
    children = dict(report.merged)
    assert sorted(children.values()) == [(ids[0], ids[1]), (ids[5], ids[6])]
    child_id = next(c for c, parents in children.items() if parents == (ids[0], ids[1]))

    child = bank.item(child_id)
    assert child.source == "merged" and child.extractor_id == "heuristic-merge:1" and child.status == "pending"
    assert child.domain == "airline" and child.embedding is not None
    # Every distinct sentence of both parents survives; the repeated one is said once.
    assert child.content.count("Cancelling the wrong booking cannot be undone.") == 1
    assert "Check the cancellation policy of the fare class too." in child.content
    [merge_event] = bank.history(child_id)
    assert merge_event.kind == "MERGE" and merge_event.actor == "heuristic-merge:1"
    assert merge_event.related["parents"] == [ids[0], ids[1]] and merge_event.related["requested_by"] == "human:ana"
    parents_rows = [s.parent_item_id for s in bank.store.item_sources(child_id) if s.relation == "parent"]
    assert parents_rows == [ids[0], ids[1]]
    evidence = {s.traj_id for s in bank.store.item_sources(child_id) if s.relation == "evidence"}
    assert len(evidence) == 2  # the parents' evidence is inherited: "never the same task" keeps working
    for parent in (ids[0], ids[1]):
        item = bank.item(parent)
        assert item.status == "superseded" and item.superseded_by == child_id
        last = bank.history(parent)[-1]
        assert last.kind == "SUPERSEDE" and last.batch_id == merge_event.batch_id

    lineage = bank.lineage(child_id)
    assert [n.item_id for n in lineage.ancestors] == [ids[0], ids[1]] and lineage.descendants == []
    assert [n.item_id for n in bank.lineage(ids[0]).descendants] == [child_id]

    bank.edit(child_id, content=child.content + " Tell the user the refund amount.", actor="human:bo")
    assert [v.version for v in bank.versions(child_id)] == [1, 2]
    content_diff = bank.diff(child_id, 1, 2)["content"]
    assert [o.op for o in content_diff if o.op != "equal"] == ["insert"]
    assert render(content_diff).endswith("{+ Tell the user the refund amount.+}")
    assert bank.diff(child_id, 1, 2)["title"][0].op == "equal"

    assert bank.unmerge(child_id, actor="human:bo", reason="too broad") == [ids[0], ids[1]]
    for parent in (ids[0], ids[1]):
        assert state(bank.item(parent)) == before[parent]
        assert bank.history(parent)[-1].kind == "UNMERGE"
    assert bank.item(child_id).status == "archived"
    with pytest.raises(BankcoreError, match="already un-merged"):
        bank.unmerge(child_id)
    with pytest.raises(BankcoreError, match="not the result of a merge"):
        bank.unmerge(ids[4])
    # The DAG edge stays on record after the un-merge; the node's status tells the story.
    assert [(n.item_id, n.status) for n in bank.lineage(ids[0]).descendants] == [(child_id, "archived")]


def test_as_of_before_and_after_a_merge_differ_exactly_by_the_merge(lessons):
    bank, ids = lessons
    before = bank.as_of(bank.store.last_event_id())
    _, report = bank.consolidate(threshold=THRESHOLD)
    after = bank.as_of(bank.store.last_event_id())
    diff = compare(before, after)
    children = [c for c, _ in report.merged]
    parents = [p for _, ps in report.merged for p in ps]
    pair = [n for a, b, _ in report.contradictions for n in (a, b)]
    assert diff.added == sorted(children) and diff.removed == []
    assert set(diff.changed) == set(parents) | set(pair)
    for parent in parents:
        old, new = diff.changed[parent]
        assert {k for k in old if old[k] != new[k]} == {"status", "superseded_by"}
        assert new["superseded_by"] in children
    for item_id in pair:
        old, new = diff.changed[item_id]
        assert {k for k in old if old[k] != new[k]} == {"flags"}
    # Every event between the two points is this consolidation's.
    events = [e for e in bank.store.iter_events() if before.event_id < e.event_id <= after.event_id]
    assert {e.batch_id for e in events} == {report.batch_id}
    # After an un-merge the bank as of now has the same active items, with the same text, as before the merge.
    for child in children:
        bank.unmerge(child)
    now = bank.as_of(bank.store.last_event_id())
    assert {i.item_id: (i.status, i.content) for i in now.active()} == {
        i.item_id: (i.status, i.content) for i in before.active()}


class CountingEmbedder(Embedder):
    def __init__(self):
        self.texts: list[str] = []

    def embed(self, texts, batch_size=32):
        self.texts += list(texts)
        return super().embed(texts, batch_size)


def test_as_of_by_time_ranks_the_text_the_agent_would_have_seen(lessons):
    bank, ids = lessons
    counting = CountingEmbedder()
    bank = Bank(bank.store, embedder=counting)  # the same bank file and store, embedding through the counter
    for item_id in ids:
        bank.approve(item_id, actor="human:ana")
    moment = bank.store.get_event(bank.store.last_event_id()).created_at
    bank.edit(ids[7], actor="human:ana", title="Refund to the original payment method",
              description="Refunds go back where the money came from.",
              content="Issue airline ticket refunds to the original credit card, never as a voucher.")
    then, now = bank.as_of(moment), bank.as_of(bank.store.last_event_id())
    assert then.item(ids[7]).title == "Use Lookup for keywords in long pages" and then.item(ids[7]).version == 1
    assert bank.store.get_event(bank.store.event_id_at(moment)).kind == "APPROVE"
    assert now.item(ids[7]).version == 2
    query = "the wikipedia page is very long, find the keyword"
    counting.texts.clear()
    assert then.rank(query)[0].item.item_id == ids[7]
    # Only the past version and the query were embedded: unchanged texts reuse the stored vectors.
    assert counting.texts == [item_text(then.item(ids[7])), query]
    scores_then = {h.item.item_id: h.score for h in then.rank(query, k=8)}
    scores_now = {h.item.item_id: h.score for h in now.rank(query, k=8)}
    assert scores_then[ids[7]] > scores_now[ids[7]] + 0.3  # ranked by the text of the time, not today's
    assert now.rank(query)[0].item.item_id != ids[7]
    assert all(scores_then[i] == pytest.approx(scores_now[i]) for i in ids[:7])
    # The past text was embedded on demand and matches a fresh embedding of that text.
    hit = then.rank(query)[0]
    expected = float(Embedder().embed([item_text(then.item(ids[7]))])[0] @ Embedder().embed_query(query))
    assert hit.score == pytest.approx(expected, abs=1e-5)
    # Lessons learned from the task itself are never retrieved for it.
    own = then.rank(query, k=8, exclude_task_id="hp-3")
    assert ids[7] not in [h.item.item_id for h in own] and len(own) == 7
    assert bank.as_of(0).items == {}


def test_as_of_run_uses_the_state_when_the_run_started(lessons, tmp_path):
    bank, ids = lessons
    bank.approve(ids[0])
    later = tmp_path / "later.jsonl"
    later.write_text(json.dumps({"query": "cancel my trip", "steps": []}) + "\n")
    bank.import_path(later, run_name="later run")
    bank.approve(ids[1])
    run = bank.store.find_run("later run")
    view = bank.as_of_run(run.run_id)
    assert [i.item_id for i in view.retrievable()] == [ids[0]]
    [(traj_id, query, hits)] = bank.told_at_run(run.run_id)
    assert query == "cancel my trip" and [h.item.item_id for h in hits] == [ids[0]]
    with pytest.raises(NotFoundError, match="no event 999"):
        bank.as_of(999)


def test_optimistic_edit_conflict_is_refused_with_a_clear_message(lessons, cli):
    bank, ids = lessons
    seen = bank.item(ids[4]).last_event_id
    bank.edit(ids[4], content="Read the membership tier first.", actor="human:bo", expected_event_id=seen)
    with pytest.raises(ConflictError, match=r"changed since you loaded it \(EDIT by human:bo"):
        bank.edit(ids[4], content="Something else.", actor="human:ana", expected_event_id=seen)
    result = cli("review", "edit", ids[4], "--content", "Something else.", "--expect-event", seen, "--by", "ana",
                 "--db", bank.path)
    assert result.code == 1 and "was changed since you loaded it" in result.err and "Traceback" not in result.err
    assert bank.item(ids[4]).content == "Read the membership tier first."
    current = bank.item(ids[4]).last_event_id
    result = cli("review", "edit", ids[4], "--content", "Something else.", "--expect-event", current, "--by", "ana",
                 "--db", bank.path)
    assert result.code == 0, result.err
    edited = bank.item(ids[4])
    assert edited.content == "Something else." and edited.version == 3
    assert np.allclose(edited.embedding, Embedder().embed([item_text(edited)])[0], atol=1e-5)
    assert bank.history(ids[4])[-1].actor == "human:ana"


def test_restore_an_earlier_version(lessons):
    bank, ids = lessons
    original = bank.item(ids[4])
    bank.edit(ids[4], content="Version two.")
    bank.edit(ids[4], title="Version three title")
    restored = bank.restore(ids[4], 1, actor="human:ana", reason="the edits lost detail")
    assert (restored.title, restored.content, restored.version) == (original.title, original.content, 4)
    event = bank.history(ids[4])[-1]
    assert event.kind == "RESTORE" and event.related["restored_version"] == 1 and event.actor == "human:ana"
    assert np.allclose(restored.embedding, original.embedding, atol=1e-5)
    with pytest.raises(BankcoreError, match="already has the text of version 1"):
        bank.restore(ids[4], 1)
    with pytest.raises(NotFoundError, match="no version 9"):
        bank.restore(ids[4], 9)
    with pytest.raises(BankcoreError, match="changes nothing"):
        bank.edit(ids[4], title=original.title)


def test_contradictions_are_surfaced_as_pairs_and_resolved_by_a_human(lessons):
    bank, ids = lessons
    always, never = ids[2], ids[3]
    _, report = bank.consolidate(threshold=THRESHOLD)
    assert [(a, b) for a, b, _ in report.contradictions] == [(always, never)]
    assert f"contradicts:{never}" in bank.item(always).flags and f"contradicts:{always}" in bank.item(never).flags
    [pair] = bank.contradictions()
    assert (pair.a.item_id, pair.b.item_id, pair.open) == (always, never, True)
    assert pair.detector == "heuristic-contradiction:1" and "Never ask" in pair.reason
    assert bank.history(always)[-1].kind == "CONTRADICTION"
    # A second run neither surfaces the pair again nor merges it.
    _, again = bank.consolidate(threshold=THRESHOLD)
    assert again.contradictions == [] and all(always not in p for _, p in again.merged)

    bank.resolve_contradiction(always, never, "both", actor="human:ana", reason="different fare rules")
    assert bank.contradictions() == []
    [resolved] = bank.contradictions(open_only=False)
    assert resolved.resolution == "keep-both" and not resolved.open
    assert not bank.item(always).flags and bank.item(always).status == "pending"
    _, third = bank.consolidate(threshold=THRESHOLD)
    assert third.contradictions == [] and third.merged == []  # a resolved pair is never merged blindly
    with pytest.raises(BankcoreError, match="not an open contradiction"):
        bank.resolve_contradiction(always, never, "both")


def test_resolving_by_keeping_one_rejects_the_other(lessons):
    bank, ids = lessons
    bank.consolidate(threshold=THRESHOLD)
    bank.resolve_contradiction(ids[2], ids[3], str(ids[2]), actor="human:ana")
    assert bank.item(ids[3]).status == "rejected" and bank.item(ids[2]).status == "pending"
    assert bank.history(ids[3])[-1].kind == "REJECT"
    assert not [f for f in bank.item(ids[3]).flags if f.startswith("contradicts:")]  # the gate's own flag stays


def test_a_reviewer_keeps_an_approved_item_whose_source_was_rejudged(lessons):
    """Re-judging flags an approved lesson; approving it again says "still right": the flag is cleared (the event
    keeps it), the item leaves the review queue and stays approved. A contradiction flag is not cleared that way."""
    bank, ids = lessons
    bank.approve(ids[0], actor="human:ana")
    lifecycle.change_item(bank.store, ids[0], kind="SOURCE_REJUDGED", actor="llm:judge", flags=["source_rejudged"])
    assert ids[0] in [i.item_id for i in bank.store.review_queue(which="flagged")[0]]
    kept = bank.approve(ids[0], actor="human:bo", reason="the lesson holds either way")
    assert (kept.status, kept.flags) == ("approved", [])
    event = bank.history(ids[0])[-1]
    assert (event.kind, event.actor, event.before["flags"]) == ("APPROVE", "human:bo", ["source_rejudged"])
    assert ids[0] not in [i.item_id for i in bank.store.review_queue()[0]]
    with pytest.raises(BankcoreError, match="already approved"):
        bank.approve(ids[0])  # nothing left to answer
    lifecycle.change_item(bank.store, ids[0], kind="CONTRADICTION", actor="test", flags=[f"contradicts:{ids[1]}"])
    with pytest.raises(BankcoreError, match="already approved"):
        bank.approve(ids[0])  # a contradiction is settled by deciding the pair


def test_approving_a_flagged_pending_item_answers_its_flag(lessons):
    bank, ids = lessons
    lifecycle.change_item(bank.store, ids[5], kind="FLAG", actor="guard", flags=["suspected_injection"])
    approved = bank.approve(ids[5], actor="human:ana", reason="read it: a real lesson")
    assert (approved.status, approved.flags) == ("approved", [])
    assert bank.history(ids[5])[-1].before["flags"] == ["suspected_injection"]


def test_review_decisions_and_their_guards(lessons):
    bank, ids = lessons
    approved = bank.approve(ids[0], actor="human:ana", reason="clear")
    assert approved.status == "approved" and bank.history(ids[0])[-1].reason == "clear"
    with pytest.raises(BankcoreError, match="already approved"):
        bank.approve(ids[0])
    bank.reject(ids[0], actor="human:bo")
    assert bank.item(ids[0]).status == "rejected"
    bank.approve(ids[0])  # a rejection can be reversed
    with pytest.raises(ConflictError):
        bank.reject(ids[0], expected_event_id=1)
    lifecycle.change_item(bank.store, ids[5], kind="FLAG", actor="llm:judge", flags=["suspected_injection"])
    result = bank.bulk_review("approve", actor="human:ana", domain="hotpotqa")
    assert result.decided == [ids[6], ids[7]] and result.skipped_flagged == [ids[5]]
    assert bank.item(ids[6]).status == "approved" and bank.item(ids[5]).status == "pending"
    assert len({bank.history(i)[-1].batch_id for i in result.decided}) == 1
    rejected = bank.bulk_review("reject", actor="human:ana", domain="hotpotqa")
    assert rejected.decided == [ids[5]]  # a bulk rejection covers flagged items too


def test_superseded_items_are_changed_only_by_unmerging(lessons):
    bank, ids = lessons
    bank.consolidate(threshold=THRESHOLD)
    for action in (bank.approve, bank.reject):
        with pytest.raises(BankcoreError, match="superseded by item"):
            action(ids[0])
    with pytest.raises(BankcoreError, match="un-merge"):
        bank.edit(ids[0], content="x")


def test_a_person_writes_a_lesson_and_it_is_retrievable(bank, cli):
    item = bank.write_lesson(title="Click Next Page before concluding", description="Lists are paginated.",
                             content="Look for Next Page or Load More before counting.", domain="shopping",
                             actor="human:ana")
    assert (item.source, item.status, item.embedding_model) == ("manual", "approved", Embedder.model_id)
    hits = bank.retrieve("How many orders did I place last March? The list has several pages.", log=False)
    assert hits and hits[0].item.item_id == item.item_id
    with pytest.raises(BankcoreError, match="written by a person"):
        bank.write_lesson(title="t", description="d.", content="c.", actor="policy:default")
    with pytest.raises(BankcoreError, match="must not be empty"):
        bank.write_lesson(title=" ", description="d.", content="c.", actor="human:ana")
    result = cli("review", "add", "--db", bank.path, "--by", "bo", "--title", "Sort before choosing",
                 "--description", "The cheapest is rarely first.", "--content", "Sort by price, then pick.")
    assert result.code == 0 and "manual, approved" in result.out and "human:bo" in result.out


def test_a_decision_reads_and_writes_its_item_in_one_transaction(tmp_path, monkeypatch):
    """`decide` checks the item inside the transaction that writes it: the state it clears flags from is the state
    written over, and a DuckDB bank is opened once per decision, not twice (each open ~20 ms of CPU)."""
    bank = Bank(tmp_path / "bank.duckdb", clock=SteppingClock())
    item = lifecycle.add_item(bank.store, MemoryItem("Check the unit", "When converting.", "Read the unit first.",
                                                     source="success"), actor="llm:x")
    opened = []
    connect = bank.store._connect
    monkeypatch.setattr(bank.store, "_connect", lambda **kw: opened.append(kw) or connect(**kw))
    decided = bank.approve(item.item_id, actor="human:ana")
    assert decided.status == "approved" and bank.item(item.item_id).status == "approved"
    assert len(opened) == 2  # the decision's one open, then bank.item's
    with pytest.raises(BankcoreError, match="already approved"):
        bank.approve(item.item_id, actor="human:ana")
    assert [e.kind for e in bank.history(item.item_id)] == ["ADD", "APPROVE"]  # the refusal wrote nothing


def test_a_change_that_keeps_the_vector_leaves_it_and_its_row_in_place(tmp_path):
    """A decision or a flag does not write the vector again (on DuckDB that moved the row and left a deleted copy);
    a new vector, or a text change (which leaves the item to re-embed), still writes it."""
    bank = Bank(tmp_path / "bank.duckdb", clock=SteppingClock())
    store = bank.store
    item = lifecycle.add_item(store, MemoryItem("Check the unit", "When converting.", "Read the unit first.",
                                                source="success", embedding=[0.25] * 4, embedding_model="m"),
                              actor="llm:x")

    def row_id() -> int:
        with store._con() as con:
            return con.execute("SELECT rowid FROM memory_items WHERE item_id = ?", [item.item_id]).fetchone()[0]
    first = row_id()
    bank.approve(item.item_id, actor="human:ana")
    lifecycle.change_item(store, item.item_id, kind="FLAG", actor="human:ana", flags=["check"])
    kept = store.get_item(item.item_id)
    assert row_id() == first and (kept.embedding, kept.embedding_model) == ([0.25] * 4, "m")
    lifecycle.change_item(store, item.item_id, kind="EMBED", actor="x", embedding=[0.5] * 4, embedding_model="n")
    assert (store.get_item(item.item_id).embedding, store.get_item(item.item_id).embedding_model) == ([0.5] * 4, "n")
    edited = lifecycle.change_item(store, item.item_id, kind="EDIT", actor="human:ana", content="Read it twice.")
    stored = store.get_item(item.item_id)
    assert edited.version == stored.version == 2 and (stored.embedding, stored.embedding_model) == (None, None)
