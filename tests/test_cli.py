"""The `hpsearch` command as a user meets it: exit codes, messages, the run folder."""

import json
import shutil
import subprocess
import sys

import pytest

from hpsearch.cli import main
from tests.fakes import fake_result


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "hpsearch.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_baseline_writes_the_run_folder(cifar_dir, tmp_path):
    code = main(
        [
            "baseline",
            "--profile",
            "smoke",
            "--data-dir",
            str(cifar_dir),
            "--out",
            str(tmp_path),
            "--name",
            "run1",
            "--epochs",
            "2",
        ]
    )
    assert code == 0
    run = tmp_path / "reports" / "run1"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in (
        "config",
        "device",
        "epochs",
        "val_accuracy",
        "test_accuracy",
        "test_accuracy_tta",
        "train_seconds",
        "images_per_second",
        "versions",
    ):
        assert key in metrics
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert set(metrics["epochs"][0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert metrics["config"]["seed"] == 42 and metrics["config"]["epochs"] == 2
    assert (run / "history.csv").read_text().splitlines()[0].startswith("epoch,loss,accuracy")
    assert (run / "best.keras").is_file()


def test_params_file_overrides_the_baseline(cifar_dir, tmp_path):
    params = tmp_path / "best_params.json"
    params.write_text(json.dumps({"params": {"label_smoothing": 0.2, "optimizer": "adamw", "weight_decay": 1e-4}}))
    assert (
        main(
            [
                "baseline",
                "--profile",
                "smoke",
                "--data-dir",
                str(cifar_dir),
                "--out",
                str(tmp_path),
                "--name",
                "tuned",
                "--epochs",
                "1",
                "--params",
                str(params),
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "reports" / "tuned" / "metrics.json").read_text())["config"]
    assert config["label_smoothing"] == 0.2 and config["optimizer"] == "adamw"


@pytest.mark.parametrize(
    "args, message",
    [
        (["baseline", "--profile", "huge"], "unknown profile 'huge'"),
        (["baseline", "--profile", "smoke", "--data-dir", "/nonexistent/cifar"], "CIFAR-10 not found"),
        (["baseline", "--params", "/nonexistent.json"], "does not exist"),
        (["bench", "--images", "10"], "--images >= --batch-size"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(args, message, tmp_path):
    import os

    env = {**os.environ, "KERAS_HOME": str(tmp_path), "HPSEARCH_DATA_DIR": ""}
    result = _run(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_params_value_is_named(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"label_smoothing": 3}))
    assert main(["baseline", "--params", str(params)]) == 2
    assert "label_smoothing" in capsys.readouterr().err


def test_a_baseline_run_never_writes_into_a_studys_report_folder(tmp_path, capsys):
    """Runs and studies share OUT/reports/: --name naming a study's folder is refused before any data or training."""
    study_reports = tmp_path / "reports" / "default-cpu"
    study_reports.mkdir(parents=True)
    (study_reports / "trials.csv").write_text("number\n0\n")
    assert main(["baseline", "--profile", "smoke", "--out", str(tmp_path), "--name", "default-cpu"]) == 2
    assert "holds a study's reports" in capsys.readouterr().err
    assert sorted(p.name for p in study_reports.iterdir()) == ["trials.csv"]


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["baseline", "--epochs", "zero"])
    assert exit_.value.code == 2


def test_summary_prints_the_model(capsys):
    assert main(["baseline", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "whitening_conv" in out and "4,611,394" in out


# --- one path rule for every command (record/paths.py) ---------------------------------------------------


def _fake_train(config, data, on_epoch=None, out_dir=None, callbacks=()):
    """Stands in for core.train.train (the paths do not depend on training): a rising curve, on_epoch called."""

    epochs = []
    for epoch in range(1, config.epochs + 1):
        value = 0.3 + 0.05 * epoch + 0.1 * config.label_smoothing
        epochs.append(
            {
                "epoch": epoch,
                "loss": 1 - value,
                "accuracy": value,
                "val_loss": 1 - value,
                "val_accuracy": value,
                "lr": 0.001,
                "seconds": 0.1,
            }
        )
        if on_epoch:
            on_epoch(epoch, dict(epochs[-1]))
    return fake_result(config, epochs, 0.1)


@pytest.fixture
def fake_training(monkeypatch):
    from hpsearch.search import confirm, optuna_engine

    monkeypatch.setattr(optuna_engine, "train", _fake_train)
    monkeypatch.setattr(
        confirm,
        "score_on_test",
        lambda config, data, **_: {
            "test_accuracy_tta": 0.5 + 0.01 * (config.seed % 3),
            "test_accuracy": 0.5,
            "val_accuracy": 0.5,
            "seconds": 0.1,
        },
    )


def _study(out, name, trials, cifar_dir, *extra):
    return main(
        [
            "study",
            "--spec",
            "default",
            "--profile",
            "smoke",
            "--trials",
            str(trials),
            "--no-prune",
            "--out",
            str(out),
            "--study-name",
            name,
            "--data-dir",
            str(cifar_dir),
            *extra,
        ]
    )


def test_study_report_and_confirm_share_one_out_from_any_folder(
    fake_training, cifar_dir, tmp_path, monkeypatch, capsys
):
    from hpsearch.record.paths import safe_name

    out, first, second = tmp_path / "out", tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)  # --spec default is found from any folder
    assert _study(out, "a/b", 3, cifar_dir) == 0
    name = safe_name("a/b")
    journal, reports = out / "studies" / f"{name}.journal", out / "reports" / name
    assert journal.is_file() and (reports / "report.html").is_file()  # one safe name for both
    printed = capsys.readouterr().out
    assert str(journal.resolve()) in printed and str(reports) in printed

    monkeypatch.chdir(second)  # report and confirm find it by the same --out
    assert main(["report", "--study-name", "a/b", "--out", str(out)]) == 0
    assert str(reports) in capsys.readouterr().out
    assert (
        main(
            [
                "confirm",
                "--study-name",
                "a/b",
                "--out",
                str(out),
                "--trial",
                "1",
                "--seeds",
                "2",
                "--data-dir",
                str(cifar_dir),
            ]
        )
        == 0
    )
    assert "confirm.json" in capsys.readouterr().out
    best = json.loads((reports / "best_params.json").read_text())
    assert best["trial"] == 1 and best["chosen_by"] == "confirm"
    assert [c["trial"] for c in json.loads((reports / "confirm.json").read_text())["comparisons"]] == [1]
    assert main(["report", "--study-name", "a/b", "--out", str(out)]) == 0  # report after confirm: the same file
    assert json.loads((reports / "best_params.json").read_text()) == best
    page = (reports / "report.html").read_text()
    assert f"--out {out.resolve()}" in page  # the page's rewrite command writes this page
    assert not list(first.iterdir()) and not list(second.iterdir())  # nothing written beside the user


def test_report_reads_the_study_under_its_out_not_a_namesake_here(fake_training, cifar_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _study(".", "S", 2, cifar_dir) == 0  # another study named S, under ./studies/
    assert _study(tmp_path / "X", "S", 3, cifar_dir) == 0
    shutil.rmtree(tmp_path / "X" / "reports")
    assert main(["report", "--study-name", "S", "--out", "X"]) == 0
    trials = (tmp_path / "X" / "reports" / "S" / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 3  # X's study (3 trials), not ./studies/S.journal's 2
    assert not (tmp_path / "X" / "S").exists()
