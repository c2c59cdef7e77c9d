"""mini-swe-agent trajectories: ``*.traj.json`` files (or folders of them, searched recursively).

Each file is ``{info: {exit_status, submission, model_stats, config}, messages: [...], trajectory_format}``.
Steps are read the way the agent read the replies: a text reply holds exactly one action block matched by the
run's ``action_regex`` (``agent.action_regex`` in v1, ``model.action_regex`` in v2, else that version's default);
none or several is a format error the agent answered, kept as a ``format_error`` step whose observation is that
answer. v2 files (``mini-swe-agent-1.1``) record the executed commands (``extra.actions``) and may use tool calls;
they drop a refused reply and keep only its format-error message. The run's model is ``info.config.model``.

Outcome labels come from a SWE-bench results file when one is given (see `swebench_results`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Where
from ...models import Step, Trajectory, Truth
from . import chat
from .base import (BadRecord, ImportOptions, Record, RunHeader, ensure_one_record_size, ensure_text, loads, need,
                   read_text, type_name)
from .swebench_results import load_resolved

NAME = "mini-swe-agent"
SUFFIX = ".traj.json"
_PR_DESCRIPTION = re.compile(r"<pr_description>\s*(.*?)\s*</pr_description>", re.S)


def sniff(path: Path, first: Any) -> bool:
    if path.is_dir():
        return any(path.rglob(f"*{SUFFIX}"))
    return path.name.endswith(SUFFIX) or (isinstance(first, dict) and "messages" in first and "info" in first)


def files(path: Path) -> list[Path]:
    return sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]


def read(path: Path, options: ImportOptions) -> Iterator[Record | RunHeader | BadRecord]:
    resolved = load_resolved(options.swebench_results) if options.swebench_results else None
    paths = files(path)
    if not paths:
        raise InputError(Where(str(path)), f"no {SUFFIX} files found")
    model_stated = False
    for file in paths:
        where = Where(str(file), 1)
        try:
            ensure_text(file)
            ensure_one_record_size(file, where, options.max_record_bytes)
            data = loads(read_text(file), Where(str(file)))
            record = parse_record(data, where, file, resolved, options.domain)
            model = record.trajectory.meta.get("agent_model")
            if model and not model_stated:  # the run's model; each trajectory's own stays in its meta
                model_stated = True
                yield RunHeader(agent_model=model)
            yield record
        except InputError as exc:
            yield BadRecord(exc)


def instance_id(data: dict, file: Path) -> str:
    value = data.get("instance_id")
    return value if isinstance(value, str) and value else file.name[: -len(SUFFIX)]


def parse_record(data: Any, where: Where, file: Path, resolved: set[str] | None, domain: str | None) -> Record:
    if isinstance(data, list):  # a bare message list, as the agent's own test data stores one
        data = {"info": {}, "messages": data}
    info = need(data, "info", where, dict)
    messages = need(data, "messages", where, list)
    agent = AgentSemantics.of(data)
    turns, exit_extra = normalise_messages(messages, where.at("messages"))
    convo = chat.convert([message for message, _ in turns], where.at("messages"))
    replies = [reply for message, reply in turns if message.get("role") == "assistant"]
    for step, reply in zip(convo.steps, replies):  # chat.convert makes exactly one step per assistant message
        agent.parse_step(step, reply)
    query = _PR_DESCRIPTION.search(convo.query)
    iid = instance_id(data, file)
    exit_status = need(info, "exit_status", where.at("info"), str, optional=True) or exit_extra.get("exit_status")
    submission = need(info, "submission", where.at("info"), str, optional=True) or exit_extra.get("submission")
    meta: dict[str, Any] = {
        "exit_status": exit_status,
        "model_stats": need(info, "model_stats", where.at("info"), dict, optional=True) or {},
        "trajectory_format": data.get("trajectory_format"),
        "mini_version": info.get("mini_version") if isinstance(info.get("mini_version"), str) else None,
        "agent_model": agent.model_name,
        "format_errors": sum(1 for s in convo.steps if s.meta.get("kind") == FORMAT_ERROR) or None,
        "instance_prompt": convo.query if query else None,
    }
    if convo.system:
        meta["system"] = convo.system
    truth = None
    if resolved is not None:
        truth = Truth(success=iid in resolved, reward=1.0 if iid in resolved else 0.0, source="swe-bench resolved")
    return Record(Trajectory(
        task_id=iid, query=query[1] if query else convo.query, steps=convo.steps, source_format=NAME,
        final_answer=submission or None, final_state=f"exit_status: {exit_status}" if exit_status else None,
        domain=domain or "swe-bench", meta={k: v for k, v in meta.items() if v is not None},
    ), truth)


# ---------------------------------------------------------------------- the agent's own parsing rules
FORMAT_ERROR = "format_error"
# DefaultAgent's action regex in v1 (``agent.action_regex``) and the text-based models' default in v2
# (``model.action_regex``); a file's own config overrides both.
V1_ACTION_REGEX = r"```bash\s*\n(.*?)\n```"
V2_ACTION_REGEX = r"```mswea_bash_command\s*\n(.*?)\n```"
V2_FORMAT = "mini-swe-agent-1.1"


@dataclass
class Reply:
    """What the agent recorded about one model reply, beyond the chat message itself."""

    actions: list[str] | None = None  # v2: ``extra.actions``, the commands the agent actually executed
    format_error: bool = False  # v2: the agent refused this reply (only the error message was kept)
    n_actions: int | None = None


@dataclass
class AgentSemantics:
    """How the run's agent turned a reply into an action: its action regex and its model."""

    action_regex: re.Pattern[str]
    model_name: str | None

    @classmethod
    def of(cls, data: dict) -> "AgentSemantics":
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        config = info.get("config") if isinstance(info.get("config"), dict) else {}
        model = config.get("model") if isinstance(config.get("model"), dict) else {}
        agent = config.get("agent") if isinstance(config.get("agent"), dict) else {}
        name = model.get("model_name")
        return cls(action_regex=_action_regex(data, model, agent),
                   model_name=name if isinstance(name, str) and name else None)

    def parse_step(self, step: Step, reply: Reply) -> None:
        """Rewrite a chat step the way the agent read the reply: thought + the one command it ran, or a format
        error the agent answered with its format-error message (the step's observation)."""
        text = step.thought if step.meta.get("kind") == "tool" else step.action
        text = text or ""
        matches = list(self.action_regex.finditer(text))
        if reply.format_error:
            step.thought, step.action = text or None, None
            step.meta = {"kind": FORMAT_ERROR, "n_actions": reply.n_actions if reply.n_actions is not None
                         else len(matches)}
            return
        if step.meta.get("kind") == "tool":
            commands = reply.actions or _bash_tool_commands(step)
            if commands:
                step.action = "\n".join(commands)
                step.meta = {"kind": "bash", "tool_calls": len(commands)}
            return
        thought = _around(text, matches[0]) if len(matches) == 1 else text
        if reply.actions:
            step.thought, step.action, step.meta = thought or None, "\n".join(reply.actions), {"kind": "bash"}
        elif len(matches) == 1:
            step.thought, step.action, step.meta = thought or None, matches[0][1].strip(), {"kind": "bash"}
        else:
            step.thought, step.action = text or None, None
            step.meta = {"kind": FORMAT_ERROR, "n_actions": len(matches)}


def _action_regex(data: dict, model: dict, agent: dict) -> re.Pattern[str]:
    for configured in (model.get("action_regex"), agent.get("action_regex")):
        if isinstance(configured, str):
            try:
                pattern = re.compile(configured, re.DOTALL)
            except re.error:
                continue
            if pattern.groups == 1:
                return pattern
    if data.get("trajectory_format") == V2_FORMAT:
        return re.compile(V2_ACTION_REGEX, re.DOTALL)
    if data.get("trajectory_format") is None and _mentions(data.get("messages"), "```mswea_bash_command"):
        return re.compile(V2_ACTION_REGEX, re.DOTALL)  # no version stated: the prompt says which fence it wants
    return re.compile(V1_ACTION_REGEX, re.DOTALL)


def _mentions(messages: Any, needle: str) -> bool:
    if not isinstance(messages, list):
        return False
    return any(isinstance(m, dict) and m.get("role") in ("system", "user") and isinstance(m.get("content"), str)
               and needle in m["content"] for m in messages[:2])


def _around(text: str, match: re.Match[str]) -> str:
    """The reply with its action block cut out: the agent's reasoning, prose and other code blocks included."""
    thought = (text[: match.start()].rstrip() + "\n\n" + text[match.end():].lstrip()).strip()
    if thought[:8].upper() == "THOUGHT:":
        thought = thought[8:].strip()
    return thought


def _bash_tool_commands(step: Step) -> list[str]:
    """Commands from chat-rendered ``bash({"command": ...})`` tool calls; [] when any call is something else."""
    commands = []
    for line in (step.action or "").split("\n"):
        name, _, arguments = line.partition("(")
        try:
            args = json.loads(arguments[:-1]) if name == "bash" and arguments.endswith(")") else None
        except (RecursionError, ValueError):  # not JSON, nested too deep, a number too long: not a bash call
            args = None
        if not isinstance(args, dict) or not isinstance(args.get("command"), str):
            return []
        commands.append(args["command"])
    return commands


# ---------------------------------------------------------------------- v2 message shapes → chat messages
def normalise_messages(messages: list, where: Where) -> tuple[list[tuple[dict, Reply]], dict]:
    """Chat-shaped messages, each with what the agent recorded about it, and the ``exit`` message's extra.

    v2 keeps the model's native message: Responses-API items have no chat role, the run ends with a role
    ``exit`` message, and a reply the agent refused is not kept — only the user message carrying its
    format error (``extra.interrupt_type``), so a step stands in for the refused reply.
    """
    turns: list[tuple[dict, Reply]] = []
    exit_extra: dict = {}
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InputError(where.at(f"[{i}]"), f"expected an object, got {type_name(message)}")
        extra = message.get("extra") if isinstance(message.get("extra"), dict) else {}
        role = message.get("role")
        if role == "exit":
            exit_extra = extra
            continue
        if role is None and message.get("type") == "function_call_output":
            message = {"role": "tool", "content": message.get("output")}
        elif role is None and isinstance(message.get("output"), list):  # a Responses-API reply
            message = {"role": "assistant", "content": _response_text(message["output"])}
        if extra.get("interrupt_type") == "FormatError" and role == "user":
            previous = turns[-1][0].get("role") if turns else None
            if previous == "assistant":
                turns[-1][1].format_error = True
            else:
                response = extra.get("model_response")
                turns.append(({"role": "assistant", "content": response if isinstance(response, str) else None},
                              Reply(format_error=True, n_actions=_int(extra.get("n_actions")))))
        turns.append((message, Reply(actions=_commands(extra.get("actions")))))
    return turns, exit_extra


def _commands(actions: Any) -> list[str] | None:
    if not isinstance(actions, list) or not actions:
        return None
    commands = [a.get("command") for a in actions if isinstance(a, dict)]
    return commands if all(isinstance(c, str) for c in commands) and len(commands) == len(actions) else None


def _response_text(output: list) -> str:
    parts = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])
    return "\n".join(parts)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
