"""A command that embeds nothing starts cold without the heavy parts (issue 19): `bankcore stats` in a fresh process
loads no torch, no sentence-transformers, no LLM client and none of the agent or MaTTS, and `--version`/`--help`
not even the bank file's libraries. Each probe runs the real CLI in a subprocess and reads its sys.modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs `bankcore ARGS` as the console script does, then writes the names of the loaded modules to argv[1].
PROBE = r"""
import json, sys
from bankcore.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as stop:  # --version and --help end in argparse's exit
    code = stop.code
client = sys.modules.get("bankcore.llm.client")
json.dump({"modules": sorted(sys.modules), "code": code,
           "progress": client and getattr(client.LLMClient.default_progress, "__qualname__", None)},
          open(sys.argv[1], "w"))
"""

NEVER_FOR_A_READ = ("torch", "sentence_transformers", "transformers", "openai", "bankcore.llm.client",
                    "bankcore.agent", "bankcore.matts", "bankcore.guard", "bankcore.learn.queues")
# Only retrieval, vectors and bulk writes need these (bankcore.lazy): ~0.25 CPU s of a read command's cold start.
ARRAYS = ("numpy", "pyarrow", "pandas")


def loaded(tmp_path: Path, *argv: str) -> dict:
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BANKCORE_DB": str(tmp_path / "unused.duckdb")}
    env.pop("BANKCORE_DEBUG", None)
    done = subprocess.run([sys.executable, "-c", PROBE, str(out), *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert out.exists(), done.stderr
    return json.loads(out.read_text())


def heavy(modules: list[str], names=NEVER_FOR_A_READ) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in names)]


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cold") / "bank.duckdb"
    subprocess.run([sys.executable, "-m", "bankcore.cli", "init", "--db", str(path), "-q"], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


@pytest.mark.parametrize("argv", [["stats"], ["stats", "--json"], ["check"], ["review", "list"]],
                         ids=" ".join)
def test_a_read_command_loads_no_model_llm_agent_or_gate(bank, tmp_path, argv):
    found = loaded(tmp_path, "--db", str(bank), *argv)
    assert found["code"] == 0
    assert "duckdb" in found["modules"] and "bankcore.store" in found["modules"]  # it did read the bank
    assert heavy(found["modules"], NEVER_FOR_A_READ + ARRAYS) == []


# Counts the bank file's openings while `bankcore ARGS` runs, then writes them and the loaded modules to argv[1].
OPENINGS_PROBE = r"""
import json, sys
import duckdb
opened = []
connect = duckdb.connect
duckdb.connect = lambda *a, **k: opened.append(a[0] if a else k.get("database")) or connect(*a, **k)
from bankcore.cli import main
code = main(sys.argv[2:])
json.dump({"opened": opened, "code": code, "modules": sorted(sys.modules)}, open(sys.argv[1], "w"))
"""


def test_stats_opens_the_bank_once_and_loads_no_retriever_or_signing(bank, tmp_path):
    """Issue 19: stats' one read connection checks the file (no separate check that opens it first, ~20 ms), and
    neither retrieval, re-embedding nor export signing is imported for it (`Bank` and bank_commands load them
    when a method or command uses them)."""
    out = tmp_path / "opened.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", OPENINGS_PROBE, str(out), "--db", str(bank), "stats"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    found = json.loads(out.read_text()) if out.exists() else pytest.fail(done.stderr)
    assert found["code"] == 0 and found["opened"] == [str(bank)]
    assert heavy(found["modules"], ("bankcore.search.retrieve", "bankcore.search.reembed", "bankcore.search.vectors",
                                    "bankcore.search.memory_block", "bankcore.curate.signing")) == []


def test_exporting_lessons_loads_no_importer_embedder_llm_or_guard_tables(bank, tmp_path):
    """export-lessons shares its command module with import-lessons, whose importer (the gate's LLM second opinion,
    the embedder's re-embedding) loads only when a set is imported; of the guard it needs only which characters are
    hidden (`guard.hidden`), not the normaliser's lexicons and decoders (~35 ms)."""
    found = loaded(tmp_path, "--db", str(bank), "export-lessons", "--format", "md")
    assert found["code"] == 0
    assert "bankcore.guard.hidden" in found["modules"]
    assert heavy(found["modules"], ("torch", "sentence_transformers", "openai", "bankcore.llm.client",
                                    "bankcore.curate.lesson_sets", "bankcore.learn", "bankcore.agent",
                                    "bankcore.matts", "bankcore.guard.normalisation", "bankcore.guard.glossary",
                                    "bankcore.guard.rules", *ARRAYS)) == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []], ids=lambda a: " ".join(a) or "bare")
def test_version_and_help_load_not_even_the_bank_file_libraries(tmp_path, argv):
    found = loaded(tmp_path, *argv)
    assert found["code"] in (0, 2)
    assert heavy(found["modules"], NEVER_FOR_A_READ + ARRAYS + ("duckdb", "bankcore.bank", "bankcore.store")) == []
    commands = [m for m in found["modules"] if m.startswith("bankcore.cli.") and m.endswith("_commands")]
    assert commands == []


def test_the_probe_sees_what_a_command_does_load(tmp_path):
    """Not vacuous: `run` (the agent's command) does load the LLM client, and so does the probe's list."""
    found = loaded(tmp_path, "run", "--help")
    assert "bankcore.llm.client" in found["modules"] and "bankcore.cli.agent_commands" in found["modules"]


def test_a_command_that_loads_the_llm_client_gets_the_progress_hook(bank, tmp_path):
    """The CLI no longer imports the client up front, yet a command that does (judge) still streams its replies'
    tokens/s onto the command's bar: the hook is set when the client module loads."""
    found = loaded(tmp_path, "--db", str(bank), "judge", "--judge", "heuristic")
    assert found["code"] == 0
    assert found["progress"] == "show_reply_progress"


def test_verify_signature_opens_no_bank_and_loads_none_of_its_libraries(tmp_path):
    """A pipeline's check before a lesson set reaches a prompt: it reads FILE, FILE.sig and the key, nothing else."""
    from bankcore.curate import signing
    key, lessons = tmp_path / "k.key", tmp_path / "lessons.md"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    lessons.write_text("# Lessons from past tasks\n")
    signing.sign_file(lessons, signing.load_key(key), kind="lesson-set")
    found = loaded(tmp_path, "verify-signature", str(lessons), "--key-file", str(key))
    assert found["code"] == 0
    assert heavy(found["modules"], NEVER_FOR_A_READ + ARRAYS + ("duckdb", "bankcore.bank", "bankcore.store",
                                                                 "bankcore.read")) == []


def test_retrieve_still_loads_numpy_and_a_lazy_module_becomes_the_module_on_first_use(bank, tmp_path):
    """Not vacuous: the command that embeds does load numpy (through the stand-ins), and a stand-in puts the real
    module in its owner's globals on first use, so later uses cost nothing extra."""
    found = loaded(tmp_path, "--db", str(bank), "retrieve", "cancel a flight", "--no-log", "--json")
    assert found["code"] == 0 and "numpy" in found["modules"]
    import math
    from bankcore.lazy import LazyModule
    owner: dict = {}
    owner["m"] = LazyModule("math", owner)
    assert owner["m"].pi == math.pi and owner["m"] is math
