"""Fake studies and run folders, built directly with Optuna (no training): the storage schema, by hand.

Imported by conftest.py (fixtures) and by tests that need the constants.
"""

from __future__ import annotations

import json
import math
import random

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.core.config import TrainConfig
from hpsearch.record.trials import config_changes, epoch_attrs

MAX_EPOCHS = 5
XSS = "<script>alert(1)</script>"
FAIL_REASON = 'TrainingDiverged: loss is nan at epoch 2 <img src=x onerror="alert(2)">'
SPACE = {
    "peak_lr": FloatDistribution(1e-4, 1e-2, log=True),
    "lr_schedule": CategoricalDistribution(["step", "triangular", "one_cycle"]),
    "label_smoothing": FloatDistribution(0.0, 0.3),
    "optimizer": CategoricalDistribution(["adam", "adamw"]),
    "batch_size": IntDistribution(64, 512, log=True),
}
BASELINE_PARAMS = {
    "peak_lr": 0.003,
    "lr_schedule": "step",
    "label_smoothing": 0.1,
    "optimizer": "adam",
    "batch_size": 128,
}


def _curve(params: dict, rng: random.Random) -> list[float]:
    """A plausible val-accuracy curve whose ceiling depends on the parameters."""
    ceiling = 0.80 - 2.0 * abs(math.log10(params["peak_lr"] / 0.004)) ** 2 * 0.05
    ceiling += {"step": 0.0, "triangular": 0.01, "one_cycle": 0.02}[params["lr_schedule"]]
    ceiling -= abs(params["label_smoothing"] - 0.12) * 0.2
    return [
        round(ceiling * (1 - math.exp(-(e + 0.6) / 1.4)) + rng.gauss(0, 0.004), 4) for e in range(1, MAX_EPOCHS + 1)
    ]


BASE_CONFIG = json.loads(json.dumps(TrainConfig.from_profile("cpu", **BASELINE_PARAMS).to_dict()))  # as stored: JSON


def _epochs(curve: list[float]) -> list[dict]:
    return [
        {
            "epoch": i,
            "loss": 2.0 - 1.2 * v,
            "accuracy": v + 0.03,
            "val_loss": 2.1 - 1.2 * v,
            "val_accuracy": v,
            "lr": 0.0015,
            "seconds": 11.0 + 0.1 * i,
        }
        for i, v in enumerate(curve, 1)
    ]


def _trial(
    params: dict,
    curve: list[float],
    state: TrialState,
    *,
    baseline: bool = False,
    objectives: int = 1,
    fail_reason: str | None = None,
    pruned_at: int | None = None,
):
    seconds = round((140 / params["batch_size"] ** 0.5 + 6) * len(curve), 1)  # small batches: slower epochs
    values = None
    if state == TrialState.COMPLETE:
        values = [max(curve)] + ([seconds] if objectives == 2 else [])
    config = TrainConfig.from_profile("cpu", **params).to_dict()
    attrs = {  # as the engines store them: short per-epoch columns, the config's changes from the base config
        "is_baseline": baseline,
        **epoch_attrs(_epochs(curve)),
        "epochs_run": len(curve),
        "pruned_at": pruned_at,
        "train_seconds": seconds,
        "config": config_changes(config, BASE_CONFIG),
    }
    if fail_reason:
        attrs["fail_reason"] = fail_reason
    sampled = {} if baseline else params  # the engine enqueues the baseline with no parameters
    return create_trial(
        state=state,
        values=values,
        params=sampled,
        distributions={k: SPACE[k] for k in sampled},
        user_attrs=attrs,
        intermediate_values={i: v for i, v in enumerate(curve, 1)},
    )


def build_study(
    name: str = "cpu-demo",
    storage=None,
    *,
    n_trials: int = 24,
    objectives: int = 1,
    running: bool = True,
    failed: bool = True,
    confirm: bool = True,
    seed: int = 0,
) -> optuna.Study:
    """A study as `hpsearch study` stores it: baseline trial 0, completed, pruned, failed and running trials."""
    rng = random.Random(seed)
    directions = ["maximize"] + (["minimize"] if objectives == 2 else [])
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    names = ["val_accuracy", "train_seconds"][:objectives]
    attrs = {
        "spec_path": "studies/cpu-demo.toml",
        "spec_text": '[study]\nname = "cpu-demo"\n\n[space.peak_lr]\n'
        'type = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n# a <b>tag</b> in the spec\n',
        "description": "Example: synthetic trial data written straight into Optuna (no training)",
        "profile": "cpu",
        "objectives": names,
        "directions": directions,
        "pruner": {"name": "BaselinePruner", "margin": 0.03, "warmup_epochs": 2} if objectives == 1 else None,
        "sampler": {"name": "TPESampler" if objectives == 1 else "NSGAIISampler", "seed": 0},
        "max_epochs": MAX_EPOCHS,
        "base_config": BASE_CONFIG,
        "engine": "optuna",
        "versions": {
            "hpsearch": "0.1.0",
            "tensorflow": "2.21.0",
            "keras": "3.15.0",
            "optuna": optuna.__version__,
            "python": "3.11.7",
        },
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    base_curve = _curve(BASELINE_PARAMS, rng)
    study.add_trial(_trial(BASELINE_PARAMS, base_curve, TrialState.COMPLETE, baseline=True, objectives=objectives))
    for number in range(1, n_trials):
        params = {
            "peak_lr": 10 ** rng.uniform(-4, -2),
            "lr_schedule": rng.choice(["step", "triangular", "one_cycle"]),
            "label_smoothing": rng.uniform(0, 0.3),
            "optimizer": rng.choice(["adam", "adamw"]),
            "batch_size": rng.choice([64, 128, 256, 512]),
        }
        curve = _curve(params, rng)
        stop = next((e for e in range(3, MAX_EPOCHS) if curve[e - 1] < base_curve[e - 1] - 0.03), None)
        stop = stop if objectives == 1 else None  # the engine never prunes a multi-objective study
        if failed and number == 5:
            study.add_trial(_trial(params, curve[:2], TrialState.FAIL, objectives=objectives, fail_reason=FAIL_REASON))
        elif stop is not None:
            study.add_trial(_trial(params, curve[:stop], TrialState.PRUNED, objectives=objectives, pruned_at=stop))
        else:
            study.add_trial(_trial(params, curve, TrialState.COMPLETE, objectives=objectives))
    if running:
        params = dict(BASELINE_PARAMS, peak_lr=0.005, lr_schedule="one_cycle")
        study.add_trial(_trial(params, _curve(params, rng)[:2], TrialState.RUNNING, objectives=objectives))
    if confirm:
        add_confirm(
            study, "cpu", tables_best(study), [0.781, 0.776, 0.784, 0.779, 0.780], [0.801, 0.797, 0.806, 0.799, 0.803]
        )
    return study


def add_confirm(
    study: optuna.Study, profile: str, trial: int, baseline: list[float], best: list[float], seed: int = 42
) -> None:
    """Confirm runs at `profile` as `hpsearch confirm` stores them, one seed run at a time."""
    from hpsearch.record import confirms

    seeds = [seed + i for i in range(max(len(baseline), len(best)))]
    for arm, values in ((None, baseline), (trial, best)):
        for s, value in zip(seeds, values):
            confirms.add_run(
                study, profile, {"trial": arm, "seed": s, "test_accuracy_tta": value}, seeds=seeds, trials=[trial]
            )


def tables_best(study: optuna.Study) -> int:
    from hpsearch.record.trials import best_trial

    return best_trial(study).number


def build_metrics(name: str = "baseline-cpu") -> dict:
    """A metrics.json as `hpsearch baseline` writes it (RunResult.to_dict() plus name, versions, created)."""
    rng = random.Random(1)
    curve = _curve(BASELINE_PARAMS, rng)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    per_class = [0.84, 0.9, 0.66, 0.58, 0.74, 0.67, 0.85, 0.83, 0.89, 0.87]
    confusion = [
        [int(200 * per_class[i]) if i == j else (200 - int(200 * per_class[i])) // 9 + (i + j) % 2 for j in range(10)]
        for i in range(10)
    ]
    return {
        "config": TrainConfig.from_profile("cpu").to_dict(),
        "device": "CPU (2 cores, XLA)",
        "epochs": [dict(e, lr=[0.0015, 0.0015, 0.0012, 0.0012, 0.0005][i]) for i, e in enumerate(_epochs(curve))],
        "epochs_run": len(curve),
        "val_accuracy": max(curve),
        "test_accuracy": 0.771,
        "test_accuracy_tta": 0.783,
        "test_per_class_accuracy": per_class,
        "test_confusion": confusion,
        "class_names": classes,
        "train_seconds": 57.3,
        "images_per_second": 455.2,
        "model_path": "reports/baseline-cpu/best.keras",
        "stopped_reason": "completed",
        "name": name,
        "profile": "cpu",
        "versions": {"hpsearch": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.0", "python": "3.11.7"},
        "created": "2026-11-02T10:00:00+00:00",
    }
