"""BaselinePruner on hand-made studies: the baseline's curve is the reference, minus a margin, after warm-up."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpsearch.search.pruning import BaselinePruner

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASELINE_CURVE = {1: 0.30, 2: 0.50, 3: 0.60, 4: 0.65}


def study_with_baseline(pruner, curve=BASELINE_CURVE, state=TrialState.COMPLETE):
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(
        create_trial(
            state=state,
            value=max(curve.values()) if state == TrialState.COMPLETE else None,
            intermediate_values=curve,
            user_attrs={"is_baseline": True},
        )
    )
    return study


def run_curve(study, curve, is_baseline=False):
    """Report `curve` epoch by epoch; return the epoch at which the trial was pruned, or None."""
    trial = study.ask()
    trial.set_user_attr("is_baseline", is_baseline)
    for epoch, value in curve.items():
        trial.report(value, epoch)
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return epoch
    study.tell(trial, value)
    return None


def test_a_trial_far_below_the_baseline_is_pruned_after_warmup():
    study = study_with_baseline(BaselinePruner(margin=0.05, warmup_epochs=1))
    # already 0.2 behind at epoch 1, but epoch 1 is the warm-up: pruned at epoch 2, before its last epoch
    assert run_curve(study, {1: 0.10, 2: 0.20, 3: 0.25, 4: 0.30}) == 2


def test_a_trial_within_the_margin_runs_to_the_end():
    study = study_with_baseline(BaselinePruner(margin=0.05))
    assert run_curve(study, {e: v - 0.049 for e, v in BASELINE_CURVE.items()}) is None


def test_a_slow_starter_is_judged_at_each_epoch():
    study = study_with_baseline(BaselinePruner(margin=0.05, warmup_epochs=2))
    assert run_curve(study, {1: 0.1, 2: 0.1, 3: 0.62, 4: 0.70}) is None  # caught up after the warm-up
    assert run_curve(study, {1: 0.1, 2: 0.1, 3: 0.50, 4: 0.70}) == 3


def test_no_reference_never_prunes():
    study = optuna.create_study(direction="maximize", pruner=BaselinePruner())
    assert run_curve(study, {1: 0.0, 2: 0.0, 3: 0.0}) is None
    running_baseline = study_with_baseline(BaselinePruner(), state=TrialState.FAIL)  # not completed: no reference
    assert run_curve(running_baseline, {1: 0.0, 2: 0.0, 3: 0.0}) is None


def test_the_baseline_itself_is_never_pruned():
    study = study_with_baseline(BaselinePruner(margin=0.0))
    assert run_curve(study, {1: 0.0, 2: 0.0, 3: 0.0}, is_baseline=True) is None


def test_epochs_past_an_early_stopped_baseline_use_its_last_value():
    pruner = BaselinePruner(margin=0.05)
    study = study_with_baseline(pruner, curve={1: 0.3, 2: 0.5})
    assert pruner.threshold(study, 5) == pytest.approx(0.45)
    assert run_curve(study, {1: 0.4, 2: 0.5, 3: 0.5, 4: 0.44}) == 4


def test_nan_is_pruned():
    study = study_with_baseline(BaselinePruner())
    assert run_curve(study, {1: 0.3, 2: float("nan")}) == 2


def test_the_reference_is_per_study():
    pruner = BaselinePruner()
    strong, weak = study_with_baseline(pruner), study_with_baseline(pruner, curve={1: 0.1, 2: 0.1})
    assert pruner.threshold(strong, 2) == pytest.approx(0.45)
    assert pruner.threshold(weak, 2) == pytest.approx(0.05)


def test_settings_and_validation():
    assert BaselinePruner().settings() == {"name": "BaselinePruner", "margin": 0.05, "warmup_epochs": 1}
    with pytest.raises(ValueError):
        BaselinePruner(margin=-0.1)
    with pytest.raises(ValueError):
        BaselinePruner(warmup_epochs=-1)
