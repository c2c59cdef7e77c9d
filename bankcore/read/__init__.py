"""What the bank shows — the one read model every front end uses (the dashboard, `bankcore stats`, MCP).

`Views` (`Bank.views`) is the entry: one named method per read, each returning values. Judge quality
(`quality`), items by source and status (`counts`) and rates are computed once, here; `metrics` adds run outcomes
and agent runs for `bankcore stats`, `compare` and `leakage` the paired comparison of two runs.

The names below are everything a screen needs from the engine besides `Bank`, `models`, `errors` and `settings`.
"""

__all__ = [
    "AsOfSummary", "BankStats", "EVIDENCE_PAGE", "EventBounds", "Evidence", "ItemCounts", "ItemPage", "JudgeQuality",
    "MARKER_KINDS", "MIN_N", "Overview", "Provenance", "RunQuality", "TrajectoryPage", "Views", "describe_policy",
    "kind_of", "memory_block", "memory_in_words", "needs_keep_decision", "render_comparison", "wilson",
]


def __getattr__(name: str):
    """The names in `__all__` are imported on first use (PEP 562): `bankcore stats` reads `read.metrics` without loading
    the views, review and the policy's injection gate."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..curate.policy import describe as describe_policy
    from ..curate.review import needs_keep_decision
    from ..search.memory_block import memory_block
    from .compare import render as render_comparison
    from .counts import ItemCounts
    from .metrics import BankStats, memory_in_words
    from .quality import JudgeQuality, RunQuality
    from .views import (EVIDENCE_PAGE, MARKER_KINDS, MIN_N, AsOfSummary, EventBounds, Evidence, ItemPage, Overview,
                        Provenance, TrajectoryPage, Views, kind_of, wilson)
    names = locals()
    globals().update({exported: names[exported] for exported in __all__})
    return names[name]
