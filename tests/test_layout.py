"""The tree explains the loop, and imports only run downward through it.

bankcore's packages are the stages of the loop, ordered from the bottom (values, the bank file) to the top (the
facade and the programs that use it). A module may import its own package and anything below it, never above: that
is what keeps a newcomer's reading order and the import order the same, and what lets a second store plug in under
everything else. The dashboard's helpers live outside the engine, which never imports them, streamlit or plotly.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. Packages on one line are peers that must not import each other.
LAYERS = [
    ["errors", "intervals", "lazy", "version"],
    ["models", "settings"],
    ["store"],
    ["llm"],
    ["search"],
    ["guard"],
    ["curate"],
    ["learn"],
    ["matts"],
    ["agent"],
    ["read"],
    ["bank"],
    ["demo", "mcp_server"],
    ["cli"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
RANK["__init__"] = RANK["bank"]  # bankcore's own namespace (`from bankcore import Bank, __version__`) is the facade
ENGINE_NEVER_IMPORTS = {"streamlit", "plotly", "dashboard"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """Every module a file imports (top level or inside a function), as absolute names with their line."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def stage(module: str) -> str | None:
    """The stage a bankcore module belongs to (`bankcore.curate.review` → `curate`); None outside bankcore."""
    parts = module.split(".")
    if parts[0] != "bankcore" or len(parts) < 2:
        return None
    top = ROOT / "bankcore" / parts[1]
    return parts[1] if top.is_dir() or top.with_suffix(".py").is_file() else "__init__"


def engine_files() -> list[Path]:
    return sorted((ROOT / "bankcore").rglob("*.py"))


def test_every_engine_module_belongs_to_a_known_stage():
    unknown = {stage(module_name(path)) for path in engine_files()} - set(RANK) - {None}
    assert unknown == set(), f"place these in LAYERS (and in the README's Layout): {sorted(unknown)}"


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_only_run_down_the_stages(path):
    own = stage(module_name(path))
    upward = []
    for line, target in imported_modules(path):
        if target.split(".")[0] in ENGINE_NEVER_IMPORTS:
            upward.append(f"line {line}: {target} (the engine never imports the dashboard's libraries)")
            continue
        other = stage(target)
        if own is None or other is None or other not in RANK or other == own:
            continue
        if RANK[other] > RANK[own] or (RANK[other] == RANK[own]):
            upward.append(f"line {line}: {target} ({own} may not import {other})")
    assert upward == [], "\n".join(upward)


def test_the_check_sees_an_upward_import():
    """The scan is not vacuous: an import from store/ up into curate/ is seen, however it is written."""
    probe = ROOT / "bankcore" / "store" / "probe.py"
    for source in ("from ..curate import review", "import bankcore.curate.review", "from bankcore.curate.review import x",
                   "def lazy():\n    from ..curate.review import x\n"):
        targets = [stage(target) for _, target in imported_modules(probe, source)]
        assert targets == ["curate"], source
    assert [stage(t) for _, t in imported_modules(probe, "from .core import x\nimport duckdb")] == ["store", None]


# The dashboard's screens read through `dashboard` (its cached, typed reads) and write through the facade; from the
# engine they see only the facade and the read model, so a refactor below `read/` never reaches a screen.
SCREENS_MAY_IMPORT = {"bankcore", "bankcore.bank", "bankcore.read", "bankcore.models", "bankcore.errors",
                      "bankcore.settings"}


def screen_imports(source: str) -> list[tuple[int, str]]:
    """Every module a screen names in an import (the module of `from M import x`, not M.x)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def screen_import_problems(source: str) -> list[str]:
    problems = []
    for line, module in screen_imports(source):
        top = module.split(".")[0]
        if module.startswith("."):
            problems.append(f"line {line}: relative import {module}")
        elif top == "bankcore" and module not in SCREENS_MAY_IMPORT:
            problems.append(f"line {line}: {module} (a screen imports only {', '.join(sorted(SCREENS_MAY_IMPORT))} "
                            "and dashboard: re-export what it needs through bankcore.read or dashboard)")
        elif top == "duckdb":
            problems.append(f"line {line}: {module} (screens hold no SQL)")
    return problems


@pytest.mark.parametrize("path", sorted((ROOT / "screens").glob("*.py")) + [ROOT / "app.py"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_screens_import_only_the_dashboard_the_facade_and_the_read_model(path):
    assert screen_import_problems(path.read_text()) == []


def test_the_screen_check_sees_an_engine_import():
    """Not vacuous: reaching past the read model is seen however it is written; the allowed names pass."""
    for source in ("from bankcore.curate import review", "import bankcore.search.memory_block",
                   "from bankcore.read.views import MIN_N", "from bankcore.learn.uploads import keep_upload"):
        assert len(screen_import_problems(source)) == 1, source
    assert screen_import_problems("import streamlit as st\nfrom dashboard import reads, ui\n"
                                  "from bankcore.read import MIN_N\nfrom bankcore.models import EVENT_KINDS\n"
                                  "from bankcore import Bank") == []
