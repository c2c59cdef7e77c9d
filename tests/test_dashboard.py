"""The dashboard, page by page, headless (streamlit.testing.v1.AppTest): every screen renders on an empty bank, a
small bank built from the shared data, and the demo bank; the special screens (missing file, not a bank, old
schema, busy bank) help instead of failing; curation from the UI changes the database as intended and records who
did it; untrusted text is never handed to Markdown unescaped."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bankcore import Bank
from dashboard import charts, tables, ui
from bankcore.store import migrations
from bankcore.store.core import WRITER_WAITING_SUFFIX
from bankcore.models import Retrieval
from conftest import REFLEXION, TAU, need_shared
import dashboard_bank
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "overview": None, "memory": "screens/1_Memory_bank.py", "review": "screens/2_Review_queue.py",
    "evolution": "screens/3_Evolution.py", "trajectories": "screens/4_Trajectories_and_judging.py",
    "metrics": "screens/5_Metrics.py", "playground": "screens/6_Retrieval_playground.py",
    "settings": "screens/7_Settings.py",
}
UNESCAPED_MARKUP = re.compile(r"(?<!\\)<\s*(script|img|iframe|svg)", re.I)


@pytest.fixture(scope="session")
def small_bank_file(tmp_path_factory) -> tuple[Path, dict]:
    need_shared(TAU, REFLEXION)
    path = tmp_path_factory.mktemp("small") / "bank.duckdb"
    ids = dashboard_bank.build(path, {"tau": TAU, "reflexion": REFLEXION})
    return path, ids


@pytest.fixture
def small(small_bank_file, tmp_path, monkeypatch) -> tuple[Path, dict]:
    """A private copy of the small bank (tests write to it), set as the dashboard's bank."""
    source, ids = small_bank_file
    db = tmp_path / "bank.duckdb"
    shutil.copy(source, db)
    monkeypatch.setenv("BANKCORE_DB", str(db))
    return db, ids


def app(page: str | None = None, *, secrets: dict | None = None, state: dict | None = None) -> AppTest:
    """Run the app (the navigation entry point), switch to `page`, and return the AppTest after its run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.secrets.update(secrets or {})
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if PAGES.get(page):
        at.switch_page(PAGES[page]).run()
    return at


def frame(at: AppTest, *columns: str):
    """The first table on the page with all these columns (read-only tables carry no key)."""
    for table in at.dataframe:
        if set(columns) <= set(table.value.columns):
            return table.value
    raise AssertionError(f"no table with columns {columns}")


def problems(at: AppTest) -> list[str]:
    return [e.message for e in at.exception]


def texts(at: AppTest, *kinds: str) -> list[str]:
    """What the elements say, as a reader sees it (Markdown's backslash escapes removed)."""
    kinds = kinds or ("markdown", "caption", "title", "subheader", "info", "warning", "error", "success")
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for kind in kinds for e in getattr(at, kind)]


def markdown_is_inert(at: AppTest) -> None:
    """No element rendered as Markdown carries a raw tag: untrusted text reached it escaped or not at all."""
    for kind in ("markdown", "caption", "title", "subheader", "info", "warning", "error", "success"):
        for element in getattr(at, kind):
            assert not UNESCAPED_MARKUP.search(str(element.value)), f"{kind}: {element.value!r}"


def test_no_screen_lets_html_through():
    sources = [ROOT / "app.py", *ROOT.glob("screens/*.py"), *ROOT.glob("dashboard/*.py")]
    for path in sources:
        assert not re.search(r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.html", path.read_text()), path


# ---------------------------------------------------------------------- every page renders
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_on_an_empty_bank(page, db, monkeypatch):
    Bank(db).init()
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = app(page)
    assert not problems(at)
    if page == "overview":
        assert any("This bank is empty" in t for t in texts(at, "subheader"))


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_on_the_small_bank(page, small):
    at = app(page)
    assert not problems(at)
    markdown_is_inert(at)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_on_the_demo_bank(page, tmp_path_factory, monkeypatch):
    from bankcore import demo
    if not list(demo.DEMO_DIR.glob("*.jsonl")):
        pytest.skip("no demo corpus in data/demo")
    path = tmp_path_factory.getbasetemp() / "demo.duckdb"
    if not path.exists():
        demo.build(path)
    monkeypatch.setenv("BANKCORE_DB", str(path))
    at = app(page)
    assert not problems(at)
    if page == "overview":
        assert any("synthetic demo bank" in t for t in texts(at, "info"))
        runs = Bank(path).store.list_runs()
        assert len(runs) > charts.NAMED_RUN_TICKS  # so the run axis shows ids, and a caption says whose
        key = " ".join(texts(at, "caption"))
        assert all(f"#{r.run_id} " in key for r in runs) and runs[-1].name[:20] in key.replace("\\", "")


# ---------------------------------------------------------------------- special screens
def test_a_missing_bank_file_gets_a_helpful_screen_and_is_not_created(tmp_path, monkeypatch):
    db = tmp_path / "nowhere" / "bank.duckdb"
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = app()
    assert not problems(at)
    assert any("No bank here yet" in t for t in texts(at, "title"))
    assert any(f"bankcore demo --db {db}" in t for t in texts(at, "markdown"))
    assert not db.exists()
    settings = app("settings")  # Settings still works, to point the dashboard elsewhere
    assert not problems(settings) and not db.exists()
    assert any("There is no bank" in t for t in texts(settings, "warning"))
    at.button(key="create_empty_bank").click().run()
    assert db.exists() and Bank(db).init() == migrations.LATEST_VERSION
    assert any("This bank is empty" in t for t in texts(at, "subheader"))


def test_a_file_that_is_not_a_bank_gets_a_message_not_a_traceback(tmp_path, monkeypatch):
    junk = tmp_path / "notes.duckdb"
    junk.write_text("not a database\n" * 100)
    monkeypatch.setenv("BANKCORE_DB", str(junk))
    at = app("memory")
    assert not problems(at)
    assert any("cannot be opened as a bank" in t for t in texts(at, "error"))


def test_an_older_bank_is_not_upgraded_by_viewing_but_by_a_curator_on_purpose(db, monkeypatch):
    # Deliberate change (issue 15): viewing used to upgrade an older bank; now it waits for a curator's Upgrade.
    Bank(db).init()  # written at the current version, which is "old" once a newer migration exists
    newer = migrations.MIGRATIONS + (migrations.Migration(
        migrations.LATEST_VERSION + 1, "test: a later column",
        lambda con: con.execute("ALTER TABLE runs ADD COLUMN note TEXT")),)
    monkeypatch.setattr("bankcore.store.core.MIGRATIONS", newer)
    monkeypatch.setattr("bankcore.store.core.LATEST_VERSION", newer[-1].version)
    monkeypatch.setenv("BANKCORE_DB", str(db))
    before = db.read_bytes()
    at = app()
    assert not problems(at)
    note = [t for t in texts(at, "warning") if "older bankcore" in t]
    assert note and f"schema v{migrations.LATEST_VERSION}" in note[0] and f"v{newer[-1].version}" in note[0]
    assert db.read_bytes() == before
    at.button(key="upgrade_bank").click().run()  # no login configured: the reviewer curates
    assert not problems(at)
    assert any(f"to v{newer[-1].version}" in t for t in texts(at, "success", "info", "markdown", "caption"))
    assert Bank(db).store.schema_version() == newer[-1].version


HOLD = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def _hold_lock(db: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_busy_bank_is_waited_for_and_said_so(small, monkeypatch):
    db, _ = small
    monkeypatch.setenv("BANKCORE_LOCK_TIMEOUT", "20")
    holder = _hold_lock(db, 2.0)
    try:
        at = app()
    finally:
        holder.wait()
    assert not problems(at)
    assert any("bank busy" in t.value for t in at.toast)
    assert not at.error


def test_a_bank_that_stays_busy_gets_a_message_not_a_traceback(small, monkeypatch):
    db, _ = small
    monkeypatch.setenv("BANKCORE_LOCK_TIMEOUT", "1")
    holder = _hold_lock(db, 8.0)
    try:
        at = app("memory")
    finally:
        holder.kill()
        holder.wait()
    assert not problems(at)
    assert any("busy" in t and "gave up" in t for t in texts(at, "error"))
    assert at.button(key="retry_busy")


# ---------------------------------------------------------------------- reading
def test_the_overview_counts_what_the_bank_holds(small):
    db, _ = small
    at = app()
    metrics = {m.label: m.value for m in at.metric}
    store = Bank(db).store
    assert metrics["Trajectories"] == f"{store.count('trajectories'):,}"
    assert metrics["Memory items"] == f"{store.count('memory_items'):,}"
    assert metrics["Waiting for review"] == f"{store.count_items(status='pending'):,}"
    said = " ".join(texts(at, "markdown"))
    assert "suspected" in said and "heuristic-merge" in said  # flagged items; the latest consolidation's actor


def test_a_bank_of_one_multi_trial_run_shows_its_trials_not_a_single_point(tmp_path, monkeypatch):
    need_shared(TAU)
    db = tmp_path / "tau.duckdb"
    Bank(db).import_path(TAU)
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = app()
    assert not problems(at)
    assert "How the agent is doing, trial by trial" in [h.value for h in at.subheader]
    assert any("its trials side by side" in c for c in texts(at, "caption"))


def test_the_memory_browser_filters_and_opens_an_item_with_its_provenance(small):
    db, ids = small
    at = app("memory")
    at.multiselect(key="f_source").set_value(["merged"]).run()
    table = at.dataframe(key="items_table").value
    assert set(table["source"]) == {"merged"} and list(table["id"]) == [ids["merged"]]
    at.number_input(key="item").set_value(ids["hostile"]).run()
    assert not problems(at)
    markdown_is_inert(at)
    shown = " ".join(texts(at, "text", "code"))
    assert dashboard_bank.XSS_IMG in shown  # the content, and the payload-laden steps, as plain text
    assert any("suspected prompt injection" in t for t in texts(at, "warning"))
    assert any(e.label.startswith("★ Step") for e in at.expander)  # the steps the lesson rests on, marked


def test_the_memory_browser_finds_lessons_resting_on_a_label_the_truth_disputes(small):
    db, ids = small
    bank = Bank(db)
    source = next(s for s in bank.store.item_sources(ids["approved"]) if s.traj_id)
    truth = bank.store.get_truth(source.traj_id)
    assert truth is not None and truth.success is not None
    at = app("memory")
    at.checkbox(key="f_disputed").check().run()
    before = set(at.dataframe(key="items_table").value["id"])
    bank.label(source.traj_id, "failure" if truth.success else "success", by="ana")  # a person gets it wrong
    at.run()
    after = set(at.dataframe(key="items_table").value["id"])
    assert not problems(at) and ids["approved"] not in before and ids["approved"] in after
    assert bank.item(ids["approved"]).status == "pending"  # the relabel withdrew it (withdraw_on_relabel) …
    bank.approve(ids["approved"], actor="human:bo")  # … and someone approves it again regardless
    overview = " ".join(texts(app(), "markdown"))  # the overview points at such lessons
    n = bank.store.count_items(status="approved", disputed=True)
    assert n >= 1 and f"**{n:,}** approved lesson" in overview


def test_an_item_page_shows_history_and_lineage(small):
    db, ids = small
    at = app("memory")
    at.number_input(key="item").set_value(ids["merged"]).run()
    history = frame(at, "event", "kind", "who")
    assert list(history["kind"]) == ["merged", "edited"] and list(history["who"]) == ["heuristic-merge:1", "human:ana"]
    parent = ids["parents"][0]
    at.button(key=f"item_open_{parent}").click().run()
    assert at.number_input(key="item").value == parent
    assert list(frame(at, "event", "kind", "who")["kind"]) == ["added", "superseded"]


def test_the_trajectory_viewer_shows_steps_verdicts_and_truth(small):
    db, ids = small
    at = app("trajectories")
    at.text_input(key="traj").input(ids["judged_traj"]).run()
    verdicts = frame(at, "who", "kind", "label")
    assert list(verdicts["who"])[:2] == ["human:ana", "llm:test-judge"]
    assert verdicts["kind"].iloc[-1] == "ground truth"
    at.text_input(key="traj").input(ids["hostile_traj"]).run()
    assert not problems(at)
    markdown_is_inert(at)
    assert any(dashboard_bank.XSS_SCRIPT in c.value for c in [*at.code, *at.text])  # shown, as text


def test_judge_quality_matches_the_verdicts(small):
    at = app("trajectories")
    at.segmented_control(key="traj_mode").set_value("Judge quality").run()
    assert not problems(at)
    metrics = [m.value for m in at.metric]
    # the test judge is right on 40 of its 60 trajectories (every third one is wrong), agrees with ana on 8 of 8…
    assert "66.7%" in metrics


def test_the_evolution_slider_shows_the_bank_before_the_merge(small):
    db, ids = small
    merge_event = next(e.event_id for e in Bank(db).store.item_events(ids["merged"]) if e.kind == "MERGE")
    at = app("evolution")
    at.slider(key="asof").set_value(merge_event - 1).run()
    at.multiselect(key="asof_status").set_value(["pending", "approved", "superseded"]).run()
    state = frame(at, "item_id", "status", "version")
    assert ids["merged"] not in set(state["item_id"]) and set(ids["parents"]) <= set(state["item_id"])
    at.slider(key="asof").set_value(merge_event + 2).run()
    state = frame(at, "item_id", "status", "version")
    assert ids["merged"] in set(state["item_id"])
    assert set(state[state["item_id"].isin(ids["parents"])]["status"]) == {"superseded"}


def test_metrics_show_which_lessons_hurt_and_a_curator_sends_them_to_review(small):
    """The pending lesson was shown to the failed half of the tasks that also got the approved one: it hurts."""
    db, ids = small
    bank = Bank(db)
    shown = [r.traj_id for r in bank.store.iter_retrievals() if r.item_id == ids["approved"]]
    failed = [t for t in shown if bank.current_label(t).label == "failure"]
    assert 0 < len(failed) < len(shown)
    bank.store.add_retrievals([Retrieval(query="q", item_id=ids["pending"], rank=2, score=0.5, k=2, traj_id=t)
                               for t in failed])
    at = app("metrics")
    assert not problems(at)
    hurts = frame(at, "item_id", "used", "success_with")  # "helps most" is empty: no lesson measurably helps
    assert list(hurts["item_id"]) == [ids["pending"]] and list(hurts["success_with"]) == [0.0]
    locked = app("metrics", secrets={"bankcore": {"password": "s3cret"}})
    assert not [b for b in locked.button if b.key == "m_flag_hurting"]  # a login is configured and pending
    at = app("metrics", state={ui.REVIEWER: "ana"})
    at.button(key="m_flag_hurting").click().run()
    assert not problems(at)
    item = Bank(db).item(ids["pending"])
    assert "hurts_outcomes" in item.flags and _events(db, item.item_id)[-1].actor == "human:ana"
    assert not [b for b in at.button if b.key == "m_flag_hurting"]  # nothing left to send


@pytest.mark.parametrize("bucket", ["per run", "per trial", "per day", "per week", "per window of N trajectories"])
@pytest.mark.parametrize("lines", ["one line", "memory on / off", "domain", "environment"])
def test_metrics_render_for_every_grouping(bucket, lines, small):
    at = app("metrics")
    at.selectbox(key="m_bucket").set_value(bucket)
    at.selectbox(key="m_split").set_value(lines).run()
    assert not problems(at)


def test_the_queue_shows_why_an_item_waits_and_where_it_came_from(small):
    db, ids = small
    at = app("review")
    first = Bank(db).store.review_queue(which="all", limit=1)[0][0]
    assert first.item_id == ids["hostile"]  # flagged items come first
    assert any("suspected prompt injection" in t for t in texts(at, "warning"))
    at.toggle(key="queue_provenance").set_value(True).run()
    assert not problems(at)
    lines = " ".join(texts(at, "markdown"))
    assert "- not judged" in lines and "- truth (" in lines  # its verdicts (none yet) beside the truth
    markdown_is_inert(at)
    at.radio(key="queue_which").set_value("flagged").run()
    assert any(f"of {Bank(db).store.review_queue(which='flagged', limit=0)[1]}" in t for t in texts(at, "caption"))


# ---------------------------------------------------------------------- who is curating
def test_a_password_login_gates_curation(small):
    secrets = {"bankcore": {"password": "s3cret"}}
    at = app("review", secrets=secrets)
    assert any("Log in" in t for t in texts(at, "info"))
    assert not at.form_submit_button  # no curation controls before logging in
    at.switch_page(PAGES["settings"]).run()
    at.text_input(key="login_name").input("Bea")
    at.text_input(key="login_password").input("wrong")
    at.form_submit_button(key="login_go").click().run()
    assert any("Wrong name or password" in t for t in texts(at, "error"))
    at.text_input(key="login_password").input("s3cret")
    at.form_submit_button(key="login_go").click().run()
    assert ui.LOGGED_IN in at.session_state and at.session_state[ui.LOGGED_IN] == "Bea"
    assert any("Curating as" in t and "Bea" in t for t in texts(at, "caption"))


def test_the_reviewer_name_from_settings_is_who_curates(small):
    at = app("settings")
    at.text_input(key="set_reviewer").input("  Carla   Diaz ")
    at.form_submit_button(key="set_reviewer_go").click().run()
    assert any("Curating as" in t and "Carla Diaz" in t for t in texts(at, "caption"))


def upload_run(at: AppTest, name: str, data: bytes, *, learn: bool = True) -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, "application/jsonl"))
    at.checkbox(key="upload_learn").set_value(learn)
    at.form_submit_button(key="upload_go").click().run()
    return at


UPLOADED = b"".join(json.dumps(
    {"query": f"Cancel reservation R{i} and refund it", "task_id": f"up-{i}", "domain": "airline",
     "steps": [{"thought": "look it up", "action": f"get_reservation_details('R{i}')", "observation": "found"},
               {"thought": "done", "action": "respond('Cancelled and refunded.')", "observation": ""}],
     "final_answer": "Cancelled and refunded.", "truth": {"success": i == 0}}).encode() + b"\n" for i in range(2))


def test_a_reviewer_adds_a_run_file_from_the_trajectories_page(small):
    db, _ = small
    before = Bank(db).store.count("trajectories")
    at = upload_run(app("trajectories", state={ui.REVIEWER: "ana"}), "week 9 <img onerror=x>.jsonl", UPLOADED)
    assert not problems(at)
    bank = Bank(db)
    run = bank.store.list_runs()[-1]
    assert bank.store.count("trajectories") == before + 2 and run.name == "week_9_img_onerror_x_.jsonl"
    assert Path(run.source_path).read_bytes() == UPLOADED and Path(run.source_path).parent.parent.name == "uploads"
    assert {v.judge_id for v in bank.store.current_verdicts(bank.store.select_traj_ids(run_id=run.run_id)).values()} \
        == {"heuristic:v2"}
    markdown_is_inert(at)
    said = " ".join(texts(at, "success"))
    assert "week 9 <img onerror=x>.jsonl: read 2 trajectories" in said and "judged 2" in said
    again = upload_run(at, "week 9 <img onerror=x>.jsonl", UPLOADED, learn=False)
    assert "nothing new" in " ".join(texts(again, "success")) and Bank(db).store.count("trajectories") == before + 2


def test_a_bad_upload_says_where_and_adds_nothing(small):
    db, _ = small
    before = Bank(db).store.count("trajectories")
    at = upload_run(app("trajectories", state={ui.REVIEWER: "ana"}), "broken.jsonl",
                    UPLOADED + b'{"query": "cut off\n')
    assert any("broken.jsonl:3:" in t for t in texts(at, "error"))
    assert Bank(db).store.count("trajectories") == before


def test_settings_shows_the_policy_with_what_each_rule_means(small):
    """A Markdown table (it wraps each explanation in full), each rule as a code name, its value in words."""
    at = app("settings")
    table = next(m.value for m in at.markdown if m.value.startswith("| rule | value | what it means |"))
    shown = {row.split(" | ")[0].strip("|` "): row.split(" | ") for row in table.splitlines()[2:]}
    assert "flips" in shown["withdraw_on_relabel"][2] and "heuristic" in shown["auto_approve_heuristic"][2]
    assert shown["auto_approve_heuristic"][1] == "no" and "not set" in shown["max_active_per_domain"][1]
    assert "`policy enforce`" in shown["max_active_per_domain"][2]  # a code span, not literal backticks


def test_settings_checks_the_banks_consistency(small):
    db, ids = small
    at = app("settings")
    at.button(key="set_check").click().run()
    assert not problems(at) and any(t.startswith("Consistent:") for t in texts(at, "success"))
    with duckdb.connect(str(db)) as con:  # a change made behind the bank's back
        con.execute("UPDATE memory_items SET status = 'approved' WHERE item_id = ?", [ids["pending"]])
    at.button(key="set_check").click().run()
    assert any("1 problems found" in t for t in texts(at, "error"))
    assert any(f"item {ids['pending']}: row differs from event" in c.value and "in status" in c.value
               for c in at.code)


# ---------------------------------------------------------------------- curating (needs issue 5's Bank API)
def _events(db: Path, item_id: int):
    return Bank(db).store.item_events(item_id)


def _queue(db: Path, which: str = "pending"):
    """The review queue as reviewer ana sees it, and the item it shows first."""
    at = app("review", state={ui.REVIEWER: "ana"})
    at.radio(key="queue_which").set_value({"all": "everything waiting"}.get(which, which)).run()
    return at, Bank(db).store.review_queue(which=which, limit=1)[0][0]


def test_approve_from_the_queue_records_who_and_why(small):
    db, ids = small
    pending = Bank(db).store.review_queue(which="pending", limit=100)[0]
    position, first = next((n, i) for n, i in enumerate(pending) if not i.flags)  # flagged ones: see below
    at = app("review", state={ui.REVIEWER: "ana", "queue_pos": position})
    at.radio(key="queue_which").set_value("pending").run()
    at.text_input(key=f"approve_reason_{first.item_id}").input("clear and general")
    at.form_submit_button(key=f"approve_{first.item_id}_go").click().run()
    assert not problems(at)
    assert Bank(db).store.get_item(first.item_id).status == "approved"
    last = _events(db, first.item_id)[-1]
    assert (last.kind, last.actor, last.reason) == ("APPROVE", "human:ana", "clear and general")
    assert any(f"Approved #{first.item_id}" in t for t in texts(at, "success"))


def test_reject_needs_a_reason(small):
    db, ids = small
    at, first = _queue(db, "all")
    at.form_submit_button(key=f"reject_{first.item_id}_go").click().run()
    assert any("Say why" in t for t in texts(at, "error"))
    assert Bank(db).store.get_item(first.item_id).status == first.status
    at.text_input(key=f"reject_reason_{first.item_id}").input("instruction from a web page")
    at.form_submit_button(key=f"reject_{first.item_id}_go").click().run()
    item = Bank(db).store.get_item(first.item_id)
    assert item.status == "rejected"
    assert _events(db, first.item_id)[-1].reason == "instruction from a web page"


def test_keep_an_approved_item_whose_source_was_rejudged(small):
    db, ids = small
    flagged = Bank(db).store.review_queue(which="flagged", limit=100)[0]
    position, item = next((n, i) for n, i in enumerate(flagged) if "source_rejudged" in i.flags)
    assert item.status == "approved"
    at = app("review", state={ui.REVIEWER: "ana", "queue_pos": position})
    at.radio(key="queue_which").set_value("flagged").run()
    keep = at.form_submit_button(key=f"approve_{item.item_id}_go")
    assert keep.label == "Keep approved" and not keep.disabled
    keep.click().run()
    assert not problems(at)
    after = Bank(db).store.get_item(item.item_id)
    assert (after.status, after.flags) == ("approved", [])
    assert _events(db, item.item_id)[-1].before["flags"] == ["source_rejudged"]
    assert any(f"Kept #{item.item_id}" in t for t in texts(at, "success"))


def test_edit_then_approve_from_the_queue(small):
    db, ids = small
    at, first = _queue(db)
    at.text_area(key=f"edit_content_{first.item_id}").input("Ask for the user id first; never guess it.")
    at.text_input(key=f"edit_reason_{first.item_id}").input("shorter")
    at.form_submit_button(key=f"edit_{first.item_id}_approve").click().run()
    assert not problems(at)
    item = Bank(db).store.get_item(first.item_id)
    assert item.content == "Ask for the user id first; never guess it." and item.status == "approved"
    assert item.version == first.version + 1 and item.embedding is not None
    kinds = [(e.kind, e.actor) for e in _events(db, first.item_id)[-2:]]
    assert kinds == [("EDIT", "human:ana"), ("APPROVE", "human:ana")]


def test_bulk_approve_decides_every_selected_item_at_once(small):
    db, ids = small
    at = app("review", state={ui.REVIEWER: "ana"})
    at.segmented_control(key="review_mode").set_value("In bulk").run()
    at.radio(key="queue_which").set_value("pending").run()
    pending = Bank(db).store.review_queue(which="pending", limit=100)[0]
    clean = [i.item_id for i in pending if not i.flags]
    flagged = [i.item_id for i in pending if i.flags]
    assert clean and flagged
    shown = frame(at, "id", "its sources")
    evidence = Bank(db).views.evidence(tuple(shown["id"]))
    assert list(shown["its sources"]) == [evidence[i].outcomes() for i in shown["id"]]
    at.checkbox(key="bulk_all").check().run()
    # before deciding, each selected lesson's text and what it rests on are on the screen, not titles alone
    assert all(Bank(db).store.get_item(i).content in [t.value for t in at.text] for i in shown["id"][:10])
    captions = [c.value for c in at.caption]
    assert all(any(c.startswith(f"#{i} rests on") for c in captions) for i in shown["id"][:10])
    at.form_submit_button(key="bulk_approve").click().run()  # many at once: not before the box is ticked
    assert any("Tick the box" in t for t in texts(at, "warning"))
    assert {Bank(db).store.get_item(i).status for i in clean} == {"pending"}
    at.checkbox(key="bulk_confirm").check()
    at.form_submit_button(key="bulk_approve").click().run()
    assert not problems(at)
    assert {Bank(db).store.get_item(i).status for i in clean} == {"approved"}
    assert {Bank(db).store.get_item(i).status for i in flagged} == {"pending"}  # each needs a human to read it
    said = " ".join(texts(at, "success"))
    assert f"Approved {len(clean)} items" in said and all(f"#{i}" in said for i in flagged)
    batches = {_events(db, i)[-1].batch_id for i in clean}
    assert len(batches) == 1 and None not in batches


def test_a_human_label_from_the_viewer_is_a_verdict(small):
    db, ids = small
    at = app("trajectories", state={ui.REVIEWER: "ana"})
    at.text_input(key="traj").input(ids["hostile_traj"][:10]).run()  # the short id the listings show
    before = len(Bank(db).store.verdict_history(ids["hostile_traj"]))
    at.form_submit_button(key="label_save").click().run()  # nothing chosen yet: nothing recorded
    assert any("Choose success or failure" in w.value for w in at.warning)
    assert len(Bank(db).store.verdict_history(ids["hostile_traj"])) == before
    at.radio(key=f"label_value_{ids['hostile_traj']}").set_value("failure")
    at.text_input(key="label_rationale").input("it followed the page's instruction")
    at.form_submit_button(key="label_save").click().run()
    assert not problems(at)
    verdicts = Bank(db).store.verdict_history(ids["hostile_traj"])
    assert (verdicts[-1].judge_id, verdicts[-1].label) == ("human:ana", "failure")


def test_a_contradiction_is_resolved_side_by_side(small):
    db, ids = small
    a, b = ids["pair"]
    at = app("review", state={ui.REVIEWER: "ana"})
    at.segmented_control(key="review_mode").set_value("Contradictions").run()
    assert not problems(at)
    markdown_is_inert(at)
    sources = Bank(db).store.item_sources_of([a, b])
    for item_id in (a, b):  # what each rests on, beside it
        n = len({src.traj_id for src in sources.get(item_id, []) if src.traj_id})
        assert any(c.startswith(f"#{item_id} rests on {n} trajector") for c in texts(at, "caption")), item_id
    at.form_submit_button(key="pair_0_a").click().run()  # keep the first, reject the second
    store = Bank(db).store
    kept, dropped = store.get_item(a), store.get_item(b)
    assert dropped.status == "rejected" and kept.status == "pending"
    assert not any(f.startswith("contradicts:") for f in kept.flags + dropped.flags)
    assert store.item_events(b)[-1].actor == "human:ana"
    assert any("No open contradictions" in t for t in texts(at, "success"))


def test_evolution_diffs_versions_restores_one_and_unmerges(small):
    db, ids = small
    merged = ids["merged"]
    at = app("evolution", state={ui.REVIEWER: "ana"})
    at.selectbox(key="versions_item").set_value(merged).run()
    assert not problems(at)
    said = " ".join(texts(at, "markdown"))
    assert ":red[~~" in said and ":green[**" in said  # v1 → v2 of the content, struck out and added
    at.button(key="restore_version").click().run()
    store = Bank(db).store
    item = store.get_item(merged)
    first = next(e for e in store.item_events(merged) if e.kind == "MERGE").after
    assert item.version == 3 and item.content == first["content"]
    assert store.item_events(merged)[-1].kind == "RESTORE"
    at.selectbox(key="lineage_item").set_value(merged).run()
    at.button(key="unmerge").click().run()
    assert not problems(at)
    assert Bank(db).store.get_item(merged).status == "archived"
    assert {Bank(db).store.get_item(p).status for p in ids["parents"]} == {"pending"}


def test_a_reviewed_dry_run_of_consolidation_is_applied_as_shown(small):
    """Two near-identical lessons (one carrying markup) are grouped by the dry run; merging writes exactly that."""
    db, _ = small
    bank = Bank(db)
    twins = [bank.write_lesson(title=title, description="Refunds depend on the fare.", domain="airline",
                               content="Before cancelling a reservation, read its fare class and insurance, then "
                                       "tell the customer which refund applies.", actor="human:ana").item_id
             for title in ("Read the fare class before cancelling", "Read the <b>fare class</b> before a cancel")]
    merges_before = len(bank.store.events_of_kind(["MERGE"]))
    at = app("evolution", state={ui.REVIEWER: "ana"})
    at.slider(key="cons_threshold").set_value(0.9)
    at.form_submit_button(key="cons_plan").click().run()
    assert not problems(at)
    markdown_is_inert(at)
    plan = Bank(db).plan_consolidation(threshold=0.9)
    group = next(m for m in plan if m.kind == "merge" and set(twins) <= set(m.parent_ids))
    assert any(f"{len([m for m in plan if m.kind == 'merge'])} group(s) to merge" in t for t in texts(at, "caption"))
    assert Bank(db).store.events_of_kind(["MERGE"])[merges_before:] == []  # a dry run writes nothing
    assert at.button(key="cons_apply").disabled  # many rows change at once: confirm first
    at.checkbox(key="cons_confirm").check().run()
    at.button(key="cons_apply").click().run()
    assert not problems(at)
    store = Bank(db).store
    merged = store.events_of_kind(["MERGE"])[merges_before:]
    child = next(e.item_id for e in merged if set(e.related["parents"]) == set(group.parent_ids))
    assert all(store.get_item(t).superseded_by == child for t in twins)
    assert store.get_item(child).title == group.proposal.title  # the text the reviewer saw
    assert store.item_events(child)[0].actor.startswith("heuristic-merge")


def _labels(db: Path) -> dict[str, str]:
    return {t: v.label for t, v in Bank(db).store.current_verdicts().items()}


def test_rerun_judging_on_a_run_writes_verdicts_and_shows_flips(small):
    db, ids = small
    before, labels = Bank(db).store.count("verdicts"), _labels(db)
    at = app("trajectories", state={ui.REVIEWER: "ana"})
    at.segmented_control(key="traj_mode").set_value("Rerun judging").run()
    at.radio(key="rj_scope").set_value("one run").run()
    at.selectbox(key="rj_run").set_value(next(o for o in at.selectbox(key="rj_run").options if "airline" in o)).run()
    assert at.button(key="rj_go").disabled and len(frame(at, "trajectory", "label now")) == 5  # a preview; confirm
    at.checkbox(key="rj_confirm").check().run()
    at.button(key="rj_go").click().run()
    assert not problems(at)
    assert Bank(db).store.count("verdicts") == before + 200
    assert any("judged 200" in t for t in texts(at, "success"))
    flipped = {t for t, label in _labels(db).items() if t in labels and labels[t] != label}
    assert flipped  # the offline judge disagrees with the test judge somewhere
    assert any(f"{len(flipped)} labels flipped" in t for t in texts(at, "markdown"))
    assert set(frame(at, "old_label", "new_label")["traj_id"]) == flipped
    # the new label beside the old one and the truth, first, and the shown columns fit a 1280 px window
    grid = next(t for t in at.dataframe if "new_label" in t.value.columns).proto
    assert list(grid.column_order)[:4] == ["task_id", "old_label", "new_label", "truth"]
    widths = [c["width"] for c in json.loads(grid.columns).values() if "width" in c]  # (the hidden index has none)
    assert len(widths) == len(grid.column_order) and sum(widths) <= tables.FIT_PX


def test_rerun_judging_on_what_browse_selects(small):
    db, _ = small
    at = app("trajectories", state={ui.REVIEWER: "ana"})
    at.checkbox(key="t_disagree").check().run()  # judge ≠ truth
    chosen = Bank(db).store.matching_traj_ids(disagreement=True)
    assert 0 < len(chosen) < Bank(db).store.count("trajectories")
    before = {t: len(Bank(db).store.verdict_history(t)) for t in Bank(db).store.select_traj_ids()}
    at.segmented_control(key="traj_mode").set_value("Rerun judging").run()
    at.radio(key="rj_scope").set_value("what Browse shows").run()
    at.checkbox(key="rj_confirm").check().run()
    at.button(key="rj_go").click().run()
    assert not problems(at)
    after = {t: len(Bank(db).store.verdict_history(t)) for t in before}
    assert {t for t in before if after[t] != before[t]} == set(chosen)


# ---------------------------------------------------------------------- taking turns with the CLI
def _native_file(path: Path, prefix: str, n: int) -> Path:
    path.write_text("".join(json.dumps({
        "task_id": f"{prefix}-{i}", "query": f"task {prefix}-{i}: find the order", "trial": 0,
        "steps": [{"thought": "look", "action": f"click('{i}')", "observation": "ok " * 50}] * 5,
        "truth": {"success": i % 2 == 0}}) + "\n" for i in range(n)))
    return path


def _cli_import(db: Path, *files: Path, quiet: bool = True) -> subprocess.Popen:
    """`bankcore import` of each file, one after another, in another process."""
    flags = ["-q"] if quiet else []
    script = ("import sys; from bankcore.cli import main; "
              f"sys.exit(max(main(['import', f, '--db', sys.argv[1], *{flags!r}]) for f in sys.argv[2:]))")
    return subprocess.Popen([sys.executable, "-c", script, str(db), *map(str, files)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)


def test_a_cli_import_waits_while_a_screen_is_drawn_then_lands(small, tmp_path):
    """A screen holds the file while it draws (one connection per screen); an import waits for it, says so, lands."""
    db, _ = small
    before = Bank(db).store.count("trajectories")
    waiting = db.with_name(db.name + WRITER_WAITING_SUFFIX)
    with Bank(db).store.reading():  # what `ui.page` does for the length of one screen
        cli = _cli_import(db, _native_file(tmp_path / "run.jsonl", "w", 200), quiet=False)
        deadline = time.monotonic() + 60  # a busy machine can take seconds just to start the process
        while not waiting.exists() and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting.exists() and cli.poll() is None  # it reached the file and waits for it
    assert cli.wait(timeout=60) == 0
    assert "bank busy" in cli.stderr.read()
    assert Bank(db).store.count("trajectories") == before + 200


def test_the_dashboard_and_a_cli_import_take_turns_on_the_file(small, tmp_path):
    """A CLI import in another process while screens render here: both finish, nothing is lost."""
    db, _ = small
    files = [_native_file(tmp_path / f"run{n}.jsonl", f"t{n}", 3000) for n in range(3)]
    before = Bank(db).store.count("trajectories")
    cli = _cli_import(db, *files)
    renders = 0
    while cli.poll() is None or renders < 4:
        for page in ("overview", "memory", "trajectories", "metrics"):
            st.cache_data.clear()
            at = app(page)
            assert not problems(at), problems(at)
            renders += 1
    assert cli.wait() == 0, cli.stderr.read()
    assert Bank(db).store.count("trajectories") == before + 9000
    at = app()
    assert {m.label: m.value for m in at.metric}["Trajectories"] == f"{before + 9000:,}"


def test_the_playground_shows_top_k_the_prompt_block_and_why_not_without_logging(small):
    db, ids = small
    Bank(db).reembed()  # the small bank's items were written without vectors
    logged = Bank(db).store.count("retrievals")
    at = app("playground")
    at.text_area(key="pg_query").input("The customer wants to cancel a reservation; what should I check first?")
    at.slider(key="pg_k").set_value(2)
    at.checkbox(key="pg_pending").check()
    at.form_submit_button(key="pg_go").click().run()
    assert not problems(at)
    hits = frame(at, "rank", "score", "id")
    assert list(hits["rank"]) == [1, 2] and hits["score"].is_monotonic_decreasing
    assert hits["id"].iloc[0] == ids["approved"]  # "Verify the reservation before cancelling"
    assert any("Verify the reservation" in c.value for c in at.code)  # the block the agent's prompt would get
    assert not at.get("slider") or "pg_asof" not in [w.key for w in at.slider]  # the past is rebuilt when asked
    at.toggle(key="pg_compare").set_value(True).run()
    at.slider(key="pg_asof").set_value(Bank(db).store.last_event_id()).run()
    _, then = [t.value for t in at.dataframe if {"rank", "id"} <= set(t.value.columns)][:2]
    assert then["id"].iloc[0] == ids["approved"]  # the bank as of its last event: approved items, by cosine
    assert any("The bank at event" in t for t in texts(at, "caption"))
    at.number_input(key="pg_why").set_value(ids["qa"]).run()
    assert any(f"item {ids['qa']}" in c.value for c in at.code)
    markdown_is_inert(at)
    at.text_area(key="pg_query").input("What is the capital of Peru?")
    at.form_submit_button(key="pg_go").click().run()
    assert "Nothing would have been retrieved then." in texts(at, "caption")  # the same threshold as "now"
    assert Bank(db).store.count("retrievals") == logged  # trying queries here is not a retrieval


def test_a_reviewer_writes_a_lesson_from_the_memory_page(small):
    db, _ = small
    before = Bank(db).store.count("memory_items")
    at = app("memory", state={ui.REVIEWER: "ana"})
    at.text_input(key="new_title").input("Ask for the booking code first")
    at.text_input(key="new_description").input("Every change starts from the reservation.")
    at.text_area(key="new_content").input("Ask for the reservation code before searching; never guess it.")
    at.text_input(key="new_domain").input("airline")
    at.form_submit_button(key="new_lesson_go").click().run()
    assert not problems(at)
    store = Bank(db).store
    assert store.count("memory_items") == before + 1
    item = store.query_items(source=["manual"])[-1]
    assert (item.title, item.status, item.domain) == ("Ask for the booking code first", "approved", "airline")
    assert [(e.kind, e.actor) for e in store.item_events(item.item_id)] == [("ADD", "human:ana")]


def test_approving_a_flagged_lesson_is_deliberate(small):
    db, ids = small
    at = app("review", state={ui.REVIEWER: "ana"})
    at.radio(key="queue_which").set_value("flagged").run()
    item = Bank(db).store.get_item(ids["hostile"])
    assert Bank(db).store.review_queue(which="flagged", limit=1)[0][0].item_id == item.item_id
    go = at.form_submit_button(key=f"approve_{item.item_id}_go")
    assert go.label == "Approve despite the flag" and go.proto.type != "primary"
    go.click().run()
    assert any("tick that you read why" in t for t in texts(at, "error"))
    assert Bank(db).store.get_item(item.item_id).status == "pending"
    at.checkbox(key=f"approve_ack_{item.item_id}").check()
    at.text_input(key=f"approve_reason_{item.item_id}").input("the page text is quoted, not obeyed")
    at.form_submit_button(key=f"approve_{item.item_id}_go").click().run()
    assert not problems(at) and Bank(db).store.get_item(item.item_id).status == "approved"
    assert _events(db, item.item_id)[-1].reason == "the page text is quoted, not obeyed"


def test_rerun_judging_selects_nothing_until_told_what(small):
    at = app("trajectories", state={ui.REVIEWER: "ana"})
    at.segmented_control(key="traj_mode").set_value("Rerun judging").run()
    assert at.radio(key="rj_scope").value == "what Browse shows"  # no filters set on Browse
    assert at.button(key="rj_go").disabled and not [c for c in at.checkbox if c.key == "rj_confirm"]
    assert any("selects nothing" in t for t in texts(at, "caption"))
