"""One path rule: ROOT/studies/<safe name>.journal and ROOT/reports/<safe name>/, one safe name for both."""

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=100), min_size=2, max_size=6, unique=True))
def test_name_to_file_is_injective_and_safe(names):
    """Generated names (any text, with the ones a hash could be mistaken for): different names, different files."""
    names = names + [safe_name(n) for n in names]  # a name that is another's safe name must not collide with it
    names = list(dict.fromkeys(names))
    safe = [safe_name(n) for n in names]
    assert len(set(safe)) == len(names), list(zip(names, safe))
    for s in safe:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,89}", s) and s not in (".", "..") and not s.startswith(".")


def test_a_name_shaped_like_a_hashed_one_is_hashed_too():
    changed = safe_name("a b")
    assert changed.startswith("a_b-") and safe_name(changed) != changed
    assert safe_name("run-2026120") == "run-2026120" and safe_name("run-deadbeef") != "run-deadbeef"


def test_a_study_never_writes_over_a_baseline_run_of_the_same_name(tmp_path):
    from hpsearch.errors import HpsearchError
    from hpsearch.report import write_study_reports
    from tests.report.report_fakes import build_study

    run = run_dir(tmp_path, "same")
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "report.html").write_text("the run's page")
    with pytest.raises(HpsearchError, match="is a baseline run's folder"):
        write_study_reports(build_study("same", n_trials=3), "same", tmp_path)
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json", "report.html"]
    assert (run / "report.html").read_text() == "the run's page"
