"""`bankcore demo`: the demo bank built from data/demo through the real pipeline, with the LLM judge and extractor
answered from the recording. Every property is read back from the built bank."""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from bankcore import Bank, demo
from bankcore.errors import BankcoreError
from bankcore.guard import FLAG as INJECTION_FLAG
from bankcore.learn.queues import FLAG_SOURCE_REJUDGED
from bankcore.read.views import describe_backend

WEB = {"shopping", "admin", "forge", "forum"}
INJECTED_TASKS = {"frm-407", "adm-204"}  # the corpus's two trajectories carrying a prompt injection

pytestmark = pytest.mark.skipif(not demo.run_files(), reason="no demo corpus in data/demo")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    lines: list[str] = []
    return demo.build(path, say=lines.append), lines


def _parents(bank: Bank) -> dict[int, list[int]]:
    return {e.item_id: e.related["parents"] for e in bank.store.events_of_kind(["MERGE"])}


def _generations(item_id: int, parents: dict[int, list[int]]) -> int:
    return 1 + max((_generations(p, parents) for p in parents[item_id]), default=0) if item_id in parents else 0


def test_same_corpus_and_recording_give_the_same_bank(built, tmp_path):
    bank, _ = built
    again = demo.build(tmp_path / "again.duckdb")
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    bank.export(first)
    again.export(second)
    assert len(first.read_text(encoding="utf-8").splitlines()) > 2000
    assert first.read_bytes() == second.read_bytes()  # byte for byte: ids, times, batch ids, vectors


def test_the_build_reports_what_it_made(built):
    bank, lines = built
    counts = bank.store.table_counts()
    assert (counts["runs"], counts["trajectories"]) == (8, 200)
    assert f"{counts['memory_items']} memory items, {counts['memory_events']} events" in lines[-1]
    assert not bank.path.with_name(bank.path.name + ".building").exists()


def test_every_vector_of_the_build_comes_from_the_recording(built):
    """data/demo/recording/vectors.npz covers the corpus: a build computes no vector (a changed corpus or extractor
    needs `python data/demo/make_vectors.py`), and the bank says where its vectors came from."""
    bank, lines = built
    assert lines[-2].startswith("vectors: ") and lines[-2].endswith(" from the recording, 0 computed")
    assert bank.store.get_setting("demo")["vectors"] == "data/demo/recording/vectors.npz"


def test_the_whole_pipeline_keeps_the_history_consistent(built):
    """Import, judging, extraction, reinforcement, merges, edits, relabels, contrast and archiving all went
    through the event log: the audit finds every item to be the last state of its history."""
    bank, _ = built
    report = bank.check()
    assert report.ok, report.summary()
    assert report.items == bank.store.count("memory_items") > 200


def test_merged_lessons_merge_again(built):
    bank, _ = built
    parents = _parents(bank)
    deepest = max(_generations(i, parents) for i in parents)
    assert deepest >= 2  # an item whose parent is itself merged
    rounds = {e.batch_id for e in bank.store.events_of_kind(["MERGE"])}
    assert len(rounds) == 3  # after weeks 2, 4 and 5, at the policy's default threshold
    assert bank.policy().merge_threshold == 0.85


def test_the_reviewer_rewrote_a_merged_checklist_that_then_merged_again(built):
    bank, _ = built
    parents = _parents(bank)
    edits = [e for e in bank.store.events_of_kind(["EDIT"]) if e.actor == demo.REVIEWER]
    assert edits
    for edit in edits:
        item = bank.item(edit.item_id)
        assert item.source == "merged" and "cross" in edit.after["title"].lower()
        assert item.status == "superseded" and _generations(item.superseded_by, parents) >= 2


def test_lessons_from_successes_and_failures_in_every_web_domain(built):
    bank, _ = built
    seen = defaultdict(set)
    for item in bank.store.query_items(source=["success", "failure"]):
        seen[item.domain].add(item.source)
    for domain in WEB | {"swe"}:
        assert seen[domain] == {"success", "failure"}, domain


def test_injection_lessons_are_flagged_and_only_those(built):
    bank, _ = built
    flagged = [i for i in bank.store.query_items() if INJECTION_FLAG in i.flags]
    assert flagged
    tasks = {bank.trajectory(s.traj_id).task_id for i in flagged for s in bank.store.item_sources(i.item_id)}
    assert tasks == INJECTED_TASKS
    assert all(i.status == "rejected" for i in flagged)  # the reviewer read and rejected each one
    own_words = [i for i in flagged if any("reads like an order" in r or "word for word" in r
                                           for r in i.meta.get("injection_reasons", []))]
    assert own_words  # at least one lesson repeats or quotes the injected instruction itself


def test_a_judge_error_relabelled_by_the_reviewer_flags_its_lessons(built):
    bank, _ = built
    (event,) = bank.store.events_of_kind(["SOURCE_REJUDGED"])
    assert event.actor == demo.REVIEWER and FLAG_SOURCE_REJUDGED in bank.item(event.item_id).flags
    assert (event.before["status"], bank.item(event.item_id).status) == ("approved", "pending")  # back for review
    traj_id = event.related["traj_id"]
    verdicts = bank.verdicts(traj_id)
    assert [v.judge_id for v in verdicts] == ["llm:demo-recording", demo.REVIEWER]
    truth = bank.truth(traj_id)
    assert verdicts[-1].label == ("success" if truth.success else "failure") != verdicts[0].label
    # ...and the trajectory was distilled again under the corrected label
    labels = {bank.item(i).source for i in bank.store.items_from_trajectories([traj_id])[traj_id]}
    assert labels == {"success", "failure"}


def test_the_judge_agrees_with_the_truth_about_85_percent(built):
    bank, _ = built
    agree = total = 0
    for verdict in bank.store.iter_verdicts():
        truth = bank.truth(verdict.traj_id)
        if verdict.judge_id.startswith("llm:") and truth is not None and truth.success is not None:
            total += 1
            agree += verdict.label == ("success" if truth.success else "failure")
    assert total == 193 and 0.82 <= agree / total <= 0.88


def test_the_review_queue_has_work(built):
    bank, _ = built
    queue, total = bank.store.review_queue(which="pending")
    assert total > 0 and all(i.status == "pending" for i in queue)
    last_run = bank.store.list_runs()[-1]
    newest = [i for i in bank.store.query_items() if i.created_at >= last_run.started_at]
    assert newest and all(i.status == "pending" for i in newest)  # the last week was distilled, left untriaged
    assert bank.contradictions()  # a backwards lesson from a judge error contradicts the bank


def test_matts_picks_the_best_trial_and_distils_contrast_lessons(built):
    bank, _ = built
    (matts,) = [r for r in bank.store.list_runs() if r.matts_mode == "parallel"]
    selections = bank.store.selections(selector_id="llm:demo-recording")
    assert len(selections) == 10 and {s.run_id for s in selections} == {matts.run_id}
    picked_well = sum(bank.truth(s.chosen_traj_id).success for s in selections)
    assert 7 <= picked_well < 10  # best-of-N beats a random trial, and is fooled once
    contrast = bank.store.query_items(source=["contrast"])
    assert len(contrast) >= 5 and all(i.extractor_id == "llm:demo-recording" for i in contrast)
    for item in contrast:  # provenance: every trial of its group
        sources = bank.store.item_sources(item.item_id)
        assert {s.relation for s in sources} == {"contrast"} and len(sources) == 3


def test_memory_on_runs_logged_what_the_agent_was_told(built):
    bank, _ = built
    logged = defaultdict(int)
    for retrieval in bank.store.iter_retrievals():
        logged[retrieval.run_id] += retrieval.traj_id is not None
    for run in bank.store.list_runs():
        if run.memory_mode == "reasoningbank":
            assert logged[run.run_id] > 0, run.name
        else:
            assert logged[run.run_id] == 0, run.name


def test_everything_says_who_made_it_and_no_model_was_called(built):
    bank, _ = built
    makers = ("llm:demo-recording", "heuristic", "human:")
    for item in bank.store.query_items():
        assert item.extractor_id.startswith(makers), item.extractor_id
        assert "task_specific" not in item.flags
    assert {v.judge_id for v in bank.store.iter_verdicts()} == {"llm:demo-recording", demo.REVIEWER}
    calls = list(bank.store.iter_llm_calls())
    assert calls and all(c.model == "demo-recording" and c.latency_ms == 0 and c.error is None
                         and c.base_url == "recording:llm_recording.jsonl" for c in calls)
    setting = bank.store.get_setting("demo")
    assert "no model was called" in setting["note"] and setting["judge"] == "llm:demo-recording"
    backend = describe_backend(bank.settings.__class__(), bank.store.judge_usage(), bank.store.extractor_usage())
    assert backend["llm"].startswith("Recorded replies (demo), no model called")


def test_a_recording_that_cannot_answer_stops_the_build(tmp_path):
    corpus = tmp_path / "demo"
    (corpus / "recording").mkdir(parents=True)
    first = demo.run_files()[0]
    shutil.copy(first, corpus / first.name)
    lines = (demo.DEMO_DIR / demo.RECORDING).read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if '"task_id": "shop-101"' not in line]
    (corpus / demo.RECORDING).write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(BankcoreError, match="could not answer every call.*no recorded judge reply.*shop-101"):
        demo.build(tmp_path / "bank.duckdb", corpus=corpus)
    assert not (tmp_path / "bank.duckdb").exists()
