"""`hpsearch study` end to end at the smoke profile: real (tiny) training, real worker processes."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.commands import study as study_command
from hpsearch.record import trials as record
from hpsearch.record.paths import study_report_dir
from hpsearch.record.storage import open_storage
from hpsearch.search import optuna_engine as engine
from hpsearch.search.space import SpecError

ROOT = Path(__file__).resolve().parents[2]
SPEC = """
[study]
description = "a tiny test space"
[params]
peak_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }
"""
WORKER = (
    "import argparse, sys; from hpsearch.commands import study; p = argparse.ArgumentParser(); "
    "study.add_arguments(p); sys.exit(study.run(p.parse_args(sys.argv[1:])))"
)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
pytestmark = pytest.mark.slow


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    study_command.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC)
    return path


def worker_args(spec_file, data_dir, out, trials, *extra) -> list[str]:
    return [
        "--spec",
        str(spec_file),
        "--profile",
        "smoke",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--study-name",
        "w",
        "--trials",
        str(trials),
        *extra,
    ]


def start_worker(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def load(out: Path, name: str = "w") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(out / "studies" / f"{name}.journal"))


def test_a_spec_error_stops_before_any_data_or_training(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[params]\npeak_lr = { type = "float", low = 1e-2, high = 1e-4 }')
    with pytest.raises(SpecError, match="impossible range"):
        study_command.run(parse("--spec", str(bad), "--data-dir", str(tmp_path / "no-data"), "--out", str(tmp_path)))
    assert not list(tmp_path.glob("**/*.journal"))


def test_study_runs_end_to_end_and_writes_its_reports(tmp_path, spec_file, cifar_dir, capsys):
    out = tmp_path / "out"
    assert study_command.run(parse(*worker_args(spec_file, cifar_dir, out, 3))) == 0
    s = load(out)
    assert len(s.get_trials(states=FINISHED)) == 3 and s.trials[0].user_attrs["is_baseline"]
    printed = capsys.readouterr().out
    assert "trial 0 (baseline)" in printed and "Top trials" in printed
    report = out / "reports" / "w"
    assert (report / "report.html").is_file() and (report / "trials.csv").is_file()
    best = json.loads((report / "best_params.json").read_text())
    assert best["study"] == "w" and best["trial"] == s.best_trial.number and best["chosen_by"] == "best val accuracy"
    assert best["values"]["val_accuracy"] == pytest.approx(s.best_value) and best["sampled"] == s.best_trial.params


def test_a_deliberately_bad_trial_is_pruned_before_its_last_epoch(tmp_path, cifar):
    from hpsearch.core.config import TrainConfig
    from hpsearch.search.space import parse_spec

    tiny_lr = parse_spec(
        '[params]\npeak_lr = { type = "float", low = 1e-7, high = 2e-7, log = true }\n'
        'lr_schedule = { type = "categorical", choices = ["one_cycle"] }',
        "tiny_lr.toml",
    )
    base = TrainConfig.from_profile("smoke")
    s = engine.run_study(tiny_lr, cifar, trials=2, profile="smoke", out=tmp_path, study_name="bad", pruner="baseline")
    baseline, bad = s.trials
    assert baseline.user_attrs["is_baseline"] and baseline.state == TrialState.COMPLETE
    assert bad.state == TrialState.PRUNED and bad.user_attrs["pruned_at"] < base.epochs
    assert bad.user_attrs["epochs_run"] == bad.user_attrs["pruned_at"] == len(record.epoch_rows(bad))


def test_two_workers_share_one_study(tmp_path, spec_file, cifar_dir):
    out = tmp_path / "out"
    workers = [start_worker(worker_args(spec_file, cifar_dir, out, 4), tmp_path) for _ in range(2)]
    for w in workers:
        output, _ = w.communicate(timeout=300)
        assert w.returncode == 0, output
    s = load(out)
    numbers = [t.number for t in s.trials]
    assert len(numbers) == len(set(numbers))
    assert len(s.get_trials(states=FINISHED)) == 4 and not s.get_trials(states=(TrialState.RUNNING,))
    assert sum(bool(t.user_attrs.get("is_baseline")) for t in s.get_trials(states=FINISHED)) == 1


def test_a_sigkilled_worker_leaves_nothing_running_after_a_restart(tmp_path, spec_file, cifar_dir):
    out = tmp_path / "out"
    args = worker_args(spec_file, cifar_dir, out, 3)
    worker = start_worker(args, tmp_path)
    victim = wait_for_running_trial(out, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert load(out).trials[victim].state == TrialState.RUNNING  # stuck, as SIGKILL leaves it
    restart = start_worker(args, tmp_path)
    output, _ = restart.communicate(timeout=300)
    assert restart.returncode == 0, output
    s = load(out)
    assert not s.get_trials(states=(TrialState.RUNNING,))
    assert s.trials[victim].state == TrialState.FAIL and "died" in s.trials[victim].user_attrs["fail_reason"]
    assert len(s.get_trials(states=FINISHED)) == 3
    assert sum(bool(t.user_attrs.get("is_baseline")) for t in s.get_trials(states=FINISHED)) == 1


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_marks_the_running_trial_failed(tmp_path, spec_file, cifar_dir, stop):
    out = tmp_path / "out"
    worker = start_worker(worker_args(spec_file, cifar_dir, out, 3), tmp_path)
    victim = wait_for_running_trial(out, worker)
    worker.send_signal(stop)
    worker.communicate(timeout=120)
    assert worker.returncode != 0  # it stopped, not finished the study
    s = load(out)
    assert not s.get_trials(states=(TrialState.RUNNING,)) and len(s.get_trials(states=FINISHED)) < 3
    trial = s.trials[victim]
    # on a busy machine the signal can land after the victim trained, while its result is being written: that
    # write completes (never a RUNNING trial) and the worker stops; otherwise the victim is FAIL, interrupted
    assert trial.state == TrialState.COMPLETE or "interrupted" in trial.user_attrs["fail_reason"]


def wait_for_running_trial(out: Path, worker: subprocess.Popen, limit: float = 240.0) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[0]
        if (out / "studies" / "w.journal").is_file():
            try:
                running = [t for t in load(out).trials if t.state == TrialState.RUNNING and "config" in t.user_attrs]
            except KeyError:  # the study is not created yet
                running = []
            if running:
                return running[0].number
        time.sleep(0.2)
    worker.kill()
    pytest.fail("the worker never started a trial")


@pytest.mark.postgres
def test_a_study_on_postgresql(tmp_path, spec_file, cifar_dir, capsys):
    url = os.environ.get("HPSEARCH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "HPSEARCH_TEST_POSTGRES_URL is not set (e.g. postgresql://hpsearch:PASSWORD@localhost/hpsearch_test)"
        )
    name = f"test-{uuid.uuid4().hex[:8]}"
    args = [
        "--spec",
        str(spec_file),
        "--profile",
        "smoke",
        "--data-dir",
        str(cifar_dir),
        "--storage",
        url,
        "--study-name",
        name,
        "--trials",
        "3",
        "--out",
        str(tmp_path / "out"),
    ]
    assert study_command.run(parse(*args)) == 0
    s = optuna.load_study(study_name=name, storage=open_storage(url))
    assert len(s.get_trials(states=FINISHED)) == 3 and s.trials[0].user_attrs["is_baseline"]
    assert s.user_attrs["engine"] == "optuna"
    assert study_command.run(parse(*args)) == 0  # resumes: nothing left to do
    assert len(optuna.load_study(study_name=name, storage=open_storage(url)).trials) == 3
    printed = capsys.readouterr().out
    password = re.search(r"://[^:/@]*:([^@]+)@", url)
    assert password is None or password.group(1) not in printed
    assert (study_report_dir(tmp_path / "out", name) / "report.html").is_file()
