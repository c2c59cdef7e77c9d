"""Shared fixtures. Real parts only: a real DuckDB file per test, the real shared datasets when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bankcore import Bank
from bankcore.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BANKCORE_SHARED", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"
TAU = DATASETS / "tau-bench-airline" / "gpt-4o-airline.json"
REFLEXION_BASE = DATASETS / "reflexion-hotpotqa" / "react_base_100_questions_5_trials.txt"
REFLEXION = DATASETS / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def need_shared(*paths: Path) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared dataset not present: {missing[0]}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's bank or LLM settings."""
    for name in ("BANKCORE_DB", "OPENAI_API_KEY", "OPENAI_BASE_URL", "BANKCORE_LLM_BASE_URL", "BANKCORE_LLM_API_KEY",
                 "BANKCORE_MODEL", "BANKCORE_EXPORT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BANKCORE_DB", str(tmp_path / "default.duckdb"))


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "bank.duckdb"


@pytest.fixture
def bank(db) -> Bank:
    return Bank(db)


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `bankcore ...` in-process; returns exit code and captured output. LANGUAGE=C: argparse's messages are
    the same (Python ships no catalogue for them), but gettext stops looking for one for each of the hundreds of
    strings a command's parser translates (~4 ms CPU a command under LANG=C.UTF-8; ~400 commands in the fast tier)."""
    monkeypatch.setenv("LANGUAGE", "C")

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)
    return run
from fake_llm import fake_llm  # noqa: E402,F401 — the OpenAI-compatible test server fixture
from browser import dashboard_server, served_dashboard  # noqa: E402,F401 — one Streamlit server for the browser tests


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: the tier markers must be on the items by then
def pytest_collection_modifyitems(config, items):
    """Mark `slow` (browser, subprocess, AppTest, shared datasets, torch) by what each test uses: tests/tiers.py."""
    import tiers
    tiers.mark(items, (DATASETS,), need_shared)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With $BANKCORE_RECORD_TIER_COSTS set, record each test's CPU seconds (tests/tiers.py)."""
    import tiers
    with tiers.recording(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """With $BANKCORE_RECORD_TIER_COSTS set, record each fixture's setup CPU seconds (tests/tiers.py)."""
    import tiers
    with tiers.recording_fixture(fixturedef):
        yield


def pytest_terminal_summary(terminalreporter, config):
    import tiers
    tiers.summary(terminalreporter, config)
