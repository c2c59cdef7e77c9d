"""The fast tier: which tests `make test-fast` leaves to `make test`, decided by what each test *uses*.

A test is marked `slow` (and with the marker of its reason) when its own code, the tests/ helpers it calls or the
fixtures it requests reach one of the things that cost seconds per test:
- `browser`: a real Streamlit server driven by headless Chromium (tests/browser.py);
- `subprocess`: a second process (the CLI, the MCP server, a process holding the bank's lock, the embedded
  PostgreSQL server: `pgserver`, whose initdb and server processes are not this process's children, so their CPU is
  in no recorded cost);
- `apptest`: Streamlit's AppTest (a whole dashboard script run);
- `datasets`: the shared real datasets (`need_shared`, paths under ../shared/datasets or the real-data folder);
- `torch_model`: the sentence-transformers reference runtime on torch (~9 s to import).
- `measured`: none of these, but its recorded cost (tier_costs.json) is over COST_LIMIT_S — a whole agent loop, a
  learn-judge-extract run, a curation workflow, each opening the bank file dozens of times at ~20 ms CPU an open —
  or it uses a module- or session-scoped fixture that costs over SHARED_FIXTURE_LIMIT_S (a demo build).
The numpy MiniLM runtime (~0.3 s to load once per process) stays in the fast tier: it is what the engine uses.

Reading code rather than names keeps this central: a new test that starts a subprocess is slow without anyone
listing it. The walk is deliberately generous (any attribute named like a tests/ helper is followed), so a test
is more likely to land in `make test` only than to slow the fast tier down.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REASONS = ("browser", "subprocess", "apptest", "datasets", "torch_model", "measured")
TORCH_WORDS = {"torch", "sentence_transformers", "SentenceTransformer", "_SentenceTransformerRuntime"}
SERVER_WORDS = {"pgserver"}  # starts a PostgreSQL server (tests/pg_server.py): `subprocess`
BROWSER_MODULE = TESTS / "browser.py"

# Slow for their own work: tests whose recorded cost (CPU seconds, this process and its children, so the same on a
# busy machine as on an idle one) exceeds COST_LIMIT_S. Recorded, not hand-listed: rerun
#   BANKCORE_RECORD_TIER_COSTS=tests/tier_costs.json .venv/bin/python -m pytest -q -m "not slow or measured"
# after adding expensive tests. A test not in the file is judged by what it uses alone.
COSTS_FILE = TESTS / "tier_costs.json"
COST_LIMIT_S = 0.3
COST_FLOOR_S = 0.1
# A module- or session-scoped fixture is paid once per run of the tier: a demo build (~30 s) is out, a small bank
# built once for a module (~1 s) is not.
SHARED_FIXTURE_LIMIT_S = 5.0
RECORD_VARIABLE = "BANKCORE_RECORD_TIER_COSTS"
TESTS_KEY, FIXTURES_KEY = "cpu_seconds", "fixture_cpu_seconds"

MARKED: dict[str, frozenset[str]] = {}  # node id -> reasons, for every test this process collected (tests/test_tiers.py)


@functools.cache
def _resolved(filename: str) -> Path:
    """A source file's real path, once per file: the walk asks about the same few files thousands of times, and
    resolving a path (a system call per component) was most of the collection's marking time."""
    return Path(filename).resolve()


def _in_tests(obj) -> bool:
    try:
        path = inspect.getfile(obj)  # the file an object came from (a function's, a class's module's, a module's)
    except TypeError:
        return False
    return bool(path) and path.endswith(".py") and _resolved(path).parent == TESTS


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


class Uses:
    """What a function reaches, through the tests/ helpers it calls (each function walked once)."""

    def __init__(self, data_roots: tuple[Path, ...], markers: dict[int, str]):
        self.data_roots = data_roots
        self.markers = markers  # id(object) -> reason, for objects whose use alone is the reason
        self.memo: dict[types.CodeType, frozenset[str]] = {}

    def of(self, fn) -> frozenset[str]:
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        code = getattr(fn, "__code__", None)
        if code is None:
            return frozenset()
        if code in self.memo:
            return self.memo[code]
        self.memo[code] = frozenset()  # recursion guard
        reasons: set[str] = set()
        if _resolved(code.co_filename) == BROWSER_MODULE:
            reasons.add("browser")
        names: set[str] = set()
        for c in _codes(code):
            names.update(c.co_names)
            for const in c.co_consts:
                if isinstance(const, str) and const in TORCH_WORDS:
                    reasons.add("torch_model")
        if names & TORCH_WORDS:
            reasons.add("torch_model")
        if names & SERVER_WORDS:
            reasons.add("subprocess")
        if "AppTest" in names:  # imported inside the test, so not in its globals
            reasons.add("apptest")
        scope = getattr(fn, "__globals__", {})
        for name in names:
            if name not in scope:
                continue
            obj = scope[name]
            reasons |= self._object(obj, names)
        if "executable" in names and scope.get("sys") is sys:
            reasons.add("subprocess")
        self.memo[code] = frozenset(reasons)
        return self.memo[code]

    def _object(self, obj, names: set[str]) -> set[str]:
        if id(obj) in self.markers:
            return {self.markers[id(obj)]}
        if isinstance(obj, Path):
            return {"datasets"} if any(obj.is_relative_to(root) for root in self.data_roots) else set()
        if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, Path) for o in obj):
            return set().union(*(self._object(o, names) for o in obj))
        if isinstance(obj, types.ModuleType):
            if not _in_tests(obj):
                return set()
            found: set[str] = set()  # a tests/ helper module: follow the names used as its attributes
            if _resolved(obj.__file__) == BROWSER_MODULE:
                found.add("browser")
            for name in names:
                found |= self._object(getattr(obj, name), names) if hasattr(obj, name) else set()
            return found
        if isinstance(obj, type) and _in_tests(obj):
            return set().union(*(self.of(f) for f in vars(obj).values() if inspect.isfunction(f)))
        if inspect.isfunction(obj) and _in_tests(inspect.unwrap(obj)):  # a decorated helper (@contextmanager) too
            return set(self.of(obj))
        return set()


def reasons_for(item: pytest.Item, uses: Uses, costs: dict[str, float],
                fixture_costs: dict[str, float]) -> set[str]:
    found = set(uses.of(item.function)) if isinstance(item, pytest.Function) else set()
    for defs in getattr(item, "_fixtureinfo").name2fixturedefs.values():
        for fixturedef in defs:
            if _in_tests(fixturedef.func):
                found |= uses.of(fixturedef.func)
    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        found |= uses._object(value, set())
    if item.get_closest_marker("browser"):
        found.add("browser")
    fixtures = getattr(item, "_fixtureinfo").name2fixturedefs.values()
    if costs.get(item.nodeid, 0.0) > COST_LIMIT_S or any(
            fixture_costs.get(fixture_key(d), 0.0) > SHARED_FIXTURE_LIMIT_S for defs in fixtures for d in defs
            if d.scope != "function"):
        found.add("measured")
    return found


def mark(items: list[pytest.Item], data_roots: tuple[Path, ...], need_shared) -> None:
    """Add `slow` and the reason's marker to every test that uses something slow."""
    markers = {id(subprocess): "subprocess", id(subprocess.Popen): "subprocess", id(subprocess.run): "subprocess",
               id(need_shared): "datasets"}
    try:
        from streamlit.testing.v1 import AppTest
        markers[id(AppTest)] = "apptest"
    except ImportError:
        pass
    # as given and resolved: a test module may name a data path through a link (a worktree's ../shared) or not
    uses = Uses(tuple({*data_roots, *(r.resolve() for r in data_roots)}), markers)
    costs, fixture_costs = recorded_costs(), recorded_costs(FIXTURES_KEY)
    for item in items:
        reasons = reasons_for(item, uses, costs, fixture_costs)
        MARKED[item.nodeid] = frozenset(reasons)
        for reason in sorted(reasons):
            item.add_marker(reason)
        if reasons and not item.get_closest_marker("slow"):
            item.add_marker("slow")


def summary(terminalreporter, config) -> None:
    """After a run that deselected tests by marker (`make test-fast`), say how many and why, so that a tier
    which silently lost an area shows it."""
    deselected = terminalreporter.stats.get("deselected", [])
    if not config.option.markexpr or not deselected:
        return
    by_reason = {reason: sum(1 for item in deselected if item.get_closest_marker(reason)) for reason in REASONS}
    why = ", ".join(f"{reason} {count}" for reason, count in by_reason.items() if count)
    ran = sum(len(terminalreporter.stats.get(key, [])) for key in ("passed", "failed", "error", "skipped", "xfailed"))
    terminalreporter.write_line(
        f"tier -m {config.option.markexpr!r}: {ran} tests run, {len(deselected)} deselected ({why}); "
        f"`make test` runs them all")


def recorded_costs(key: str = TESTS_KEY) -> dict[str, float]:
    try:
        return json.loads(COSTS_FILE.read_text("utf-8")).get(key, {})
    except FileNotFoundError:
        return {}


@contextmanager
def recording(item: pytest.Item):
    """Around one test: with $BANKCORE_RECORD_TIER_COSTS set, add its CPU seconds (setup, call, teardown; this
    process and its children) to that file, keeping the entries of tests this run did not run."""
    with _cpu_seconds() as spent:
        yield
    _record(TESTS_KEY, item.nodeid, spent())


@contextmanager
def recording_fixture(fixturedef):
    """Around a module- or session-scoped fixture's setup: its CPU seconds. Such a fixture is paid by whichever test
    runs first, so leaving that test out alone would only move the cost to the next one: a test that uses a costly
    shared fixture is `measured` itself. (A function-scoped fixture's cost is in each test's own.)"""
    with _cpu_seconds() as spent:
        yield
    if fixturedef.scope == "function":
        return
    _record(FIXTURES_KEY, fixture_key(fixturedef), spent(), keep_max=True)


def fixture_key(fixturedef) -> str:
    """Where the fixture is defined and its name: two modules' fixtures of one name are two fixtures."""
    return f"{fixturedef.baseid}::{fixturedef.argname}"


@contextmanager
def _cpu_seconds():
    before = os.times()
    seconds = [0.0]
    yield lambda: seconds[0]
    after = os.times()
    seconds[0] = sum(after[i] - before[i] for i in range(4))  # user, system, children's user, children's system


def _record(key: str, name: str, spent: float, *, keep_max: bool = False) -> None:
    out = os.environ.get(RECORD_VARIABLE)
    if not out:
        return
    path = Path(out)
    table = json.loads(path.read_text("utf-8")) if path.exists() else {}
    costs = table.get(key, {})
    before = costs.pop(name, 0.0)
    spent = max(spent, before) if keep_max else spent  # a fixture set up many times: its dearest setup
    if spent >= COST_FLOOR_S:  # the cheap majority is left out: the file lists what costs something
        costs[name] = round(spent, 2)
    table[key] = dict(sorted(costs.items()))
    table["about"] = ("CPU seconds per test and per module- or session-scoped fixture setup, recorded by "
                      "tests/tiers.py: over its limit a test, or every test using that fixture, is `measured`")
    path.write_text(json.dumps(table, indent=0, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")
