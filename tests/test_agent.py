"""The agent and the online loop: the real `openai` client talks HTTP to our scripted server (tests/fake_llm.py),
which plays the agent, judge, extractor and MaTTS selector from what each request shows (tests/scripted_shop.py).
Real DuckDB files, real embeddings, the real retrieval and curation policy, the built-in shop environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bankcore import Bank
from bankcore.agent.env import Task
from bankcore.agent.react import ReActAgent, base_system, parse_move, system_prompt
from bankcore.agent.runner import Runner, RunSettings
from bankcore.agent.shop import ShopEnvironment
from bankcore.agent.tasks import select_tasks
from bankcore.errors import BankcoreError, InputError
from bankcore.llm.client import LLMClient
from bankcore.matts.selection import HEURISTIC_CONTRAST_ID, HEURISTIC_SELECTOR_ID
from conftest import ROOT
from scripted_shop import BASE, ShopScript

ENV = ShopEnvironment()
ORDER_TASKS = [t for t in ENV.tasks() if t.kind in ("count_orders", "total_spent")]


def llm_bank(fake_llm, db, script: ShopScript) -> Bank:
    fake_llm.responder = script
    return Bank(db, settings=fake_llm.settings(db))


# ---------------------------------------------------------------------- replies and prompts (pure)
@pytest.mark.parametrize("reply, thought, action", [
    ("Thought: open the history\nAction: orders[]", "open the history", "orders[]"),
    ("Thought: a\nb\nAction: next_page[]", "a b", "next_page[]"),
    ("**Thought:** page on\n**Action:** `next_page[]`", "page on", "next_page[]"),
    ("Thought 3: count\nAction 3: answer[4]", "count", "answer[4]"),
    ("<think>hidden</think>Thought: ok\nAction: answer[$12.50]", "ok", "answer[$12.50]"),
    ("Thought: the action is below\nAction:\n```\nsearch[usb hub]\n```", "the action is below", "search[usb hub]"),
    ("I will look at my orders.\norders[]", "I will look at my orders.", "orders[]"),
    ("Thought: first\nAction: orders[]\nObservation: (imagined)\nThought: then\nAction: answer[1]", "first",
     "orders[]"),
    ("I am not sure what to do.", "", "I am not sure what to do."),
    ("", "", ""),
])
def test_parse_move(reply, thought, action):
    assert parse_move(reply) == (parse_move(reply).__class__(thought, action))


def test_memory_goes_into_the_system_prompt_only_when_there_is_some():
    assert system_prompt(ENV.instructions, "") == system_prompt(ENV.instructions, "  ") == base_system(ENV.instructions)
    with_memory = system_prompt(ENV.instructions, "# Memory Item 1\n## Title\nRead every page")
    assert with_memory == base_system(ENV.instructions) + "\n\n# Memory Item 1\n## Title\nRead every page"
    assert "Thought:" in BASE and "orders[]" in BASE


# ---------------------------------------------------------------------- tasks
def test_select_tasks(tmp_path):
    assert [t.task_id for t in select_tasks("all", ENV)] == [t.task_id for t in ENV.tasks()]
    assert [t.task_id for t in select_tasks("shop-count-1, shop-find-0 shop-count-1", ENV)] == \
        ["shop-count-1", "shop-find-0"]
    with pytest.raises(BankcoreError, match="no task 'shop-nope'"):
        select_tasks("shop-count-0,shop-nope", ENV)
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"task_id": "shop-count-2"}\n\n{"task_id": 7, "query": "Cheapest hub?", "gold": "P1001"}\n')
    chosen = select_tasks(str(path), ENV)
    assert chosen[0] == next(t for t in ENV.tasks() if t.task_id == "shop-count-2")
    assert chosen[1] == Task("7", "Cheapest hub?", "shop", gold="P1001")


@pytest.mark.parametrize("content, where", [
    ('{"task_id": "x"}\n', ":1: field 'task_id': environment 'shop' has no such task"),
    ('{"task_id": "a", "query": "q"}\n{"query": "q"}\n', ":2: field 'task_id': missing required field"),
    ('{"task_id": "a", "query": ""}\n', ":1: field 'query': must not be empty"),
    ('{"task_id": "a", "query": 3}\n', ":1: field 'query': expected string, got integer"),
    ("not json\n", ":1: not valid JSON"),
    ("\n", ": no tasks in the file"),
])
def test_bad_task_files_say_where(tmp_path, content, where):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        select_tasks(str(path), ENV)
    assert str(caught.value).startswith(str(path)) and where in str(caught.value)


# ---------------------------------------------------------------------- one attempt
def test_an_attempt_through_the_real_client(fake_llm, db):
    bank = llm_bank(fake_llm, db, ShopScript())
    agent = ReActAgent(LLMClient(bank.settings, bank.store), ShopEnvironment(), clock=bank.store.clock)
    task = ORDER_TASKS[0]
    attempt = agent.attempt(task)
    assert [s.action for s in attempt.steps] == ["orders[]", "answer[0]"]  # the naive policy: page 1 only
    assert attempt.final_answer == "0" and attempt.stop_reason == "answered"
    assert attempt.passes == [{"pass": 1, "answer": "0", "success": False}]
    assert attempt.steps[-1].meta["kind"] == "finish" and "page 1 of" in attempt.steps[0].observation
    calls = list(bank.store.iter_llm_calls())
    assert [c.purpose for c in calls] == ["agent", "agent"] and [c.call_id for c in calls] == attempt.call_ids
    assert calls[0].temperature == 0.7 and attempt.tokens_in > 0
    first = fake_llm.requests[0]["messages"]
    assert first[0]["content"] == BASE and first[1]["content"].startswith(f"Task: {task.query}")
    traj = attempt.trajectory(ENV.instructions)
    assert traj.meta["system"] == BASE and traj.final_state == "Answer submitted."
    assert attempt.truth(False).success is False and attempt.truth(False).details == {}


# ---------------------------------------------------------------------- the online loop
def test_memory_changes_behaviour_in_the_online_loop(fake_llm, db):
    """Memory off: the naive policy answers from page 1 and fails every time. Memory on: the first task fails,
    its lesson is judged, extracted, approved by the policy and retrieved for the next task, whose agent reads it
    in its system prompt and pages through: the later tasks succeed."""
    script = ShopScript()
    bank = llm_bank(fake_llm, db, script)
    tasks = ORDER_TASKS[:6]
    off = Runner(bank, RunSettings(name="off", memory="none")).run(tasks)
    assert [t.success for t in off.tasks] == [False] * 6 and off.items_added == 0
    assert not any(t.memory_item_ids for t in off.tasks)
    on = Runner(bank, RunSettings(name="on", memory="reasoningbank")).run(tasks)
    assert [t.success for t in on.tasks] == [False] + [True] * 5
    assert on.tasks[0].memory_item_ids == [] and all(t.memory_item_ids for t in on.tasks[1:])
    assert on.tasks[0].items_added and on.tasks[0].items_approved == on.tasks[0].items_added
    lesson = bank.store.get_item(on.tasks[1].memory_item_ids[0])
    assert lesson.title == "Check every page of the order history before counting" and lesson.status == "approved"
    approvals = [e for e in bank.store.item_events(lesson.item_id) if e.kind == "APPROVE"]
    assert approvals and approvals[0].actor.startswith("policy:")
    # the lesson reached the agent's system prompt, after the base prompt (the paper's injection)
    later = [r for r in script.calls["agent"] if ORDER_TASKS[1].query in r["messages"][1]["content"]]
    memory_prompts = {r["messages"][0]["content"] for r in later}
    assert any(p.startswith(BASE + "\n\n") and lesson.title in p for p in memory_prompts)
    # retrievals are logged per trajectory, with the run, task, rank and score
    run = bank.store.find_run("on")
    assert (run.memory_mode, run.matts_mode, run.env, run.agent_model) == ("reasoningbank", None, "shop", "fake-model")
    logged = [r for r in bank.store.iter_retrievals() if r.run_id == run.run_id]
    assert len(logged) == 5 and {r.task_id for r in logged} == {t.task_id for t in tasks[1:]}
    assert all(r.traj_id in on.tasks[i + 1].traj_ids for i, r in enumerate(logged)) and all(r.rank == 1 for r in logged)
    # steps and cost per task
    assert [t.steps for t in on.tasks][1:] == [7] * 5 and off.tasks[0].steps == 2
    stats = bank.stats()["agent"]
    modes = {row["memory_mode"]: row for row in stats["by_memory"]}
    assert modes["none"]["success_rate"] == 0 and modes["reasoningbank"]["success_rate"] == pytest.approx(5 / 6, 1e-3)
    assert modes["reasoningbank"]["mean_steps_success"] == 7 and modes["reasoningbank"]["mean_steps_failure"] == 2
    assert modes["reasoningbank"]["tokens_per_task"] > modes["none"]["tokens_per_task"] > 0
    on_run = next(r for r in stats["runs"] if r["name"] == "on")
    assert on_run["curve"][0]["success_rate"] == 0 and on_run["curve"][-1]["cumulative_success_rate"] == \
        pytest.approx(5 / 6, 1e-3)
    # every agent call is attached to the trajectory it produced
    agent_calls = [c for c in bank.store.iter_llm_calls() if c.purpose == "agent"]
    assert agent_calls and all(c.traj_id for c in agent_calls)
    assert bank.check().ok  # the online loop wrote every item through the event log


def test_parallel_matts_selects_and_contrasts_all_k_with_labels(fake_llm, db):
    script = ShopScript(explore_every=3)  # the third of every three attempts pages through on its own
    bank = llm_bank(fake_llm, db, script)
    report = Runner(bank, RunSettings(name="bon", memory="reasoningbank", matts="parallel", k=3)).run(ORDER_TASKS[:2])
    first, second = report.tasks
    assert len(first.traj_ids) == 3 and first.success is True  # best-of-3 picked the attempt that paged through
    picks = bank.store.selections()
    assert picks[0].chosen_traj_id == first.traj_ids[2] and picks[0].selector_id == "llm:fake-model"
    assert picks[0].analysis == "Trajectory 3 read every page before answering."
    # self-contrast saw all three trajectories with their judge labels
    contrast = script.calls["contrast"][0]["messages"][1]["content"]
    assert "**Trajectory 1** (judged: failure)" in contrast and "**Trajectory 3** (judged: success)" in contrast
    items = bank.store.query_items(source="contrast")
    assert items and all(i.extractor_id == "llm:fake-model" for i in items)
    for item in items:
        if item.meta.get("task_id") == first.task_id:
            sources = bank.store.item_sources(item.item_id)
            assert set(first.traj_ids) <= {s.traj_id for s in sources} and {s.relation for s in sources} == {"contrast"}
    # the second task taught the same paging lesson again: it reinforced the item, with evidence to its 3 attempts
    paging = next(i for i in items if i.title == "Check every page of the order history before counting")
    assert {s.traj_id for s in bank.store.item_sources(paging.item_id)} == set(first.traj_ids + second.traj_ids)
    assert [e.kind for e in bank.store.item_events(paging.item_id)].count("REINFORCE") == 1
    assert paging.item_id in second.items_reinforced
    # the second task's three attempts were all shown the same memory, logged once per trajectory
    logged = [r for r in bank.store.iter_retrievals() if r.task_id == second.task_id]
    assert sorted(r.traj_id for r in logged) == sorted(second.traj_ids) and len({r.item_id for r in logged}) == 1
    assert second.success and all(bank.truth(t).success for t in second.traj_ids)  # all three read the lesson
    run = bank.store.find_run("bon")
    assert (run.matts_mode, run.matts_k) == ("parallel", 3)
    stats = next(r for r in bank.stats()["agent"]["runs"] if r["name"] == "bon")
    assert stats["matts"]["best_of_n"] == 1.0 and stats["matts"]["pass_at_1"] == pytest.approx((1 / 3 + 1) / 2, 1e-3)


def test_sequential_matts_refines_and_the_notes_feed_extraction(fake_llm, db):
    script = ShopScript()
    bank = llm_bank(fake_llm, db, script)
    report = Runner(bank, RunSettings(name="seq", memory="reasoningbank", matts="sequential", k=3)).run(ORDER_TASKS[:1])
    (task,) = report.tasks
    traj = bank.trajectory(task.traj_ids[0])
    assert [s.meta["pass"] for s in traj.steps] == [1, 1] + [2] * 6 + [3]
    assert traj.steps[1].action == "answer[0]" and traj.final_answer != "0" and task.success is True
    assert "Re-examining" in traj.steps[2].thought
    truth = bank.truth(traj.traj_id)
    assert [p["success"] for p in truth.details["passes"]] == [False, True, True]
    assert traj.meta["passes"] == 3 and "success" not in json.dumps(traj.meta)  # per-pass truth stays out
    # the check prompts reached the agent
    prompts = [m["content"] for r in script.calls["agent"] for m in r["messages"] if m["role"] == "user"]
    assert any("re-examine your previous trajectory" in p for p in prompts) and any("Let's check again" in p for p in prompts)
    # the refinement notes reached the extractor, and it learned from them
    (request,) = script.calls["extract"]
    assert "**Refinement notes:**" in request["messages"][1]["content"]
    assert "Pass 2 (changed its answer)" in request["messages"][1]["content"]
    titles = {i.title for i in bank.store.iter_items()}
    assert "Re-check coverage of a listing before finishing" in titles
    assert {i.prompt_version for i in bank.store.iter_items() if i.extractor_id == "llm:fake-model"} == {
        "extract-v2+refine-v1"}


def test_a_long_refined_episode_is_cut_to_the_context_window_not_rejected(fake_llm, db):
    """Found by bench/real_model.py: sequential MaTTS grew the agent's conversation past an 8k window and the run
    stopped on a length rejection. The agent's prompt now keeps its system prompt, task and latest steps, says how
    many steps it left out, and every request fits."""
    fake_llm.context_window, fake_llm.states_window = 1800, True  # the uncut episode reaches ~2,200 tokens
    script = ShopScript()
    bank = llm_bank(fake_llm, db, script)
    report = Runner(bank, RunSettings(name="seq", memory="reasoningbank", matts="sequential", k=3)).run(ORDER_TASKS[:1])
    assert report.tasks[0].steps > 0  # the scripted agent reads its whole conversation, so cut it acts differently
    agent = script.calls["agent"]
    assert all(sum(len(m["content"]) for m in r["messages"]) // 4 + r["max_tokens"] <= 1800 for r in agent)
    cut = [r["messages"] for r in agent if "left out here to fit" in r["messages"][1]["content"]]
    assert cut and all(m[0]["role"] == "system" and m[1]["content"].startswith("Task:") for m in cut)
    assert all(r[2]["role"] == "assistant" for r in cut if len(r) > 2)  # the kept steps begin at a reply


def test_a_run_that_stops_on_a_dead_endpoint_resumes_where_it_stopped(fake_llm, db):
    script = ShopScript()
    bank = llm_bank(fake_llm, db, script)
    tasks = ORDER_TASKS[:4]

    def die_on_third_task(request):
        if ORDER_TASKS[2].query in request["messages"][1]["content"] and request["messages"][0]["content"].startswith(BASE[:40]):
            fake_llm.faults.append("401")
        return script(request)
    fake_llm.responder = die_on_third_task
    fake_llm.faults.clear()
    with pytest.raises(BankcoreError, match=r"2 task\(s\) of run 'r' are stored; run again with --run 'r'"):
        Runner(bank, RunSettings(name="r")).run(tasks)
    run = bank.store.find_run("r")
    assert bank.store.run_task_ids(run.run_id) == [t.task_id for t in tasks[:2]] and run.finished_at is None
    before = set(bank.store.select_traj_ids(run_id=run.run_id))
    fake_llm.responder = script
    seen = len(script.calls["agent"])
    resumed = Runner(bank, RunSettings(name="r")).run(tasks)
    assert resumed.skipped == 2 and [t.task_id for t in resumed.tasks] == [t.task_id for t in tasks[2:]]
    assert resumed.finished and bank.store.find_run("r").finished_at is not None
    redone = [r["messages"][1]["content"] for r in script.calls["agent"][seen:]]
    assert not any(t.query in text for t in tasks[:2] for text in redone)  # finished tasks are not run again
    after = bank.store.select_traj_ids(run_id=run.run_id)
    assert before <= set(after) and len(after) == 4 and len(bank.store.run_task_ids(run.run_id)) == 4
    again = Runner(bank, RunSettings(name="r")).run(tasks)
    assert again.skipped == 4 and again.tasks == [] and again.items_added == 0


def test_run_settings_are_checked(fake_llm, db, tmp_path):
    bank = llm_bank(fake_llm, db, ShopScript())
    with pytest.raises(BankcoreError, match="needs --k 2 or more"):
        Runner(bank, RunSettings(name="x", matts="parallel", k=1)).run([])
    with pytest.raises(BankcoreError, match="give --matts"):
        Runner(bank, RunSettings(name="x", k=3)).run([])
    with pytest.raises(BankcoreError, match="unknown environment"):
        Runner(bank, RunSettings(name="x", env="moon")).run([])
    Runner(bank, RunSettings(name="x", memory="none")).run(ORDER_TASKS[:1])
    with pytest.raises(BankcoreError, match="exists with memory = 'none', not 'reasoningbank'"):
        Runner(bank, RunSettings(name="x", memory="reasoningbank")).run(ORDER_TASKS[:1])
    native = tmp_path / "imported.jsonl"
    native.write_text(json.dumps({"task_id": "t", "query": "q?", "steps": [{"action": "answer[1]"}]}) + "\n")
    bank.import_path(native, run_name="imported")
    with pytest.raises(BankcoreError, match="is an imported run"):
        Runner(bank, RunSettings(name="imported", memory="none")).run(ORDER_TASKS[:1])
    offline = Bank(tmp_path / "offline.duckdb")
    with pytest.raises(BankcoreError, match="no LLM configured"):
        Runner(offline, RunSettings(name="y", memory="none")).run(ORDER_TASKS[:1])



def test_a_bank_handed_an_llm_client_runs_the_agent_and_learns_through_it(fake_llm, tmp_path):
    """`Bank(store, llm=client)` with nothing configured in its settings: the runner acts, judges and extracts
    through the client it was handed (the same calls a configured bank makes), not through one of its own."""
    from bankcore.store import Store

    db = tmp_path / "handed.duckdb"
    store = Store(db)
    fake_llm.responder = ShopScript()
    client = LLMClient(fake_llm.settings(db), store)
    bank = Bank(store, llm=client)
    assert not bank.settings.llm_configured and bank.store is store
    report = Runner(bank, RunSettings(name="handed", memory="reasoningbank")).run(ORDER_TASKS[:2])
    assert [t.success for t in report.tasks] == [False, True] and report.settings.model == client.model
    calls = list(store.iter_llm_calls())
    purposes = {c.purpose.split("-")[0] for c in calls}  # extract-success, extract-failure: one step
    assert purposes >= {"agent", "judge", "extract"} and {c.model for c in calls} == {client.model}
    assert fake_llm.requests and fake_llm.opinion_requests  # the gate's second opinion asked it too


# ---------------------------------------------------------------------- the CLI
def test_cli_tasks_and_run_errors(cli, tmp_path):
    listed = cli("tasks", "--env", "shop", "--json").json()
    assert len(listed) == 40 and listed[0]["task_id"] == "shop-count-0"
    result = cli("--db", tmp_path / "b.duckdb", "run", "shop-count-0", "--memory", "none")
    assert result.code == 1 and result.err.startswith("error: no LLM configured")
    assert "matts-replay" in result.err and "resume" not in result.out  # refused before a run is announced
    result = cli("--db", tmp_path / "b.duckdb", "run", "nope", "--env", "shop")
    assert result.code == 1 and "has no task 'nope'" in result.err and "Traceback" not in result.err


def _cli_env(fake_llm, db) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKCORE_", "OPENAI_"))}
    env.update(PYTHONPATH=str(ROOT), BANKCORE_DB=str(db), BANKCORE_LLM_BASE_URL=fake_llm.url,
               BANKCORE_LLM_API_KEY="sk-test-key-0123456789", BANKCORE_MODEL="fake-model", BANKCORE_LLM_TIMEOUT="5")
    return env


def _ctrl_c_enabled() -> None:
    """In the child, before exec: SIGINT back to its default. A suite started in the background (`make test &`,
    some CI runners) inherits SIGINT ignored, and Python then never turns Ctrl-C into a KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_cli_run_interrupted_with_ctrl_c_resumes(fake_llm, tmp_path):
    """A real process, interrupted with SIGINT while it works on the third task, then run again."""
    script = ShopScript()
    fake_llm.responder = script
    db = tmp_path / "bank.duckdb"
    tasks = ",".join(t.task_id for t in ORDER_TASKS[:5])
    argv = [sys.executable, "-m", "bankcore.cli", "run", tasks, "--memory", "reasoningbank", "--run", "ctrl-c"]
    proc = subprocess.Popen(argv, env=_cli_env(fake_llm, db), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_ctrl_c_enabled)
    third = ORDER_TASKS[2].query
    deadline = time.monotonic() + 240
    while not any(third in r["messages"][1]["content"] for r in list(script.calls["agent"])):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached its third task"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run again with --run 'ctrl-c' to continue" in err
    assert "[1/5]" in out and "[2/5]" in out and "[3/5]" not in out
    bank = Bank(db)
    run = bank.store.find_run("ctrl-c")
    assert bank.store.run_task_ids(run.run_id) == [t.task_id for t in ORDER_TASKS[:2]]
    seen = len(script.calls["agent"])
    done = subprocess.run(argv, env=_cli_env(fake_llm, db), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "3 task(s) done now, 2 done before" in done.stdout, done.stdout
    assert "[1/5]" not in done.stdout and "[3/5] shop-count-1: success" in done.stdout and "[5/5]" in done.stdout
    assert bank.store.run_task_ids(run.run_id) == [t.task_id for t in ORDER_TASKS[:5]]
    assert len(bank.store.select_traj_ids(run_id=run.run_id)) == 5
    redone = [r["messages"][1]["content"] for r in script.calls["agent"][seen:]]
    assert not any(t.query in text for t in ORDER_TASKS[:2] for text in redone)
    assert any(third in text for text in redone)  # the interrupted task is done again, from the start
    stats = json.loads(subprocess.run([sys.executable, "-m", "bankcore.cli", "stats", "--json"],
                                      env=_cli_env(fake_llm, db), capture_output=True, text=True).stdout)
    (row,) = [r for r in stats["agent"]["runs"] if r["name"] == "ctrl-c"]
    assert row["tasks"] == 5 and row["success_rate"] == pytest.approx(0.8) and row["finished_at"]


def test_offline_learning_side_heuristic_judge_extractor_and_selector(fake_llm, db):
    """Only the agent is an LLM: the heuristic judge reads the partial listing, the heuristic extractor's lessons
    are approved because the policy here allows heuristic items, and a task shown the paging lesson follows it. In
    parallel mode the heuristic selector and contrast extractor do the MaTTS part. No other LLM call is made."""
    script = ShopScript(explore_every=3)
    fake_llm.responder = script
    # The heuristic paging lesson speaks of "a how-many question" and "a listing", not of orders: its title +
    # description (the retrieval recipe) scores 0.20-0.22 against "How many orders did I place in ...", first of
    # the bank's lessons but under the default 0.25 floor, so this loop test sets the floor just below it.
    bank = Bank(db, settings=fake_llm.settings(db, min_similarity=0.19))
    bank.set_policy("auto_approve_heuristic", "true")
    counts = [t for t in ORDER_TASKS if t.kind == "count_orders"]
    plain = Runner(bank, RunSettings(name="h", judge="heuristic")).run(counts[:3])
    first = bank.current_label(plain.tasks[0].traj_ids[0])
    assert (first.label, first.judge_id) == ("failure", "heuristic:v2") and "more pages" in first.rationale
    assert all(bank.store.get_item(i).extractor_id == "heuristic:v2" for t in plain.tasks for i in t.items_added)
    assert plain.items_approved == plain.items_added > 0
    shown = [(t, bank.store.get_item(i)) for t in plain.tasks for i in t.memory_item_ids]
    paging = [t for t, item in shown if "every page" in item.content]
    assert paging and all(t.success for t in paging)  # retrieved for the later tasks
    bon = Runner(bank, RunSettings(name="h-bon", judge="heuristic", matts="parallel", k=3)).run(counts[3:5])
    picks = bank.store.selections()
    assert len(picks) == 2 and all(p.selector_id == HEURISTIC_SELECTOR_ID for p in picks)
    assert all(t.success for t in bon.tasks)  # the exploring third attempt, or the lesson, paged through
    contrast = bank.store.query_items(source="contrast")
    assert contrast and all(i.extractor_id == HEURISTIC_CONTRAST_ID for i in contrast)
    # each contrast over k=3 attempts cites all three; the same lesson from the second task reinforces the first
    assert all(len(bank.store.item_sources(i.item_id)) % 3 == 0 for i in contrast)
    assert set(script.calls) == {"agent"}


def test_resuming_lets_the_policy_see_items_it_never_saw(fake_llm, db):
    """Lessons written while the policy held LLM items for review are admitted when the run resumes under a policy
    that allows them — the same catch-up that admits items written just before a crash."""
    script = ShopScript()
    bank = llm_bank(fake_llm, db, script)
    bank.set_policy("auto_approve_llm", "false")
    settings = RunSettings(name="p", memory="reasoningbank", consolidate=False)
    first = Runner(bank, settings).run(ORDER_TASKS[:2])
    assert first.items_added == 1 and first.items_reinforced == 1  # both failures taught the paging lesson
    assert first.items_approved == 0 and first.items_pending == 1 and not first.tasks[1].memory_item_ids
    (lesson,) = first.tasks[0].items_added
    bank.set_policy("auto_approve_llm", "true")
    resumed = Runner(bank, settings).run(ORDER_TASKS[:3])
    assert resumed.skipped == 2 and bank.store.get_item(lesson).status == "approved"
    assert resumed.tasks[0].memory_item_ids == [lesson] and resumed.tasks[0].success


def test_the_metrics_page_plots_agent_runs(fake_llm, db, monkeypatch):
    """The dashboard's metrics page shows each run task by task, with best-of-N next to pass@1 and pass@k."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    bank = llm_bank(fake_llm, db, ShopScript(explore_every=3))
    Runner(bank, RunSettings(name="none", memory="none")).run(ORDER_TASKS[:2])
    Runner(bank, RunSettings(name="bon3", matts="parallel", k=3)).run(ORDER_TASKS[:2])
    monkeypatch.setenv("BANKCORE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("screens/5_Metrics.py").run()
    assert not at.exception
    table = next(t.value for t in at.dataframe if "pass@k" in t.value.columns)
    rows = {r["run"]: r for r in table.to_dict("records")}
    assert rows["none"]["success"] == "0 of 2" and rows["none"]["pass@k"] == "—"  # 2 tasks: a count, no rate
    assert rows["bon3"]["memory"] == "ReasoningBank + MaTTS (parallel, k=3)" and rows["bon3"]["best-of-N"] == "100.0%"
    assert rows["bon3"]["tokens / task"] > rows["none"]["tokens / task"] > 0
    st.cache_data.clear()
    st.cache_resource.clear()


def test_the_online_loop_keeps_the_bank_within_the_policys_cap(fake_llm, db):
    """With a cap per domain, each task's learning ends by archiving the least useful items beyond it (events by
    the policy, nothing deleted); without one, nothing is archived."""
    bank = llm_bank(fake_llm, db, ShopScript(explore_every=3))
    bank.set_policy("auto_approve_heuristic", "true")
    counts = [t for t in ORDER_TASKS if t.kind == "count_orders"]
    free = Runner(bank, RunSettings(name="free", judge="heuristic", consolidate=False)).run(counts[:2])
    assert free.items_archived == 0 and bank.store.count_items(status=["archived"]) == 0
    bank.set_policy("max_active_per_domain", "1")
    capped = Runner(bank, RunSettings(name="capped", judge="heuristic", consolidate=False)).run(counts[2:5])
    active = bank.store.query_items(status=["pending", "approved"])
    assert len({i.domain for i in active}) == len(active)  # at most one per domain
    archived = bank.store.query_items(status=["archived"])
    assert capped.items_archived == len(archived) > 0
    assert all(bank.store.item_events(i.item_id)[-1].actor.startswith("policy:") for i in archived)
    assert "archived by its growth limits" in capped.summary()
    assert bank.check().ok  # every archive went through the event log


def test_cli_run_with_limit_counts_the_tasks_it_will_do(fake_llm, tmp_path, cli, monkeypatch):
    fake_llm.responder = ShopScript()
    for name, value in _cli_env(fake_llm, tmp_path / "bank.duckdb").items():
        if name.startswith("BANKCORE_"):
            monkeypatch.setenv(name, value)
    tasks = ",".join(t.task_id for t in ORDER_TASKS[:4])
    result = cli("run", tasks, "--memory", "none", "--run", "limited", "--limit", "2")
    assert result.code == 0, result.err
    assert "[1/2]" in result.out and "[2/2]" in result.out and "/4]" not in result.out
