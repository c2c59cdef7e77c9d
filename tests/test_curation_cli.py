"""`bankcore consolidate`, `review`, `policy` and `as-of` from the command line."""

from __future__ import annotations

import pytest

from bankcore import Bank
from bankcore.demo import SteppingClock
from curation_helpers import THRESHOLD, add_lessons


@pytest.fixture
def lessons(tmp_path):
    bank = Bank(tmp_path / "bank.duckdb", clock=SteppingClock())
    return bank, add_lessons(bank, tmp_path)


def test_dry_run_shows_the_plan_and_writes_nothing(lessons, cli):
    bank, ids = lessons
    events = bank.store.count("memory_events")
    result = cli("consolidate", "--dry-run", "--threshold", THRESHOLD, "--db", bank.path)
    assert result.code == 0, result.err
    assert "heuristic merge (heuristic-merge:1, offline)" in result.out
    assert "2 groups to merge (4 items), 1 contradiction pairs to surface" in result.out
    assert f"#{ids[0]} [pending] (success, airline)" in result.out
    assert "→ Verify the reservation before cancelling" in result.out
    assert bank.store.count("memory_events") == events
    as_json = cli("consolidate", "--dry-run", "--json", "--threshold", THRESHOLD, "--db", bank.path).json()
    assert [a["kind"] for a in as_json["actions"]] == ["contradiction", "merge", "merge"]


def test_consolidate_then_review_history_diff_and_unmerge(lessons, cli):
    bank, ids = lessons
    result = cli("consolidate", "--heuristic", "--threshold", THRESHOLD, "--by", "ana", "--db", bank.path)
    assert result.code == 0, result.err
    assert "2 merged, 1 contradictions flagged" in result.out and "0 LLM calls" in result.out
    child = bank.store.query_items(source="merged")[0].item_id
    assert f"#{child} ← #{ids[0]}, #{ids[1]} (pending review)" in result.out

    shown = cli("review", "show", child, "--db", bank.path)
    assert "extractor: heuristic-merge:1" in shown.out and f"parent: item #{ids[0]}" in shown.out
    assert f"--expect-event {bank.item(child).last_event_id}" in shown.out
    assert f"lineage: ancestors #{ids[0]}[superseded], #{ids[1]}[superseded]" in shown.out
    trajs = {s.traj_id for s in bank.store.item_sources(child) if s.traj_id}
    assert f"rests on {len(trajs)} trajector" in shown.out
    as_json = cli("review", "show", child, "--json", "--db", bank.path).json()
    assert as_json["evidence"]["trajectories"] == len(trajs)

    seen = bank.item(child).last_event_id
    edited = cli("review", "edit", child, "--title", "Look it up, then cancel", "--expect-event", seen,
                 "--by", "bo", "--reason", "shorter", "--db", bank.path)
    assert edited.code == 0 and "now version 2" in edited.out
    diff = cli("review", "diff", child, 1, 2, "--db", bank.path)
    assert "title: [-Verify the reservation before cancelling-]{+Look it up, then cancel+}" in diff.out
    assert "content: (unchanged)" in diff.out
    history = cli("review", "history", child, "--db", bank.path)
    assert "MERGE" in history.out and "human:bo" in history.out and "— shorter" in history.out
    assert "versions: v1" in history.out and "v2" in history.out

    restored = cli("review", "restore", child, "--version", 1, "--by", "bo", "--db", bank.path)
    assert restored.code == 0 and "now version 3" in restored.out
    undone = cli("review", "unmerge", child, "--by", "bo", "--db", bank.path)
    assert undone.code == 0 and f"restored #{ids[0]}, #{ids[1]}" in undone.out
    listed = cli("review", "list", "--status", "pending", "--domain", "airline", "--db", bank.path)
    assert f"#{ids[0]} [pending]" in listed.out and f"#{child}" not in listed.out
    disputed = cli("review", "list", "--disputed", "--db", bank.path)
    assert disputed.code == 0 and disputed.out.strip().endswith(
        f"{bank.store.count_items(disputed=True)} items")
    total = bank.store.count_items()
    cut = cli("review", "list", "--limit", "2", "--db", bank.path)
    assert len(cut.out.strip().splitlines()) == 3 and f"the first 2 of {total} items" in cut.out


def test_contradictions_listed_and_resolved(lessons, cli):
    bank, ids = lessons
    cli("consolidate", "--threshold", THRESHOLD, "--db", bank.path)
    listed = cli("review", "contradictions", "--db", bank.path)
    for item_id in (ids[2], ids[3]):  # each side with what it rests on
        n = len({s.traj_id for s in bank.store.item_sources(item_id) if s.traj_id})
        assert f"#{item_id} [" in listed.out and f"rests on {n} trajector" in listed.out
    assert f"#{ids[2]} ↔ #{ids[3]} [open] found by heuristic-contradiction:1" in listed.out
    resolved = cli("review", "resolve", ids[2], ids[3], "--keep", "both", "--by", "ana", "--db", bank.path)
    assert resolved.code == 0
    assert "0 contradiction pairs open" in cli("review", "contradictions", "--db", bank.path).out
    assert "[resolved (keep-both)]" in cli("review", "contradictions", "--all", "--db", bank.path).out
    bad = cli("review", "resolve", ids[2], ids[4], "--keep", "maybe", "--db", bank.path)
    assert bad.code == 1 and "--keep takes both" in bad.err


def test_approve_and_reject_by_id_and_in_bulk(lessons, cli):
    bank, ids = lessons
    refused = cli("review", "approve", "--db", bank.path)
    assert refused.code == 1 and "--all" in refused.err
    one = cli("review", "reject", ids[4], "--by", "ana", "--reason", "too specific", "--db", bank.path)
    assert one.code == 0 and bank.item(ids[4]).status == "rejected"
    assert one.out.startswith(f"rejected #{ids[4]} (event ")
    bulk = cli("review", "approve", "--all", "--domain", "hotpotqa", "--unflagged", "--by", "ana", "--db", bank.path)
    assert bulk.code == 0 and "approved 3 items" in bulk.out
    assert {bank.item(i).status for i in ids[5:]} == {"approved"}
    missing = cli("review", "approve", 999, "--db", bank.path)
    assert missing.code == 1 and "no memory item 999" in missing.err


def test_policy_commands(lessons, cli):
    bank, _ = lessons
    shown = cli("policy", "--db", bank.path)
    assert "auto_approve_heuristic       False" in shown.out and "never auto-approved" in shown.out
    assert cli("policy", "set", "max_active_per_domain", "3", "--db", bank.path).code == 0
    assert cli("policy", "show", "--json", "--db", bank.path).json()["max_active_per_domain"] == 3
    dry = cli("policy", "enforce", "--dry-run", "--db", bank.path)
    assert "would archive 2 items" in dry.out and bank.store.count_items(status="archived") == 0
    assert "archived 2 items" in cli("policy", "enforce", "--db", bank.path).out
    assert cli("policy", "set", "auto_approve_heuristic", "true", "--db", bank.path).code == 0
    pending = bank.store.query_items(status=["pending"])
    held = [i.item_id for i in pending if i.flags]  # the gate's: "never ask the user to confirm" is a skipped safeguard
    assert (len(pending), len(held)) == (6, 1)
    assert "approved 5 pending items" in cli("policy", "apply", "--db", bank.path).out
    assert bank.item(held[0]).status == "pending"
    bad = cli("policy", "set", "merge_threshold", "2", "--db", bank.path)
    assert bad.code == 1 and "merge_threshold must be in (0, 1]" in bad.err


def test_as_of_command(lessons, cli):
    bank, ids = lessons
    bank.approve(ids[7])
    point = bank.store.last_event_id()
    bank.reject(ids[7])
    past = cli("as-of", point, "--db", bank.path)
    assert f"event {point}" in past.out and "1 approved" in past.out
    hits = cli("as-of", point, "--query", "the page is long, find a keyword", "--db", bank.path)
    assert "1. " in hits.out and f"#{ids[7]} [approved]" in hits.out
    now = cli("as-of", bank.store.last_event_id(), "--query", "the page is long", "--json", "--db", bank.path)
    assert now.json()["hits"] == []
    moment = bank.store.get_event(point).created_at.isoformat()
    assert f"event {point}" in cli("as-of", moment, "--db", bank.path).out
    run = bank.store.list_runs()[0].run_id
    told = cli("as-of", "--run", run, "--told", "--db", bank.path)
    assert told.code == 0 and f"run {run} against the bank as of event 0" in told.out and "→ nothing" in told.out
    bad = cli("as-of", "yesterday", "--db", bank.path)
    assert bad.code == 1 and "neither an event id nor an ISO 8601 time" in bad.err


def test_untrusted_text_is_printed_inert(tmp_path, cli):
    from bankcore.curate import lifecycle
    from bankcore.models import MemoryItem
    bank = Bank(tmp_path / "b.duckdb")
    lifecycle.add_item(bank.store, MemoryItem("\x1b[2J\x1b[31mRed alert", "<script>alert(1)</script>", "c.",
                                             source="failure"), actor="heuristic:1")
    out = cli("review", "list", "--db", bank.path).out
    assert "\x1b" not in out and "[2J[31mRed alert" in out and "<script>alert(1)</script>" in out
