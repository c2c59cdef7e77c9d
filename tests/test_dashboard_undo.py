"""Undo from the page that did it: each curation write's success message carries an Undo button that reverses exactly
that write with new events (nothing deleted, the actor recorded), and refuses when the lesson changed since."""

from __future__ import annotations

from bankcore import Bank
from dashboard import ui
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test
from test_dashboard import app, problems, small, small_bank_file, texts  # noqa: F401 — fixtures and helpers


def _clean_pending(db) -> list:
    """The pending lessons without flags, in queue order, with their positions in the pending queue."""
    pending = Bank(db).store.review_queue(which="pending", limit=100)[0]
    return [(n, i) for n, i in enumerate(pending) if not i.flags]


def _approve_first(db):
    position, first = _clean_pending(db)[0]
    at = app("review", state={ui.REVIEWER: "ana", "queue_pos": position})
    at.radio(key="queue_which").set_value("pending").run()
    at.form_submit_button(key=f"approve_{first.item_id}_go").click().run()
    assert not problems(at)
    return at, first


def test_approve_then_undo_puts_the_item_back_to_pending_with_a_new_event(small):
    db, _ = small
    at, first = _approve_first(db)
    assert Bank(db).item(first.item_id).status == "approved"
    approval = Bank(db).history(first.item_id)[-1]
    undo = at.button(key="undo_last")
    assert undo.label == "Undo"
    undo.click().run()
    assert not problems(at)
    item = Bank(db).item(first.item_id)
    assert (item.status, item.flags) == ("pending", first.flags)
    events = Bank(db).history(first.item_id)
    assert events[-2].event_id == approval.event_id  # the approval stays in the history …
    last = events[-1]  # … and the undo is a new event by the person who clicked
    assert (last.kind, last.actor, last.related["undoes"]) == ("RESTORE", "human:ana", [approval.event_id])
    assert any(f"Undid the approval of #{first.item_id}" in t for t in texts(at, "success"))
    assert not [b for b in at.button if b.key == "undo_last"]  # an undo is not itself offered for undoing


def test_bulk_approve_of_two_then_undo_puts_both_back(small):
    db, _ = small
    clean = [i.item_id for _, i in _clean_pending(db)]
    two, others = clean[:2], clean[2:]
    for item_id in others:  # leave two clean lessons waiting: "select all" then selects exactly those two
        Bank(db).approve(item_id, actor="human:bo")
    at = app("review", state={ui.REVIEWER: "ana"})
    at.segmented_control(key="review_mode").set_value("In bulk").run()
    at.radio(key="queue_which").set_value("pending").run()
    at.checkbox(key="bulk_all").check().run()
    at.checkbox(key="bulk_confirm").check()
    at.form_submit_button(key="bulk_approve").click().run()
    assert not problems(at)
    assert {Bank(db).item(i).status for i in two} == {"approved"}
    at.button(key="undo_last").click().run()
    assert not problems(at)
    assert {Bank(db).item(i).status for i in two} == {"pending"}
    undone = [Bank(db).history(i)[-1] for i in two]
    assert {(e.kind, e.actor) for e in undone} == {("RESTORE", "human:ana")}
    assert len({e.batch_id for e in undone}) == 1  # one undo, one batch, like the bulk decision it reverses


def test_merge_then_undo_restores_the_parents(small):
    db, _ = small
    bank = Bank(db)
    twins = [bank.write_lesson(title=title, description="Refunds depend on the fare.", domain="airline",
                               content="Before cancelling a reservation, read its fare class and insurance, then "
                                       "tell the customer which refund applies.", actor="human:ana").item_id
             for title in ("Read the fare class before cancelling", "Read the fare class before a cancel")]
    at = app("evolution", state={ui.REVIEWER: "ana"})
    at.slider(key="cons_threshold").set_value(0.9)
    at.form_submit_button(key="cons_plan").click().run()
    at.checkbox(key="cons_confirm").check().run()
    at.button(key="cons_apply").click().run()
    assert not problems(at)
    child = Bank(db).item(twins[0]).superseded_by
    assert child and Bank(db).item(twins[1]).superseded_by == child
    at.button(key="undo_last").click().run()
    assert not problems(at)
    for twin in twins:
        item = Bank(db).item(twin)
        assert (item.status, item.superseded_by) == ("approved", None)
        assert Bank(db).history(twin)[-1].actor == "human:ana"
    assert Bank(db).item(child).status == "archived"
    assert any("Undid the" in t and "merge" in t for t in texts(at, "success"))


def test_an_undo_after_someone_else_changed_the_item_is_refused(small):
    db, _ = small
    at, first = _approve_first(db)
    Bank(db).reject(first.item_id, actor="human:bo", reason="not general")  # meanwhile, in another session
    at.button(key="undo_last").click().run()
    assert not problems(at)
    assert any("Not undone" in t and "changed since" in t for t in texts(at, "warning"))
    item = Bank(db).item(first.item_id)
    assert item.status == "rejected"  # bo's decision stands
    assert Bank(db).history(first.item_id)[-1].actor == "human:bo"  # nothing written by the refused undo


def test_no_undo_button_without_curation_rights(small):
    """With a login configured, someone not logged in sees the message of a write but no Undo."""
    flashed = {ui.FLASH: ("Approved #1", [], ui.Undo("the approval of #1", (1,)), "success")}
    curator = app(state={ui.REVIEWER: "ana", **flashed})  # the message shows on the first screen drawn
    assert [b for b in curator.button if b.key == "undo_last"]
    visitor = app(secrets={"bankcore": {"password": "s3cret"}}, state=flashed)
    assert not problems(visitor) and any("Approved #1" in t for t in texts(visitor, "success"))
    assert not [b for b in visitor.button if b.key == "undo_last"]


def test_edit_and_approve_then_undo_brings_back_the_text_and_the_status(small):
    db, _ = small
    position, first = _clean_pending(db)[0]
    at = app("review", state={ui.REVIEWER: "ana", "queue_pos": position})
    at.radio(key="queue_which").set_value("pending").run()
    at.text_area(key=f"edit_content_{first.item_id}").input("Ask for the user id first; never guess it.")
    at.form_submit_button(key=f"edit_{first.item_id}_approve").click().run()
    assert Bank(db).item(first.item_id).status == "approved"
    at.button(key="undo_last").click().run()
    assert not problems(at)
    item = Bank(db).item(first.item_id)
    assert (item.content, item.status) == (first.content, "pending")
    assert item.embedding is not None and item.version == first.version + 2  # the old text, as a new version
