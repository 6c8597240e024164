"""`hpsearch report`: arguments, default storage, and errors for people."""

import argparse
from pathlib import Path

import pytest

from hpsearch.commands import report
from hpsearch.errors import HpsearchError
from report_fakes import build_study


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


def test_the_only_study_needs_no_name(journal_study, tmp_path, capsys):
    path, name = journal_study  # tmp_path/studies/cpu-demo.journal
    assert report.run(parse("--out", str(tmp_path))) == 0
    assert (tmp_path / "reports" / name / "report.html").is_file()
    assert f"study cpu-demo: read {Path(path).resolve()}" in capsys.readouterr().out
    assert report.run(parse("--storage", path, "--out", str(tmp_path / "other"))) == 0  # its only study
    assert (tmp_path / "other" / "reports" / name / "report.html").is_file()


def test_several_studies_are_listed_and_none_is_chosen(journal_study, tmp_path, capsys):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from hpsearch.cli import main

    path, _ = journal_study
    build_study("gpu-demo", JournalStorage(JournalFileBackend(str(tmp_path / "studies" / "gpu-demo.journal"))))
    for command in (["report"], ["confirm"], ["export", "--to", str(tmp_path / "m.keras")]):
        assert main([*command, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "holds 2 studies: cpu-demo (cpu-demo.journal), gpu-demo (gpu-demo.journal); pass one" in err
    build_study("second", JournalStorage(JournalFileBackend(path)))
    with pytest.raises(HpsearchError, match="holds 2 studies: cpu-demo, second; pass one with --study-name"):
        report.run(parse("--storage", path, "--out", str(tmp_path)))
    assert not (tmp_path / "reports").exists()


def test_no_study_under_out_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HpsearchError, match="no study in studies/"):
        report.run(parse())
