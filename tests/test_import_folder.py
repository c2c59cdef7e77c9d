"""A folder of run files imports as one run per file, all landing together or not at all."""

from __future__ import annotations

import pytest

from bankcore import Bank
from bankcore.errors import InputError
from conftest import REFLEXION, REFLEXION_BASE, need_shared
from test_bad_input import GOOD, bank_content, write_jsonl


def run_folder(tmp_path, *, second=None):
    """Two numbered run files and the kind of company data folders keep (a README, a script, a hidden file)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "01-week1.jsonl", [{"type": "run", "name": "week 1"}, *GOOD[:3]])
    write_jsonl(folder / "02-week2.jsonl", second or [{"type": "run", "name": "week 2"}, *GOOD[3:]])
    (folder / "README.md").write_text("# notes, not trajectories\n")
    (folder / "make_runs.py").write_text("print('not data')\n")
    (folder / ".draft.jsonl").write_text("{not json\n")
    return folder


def test_each_run_file_becomes_its_own_run_in_name_order(bank, tmp_path):
    report = bank.import_path(run_folder(tmp_path))
    assert [run.name for run in bank.store.list_runs()] == ["week 1", "week 2"]
    assert [(part.path.rsplit("/", 1)[1], part.added) for part in report.parts] == [
        ("01-week1.jsonl", 3), ("02-week2.jsonl", 3)]
    assert (report.read, report.added, report.format) == (6, 6, "native")
    assert "2 run files, read 6 trajectories, added 6" in report.summary()
    seqs = [traj.seq for traj in bank.store.iter_trajectories()]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6  # week 1's trajectories arrive before week 2's


def test_importing_the_folder_again_adds_nothing(bank, tmp_path):
    folder = run_folder(tmp_path)
    bank.import_path(folder)
    again = bank.import_path(folder)
    assert (again.added, again.duplicates) == (0, 6)
    assert len(bank.store.list_runs()) == 2


def test_a_bad_line_in_any_file_leaves_the_bank_as_it_was(tmp_path, db):
    bank = Bank(db)
    bank.import_path(write_jsonl(tmp_path / "seed.jsonl", [dict(GOOD[0], task_id="seed")]))
    before = bank_content(bank, tmp_path)
    folder = run_folder(tmp_path, second=[GOOD[3], b'{"query": "cut off', GOOD[4]])
    with pytest.raises(InputError) as err:
        bank.import_path(folder)
    assert str(err.value).startswith(f"{folder / '02-week2.jsonl'}:2:")
    assert bank_content(bank, tmp_path) == before  # week 1 was fine, but it did not land either


def test_skip_bad_lands_the_good_lines_of_every_file(bank, tmp_path):
    report = bank.import_path(run_folder(tmp_path, second=[GOOD[3], b"{oops\n", GOOD[4]]), skip_bad=True)
    assert (report.added, len(report.bad)) == (5, 1) and "02-week2.jsonl:2:" in report.bad[0]


def test_cli_refuses_one_run_name_for_many_files_and_explains_empty_folders(bank, tmp_path, cli):
    folder = run_folder(tmp_path)
    named = cli("import", folder, "--run", "mine", "--db", bank.path)
    assert named.code == 1 and "--run names one run, but this folder holds 2 run files" in named.err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("nothing here\n")
    result = cli("import", empty, "--db", bank.path)
    assert result.code == 1 and f"{empty}: folder holds no trajectory files" in result.err
    assert bank.store.count("trajectories") == 0


def test_learn_judges_and_extracts_every_file_of_the_folder(bank, tmp_path):
    report = bank.learn(run_folder(tmp_path), judge="heuristic")
    assert report.imported.added == 6
    assert report.judged.done == 6 and len(bank.store.current_verdicts()) == 6


def test_the_shared_reflexion_folder_imports_both_logs(bank):
    need_shared(REFLEXION, REFLEXION_BASE)
    report = bank.import_path(REFLEXION.parent)  # also holds a LICENSE file, which is left alone
    assert [(part.path, part.added) for part in report.parts] == [(str(REFLEXION_BASE), 500), (str(REFLEXION), 498)]
    assert [run.source_format for run in bank.store.list_runs()] == ["reflexion", "reflexion"]


def test_separate_imports_never_share_an_arrival_position(bank, tmp_path):
    bank.import_path(write_jsonl(tmp_path / "a.jsonl", GOOD[:3]))
    bank.import_path(write_jsonl(tmp_path / "b.jsonl", GOOD[3:]))
    seqs = [traj.seq for traj in bank.store.iter_trajectories()]
    assert len(set(seqs)) == 6 and seqs == sorted(seqs)
