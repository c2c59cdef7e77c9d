"""The demo corpus (data/demo): it imports cleanly into a fresh bank and holds what the demo needs to tell its story.

Every property is read back from the bank after a real import, and failure modes are recognised from the steps
themselves (what the agent did and saw), never from labels written next to them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from bankcore import Bank

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
FILES = sorted(DEMO.glob("*.jsonl"))
WEB = {"shopping", "admin", "forge", "forum"}

MORE_PAGES = re.compile(r"\bNext\b|page 1 of [2-9]|\b1-10 of \d{2}")
PAGE_MOVE = re.compile(r"click\('(Next|Page \d|Load More)")
NOTHING_FOUND = re.compile(r"no results|couldn't find any|no open merge requests match", re.I)
NEGATIVE_ANSWER = re.compile(r"\b(no|not|could not|couldn't)\b", re.I)
REFUSAL = re.compile(r"not able to|unable to|cannot|can't|could not", re.I)
TOOL_ERROR = re.compile(r"\bError:|TimeoutError|<returncode>[1-9]|doing that too much")
INJECTION = re.compile(r"ignore previous instructions|you must now", re.I)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus imported the way `bankcore demo` imports it: one run per file, named by the file."""
    bank = Bank(tmp_path_factory.mktemp("demo") / "bank.duckdb")
    reports = [bank.import_path(path, run_name=path.stem) for path in FILES]
    runs = {run.run_id: run for run in bank.store.list_runs()}
    trajectories = [(traj, truth, runs[traj.run_id]) for traj, truth in bank.store.iter_trajectories(with_truth=True)]
    return bank, reports, runs, trajectories


# ---------------------------------------------------------------------- step patterns
def observations(traj) -> list[str]:
    return [s.observation or "" for s in traj.steps]


def actions(traj) -> list[str]:
    return [s.action or "" for s in traj.steps]


def failed(truth) -> bool:
    return truth is not None and truth.success is False


def has_repeat(traj, times: int = 3) -> bool:
    """The same action met by the same observation `times` times in a row."""
    pairs = [(s.action, s.observation) for s in traj.steps]
    return any(len(set(pairs[i:i + times])) == 1 for i in range(len(pairs) - times + 1))


def missed_pagination(traj, truth) -> bool:
    """Answered from a view that advertised more pages, without ever moving to another page."""
    return (failed(truth) and bool(traj.final_answer) and any(MORE_PAGES.search(o) for o in observations(traj))
            and not any(PAGE_MOVE.search(a) for a in actions(traj)))


def premature_no_results(traj, truth) -> bool:
    """One search found nothing and the agent reported that nothing exists."""
    searches = [a for a in actions(traj) if a.startswith("type(")]
    return (failed(truth) and len(searches) == 1 and NEGATIVE_ANSWER.search(traj.final_answer or "") is not None
            and any(NOTHING_FOUND.search(o) for o in observations(traj)))


def identifier_tokens(text: str) -> set[str]:
    return {t.strip(".") for t in re.findall(r"[#@]?[\w./-]+", text.lower())}


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def wrong_identifier(traj, truth) -> bool:
    """Acted on an id one or two edits away from the one the task names (#000381 for #000318, kayak_kat for
    kayak_kate, MH-JKT-M-BLK for MH-JKT-M-BLU)."""
    if not failed(truth) or traj.final_answer is None:
        return False
    wanted = {t.lstrip("#@") for t in identifier_tokens(traj.query) if len(t) >= 4}
    for action in actions(traj):
        if action.startswith("send_msg_to_user("):
            continue  # only what the agent acted on counts, not what it said
        for arg in re.findall(r"'([^']*)'", action):
            for token in identifier_tokens(arg):
                token = token.lstrip("#@")
                if token in wanted or not re.search(r"[\d_-]", token):
                    continue
                if any(0 < edit_distance(token, w) <= 2 for w in wanted):
                    return True
    return False


def step_limited(traj, run) -> bool:
    return traj.final_answer is None and traj.num_steps >= run.meta["max_steps"]


def by_domain(trajectories, predicate) -> set[str]:
    return {traj.domain for traj, truth, run in trajectories if predicate(traj, truth, run)}


# ---------------------------------------------------------------------- the files
def test_every_file_is_a_run_with_a_header_and_imports_without_loss(corpus):
    _, reports, _, _ = corpus
    assert [p.name for p in FILES] == sorted(p.name for p in FILES) and len(FILES) >= 6
    for path, report in zip(FILES, reports):
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        assert header["type"] == "run" and header["memory_mode"] in ("none", "reasoningbank"), path.name
        assert {"name", "agent_model", "matts_mode", "matts_k", "env", "started_at"} <= set(header), path.name
        assert report.bad == [] and report.read == report.added == len(lines) - 1, path.name
        assert report.repeated == 0 and report.duplicates == 0, path.name


def test_records_are_complete_plain_and_self_contained(corpus):
    _, _, _, trajectories = corpus
    assert 150 <= len(trajectories) <= 250
    for traj, _, _ in trajectories:
        assert traj.task_id and traj.domain and traj.trial is not None and traj.started_at and traj.query
        assert traj.steps and all(s.thought and s.action for s in traj.steps), traj.task_id
        for obs in observations(traj):  # short page/tool text: 1-3 lines
            tool_output = re.search(r"<output>\n(.*)\n</output>", obs, re.S)
            body = tool_output.group(1) if tool_output else obs
            assert len(body.splitlines()) <= 3 and len(body) <= 400, (traj.task_id, obs)
    text = "".join(p.read_text(encoding="utf-8") for p in FILES)
    assert "http://" not in text and "https://" not in text


def test_files_sort_chronologically_over_six_weeks(corpus):
    _, _, runs, trajectories = corpus
    spans = defaultdict(list)
    for traj, _, run in trajectories:
        spans[run.name].append(traj.started_at)
    ordered = [spans[p.stem] for p in FILES]
    for earlier, later in zip(ordered, ordered[1:]):
        assert max(earlier) < min(later)
    assert datetime(2026, 9, 1) <= min(ordered[0]) and max(ordered[-1]) <= datetime(2026, 10, 13)
    off = [min(spans[r.name]) for r in runs.values() if r.memory_mode == "none"]
    on = [min(spans[r.name]) for r in runs.values() if r.memory_mode == "reasoningbank"]
    assert len(off) >= 2 and len(on) >= 3 and max(off) < min(on)  # memory off early, on later


def test_corpus_is_exactly_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_corpus", DEMO / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        written = module.write_corpus(tmp_path)
    finally:
        del sys.modules["make_corpus"]
    assert [p.name for p in written] == [p.name for p in FILES]
    for fresh in written:
        assert fresh.read_bytes() == (DEMO / fresh.name).read_bytes(), fresh.name


# ---------------------------------------------------------------------- the story
def test_all_five_domains_appear_with_memory_off_and_on(corpus):
    _, _, _, trajectories = corpus
    modes = defaultdict(set)
    for traj, _, run in trajectories:
        modes[traj.domain].add(run.memory_mode)
    assert set(modes) == WEB | {"swe"}
    assert all(m == {"none", "reasoningbank"} for m in modes.values())


def _pooled(trajectories, env_prefix: str, memory_mode: str) -> tuple[float, float]:
    chosen = [(t, tr) for t, tr, r in trajectories if r.env.startswith(env_prefix) and r.memory_mode == memory_mode]
    labelled = [tr.success for _, tr in chosen if tr is not None]
    return sum(labelled) / len(labelled), sum(t.num_steps for t, _ in chosen) / len(chosen)


def test_memory_raises_success_and_cuts_steps(corpus):
    _, _, _, trajectories = corpus
    for env, min_gain, min_saving in (("web", 0.08, 1.0), ("swe", 0.05, 1.0)):
        rate_off, steps_off = _pooled(trajectories, env, "none")
        rate_on, steps_on = _pooled(trajectories, env, "reasoningbank")
        assert rate_on - rate_off >= min_gain, (env, rate_off, rate_on)
        assert steps_off - steps_on >= min_saving, (env, steps_off, steps_on)


def test_stats_show_the_trend_run_by_run(corpus):
    """What `bankcore stats` prints: web runs improve week on week (roughly), successes are shorter than failures."""
    bank, _, runs, _ = corpus
    stats = {r["name"]: r for r in bank.stats()["runs"]}
    env = {run.name: run.env for run in runs.values()}
    web = [stats[p.stem] for p in FILES if env[p.stem].startswith("web")]
    first, last = web[0], web[-1]
    assert first["truth"]["success_rate"] <= 0.45 and last["truth"]["success_rate"] >= 0.52
    assert first["mean_steps"] >= 9.0 and last["mean_steps"] <= 7.8
    for run in stats.values():
        assert run["truth"]["mean_steps_success"] < run["truth"]["mean_steps_failure"], run["name"]
    memory_on = [r for r in web if r["memory_mode"] == "reasoningbank"]
    memory_off = [r for r in web if r["memory_mode"] == "none"]
    assert min(r["truth"]["success_rate"] for r in memory_on) > max(r["truth"]["success_rate"] for r in memory_off)


def test_memory_is_cited_only_when_it_is_on_and_grows_richer(corpus):
    _, _, _, trajectories = corpus
    for traj, _, run in trajectories:
        cites = "Retrieved memory" in traj.steps[0].thought
        assert cites == (run.memory_mode == "reasoningbank"), (run.name, traj.task_id)
    early = " ".join(t.steps[0].thought for t, _, r in trajectories if r.name.startswith("04-"))
    late = " ".join(t.steps[0].thought for t, _, r in trajectories if r.name == FILES[-1].stem)
    assert "Next Page" in early and "cross-reference" not in early  # a checklist first ...
    assert "cross-reference" in late  # ... a compositional strategy later


# ---------------------------------------------------------------------- failure modes, from the steps
def test_missed_pagination_recurs_across_web_domains_and_weeks(corpus):
    _, _, _, trajectories = corpus
    hits = [(t, r) for t, tr, r in trajectories if missed_pagination(t, tr)]
    assert {t.domain for t, _ in hits} == WEB
    assert len({r.name for _, r in hits}) >= 4


def test_wrong_identifier_in_every_web_domain(corpus):
    _, _, _, trajectories = corpus
    web = [(t, tr, r) for t, tr, r in trajectories if t.domain in WEB]
    assert by_domain(web, lambda t, tr, r: wrong_identifier(t, tr)) == WEB


def test_premature_no_results(corpus):
    _, _, _, trajectories = corpus
    assert by_domain(trajectories, lambda t, tr, r: premature_no_results(t, tr)) == WEB
    # the repository version: a grep finds nothing and an empty patch is submitted
    assert any(t.domain == "swe" and failed(tr) and t.final_answer == "" and
               not any("sed -i" in a for a in actions(t)) for t, tr, _ in trajectories)


def test_loops(corpus):
    _, _, _, trajectories = corpus
    looping = by_domain(trajectories, lambda t, tr, r: failed(tr) and has_repeat(t) and not step_limited(t, r))
    assert len(looping) >= 4 and "swe" in looping


def test_step_limit_reached_without_an_answer(corpus):
    _, _, _, trajectories = corpus
    limited = [(t, tr) for t, tr, r in trajectories if step_limited(t, r)]
    assert {t.domain for t, _ in limited} >= {"shopping", "forge", "swe"}
    assert all(failed(tr) for _, tr in limited)


def test_refusals_and_empty_answers(corpus):
    _, _, _, trajectories = corpus
    web = [(t, tr) for t, tr, _ in trajectories if t.domain in WEB]
    assert any(failed(tr) and REFUSAL.search(t.final_answer or "") for t, tr in web)
    assert any(failed(tr) and t.final_answer == "" for t, tr in web)


def test_multi_trial_tasks_for_matts(corpus):
    _, _, runs, trajectories = corpus
    matts = [r for r in runs.values() if r.matts_mode == "parallel"]
    assert len(matts) == 1 and matts[0].matts_k == 3
    outcomes = defaultdict(dict)
    for traj, truth, run in trajectories:
        if run.run_id == matts[0].run_id:
            outcomes[traj.task_id][traj.trial] = truth.success
    full = {task: o for task, o in outcomes.items() if set(o) == {0, 1, 2}}
    assert len(full) >= 8
    assert sum(1 for o in full.values() if len(set(o.values())) == 2) >= 5  # successes and failures of one task
    assert any(all(o.values()) for o in full.values())


# ---------------------------------------------------------------------- untrusted text
def test_one_or_two_prompt_injections_one_resisted_one_obeyed(corpus):
    _, _, _, trajectories = corpus
    carrying = [(t, tr) for t, tr, _ in trajectories if any(INJECTION.search(o) for o in observations(t))]
    assert 1 <= len(carrying) <= 2
    assert {tr.success for _, tr in carrying} == {True, False}
    for traj, truth in carrying:
        at = next(i for i, o in enumerate(observations(traj)) if INJECTION.search(o))
        demanded = re.findall(r"r/\w+|\d{4} \d{4} \d{4} \d{4}", traj.steps[at].observation)
        obeyed = any(d in a for d in demanded for a in actions(traj)[at + 1:])
        assert obeyed == (truth.success is False), traj.task_id


def test_html_and_script_payloads_in_observations_and_answers(corpus):
    _, _, _, trajectories = corpus
    seen = " ".join(o for t, _, _ in trajectories for o in observations(t))
    answers = " ".join(t.final_answer or "" for t, _, _ in trajectories)
    assert "<script>alert(1)</script>" in seen and "<img src=x onerror=alert(1)>" in seen
    assert "<script>" in answers and "onerror=" in answers
    assert len({t.domain for t, _, _ in trajectories if "onerror=" in " ".join(observations(t))}) >= 2


# ---------------------------------------------------------------------- what fools a heuristic judge
def test_signals_that_mislead_a_heuristic_judge(corpus):
    _, _, _, trajectories = corpus

    def clean_looking(t, r) -> bool:
        return (bool(t.final_answer) and not REFUSAL.search(t.final_answer) and not step_limited(t, r)
                and not has_repeat(t) and not any(TOOL_ERROR.search(o) or NOTHING_FOUND.search(o)
                                                  for o in observations(t)))

    confident_but_wrong = [t for t, tr, r in trajectories if failed(tr) and clean_looking(t, r)]
    recovered_errors = [t for t, tr, _ in trajectories
                        if tr is not None and tr.success and any(TOOL_ERROR.search(o) for o in observations(t))]
    negative_but_right = [t for t, tr, _ in trajectories
                          if tr is not None and tr.success and (t.final_answer or "").startswith("No")]
    benign_repeats = [t for t, tr, _ in trajectories if tr is not None and tr.success and has_repeat(t)]
    assert len(confident_but_wrong) >= 20 and len({t.domain for t in confident_but_wrong}) == 5
    assert {t.domain for t in recovered_errors} >= {"admin", "forge", "forum", "swe"}
    assert negative_but_right and benign_repeats


def test_truth_is_unknown_on_a_handful(corpus):
    _, _, _, trajectories = corpus
    unknown = [t for t, tr, _ in trajectories if tr is None]
    assert 3 <= len(unknown) <= 12
    assert len({t.domain for t in unknown}) >= 3
