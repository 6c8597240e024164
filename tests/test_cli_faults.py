"""Every command against bad input and unwritable output: one line, exit 2, before any training where it can be
told; user text printed literally; nothing finished lost; no empty folder left behind."""

import os

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch import baseline as baseline_module
from hpsearch.cli import main
from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.record import storage
from hpsearch.record.paths import journal_path, safe_name, study_report_dir
from tests.report.report_fakes import build_study


class ResourceExhaustedError(Exception):
    """Named as TensorFlow's out-of-memory error (matched by name: TensorFlow may not be loaded)."""


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpsearch: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "error, message",
    [
        (TrainingDiverged("loss is nan at epoch 2 (lr 0.5)"), "training diverged: loss is nan at epoch 2"),
        (MemoryError(), "out of memory"),
        (ResourceExhaustedError("OOM when allocating tensor with shape[100000,3,3,3]"), "out of memory: OOM when"),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8.00GiB"), "out of memory"),
    ],
)
def test_a_failed_baseline_is_one_line_and_leaves_no_folder(error, message, cifar_dir, tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(baseline_module, "train", fail)
    out = tmp_path / "out"
    assert main(["baseline", "--profile", "smoke", "--data-dir", str(cifar_dir), "--out", str(out), "--name", "r"]) == 2
    assert message in _one_line(capsys.readouterr().err)
    # neither reports/r/ nor reports/ is left behind; what stays is the TensorBoard log, which records the
    # failed run (HParams status FAILURE) on purpose
    assert not (out / "reports").exists()
    assert sorted(p.name for p in out.iterdir()) == ["tensorboard"] and any((out / "tensorboard" / "r").iterdir())


@pytest.mark.parametrize(
    "command",
    [
        ["baseline", "--profile", "smoke"],
        ["study", "--profile", "smoke", "--trials", "1"],
        ["report", "--study-name", "s"],
        ["confirm", "--study-name", "s", "--trial", "1"],
    ],
)
def test_an_unwritable_out_is_refused_before_anything_runs(command, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    if command[0] in ("report", "confirm"):  # a study to read, so that only --out is wrong
        build_study("s", storage.open_storage(tmp_path / "s.journal"), n_trials=3)
        command = [*command, "--storage", str(tmp_path / "s.journal")]
    if command[0] != "report":
        monkeypatch.setattr(f"hpsearch.commands.{command[0]}.load_cifar10", pytest.fail)  # never reached
    assert main([*command, "--out", str(blocker / "out")]) == 2
    assert "is a file, not a folder" in _one_line(capsys.readouterr().err)
    assert blocker.read_text() == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path, capsys):
    tmp_path.chmod(0o555)
    try:
        assert main(["baseline", "--profile", "smoke", "--out", str(tmp_path / "out")]) == 2
    finally:
        tmp_path.chmod(0o755)
    assert "is not writable" in _one_line(capsys.readouterr().err)


def test_a_study_whose_reports_cannot_be_written_keeps_its_trials_and_says_so(tmp_path, monkeypatch, capsys):
    from hpsearch.commands import study as command
    from hpsearch.search import optuna_engine
    from tests.search.test_optuna_engine import FakeTrain

    class BlockReports(FakeTrain):  # the output goes bad while trials train
        def __call__(self, *args, **kwargs):
            (tmp_path / "reports").write_text("not a folder")
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(optuna_engine, "train", BlockReports())
    monkeypatch.setattr(command, "load_cifar10", lambda data_dir: None)
    assert (
        main(
            ["study", "--profile", "smoke", "--trials", "2", "--out", str(tmp_path), "--study-name", "s", "--no-prune"]
        )
        == 2
    )
    line = _one_line(capsys.readouterr().err)
    assert "cannot write" in line and "the finished trials are kept in" in line and "hpsearch report" in line
    kept = optuna.load_study(study_name="s", storage=storage.open_storage(journal_path(tmp_path, "s")))
    assert [t.state for t in kept.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_rich_markup_in_names_and_paths_is_printed_literally(tmp_path, capsys):
    out = tmp_path / "runs[old]"
    build_study("x[/]", storage.open_storage(journal_path(out, "x[/]")), n_trials=3)
    assert main(["report", "--study-name", "x[/]", "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert f"wrote {study_report_dir(out, 'x[/]')}/" in printed and "runs[old]" in printed


@pytest.mark.parametrize("command", ["study", "report", "confirm"])
def test_an_empty_study_name_is_refused(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--study-name", " "])
    assert exit_.value.code == 2 and "a study name cannot be empty" in capsys.readouterr().err


def test_a_long_name_has_one_safe_name_for_its_journal_and_its_reports(tmp_path):
    name = "n" * 300
    build_study(name, storage.open_storage(journal_path(tmp_path, name)), n_trials=3)
    assert main(["report", "--study-name", name, "--out", str(tmp_path)]) == 0
    [journal] = (tmp_path / "studies").glob("*.journal")
    [folder] = [p for p in (tmp_path / "reports").iterdir()]
    assert journal.stem == folder.name == safe_name(name) and len(folder.name) < 100


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("error", ["ENOSPC", "EROFS", "EACCES"])
def test_a_report_rewrite_that_fails_keeps_every_previous_file_whole(error, tmp_path, monkeypatch, capsys):
    import errno

    from hpsearch import files

    journal = tmp_path / "s.journal"
    study = build_study("s", storage.open_storage(journal), n_trials=3)
    command = ["report", "--study-name", "s", "--storage", str(journal), "--out", str(tmp_path)]
    assert main(command) == 0
    before = _snapshot(study_report_dir(tmp_path, "s"))
    study.enqueue_trial({})  # the study moved on: every file would change
    real_open = open
    code = getattr(errno, error)

    def full(path, mode="r", *args, **kwargs):  # half of each write lands, then the disk is full
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            handle.write = lambda data: (real_open(path, "ab").write(data[: len(data) // 2]), _raise(code))
        return handle

    def _raise(code):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files, "open", full, raising=False)
    capsys.readouterr()
    assert main(command) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{study_report_dir(tmp_path, 's')}/" in line and os.strerror(code) in line and "--out" in line
    assert "the previous version is kept" in line
    assert _snapshot(study_report_dir(tmp_path, "s")) == before  # byte for byte, and no temporary file left


@pytest.mark.parametrize("command", [["report", "--study-name", "s"], ["baseline", "--profile", "smoke"]])
def test_an_out_that_is_not_utf8_or_too_long_is_one_line(command, tmp_path, monkeypatch, capsys):
    if command[0] == "report":
        build_study("s", storage.open_storage(tmp_path / "s.journal"), n_trials=3)
        command = [*command, "--storage", str(tmp_path / "s.journal")]
    else:
        monkeypatch.setattr("hpsearch.commands.baseline.load_cifar10", pytest.fail)  # refused before the data
    for out, says in [
        (os.fsdecode(bytes(tmp_path) + b"/caf\xe9"), "not UTF-8"),
        (str(tmp_path / ("x" * 300)), "File name too long"),
    ]:
        assert main([*command, "--out", out]) == 2
        assert says in _one_line(capsys.readouterr().err)
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".html"]  # no page at all, let alone an empty one


def _value_options():
    """(command, option) for every option of every command that takes a value: generated from the parser, so a
    new option is covered without touching this test."""
    import argparse

    from hpsearch.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        (command, action.option_strings[-1])
        for command in COMMANDS
        for action in sub.choices[command]._actions
        if action.option_strings and action.nargs != 0 and action.dest != "help"
    ]


@pytest.mark.parametrize("command, option", _value_options())
def test_an_empty_value_for_any_option_is_refused(command, option, tmp_path, monkeypatch, capsys):
    for module in ("baseline", "study", "confirm"):  # never reached: nothing trains on an empty value
        monkeypatch.setattr(f"hpsearch.commands.{module}.load_cifar10", pytest.fail)
    monkeypatch.chdir(tmp_path)
    required = ["--study-name", "s"] if command in ("report", "confirm") and option != "--study-name" else []
    try:
        code = main([command, *required, option, ""])
    except SystemExit as exit_:  # argparse's own check of a typed option (a number, a choice)
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and option.lstrip("-").split("-")[0] in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []  # no journal, no folder


@pytest.mark.parametrize("fault", ["ENOSPC", "EROFS", "replaced"])
def test_a_storage_failing_mid_study_is_one_line_and_the_next_start_resumes(fault, tmp_path, monkeypatch, capsys):
    import errno

    from optuna.storages.journal import JournalFileBackend

    from hpsearch.commands import study as command
    from hpsearch.search import optuna_engine
    from tests.search.test_optuna_engine import FakeTrain

    journal = journal_path(tmp_path, "s")
    disk = pytest.MonkeyPatch()

    def full(self, logs):
        code = getattr(errno, fault)
        raise OSError(code, os.strerror(code))

    class StorageFails(FakeTrain):  # the second trial: the disk fills, the file system turns read-only, or
        def __call__(self, *args, **kwargs):  # another program replaces the journal
            if len(self.configs) == 1:
                if fault == "replaced":
                    (tmp_path / "other").write_text("")
                    os.replace(tmp_path / "other", journal)
                else:
                    disk.setattr(JournalFileBackend, "append_logs", full)
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(optuna_engine, "train", StorageFails())
    monkeypatch.setattr(command, "load_cifar10", lambda data_dir: None)
    study = ["study", "--profile", "smoke", "--trials", "3", "--out", str(tmp_path), "--study-name", "s", "--no-prune"]
    try:
        assert main(study) == 2
    finally:
        disk.undo()
    line = _one_line(capsys.readouterr().err)
    assert str(journal) in line and "run the same command again" in line
    if fault == "replaced":
        assert "was replaced or removed while the study ran" in line
        return
    assert os.strerror(getattr(errno, fault)) in line and "the finished trials are kept there" in line
    kept = optuna.load_study(study_name="s", storage=storage.open_storage(journal))
    assert [t.state for t in kept.trials][:1] == [TrialState.COMPLETE]
    monkeypatch.setattr(optuna_engine, "train", FakeTrain())
    assert main(study) == 0  # the same command again: resumes to the total
    resumed = optuna.load_study(study_name="s", storage=storage.open_storage(journal))
    assert len([t for t in resumed.trials if t.state == TrialState.COMPLETE]) == 3
