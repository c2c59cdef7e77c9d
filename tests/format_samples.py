"""Shared helpers for the τ²-bench, Inspect AI and ATIF importer tests: the samples under tests/data and the real
τ²-bench file (outside the repository; tests that need it skip cleanly when it is absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TAU2_SAMPLE = DATA / "tau2" / "airline_2tasks_2trials.json"
INSPECT_SAMPLE = DATA / "inspect_ai" / "shell_facts_2epochs.json"
INSPECT_UPSTREAM = DATA / "inspect_ai" / "2025-05-12T20-28-13-04-00_popularity.json"
INSPECT_EVAL_ZIP = DATA / "inspect_ai" / "log_formats.eval"
INSPECT_EVAL_JSON = DATA / "inspect_ai" / "log_formats.json"
HARBOR_TRIAL = DATA / "atif" / "trial-hello__x7Kq2"
ATIF_JSONL = DATA / "atif" / "mini_swe_agent_v2.atif.jsonl"
REALDATA = Path(os.environ.get("BANKCORE_REALDATA", Path(__file__).resolve().parents[2] / "realdata"))
TAU2_REAL = REALDATA / "tau2-bench" / "2025-08-10T02-44-06_telecom_llm_agent_gpt-4o_user_simulator_gpt-4o.json"


def all_text(traj) -> str:
    """Everything of a trajectory a judge or extractor could read."""
    parts = [traj.query, traj.final_answer or "", traj.final_state or "", json.dumps(traj.meta, ensure_ascii=False)]
    for s in traj.steps:
        parts += [s.thought or "", s.action or "", s.observation or "", json.dumps(s.meta, ensure_ascii=False)]
    return "\n".join(parts)


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def one_line_error(result, *needles: str) -> None:
    """A refused import: exit 1 and exactly one line naming each of `needles`."""
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
