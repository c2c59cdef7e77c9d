"""mini-swe-agent trajectories: ``*.traj.json`` files (or folders of them, searched recursively).

Each file is ``{info: {exit_status, submission, model_stats}, messages: [...], trajectory_format}``. The assistant
writes a THOUGHT and one bash block; the next user message carries ``<returncode>``/``<output>``. Newer files
(format ``mini-swe-agent-1.1``) may use tool calls instead, which the chat mapping handles.

Outcome labels come from a SWE-bench results summary when one is given (``resolved_ids`` from sb-cli or the
harness report, or ``resolved`` from the experiments repository): resolved → success, any other → failure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, Where
from ..models import Trajectory, Truth
from . import chat
from .base import MB, BadRecord, ImportOptions, Record, ensure_text, need, type_name

NAME = "mini-swe-agent"
SUFFIX = ".traj.json"
_BASH_BLOCK = re.compile(r"```(?:bash|sh)?\s*\n(.*?)```", re.S)
_PR_DESCRIPTION = re.compile(r"<pr_description>\s*(.*?)\s*</pr_description>", re.S)


def sniff(path: Path, first: Any) -> bool:
    if path.is_dir():
        return any(path.rglob(f"*{SUFFIX}"))
    return path.name.endswith(SUFFIX) or (isinstance(first, dict) and "messages" in first and "info" in first)


def files(path: Path) -> list[Path]:
    return sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]


def load_resolved(path: Path) -> set[str]:
    """Resolved instance ids from a SWE-bench results summary."""
    where = Where(str(path))
    ensure_text(path)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(where, f"results summary is not valid JSON ({exc})") from None
    for key in ("resolved_ids", "resolved"):
        if isinstance(data, dict) and key in data:
            ids = data[key]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise InputError(where.at(key), f"expected a list of instance ids, got {type_name(ids)}")
            return set(ids)
    raise InputError(where, "results summary has neither 'resolved_ids' nor 'resolved'")


def read(path: Path, options: ImportOptions) -> Iterator[Record | BadRecord]:
    resolved = load_resolved(options.swebench_results) if options.swebench_results else None
    paths = files(path)
    if not paths:
        raise InputError(Where(str(path)), f"no {SUFFIX} files found")
    for file in paths:
        where = Where(str(file), 1)
        try:
            ensure_text(file)
            size = file.stat().st_size
            if size > options.max_record_bytes:
                raise InputError(where, f"file is {size / MB:.1f} MB, over the "
                                        f"{options.max_record_bytes / MB:.0f} MB limit for one record")
            try:
                data = json.loads(file.read_text("utf-8"))
            except json.JSONDecodeError as exc:
                reason = "truncated file" if exc.pos >= size - 2 else "not valid JSON"
                raise InputError(Where(str(file), exc.lineno), f"{reason} ({exc.msg})") from None
            except UnicodeDecodeError as exc:
                raise InputError(where, f"not valid UTF-8 at byte {exc.start}") from None
            yield parse_record(data, where, file, resolved, options.domain)
        except InputError as exc:
            yield BadRecord(exc)


def instance_id(data: dict, file: Path) -> str:
    value = data.get("instance_id")
    return value if isinstance(value, str) and value else file.name[: -len(SUFFIX)]


def parse_record(data: Any, where: Where, file: Path, resolved: set[str] | None, domain: str | None) -> Record:
    info = need(data, "info", where, dict)
    messages = need(data, "messages", where, list)
    convo = chat.convert(messages, where.at("messages"))
    for step in convo.steps:
        if step.meta.get("kind") == "reply":  # text-format model: THOUGHT + one bash block
            thought, command = split_bash(step.action or "")
            if command is not None:
                step.thought, step.action, step.meta = thought, command, {"kind": "bash"}
    query = _PR_DESCRIPTION.search(convo.query)
    iid = instance_id(data, file)
    exit_status = need(info, "exit_status", where.at("info"), str, optional=True)
    submission = need(info, "submission", where.at("info"), str, optional=True)
    meta: dict[str, Any] = {
        "exit_status": exit_status,
        "model_stats": need(info, "model_stats", where.at("info"), dict, optional=True) or {},
        "trajectory_format": data.get("trajectory_format"),
        "instance_prompt": convo.query if query else None,
    }
    if convo.system:
        meta["system"] = convo.system
    truth = None
    if resolved is not None:
        truth = Truth(success=iid in resolved, reward=1.0 if iid in resolved else 0.0, source="swe-bench resolved")
    return Record(Trajectory(
        task_id=iid, query=query[1] if query else convo.query, steps=convo.steps, source_format=NAME,
        final_answer=submission, final_state=f"exit_status: {exit_status}" if exit_status else None,
        domain=domain or "swe-bench", meta={k: v for k, v in meta.items() if v is not None},
    ), truth)


def split_bash(text: str) -> tuple[str | None, str | None]:
    """(thought, command) from 'THOUGHT: ... ```bash cmd```'; command is None when there is no block."""
    match = _BASH_BLOCK.search(text)
    if match is None:
        return text or None, None
    thought = (text[: match.start()] + text[match.end():]).strip()
    if thought.upper().startswith("THOUGHT:"):
        thought = thought[len("THOUGHT:"):].strip()
    return thought or None, match[1].strip()
