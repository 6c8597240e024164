"""`hpsearch report`: arguments, default storage, and errors for people."""

import argparse

import pytest

from hpsearch.commands import report
from hpsearch.errors import HpsearchError


def parse(*argv):
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_writes_reports_from_a_journal(journal_study, tmp_path, capsys):
    path, name = journal_study
    assert report.run(parse("--storage", path, "--study-name", name, "--out", str(tmp_path / "out"))) == 0
    assert (tmp_path / "out" / "reports" / name / "report.html").is_file()
    out = capsys.readouterr().out
    assert "Top trials" in out and f"optuna-dashboard {path}" in out


def test_default_storage_is_the_study_commands_journal(journal_study, tmp_path, monkeypatch):
    path, name = journal_study
    monkeypatch.chdir(tmp_path)  # the fixture's journal is tmp_path/studies/cpu-demo.journal
    assert report.run(parse("--study-name", name)) == 0
    assert (tmp_path / "reports" / name / "trials.csv").is_file()


def test_unknown_study_names_the_ones_there(journal_study, tmp_path):
    path, _ = journal_study
    with pytest.raises(HpsearchError, match="studies there: 'cpu-demo'"):
        report.run(parse("--storage", path, "--study-name", "other", "--out", str(tmp_path)))


def test_no_storage_is_an_error_for_people(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HpsearchError, match="run `hpsearch study` first"):
        report.run(parse("--study-name", "never-run"))
    assert not (tmp_path / "studies").exists()
