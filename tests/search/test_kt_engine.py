"""The keras-tuner engine: the spec on KerasTuner, our training in its trials, the Optuna schema out."""

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.core.config import TrainConfig
from hpsearch.errors import HpsearchError
from hpsearch.search import kt_engine
from hpsearch.search.kt_engine import distribution, hyperparameters, run_kt_study, sampled_params
from hpsearch.record import trials as record
from hpsearch.search.space import baseline_params, load_spec, parse_spec
from hpsearch.search.specs import SHIPPED
from tests.fakes import fake_result

STUDIES = SHIPPED
optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = parse_spec(
    """
[study]
description = "tiny"
[params]
label_smoothing = { type = "float", low = 0.0, high = 0.2 }
optimizer = { type = "categorical", choices = ["adam", "adamw"] }
weight_decay = { type = "float", low = 1e-4, high = 1e-2, log = true, when = { optimizer = "adamw" } }
lookahead = { type = "bool" }
lookahead_k = { type = "int", low = 2, high = 4, when = { lookahead = true } }
""",
    "tiny.toml",
)


def test_when_becomes_a_keras_tuner_condition():
    hp = hyperparameters(TINY)
    assert [p.name for p in hp.space] == list(TINY.params)
    hp.values.update(optimizer="adam", lookahead=True)
    assert not hp.is_active("weight_decay") and hp.is_active("lookahead_k")
    hp.values.update(optimizer="adamw", lookahead=False)
    assert hp.is_active("weight_decay") and not hp.is_active("lookahead_k")


def test_sampled_values_become_what_optuna_would_store():
    spec = parse_spec("""
[params]
widths = { type = "categorical", choices = [[8, 16, 16], [16, 32, 32]] }
label_smoothing = { type = "categorical", choices = [0, 0.1] }
optimizer = { type = "categorical", choices = ["adam", "adamw"] }
weight_decay = { type = "float", low = 1e-4, high = 1e-2, log = true, when = { optimizer = "adamw" } }
""")
    choices = {p.name: p for p in hyperparameters(spec).space}
    assert choices["label_smoothing"].values == [0.0, 0.1]  # one type for KerasTuner
    values = {
        "widths": "[16, 32, 32]",
        "label_smoothing": 0.0,
        "optimizer": "adam",
        "weight_decay": 0.001,
        "tuner/epochs": 2,
    }
    params = sampled_params(spec, values)
    assert params == {"widths": "[16, 32, 32]", "label_smoothing": 0, "optimizer": "adam"}  # inactive dropped
    assert spec.to_config(TrainConfig(), params).widths == (16, 32, 32)
    for name, value in params.items():  # Optuna accepts them as trial params
        assert distribution(spec.params[name])._contains(distribution(spec.params[name]).to_internal_repr(value))


@pytest.mark.parametrize("name", ["default", "future_work", "architecture", "lr_schedule"])
def test_distributions_match_the_optuna_engine(name):
    spec = load_spec(STUDIES / f"{name}.toml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(10):
        trial = study.ask()
        spec.suggest(trial)
        assert trial.distributions == {n: distribution(spec.params[n]) for n in trial.params}
        study.tell(trial, 0.0)


def fake_train(diverge_every: int = 3):
    """An instant stand-in for core train(): every `diverge_every`-th run 'diverges'; accuracy rises with
    epochs and label smoothing."""
    calls = iter(range(1, 10**6))

    def train(config, data, on_epoch=None, **_):
        if next(calls) % diverge_every == 0:
            raise TrainingDiverged("loss became nan in epoch 1 (lr 0.003)")
        rows = []
        for epoch in range(1, config.epochs + 1):
            acc = 0.1 * epoch + config.label_smoothing
            rows.append(
                dict(
                    epoch=epoch,
                    loss=1 / epoch,
                    accuracy=acc,
                    val_loss=1 / epoch,
                    val_accuracy=acc,
                    lr=1e-3,
                    seconds=0.01,
                )
            )
            on_epoch(epoch, dict(rows[-1]))
        return fake_result(config, rows, 0.01)

    return train


def test_hyperband_budgets_failures_and_resume_in_the_optuna_schema(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(kt_engine, "train", fake_train())
    base = TrainConfig.from_profile("smoke", epochs=4)
    storage = f"sqlite:///{tmp_path}/s.db"
    study = run_kt_study(
        TINY, None, base, storage, "kt", trials=8, tuner="hyperband", seed=3, out=tmp_path, profile="smoke", factor=2
    )
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 8
    assert trials[0].user_attrs["is_baseline"] and trials[0].state == TrialState.COMPLETE
    # the baseline carries its own values (for parameter plots, optuna-dashboard's too) and trained the base
    assert trials[0].params == baseline_params(TINY, base) and trials[0].params["optimizer"] == "adam"
    assert trials[0].user_attrs["config"] == {}
    assert study.user_attrs["engine"] == "keras-tuner" and study.user_attrs["profile"] == "smoke"
    assert study.user_attrs["objectives"] == ["val_accuracy"] and study.user_attrs["max_epochs"] == 4
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "Hyperband with factor 2 over 4 epochs starts trials on smaller budgets"
    for t in pruned:
        assert t.user_attrs["pruned_at"] == t.user_attrs["epochs_run"] == len(t.intermediate_values) < 4
    for t in trials:
        if t.state == TrialState.FAIL:  # diverged: recorded with its reason, the search went on
            assert "TrainingDiverged" in t.user_attrs["fail_reason"]
        else:
            assert t.user_attrs["epochs_run"] == len(record.epoch_rows(t)) == max(t.intermediate_values)
            assert TrainConfig.from_dict(record.stored_config(study, t)) == TINY.to_config(base, t.params)
        assert ("weight_decay" in t.params) == (t.params.get("optimizer") == "adamw")
    assert any(t.state == TrialState.FAIL for t in trials)
    assert (tmp_path / "studies" / "keras_tuner" / "kt").is_dir()

    again = run_kt_study(
        TINY, None, base, storage, "kt", trials=10, tuner="hyperband", seed=3, out=tmp_path, profile="smoke", factor=2
    )
    printed = capfd.readouterr().out  # KerasTuner's own chatter stays out of the console (no --verbose)
    assert "Best val_accuracy So Far" not in printed and "Search: Running Trial" not in printed
    assert "Reloading Tuner" not in printed
    assert len([t for t in again.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 10
    assert [t.number for t in again.get_trials()][: len(trials)] == [t.number for t in trials]
    assert sum(t.user_attrs.get("is_baseline", False) for t in again.get_trials()) == 1


def test_resuming_with_other_options_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(kt_engine, "train", fake_train())
    base = TrainConfig.from_profile("smoke")
    storage = f"sqlite:///{tmp_path}/s.db"
    run_kt_study(TINY, None, base, storage, "kt", trials=2, tuner="bayesian", out=tmp_path, profile="smoke")
    with pytest.raises(HpsearchError, match="keras-tuner hyperband|keras-tuner bayesian"):
        run_kt_study(TINY, None, base, storage, "kt", trials=3, tuner="hyperband", out=tmp_path, profile="smoke")
    other = parse_spec('[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 0.3 }\n', "other.toml")
    with pytest.raises(HpsearchError, match="another search space"):
        run_kt_study(other, None, base, storage, "kt", trials=3, tuner="bayesian", out=tmp_path, profile="smoke")
    with pytest.raises(HpsearchError, match="other base"):
        run_kt_study(
            TINY, None, base.replace(epochs=2), storage, "kt", trials=3, tuner="bayesian", out=tmp_path, profile="smoke"
        )


def test_same_seed_same_trials(tmp_path, monkeypatch):
    base = TrainConfig.from_profile("smoke")
    runs = []
    for i in range(2):
        monkeypatch.setattr(kt_engine, "train", fake_train())
        runs.append(
            run_kt_study(
                TINY, None, base, None, "kt", trials=4, tuner="bayesian", seed=0, out=tmp_path / str(i), profile="smoke"
            )
        )
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert (tmp_path / "0" / "studies" / "kt.journal").is_file()  # the default storage: OUT/studies/<name>.journal


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["hyperband", "bayesian"])
def test_runs_at_the_smoke_profile(cifar, tmp_path, tuner):
    base = TrainConfig.from_profile("smoke", epochs=2)
    study = run_kt_study(
        TINY,
        cifar,
        base,
        f"sqlite:///{tmp_path}/s.db",
        "kt",
        trials=3,
        tuner=tuner,
        out=tmp_path,
        profile="smoke",
        factor=2,
    )
    trials = study.get_trials()
    assert len([t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 3
    assert trials[0].user_attrs["is_baseline"] and trials[0].user_attrs["epochs_run"] >= 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert study.best_value == max(t.value for t in complete)
    assert study.best_value == pytest.approx(max(e["val_accuracy"] for e in record.epoch_rows(study.best_trial)))
    assert all(t.user_attrs["train_seconds"] > 0 for t in trials if t.state != TrialState.FAIL)
