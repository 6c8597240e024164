"""What a trial stores, and reading it back: per-epoch columns short enough for optuna-dashboard (which cuts an
attr at 1,024 characters and gives every attr a column of its trial table), the config as its changes from the
study's base config, and studies stored before either change read the same."""

import json
import random

import optuna
from optuna.trial import TrialState, create_trial

from hpsearch.core.config import TrainConfig
from hpsearch.record import trials as record

BASE = TrainConfig.from_profile("cpu")


def rows(n: int, seed: int = 0) -> list[dict]:
    """RunResult.epochs rows with full float noise, as training produces them."""
    rng = random.Random(seed)
    return [
        {
            "epoch": i,
            "loss": 2.0 / i + rng.random() / 7,
            "accuracy": 0.3 + 0.05 * i + rng.random() / 9,
            "val_loss": 2.1 / i + rng.random() / 7,
            "val_accuracy": (1000 + 500 * i + rng.randrange(300)) / 5000,  # k / 5000 val images
            "lr": 0.0015 * (0.2 if i > 6 else 1.0) / 3,
            "seconds": 40 + rng.random() * 3,
        }
        for i in range(1, n + 1)
    ]


def test_ten_epochs_are_short_columns_that_read_back_as_rows():
    epochs = rows(10)
    attrs = record.epoch_attrs(epochs)
    assert set(attrs) == {f"curve:{c}" for c in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")}
    assert all(len(v) == 10 and len(json.dumps(v)) <= 120 for v in attrs.values())
    back = record.epoch_rows(create_trial(value=0.5, user_attrs=attrs))
    assert [r["epoch"] for r in back] == list(range(1, 11))
    for mine, theirs in zip(back, epochs):
        assert set(mine) == set(theirs)
        assert all(abs(mine[k] - theirs[k]) <= 1e-4 * abs(theirs[k]) for k in theirs)
        assert mine["val_accuracy"] == theirs["val_accuracy"]  # an accuracy on 5,000 images is kept exactly


def test_a_diverged_epoch_reads_back_as_missing_not_as_a_number():
    epochs = rows(2)
    epochs[1]["loss"] = float("nan")
    back = record.epoch_rows(create_trial(value=0.5, user_attrs=record.epoch_attrs(epochs)))
    assert back[1]["loss"] is None and back[0]["loss"] is not None


def study_with(trials_attrs: list[dict], base_config: dict | None) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    if base_config is not None:
        study.set_user_attr("base_config", base_config)
    for i, attrs in enumerate(trials_attrs):
        study.add_trial(create_trial(value=0.6 + i / 100, user_attrs=attrs))
    return study


def test_the_config_is_stored_as_its_changes_and_read_back_whole():
    base = json.loads(json.dumps(BASE.to_dict()))
    tuned = BASE.replace(peak_lr=0.004, widths=(32, 64, 64), label_smoothing=0.2)
    changes = record.config_changes(tuned.to_dict(), BASE.to_dict())
    assert changes == {"peak_lr": 0.004, "widths": [32, 64, 64], "label_smoothing": 0.2}
    assert record.config_changes(BASE.to_dict(), BASE.to_dict()) == {}
    study = study_with([{"is_baseline": True, "config": {}}, {"config": changes}], base)
    baseline, trial = study.trials
    assert TrainConfig.from_dict(record.stored_config(study, trial)) == tuned
    assert TrainConfig.from_dict(record.stored_config(study, baseline)) == BASE
    assert record.config_overrides(study, trial) == changes
    assert record.param_value(study, baseline, "width_2") == BASE.widths[1]
    assert record.param_value(study, trial, "peak_lr") == 0.004


def test_a_study_stored_before_the_short_attrs_reads_the_same():
    """Whole configs and whole epoch rows (hpsearch 0.1), no base config on the study."""
    tuned = BASE.replace(peak_lr=0.004)
    epochs = rows(3)
    old = study_with(
        [
            {"is_baseline": True, "config": json.loads(json.dumps(BASE.to_dict())), "epochs": epochs},
            {"config": json.loads(json.dumps(tuned.to_dict())), "epochs": epochs},
        ],
        None,
    )
    new = study_with(
        [
            {"is_baseline": True, "config": {}, **record.epoch_attrs(epochs)},
            {"config": {"peak_lr": 0.004}, **record.epoch_attrs(epochs)},
        ],
        json.loads(json.dumps(BASE.to_dict())),
    )
    for a, b in zip(old.trials, new.trials):
        assert record.stored_config(old, a) == record.stored_config(new, b)
        assert record.curve(a) == record.curve(b) == [(e["epoch"], e["val_accuracy"]) for e in epochs]
        assert record.param_value(old, a, "peak_lr") == record.param_value(new, b, "peak_lr")
    assert (
        record.config_overrides(old, old.trials[1]) == record.config_overrides(new, new.trials[1]) == {"peak_lr": 0.004}
    )
    assert record.best_params(old)["config"] == record.best_params(new)["config"]


def test_a_trial_that_stored_nothing_has_no_config_and_no_epochs():
    study = study_with([{}], json.loads(json.dumps(BASE.to_dict())))
    (trial,) = study.trials
    assert record.stored_config(study, trial) is None and record.epoch_rows(trial) == []
    assert record.curve(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.4, 2: 0.5})) == [
        (1, 0.4),
        (2, 0.5),
    ]


def test_a_trial_stopped_early_is_compared_with_the_baseline_at_its_own_epoch():
    base_curve = {1: 0.40, 2: 0.55, 3: 0.62, 4: 0.70}
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.70, user_attrs={"is_baseline": True}, intermediate_values=base_curve))
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.42, 2: 0.57}))
    study.add_trial(create_trial(value=0.66, intermediate_values={1: 0.3, 2: 0.5, 3: 0.6, 4: 0.66}))
    baseline, pruned, complete = study.trials
    base = record.baseline_trial(study)
    assert abs(record.baseline_delta(base, pruned) - 0.02) < 1e-9  # ahead at epoch 2, not 13 points behind
    assert abs(record.baseline_delta(base, complete) + 0.04) < 1e-9
    assert record.baseline_delta(base, baseline) is None
