"""`report` and `confirm` only read: a storage that holds no such study is left exactly as it was (no tables,
no journal, no folder), and the message says what to do."""

import sqlite3

import pytest

from hpsearch.cli import main
from hpsearch.record import storage
from tests.report.report_fakes import build_study


def _sqlite_with_other_tables(path):
    connection = sqlite3.connect(path)
    connection.execute("create table notes (text)")
    connection.commit()
    connection.close()


def _names(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != "keras-home")  # conftest's KERAS_HOME


@pytest.mark.parametrize("command", ["report", "confirm"])
@pytest.mark.parametrize("make", [lambda p: p.write_bytes(b""), _sqlite_with_other_tables])
def test_a_database_without_studies_stays_byte_identical(command, make, tmp_path, capsys):
    db = tmp_path / "some.db"
    make(db)
    before = db.read_bytes()
    assert main([command, "--study-name", "s", "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "out")]) == 2
    assert "holds no Optuna studies" in capsys.readouterr().err
    assert db.read_bytes() == before and _names(tmp_path) == ["some.db"]


@pytest.mark.parametrize("command", ["report", "confirm"])
def test_missing_storages_are_not_created(command, tmp_path, capsys):
    out = tmp_path / "out"
    for where in (f"sqlite:///{tmp_path / 'none.db'}", str(tmp_path / "j" / "none.journal")):
        assert main([command, "--study-name", "s", "--storage", where, "--out", str(out)]) == 2
    assert main([command, "--study-name", "s", "--out", str(out)]) == 2  # the default journal
    assert capsys.readouterr().err.count("does not exist") == 3
    assert _names(tmp_path) == []


@pytest.mark.parametrize("url", ["journal", "sqlite"])
@pytest.mark.parametrize("command", ["report", "confirm"])
def test_a_storage_without_that_study_lists_the_others_and_is_left_alone(url, command, tmp_path, capsys):
    where = str(tmp_path / "a.journal") if url == "journal" else f"sqlite:///{tmp_path / 'a.db'}"
    build_study("other", storage.open_storage(where), n_trials=3)
    file = tmp_path / ("a.journal" if url == "journal" else "a.db")
    before = file.read_bytes()
    assert main([command, "--study-name", "s", "--storage", where, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no study named 's'" in err and "studies there: 'other'" in err
    assert file.read_bytes() == before and not (tmp_path / "out").exists()


def test_reading_an_existing_sqlite_study_works(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    build_study("s", storage.open_storage(url), n_trials=3)
    assert main(["report", "--study-name", "s", "--storage", url, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "reports" / "s" / "trials.csv").is_file()
