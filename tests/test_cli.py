"""The `hpsearch` command as a user meets it: exit codes, messages, the run folder."""
import json
import subprocess
import sys

import pytest

from hpsearch.cli import main


def _run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hpsearch.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_baseline_writes_the_run_folder(cifar_dir, tmp_path):
    code = main(["baseline", "--profile", "smoke", "--data-dir", str(cifar_dir), "--out", str(tmp_path),
                 "--name", "run1", "--epochs", "2"])
    assert code == 0
    run = tmp_path / "reports" / "run1"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("config", "device", "epochs", "val_accuracy", "test_accuracy", "test_accuracy_tta",
                "train_seconds", "images_per_second", "versions"):
        assert key in metrics
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert set(metrics["epochs"][0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert metrics["config"]["seed"] == 42 and metrics["config"]["epochs"] == 2
    assert (run / "history.csv").read_text().splitlines()[0].startswith("epoch,loss,accuracy")
    assert (run / "best.keras").is_file()


def test_params_file_overrides_the_baseline(cifar_dir, tmp_path):
    params = tmp_path / "best_params.json"
    params.write_text(json.dumps({"params": {"label_smoothing": 0.2, "optimizer": "adamw", "weight_decay": 1e-4}}))
    assert main(["baseline", "--profile", "smoke", "--data-dir", str(cifar_dir), "--out", str(tmp_path),
                 "--name", "tuned", "--epochs", "1", "--params", str(params)]) == 0
    config = json.loads((tmp_path / "reports" / "tuned" / "metrics.json").read_text())["config"]
    assert config["label_smoothing"] == 0.2 and config["optimizer"] == "adamw"


@pytest.mark.parametrize("args, message", [
    (["baseline", "--profile", "huge"], "unknown profile 'huge'"),
    (["baseline", "--profile", "smoke", "--data-dir", "/nonexistent/cifar"], "CIFAR-10 not found"),
    (["baseline", "--params", "/nonexistent.json"], "does not exist"),
    (["bench", "--images", "10"], "--images >= --batch-size"),
])
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


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["baseline", "--epochs", "zero"])
    assert exit_.value.code == 2


def test_summary_prints_the_model(capsys):
    assert main(["baseline", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "whitening_conv" in out and "4,611,394" in out
