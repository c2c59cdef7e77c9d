"""The dashboard's reads (`dashboard/reads.py`) are named functions, each with its own cache keyed by the bank's
fingerprint: two reads with the same arguments never answer for each other, a write anywhere is seen on the next
run, and nothing reaches the bank by a string name."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from bankcore import Bank
from bankcore.read import Views
from dashboard import reads, ui
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test

RUN = {"task_id": "t-1", "domain": "shop", "query": "Cancel my order", "final_answer": "cancelled",
       "steps": [{"thought": "look it up", "action": "find_order()", "observation": "order 7"}],
       "truth": {"success": True}}


def probe() -> None:
    """A screen that makes three reads with no arguments (so only the read itself tells their caches apart)."""
    import streamlit as st

    from dashboard import reads, ui

    with ui.page("Probe"):
        runs, last_verdict, merges = reads.runs(), reads.max_verdict_id(), reads.consolidations()
        st.session_state["seen"] = [type(runs).__name__, len(runs), type(last_verdict).__name__, last_verdict, merges]


def test_each_read_has_its_own_cache_and_a_write_is_seen_on_the_next_run(db, tmp_path, monkeypatch):
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(RUN) + "\n")
    bank = Bank(db)
    bank.import_path(run, fmt="native")
    monkeypatch.setenv("BANKCORE_DB", str(db))

    at = AppTest.from_function(probe, default_timeout=60)
    at.run()
    assert not at.exception and at.session_state["seen"] == ["list", 1, "int", 0, 0]
    at.run()  # the same fingerprint: served from the caches, still each read's own value
    assert at.session_state["seen"] == ["list", 1, "int", 0, 0]

    [traj_id] = bank.store.matching_traj_ids()
    bank.label(traj_id, "success", by="ana")  # as a CLI in another process would
    at.run()
    assert at.session_state["seen"][3] > 0


def test_no_read_goes_by_a_string_name():
    assert not hasattr(ui, "read") and "__getattr__" not in vars(Views)
    assert reads.item_page.__name__ == "item_page" and reads.item_page.__annotations__["return"] == "ItemPage"


def outcomes_probe() -> None:
    """A screen making the run and trajectory reads Metrics makes."""
    import streamlit as st

    from dashboard import reads, ui

    with ui.page("Probe"):
        st.session_state["series"] = reads.outcome_series("run", None, 50)
        st.session_state["modes"] = reads.run_outcome_breakdown("memory_mode")
        st.session_state["agent"] = reads.agent_runs()


def test_a_lesson_written_leaves_the_outcome_reads_cached_and_a_label_refreshes_them(db, tmp_path, monkeypatch):
    """Reads of runs, trajectories and labels key on the parts of the fingerprint they depend on: a curation write
    (here a lesson written by hand: new item, new event) does not recompute them, a new label does."""
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(RUN) + "\n")
    bank = Bank(db)
    bank.import_path(run, fmt="native")
    monkeypatch.setenv("BANKCORE_DB", str(db))
    calls: list[str] = []
    for name in ("outcome_series", "outcome_breakdown", "agent_runs"):
        read = getattr(Views, name)
        monkeypatch.setattr(Views, name, lambda self, *a, _read=read, _name=name, **k: (calls.append(_name),
                                                                                        _read(self, *a, **k))[1])
    at = AppTest.from_function(outcomes_probe, default_timeout=60)
    at.run()
    assert not at.exception and sorted(calls) == ["agent_runs", "outcome_breakdown", "outcome_series"]
    before = ui.bank_key(), bank.views.fingerprint()

    bank.write_lesson(title="Look the order up first", description="Before cancelling.",
                      content="Find the order before cancelling it.", domain="shop", actor="human:ana")
    at.run()
    assert not at.exception and bank.views.fingerprint() != before[1]  # the bank moved ...
    assert len(calls) == 3  # ... and no outcome read ran again

    [traj_id] = bank.store.matching_traj_ids()
    bank.label(traj_id, "failure", by="ana")
    at.run()
    assert len(calls) == 6
    assert at.session_state["series"][0]["verdict_success_rate"] == 0.0


def test_a_fingerprint_of_another_shape_is_used_whole():
    assert reads.scoped((1, 2, 3, 4, 5, 6, 7, "s"), ("trajectories", "runs")) == (3, 6)
    assert reads.scoped((1, 2, 3), ("trajectories",)) == (1, 2, 3)  # refreshed too often, never too rarely
    assert reads.scoped((1, 2), None) == (1, 2)
