"""Samplers and pruners as a choice (search/strategies.py), through the engine and the command line."""

from __future__ import annotations

import io
import math

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.cli import main
from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.storage import open_storage
from hpsearch.search import optuna_engine as engine
from hpsearch.search import strategies
from hpsearch.search.space import parse_spec
from hpsearch.search.strategies import PrunerChoice, make_pruner, rungs
from tests.search.test_optuna_engine import BASE, SPEC, FakeTrain

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MIXED = parse_spec(
    """
[params]
peak_lr = { type = "float", low = 1e-6, high = 1e-2, log = true }
label_smoothing = { type = "float", low = 0.0, high = 0.2 }
lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }
""",
    "mixed.toml",
)


@pytest.fixture
def fake_train(monkeypatch):
    monkeypatch.setattr("gc.collect", lambda *args: 0)  # a second a trial with a backend loaded; fakes hold nothing
    fake = FakeTrain()
    monkeypatch.setattr(engine, "train", fake)
    return fake


def run(tmp_path, trials, name="s", spec=MIXED, **options):
    options = {"profile": "smoke", "base": BASE, "out": tmp_path, "study_name": name, "seed": 3, **options}
    return engine.run_study(spec, None, trials=trials, console=Console(file=io.StringIO()), **options)


# --- rungs and the pruner wrapper ------------------------------------------------------------------------------


def test_rungs_come_from_the_profiles_epochs():
    assert rungs(4) == [1, 3]
    assert rungs(10) == [1, 3, 9]
    assert rungs(6) == [1, 3]
    assert rungs(1) == [1]
    assert rungs(10, reduction_factor=2) == [1, 2, 4, 8]


def reported(study, value_by_epoch, baseline=False):
    trial = study.ask()
    trial.set_user_attr(keys.IS_BASELINE, baseline)
    for epoch, value in value_by_epoch.items():
        trial.report(value, epoch)
    return trial


def test_asha_prunes_the_worst_at_a_rung_but_never_the_baseline():
    pruner = make_pruner(PrunerChoice("asha", epochs=10))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in (0.5, 0.6, 0.7):  # three trials reached rung 1 (epoch 1), judged there as a trial is
        t = reported(study, {1: value})
        t.should_prune()
        study.tell(t, value)
    weak = reported(study, {1: 0.1})
    assert weak.should_prune() and pruner.last_rule == "asha"
    assert "asha rung" in pruner.reason(study, 1, 0.1)
    weak_baseline = reported(study, {1: 0.1}, baseline=True)
    assert not weak_baseline.should_prune()
    strong = reported(study, {1: 0.9})
    assert not strong.should_prune()


def test_the_floor_stops_what_the_baseline_rule_stops_under_another_pruner():
    choice = PrunerChoice("median", floor=True, margin=0.05, warmup=1, epochs=4)
    pruner = make_pruner(choice)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    base = reported(study, {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}, baseline=True)
    study.tell(base, 0.8)
    behind = reported(study, {1: 0.5, 2: 0.5})  # 10 points behind at epoch 2: the floor, median has no history
    assert behind.should_prune() and pruner.last_rule == "baseline floor"
    assert "floor" in pruner.reason(study, 2, 0.5)
    without = make_pruner(PrunerChoice("median", floor=False, epochs=4))
    study2 = optuna.create_study(direction="maximize", pruner=without)
    b = reported(study2, {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}, baseline=True)
    study2.tell(b, 0.8)
    assert not reported(study2, {1: 0.5, 2: 0.5}).should_prune()  # median waits for 5 trials


def test_settings_record_the_choice():
    assert make_pruner(PrunerChoice("none")) is None
    assert PrunerChoice("baseline", margin=0.03, warmup=2).settings() == {
        "name": "BaselinePruner",
        "margin": 0.03,
        "warmup_epochs": 2,
    }
    asha = PrunerChoice("asha", floor=True, epochs=10).settings()
    assert asha["rungs"] == [1, 3, 9] and asha["floor"]["name"] == "BaselinePruner"


# --- the engine -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "cmaes", "gp"])
def test_a_seeded_study_repeats_its_parameters(tmp_path, fake_train, sampler):
    first = run(tmp_path / "a", 12, sampler=sampler, pruner="none")
    second = run(tmp_path / "b", 12, sampler=sampler, pruner="none")
    other = run(tmp_path / "c", 12, sampler=sampler, pruner="none", seed=4)
    params = [t.params for t in first.trials]
    assert params == [t.params for t in second.trials]
    assert params != [t.params for t in other.trials]
    assert len({tuple(sorted(p.items())) for p in params[1:]}) == len(params) - 1  # no two trials alike
    assert first.user_attrs["sampler"]["name"] == strategies.sampler_label(sampler)
    assert {t.user_attrs[keys.STRATEGY] for t in first.trials} == {f"{sampler}/none"}


def test_asha_records_the_rung_and_rule_that_stopped_a_trial(tmp_path, fake_train):
    s = run(tmp_path, 12, sampler="random", pruner="asha", spec=SPEC)
    pruned = s.get_trials(states=(TrialState.PRUNED,))
    assert pruned, "a wide lr range gives asha trials to stop"
    for t in pruned:
        assert t.user_attrs[keys.PRUNED_BY] == "asha"
        assert t.user_attrs[keys.PRUNED_AT] in rungs(BASE.epochs)
        assert t.user_attrs[keys.EPOCHS_RUN] == t.user_attrs[keys.PRUNED_AT]
    baseline = s.trials[0]
    assert baseline.user_attrs[keys.IS_BASELINE] and baseline.state == TrialState.COMPLETE


def test_an_epoch_budget_ends_the_study(tmp_path, fake_train):
    s = run(tmp_path, 100, sampler="random", pruner="none", epoch_budget=3 * BASE.epochs)
    assert len(s.get_trials(states=FINISHED)) == 3


def test_resuming_with_another_sampler_is_recorded_per_trial(tmp_path, fake_train):
    run(tmp_path, 3, sampler="tpe", pruner="baseline")
    s = run(tmp_path, 6, sampler="random", pruner="asha")
    by_trial = [t.user_attrs[keys.STRATEGY] for t in sorted(s.trials, key=lambda t: t.number)]
    assert by_trial == ["tpe/baseline"] * 3 + ["random/asha"] * 3
    assert s.user_attrs["sampler"]["name"] == "TPESampler"  # how it was created stays
    from hpsearch.report import html
    from hpsearch.report.tables import trials_frame

    assert trials_frame(s)["strategy"].tolist() == by_trial
    assert html._settings(s)["strategy by trial"] == "tpe/baseline: trials 0–2; random/asha: trials 3–5"


def test_samplers_that_do_not_apply_are_refused(tmp_path, fake_train):
    categorical = parse_spec('[params]\nlr_schedule = { type = "categorical", choices = ["step", "triangular"] }')
    with pytest.raises(HpsearchError, match="cmaes needs numeric parameters.*tpe"):
        run(tmp_path, 2, spec=categorical, sampler="cmaes")
    with pytest.raises(HpsearchError, match="nsga2 does not apply to a single-objective"):
        run(tmp_path, 2, sampler="nsga2")
    with pytest.raises(HpsearchError, match="--pruner asha does not apply to a multi-objective"):
        run(tmp_path, 2, objectives="accuracy,train_seconds", pruner="asha")


def test_gp_without_pytorch_names_the_install(monkeypatch):
    real = strategies.importlib.util.find_spec
    monkeypatch.setattr(strategies.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name))
    with pytest.raises(HpsearchError, match=r"hpsearch\[torch\]"):
        strategies.check_sampler("gp", MIXED, ["val_accuracy"])


def test_multi_objective_studies_take_nsga2_or_tpe(tmp_path, fake_train):
    for sampler, label in (("nsga2", "NSGAIISampler"), ("tpe", "TPESampler"), (None, "NSGAIISampler")):
        s = run(tmp_path / str(sampler), 4, objectives="accuracy,train_seconds", sampler=sampler)
        assert s.user_attrs["sampler"]["name"] == label and len(s.directions) == 2


# --- the command line -----------------------------------------------------------------------------------------


def cli_study(out, cifar_dir, *extra):
    return main(
        ["study", "--spec", "default", "--profile", "smoke", "--trials", "5", "--data-dir", str(cifar_dir)]
        + ["--out", str(out), "--study-name", "s", *extra]
    )


@pytest.mark.parametrize(
    "sampler, pruner",
    [("tpe", "asha"), ("random", "hyperband"), ("qmc", "median"), ("cmaes", "baseline"), ("gp", "none")],
)
def test_each_sampler_and_pruner_runs_a_study_from_the_command_line(
    fake_train, cifar_dir, tmp_path, capsys, sampler, pruner
):
    assert cli_study(tmp_path, cifar_dir, "--sampler", sampler, "--pruner", pruner) == 0
    header = " ".join(capsys.readouterr().out.split("storage ")[0].split())  # the header, unfolded
    assert f"sampler {sampler}" in header and ("pruning off" if pruner == "none" else f"pruning {pruner}") in header
    s = optuna.load_study(study_name="s", storage=open_storage(tmp_path / "studies" / "s.journal"))
    assert len(s.get_trials(states=FINISHED)) == 5
    assert {t.user_attrs[keys.STRATEGY] for t in s.trials} == {f"{sampler}/{pruner}"}
    assert (s.user_attrs["pruner"] is None) == (pruner == "none")
    assert (tmp_path / "reports" / "s" / "report.html").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--no-prune", "--pruner", "asha"], "--no-prune and --pruner asha contradict"),
        (["--pruner", "baseline", "--prune-floor"], "--prune-floor goes under --pruner asha"),
        (["--no-prune", "--prune-floor"], "--prune-floor goes under --pruner asha"),
        (["--sampler", "nsga2"], "nsga2 does not apply to a single-objective study"),
        (["--pruner", "hyperband", "--objectives", "accuracy,train_seconds"], "does not apply to a multi-objective"),
        (["--engine", "keras-tuner", "--sampler", "random"], "keras-tuner runs its own"),
    ],
)
def test_a_bad_combination_is_one_line_and_exit_2(fake_train, cifar_dir, tmp_path, capsys, extra, message):
    assert cli_study(tmp_path, cifar_dir, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hpsearch: ") and message in err
    assert not (tmp_path / "studies").exists()  # refused before anything was made


def test_prune_margin_in_points_is_refused_with_the_fraction_it_meant(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["study", "--prune-margin", "5"])
    assert exit_.value.code == 2
    assert "0.05" in capsys.readouterr().err


def test_the_default_is_tpe_asha_and_a_resume_keeps_the_studys_own_pruner(fake_train, cifar_dir, tmp_path, capsys):
    """asha is the default (README, "Search strategies"), for new studies only: a study created with another
    pruner (the baseline rule was the default before 0.3) resumes with it unless --pruner says otherwise."""
    assert cli_study(tmp_path / "new", cifar_dir) == 0
    assert "sampler tpe, pruning asha (rungs at epochs 1" in " ".join(capsys.readouterr().out.split())
    new = optuna.load_study(study_name="s", storage=open_storage(tmp_path / "new" / "studies" / "s.journal"))
    assert new.user_attrs["pruner"]["name"] == "asha"
    assert {t.user_attrs[keys.STRATEGY] for t in new.trials} == {"tpe/asha"}

    old = tmp_path / "old"
    assert cli_study(old, cifar_dir, "--pruner", "baseline") == 0
    capsys.readouterr()
    assert cli_study(old, cifar_dir, "--trials", "8") == 0  # the last --trials counts
    assert "pruning baseline-relative" in " ".join(capsys.readouterr().out.split())
    resumed = optuna.load_study(study_name="s", storage=open_storage(old / "studies" / "s.journal"))
    assert len(resumed.get_trials(states=FINISHED)) == 8
    assert {t.user_attrs[keys.STRATEGY] for t in resumed.trials} == {"tpe/baseline"}

    floored = tmp_path / "floor"
    assert cli_study(floored, cifar_dir, "--prune-floor") == 0  # the floor goes under the default
    stored = optuna.load_study(study_name="s", storage=open_storage(floored / "studies" / "s.journal"))
    assert stored.user_attrs["pruner"]["name"] == "asha" and stored.user_attrs["pruner"]["floor"]


def test_no_prune_is_pruner_none(fake_train, cifar_dir, tmp_path, capsys):
    assert cli_study(tmp_path, cifar_dir, "--no-prune") == 0
    assert "pruning off" in " ".join(capsys.readouterr().out.split())
    s = optuna.load_study(study_name="s", storage=open_storage(tmp_path / "studies" / "s.journal"))
    assert s.user_attrs["pruner"] is None and not s.get_trials(states=(TrialState.PRUNED,))


def test_asha_prunes_more_epochs_than_it_trains_on_a_wide_space(tmp_path, fake_train):
    """The fake's accuracy grows with log(lr) over six decades: most random trials are hopeless, and asha stops
    them at the first rung, so the study trains well under its trials' full epochs."""
    s = run(tmp_path, 20, sampler="random", pruner="asha", spec=SPEC)
    spent = sum(t.user_attrs[keys.EPOCHS_RUN] for t in s.get_trials(states=FINISHED))
    assert spent < 0.6 * 20 * BASE.epochs
    assert math.isclose(s.best_value, max(t.value for t in s.get_trials(states=(TrialState.COMPLETE,))))


@pytest.mark.slow
def test_asha_with_two_workers_reaches_the_total_with_one_baseline(tmp_path, cifar_dir):
    """Real worker processes (smoke training) on one journal: asha reads the study, not the process."""
    import os
    import subprocess
    import sys

    spec = tmp_path / "tiny.toml"
    spec.write_text(
        '[params]\npeak_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }\n'
        'lr_schedule = { type = "categorical", choices = ["triangular", "one_cycle"] }\n'
    )
    out = tmp_path / "out"
    argv = ["study", "--spec", str(spec), "--profile", "smoke", "--trials", "6", "--data-dir", str(cifar_dir)]
    argv += ["--out", str(out), "--study-name", "w", "--pruner", "asha", "--workers", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "hpsearch.cli", *argv], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    s = optuna.load_study(study_name="w", storage=open_storage(out / "studies" / "w.journal"))
    finished = s.get_trials(states=FINISHED)
    assert len(finished) == 6 and not s.get_trials(states=(TrialState.RUNNING,))
    assert sum(bool(t.user_attrs.get(keys.IS_BASELINE)) for t in finished) == 1
    assert {t.user_attrs[keys.STRATEGY] for t in finished} == {"tpe/asha"}


def test_no_tensorboard_writes_no_logs_and_points_to_none(fake_train, cifar_dir, tmp_path, capsys):
    assert cli_study(tmp_path / "on", cifar_dir) == 0
    assert "TensorBoard: tensorboard --logdir" in capsys.readouterr().out
    assert any((tmp_path / "on" / "tensorboard").rglob("events.out.tfevents.*"))
    assert cli_study(tmp_path / "off", cifar_dir, "--no-tensorboard") == 0
    assert "TensorBoard" not in capsys.readouterr().out and not (tmp_path / "off" / "tensorboard").exists()
