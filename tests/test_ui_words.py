"""What the README screenshots showed a reviewer (issue 19), said in words and with its n: memory modes as 'memory
off' / 'ReasoningBank' rather than the stored 'none' / 'reasoningbank'; a run's success rate with the tasks it rests
on (a count alone below `MIN_N`); lessons whose lift intervals all include zero not headed "Helps most"; titles in
the Evolution grid wrapped whole rather than cut at the column's edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import wide_item_bank
from bankcore import Bank
from bankcore.read import MIN_N, memory_in_words
from dashboard import parts, tables
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"


def test_memory_modes_are_said_in_words():
    assert memory_in_words("none") == "memory off"
    assert memory_in_words("reasoningbank") == "ReasoningBank"
    assert memory_in_words("reasoningbank", "parallel", 3) == "ReasoningBank + MaTTS (parallel, k=3)"
    assert memory_in_words(None) == memory_in_words("unknown") == "memory mode not recorded"
    assert memory_in_words("my-own-memory") == "my-own-memory"  # a mode we do not know is shown as stored


def agent_run(success_rate: float | None, with_truth: int, **extra) -> dict:
    return {"name": "week 2 · repository bug fixing", "memory_mode": "none", "matts_mode": None, "matts_k": None,
            "tasks": 10, "success_rate": success_rate, "with_truth": with_truth, "mean_steps": 9.25,
            "mean_steps_success": None, "mean_steps_failure": None, "llm_calls_per_task": 2.033,
            "tokens_per_task": 2589.0, **extra}


def test_a_runs_success_rate_says_its_n_and_no_percentage_below_min_n():
    row = parts.agent_row(agent_run(12 / 29, 29))
    assert row["memory"] == "memory off"
    assert row["success"] == "41% of 29"
    assert parts.agent_row(agent_run(5 / 9, 9))["success"] == "5 of 9"  # under MIN_N: no 55.6%
    assert parts.agent_row(agent_run(None, 0))["success"] == tables.NOTHING
    assert MIN_N > 9


def test_agent_run_cost_columns_have_one_number_format():
    """'2.033' beside '2', '2589' beside '1932.4': each cost column is printed to one precision."""
    by_name = {c.name: c for c in parts.AGENT_RUN_COLUMNS}
    assert by_name["LLM calls / task"].format == "%.1f" and by_name["tokens / task"].format == "%.0f"
    default = tables.default_columns(parts.AGENT_RUN_COLUMNS)
    assert {"success", "pass@k"} <= {c.name for c in default}  # the wider success column pushes nothing out


def usefulness(low: float | None) -> dict:
    return {"item_id": 1, "title": "t", "lift": 0.3, "lift_low": low, "lift_high": 0.6}


def test_lessons_are_headed_helps_only_when_an_interval_clears_zero():
    heading, note = parts.usefulness_heading("helps", [usefulness(-0.19), usefulness(-0.25)])
    assert heading != "Helps most" and "includes zero" in note
    assert parts.usefulness_heading("helps", [usefulness(0.05)]) == ("Helps most", None)
    heading, note = parts.usefulness_heading("helps", [usefulness(0.05), usefulness(None)])
    assert heading == "Helps most" and note.startswith("1 of these 2")
    assert parts.usefulness_heading("helps", [])[1] == "No active lesson is measurably helping."
    assert parts.usefulness_heading("hurts", []) == ("Hurts", "No active lesson is measurably hurting.")


def screen(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A memory-off and a memory-on run of the demo corpus, imported as any run file is."""
    db = tmp_path_factory.mktemp("words") / "bank.duckdb"
    bank = Bank(db)
    for name in ("01-week1-web-memory-off.jsonl", "04-week3-web-memory-on.jsonl"):
        assert json.loads((DEMO / name).read_text().splitlines()[0])["type"] == "run"
        bank.import_path(DEMO / name)
    return db


def test_metrics_names_memory_modes_in_words(two_runs, monkeypatch):
    monkeypatch.setenv("BANKCORE_DB", str(two_runs))
    at = screen("screens/5_Metrics.py")
    runs = next(d.value for d in at.dataframe if "memory" in d.value.columns)  # the agent-runs grid
    assert sorted(runs["memory"]) == ["ReasoningBank", "memory off"]
    assert all(" of " in s for s in runs["success"]), list(runs["success"])
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [str(trace.get("name", "")) for chart in charts for trace in chart["data"]]
    ticks = [str(x) for chart in charts for trace in chart["data"] if trace.get("type") == "bar"
             for x in trace.get("x") or []]
    assert "memory off" in ticks and "ReasoningBank" in ticks, ticks
    assert not [t for t in ticks + names if t in ("none", "reasoningbank") or "(none)" in t
                or "(reasoningbank" in t], (ticks, names)
    curves = [str(t["name"]) for c in charts if "task by task" in str(c["layout"].get("title", "")) for t in c["data"]]
    assert "week 1 · web · memory off" in curves, curves  # the name says the mode: not said twice


def test_evolution_titles_wrap_whole_in_the_bank_as_of_the_cursor(tmp_path, monkeypatch):
    """The grid's rows are made tall enough for its longest title (`tables.table(wrap=...)`), as the Memory bank's
    are; at the grid's default height a title longer than its column is cut mid-word."""
    db = tmp_path / "bank.duckdb"
    wide_item_bank.build(db, n_evidence=2, steps=2)
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = screen("screens/3_Evolution.py")
    grid = next(d for d in at.dataframe if "title" in d.value.columns)  # the bank as of the cursor
    longest = max(len(t) for t in grid.value["title"])
    assert longest * tables.CHAR_PX > 300, "no title long enough to need wrapping: the check would prove nothing"
    assert grid.proto.row_height >= tables.WRAP_MIN_PX


def test_an_extractor_counts_trajectories_once_when_one_is_re_extracted(tmp_path):
    """A trajectory extracted again after its label flipped is one trajectory, not two (Overview said "201
    trajectories" on the 200-trajectory demo bank)."""
    from bankcore.models import Extraction
    from bankcore.read.views import describe_backend

    db = tmp_path / "bank.duckdb"
    bank = Bank(db)
    bank.import_path(DEMO / "01-week1-web-memory-off.jsonl")
    rows, total = bank.store.browse_trajectories(limit=3)
    for row, label in [(rows[0], "success"), (rows[0], "failure"), (rows[1], "failure")]:
        bank.store.add_extraction(Extraction(traj_id=row["traj_id"], extractor_id="llm:x", prompt_version="v1",
                                             verdict_id=None, label=label, n_items=1))
    (usage,) = bank.store.extractor_usage()
    assert (usage["trajectories"], usage["extractions"], usage["items"]) == (2, 3, 3)
    said = describe_backend(bank.settings.__class__(), [], bank.store.extractor_usage())["extractor"]
    assert "2 trajectories" in said and total > 2


def test_fewer_lessons_than_k_are_explained():
    said = parts.fewer_than_k(2, 3, 0.3, include_pending=False, task_id=None)
    assert said.startswith("2 of the 3 asked for") and "approved lesson clears the minimum similarity (0.30)" in said
    said = parts.fewer_than_k(0, 1, 0.25, include_pending=True, task_id="t-1")
    assert "approved or pending" in said and "learned from this task id" in said


def test_the_playground_says_why_it_shows_fewer_than_k(tmp_path, monkeypatch):
    """k=10 on a bank holding one lesson: the screen says why the other nine are missing."""
    db = tmp_path / "bank.duckdb"
    Bank(db).write_lesson(title="Page through every result before counting", description="Counting a listing.",
                          content="Open every page of a listing before you give a count.", domain="forum",
                          actor="human:test")
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("screens/6_Retrieval_playground.py").run()
    at.text_area(key="pg_query").set_value("Count the posts on every page of the forum listing")
    at.slider(key="pg_k").set_value(10)
    at.button(key="pg_go").click().run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("1 of the 10 asked for") for c in captions), captions


def test_a_verdicts_kind_is_wrapped_whole_beside_the_truth(tmp_path, monkeypatch):
    """'recorded LLM replies, no model called' and 'ground truth' fit their column only wrapped: the verdict grid's
    rows are made tall enough rather than cutting the kind at 'recorded LLM replies, no r'."""
    from bankcore.models import Verdict
    from bankcore.read.views import REPLAYED

    db = tmp_path / "bank.duckdb"
    bank = Bank(db)
    bank.import_path(DEMO / "01-week1-web-memory-off.jsonl")
    rows, _ = bank.store.browse_trajectories(limit=1)
    bank.store.add_verdict(Verdict(traj_id=rows[0]["traj_id"], label="failure", judge_id=REPLAYED, rationale="r"))
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("screens/4_Trajectories_and_judging.py")
    at.query_params["traj"] = rows[0]["traj_id"]
    at.run()
    assert not at.exception, at.exception
    grid = next(d for d in at.dataframe if "rationale" in d.value.columns)
    assert "recorded LLM replies, no model called" in list(grid.value["kind"])
    assert grid.proto.row_height >= tables.WRAP_MIN_PX


def test_overview_draws_one_line_per_environment(tmp_path):
    """A bug-fixing run between web runs is its own line: joined into theirs, its longer trajectories read as a
    regression of the web agent (the demo's mean-steps line spiked at runs #3 and #7)."""
    from dashboard import charts

    bank = Bank(tmp_path / "bank.duckdb")
    for name in ("01-week1-web-memory-off.jsonl", "03-week2-swe-memory-off.jsonl", "04-week3-web-memory-on.jsonl"):
        bank.import_path(DEMO / name)
    envs = {r.run_id: r.env for r in bank.store.list_runs()}
    assert len(set(envs.values())) == 2
    overview = bank.views.overview()
    lines = {}
    for row in overview.runs:
        lines.setdefault(row["series"], []).append(row["bucket"])
    assert {series: sorted(runs) for series, runs in lines.items()} == {
        env: sorted(run for run, e in envs.items() if e == env) for env in set(envs.values())}
    figure = charts.outcome_trend(overview.runs, bucket="run", metric="steps")
    assert sorted(len(trace.x) for trace in figure.data) == [1, 2]


def test_every_event_kind_has_words_and_a_version_is_said_with_them():
    from datetime import datetime

    from bankcore.curate.lineage import Version
    from bankcore.models import EVENT_KINDS

    assert set(tables.EVENT_WORDS) == set(EVENT_KINDS)  # a new kind needs its words here, or shows as stored
    assert all(w != k and w.islower() for k, w in tables.EVENT_WORDS.items())
    merged = Version(2, "t", "d", "c", 7, "MERGE", "human:ana", datetime(2026, 12, 8, 14, 5))
    assert parts.version_in_words(merged) == "v2: merged by ana (08 Dec 14:05)"
    assert tables.event_in_words("SPLIT") == "SPLIT" and tables.event_in_words(None) == tables.NOTHING


def test_a_consolidation_is_said_as_when_how_many_and_who_with_its_batch_aside():
    from datetime import datetime

    said, aside = parts.consolidation_in_words({"batch": "consolidate@20261208T140512.000001", "actor": "human:ana",
                                                "finished": datetime(2026, 12, 8, 14, 5), "items": 3, "events": 3})
    assert said == "**3** merges on 08 Dec 2026 at 14:05 by ana, each writing one merged lesson"
    assert "consolidate" not in said and aside.startswith("batch consolidate") and "20261208T140512" in aside
    assert parts.consolidation_in_words({"batch": "b", "actor": None, "finished": datetime(2026, 1, 2), "items": 1,
                                         "events": 1})[0].startswith("**1** merge on")


def test_a_hyphenated_value_is_kept_whole():
    assert parts.whole("demo-team") == "demo\u2011team" and "\u2011" in parts.md(parts.whole("demo-team"))
    assert parts.whole("-0.5 and a - b") == "-0.5 and a - b"  # a sign or a spaced dash is not a word's hyphen


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory) -> tuple[Path, int]:
    """Two near-identical lessons merged by the heuristic consolidation, and the merged lesson then edited."""
    db = tmp_path_factory.mktemp("consolidated") / "bank.duckdb"
    bank = Bank(db)
    for title in ("Read the fare class before cancelling", "Read the fare class before a cancel"):
        bank.write_lesson(title=title, description="Refunds depend on the fare.", domain="airline",
                          content="Before cancelling a reservation, read its fare class and insurance, then tell the "
                                  "customer which refund applies.", actor="human:ana")
    _, report = bank.consolidate(threshold=0.9, actor="human:ana")
    ((child, _),) = report.merged
    bank.edit(child, actor="human:ana", content="Read the fare class and insurance before any cancel.")
    return db, child


def test_overview_says_the_latest_consolidation_in_words_not_its_batch_id(consolidated, monkeypatch):
    monkeypatch.setenv("BANKCORE_DB", str(consolidated[0]))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    said = [m.value for m in at.markdown]
    assert any(s.startswith("**1** merge on") and "by heuristic" in s for s in said), said  # the merging method
    assert not [s for s in said if "consolidate" in s]
    assert any(c.value.startswith("batch consolidate") for c in at.caption)


def test_evolution_says_versions_and_the_event_log_in_words(consolidated, monkeypatch):
    db, child = consolidated
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = screen("screens/3_Evolution.py")
    at.selectbox(key="versions_item").set_value(child).run()
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("v1:"))
    assert "v1: merged by" in caption and "v2: edited by" in caption, caption
    assert not any(kind in caption for kind in ("MERGE", "EDIT"))
    log = next(d.value for d in at.dataframe if "actor" in d.value.columns and "kind" in d.value.columns)
    assert {"merged", "edited", "added"} <= set(log["kind"]) and not set(log["kind"]) & set(tables.EVENT_WORDS)


def test_settings_keeps_the_policy_name_whole(tmp_path, monkeypatch):
    """The policy table's value column is narrow: 'demo-team' was shown as 'demo-' over 'team'."""
    from bankcore.curate import policy as policy_rules

    db = tmp_path / "bank.duckdb"
    policy_rules.save(Bank(db).store, policy_rules.Policy(name="demo-team", auto_approve_llm=False))
    monkeypatch.setenv("BANKCORE_DB", str(db))
    at = screen("screens/7_Settings.py")
    policy = next(m.value for m in at.markdown if m.value.startswith("| rule | value |"))
    assert "demo\u2011team" in policy and "demo-team" not in policy.replace("\\-", "-")
