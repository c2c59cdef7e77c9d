"""τ²-bench full-duplex voice runs (ticks instead of messages, `learn/importers/tau2_voice.py`): speech chunks are
joined back into turns, and a run read from ticks gives the steps the same conversation gives as messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bankcore import Bank
from bankcore.learn.importers import detect
from format_samples import DATA, TAU2_REAL, one_line_error, write_json

VOICE_RUN = DATA / "tau2" / "retail_voice_run"
TEXT_RUN = DATA / "tau2" / "airline_dir_run"


def trajectories(bank) -> dict[tuple, tuple]:
    return {(t.task_id, t.trial): (t, truth) for t, truth in bank.store.iter_trajectories(with_truth=True)}


def test_a_voice_run_reads_as_turns_not_ticks(tmp_path):
    assert detect(VOICE_RUN) == "tau2-bench"
    bank = Bank(tmp_path / "bank.duckdb")
    report = bank.import_path(VOICE_RUN)
    assert (report.read, report.bad) == (2, [])
    runs = trajectories(bank)
    exchange, exchange_truth = runs[("tau2-retail-3", 0)]
    assert exchange.meta["voice"] == {"ticks": 46, "overlap_ticks": 2, "tick_seconds": 0.2}
    assert exchange.meta["mode"] == "full_duplex" and exchange_truth.success is True
    # the user's first words came as audio: the script it was spoken from is the task
    assert exchange.query == "Hi, I want to exchange the hiking boots from my last order for a bigger size."
    assert exchange.meta["opening"] == "Thank you for calling. How can I help you today?"
    actions = [s.action for s in exchange.steps]
    assert len(actions) == 8  # 46 ticks of chunks, silence and calls
    assert actions[0] == "Sure. Can you tell me the email on your account?"
    assert exchange.steps[0].observation == "It's yara dot silva at example dot com."
    assert actions[1] == 'find_user_id_by_email({"email": "yara.silva@example.com"})'
    # the agent, cut off by the user, said its words first; the user's barge-in is what it heard
    assert actions[4] == "I can see the boots in"
    assert exchange.steps[4].observation == "Yes, size ten please, same colour."
    assert actions[5].startswith("To confirm: exchange the size nine hiking boots")
    assert exchange.final_answer.startswith("Done. The exchange is requested")
    cancel, cancel_truth = runs[("tau2-retail-5", 0)]
    assert cancel_truth.success is False and cancel.meta["user_tool_calls"] == 1
    assert cancel.steps[0].observation == "Error: order not found"  # a failed call reads as one
    assert "check_email_inbox" not in json.dumps([s.observation for s in cancel.steps])


def _as_ticks(messages: list[dict], words: int = 3, transcripts: bool = False) -> list[dict]:
    """A text-mode conversation spoken in ticks: each utterance in chunks of a few words, one chunk per tick (with
    `transcripts`, the user's words kept only as each tick's `user_transcript`, no chunk)."""
    ticks: list[dict] = []

    def tick(**fields) -> None:
        ticks.append({"tick_id": len(ticks), "timestamp": f"t{len(ticks)}", **fields})

    for n, message in enumerate(messages):
        role, content = message["role"], message.get("content")
        speaker = "agent" if role == "assistant" else "user"
        if role == "tool":
            side = "user" if message.get("requestor") == "user" else "agent"
            tick(**{f"{side}_tool_results": [message]})
            continue
        if role == "system":
            continue
        if content:
            pieces = content.split(" ")
            for i in range(0, len(pieces), words):
                text = " ".join(pieces[i:i + words]) + (" " if i + words < len(pieces) else "")
                if transcripts and speaker == "user":
                    tick(user_transcript=text)
                else:
                    tick(**{f"{speaker}_chunk": {"role": role, "content": text, "utterance_ids": [f"u{n}"]}})
        if message.get("tool_calls"):
            tick(**{f"{speaker}_tool_calls": message["tool_calls"]})
    return ticks


def _spoken(run: Path, to: Path, transcripts: bool = False) -> Path:
    """A copy of a dir-format run with every simulation's messages replaced by ticks."""
    shutil.copytree(run, to)
    for sim_path in (to / "simulations").iterdir():
        sim = json.loads(sim_path.read_text(encoding="utf-8"))
        sim["ticks"], sim["messages"] = _as_ticks(sim["messages"], transcripts=transcripts), None
        write_json(sim_path, sim)
    return to


def _steps(bank) -> dict:
    return {key: (t.query, t.final_answer, [(s.thought, s.action, s.observation) for s in t.steps],
                  None if truth is None else truth.reward)
            for key, (t, truth) in trajectories(bank).items()}


def test_a_conversation_spoken_in_ticks_gives_the_steps_its_messages_give(tmp_path):
    text, voice = Bank(tmp_path / "text.duckdb"), Bank(tmp_path / "voice.duckdb")
    text.import_path(TEXT_RUN)
    voice.import_path(_spoken(TEXT_RUN, tmp_path / "spoken"))
    assert _steps(voice) == _steps(text) and len(_steps(text)) == 4


def test_ticks_that_kept_only_the_users_transcript_give_the_same_steps(tmp_path):
    # a tick's user_transcript (no user_chunk) was unpacked letter by letter into the turn: a TypeError on any text
    text, voice = Bank(tmp_path / "text.duckdb"), Bank(tmp_path / "voice.duckdb")
    text.import_path(TEXT_RUN)
    voice.import_path(_spoken(TEXT_RUN, tmp_path / "spoken", transcripts=True))
    assert _steps(voice) == _steps(text) and len(_steps(text)) == 4


@pytest.mark.skipif(not TAU2_REAL.is_file(), reason=f"real τ²-bench file absent: {TAU2_REAL}")
def test_real_telecom_conversations_spoken_in_ticks_read_the_same(tmp_path):
    """The real τ²-bench telecom run (the simulated user acts on their phone) read from ticks."""
    results = json.loads(TAU2_REAL.read_text(encoding="utf-8"))
    sims = results.pop("simulations")[:40]
    run = tmp_path / "run"
    (run / "simulations").mkdir(parents=True)
    write_json(run / "results.json", {**results, "simulation_index": [
        {"id": s["id"], "task_id": s["task_id"], "trial": s.get("trial")} for s in sims]})
    for sim in sims:
        write_json(run / "simulations" / f"{sim['id']}.json", sim)
    text, voice = Bank(tmp_path / "text.duckdb"), Bank(tmp_path / "voice.duckdb")
    text.import_path(run)
    voice.import_path(_spoken(run, tmp_path / "spoken"))
    assert _steps(voice) == _steps(text) and len(_steps(text)) == len(sims)


def test_a_bad_tick_is_located_and_nothing_is_written(cli, db, tmp_path):
    run = Path(shutil.copytree(VOICE_RUN, tmp_path / "run"))
    sim_path = sorted((run / "simulations").iterdir())[0]
    sim = json.loads(sim_path.read_text())
    k = next(i for i, t in enumerate(sim["ticks"]) if t["agent_tool_calls"])
    del sim["ticks"][k]["agent_tool_calls"][0]["name"]
    write_json(sim_path, sim)
    one_line_error(cli("import", run, "--db", db), f"{sim_path}: field 'ticks[{k}].agent_tool_calls[0].name'",
                   "missing required field")
    sim["ticks"], sim["messages"] = None, None
    write_json(sim_path, sim)
    one_line_error(cli("import", run, "--db", db), f"{sim_path}: field 'messages'", "no messages and no ticks")
    assert Bank(db).store.count("trajectories") == 0


def test_ticks_that_kept_only_the_timing_are_refused_saying_so(cli, db, tmp_path):
    """τ²-bench's own timing fixtures keep each tick's speech flags and drop the words: nothing to learn from."""
    run = Path(shutil.copytree(VOICE_RUN, tmp_path / "run"))
    sim_path = sorted((run / "simulations").iterdir())[0]
    sim = json.loads(sim_path.read_text())
    sim["ticks"] = [{"tick_id": t["tick_id"], "timestamp": t["timestamp"],
                     "agent_chunk": {"role": "assistant", "contains_speech": bool(t["agent_chunk"])},
                     "user_chunk": {"role": "user", "contains_speech": bool(t["user_chunk"])}} for t in sim["ticks"]]
    write_json(sim_path, sim)
    one_line_error(cli("import", run, "--db", db), f"{sim_path}: field 'ticks'", "46 ticks, none with words")
    assert Bank(db).store.count("trajectories") == 0
