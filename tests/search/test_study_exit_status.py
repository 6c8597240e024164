"""`hpsearch study` exits 3 when failed trials stopped it short of --trials, so a script can tell."""

import optuna
import pytest

from hpsearch.cli import main
from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.record.storage import open_storage
from hpsearch.search import optuna_engine

SPEC = '[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 0.2 }\n'


def test_failed_trials_that_stop_the_study_exit_3(tmp_path, cifar_dir, monkeypatch, capsys):
    def diverges(config, data, on_epoch=None, **kwargs):
        raise TrainingDiverged("loss is nan at epoch 1")

    monkeypatch.setattr(optuna_engine, "train", diverges)  # every trial fails at once: no training here
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    args = [
        "study",
        "--spec",
        str(spec),
        "--profile",
        "smoke",
        "--trials",
        "2",
        "--data-dir",
        str(cifar_dir),
        "--out",
        str(tmp_path),
        "--study-name",
        "s",
    ]
    assert main(args) == 3
    assert "stopped short: 0 of 2 trials finished" in capsys.readouterr().out
    study = optuna.load_study(study_name="s", storage=open_storage(str(tmp_path / "studies" / "s.journal")))
    assert all(t.state == optuna.trial.TrialState.FAIL for t in study.trials) and len(study.trials) > 2


def test_a_timeout_that_had_not_run_out_still_exits_3(tmp_path, cifar_dir, monkeypatch):
    """--timeout ends a study early with status 0; failures ending it before the timeout are still status 3."""

    def diverges(config, data, on_epoch=None, **kwargs):
        raise TrainingDiverged("loss is nan at epoch 1")

    monkeypatch.setattr(optuna_engine, "train", diverges)
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    common = ["study", "--spec", str(spec), "--profile", "smoke", "--trials", "2", "--data-dir", str(cifar_dir)]
    assert main([*common, "--out", str(tmp_path / "a"), "--timeout", "3600"]) == 3
    assert main([*common, "--out", str(tmp_path / "b"), "--timeout", "0"]) == 0  # the timeout ended it: not short


def test_a_negative_or_nan_timeout_is_bad_input(tmp_path, capsys):
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SystemExit) as exit_:  # argparse's usage error
            main(["study", "--profile", "smoke", "--timeout", bad, "--out", str(tmp_path)])
        assert exit_.value.code == 2 and "--timeout" in capsys.readouterr().err
