"""Harbor job folders: a job is one run, each trial's ATIF trajectory one record with its verifier reward as truth;
trials without a trajectory or a result are left out and counted; a malformed result.json is one located line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bankcore import Bank
from bankcore.learn.importers import detect, harbor, run_files
from format_samples import DATA, HARBOR_TRIAL, all_text, one_line_error, write_json

JOB = DATA / "harbor" / "2025-11-04__09-30-00"
NO_TRAJECTORY_TRIAL = "fix-permissions__Wn5Yx1c"


def by_trial(bank) -> dict[str, tuple]:
    return {t.meta["harbor_trial"]: (t, truth) for t, truth in bank.store.iter_trajectories(with_truth=True)}


def copy_job(tmp_path: Path, name: str = JOB.name) -> Path:
    return Path(shutil.copytree(JOB, tmp_path / "jobs" / name))


def edit_result(job: Path, trial: str, change) -> Path:
    path = job / trial / "result.json"
    data = json.loads(path.read_text())
    change(data)
    return write_json(path, data)


def test_job_folder_is_detected_and_lands_as_one_run(bank):
    assert detect(JOB) == "atif" and run_files(JOB) == [JOB]
    report = bank.import_path(JOB)
    assert (report.format, report.read, report.added, report.bad) == ("atif", 3, 3, [])
    assert report.skipped == {harbor.NO_TRAJECTORY: 1}
    [run] = bank.store.list_runs()
    config = json.loads((JOB / "config.json").read_text())
    assert run.name == config["job_name"] == JOB.name
    assert run.agent_model == config["agents"][0]["model_name"]
    assert run.meta["harbor"]["n_attempts"] == 2 and run.meta["harbor"]["n_total_trials"] == 4
    assert run.meta["harbor"]["trials_left_out"] == [NO_TRAJECTORY_TRIAL]
    assert bank.import_path(JOB).added == 0  # importing the job again adds nothing


def test_rewards_are_truth_attempts_are_numbered_and_usage_is_kept(bank):
    bank.import_path(JOB)
    trials = by_trial(bank)
    assert set(trials) == {"hello-world__Ab3dE9x", "hello-world__Qz7Lm2p", "fix-permissions__Kp4Rt8s"}
    for name, (traj, truth) in trials.items():
        result = json.loads((JOB / name / "result.json").read_text())
        reward = result["verifier_result"]["rewards"]["reward"]
        assert traj.task_id == result["task_name"]
        assert (truth.success, truth.reward, truth.source) == (reward >= 1.0, reward, "harbor verifier reward")
        assert truth.details["rewards"] == result["verifier_result"]["rewards"]
        text = all_text(traj)
        assert "verifier_result" not in text and "rewards" not in text and "reward.txt" not in text
        usage = result["agent_result"]
        assert traj.meta["usage"] == {"input_tokens": usage["n_input_tokens"],
                                      "cached_tokens": usage["n_cache_tokens"],
                                      "output_tokens": usage["n_output_tokens"]}
        assert traj.meta["cost_usd"] == usage["cost_usd"] and traj.meta["harbor_trial_id"] == result["id"]
        steps = json.loads((JOB / name / "agent" / "trajectory.json").read_text())["steps"]
        assert traj.num_steps == sum(s["source"] == "agent" for s in steps)
    # two attempts at hello-world, numbered by start time; fix-permissions' only trajectory is attempt 1
    assert [trials[n][0].trial for n in ("hello-world__Ab3dE9x", "hello-world__Qz7Lm2p")] == [1, 2]
    timed_out, _ = trials["fix-permissions__Kp4Rt8s"]
    assert timed_out.trial == 1
    assert timed_out.meta["harbor_exception"] == "AgentTimeoutError: Agent execution timed out after 900.0 seconds"


def test_format_atif_on_the_job_folder_from_the_cli(cli, db):
    result = cli("import", JOB, "--db", db, "--format", "atif")
    assert result.code == 0, result.err
    assert "read 3 trajectories (atif), added 3" in result.out
    assert f"left out 1 {harbor.NO_TRAJECTORY}" in result.out


def test_trial_without_result_is_left_out_as_unfinished(bank, tmp_path):
    job = copy_job(tmp_path)
    (job / "hello-world__Qz7Lm2p" / "result.json").unlink()  # still running, or killed: config.json and agent/ only
    report = bank.import_path(job)
    assert report.read == 2
    assert report.skipped == {harbor.UNFINISHED: 1, harbor.NO_TRAJECTORY: 1}
    # the attempt numbers come from the trials that finished
    assert by_trial(bank)["hello-world__Ab3dE9x"][0].trial == 1


@pytest.mark.parametrize("change, field", [
    (lambda r: r["verifier_result"]["rewards"].update(reward="0.0"), "verifier_result.rewards.reward"),
    (lambda r: r.pop("task_name"), "task_name"),
    (lambda r: r["agent_result"].update(n_input_tokens="many"), "agent_result.n_input_tokens"),
    (lambda r: r.update(exception_info={"exception_message": "boom"}), "exception_info.exception_type"),
    (lambda r: r.update(started_at="yesterday"), "started_at"),
    (lambda r: r["agent_info"].update(model_info=["gpt-5-mini"]), "agent_info.model_info"),
])
def test_malformed_result_names_file_and_field_and_nothing_lands(cli, db, tmp_path, change, field):
    job = copy_job(tmp_path)
    path = edit_result(job, "hello-world__Qz7Lm2p", change)
    one_line_error(cli("import", job, "--db", db), f"{path}: field '{field}'")
    assert Bank(db).store.count("trajectories") == 0


def test_skip_bad_imports_the_other_trials_and_reports_the_bad_one(cli, db, tmp_path):
    job = copy_job(tmp_path)
    path = job / "hello-world__Qz7Lm2p" / "result.json"
    path.write_text(path.read_text()[:200])
    one_line_error(cli("import", job, "--db", db), f"{path}:5:", "not valid JSON")
    result = cli("import", job, "--db", db, "--skip-bad")
    assert result.code == 3
    assert str(path) in result.out + result.err and "read 2 trajectories" in result.out
    trials = by_trial(Bank(db))
    assert set(trials) == {"hello-world__Ab3dE9x", "fix-permissions__Kp4Rt8s"}


def test_bad_trajectory_in_a_trial_is_located_by_its_file(cli, db, tmp_path):
    job = copy_job(tmp_path)
    path = job / "hello-world__Ab3dE9x" / "agent" / "trajectory.json"
    raw = json.loads(path.read_text())
    raw["steps"][2]["source"] = "robot"
    write_json(path, raw)
    one_line_error(cli("import", job, "--db", db), f"{path}:1: field 'steps[2].source'")


def test_exception_without_reward_scores_zero_and_several_unnamed_rewards_give_no_truth(bank, tmp_path):
    job = copy_job(tmp_path)
    edit_result(job, "fix-permissions__Kp4Rt8s", lambda r: r.update(verifier_result=None))
    edit_result(job, "hello-world__Qz7Lm2p",
                lambda r: r["verifier_result"].update(rewards={"tests_passed": 0.5, "style": 1}))
    edit_result(job, "hello-world__Ab3dE9x", lambda r: r["verifier_result"].update(rewards={"score": 1}))
    bank.import_path(job)
    trials = by_trial(bank)
    timed_out = trials["fix-permissions__Kp4Rt8s"][1]
    assert (timed_out.success, timed_out.reward) == (False, 0.0)  # as Harbor's mean counts it
    assert timed_out.details["exception"].startswith("AgentTimeoutError")
    assert trials["hello-world__Qz7Lm2p"][1] is None
    only = trials["hello-world__Ab3dE9x"][1]
    assert (only.success, only.reward) == (True, 1.0)


def test_one_trial_folder_and_a_folder_of_jobs(bank, tmp_path):
    job = copy_job(tmp_path)
    report = bank.import_path(job / "hello-world__Qz7Lm2p")
    assert (report.read, report.skipped) == (1, {})
    [run] = bank.store.list_runs()
    assert run.name == job.name  # the run is the job the trial belongs to
    copy_job(tmp_path, "2025-11-05__10-00-00")
    jobs = tmp_path / "jobs"
    assert run_files(jobs) == [jobs / "2025-11-04__09-30-00", jobs / "2025-11-05__10-00-00"]
    report = Bank(tmp_path / "other.duckdb").import_path(jobs)
    assert [p.read for p in report.parts] == [3, 3] and report.added == 6


def test_the_atif_sample_trial_folder_imports_with_its_reward(bank):
    assert detect(HARBOR_TRIAL) == "atif"
    report = bank.import_path(HARBOR_TRIAL)
    [(traj, truth)] = list(bank.store.iter_trajectories(with_truth=True))
    assert (report.read, traj.task_id, traj.trial, truth.reward) == (1, "hello-world", 1, 1.0)
    assert traj.meta["usage"]["cached_tokens"] == 3072


def test_a_folder_with_no_trials_is_refused_for_atif(cli, db, tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(cli("import", tmp_path / "empty", "--db", db, "--format", "atif"), "Harbor job")


def test_attempts_are_counted_per_agent_and_model(bank, tmp_path):
    job = copy_job(tmp_path)
    (job / "config.json").unlink()  # no job config: the run's model comes from the trials, when they agree
    edit_result(job, "hello-world__Qz7Lm2p", lambda r: r.update(agent_info={
        "name": "claude-code", "version": "2.0.1", "model_info": {"name": "claude-sonnet-4-5", "provider": "anthropic"}}))
    bank.import_path(job)
    trials = by_trial(bank)
    assert [trials[n][0].trial for n in ("hello-world__Ab3dE9x", "hello-world__Qz7Lm2p")] == [1, 1]
    [run] = bank.store.list_runs()
    assert run.name == job.name and run.agent_model is None  # two models ran in this job


def test_each_trial_left_out_is_named_on_its_own_line_up_to_twenty(cli, db, tmp_path):
    job = copy_job(tmp_path)
    (job / "hello-world__Qz7Lm2p" / "result.json").unlink()
    for n in range(24):  # 25 trials without a trajectory in all, and one unfinished
        shutil.copytree(job / NO_TRAJECTORY_TRIAL, job / f"fix-permissions__Extra{n:02d}")
    result = cli("import", job, "--db", db)
    assert result.code == 0, result.err
    listed = [line for line in result.out.splitlines() if line.startswith("  left out ")]
    assert len(listed) == 20 and result.out.splitlines()[-1] == "  … and 6 more"
    assert listed[0] == "  left out fix-permissions__Extra00: no agent/trajectory.json"
    report = Bank(db).import_path(job)  # again: nothing new, the same trials named
    assert sorted(report.left_out) == sorted(
        [f"fix-permissions__Extra{n:02d}: no agent/trajectory.json" for n in range(24)]
        + [f"{NO_TRAJECTORY_TRIAL}: no agent/trajectory.json", "hello-world__Qz7Lm2p: no result.json (unfinished)"])
    assert report.skipped == {harbor.UNFINISHED: 1, harbor.NO_TRAJECTORY: 25}
