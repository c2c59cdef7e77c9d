"""`bankcore check`: a bank built through the real pipeline is consistent; each way of changing it off the log is
caught, named, and makes the command fail."""

from __future__ import annotations

import json

import pytest

from bankcore import Bank
from conftest import TAU, need_shared
from curation_helpers import tampered


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """τ-bench learned offline, consolidated, then curated every way a person can: the bank's whole life."""
    need_shared(TAU)
    db = tmp_path_factory.mktemp("audit") / "bank.duckdb"
    bank = Bank(db)
    bank.learn(TAU, judge="heuristic")
    bank.bulk_review("approve", actor="human:ana", reason="first pass")
    _, report = bank.consolidate()
    merged_id = report.merged[0][0]
    bank.unmerge(merged_id, actor="human:bo", reason="keep them apart")
    first = bank.store.query_items(status=["approved"])[0]
    bank.edit(first.item_id, actor="human:ana", content=first.content + " Say which rule applies.")
    bank.restore(first.item_id, 1, actor="human:ana")
    bank.reject(first.item_id, actor="human:bo", reason="too vague")
    bank.rejudge(all=True, judge="heuristic")
    return db


def test_a_bank_built_and_curated_through_bankcore_is_consistent(curated, cli):
    report = Bank(curated).check()
    assert report.ok and report.findings == [] and report.items > 0 and report.events > report.items
    result = cli("check", "--db", curated)
    assert result.code == 0 and "consistent" in result.out


def test_an_item_changed_off_the_log_is_named(curated, tmp_path, cli):
    bank = tampered(tmp_path, curated, "UPDATE memory_items SET content = 'rewritten by hand' WHERE item_id = 2")
    (finding,) = bank.check().findings
    assert (finding.check, finding.count) == ("item_differs_from_its_history", 1)
    assert finding.examples[0]["where"] == "item 2" and finding.examples[0]["detail"].endswith("in content")
    result = cli("check", "--db", bank.path)
    assert result.code == 1 and "item 2: row differs from event" in result.out


def test_an_unrecorded_change_between_two_events_is_a_gap(curated, tmp_path):
    bank = tampered(tmp_path, curated, """
        UPDATE memory_events SET before = json_object('title', 'something else')
        WHERE event_id = (SELECT max(event_id) FROM memory_events WHERE item_id = 3)
          AND before IS NOT NULL""")
    found = {f.check: f for f in bank.check().findings}
    assert set(found) == {"history_gap"} and found["history_gap"].examples[0]["where"].startswith("item 3, event ")


def test_broken_links_are_reported_with_where_they_are(curated, tmp_path, cli):
    bank = tampered(tmp_path, curated,
                    "UPDATE verdicts SET traj_id = 'gone' WHERE verdict_id = 1",
                    "UPDATE item_sources SET parent_item_id = 99999 WHERE relation = 'parent' AND rowid = "
                    "(SELECT min(rowid) FROM item_sources WHERE relation = 'parent')")
    found = {f.check: f for f in bank.check().findings}
    assert found["verdict_points_nowhere"].examples == [{"where": "verdict 1",
                                                         "detail": "trajectory gone is not in the bank"}]
    assert "parent item 99999 does not exist" in found["provenance_points_nowhere"].examples[0]["detail"]
    as_json = cli("check", "--db", bank.path, "--json")
    assert as_json.code == 1 and json.loads(as_json.out)["ok"] is False
