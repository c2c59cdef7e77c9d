"""The LLM client against our OpenAI-compatible server: retries, Retry-After, timeouts, JSON-mode fallback,
the audit trail in llm_calls, the temperature-0 cache, and the API key never leaving memory."""

from __future__ import annotations

import gzip
import json

import pytest

from bankcore import Bank
from bankcore.errors import BankcoreError
from bankcore.llm.client import LLMClient, LLMError, UnusableReply, backoff_delay, parse_retry_after
from bankcore.llm import render
from bankcore.models import Step, Trajectory
from bankcore.settings import Settings
from fake_llm import PROSE

JUDGE_MESSAGES = [{"role": "system", "content": "You are evaluating the performance of an agent."},
                  {"role": "user", "content": "User Intent: x\n\nAgent's final response: 42"}]


def client_for(fake_llm, db, sleeps=None, **overrides):
    bank = Bank(db, settings=fake_llm.settings(db, **overrides))
    sleep = (lambda s: sleeps.append(s)) if sleeps is not None else (lambda s: None)
    return bank, LLMClient(bank.settings, bank.store, sleep=sleep, seed=1)


def calls(bank):
    return list(bank.store.iter_llm_calls())


def test_a_plain_call_is_answered_and_recorded(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    result = client.complete("judge", JUDGE_MESSAGES, traj_id="t1")
    assert 'Status: "success"' in result.text and not result.cached
    [call] = calls(bank)
    assert (call.purpose, call.model, call.traj_id, call.error) == ("judge", "fake-model", "t1", None)
    assert call.tokens_in > 0 and call.tokens_out > 0 and call.latency_ms >= 0
    assert call.base_url == fake_llm.url and call.response == result.text and call.call_id == result.call_id


def test_429_honours_retry_after_then_succeeds(fake_llm, db):
    sleeps: list[float] = []
    bank, client = client_for(fake_llm, db, sleeps)
    fake_llm.retry_after = "7"
    fake_llm.faults.extend(["429", "429"])
    result = client.complete("judge", JUDGE_MESSAGES)
    assert sleeps == [7.0, 7.0]
    assert fake_llm.http_calls == 3 and not result.cached
    assert [c.error is None for c in calls(bank)] == [False, False, True]
    assert "429" in calls(bank)[0].error


@pytest.mark.parametrize("fault, error", [("500", "InternalServerError"), ("hang", "APITimeoutError"),
                                          ("disconnect", "APIConnectionError")])
def test_transient_faults_are_retried_with_backoff(fake_llm, db, fault, error):
    sleeps: list[float] = []
    bank, client = client_for(fake_llm, db, sleeps)
    fake_llm.faults.extend([fault, fault])
    result = client.complete("judge", JUDGE_MESSAGES)
    assert "Status" in result.text
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0  # exponential backoff
    assert [c.error.split(":")[0] if c.error else None for c in calls(bank)] == [error, error, None]


def test_gives_up_after_the_retry_budget_and_says_it_is_transient(fake_llm, db):
    bank, client = client_for(fake_llm, db, llm_max_retries=2)
    fake_llm.faults.extend(["500"] * 5)
    with pytest.raises(LLMError) as info:
        client.complete("judge", JUDGE_MESSAGES)
    assert info.value.transient and not info.value.fatal and "after 3 attempts" in str(info.value)
    assert fake_llm.http_calls == 3 and all(c.error for c in calls(bank))


def test_unusable_replies_are_recorded_and_retried(fake_llm, db):
    def validate(text):
        if "Status" not in text:
            raise UnusableReply("no Status line")

    bank, client = client_for(fake_llm, db)
    fake_llm.faults.extend(["prose", "truncated"])
    result = client.complete("judge", JUDGE_MESSAGES, validate=validate)
    assert "Status" in result.text
    recorded = calls(bank)
    assert [c.error is not None for c in recorded] == [True, True, False]
    assert recorded[0].error.startswith("unusable reply") and recorded[0].response  # kept for diagnosis


def test_a_server_rejecting_json_mode_is_used_without_it(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.rejects.add("response_format")
    messages = [{"role": "system", "content": "SUCCESSFULLY"}, {"role": "user", "content": "q"}]
    first = client.complete("extract", messages, json_mode=True)
    assert first.text.startswith("{")
    second = client.complete("extract", messages + [{"role": "user", "content": "again"}], json_mode=True)
    assert second.text.startswith("{")
    assert ["response_format" in r for r in fake_llm.requests] == [True, False, False]  # remembered
    assert "response_format" in calls(bank)[0].error


def test_a_model_refusing_max_tokens_and_temperature_gets_what_it_accepts(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.rejects |= {"max_tokens", "temperature"}
    result = client.complete("judge", JUDGE_MESSAGES, max_tokens=300)
    assert "Status" in result.text and fake_llm.http_calls == 3
    last = fake_llm.requests[-1]
    assert last["max_completion_tokens"] == 300 and "max_tokens" not in last and "temperature" not in last
    assert [c.error is None for c in calls(bank)] == [False, False, True]
    assert client.complete("judge", JUDGE_MESSAGES).cached  # still the temperature-0 cache: the request asked 0


def test_a_refused_parameter_is_remembered_for_every_client_of_that_server(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.rejects |= {"max_tokens"}
    client.complete("judge", JUDGE_MESSAGES, max_tokens=300)
    assert fake_llm.http_calls == 2  # refused once, then sent as max_completion_tokens
    other_role = LLMClient(bank.settings, bank.store)  # e.g. the extractor's client in the same command
    other_role.complete("extract", [{"role": "user", "content": "another prompt"}], max_tokens=200)
    assert fake_llm.http_calls == 3 and fake_llm.requests[-1]["max_completion_tokens"] == 200
    another_model = LLMClient(bank.settings, bank.store, model="another-model")  # facts are per server and model
    another_model.complete("extract", [{"role": "user", "content": "a third prompt"}], max_tokens=100)
    assert fake_llm.http_calls == 5


def test_json_mode_is_requested_when_supported(fake_llm, db):
    _, client = client_for(fake_llm, db)
    client.complete("extract", JUDGE_MESSAGES, json_mode=True)
    assert fake_llm.requests[0]["response_format"] == {"type": "json_object"}


def test_temperature_zero_is_answered_from_the_record(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    first = client.complete("judge", JUDGE_MESSAGES)
    again = LLMClient(bank.settings, bank.store).complete("judge", JUDGE_MESSAGES)  # a new process, same bank
    assert again.cached and again.text == first.text and again.call_id == first.call_id
    assert fake_llm.http_calls == 1 and len(calls(bank)) == 1


def test_cache_is_keyed_by_model_and_never_used_above_temperature_zero(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    client.complete("judge", JUDGE_MESSAGES)
    LLMClient(bank.settings, bank.store, model="other-model").complete("judge", JUDGE_MESSAGES)
    client.complete("judge", JUDGE_MESSAGES, temperature=0.7)
    client.complete("judge", JUDGE_MESSAGES, temperature=0.7)
    assert fake_llm.http_calls == 4


def test_failed_and_unusable_records_are_never_served_from_the_cache(fake_llm, db):
    def validate(text):
        if "Status" not in text:
            raise UnusableReply("no Status line")

    bank, client = client_for(fake_llm, db, llm_max_retries=0)
    fake_llm.faults.append("prose")
    with pytest.raises(LLMError):
        client.complete("judge", JUDGE_MESSAGES, validate=validate)
    result = client.complete("judge", JUDGE_MESSAGES, validate=validate)
    assert not result.cached and fake_llm.http_calls == 2


def test_a_wrong_key_is_fatal_and_never_stored(fake_llm, db, tmp_path):
    bank, client = client_for(fake_llm, db)
    fake_llm.faults.append("401")
    with pytest.raises(LLMError) as info:
        client.complete("judge", JUDGE_MESSAGES)
    assert info.value.fatal and fake_llm.http_calls == 1  # no retry can fix a bad key
    key = bank.settings.llm_api_key
    assert key not in str(info.value) and "[redacted]" in str(info.value)
    client.complete("judge", JUDGE_MESSAGES)
    out = tmp_path / "bank.jsonl.gz"
    bank.export(out)
    assert key not in gzip.open(out, "rt").read()
    assert key not in repr(bank.settings)


def test_no_endpoint_or_no_model_is_a_clear_error(db):
    bank = Bank(db)
    with pytest.raises(BankcoreError, match="no LLM configured"):
        LLMClient(bank.settings, bank.store)
    with pytest.raises(BankcoreError, match="no LLM model"):
        LLMClient(Settings(db_path=db, llm_base_url="http://127.0.0.1:9/v1"), bank.store)


def test_retry_after_forms_and_backoff_bounds():
    import random

    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None
    rng = random.Random(0)
    assert backoff_delay(1, 120.0, rng) == 60.0  # capped
    assert [round(backoff_delay(n, None, random.Random(0)), 2) for n in (1, 2, 3)] == [0.61, 1.21, 2.42]
    assert backoff_delay(20, None, rng) <= 30 * 1.25


def test_an_oversized_reply_is_stored_cut_as_a_failed_attempt_never_used(fake_llm, db):
    from bankcore.llm.client import MAX_REPLY_CHARS
    bank, client = client_for(fake_llm, db)
    replies = iter(["x" * (10 * MAX_REPLY_CHARS), 'Thoughts: fine.\nStatus: "success"'])
    fake_llm.responder = lambda request: next(replies)
    result = client.complete("judge", JUDGE_MESSAGES)
    assert result.text.endswith('"success"')
    first, second = calls(bank)
    assert "over the" in first.error and len(first.response) == MAX_REPLY_CHARS
    assert second.error is None and second.response == result.text


def _needs_status(text):
    if "Status" not in text:
        raise UnusableReply("no 'Status:' line")


def test_a_retry_after_an_unusable_reply_shows_the_model_what_was_wrong(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.faults.append("prose")
    result = client.complete("judge", JUDGE_MESSAGES, validate=_needs_status)
    assert "Status" in result.text
    first, second = fake_llm.requests
    assert first["messages"] == JUDGE_MESSAGES and second["messages"][:2] == JUDGE_MESSAGES
    assert second["messages"][2] == {"role": "assistant", "content": PROSE}
    assert "could not be used: no 'Status:' line" in second["messages"][3]["content"]


def test_a_model_repeating_the_same_unusable_reply_is_given_up_on_early(fake_llm, db):
    bank, client = client_for(fake_llm, db, llm_max_retries=6)
    fake_llm.responder = lambda request: "I think it went fine."  # greedy: the same bytes whatever it is told
    with pytest.raises(LLMError) as info:
        client.complete("judge", JUDGE_MESSAGES, validate=_needs_status)
    assert "same unusable reply 3 times" in str(info.value) and "larger model" in str(info.value)
    assert not info.value.transient and fake_llm.http_calls == 3  # not the 7 the retry budget allows
    assert [r["temperature"] for r in fake_llm.requests] == [0.0, 0.0, 0.4]
    bodies = [json.dumps(r, sort_keys=True) for r in fake_llm.requests]
    assert len(set(bodies)) == len(bodies)  # no request repeated its predecessor


def test_an_unusable_reply_that_used_its_whole_token_budget_is_called_cut_off(fake_llm, db):
    """A reply that ran to max_tokens is unusable because it was cut off: the error and the repair say so (and ask
    for brevity) instead of only naming the field the cut removed. A short unusable reply is not called cut off."""
    bank, client = client_for(fake_llm, db, llm_max_retries=1)
    echo = "Thoughts: the agent searched, then searched again, " * 20  # the fake server counts 4 characters a token
    fake_llm.responder = lambda request: echo if request["max_tokens"] == 64 else "I think it went fine."
    with pytest.raises(LLMError) as info:
        client.complete("judge", JUDGE_MESSAGES, validate=_needs_status, max_tokens=64)
    assert "cut off at its 64-token limit" in str(info.value)
    assert "cut off" in fake_llm.requests[-1]["messages"][-1]["content"]  # the repair tells the model
    with pytest.raises(LLMError) as short:
        client.complete("judge", JUDGE_MESSAGES + [{"role": "user", "content": "again"}], validate=_needs_status)
    assert "cut off" not in str(short.value)


def test_a_repaired_reply_is_served_from_the_cache_on_a_rerun(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.responder = lambda r: ('Thoughts: ok.\nStatus: "failure"' if "could not be used" in
                                    r["messages"][-1]["content"] else "prose only")
    first = client.complete("judge", JUDGE_MESSAGES, validate=_needs_status)
    again = LLMClient(bank.settings, bank.store).complete("judge", JUDGE_MESSAGES, validate=_needs_status)
    assert again.cached and again.text == first.text
    assert fake_llm.http_calls == 3  # the original prompt's reply is never cached; the repair's is


@pytest.mark.parametrize("stream, says", [(False, "no reply within 0.5 s"), (True, "no first token within 0.5 s")])
def test_a_timeout_names_the_limit_and_the_setting_to_raise(fake_llm, db, stream, says):
    bank, client = client_for(fake_llm, db, llm_max_retries=0, llm_stream=stream)
    fake_llm.faults.append("hang")
    with pytest.raises(LLMError) as info:
        client.complete("judge", JUDGE_MESSAGES)
    assert says in str(info.value)
    assert "BANKCORE_LLM_TIMEOUT" in str(info.value)


@pytest.mark.parametrize("url, timeout", [("http://127.0.0.1:8080/v1", 300.0), ("http://localhost:11434/v1", 300.0),
                                          ("https://api.openai.com/v1", 60.0), (None, 60.0),
                                          ("http://127.0.0.1.example.com/v1", 60.0)])
def test_a_local_server_gets_a_longer_default_timeout(url, timeout):
    assert Settings(llm_base_url=url).llm_timeout == timeout
    assert Settings(llm_base_url=url, llm_timeout_s=7).llm_timeout == 7


def test_a_server_refusing_the_system_role_gets_it_in_the_first_user_turn(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.rejects.add("system")
    result = client.complete("judge", JUDGE_MESSAGES)
    assert "Status" in result.text
    refused, folded = fake_llm.requests
    assert [m["role"] for m in folded["messages"]] == ["user"]
    assert folded["messages"][0]["content"].startswith(JUDGE_MESSAGES[0]["content"])
    assert folded["messages"][0]["content"].endswith(JUDGE_MESSAGES[1]["content"])
    client.complete("judge", JUDGE_MESSAGES + [{"role": "user", "content": "again"}])
    assert fake_llm.http_calls == 3  # remembered: no second refusal
    assert "System role" in calls(bank)[0].error


def test_system_text_can_be_folded_for_templates_that_drop_it_silently(fake_llm, db):
    _, client = client_for(fake_llm, db, llm_fold_system=True)
    client.complete("judge", JUDGE_MESSAGES)
    assert [m["role"] for m in fake_llm.requests[0]["messages"]] == ["user"]


# ---------------------------------------------------------------------- prompts sized to the context window
LONG_RUN = Trajectory(task_id="t", query="Find the order", source_format="native", steps=[
    Step(index=i, thought=f"thinking about page {i}", action=f"open_page({i})", observation="lorem ipsum " * 90)
    for i in range(60)])


def build_judge(scale: float = 1.0) -> list[dict[str, str]]:
    return [JUDGE_MESSAGES[0], {"role": "user", "content": "User Intent: Find the order\n\nAction History:\n"
                                + render.render_history(LONG_RUN, int(render.HISTORY_CHARS * scale))}]


def prompt_chars(request: dict) -> int:
    return sum(len(m["content"]) for m in request["messages"])


def test_a_length_rejection_is_fitted_to_the_window_the_server_states(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    fake_llm.context_window = 3000
    result = client.complete("judge", build_judge(), max_tokens=500, fit=build_judge)
    assert "Status" in result.text
    rejected, fitted = fake_llm.requests
    assert prompt_chars(fitted) < prompt_chars(rejected) and prompt_chars(fitted) // 4 + 500 <= 3000
    assert "steps omitted" in fitted["messages"][1]["content"]  # the prompt says what was cut
    assert "maximum context length is 3000" in calls(bank)[0].error
    client.complete("judge", build_judge(), max_tokens=500, fit=build_judge)
    assert fake_llm.http_calls == 2  # learned once: the next prompt is fitted before it is sent (and cached)


def test_a_length_rejection_without_a_way_to_shorten_names_the_window_and_setting(fake_llm, db):
    _, client = client_for(fake_llm, db)
    fake_llm.context_window = 3000
    with pytest.raises(LLMError) as info:
        client.complete("judge", build_judge(), max_tokens=500)
    message = str(info.value)
    assert "3000-token context window" in message and "BANKCORE_LLM_CONTEXT=3000" in message
    assert not info.value.transient and fake_llm.http_calls == 1


@pytest.mark.parametrize("how", ["configured", "stated by the server"])
def test_a_known_window_fits_the_prompt_before_the_first_request(fake_llm, db, how):
    fake_llm.context_window, fake_llm.states_window = 3000, how == "stated by the server"
    _, client = client_for(fake_llm, db, llm_context_tokens=3000 if how == "configured" else None)
    client.complete("judge", build_judge(), max_tokens=500, fit=build_judge)
    assert fake_llm.http_calls == 1 and prompt_chars(fake_llm.requests[0]) // 4 + 500 <= 3000


ITEM_SCHEMA = {"type": "object", "properties": {"items": {"type": "array"}}, "required": ["items"]}


def test_a_schema_is_asked_for_and_a_schema_in_json_mode_is_the_fallback(fake_llm, db):
    bank, client = client_for(fake_llm, db)
    messages = [{"role": "system", "content": "SUCCESSFULLY"}, {"role": "user", "content": "q"}]
    client.complete("extract", messages, schema=ITEM_SCHEMA)
    assert fake_llm.requests[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "extract", "schema": ITEM_SCHEMA}}
    fake_llm.rejects.add("json_schema")
    _, fresh = client_for(fake_llm, db)
    fresh.complete("extract", messages + [{"role": "user", "content": "again"}], schema=ITEM_SCHEMA)
    assert [r["response_format"]["type"] for r in fake_llm.requests[1:]] == ["json_schema", "json_object"]
    fresh.complete("extract", messages + [{"role": "user", "content": "a third"}], schema=ITEM_SCHEMA)
    assert fake_llm.requests[-1]["response_format"] == {"type": "json_object", "schema": ITEM_SCHEMA}  # remembered


def test_a_llama_cpp_server_refusing_json_schema_with_a_500_gets_the_schema_in_json_mode(fake_llm, db):
    """Found by bench/real_model.py: llama-cpp-python answers `json_schema` with a 500 validation error, which was
    retried five times and failed every judge call; it constrains `json_object` with a `schema` instead."""
    fake_llm.rejects.add("json_schema_as_llama_cpp")
    _, client = client_for(fake_llm, db)
    messages = [{"role": "system", "content": "SUCCESSFULLY"}, {"role": "user", "content": "q"}]
    client.complete("extract", messages, schema=ITEM_SCHEMA)
    assert [r["response_format"] for r in fake_llm.requests] == [
        {"type": "json_schema", "json_schema": {"name": "extract", "schema": ITEM_SCHEMA}},
        {"type": "json_object", "schema": ITEM_SCHEMA}]


def test_a_plain_500_is_still_retried_with_the_same_parameters(fake_llm, db):
    fake_llm.faults.append("500")
    _, client = client_for(fake_llm, db)
    client.complete("extract", [{"role": "user", "content": "q"}], schema=ITEM_SCHEMA)
    assert [r["response_format"]["type"] for r in fake_llm.requests] == ["json_schema", "json_schema"]


def test_the_llm_judge_fits_a_long_trajectory_into_a_small_window(fake_llm, db):
    from bankcore.learn.judge import LLMJudge
    bank, client = client_for(fake_llm, db)
    fake_llm.context_window = 3000
    verdict = LLMJudge(client).judge(LONG_RUN)
    assert verdict.label in ("success", "failure")
    sent = fake_llm.requests[-1]
    assert prompt_chars(sent) // 4 + sent["max_tokens"] <= 3000 and "steps omitted" in sent["messages"][1]["content"]
