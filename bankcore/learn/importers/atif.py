"""ATIF, the Agent Trajectory Interchange Format (Harbor / Terminal-Bench 2; mini-swe-agent v2 and OpenHands
adapters write it too): ``{schema_version: "ATIF-v1.x", session_id, agent, steps, notes, final_metrics, extra}``.

A file holds one trajectory (Harbor's ``agent/trajectory.json``), or several: a JSON array of them, or JSONL.
Steps are ``{step_id, source: system|user|agent, message, reasoning_content, tool_calls, observation, metrics}``
(a message or result content may be a list of parts, as in ATIF ≥ 1.6: their text is read, images are left out);
one bankcore step per agent step: tool calls (``function_name(arguments)``) → action with the message and
reasoning as thought; an agent step without tool calls but with an observation acted some other way (a command in
its message, as mini-swe-agent does) → the message is the action; one with neither is a reply (the final answer
when last; with no reply, the last agent message is). The observation is the step's ``observation.results`` plus
any later user or system messages before the next agent step. The query is the first user step's message. The
task id is ``extra.task_id`` or Harbor's ``task_name`` when known, else a hash of the query (so the same task pairs
across runs).

Ground truth: ATIF itself carries none; Harbor writes the verifier's rewards beside the trajectory, in the trial's
``result.json`` (``<trial>/agent/trajectory.json`` → ``<trial>/result.json``: ``verifier_result.rewards``). When
that file is there, its ``reward`` is the truth (never shown to the judge). A Harbor job folder (or one trial's
folder) is read by `harbor`: the whole job as one run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Where
from ...models import Step, Trajectory, Truth
from .base import (BOM, MB, BadRecord, ImportOptions, Record, RunHeader, ensure_one_record_size, iter_json_array,
                   iter_jsonl, loads, need,
                   read_head, read_text, text_of)
from .native import parse_time, query_task_id

NAME = "atif"
SOURCES = ("system", "user", "agent")
TRUTH_SOURCE = "harbor verifier reward"


def sniff(path: Path, first: Any) -> bool:
    if isinstance(first, list) and first:  # a JSON file holding an array of trajectories
        first = first[0]
    if isinstance(first, dict):
        version = first.get("schema_version")
        return isinstance(version, str) and version.startswith("ATIF") and isinstance(first.get("steps"), list)
    return False


def read(path: Path, options: ImportOptions) -> Iterator[Record | RunHeader | BadRecord]:
    harbor = harbor_result(path)
    model_stated = False
    for parsed in objects(path, options):
        if isinstance(parsed, BadRecord):
            yield parsed
            continue
        where, obj = parsed
        try:
            record = parse_record(obj, where, options.domain, harbor)
        except InputError as exc:
            yield BadRecord(exc)
            continue
        model = record.trajectory.meta.get("agent_model")
        if model and not model_stated:
            model_stated = True
            yield RunHeader(agent_model=model)
        yield record


def objects(path: Path, options: ImportOptions):
    """The file's trajectories, each (where, parsed object) or a BadRecord: a JSON array, one pretty-printed
    object, or JSONL."""
    head = read_head(path, 4096).removeprefix(BOM).lstrip()
    if head.startswith(b"["):
        yield from iter_json_array(path, options.max_record_bytes)
    elif head.startswith(b"{") and b"\n" in head and not _one_line_object(path, head):
        # one pretty-printed trajectory: one record, bounded by the record limit
        ensure_one_record_size(path, Where(str(path)), options.max_record_bytes)
        try:
            yield Where(str(path), 1), loads(read_text(path), Where(str(path)))
        except InputError as exc:
            yield BadRecord(exc)
    else:
        yield from iter_jsonl(path, options.max_record_bytes)


def _one_line_object(path: Path, head: bytes) -> bool:
    """A JSONL file's first line is a whole object; a pretty-printed file's first line is not."""
    first_line = head.split(b"\n", 1)[0].strip()
    return path.suffix == ".jsonl" or (first_line.startswith(b"{") and first_line.endswith(b"}"))


def harbor_result(path: Path) -> dict | None:
    """Harbor's trial result beside ``<trial>/agent/trajectory.json``, if it is there and readable."""
    if path.parent.name != "agent":
        return None
    result = path.parent.parent / "result.json"
    try:
        if not result.is_file() or result.stat().st_size > 16 * MB:
            return None
        data = json.loads(result.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def harbor_truth(result: dict | None) -> Truth | None:
    verifier = result.get("verifier_result") if result else None
    rewards = verifier.get("rewards") if isinstance(verifier, dict) else None
    if not isinstance(rewards, dict) or not rewards:
        return None
    reward = rewards.get("reward", next(iter(rewards.values())) if len(rewards) == 1 else None)
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not math.isfinite(reward):
        return None
    return Truth(success=reward >= 1.0, reward=float(reward), source=TRUTH_SOURCE, details={"rewards": rewards})


def parse_record(obj: Any, where: Where, domain: str | None, harbor: dict | None) -> Record:
    version = need(obj, "schema_version", where, str)
    if not version.startswith("ATIF"):
        raise InputError(where.at("schema_version"), f"not an ATIF version: {version[:40]!r}")
    agent = need(obj, "agent", where, dict, optional=True) or {}  # required by the RFC; some writers omit it
    steps_raw = need(obj, "steps", where, list)
    convo = convert(steps_raw, where.at("steps"))
    extra = need(obj, "extra", where, dict, optional=True) or {}
    model = need(agent, "model_name", where.at("agent"), str, optional=True)
    meta: dict[str, Any] = {
        "session_id": need(obj, "session_id", where, str, optional=True), "schema_version": version,
        "agent": need(agent, "name", where.at("agent"), str, optional=True),
        "agent_version": need(agent, "version", where.at("agent"), str, optional=True),
        "agent_model": model, "final_metrics": need(obj, "final_metrics", where, dict, optional=True),
        "notes": need(obj, "notes", where, str, optional=True), "system": convo["system"],
    }
    task_id = extra.get("task_id") if isinstance(extra.get("task_id"), (str, int)) else None
    if task_id is None and harbor and isinstance(harbor.get("task_name"), str):
        task_id = harbor["task_name"]
    return Record(Trajectory(
        task_id=str(task_id) if task_id is not None else query_task_id(convo["query"]),
        query=convo["query"], steps=convo["steps"], source_format=NAME, final_answer=convo["final_answer"],
        final_state=convo["final_state"], domain=domain or (str(extra["domain"]) if "domain" in extra else None),
        started_at=convo["started_at"], meta={k: v for k, v in meta.items() if v is not None},
    ), harbor_truth(harbor))


def _observation(step: dict, where: Where) -> list[str] | None:
    observation = need(step, "observation", where, dict, optional=True)
    if observation is None:
        return None
    results = need(observation, "results", where.at("observation"), list)
    texts = []
    for k, result in enumerate(results):
        at = where.at(f"observation.results[{k}]")
        content = text_of(need(result, "content", at, (str, list), optional=True), at.at("content"))
        refs = need(result, "subagent_trajectory_ref", at, list, optional=True) or []
        named = [f"[subagent {ref.get('session_id')}]" for ref in refs if isinstance(ref, dict)]
        texts.append("\n".join([*named, content] if content is not None else named))
    return texts


def _render_calls(calls: list, where: Where) -> str:
    rendered = []
    for j, call in enumerate(calls):
        at = where.at(f"[{j}]")
        name = need(call, "function_name", at, str)
        arguments = need(call, "arguments", at, (dict, list, str), optional=True)
        if isinstance(arguments, (dict, list)):
            arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        rendered.append(f"{name}({arguments or ''})")
    return "\n".join(rendered)


def convert(steps_raw: list, where: Where) -> dict[str, Any]:
    system: list[str] = []
    query: str | None = None
    steps: list[Step] = []
    pending: list[str] = []
    final_answer = final_state = started_at = last_message = None

    def close_step() -> None:
        if steps and pending:
            steps[-1].observation = "\n".join(pending)
        pending.clear()

    for i, raw in enumerate(steps_raw):
        at = where.at(f"[{i}]")
        source = need(raw, "source", at, str)
        if source not in SOURCES:
            raise InputError(at.at("source"), f"unknown source {source!r} (expected one of {', '.join(SOURCES)})")
        message = text_of(need(raw, "message", at, (str, list), nullable=True), at.at("message")) or ""
        if started_at is None:
            started_at = parse_time(need(raw, "timestamp", at, str, optional=True), at.at("timestamp"))
        observed = _observation(raw, at)
        if source == "system":
            if not steps:
                if message:
                    system.append(message)
            else:
                pending.extend(t for t in [message, *(observed or [])] if t)
        elif source == "user":
            if query is None and not steps:
                query = message
            elif message:
                pending.append(message)
        else:  # agent
            close_step()
            last_message = message or last_message
            calls = need(raw, "tool_calls", at, list, optional=True) or []
            reasoning = need(raw, "reasoning_content", at, str, optional=True)
            meta: dict[str, Any] = {"step_id": raw.get("step_id")}
            metrics = need(raw, "metrics", at, dict, optional=True)
            if metrics:
                meta["metrics"] = {k: v for k, v in metrics.items()
                                   if k in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd")}
            if isinstance(raw.get("model_name"), str):
                meta["model"] = raw["model_name"]
            if calls:
                thought = "\n\n".join(t for t in (reasoning, message) if t) or None
                steps.append(Step(index=len(steps), thought=thought, action=_render_calls(calls, at.at("tool_calls")),
                                  meta={"kind": "tool", "tools": [c.get("function_name") for c in calls], **meta}))
            elif observed is not None:
                steps.append(Step(index=len(steps), thought=reasoning, action=message, meta={"kind": "action", **meta}))
            else:
                steps.append(Step(index=len(steps), thought=reasoning, action=message, meta={"kind": "reply", **meta}))
                final_answer = message or final_answer
            if observed:
                pending.extend(observed)
                final_state = observed[-1]
    close_step()
    if not query or not query.strip():
        raise InputError(where, "no user step to take the task query from")
    return {"query": query, "steps": steps, "final_answer": final_answer or last_message, "final_state": final_state,
            "system": "\n\n".join(system) or None, "started_at": started_at}
