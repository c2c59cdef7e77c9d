"""τ²-bench results: one ``Results`` JSON object, ``{timestamp, info, tasks, simulations}``.

Each ``SimulationRun`` in ``simulations`` (``id, task_id, trial, start_time, termination_reason, reward_info,
messages``) is one trajectory, read the way the agent saw it: one step per assistant message (its tool calls are
the action, its text the thought; a plain reply is the action), and the observation is what came back to the agent
before its next turn — results of its own tool calls and the user's words. In τ²-bench the simulated user acts too
(telecom: on their phone); those tool calls and results never reached the agent, so they are counted
(``meta.user_tool_calls``), not shown as observations. The orchestrator's fixed greeting before the user's first
message is not an agent decision: it is kept as ``meta.opening``, not as a step. The query is the user's first
message (in solo mode, with no user, the task's ticket).

Ground truth: ``reward_info`` (the reward and its checks) and the task's ``evaluation_criteria`` and
``user_scenario`` (the simulated user's private instructions) go to the truth store, never to the trajectory.
The file is streamed: only one simulation is held at a time (``info`` and ``tasks`` precede them in the files
τ²-bench writes; tasks listed after the simulations are not used).

τ²-bench saves a run in one of two layouts (``Results.save``, ``format="json"`` or ``"dir"``): the single file
above, or a folder with ``results.json`` (``info``, ``tasks`` and a ``simulation_index``, no simulations) and one
``simulations/<simulation id>.json`` per ``SimulationRun`` (voice runs are saved so). Either the folder or its
``results.json`` reads as the whole run. A full-duplex voice simulation stores ``ticks`` instead of ``messages``:
``tau2_voice`` joins their chunks back into turns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Where
from ...models import Step, Trajectory, Truth
from .base import (BadRecord, ImportOptions, Record, RunHeader, ensure_one_record_size, ensure_text, loads, need,
                   os_error, read_text,
                   type_name)
from .json_stream import Element, Member, iter_members, peek_members
from .native import parse_time
from .tau2_voice import messages_from_ticks

NAME = "tau2-bench"
ROLES = ("system", "user", "assistant", "tool")
TRUTH_SOURCE = "tau2-bench reward"
RESULTS_FILE = "results.json"
SIMULATIONS_DIR = "simulations"


def sniff(path: Path, first: Any) -> bool:
    if path.is_dir():
        return is_run_folder(path)
    if isinstance(first, dict):
        return _looks_like(first)
    if first is None and path.is_file() and path.suffix == ".json":
        return _looks_like(peek_members(path, keys=2))
    return False


def _looks_like(obj: dict) -> bool:
    info = obj.get("info")
    if isinstance(info, dict) and {"agent_info", "user_info"} <= set(info):
        return True
    return isinstance(obj.get("simulations"), list) and isinstance(obj.get("tasks"), list)


def is_run_folder(path: Path) -> bool:
    """τ²-bench's "dir" results format: the run's metadata in ``results.json``, one file per simulation in
    ``simulations/`` (what it writes for voice runs, and for any run saved with ``results_format="dir"``)."""
    return path.is_dir() and (path / RESULTS_FILE).is_file() and (path / SIMULATIONS_DIR).is_dir()


def run_folder_of(path: Path) -> Path | None:
    """The dir-format run folder `path` is, or whose ``results.json`` it is (τ²-bench tells the formats apart the
    same way: a ``simulations/`` folder beside the results file); None for a monolithic results file."""
    if is_run_folder(path):
        return path
    if path.is_file() and (path.parent / SIMULATIONS_DIR).is_dir():
        return path.parent
    return None


def read(path: Path, options: ImportOptions) -> Iterator[Record | RunHeader | BadRecord]:
    folder = run_folder_of(path)
    if folder is not None:
        yield from read_folder(folder, path if path.is_file() else folder / RESULTS_FILE, options)
        return
    domain = options.domain
    tasks: dict[str, dict] = {}
    header_sent = False
    for part in iter_members(path, options.max_record_bytes, streamed={"simulations"}, prune=drop_raw_responses):
        if isinstance(part, BadRecord):
            yield part
            continue
        if isinstance(part, Member):
            if part.key == "info":
                header = _info_header(part)
                domain = domain or header.env or "tau2-bench"
                yield header
                header_sent = True
            elif part.key == "tasks":
                tasks = _tasks(part.value, part.where)
            elif part.key == "simulations" and part.value is not None:
                raise InputError(part.where, f"expected a list of simulations, got {type_name(part.value)}")
            continue
        assert isinstance(part, Element)
        if not header_sent:
            raise InputError(part.where, "simulations come before the run's 'info' (not a τ²-bench results file?)")
        try:
            yield parse_simulation(part.value, part.where, domain or "tau2-bench", tasks)
        except InputError as exc:
            yield BadRecord(exc)


def read_folder(folder: Path, meta_path: Path, options: ImportOptions) -> Iterator[Record | RunHeader | BadRecord]:
    """A dir-format run: ``info`` and ``tasks`` from its results file, then each ``simulations/*.json`` in name
    order (τ²-bench's own order), one file held at a time. A simulation the file's ``simulation_index`` lists
    whose file is missing is a bad record; a copy of the simulations inside the results file is not read (the
    files are the run, as for τ²-bench)."""
    domain, tasks, index, header = options.domain, {}, [], None
    for part in iter_members(meta_path, options.max_record_bytes, streamed={"simulations"}):
        if isinstance(part, BadRecord):
            yield part
        elif isinstance(part, Member):
            if part.key == "info":
                header = _info_header(part)
                yield header
            elif part.key == "tasks":
                tasks = _tasks(part.value, part.where)
            elif part.key == "simulation_index":
                index = _index_ids(part.value, part.where)
    if header is None:
        raise InputError(Where(str(meta_path)), "no 'info' member (not a τ²-bench results.json?)")
    domain = domain or header.env or "tau2-bench"
    sims_dir = folder / SIMULATIONS_DIR
    try:
        files = sorted(p for p in sims_dir.iterdir() if p.suffix == ".json" and p.is_file())
    except OSError as exc:
        raise os_error(sims_dir, exc) from None
    for file in files:
        where = Where(str(file))
        try:
            ensure_text(file)
            ensure_one_record_size(file, where, options.max_record_bytes)
            sim = drop_raw_responses(loads(read_text(file), where))
            yield parse_simulation(sim, where, domain, tasks)
        except InputError as exc:
            yield BadRecord(exc)
    on_disk = {file.stem for file in files}
    for at, sim_id in index:
        if sim_id not in on_disk:
            yield BadRecord(InputError(at, f"simulation {sim_id!r} is listed but {SIMULATIONS_DIR}/{sim_id}.json "
                                           "is missing"))


def _index_ids(value: Any, where: Where) -> list[tuple[Where, str]]:
    """(where, simulation id) for each entry of a dir-format ``simulation_index``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(where, f"expected a list, got {type_name(value)}")
    return [(where.at(f"[{i}]"), need(entry, "id", where.at(f"[{i}]"), str)) for i, entry in enumerate(value)]


def _info_header(part: Member) -> RunHeader:
    if not isinstance(part.value, dict):
        raise InputError(part.where, f"expected an object, got {type_name(part.value)}")
    return run_header(part.value)


def drop_raw_responses(sim: Any) -> Any:
    """Each message's ``raw_data`` (the provider's raw response, a second copy of the message) is never read: drop
    it before the simulation is checked, which otherwise costs as much as parsing it."""
    messages = sim.get("messages") if isinstance(sim, dict) else None
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                message.pop("raw_data", None)
    return sim


def _domain(info: dict) -> str | None:
    env = info.get("environment_info")
    name = env.get("domain_name") if isinstance(env, dict) else None
    return name if isinstance(name, str) and name else None


def run_header(info: dict) -> RunHeader:
    """What the run was: the agent's model, the domain, the user simulator, the seed (for repeating it)."""
    agent = info.get("agent_info") if isinstance(info.get("agent_info"), dict) else {}
    user = info.get("user_info") if isinstance(info.get("user_info"), dict) else {}
    env = info.get("environment_info") if isinstance(info.get("environment_info"), dict) else {}
    settings = {
        "agent_implementation": agent.get("implementation"), "agent_llm_args": agent.get("llm_args"),
        "user_implementation": user.get("implementation"), "user_llm": user.get("llm"),
        "user_llm_args": user.get("llm_args"), "num_trials": info.get("num_trials"),
        "max_steps": info.get("max_steps"), "max_errors": info.get("max_errors"), "seed": info.get("seed"),
        "git_commit": info.get("git_commit"), "policy": env.get("policy"),
    }
    llm = agent.get("llm")
    return RunHeader(agent_model=llm if isinstance(llm, str) else None, env=_domain(info),
                     meta={"tau2": {k: v for k, v in settings.items() if v is not None}})


def _tasks(value: Any, where: Where) -> dict[str, dict]:
    """Task id → what of the task is ground truth (its evaluation criteria, the simulated user's instructions)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InputError(where, f"expected a list of tasks, got {type_name(value)}")
    out: dict[str, dict] = {}
    for i, task in enumerate(value):
        at = where.at(f"[{i}]")
        task_id = need(task, "id", at, (str, int))
        out[str(task_id)] = {k: task[k] for k in ("evaluation_criteria", "user_scenario", "ticket", "description")
                             if task.get(k) is not None}
    return out


def parse_simulation(sim: Any, where: Where, domain: str, tasks: dict[str, dict]) -> Record:
    task_id = str(need(sim, "task_id", where, (str, int)))
    messages = need(sim, "messages", where, list, optional=True)
    voice = None
    if messages is None:  # a full-duplex voice run: its ticks hold the conversation
        ticks = need(sim, "ticks", where, list, optional=True)
        if ticks is None:
            raise InputError(where.at("messages"), "no messages and no ticks")
        messages, voice = messages_from_ticks(ticks, where.at("ticks"))
    task = tasks.get(task_id, {})
    convo = convert(messages, where.at("ticks" if voice else "messages"), fallback_query=_ticket(task))
    reward_info = need(sim, "reward_info", where, dict, optional=True)
    truth = None
    if reward_info is not None:
        reward = need(reward_info, "reward", where.at("reward_info"), float)
        truth = Truth(success=reward >= 1.0, reward=float(reward), source=TRUTH_SOURCE,
                      details={"reward_info": reward_info, "task": task})
    meta: dict[str, Any] = {"simulation_id": need(sim, "id", where, str, optional=True),
                            "termination_reason": need(sim, "termination_reason", where, str, optional=True),
                            "seed": need(sim, "seed", where, (int, float), optional=True),
                            "agent_cost": need(sim, "agent_cost", where, float, optional=True),
                            "user_cost": need(sim, "user_cost", where, float, optional=True),
                            "duration": need(sim, "duration", where, float, optional=True),
                            "end_time": need(sim, "end_time", where, str, optional=True),
                            "mode": need(sim, "mode", where, str, optional=True), "voice": voice, **convo.meta}
    return Record(Trajectory(
        task_id=f"tau2-{domain}-{task_id}", query=convo.query, steps=convo.steps, source_format=NAME,
        final_answer=convo.final_answer, final_state=convo.final_state, domain=domain,
        trial=need(sim, "trial", where, int, optional=True),
        started_at=parse_time(need(sim, "start_time", where, str, optional=True), where.at("start_time")),
        meta={k: v for k, v in meta.items() if v is not None},
    ), truth)


def _ticket(task: dict) -> str | None:
    """In τ²-bench's solo mode there is no user: the agent works from the task's ticket."""
    ticket = task.get("ticket")
    return ticket if isinstance(ticket, str) and ticket.strip() else None


class _Conversation:
    def __init__(self) -> None:
        self.query: str | None = None
        self.steps: list[Step] = []
        self.pending: list[str] = []
        self.final_answer: str | None = None
        self.final_state: str | None = None
        self.meta: dict[str, Any] = {}


def convert(messages: list, where: Where, fallback_query: str | None = None) -> _Conversation:
    """τ²-bench messages → steps, as the agent saw them (see the module docstring)."""
    c = _Conversation()
    opening: list[str] = []
    system: list[str] = []
    user_actions = 0

    def close_step() -> None:
        if c.steps and c.pending:
            c.steps[-1].observation = "\n".join(c.pending)
        c.pending.clear()

    for i, message in enumerate(messages):
        at = where.at(f"[{i}]")
        role = need(message, "role", at, str)
        if role not in ROLES:
            raise InputError(at.at("role"), f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        content = need(message, "content", at, str, optional=True)
        calls = need(message, "tool_calls", at, list, optional=True) or []
        if role == "system":
            if content:
                system.append(content)
        elif role == "user":
            if calls:  # the simulated user acting on their own device: the agent never sees it
                user_actions += len(calls)
                _render_calls(calls, at.at("tool_calls"))  # still validated
            if content:
                if c.steps:  # what the agent heard after acting; the user's first words are also the task
                    c.pending.append(content)
                if c.query is None:
                    c.query = content
        elif role == "tool":
            requestor = need(message, "requestor", at, str, optional=True) or "assistant"
            if requestor != "assistant":
                continue
            if not c.steps:
                raise InputError(at, "tool result before any assistant turn")
            text = content or ""
            if need(message, "error", at, bool, optional=True) and not text.lower().startswith("error"):
                text = f"error: {text}"
            c.pending.append(text)
            c.final_state = text
        else:  # assistant
            if c.query is None and not c.steps and not calls:
                opening.append(content or "")  # the fixed greeting, sent before the user says anything
                continue
            close_step()
            if calls:
                c.steps.append(Step(index=len(c.steps), thought=content or None,
                                    action=_render_calls(calls, at.at("tool_calls")),
                                    meta={"kind": "tool", "tools": [call.get("name") for call in calls]}))
            else:
                c.steps.append(Step(index=len(c.steps), action=content or "", meta={"kind": "reply"}))
                c.final_answer = content
    close_step()
    if c.query is None:
        if fallback_query is None:
            raise InputError(where, "no user message to take the task query from")
        c.query = fallback_query
    if opening:
        c.meta["opening"] = "\n".join(opening)
    if system:
        c.meta["system"] = "\n\n".join(system)
    if user_actions:
        c.meta["user_tool_calls"] = user_actions
    return c


def _render_calls(calls: list, where: Where) -> str:
    rendered = []
    for j, call in enumerate(calls):
        at = where.at(f"[{j}]")
        name = need(call, "name", at, str)
        arguments = need(call, "arguments", at, (dict, str), optional=True)
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        rendered.append(f"{name}({arguments or ''})")
    return "\n".join(rendered)
