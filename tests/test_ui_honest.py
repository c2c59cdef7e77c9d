"""Honest small-sample figures (issue 19): a rate is shown with its n, never as a headline percentage below
`MIN_N` outcomes (the screen says why instead), with a 95% Wilson interval where it is a headline; rate bars say
their rate and n, not the sample size as if it were the value."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import pytest
from streamlit.testing.v1 import AppTest

import wide_item_bank
from bankcore import Bank
from dashboard import charts
from bankcore.models import Retrieval, Verdict
from bankcore.read.views import MIN_N, wilson
from streamlit_caches import fresh_streamlit_caches  # noqa: F401 — autouse: clean caches per test

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def judged_file(tmp_path_factory):
    """The wide-item bank, its 50 trajectories judged (right on 40), one of them labelled by a human (the judge got
    it wrong), and the one-evidence lesson given to 3 of them."""
    db = tmp_path_factory.mktemp("honest") / "bank.duckdb"
    ids = wide_item_bank.build(db, n_evidence=50, steps=4)
    store = Bank(db).store
    rows, _ = store.browse_trajectories(limit=100)
    trajs = sorted(rows, key=lambda r: r["task_id"])
    for n, row in enumerate(trajs):
        truth = "success" if row["truth"] else "failure"
        wrong = "failure" if truth == "success" else "success"
        store.add_verdict(Verdict(traj_id=row["traj_id"], label=truth if n % 5 else wrong,
                                  judge_id="llm:test-judge", rationale="test data"))
    store.add_verdict(Verdict(traj_id=trajs[0]["traj_id"], label="success" if trajs[0]["truth"] else "failure",
                              judge_id="human:ana", rationale="checked"))
    store.add_retrievals([Retrieval(query="q", item_id=ids["narrow"], rank=1, score=0.8, k=1, traj_id=r["traj_id"],
                                    task_id=r["task_id"]) for r in trajs[10:13]])
    return db, ids


@pytest.fixture
def judged(judged_file, monkeypatch):
    db, ids = judged_file
    monkeypatch.setenv("BANKCORE_DB", str(db))
    return db, ids


def screen(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    return at


def test_wilson_matches_known_intervals():
    assert wilson(0, 1) == (0.0, pytest.approx(0.7935, abs=1e-4))
    low, high = wilson(29, 70)
    assert (low, high) == (pytest.approx(0.3063, abs=1e-4), pytest.approx(0.5312, abs=1e-4))
    assert wilson(0, 0) is None


def test_judge_accuracy_on_one_human_label_is_not_a_headline(judged):
    at = screen("screens/4_Trajectories_and_judging.py")
    at.segmented_control(key="traj_mode").set_value("Judge quality").run()
    assert not at.exception
    metrics = [(m.label, m.value) for m in at.metric]
    # vs the truth: 40 of 50 right, a headline with its interval
    assert ("Accuracy", "80.0%") in metrics
    low, high = wilson(40, 50)
    assert any(c.value == f"40 of 50 · 95% CI {100 * low:.0f}–{100 * high:.0f}%" for c in at.caption)
    # vs human labels: n=1 — no percentage, and the reason where it would be
    assert ("Accuracy", "—") in metrics
    assert any(c.value.startswith("n=1: too few to rate (0 of 1)") for c in at.caption)
    assert not any(v in ("0.0%", "100.0%") for _, v in metrics)


def test_success_after_a_lesson_given_three_times_says_n_not_a_rate(judged):
    _, ids = judged
    at = screen("screens/1_Memory_bank.py")
    at.number_input(key="item").set_value(ids["narrow"]).run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Times retrieved"] == "3"
    assert values["Success after (truth)"] == "—" and values["Success after (judge)"] == "—"
    assert sum(c.value.startswith("n=3: too few to rate") for c in at.caption) == 2


def test_rate_bars_say_rate_and_n_and_small_ones_no_percentage():
    rows = [{"value": "web", "truth_success_rate": 0.4, "with_truth": 30, "verdict_success_rate": 0.5,
             "judged": 30, "trajectories": 30},
            {"value": "forum", "truth_success_rate": 1.0, "with_truth": 1, "verdict_success_rate": None,
             "judged": 0, "trajectories": 2}]
    fig = charts.breakdown_bar(rows, "By domain")
    truth = next(t for t in fig.data if t.name == "success (truth)")
    assert list(truth.text) == ["40%<br>n=30", "n=1"]  # short: neighbouring small bars' labels fit side by side
    assert [row[0] for row in truth.customdata] == [30, 1]
    assert "too few" in truth.customdata[1][1] and truth.customdata[0][1] == ""  # the hover says why
    assert list(truth.marker.opacity) == [1.0, 0.35]
    judge = next(t for t in fig.data if t.name == "success (judge)")
    assert list(judge.text) == ["50%<br>n=30", ""]
    assert MIN_N > 1


# ---------------------------------------------------------------------- human words, not Python values
PYTHON_WORDS = re.compile(r"\b(True|False|None|nan|NaN)\b")
SCREENS = ["screens/1_Memory_bank.py", "screens/2_Review_queue.py", "screens/3_Evolution.py",
           "screens/4_Trajectories_and_judging.py", "screens/5_Metrics.py", "screens/6_Retrieval_playground.py",
           "screens/7_Settings.py"]


def python_on_screen(at: AppTest) -> list[str]:
    """Python's True/False/None in what a reader sees: prose, captions, headline figures and table cells."""
    found = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "subheader"):
        found += [e.value for e in getattr(at, kind) if PYTHON_WORDS.search(str(e.value))]
    found += [f"metric {m.label}: {m.value}" for m in at.metric if PYTHON_WORDS.search(str(m.value))]
    for table in at.dataframe:
        frame = table.value
        for column in frame.columns:
            for value in frame[column]:
                if isinstance(value, (bool, np.bool_)) or value is None or value in ("True", "False", "None"):
                    found.append(f"table column {column}: {value!r}")
                    break
    return found


def test_no_screen_shows_python_values(judged):
    _, ids = judged
    for page in SCREENS:
        at = screen(page)
        assert not at.exception, page
        assert python_on_screen(at) == [], page
    at = screen("screens/1_Memory_bank.py")
    at.number_input(key="item").set_value(ids["narrow"]).run()
    assert python_on_screen(at) == []


def test_rerun_judging_says_the_browse_filters_in_words(judged):
    at = screen("screens/4_Trajectories_and_judging.py")
    at.checkbox(key="t_disagree").check().run()
    at.selectbox(key="t_truth").set_value("truly failure").run()
    assert python_on_screen(at) == []
    at.segmented_control(key="traj_mode").set_value("Rerun judging").run()
    said = " ".join(c.value for c in at.caption)
    assert "truly failure, judge ≠ truth" in said.replace("\\", "")
    assert python_on_screen(at) == []
