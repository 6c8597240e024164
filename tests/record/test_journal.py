"""Journal integrity: a torn last record (made by truncating a real journal) is set aside and nothing finished
is lost; a journal that cannot be decoded is one line naming the file, the line and the fix."""

import sqlite3

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.cli import main
from hpsearch.record import storage
from tests.report.report_fakes import build_study


def _real_journal(tmp_path, n_trials=6):
    path = tmp_path / "studies" / "s.journal"
    build_study("s", storage.open_storage(path), n_trials=n_trials)
    return path


def _complete(path):
    study = optuna.load_study(study_name="s", storage=storage.open_storage(path))
    return [(t.number, t.values) for t in study.trials if t.state == TrialState.COMPLETE]


def test_a_torn_tail_is_set_aside_and_every_finished_trial_kept(tmp_path, capsys):
    path = _real_journal(tmp_path)
    before = _complete(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])  # a crash mid-write: the last record lacks its end
    capsys.readouterr()
    study = optuna.load_study(study_name="s", storage=storage.open_storage(path))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torn" in err[0] and f"{path}.torn" in err[0]
    last_record = whole[whole.rstrip(b"\n").rfind(b"\n") + 1 :]
    assert (tmp_path / "studies" / "s.journal.torn").read_bytes() == last_record[:-40] + b"\n"
    study.enqueue_trial({})  # appending after the repair keeps the journal readable
    study.tell(study.ask(), 0.5)
    after = _complete(path)
    assert after[: len(before) - 1] == before[: len(before) - 1] and after[-1][1] == [0.5]
    assert path.read_bytes().endswith(b"\n")


def test_without_the_repair_optuna_loses_the_whole_journal(tmp_path):
    """What the repair prevents: Optuna appends onto the torn line, and every later read fails."""
    path = _real_journal(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    plain = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.load_study(study_name="s", storage=plain)
    study.set_user_attr("x", 1)  # appended onto the torn line
    with pytest.raises(ValueError):  # the next read (before any write) fails, and stays failing
        study.set_user_attr("y", 2)


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path, capsys):
    path = _real_journal(tmp_path)
    before = _complete(path)
    path.write_bytes(path.read_bytes()[:-1])
    assert _complete(path) == before
    assert "nothing was lost" in capsys.readouterr().err and not (tmp_path / "studies" / "s.journal.torn").exists()


def test_report_repairs_a_torn_journal_and_writes(tmp_path, capsys):
    path = _real_journal(tmp_path)
    path.write_bytes(path.read_bytes()[:-25])
    assert main(["report", "--study-name", "s", "--storage", str(path), "--out", str(tmp_path)]) == 0
    assert "torn" in capsys.readouterr().err
    assert (tmp_path / "reports" / "s" / "trials.csv").is_file()


def test_a_broken_record_inside_the_journal_is_one_line_naming_file_and_line(tmp_path, capsys):
    path = _real_journal(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3][:20] + lines[4]  # a torn record with the next one appended (old damage)
    path.write_bytes(b"".join(lines))
    assert main(["report", "--study-name", "s", "--storage", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and "line 4" in err and "head -n 3" in err
    assert not (tmp_path / "reports").exists()


def test_a_text_file_as_storage_is_named_not_a_journal(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nabout the study\n")
    assert main(["report", "--study-name", "s", "--storage", str(notes), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not an Optuna journal file" in err and "line 1" in err
    assert notes.read_text() == "my notes\nabout the study\n"


def test_an_sqlite_file_as_journal_path_says_which_url_to_pass(tmp_path, capsys):
    db = tmp_path / "hp.db"
    sqlite3.connect(db).execute("create table t (x)").connection.commit()
    assert main(["report", "--study-name", "s", "--storage", str(db), "--out", str(tmp_path)]) == 2
    assert f"pass --storage sqlite:///{db}" in capsys.readouterr().err


def test_a_text_file_without_a_final_newline_is_never_cut(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two, no newline")
    for command in (["study", "--profile", "smoke", "--trials", "1"], ["report", "--study-name", "s"]):
        assert main([*command, "--storage", str(notes), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("is not an Optuna journal file") == 2
    assert notes.read_text() == "line one\nline two, no newline" and not (tmp_path / "notes.txt.torn").exists()


def test_a_journal_whose_only_record_is_torn_is_emptied_not_refused(tmp_path):
    path = tmp_path / "s.journal"
    path.write_bytes(b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1')
    opened = storage.open_storage(path)
    assert optuna.get_all_study_names(opened) == [] and path.read_bytes() == b""
    assert (tmp_path / "s.journal.torn").read_bytes().startswith(b'{"op_code":0')
