"""Replies a real small model gave (SmolLM2-135M-Instruct, Q4_1, behind llama-cpp-python's server, recorded by
`bench/real_model.py`), replayed through the parsers and through our OpenAI-compatible test server. Each line of the
fixture says what bankcore must make of the reply and why it is there: a defect the real model exposed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bankcore.learn.extract import LLMExtractor, lessons_from_reply
from bankcore.guard.second_opinion import parse_second_opinion
from bankcore.learn.judge import LLMJudge, parse_verdict
from bankcore.llm.client import LLMClient, LLMError, UnusableReply
from bankcore.models import Step, Trajectory, Verdict
from bankcore.store import Store

FIXTURE = Path(__file__).parent / "data" / "real_model" / "smollm2-135m-replies.jsonl"
RECORDED = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
TRAJ = Trajectory(task_id="t1", query="Book the fastest return trip from Denver to Houston.", traj_id="tid",
                  source_format="native",
                  domain="airline", steps=[Step(index=1, thought="look it up", action="search_flights(DEN, IAH)",
                                                observation="HAT001 departs 07:00")])


def recorded(purpose: str) -> list[dict]:
    return [r for r in RECORDED if r["purpose"] == purpose]


@pytest.mark.parametrize("reply", recorded("judge"), ids=lambda r: r["why"][:40])
def test_each_recorded_judge_reply_reads_as_the_label_it_states(reply):
    assert parse_verdict(reply["reply"])[0] == reply["expect"]


@pytest.mark.parametrize("reply", recorded("extract-success"), ids=lambda r: r["why"][:40])
def test_each_recorded_junk_extraction_is_unusable(reply):
    assert reply["expect"] == "unusable"
    with pytest.raises(UnusableReply):
        lessons_from_reply(reply["reply"], TRAJ)


def test_the_recorded_second_opinion_is_a_flag():
    [reply] = recorded("guard_second_opinion")
    assert parse_second_opinion(reply["reply"]) == reply["expect"]


def client(fake_llm, tmp_path) -> tuple[LLMClient, Store]:
    store = Store(tmp_path / "bank.duckdb")
    return LLMClient(fake_llm.settings(tmp_path / "bank.duckdb"), store, sleep=lambda s: None), store


def test_a_recorded_verdict_with_raw_newlines_is_judged_over_http(fake_llm, tmp_path):
    """The reply SmolLM2 gave under the judge's schema: JSON whose string holds raw newlines."""
    reply = next(r for r in recorded("judge") if "raw newlines inside" in r["why"])
    fake_llm.responder = lambda request: reply["reply"]
    llm, store = client(fake_llm, tmp_path)
    verdict = LLMJudge(llm).judge(TRAJ)
    assert verdict.label == reply["expect"] and len(fake_llm.requests) == 1
    assert [c.error for c in store.iter_llm_calls()] == [None]


def test_recorded_junk_lessons_are_never_stored_as_a_success_over_http(fake_llm, tmp_path):
    """Every extraction SmolLM2 gave was junk; the model is given up on, and no reply is cacheable."""
    junk = [r["reply"] for r in recorded("extract-success")]
    answered = iter(junk * 3)
    fake_llm.responder = lambda request: next(answered)
    llm, store = client(fake_llm, tmp_path)
    verdict = Verdict(traj_id="tid", label="success", judge_id="llm:smollm2", rationale="It was booked.")
    with pytest.raises(LLMError):
        LLMExtractor(llm).extract(TRAJ, verdict)
    calls = list(store.iter_llm_calls())
    assert calls and all(c.error is not None for c in calls)


# ---------------------------------------------------------------------- a base model (Gemma 3 270M, no chat template)
GEMMA_FIXTURE = Path(__file__).parent / "data" / "real_model" / "gemma3-270m-replies.jsonl"
GEMMA = [json.loads(line) for line in GEMMA_FIXTURE.read_text().splitlines()] if GEMMA_FIXTURE.exists() else []


def gemma(purpose: str) -> list[dict]:
    return [r for r in GEMMA if r["purpose"] == purpose]


def test_a_base_model_gets_the_system_text_first_and_the_reply_format_last(fake_llm, tmp_path):
    """Without a chat template the instructions sit before a long history, and a small model answers the end of
    what it reads: folded prompts say the reply format again at the end of the last user turn."""
    from bankcore.learn.judge import system_prompt
    fake_llm.responder = lambda request: 'Thoughts: done\nStatus: "success"'
    store = Store(tmp_path / "bank.duckdb")
    llm = LLMClient(fake_llm.settings(tmp_path / "bank.duckdb", llm_fold_system=True), store, sleep=lambda s: None)
    LLMJudge(llm).judge(TRAJ)
    [sent] = fake_llm.requests
    [turn] = sent["messages"]
    assert turn["role"] == "user" and turn["content"].startswith(system_prompt())
    assert turn["content"].endswith('Answer in exactly this format:\nThoughts: <your brief reasoning>\n'
                                    'Status: "success" or "failure"')
    assert "HAT001 departs 07:00" in turn["content"]


@pytest.mark.parametrize("prompt", ["judge", "extract", "select", "contrast", "merge", "agent", "second_opinion"])
def test_every_role_states_a_reply_format_that_can_be_repeated(prompt):
    from bankcore.agent.react import system_prompt as agent_prompt
    from bankcore.curate.llm_merge import SYSTEM as MERGE
    from bankcore.guard.second_opinion import SECOND_OPINION_SYSTEM
    from bankcore.learn.extract import build_messages as extract_messages
    from bankcore.learn.judge import system_prompt as judge_prompt
    from bankcore.llm.client import reply_format
    from bankcore.matts.selection import CONTRAST_SYSTEM, build_selector_messages
    system = {"judge": judge_prompt(), "extract": extract_messages(TRAJ, "success")[0]["content"],
              "select": build_selector_messages("q", [TRAJ, TRAJ])[0]["content"], "contrast": CONTRAST_SYSTEM,
              "merge": MERGE, "agent": agent_prompt("search[terms]", "Memory: check the dates"),
              "second_opinion": SECOND_OPINION_SYSTEM}[prompt]
    stated = reply_format(system)
    assert stated and stated in system and ("JSON" in stated or "format" in stated)
    assert "Memory" not in stated  # the agent's memory block follows its format paragraph and is not part of it


def test_agent_replies_stop_before_an_imagined_observation(fake_llm, tmp_path):
    """A base model never ends its turn: it writes the environment's answer and the next steps up to max_tokens.
    The agent asks the server to stop at "Observation:", and a server that refuses `stop` is asked without it."""
    from bankcore.agent.react import ReActAgent
    from bankcore.agent.shop import ShopEnvironment
    ramble = "Thought: look at my orders\nAction: orders[]\nObservation: you have 3 orders\nThought: done\n" \
             "Action: answer[3]"
    fake_llm.responder = lambda request: ramble
    fake_llm.rejects.add("stop")
    store = Store(tmp_path / "bank.duckdb")
    env = ShopEnvironment()
    task = next(t for t in env.tasks() if t.kind == "count_orders")
    env.max_steps = 1
    llm = LLMClient(fake_llm.settings(tmp_path / "bank.duckdb"), store, sleep=lambda s: None)
    attempt = ReActAgent(llm, env).attempt(task)
    refused, asked = fake_llm.requests[:2]
    assert refused["stop"] == ["Observation:"] and "stop" not in asked
    assert [s.action for s in attempt.steps] == ["orders[]"]  # the server ignored the stop: the parser cuts


@pytest.mark.parametrize("reply", gemma("judge"), ids=lambda r: r["why"][:40])
def test_each_recorded_gemma_verdict_reads_as_its_label(reply):
    assert parse_verdict(reply["reply"])[0] == reply["expect"]


@pytest.mark.parametrize("reply", gemma("agent"), ids=lambda r: r["why"][:40])
def test_a_recorded_gemma_move_reaches_the_environment_as_a_mistake_it_names(reply):
    """The echo is not an action: the environment says so, and the trajectory records the mistake (no retry)."""
    from bankcore.agent.react import parse_move
    from bankcore.agent.shop import ShopEnvironment
    move = parse_move(reply["reply"])
    assert move.action == reply["expect"]
    env = ShopEnvironment()
    env.reset(next(t for t in env.tasks() if t.kind == "count_orders"))
    outcome = env.step(move.action)
    assert "could not parse action" in outcome.observation and not outcome.done


def test_a_retry_never_repeats_its_predecessor_request(fake_llm, tmp_path):
    """Seen with SmolLM2: different unusable replies, then the same one twice; the repair built from the repeated
    reply at the top temperature would have been the previous request byte for byte. The client stops instead."""
    replies = iter(["no", "still no", "nothing here", "nothing here", "nothing here", "nothing here"])
    fake_llm.responder = lambda request: next(replies)
    llm, store = client(fake_llm, tmp_path)
    with pytest.raises(LLMError, match="same unusable reply twice"):
        llm.complete("judge", [{"role": "user", "content": "Judge it."}], validate=parse_verdict)
    sent = [(json.dumps(r["messages"], sort_keys=True), r.get("temperature")) for r in fake_llm.requests]
    assert len(sent) == 4 and all(a != b for a, b in zip(sent, sent[1:]))
    assert all(c.error for c in store.iter_llm_calls())


@pytest.mark.parametrize("reply", gemma("extract-success"), ids=lambda r: r["why"][:40])
def test_a_recorded_gemma_extraction_is_unusable(reply):
    assert reply["expect"] == "unusable"
    with pytest.raises(UnusableReply):
        lessons_from_reply(reply["reply"], TRAJ)


def test_the_copied_reply_format_is_given_up_on_and_never_cached(fake_llm, tmp_path):
    """Gemma answered the extractor with the format's own example every time: three identical unusable replies
    end the call, and none of them is stored as a success."""
    [copied] = gemma("extract-success")
    fake_llm.responder = lambda request: copied["reply"]
    llm, store = client(fake_llm, tmp_path)
    verdict = Verdict(traj_id="tid", label="success", judge_id="llm:gemma3", rationale="success")
    with pytest.raises(LLMError, match="same unusable reply"):
        LLMExtractor(llm).extract(TRAJ, verdict)
    calls = list(store.iter_llm_calls())
    assert len(calls) == 3 and all(c.error for c in calls)


def test_the_agents_stop_cuts_a_recorded_run_on_reply_at_its_first_imagined_observation():
    """What the server returns under the agent's stop strings: the recorded 1024-token reply cut before the first
    observation it imagined, so the step costs a few tokens and says the same (the echoed task, no action)."""
    from bankcore.agent.react import STOP, parse_move
    [ran_on] = gemma("agent-ran-on")
    cut = min(ran_on["reply"].find(s) for s in STOP if s in ran_on["reply"])
    stopped = ran_on["reply"][:cut]
    assert len(stopped) < len(ran_on["reply"]) / 20 and "Reply to every observation" not in stopped
    assert ran_on["expect"] in stopped and len(parse_move(stopped).action) < 60


# ---------------------------------------------------------------------- Gemma 3 270M on merge and MaTTS (issue 20)
def read_as_its_role(reply: dict) -> None:
    """Parse a recorded reply as its role does: a merge for a group of two, a selection among two, a verdict."""
    from bankcore.curate.llm_merge import MergeParseError, parse
    from bankcore.matts.selection import parse_selection
    try:
        {"merge": lambda text: parse(text, [1, 2]), "select": lambda text: parse_selection(text, 2),
         "judge-ran-on": parse_verdict}[reply["purpose"]](reply["reply"])
    except MergeParseError as exc:
        raise UnusableReply(str(exc)) from None


@pytest.mark.parametrize("reply", gemma("merge") + gemma("select") + gemma("judge-ran-on"),
                         ids=lambda r: f"{r['purpose']}: {r['why'][:40]}")
def test_each_recorded_gemma_merge_selection_and_ran_on_verdict_is_unusable(reply):
    assert reply["expect"] == "unusable"
    with pytest.raises(UnusableReply):
        read_as_its_role(reply)


def test_replies_that_differ_only_in_spacing_are_the_same_reply_to_the_retries(fake_llm, tmp_path):
    """Gemma answered the merge with its format's decline, with and without a trailing space by turns: the repairs
    quoted each, so two retries asked what their predecessor had asked, and the run spent five attempts a group.
    Now the repair quotes the reply stripped and the client gives up once the reply stays the same, spacing aside."""
    from bankcore.curate.llm_merge import build_messages, client_completer
    from bankcore.models import MemoryItem
    declines = [r["reply"] for r in gemma("merge") if '"decline"' in r["reply"]]
    assert len(declines) == 2 and declines[0] != declines[1] and declines[0].split() == declines[1].split()
    turns = iter(declines * 3)
    fake_llm.responder = lambda request: next(turns)
    llm, store = client(fake_llm, tmp_path)
    group = [MemoryItem("Check eligibility before cancelling", "Use when a refund is asked for.",
                        "Check the booking date and the insurance first.", source="success", item_id=1),
             MemoryItem("Verify refund eligibility first", "Use when a cancellation is asked for.",
                        "Check the date and the cover, then cancel or explain.", source="failure", item_id=2)]
    with pytest.raises(LLMError, match="same unusable reply"):
        client_completer(llm)(build_messages(group))
    sent = [(" ".join(json.dumps(r["messages"]).split()), r.get("temperature")) for r in fake_llm.requests]
    assert len(sent) <= 3 and all(a != b for a, b in zip(sent, sent[1:]))
    assert all(c.error for c in store.iter_llm_calls())  # nothing cached as a decision


def test_a_copied_selector_format_leaves_the_group_queued_with_no_pick(fake_llm, tmp_path):
    """What matts-replay did with Gemma's selections: each group fails (the command exits non-zero), nothing is
    stored as a pick, and no reply is cacheable — the next run asks again."""
    from bankcore import Bank
    from bankcore.matts import parallel
    from bankcore.matts.selection import LLMSelector
    replies = [r["reply"] for r in gemma("select")]
    answered = iter(replies * 10)
    fake_llm.responder = lambda request: next(answered)
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=fake_llm.settings(db))
    bank.import_path(Path(__file__).parent.parent / "data" / "demo" / "06-week5-web-matts-parallel.jsonl")
    groups = parallel.groups_of(bank.store, k=2)[:2]
    selector = LLMSelector(LLMClient(bank.settings, bank.store, sleep=lambda s: None))
    report = parallel.select_groups(bank.store, groups, selector)
    assert report.failed == 2 and report.done == 0 and bank.store.selections() == []
    assert all(c.error for c in bank.store.iter_llm_calls() if c.purpose == "select")


# ---------------------------------------------------------------------- the contrast extractor on real τ-bench pairs
CONTRAST_TASK, CONTRAST_TRIALS = 44, (2, 3)  # the pair the bench picks: the shortest success and failure of a task


def contrast_replies() -> list[dict]:
    return [{**r, "model": name} for name, rows in (("gemma3", GEMMA), ("smollm2", RECORDED))
            for r in rows if r["purpose"] == "extract-contrast"]


def tau_pair(tmp_path: Path) -> Path:
    """Task 44's trials 2 (reward 1) and 3 (reward 0) of the shared τ-bench data, as the bench imports them."""
    from conftest import TAU, need_shared
    need_shared(TAU)
    records = [r for r in json.loads(TAU.read_text())
               if r["task_id"] == CONTRAST_TASK and r["trial"] in CONTRAST_TRIALS]
    path = tmp_path / "pair.json"
    path.write_text(json.dumps(records))
    return path


@pytest.mark.parametrize("reply", contrast_replies(), ids=lambda r: f"{r['model']}: {r['why'][:40]}")
def test_each_recorded_contrast_reply_reads_as_recorded(reply):
    from dataclasses import replace
    from bankcore.matts.selection import contrast_lessons
    pair = [TRAJ, replace(TRAJ, traj_id="tid2", trial=1)]
    if reply["expect"] == "unusable":
        with pytest.raises(UnusableReply):
            contrast_lessons(reply["reply"], pair)
    else:
        assert [d.title for d in contrast_lessons(reply["reply"], pair)] == reply["expect"]


@pytest.mark.parametrize("recorded_reply", contrast_replies(), ids=lambda r: r["model"])
def test_a_junk_contrast_reply_leaves_the_real_pair_queued_and_is_asked_again(fake_llm, tmp_path, recorded_reply):
    """matts-replay over a real τ-bench pair labelled by its reward, answered with a recorded reply — Gemma's copy
    of the format, SmolLM2's items whose content only says its description's words again (stored as a pending
    lesson before, and approved where the gate's second opinion said clean): the group fails (the command's exit
    code counts it), no lesson and no contrast mark are written, no attempt repeats its predecessor, and the next
    replay asks the model again rather than serving a cached reply."""
    from bankcore import Bank
    fake_llm.responder = lambda request: recorded_reply["reply"]
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=fake_llm.settings(db))
    imported = bank.import_path(tau_pair(tmp_path), run_name="pair")
    assert bank.label_from_truth(bank.imported_trajectories(imported)).summary().count("success 1, failure 1")
    for attempt in (1, 2):
        report = bank.matts_replay("pair", k=2, selector="heuristic", judge="heuristic", extractor="llm")
        assert report.contrasted.failed == 1 and report.contrasted.items == 0 and report.approved == []
        assert len(fake_llm.requests) == 3 * attempt  # asked again: nothing was cached as a success
    assert bank.store.contrast_extractions(report.contrasted.extractor_id) == []
    calls = [c for c in bank.store.iter_llm_calls() if c.purpose == "extract-contrast"]
    assert len(calls) == 6 and all(c.error for c in calls)
    sent = [(" ".join(json.dumps(r["messages"]).split()), r.get("temperature")) for r in fake_llm.requests]
    assert all(a != b for a, b in zip(sent, sent[1:]))
    [first] = fake_llm.requests[:1]
    assert "(judged: success)" in first["messages"][-1]["content"] and "(judged: failure)" in \
        first["messages"][-1]["content"]


def test_the_recorded_smollm2_selection_is_read_as_its_pick():
    from bankcore.matts.selection import parse_selection
    [reply] = recorded("select")
    assert parse_selection(reply["reply"], 2)[0] == reply["expect"]


@pytest.mark.parametrize("verdict", ["flag", "clean"])
def test_a_repaired_contrast_reply_that_passes_the_checks_stays_pending_for_a_person(fake_llm, tmp_path, verdict):
    """SmolLM2's repair after its refused items (each content now with a remark about the prompt) reads as a
    lesson; what keeps it out of retrieval is the second opinion, whose recorded answer is the format's own
    "one sentence" as its why: a copied format, so no opinion (retried, never cached) — and with "clean" beside it
    (before, the default policy approved the lesson on it) the lesson is held as borderline just the same. The
    refused first reply is never stored, and the repair is a different request from the attempt it repairs."""
    from bankcore import Bank
    from bankcore.guard import gate
    from bankcore.guard.second_opinion import PURPOSE
    from bankcore.llm.client import UNUSABLE
    [first] = recorded("extract-contrast")
    [repaired] = recorded("extract-contrast-repaired")
    replies = iter([first["reply"], repaired["reply"]])
    fake_llm.responder = lambda request: next(replies)
    opinion = json.dumps({**json.loads(repaired["opinion"]), "verdict": verdict})
    fake_llm.opinion = lambda request: opinion
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=fake_llm.settings(db))
    imported = bank.import_path(tau_pair(tmp_path), run_name="pair")
    bank.label_from_truth(bank.imported_trajectories(imported))
    report = bank.matts_replay("pair", k=2, selector="heuristic", judge="heuristic", extractor="llm")
    assert report.contrasted.failed == 0 and report.approved == []
    [item] = [i for i in bank.store.iter_items() if i.source == "contrast"]
    assert [item.title] == repaired["expect"] and item.status == "pending" and gate.BORDERLINE in item.flags
    assert item.meta[gate.OPINION]["verdict"] == "failed" and "why is a placeholder" in item.meta[gate.OPINION]["why"]
    asked = [c for c in bank.store.iter_llm_calls() if c.purpose == PURPOSE]
    assert len(asked) >= 2 and all(c.error.startswith(UNUSABLE) for c in asked)  # retried, never cached
    first_sent, repair_sent = fake_llm.requests
    assert first_sent["messages"] != repair_sent["messages"]
