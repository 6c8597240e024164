"""One path rule: ROOT/studies/<safe name>.journal and ROOT/reports/<safe name>/, one safe name for both."""

from pathlib import Path

import pytest

from hpsearch.record.paths import MAX_NAME, journal_path, run_dir, safe_name, study_report_dir, tuner_dir


@pytest.mark.parametrize("name", ["a/b", "cpu-demo", "my study/../x", "<b>", "x" * 300, ""])
def test_a_study_s_journal_and_report_folder_share_its_safe_name(tmp_path, name):
    journal, reports = journal_path(tmp_path, name), study_report_dir(tmp_path, name)
    assert journal == tmp_path / "studies" / f"{safe_name(name)}.journal"
    assert reports == tmp_path / "reports" / safe_name(name)
    assert journal.stem == reports.name


def test_plain_names_stay_and_changed_names_get_a_hash():
    assert safe_name("default-cpu") == "default-cpu"
    assert safe_name("a/b").startswith("a_b-") and safe_name("a/b") != safe_name("a_b")
    assert len({safe_name(n) for n in ["a/b", "a_b", "a:b", "../a_b", "<a_b>"]}) == 5


def test_long_names_are_shortened_and_stay_distinct():
    a, b = "x" * 200 + "a", "x" * 200 + "b"
    assert len(safe_name(a)) <= MAX_NAME + 9 and safe_name(a) != safe_name(b)


@pytest.mark.parametrize("name", ["../../etc", "..", ".", "/abs/path", "a/b\\c"])
def test_names_never_leave_the_root(tmp_path, name):
    for folder in (study_report_dir(tmp_path, name), run_dir(tmp_path, name)):
        assert folder.resolve().parent == (tmp_path / "reports").resolve()
    assert journal_path(tmp_path, name).resolve().parent == (tmp_path / "studies").resolve()


def test_everything_of_a_root_lives_under_it():
    root = Path("some/root")
    assert tuner_dir(root) == root / "studies" / "keras_tuner"
    assert run_dir(root, "baseline-cpu") == root / "reports" / "baseline-cpu"
