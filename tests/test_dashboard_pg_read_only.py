"""The dashboard on a PostgreSQL bank reads through sessions the server keeps read-only (issue 15: "read-only means
read-only", the dashboard's reads as the CLI's read commands): every screen renders through `ui.reader()`, a `Bank`
opened `read_only`, without ever opening a writable connection; a write sent down that read path is refused by
PostgreSQL itself; curation (approve from the review queue) still writes, through `ui.bank()`. A DuckDB file keeps one
`Bank` for both (DuckDB will not mix read-only and read-write connections in one process).

A real PostgreSQL (tests/pg_server.py), skipped, saying why, only when it cannot start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bankcore.cli import main
from bankcore.curate import lifecycle
from bankcore.models import ItemSource, MemoryItem
from bankcore.store import open_store
from dashboard import ui
from pg_server import pg_server, pg_url  # noqa: F401 — fixtures
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
psycopg = pytest.importorskip("psycopg")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SCREENS = [None, "screens/1_Memory_bank.py", "screens/2_Review_queue.py", "screens/3_Evolution.py",
           "screens/4_Trajectories_and_judging.py", "screens/5_Metrics.py", "screens/6_Retrieval_playground.py",
           "screens/7_Settings.py"]


@pytest.fixture
def pg_bank(pg_url, monkeypatch) -> tuple[str, list[int]]:
    """A PostgreSQL bank with trajectories, heuristic verdicts and three pending lessons, set as the dashboard's."""
    for step in (["import", str(FIXTURES / "mini-swe")], ["judge", "--judge", "heuristic"]):
        assert main(["--db", pg_url, "-q", *step]) == 0, step
    writer = open_store(pg_url)
    try:
        traj = next(iter(writer.iter_trajectories())).traj_id
        ids = [lifecycle.add_item(writer, MemoryItem(f"Run the failing test {n} first", "When a fix is asked for.",
                                                     f"Reproduce the failure, then change step {n}.",
                                                     source="success", domain="swe"),
                                  [ItemSource(0, "evidence", traj_id=traj, step_idxs=[0])],
                                  actor="heuristic:1").item_id for n in range(3)]
    finally:
        writer.close()
    monkeypatch.setenv("BANKCORE_DB", pg_url)
    return pg_url, ids


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(sql).fetchall()


def key(url: str) -> ui.BankKey:
    """The dashboard's key for this bank, as `ui.bank_key()` spells it from BANKCORE_DB."""
    return str(Path(url).expanduser()), None, None


def app(page: str | None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for name, value in (state or {}).items():
        at.session_state[name] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_every_screen_reads_through_the_read_only_bank_and_never_opens_a_writable_connection(pg_bank):
    url, _ = pg_bank
    for page in SCREENS:
        at = app(page)
        assert not at.exception, (page, at.exception)
        assert not [e.value for e in at.error], (page, [e.value for e in at.error])
    reader, writer = ui.reader_for(key(url)), ui.bank_for(key(url))
    assert reader is not writer and reader.store.read_only and not writer.store.read_only
    assert reader.store._pool is not None  # the screens read through it ...
    assert writer.store._pool is None  # ... and nothing opened the writable bank's connections


def test_a_write_sent_down_the_dashboards_read_path_is_refused_by_the_server(pg_bank):
    url, ids = pg_bank
    assert not app("screens/2_Review_queue.py").exception
    reader = ui.reader_for(key(url))
    before = rows(url, "SELECT count(*) FROM memory_events")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction"):
        reader.approve(ids[0], actor="human:mallory", reason="through the read path")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        with reader.store.reading():  # the connection a screen holds for its reads (`ui.page`)
            reader.store.set_setting("policy", "approve-all")
    assert rows(url, "SELECT count(*) FROM memory_events") == before
    assert rows(url, f"SELECT status FROM memory_items WHERE item_id = {ids[0]}") == [("pending",)]


def test_curation_still_writes_through_the_writable_bank(pg_bank):
    url, ids = pg_bank
    at = app("screens/2_Review_queue.py", state={ui.REVIEWER: "ana"})
    at.radio(key="queue_which").set_value("pending").run()
    first = next(int(t.key.rsplit("_", 1)[1]) for t in at.text_input if (t.key or "").startswith("approve_reason_"))
    assert first in ids
    at.text_input(key=f"approve_reason_{first}").input("general and checked")
    at.form_submit_button(key=f"approve_{first}_go").click().run()
    assert not at.exception and not [e.value for e in at.error]
    assert rows(url, f"SELECT status FROM memory_items WHERE item_id = {first}") == [("approved",)]
    assert rows(url, f"SELECT actor, reason FROM memory_events WHERE item_id = {first} AND kind = 'APPROVE'") == [
        ("human:ana", "general and checked")]


def test_a_duckdb_bank_is_read_and_written_through_one_bank(tmp_path, monkeypatch):
    db = tmp_path / "bank.duckdb"
    assert main(["--db", str(db), "-q", "import", str(FIXTURES / "mini-swe")]) == 0
    monkeypatch.setenv("BANKCORE_DB", str(db))
    assert not app(None).exception
    assert ui.reader_for(key(str(db))) is ui.bank_for(key(str(db)))
