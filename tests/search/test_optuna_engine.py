"""The Optuna engine with a stand-in for train(): counting, baseline, pruning, failures, resume, dead
workers, multi-objective, storage errors. Fast: no network is trained here (see test_study_command.py)."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.core.config import TrainConfig
from hpsearch.errors import HpsearchError
from hpsearch.record import storage as storage_module
from hpsearch.record import trials as record
from hpsearch.search import optuna_engine as engine
from hpsearch.search.space import parse_spec
from tests.fakes import fake_result

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASE = TrainConfig.from_profile("smoke", epochs=4)
SPEC = parse_spec(
    """
[params]
peak_lr = { type = "float", low = 1e-6, high = 1e-2, log = true }
lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }
""",
    "lr.toml",
)


def fake_curve(config: TrainConfig) -> list[float]:
    """Accuracy that climbs with log(peak_lr) (the baseline: like peak_lr = 3e-3)."""
    lr = 0.003 if config.lr_schedule == "step" else config.peak_lr
    ceiling = min(0.9, max(0.1, 0.9 + 0.15 * math.log10(lr / 0.01)))
    return [ceiling * (1 - 0.5**e) for e in range(1, config.epochs + 1)]


class FakeTrain:
    """Stands in for hpsearch.core.train.train: calls on_epoch like the real one and records the configs."""

    def __init__(self, diverge_above: float = 1.0, interrupt_trial: int | None = None):
        self.configs, self.diverge_above, self.interrupt_trial = [], diverge_above, interrupt_trial

    def __call__(self, config, data, on_epoch=None, out_dir=None, callbacks=()):
        self.configs.append(config)
        epochs = []
        for epoch, value in enumerate(fake_curve(config), 1):
            if config.lr_schedule != "step" and config.peak_lr > self.diverge_above:
                raise TrainingDiverged(f"loss became nan in epoch {epoch} (lr {config.peak_lr:.3g})")
            if self.interrupt_trial is not None and len(self.configs) == self.interrupt_trial + 1 and epoch == 2:
                raise KeyboardInterrupt
            row = {
                "epoch": epoch,
                "loss": 1 - value,
                "accuracy": value,
                "val_loss": 1 - value,
                "val_accuracy": value,
                "lr": 0.001,
                "seconds": 0.5,
            }
            epochs.append(row)
            if on_epoch:
                on_epoch(epoch, dict(row))
        return fake_result(config, epochs, 0.5)


@pytest.fixture
def fake_train(monkeypatch):
    fake = FakeTrain()
    monkeypatch.setattr(engine, "train", fake)
    return fake


def study(tmp_path, trials, spec=SPEC, **options):
    options = {
        "profile": "smoke",
        "base": BASE,
        "out": tmp_path,
        "study_name": "s",
        "seed": 1,
        "console": Console(file=io.StringIO()),
        **options,
    }
    return engine.run_study(spec, None, trials=trials, **options)


def finished(study_):
    return study_.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def test_trial_0_is_the_baseline_and_every_trial_follows_the_schema(tmp_path, fake_train):
    s = study(tmp_path, 5)
    assert len(finished(s)) == 5 and [t.number for t in s.trials] == [0, 1, 2, 3, 4]
    baseline = s.trials[0]
    assert baseline.user_attrs["is_baseline"] and baseline.params == {}
    assert baseline.user_attrs["config"] == {}  # the changes from the study's base config: none
    assert TrainConfig.from_dict(record.stored_config(s, baseline)) == BASE
    assert fake_train.configs[0] == BASE
    assert sum(t.user_attrs["is_baseline"] for t in s.trials) == 1
    for t in s.trials:
        rows = record.epoch_rows(t)
        assert t.user_attrs["epochs_run"] == len(rows) == len(t.intermediate_values)
        assert [r["val_accuracy"] for r in rows] == pytest.approx(list(t.intermediate_values.values()), abs=1e-5)
        assert set(t.user_attrs) >= {"curve:val_accuracy", "epochs_run", "pruned_at", "train_seconds", "config"}
        assert (t.user_attrs["pruned_at"] is not None) == (t.state == TrialState.PRUNED)
        assert TrainConfig.from_dict(record.stored_config(s, t)) == BASE.replace(**SPEC.to_overrides(t.params))
        assert set(t.user_attrs["config"]) <= set(SPEC.to_overrides(t.params))  # only what the trial changed
        assert max(len(json.dumps(v)) for v in t.user_attrs.values()) <= 300  # optuna-dashboard shows them whole
    attrs = s.user_attrs
    assert attrs["engine"] == "optuna" and attrs["profile"] == "smoke" and attrs["spec_text"] == SPEC.text
    assert attrs["objectives"] == ["val_accuracy"] and attrs["directions"] == ["maximize"]
    assert attrs["pruner"] == {"name": "asha", "epochs": 4, "reduction_factor": 3, "rungs": [1, 3]}  # the default
    assert attrs["max_epochs"] == 4 and {"optuna", "python", "tensorflow"} <= set(attrs["versions"])
    assert (tmp_path / "studies" / "s.journal").is_file()


def test_a_bad_trial_is_pruned_before_its_last_epoch(tmp_path, fake_train):
    tiny_lr = parse_spec(
        '[params]\npeak_lr = { type = "float", low = 1e-6, high = 2e-6, log = true }\n'
        'lr_schedule = { type = "categorical", choices = ["one_cycle"] }',
        "tiny.toml",
    )
    s = study(tmp_path, 3, spec=tiny_lr, pruner="baseline")
    assert s.trials[0].state == TrialState.COMPLETE
    for t in s.trials[1:]:
        assert t.state == TrialState.PRUNED
        assert t.user_attrs["pruned_at"] == t.user_attrs["epochs_run"] == 2 < BASE.epochs  # after the warm-up


def test_rerunning_resumes_to_the_same_total(tmp_path, fake_train):
    study(tmp_path, 3)
    assert len(fake_train.configs) == 3
    s = study(tmp_path, 5)
    assert len(finished(s)) == 5 and len(fake_train.configs) == 5  # two more, not five
    s = study(tmp_path, 5)
    assert len(finished(s)) == 5 and len(fake_train.configs) == 5  # nothing left to do
    assert sum(t.user_attrs["is_baseline"] for t in s.trials) == 1


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "train", FakeTrain(diverge_above=1e-4))
    s = study(tmp_path, 3)
    failed = s.get_trials(states=(TrialState.FAIL,))
    assert failed and all("TrainingDiverged" in t.user_attrs["fail_reason"] for t in failed)
    assert len(finished(s)) == 3  # FAIL does not count


def test_a_study_that_only_fails_gives_up(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "train", FakeTrain(diverge_above=0.0))
    s = study(tmp_path, 3)
    assert len(finished(s)) == 1  # the baseline
    assert len(s.get_trials(states=(TrialState.FAIL,))) == 4  # more failures than trials: stop


def test_ctrl_c_marks_the_running_trial_failed_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "train", FakeTrain(interrupt_trial=2))
    with pytest.raises(KeyboardInterrupt):
        study(tmp_path, 5, pruner="none")  # (asha could stop trial 2 at epoch 1, before the Ctrl-C at epoch 2)
    s = optuna.load_study(study_name="s", storage=storage_module.open_storage(tmp_path / "studies" / "s.journal"))
    states = [t.state for t in s.trials]
    assert set(states[:2]) <= {TrialState.COMPLETE, TrialState.PRUNED} and TrialState.RUNNING not in states
    assert states[2] == TrialState.FAIL and "interrupted" in s.trials[2].user_attrs["fail_reason"]
    assert states[3:] == [TrialState.WAITING] and s.trials[3].user_attrs["retry_of"] == 2  # queued again
    assert s.trials[3].system_attrs["fixed_params"] == s.trials[2].params
    assert len(finished(s)) == 2
    monkeypatch.setattr(engine, "train", FakeTrain())
    assert len(finished(study(tmp_path, 5, pruner="none"))) == 5


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_dead_workers_trial_is_failed_and_retried_on_the_next_start(tmp_path, fake_train):
    s = study(tmp_path, 1)
    stuck = s.ask({"peak_lr": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    stuck.set_user_attr("worker", f"{storage_module.socket.gethostname()}:{dead_pid()}")  # as if SIGKILLed mid-trial
    s = study(tmp_path, 3)
    trial = s.trials[stuck.number]
    assert trial.state == TrialState.FAIL and "died" in trial.user_attrs["fail_reason"]
    retries = [t for t in s.trials if t.user_attrs.get("retry_of") == stuck.number]
    assert len(retries) == 1 and retries[0].params["peak_lr"] == stuck.params["peak_lr"]
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert not s.get_trials(states=(TrialState.RUNNING,)) and len(finished(s)) == 3


def test_a_live_workers_trial_is_left_alone(tmp_path, fake_train):
    s = study(tmp_path, 1)
    other = s.ask()
    other.set_user_attr("worker", "another-host:1")
    s = study(tmp_path, 3)
    assert s.trials[other.number].state == TrialState.RUNNING  # counts as running: 1 + 1 + ... = 3
    assert len(finished(s)) == 2


def test_two_queued_baselines_give_one_baseline(tmp_path, fake_train):
    s = study(tmp_path, 1)
    s.enqueue_trial({}, user_attrs={"is_baseline": True})  # two workers raced to enqueue it
    s = study(tmp_path, 3)
    assert [t.number for t in s.trials if t.user_attrs["is_baseline"]] == [0]


def test_the_same_seed_samples_the_same_study(tmp_path, fake_train):
    first = study(tmp_path / "a", 6, seed=7)
    second = study(tmp_path / "b", 6, seed=7)
    other = study(tmp_path / "c", 6, seed=8)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]


def test_multi_objective_is_never_pruned(tmp_path, fake_train):
    s = study(tmp_path, 4, objectives="accuracy,train_seconds", study_name="pareto")
    assert len(s.directions) == 2 and s.user_attrs["pruner"] is None
    assert s.user_attrs["objectives"] == ["val_accuracy", "train_seconds"]
    assert all(t.state == TrialState.COMPLETE and len(t.values) == 2 for t in s.trials)
    assert all(t.user_attrs["epochs_run"] == BASE.epochs for t in s.trials)


def test_resuming_with_other_settings_is_refused(tmp_path, fake_train):
    study(tmp_path, 1)
    with pytest.raises(HpsearchError, match="profile"):
        study(tmp_path, 2, base=BASE.replace(epochs=3))
    with pytest.raises(HpsearchError, match="search space"):
        study(tmp_path, 2, spec=parse_spec('[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 0.2 }'))
    with pytest.raises(HpsearchError, match="objectives"):
        study(tmp_path, 2, objectives="accuracy,train_seconds")


def test_objectives_are_parsed():
    assert engine.parse_objectives("accuracy") == ["val_accuracy"]
    assert engine.parse_objectives("accuracy, train_seconds") == ["val_accuracy", "train_seconds"]
    with pytest.raises(HpsearchError, match="unknown objective"):
        engine.parse_objectives("accuracy,loss")
    with pytest.raises(HpsearchError, match="first objective"):
        engine.parse_objectives("train_seconds")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # a broken heartbeat thread
def test_on_a_database_a_trial_without_heartbeat_is_failed_and_retried(tmp_path, fake_train, monkeypatch):
    monkeypatch.setattr(storage_module, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE", 1)
    url = f"sqlite:///{tmp_path / 'hp.db'}"
    s = study(tmp_path, 1, storage=url)
    stuck = s.ask({"peak_lr": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    stuck.set_user_attr("worker", "another-host:1")  # its host cannot be asked: only heartbeats tell
    storage_module.open_storage(url).record_heartbeat(stuck._trial_id)
    time.sleep(2.5)  # longer than the grace period
    s = study(tmp_path, 3, storage=url)
    assert s.trials[stuck.number].state == TrialState.FAIL
    assert [t.user_attrs.get("retry_of") for t in s.trials].count(stuck.number) == 1
    assert not s.get_trials(states=(TrialState.RUNNING,)) and len(finished(s)) == 3


def test_a_reused_pid_does_not_keep_a_dead_workers_trial_running(tmp_path, fake_train):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        s = study(tmp_path, 1)
        owner = f"{storage_module.socket.gethostname()}:{sleeper.pid}"
        alive, reused = s.ask(), s.ask()
        alive.set_user_attr("worker", owner)
        alive.set_user_attr("worker_started", storage_module._process_start(sleeper.pid))
        reused.set_user_attr("worker", owner)
        reused.set_user_attr("worker_started", "1")  # its worker had this pid, but started long ago
        s = study(tmp_path, 4)
        assert s.trials[alive.number].state == TrialState.RUNNING
        assert s.trials[reused.number].state == TrialState.FAIL
    finally:
        sleeper.kill()
        sleeper.wait()
