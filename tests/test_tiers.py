"""The fast tier (`make test-fast`, `-m "not slow"`) keeps every core area and leaves out what it should.

The marks come from tests/tiers.py reading what each test uses and its recorded cost; these tests read the marks
pytest gave the real test modules (no test of theirs runs) and check both sides: a core module that lost all its
tests to `slow` would make the fast tier quietly skip an area, and a subprocess or AppTest test left in it would make it slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# The engine's unit-level areas: each must keep tests in the fast tier.
CORE = ["test_store.py", "test_layout.py", "test_importers_faithful.py", "test_importers_atif.py",
        "test_importers_inspect_ai.py", "test_guard.py", "test_gate.py", "test_policy.py", "test_ranking.py",
        "test_llm.py", "test_llm_strict_replies.py", "test_consolidate_plan.py", "test_lineage.py", "test_cli.py",
        "test_judge.py", "test_extract.py", "test_labels.py", "test_learning.py", "test_retrieve.py",
        "test_vectors.py", "test_matts.py", "test_export_integrity.py", "test_demo_corpus.py", "test_replay.py",
        "test_similarity_vectors.py", "test_second_opinion.py", "test_compare.py", "test_agent.py"]
# Tests that must be left to `make test`, and the reason's marker each must carry.
SLOW = {"test_dashboard_browser.py": "browser", "test_mcp.py::test_retrieve_memory_over_stdio": "subprocess",
        "test_consolidate_pg_writes.py": "subprocess",  # the embedded PostgreSQL server (pgserver)
        "test_dashboard.py::test_every_page_renders_on_an_empty_bank": "apptest",
        "test_retrieve_real.py": "datasets", "test_minilm.py::test_numpy_vectors_match_sentence_transformers_on_lessons"
                                             "_and_edge_cases": "torch_model"}


def module_of(node: str) -> str:
    return node.split("::")[0].rsplit("/", 1)[-1]


class Collected:
    """A pytest plugin for a collection run apart, when this module runs without the ones it checks."""

    def pytest_collection_finish(self, session):
        self.nodes = [item.nodeid for item in session.items]


@pytest.fixture(scope="module")
def marks() -> dict[str, frozenset[str]]:
    """Node id -> the tier's reasons for every test of the modules checked here. `make test` and `make test-fast`
    collected them already (tiers.MARKED); run alone, this module collects them itself (a few seconds)."""
    import tiers
    wanted = {*CORE, *(node.split("::")[0] for node in SLOW)}
    if wanted <= {module_of(node) for node in tiers.MARKED}:
        return dict(tiers.MARKED)
    collected = Collected()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *(str(TESTS / name) for name in wanted)],
                       plugins=[collected])
    assert code == 0, f"collection failed ({code})"
    return {node: tiers.MARKED[node] for node in collected.nodes}


@pytest.mark.parametrize("module", CORE)
def test_the_fast_tier_keeps_tests_of_every_core_module(marks, module):
    reasons = [why for node, why in marks.items() if module_of(node) == module]
    kept = sum(1 for why in reasons if not why)
    assert kept, f"{module}: all {len(reasons)} tests left out of the fast tier"


@pytest.mark.parametrize("node, reason", list(SLOW.items()))
def test_what_is_slow_is_left_to_the_full_suite_with_its_reason(marks, node, reason):
    module, _, name = node.partition("::")
    matching = {n: why for n, why in marks.items() if module_of(n) == module and (not name or
                                                                                n.split("::")[1].split("[")[0] == name)}
    assert matching, f"no test {node} collected"
    for n, why in matching.items():
        assert reason in why, f"{n} is not marked {reason!r} (its reasons: {sorted(why) or 'none'})"
