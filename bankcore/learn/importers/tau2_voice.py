"""τ²-bench full-duplex voice runs: a ``SimulationRun`` that stores ``ticks`` instead of ``messages``.

In full-duplex mode (``tau2 run --audio-native``) agent and user speak at the same time, in ticks of a fixed duration
(``Tick``: ``tick_id, timestamp, agent_chunk, user_chunk, agent_tool_calls, agent_tool_results, user_tool_calls,
user_tool_results, user_transcript``). A chunk is the piece of an utterance spoken during one tick, so reading one
message per tick, as τ²-bench's own ``get_messages`` does, would make every 200 ms of speech an agent step. Here the
chunks are joined back into turns, then read as the text-mode conversation (``tau2.convert``):

- a speaker's words run on until the other speaker talks while they are silent: the turn has passed (talking over
  each other, both keep their turn; whoever falls silent first hands it over);
- an agent tool call closes the agent's turn: the words it spoke up to the call become the step's thought;
- tool results follow their call; the simulated user's own tool calls stay theirs (counted, not shown).

What a chunk said: its text ``content``; for an audio chunk (whose ``content`` is base64 audio) the
``audio_script_gold`` it was synthesised from; for the user, failing both, the tick's ``user_transcript``. Chunks
marked ``contains_speech: false`` (silence, noise) say nothing.
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError, Where
from .base import need


class _Turn:
    """One speaker's words since their turn began."""

    def __init__(self, role: str):
        self.role = role
        self.parts: list[str] = []
        self.started: int | None = None  # the tick the turn began at: who spoke first is said first
        self.last_ids: set[str] = set()

    def add(self, text: str, utterance_ids: set[str], tick: int) -> None:
        if self.parts and utterance_ids and self.last_ids and utterance_ids.isdisjoint(self.last_ids):
            self.parts.append(" ")  # a new utterance: chunks of one utterance join as they are
        self.parts.append(text)
        self.last_ids = utterance_ids or self.last_ids
        if self.started is None:
            self.started = tick

    def take(self) -> str | None:
        text = "".join(self.parts).strip()
        self.parts, self.started, self.last_ids = [], None, set()
        return text or None


def messages_from_ticks(ticks: list, where: Where) -> tuple[list[dict], dict[str, Any]]:
    """The conversation a voice run's ticks hold, as τ²-bench text-mode messages, and what the run was like
    (``meta.voice``: ticks, tick length, seconds both spoke at once)."""
    if not ticks:
        raise InputError(where, "no ticks")
    agent, user = _Turn("assistant"), _Turn("user")
    messages: list[dict] = []
    overlap = 0
    seconds = None

    def flush(turn: _Turn) -> None:
        text = turn.take()
        if text:
            messages.append({"role": turn.role, "content": text})

    def take_turn(speaker: _Turn, other: _Turn) -> None:
        """`speaker` talks while `other` is silent: the other's turn is over, and so are the speaker's own words
        from before the other began (cut off by them: said first, also when both began in one tick)."""
        if other.parts:
            if speaker.parts and speaker.started <= other.started:
                flush(speaker)
            flush(other)

    for i, tick in enumerate(ticks):
        at = where.at(f"[{i}]")
        tick_id = need(tick, "tick_id", at, int, optional=True)
        tick_id = i if tick_id is None else tick_id
        seconds = need(tick, "tick_duration_seconds", at, float, optional=True) or seconds
        said = _spoken(need(tick, "agent_chunk", at, dict, optional=True), at.at("agent_chunk"))
        heard = _spoken(need(tick, "user_chunk", at, dict, optional=True), at.at("user_chunk")) \
            or _transcribed(need(tick, "user_transcript", at, str, optional=True))
        overlap += bool(said and heard)
        if said:
            if not heard:
                take_turn(agent, user)
            agent.add(*said, tick_id)
        calls = _calls(tick, "agent_tool_calls", at)
        if calls:
            if not heard:
                flush(user)  # what the user said before the call was heard before it
            messages.append({"role": "assistant", "content": agent.take(), "tool_calls": calls})
        results = _results(tick, "agent_tool_results", at)
        if results:
            flush(agent)
            messages.extend(results)
        if heard:
            if not said:
                take_turn(user, agent)
            user.add(*heard, tick_id)
        user_calls = _calls(tick, "user_tool_calls", at)
        if user_calls:
            flush(user)
            messages.append({"role": "user", "content": None, "tool_calls": user_calls})
        messages.extend(_results(tick, "user_tool_results", at))
    for turn in sorted((agent, user), key=lambda t: (t.started is None, t.started)):
        flush(turn)
    if not messages:  # τ²-bench's timing-only test runs keep the ticks' speech flags and drop what was said
        raise InputError(where, f"{len(ticks)} ticks, none with words or tool calls (no chunk content, "
                                "audio_script_gold or user_transcript): nothing of the conversation to read")
    voice = {"ticks": len(ticks), "overlap_ticks": overlap}
    if seconds:
        voice["tick_seconds"] = seconds
    return messages, voice


def _spoken(chunk: dict | None, where: Where) -> tuple[str, set[str]] | None:
    """(text, utterance ids) of what a chunk said, or None when it said nothing."""
    if chunk is None or need(chunk, "contains_speech", where, bool, optional=True) is False:
        return None
    content = need(chunk, "content", where, str, optional=True)
    if need(chunk, "is_audio", where, bool, optional=True):
        content = need(chunk, "audio_script_gold", where, str, optional=True)  # content is the audio itself
    ids = need(chunk, "utterance_ids", where, list, optional=True) or []
    return (content, {str(u) for u in ids}) if _text(content) else None


def _transcribed(transcript: str | None) -> tuple[str, set[str]] | None:
    """(text, no utterance ids) of a tick that kept only the user's transcript, or None when it is empty."""
    return (transcript, set()) if _text(transcript) else None


def _text(value: str | None) -> str | None:
    return value if value and value.strip() else None


def _calls(tick: dict, key: str, where: Where) -> list[dict]:
    calls = need(tick, key, where, list, optional=True) or []
    for j, call in enumerate(calls):
        need(call, "name", where.at(f"{key}[{j}]"), str)
    return calls


def _results(tick: dict, key: str, where: Where) -> list[dict]:
    results = need(tick, key, where, list, optional=True) or []
    for j, result in enumerate(results):
        need(result, "content", where.at(f"{key}[{j}]"), str, optional=True)
    requestor = "user" if key.startswith("user") else "assistant"
    return [{**result, "role": "tool", "requestor": requestor} for result in results]
