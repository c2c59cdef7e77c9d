"""A ReAct agent that acts through `LLMClient`: each turn the model writes `Thought: …` then `Action: …`, the
environment answers with an observation, until the episode ends.

Memory reaches the agent exactly as in the paper (spec §4): the retrieved items' block is appended to the system
prompt after a blank line, and only when there is one. Messages are built by pure functions and replies parsed by
a tolerant pure parser; `ReActAgent` is the loop around them (the only I/O: one LLM call per step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ..learn.judge import strip_thinking
from ..llm.client import LLMClient
from ..models import Step, Trajectory, Truth
from .env import Environment, Task

SOURCE_FORMAT = "live"
PURPOSE = "agent"
TEMPERATURE = 0.7  # the paper's agent temperature (App. A.2); sampling is what makes k parallel attempts differ
MAX_TOKENS = 1024
MAX_TURNS = 60  # a guard for environments that never end an episode; the shop ends one at 15 steps
OBSERVATION_CHARS = 6000
# A reply ends where the model starts imagining the environment's answer: a base model (no chat template, no end of
# turn) otherwise writes observations and further steps up to max_tokens — minutes per step on a CPU — and
# parse_move keeps only the first action anyway. Not only after a newline: Gemma 3 270M wrote "[INST]Observation:",
# imitating the chat markup it was served in.
STOP = ["Observation:"]

BASE_SYSTEM = """\
You are an autonomous agent completing a task for a user by acting in an environment.

{instructions}

Work step by step. Reply to every observation in exactly this format, with one action per reply:
Thought: <your reasoning about what to do next>
Action: <one action>"""


# ---------------------------------------------------------------------- messages (pure)
def base_system(instructions: str) -> str:
    return BASE_SYSTEM.format(instructions=instructions.strip())


def system_prompt(instructions: str, memory: str = "") -> str:
    """The base prompt, then (only when there is memory) a blank line and the memory block: the paper's injection."""
    base = base_system(instructions)
    return f"{base}\n\n{memory}" if memory and memory.strip() else base


def first_message(query: str, observation: str) -> str:
    return f"Task: {query}\n\nObservation: {_clip(observation)}"


def observation_message(observation: str) -> str:
    return f"Observation: {_clip(observation)}"


def fit_conversation(messages: list[dict[str, str]], scale: float) -> list[dict[str, str]]:
    """The conversation cut to about `scale` of its size, for a context window it has outgrown: the system prompt
    and the task's first message stay, then as many of the latest messages as fit, starting at an agent reply;
    the first message says how many steps were left out. A long sequential-MaTTS episode needs this."""
    if scale >= 1.0 or len(messages) <= 4:
        return messages
    head, turns = messages[:2], messages[2:]
    size = sum(len(m.get("content") or "") for m in messages)
    budget = scale * size - sum(len(m.get("content") or "") for m in head)
    start, used = len(turns), 0
    while start > 0 and (start == len(turns) or used + len(turns[start - 1].get("content") or "") <= budget):
        start -= 1
        used += len(turns[start].get("content") or "")
    while start < len(turns) - 1 and turns[start]["role"] != "assistant":
        start += 1  # begin at a reply, so user and assistant still alternate after the first message
    if start == 0:
        return messages
    left_out = sum(1 for m in turns[:start] if m["role"] == "assistant")
    note = f"[{left_out} earlier step(s) left out here to fit the model's context window]"
    first = dict(head[1], content=f"{head[1]['content']}\n\n{note}")
    kept = turns[start:]
    if kept[0]["role"] != "assistant":  # only the latest observation fits: it joins the first message
        first["content"] += f"\n\n{kept[0]['content']}"
        kept = kept[1:]
    return [head[0], first, *kept]


def _clip(text: str) -> str:
    text = text or ""
    return text if len(text) <= OBSERVATION_CHARS else text[:OBSERVATION_CHARS] + " […cut]"


# ---------------------------------------------------------------------- replies (pure)
@dataclass(frozen=True)
class Move:
    thought: str
    action: str


_ACTION_LINE = re.compile(r"^[ \t>*_#-]*action[ \t]*(?:\d+[ \t]*)?[*_]*[ \t]*[:：][*_]*[ \t]*(.*)$", re.I | re.M)
_THOUGHT_LABEL = re.compile(r"^[\s>*_#-]*thought\s*(?:\d+\s*)?[*_]*\s*[:：][*_]*\s*", re.I | re.M)
_BARE_ACTION = re.compile(r"^\s*`*([a-z_]+\s*\[.*\])`*\s*$", re.I | re.M)


def parse_move(text: str) -> Move:
    """Thought and action from a reply. Tolerant: `<think>` blocks, Markdown emphasis, numbered labels
    ("Action 3:"), backticks or a code fence around the action, an action on the line after its label, or a bare
    `verb[...]` line. A reply that runs on with imagined observations and further actions is cut at its first
    action. A reply with no action at all yields its last line as the action, so the environment's own
    error ("could not parse") reaches the agent and the trajectory records the mistake; nothing is retried."""
    body = strip_thinking(text or "").strip()
    first = _ACTION_LINE.search(body)  # the first action: what a model writes after it imagines an observation
    if first:
        action = first.group(1) if first.group(1).strip(" `") else _next_line(body, first.end())
        thought = body[:first.start()]
    else:
        bare = list(_BARE_ACTION.finditer(body))
        if bare:
            action, thought = bare[-1].group(1), body[:bare[-1].start()]
        else:
            lines = [line for line in body.splitlines() if line.strip()]
            action, thought = (lines[-1] if lines else ""), "\n".join(lines[:-1])
    thought = _THOUGHT_LABEL.sub("", thought, count=1)
    return Move(" ".join(thought.split()), _clean_action(action))


def _next_line(body: str, start: int) -> str:
    rest = [line for line in body[start:].splitlines() if line.strip() and not line.strip().startswith("```")]
    return rest[0] if rest else ""


def _clean_action(action: str) -> str:
    action = action.strip().strip("`").strip()
    return action.strip("*_").strip()


# ---------------------------------------------------------------------- the loop
@dataclass
class Attempt:
    """One attempt at a task: the conversation, the steps, the outcome and what the LLM calls cost."""

    task: Task
    memory_item_ids: list[int]
    trial: int
    started_at: datetime
    messages: list[dict[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    call_ids: list[int] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    final_answer: str | None = None
    final_observation: str = ""
    stop_reason: str = ""
    passes: list[dict] = field(default_factory=list)  # per pass: answer and success (truth: never shown to judges)

    def trajectory(self, instructions: str, meta: dict | None = None) -> Trajectory:
        """The attempt as a trajectory. Its `system` meta is the base prompt, without the memory block: the judge
        reads it as the rules the agent had, and must not be swayed by the lessons it was shown."""
        return Trajectory(
            task_id=self.task.task_id, query=self.task.query, steps=list(self.steps), source_format=SOURCE_FORMAT,
            final_answer=self.final_answer, final_state=self.final_observation, domain=self.task.domain,
            trial=self.trial, started_at=self.started_at,
            meta={"system": base_system(instructions), "stop_reason": self.stop_reason,
                  "memory_items": list(self.memory_item_ids), "passes": len(self.passes) or 1, **(meta or {})})

    def truth(self, success: bool | None) -> Truth | None:
        if success is None:
            return None
        return Truth(success=success, reward=1.0 if success else 0.0, source="environment check",
                     details={"passes": self.passes} if len(self.passes) > 1 else {})


class ReActAgent:
    """Runs attempts of one environment with one model. `attempt` plays an episode; `refine` reopens it for one
    sequential-MaTTS pass (the environment must support `reopen`)."""

    def __init__(self, client: LLMClient, env: Environment, *, temperature: float = TEMPERATURE,
                 max_tokens: int = MAX_TOKENS, clock=datetime.now, seed: int | None = None):
        self.client, self.env = client, env
        self.temperature, self.max_tokens = temperature, max_tokens
        self.clock = clock
        self.seed = seed  # a run's sampling seed; each attempt adds its trial, so k parallel attempts still differ

    def attempt(self, task: Task, memory: str = "", memory_item_ids: list[int] | None = None,
                trial: int = 0) -> Attempt:
        system = system_prompt(self.env.instructions, memory)
        attempt = Attempt(task, list(memory_item_ids or []), trial, self.clock())
        observation = self.env.reset(task)
        attempt.messages = [{"role": "system", "content": system},
                            {"role": "user", "content": first_message(task.query, observation)}]
        self._play(attempt, pass_no=1)
        return attempt

    def refine(self, attempt: Attempt, instruction: str) -> None:
        """One more pass: the check instruction after the latest observation, then act until the agent answers
        again (confirming or correcting) or the pass's step budget ends."""
        reopen = getattr(self.env, "reopen", None)
        if reopen is None:
            raise NotImplementedError(f"environment {self.env.name!r} cannot reopen an episode for refinement")
        observation = reopen()
        attempt.messages.append({"role": "user", "content": f"{observation_message(observation)}\n\n{instruction}"})
        self._play(attempt, pass_no=len(attempt.passes) + 1)

    def _play(self, attempt: Attempt, pass_no: int) -> None:
        for _ in range(MAX_TURNS):
            conversation = attempt.messages
            result = self.client.complete(PURPOSE, conversation, temperature=self.temperature,
                                          max_tokens=self.max_tokens, stop=STOP,
                                          fit=lambda scale: fit_conversation(conversation, scale),
                                          seed=None if self.seed is None else self.seed + attempt.trial)
            attempt.call_ids.append(result.call_id)
            attempt.tokens_in += result.tokens_in or 0
            attempt.tokens_out += result.tokens_out or 0
            move = parse_move(result.text)
            answered_before = self.env.final_answer()
            outcome = self.env.step(move.action)
            answer = self.env.final_answer()
            finished = outcome.done and answer is not None and (answer != answered_before or
                                                                 _is_answer(move.action))
            meta = {"pass": pass_no, "llm_call_id": result.call_id}
            if finished:
                meta.update(kind="finish", answer=answer)
            attempt.steps.append(Step(len(attempt.steps), move.thought or None, move.action or None,
                                      outcome.observation, meta))
            attempt.messages += [{"role": "assistant", "content": result.text},
                                 {"role": "user", "content": observation_message(outcome.observation)}]
            attempt.final_observation = outcome.observation
            if outcome.done:
                attempt.stop_reason = "answered" if finished else "step_limit"
                break
        else:
            attempt.stop_reason = "max_turns"
        attempt.final_answer = self.env.final_answer()
        attempt.passes.append({"pass": pass_no, "answer": attempt.final_answer, "success": self.env.success()})


def _is_answer(action: str) -> bool:
    return bool(re.match(r"\s*(answer|finish|submit)\s*\[", action or "", re.I))
