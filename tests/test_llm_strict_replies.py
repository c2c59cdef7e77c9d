"""Strict replies: what small local models really answer (SmolLM2-135M and Gemma 3 270M behind a llama.cpp server,
issue 20) replayed through our OpenAI-compatible test server. Such a reply is never cached as a success, never
approved, never merged, and the command that got it says so in its exit code; every structured role asks the server
for its JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bankcore import Bank
from bankcore.curate import policy as policy_rules
from bankcore.learn.extract import LLMExtractor, parse_items
from bankcore.llm.client import UNUSABLE, LLMClient, LLMError, UnusableReply
from bankcore.curate.llm_merge import MergeParseError, build_messages, client_completer, parse
from bankcore.matts.selection import LLMSelector, parse_contrast
from bankcore.read.metrics import format_stats
from bankcore.models import MemoryItem, Step, Trajectory, Verdict
from bankcore.llm.reply_schemas import lesson_problem, text_problem

AMAZON = "This is a list of items that are available for sale at Amazon."
GOOD = {"title": "Confirm the record before changing it",
        "description": "Use when a change depends on a record's state; not when only reading it.",
        "content": "Look the record up first and check its status. Change it only once the status allows it.",
        "steps": [1]}

# What the small models wrote (shapes as recorded; wording shortened).
DESCRIPTION_ONLY = json.dumps({"items": [{"description": AMAZON}, {"description": "The agent searched for it."}]})
ELLIPSES = json.dumps({"reasoning": "...", "items": [{"title": "...", "description": "...", "content": "...",
                                                      "steps": []}]})
FORMAT_ECHO = json.dumps({"reasoning": "<your analysis>", "items": [
    {"title": "<title>", "description": "Use when ...; not when ...", "content": "string", "steps": [1, 2]}]})
COPIED = json.dumps({"items": [{"title": "This is a list of items", "description": AMAZON, "content": AMAZON}]})
ONE_OF_EACH = json.dumps({"items": [{"title": "N/A", "description": "TBD", "content": "…"}, GOOD,
                                    {"title": "Title", "description": AMAZON, "content": AMAZON}]})
MARKDOWN_DESCRIPTION_ONLY = "# Memory Item 1\n## Description\n" + AMAZON + "\n## Content\n" + AMAZON


# ---------------------------------------------------------------------- the checks themselves (pure)
@pytest.mark.parametrize("text", ["...", "…", "N/A", "TBD", "<title>", "string", "Title", "lorem ipsum dolor sit",
                                  "ok", "A.", "--", "?!", "Use when ...; not when ...", "", None])
def test_placeholders_are_not_text(text):
    assert text_problem(text, "title")


@pytest.mark.parametrize("title, description, content, why", [
    ("This is a list of items", AMAZON, "Buy what the user asked for, nothing else.", "first words of the description"),
    (AMAZON, AMAZON, "Buy what the user asked for.", "repeats the description"),
    ("Check stock first", AMAZON, AMAZON.upper(), "content only repeats the description"),
    ("Check stock first", "This is a very important detail: " + AMAZON, "The reason is that " + AMAZON.lower(),
     "content only repeats the description"),
])
def test_copied_fields_are_not_a_lesson(title, description, content, why):
    assert why in lesson_problem(title, description, content)


def test_a_real_lesson_passes_even_when_its_title_opens_with_two_of_the_descriptions_words():
    assert lesson_problem(GOOD["title"], GOOD["description"], GOOD["content"]) is None
    assert lesson_problem("Check pagination", "Check pagination before counting a list.", "Follow Next.") is None
    assert lesson_problem("核对订单状态", "在修改订单之前使用。", "先查询订单，再确认状态。") is None  # any script is text
    # a content that restates its description and goes on says something of its own
    assert lesson_problem("Sort by price", "Use when asked for the cheapest item.",
                          "Use when asked for the cheapest item: sort by price and read the first result.") is None
    assert lesson_problem("Vérifier l'état", "À utiliser avant une annulation.", "Lire le statut d'abord.") is None


# ---------------------------------------------------------------------- extractor replies (pure)
@pytest.mark.parametrize("reply", [DESCRIPTION_ONLY, ELLIPSES, FORMAT_ECHO, COPIED, MARKDOWN_DESCRIPTION_ONLY],
                         ids=["description-only", "ellipses", "format-echo", "copied", "markdown-description-only"])
def test_a_reply_of_only_junk_items_is_unusable(reply):
    with pytest.raises(UnusableReply, match="no usable memory item"):
        parse_items(reply)
    with pytest.raises(UnusableReply):
        parse_contrast(reply, 2)


def test_no_title_is_invented_from_the_description():
    with pytest.raises(UnusableReply, match="title is missing"):
        parse_items(DESCRIPTION_ONLY)


def test_good_items_are_kept_and_the_dropped_ones_are_named():
    [draft] = parse_items(ONE_OF_EACH)
    assert draft.title == GOOD["title"]
    assert draft.meta["dropped"] == ["item 1: title is a placeholder ('N/A')",
                                     "item 3: title is a placeholder ('Title')"]


# ---------------------------------------------------------------------- merge replies (pure)
GROUP = [3, 5]
MERGED = {"decision": "merge", "absorbs": [3, 5], "title": "Verify a reservation before cancelling",
          "description": "Use when cancelling; not when only looking a booking up.",
          "content": "Look the reservation up by id and check its fare rules, then cancel it.", "reason": "same lesson"}


@pytest.mark.parametrize("change, message", [
    ({"absorbs": [1, 3]}, "item 1 is not in the group"),
    ({"title": "..."}, "title is a placeholder"),
    ({"content": MERGED["description"]}, "content only repeats the description"),
    ({"title": "Use when cancelling; not"}, "title is the first words of the description"),
    ({"description": "N/A"}, "description is a placeholder"),
])
def test_a_merge_reply_must_mean_something(change, message):
    with pytest.raises(MergeParseError, match=message):
        parse(json.dumps({**MERGED, **change}), GROUP)


# ---------------------------------------------------------------------- the schemas
def test_every_schema_is_valid_and_admits_what_its_parser_reads():
    jsonschema = pytest.importorskip("jsonschema")
    from bankcore.learn.judge import parse_verdict
    from bankcore.matts.selection import parse_selection
    from bankcore.llm.reply_schemas import JUDGE, contrast_schema, extract_schema, merge_schema, select_schema
    lesson = {k: GOOD[k] for k in ("title", "description", "content")}
    cases = [(JUDGE, {"thoughts": "It was cancelled.", "status": "success"}, parse_verdict),
             (extract_schema(3), {"reasoning": "r", "items": [GOOD]}, parse_items),
             (contrast_schema(2, 5), {"reasoning": "r", "items": [{**lesson, "evidence": [
                 {"trajectory": 2, "steps": [1]}]}]}, lambda text: parse_contrast(text, 2)),
             (select_schema(3), {"analysis": "the second", "index": [2]}, lambda text: parse_selection(text, 3)),
             (merge_schema(GROUP), MERGED, lambda text: parse(text, GROUP))]
    for schema, reply, read in cases:
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(reply, schema)
        assert read(json.dumps(reply))
    for wrong, schema in (({**MERGED, "absorbs": [1, 3]}, merge_schema(GROUP)),
                          ({"analysis": "x", "index": [4]}, select_schema(3)),
                          ({"thoughts": "x", "status": "partial"}, JUDGE)):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


# ---------------------------------------------------------------------- over HTTP: extractor
TRAJ = Trajectory(task_id="t1", query="Cancel reservation ABC123 for the user.", traj_id="tid", domain="airline",
                  source_format="native",
                  steps=[Step(index=0, action="get_reservation_details(ABC123)", observation="status: active"),
                         Step(index=1, action="cancel_reservation(ABC123)", observation="cancelled")],
                  final_answer="Cancelled.")
VERDICT = Verdict(traj_id="tid", label="success", judge_id="llm:fake-model", verdict_id=1)


def extract_calls(bank: Bank) -> list:
    return [c for c in bank.store.iter_llm_calls() if c.purpose.startswith("extract")]


def test_the_extractor_asks_for_its_schema_and_repairs_a_junk_reply(fake_llm, db):
    replies = iter([DESCRIPTION_ONLY, json.dumps({"reasoning": "checked first", "items": [GOOD]})])
    fake_llm.responder = lambda request: next(replies)
    bank = Bank(db, settings=fake_llm.settings(db))
    [(item, _)] = LLMExtractor(LLMClient(bank.settings, bank.store)).extract(TRAJ, VERDICT)
    assert item.title == GOOD["title"]
    first, repair = fake_llm.requests
    schema = first["response_format"]["json_schema"]["schema"]
    assert first["response_format"]["type"] == "json_schema"
    assert schema["properties"]["items"]["items"]["required"] == ["title", "description", "content", "steps"]
    assert "title is missing" in repair["messages"][-1]["content"]  # the repair says what was wrong
    bad, good = extract_calls(bank)
    assert bad.error.startswith(UNUSABLE) and good.error is None


def test_a_junk_reply_is_never_cached_and_never_becomes_an_item(fake_llm, db):
    fake_llm.responder = lambda request: COPIED
    bank = Bank(db, settings=fake_llm.settings(db))
    extractor = LLMExtractor(LLMClient(bank.settings, bank.store))
    with pytest.raises(LLMError, match="same unusable reply"):
        extractor.extract(TRAJ, VERDICT)
    first_try = fake_llm.http_calls
    with pytest.raises(LLMError):
        extractor.extract(TRAJ, VERDICT)
    assert fake_llm.http_calls == 2 * first_try  # asked again: nothing was served from the cache
    assert all(c.error and c.error.startswith(UNUSABLE) for c in extract_calls(bank))


def write_two_tasks(path: Path) -> Path:
    records = [{"task_id": f"task-{i}", "domain": "airline", "query": f"Cancel reservation {i} for the user.",
                "steps": [{"action": f"get_reservation_details({i})", "observation": "status: active"},
                          {"action": f"cancel_reservation({i})", "observation": "cancelled"}],
                "final_answer": "Cancelled.", "truth": {"success": True}} for i in range(2)]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_junk_is_never_approved_and_good_items_are(fake_llm, tmp_path):
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=fake_llm.settings(db))
    bank.import_path(write_two_tasks(tmp_path / "two.jsonl"))
    bank.judge(judge="llm")
    junk = {"task-0": DESCRIPTION_ONLY, "task-1": ONE_OF_EACH}

    def respond(request):
        user = request["messages"][1]["content"]
        return junk["task-0" if "reservation 0" in user else "task-1"]

    fake_llm.responder = respond
    report = bank.extract(extractor="llm")
    assert (report.done, report.failed) == (1, 1)  # the junk-only trajectory failed and stays queued
    items = list(bank.store.iter_items())
    assert [i.title for i in items] == [GOOD["title"]]
    assert report.approved_by_policy == [items[0].item_id]
    assert AMAZON not in {i.description for i in items} | {i.content for i in items}


def test_the_policy_never_auto_approves_llm_text_that_is_not_a_lesson():
    junk = MemoryItem("This is a list of items", AMAZON, AMAZON, source="success", extractor_id="llm:smollm2")
    decision = policy_rules.decide_new(policy_rules.Policy(), junk)
    assert not decision.approve and "not a usable lesson" in decision.reason
    merged = MemoryItem("...", AMAZON, "Buy only what was asked.", source="merged", extractor_id="llm-merge:m")
    assert not policy_rules.decide_merged(policy_rules.Policy(), merged, parents_approved=True, by_llm=True).approve


# ---------------------------------------------------------------------- over HTTP: selector, judge
def test_the_selector_and_judge_ask_for_their_schemas(fake_llm, db):
    from bankcore.learn.judge import LLMJudge
    bank = Bank(db, settings=fake_llm.settings(db))
    client = LLMClient(bank.settings, bank.store)
    fake_llm.responder = lambda request: json.dumps({"analysis": "the second confirmed first", "index": [2]})
    assert LLMSelector(client).select(TRAJ.query, [TRAJ, TRAJ, TRAJ]).index == 1
    select = fake_llm.requests[-1]["response_format"]["json_schema"]["schema"]
    assert select["properties"]["index"]["items"]["enum"] == [1, 2, 3]
    fake_llm.responder = lambda request: json.dumps({"Thoughts": "It was cancelled.", "Status": "success"})
    assert LLMJudge(client).judge(TRAJ).label == "success"  # JSON-mode keys, capitalised, still read
    judge = fake_llm.requests[-1]["response_format"]["json_schema"]["schema"]
    assert judge["properties"]["status"]["enum"] == ["success", "failure"]


# ---------------------------------------------------------------------- over HTTP: merge
def lessons_group() -> list[MemoryItem]:
    return [MemoryItem("Verify before cancelling", "Use when cancelling.", "Look the reservation up first.",
                       source="success", item_id=3),
            MemoryItem("Check a booking's state", "Use before any change.", "Read the status, then act.",
                       source="failure", item_id=5)]


def test_a_wrong_merge_reply_cached_by_an_old_version_is_not_served_again(fake_llm, db):
    bank = Bank(db, settings=fake_llm.settings(db))
    messages = build_messages(lessons_group())
    wrong = json.dumps({**MERGED, "absorbs": [1, 3]})
    fake_llm.responder = lambda request: wrong
    # Before this fix, any JSON object with a "decision" passed validation and was stored as a success.
    LLMClient(bank.settings, bank.store).complete("merge", messages, json_mode=True, validate=lambda text: None)
    complete = client_completer(LLMClient(bank.settings, bank.store))
    with pytest.raises(LLMError, match="not in the group"):
        complete(messages)
    assert fake_llm.http_calls > 1  # the stale success was not served
    sent = fake_llm.requests[-1]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["absorbs"]["items"]["enum"] == [3, 5]
    fake_llm.responder = lambda request: json.dumps(MERGED)
    assert parse(complete(messages), GROUP).title == MERGED["title"]
    asked = fake_llm.http_calls
    assert parse(complete(messages), GROUP).title == MERGED["title"] and fake_llm.http_calls == asked  # now cached


# ---------------------------------------------------------------------- the CLI: consolidate and stats
@pytest.fixture
def llm_env(fake_llm, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-key-0123456789")
    monkeypatch.setenv("BANKCORE_MODEL", "fake-model")
    return fake_llm


def merge_everything(reply_for):
    def respond(request):
        lessons = json.loads(request["messages"][1]["content"].split("Lessons (JSON):\n")[1].split("\n\nReply")[0])
        return reply_for(sorted(lesson["id"] for lesson in lessons))
    return respond


def test_consolidate_exits_non_zero_when_groups_fail_and_dry_run_shows_the_models_text(llm_env, cli, tmp_path):
    from curation_helpers import THRESHOLD, add_lessons
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=llm_env.settings(db))
    add_lessons(bank, tmp_path)
    llm_env.responder = merge_everything(lambda ids: json.dumps({**MERGED, "absorbs": [ids[0], 999]}))
    result = cli("consolidate", "--llm", "--threshold", THRESHOLD, "--db", db)
    assert result.code == 4 and "2 group(s) failed" in result.err and "0 merged" in result.out
    asked = llm_env.http_calls
    result = cli("consolidate", "--llm", "--threshold", THRESHOLD, "--db", db)
    assert result.code == 4 and llm_env.http_calls > asked  # nothing wrong was cached: asked again
    llm_env.responder = merge_everything(lambda ids: json.dumps({**MERGED, "absorbs": ids}))
    result = cli("consolidate", "--llm", "--dry-run", "--model", "other-model", "--threshold", THRESHOLD, "--db", db)
    assert result.code == 0 and MERGED["title"] in result.out and MERGED["content"] in result.out
    assert llm_env.requests[-1]["model"] == "other-model"
    asked = llm_env.http_calls
    result = cli("consolidate", "--llm", "--model", "other-model", "--threshold", THRESHOLD, "--db", db)
    assert result.code == 0 and "2 merged" in result.out and llm_env.http_calls == asked  # the dry run's replies
    assert "0 LLM calls, 2 answered from earlier replies" in result.out  # cache hits are not counted as calls


def test_stats_lists_a_judge_that_produced_no_verdict(fake_llm, tmp_path):
    db = tmp_path / "bank.duckdb"
    bank = Bank(db, settings=fake_llm.settings(db))
    bank.import_path(write_two_tasks(tmp_path / "two.jsonl"))
    fake_llm.responder = lambda request: "The agent helped the user with the reservation."  # no Status line
    report = bank.judge(judge="llm")
    assert report.done == 0 and report.failed >= 1
    stats = bank.stats()
    [silent] = [j for j in stats["judges"] if j["judge_id"] == "llm:fake-model"]
    assert silent["judged"] == 0 and silent["llm_calls"] == silent["failed_calls"] > 0
    assert "judge llm:fake-model [—]: 0 verdicts from" in format_stats(stats)


# ---------------------------------------------------------------------- the format copied (selector, merge)
def format_of(system: str) -> str:
    from bankcore.llm.client import reply_format
    return reply_format(system)


@pytest.mark.parametrize("reply", [
    '{"analysis": "<a brief comparison>", "index": [1]}',
    '{"analysis": "a brief comparison", "index": [2]}',
    '{"analysis": "...", "index": [1]}',
    "FORMAT",
])
def test_a_selector_reply_that_copies_the_format_is_no_choice(reply):
    """A base model echoes the reply format; with the index filled in or not, it compared nothing."""
    from bankcore.matts.selection import SELECT_SYSTEM, parse_selection
    with pytest.raises(UnusableReply):
        parse_selection(format_of(SELECT_SYSTEM) if reply == "FORMAT" else reply, 2)
    assert parse_selection('{"analysis": "x", "index": [2]}', 2)[0] == 1  # terse is not a copy


@pytest.mark.parametrize("reply", [
    "FORMAT",  # its first complete object is the decline with "..." as the reason
    '{"decision": "decline", "reason": "..."}',
    '{"decision": "contradiction", "pairs": [[3, 5]], "reason": "<why>"}',
])
def test_a_merge_reply_that_copies_the_format_is_no_decision(reply):
    from bankcore.curate.llm_merge import SYSTEM
    with pytest.raises(MergeParseError, match="reason is a placeholder"):
        parse(format_of(SYSTEM) if reply == "FORMAT" else reply, GROUP)
    assert parse('{"decision": "decline", "reason": ""}', GROUP).reason == ""  # a bare decline is still one


def test_a_copied_merge_format_is_retried_never_cached_as_a_decline(fake_llm, db):
    from bankcore.curate.llm_merge import SYSTEM
    bank = Bank(db, settings=fake_llm.settings(db))
    fake_llm.responder = lambda request: format_of(SYSTEM)
    complete = client_completer(LLMClient(bank.settings, bank.store, sleep=lambda s: None))
    with pytest.raises(LLMError, match="reason is a placeholder"):
        complete(build_messages(lessons_group()))
    calls = list(bank.store.iter_llm_calls())
    assert len(calls) >= 2 and all(c.error and c.error.startswith(UNUSABLE) for c in calls)


# ---------------------------------------------------------------------- the format copied (judge)
@pytest.mark.parametrize("reply", [
    'Thoughts: <your brief reasoning>\nStatus: success',
    '{"thoughts": "...", "status": "success"}',
    '{"thoughts": "<your brief reasoning>", "status": "failure"}',
])
def test_a_judge_reply_that_copies_the_format_is_no_verdict(reply):
    """The label beside the format's own "<your brief reasoning>" was filled in, not judged."""
    from bankcore.learn.judge import parse_verdict
    with pytest.raises(UnusableReply, match="thoughts is a placeholder"):
        parse_verdict(reply)
    assert parse_verdict('{"thoughts": "success", "status": "success"}')[0] == "success"  # Gemma's terse one reads


def test_a_copied_judge_format_is_retried_never_cached_and_the_real_answer_counts(fake_llm, db):
    from bankcore.learn.judge import LLMJudge
    bank = Bank(db, settings=fake_llm.settings(db, llm_max_retries=1))
    replies = iter(['Thoughts: <your brief reasoning>\nStatus: success',
                    json.dumps({"thoughts": "The reservation was cancelled as asked.", "status": "success"})])
    fake_llm.responder = lambda request: next(replies)
    verdict = LLMJudge(LLMClient(bank.settings, bank.store, sleep=lambda s: None)).judge(TRAJ)
    assert verdict.label == "success" and verdict.rationale == "The reservation was cancelled as asked."
    calls = [c for c in bank.store.iter_llm_calls() if c.purpose == "judge"]
    assert [c.error.startswith(UNUSABLE) if c.error else None for c in calls] == [True, None]
    assert "thoughts is a placeholder" in calls[0].error
