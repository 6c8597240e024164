"""Is the winner real? Retrain a study's best configuration and its baseline over several seeds.

One validation number per trial can be luck: the search picks the maximum of many noisy numbers, so the
winner's value is biased upward. `confirm` retrains the chosen trial's exact configuration (its stored
`config`) and the baseline trial's, each with seeds base_seed + 0 .. N-1, at the study's profile, scores
every run on the *test* set with TTA (the first time the search's configurations see it), and compares
the two groups with Welch's t-test (unequal variances: a new recipe may be more or less stable than
the baseline). It returns the result and writes nothing: the confirm command stores it in the study
(user attr "confirm") and has the report layer write reports/<study>/ (confirm.json, best_params.json, ...).
"""
from __future__ import annotations

import datetime as _dt
import math
import statistics
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.core.config import TrainConfig
from hpsearch.core.evaluate import evaluate_test
from hpsearch.core.train import train
from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.trials import baseline_trial, best_trial, config_overrides
from hpsearch.search.space import parse_spec

# scipy (for the t-test) is imported where it is used: a heavy library needed only once per confirm.

METRIC = "test_accuracy_tta"


def pick_trial(study: optuna.Study, number: int | None = None) -> FrozenTrial:
    """The trial to confirm: `number`, or the study's best COMPLETE trial by val accuracy (as the reports
    name it). The baseline itself cannot be confirmed against itself."""
    if number is None:
        trial = best_trial(study)
        if trial is None:
            raise HpsearchError(f"study {study.study_name!r} has no COMPLETE trial yet; run `hpsearch study` first")
    else:
        trial = next((t for t in study.trials if t.number == number), None)
        if trial is None:
            raise HpsearchError(f"study {study.study_name!r} has no trial {number} "
                                f"(trials 0..{len(study.trials) - 1}); pass another --trial")
        if trial.state != TrialState.COMPLETE:
            raise HpsearchError(f"trial {number} is {trial.state.name}, not COMPLETE: only a trial that ran to its "
                                f"end can be confirmed; pass another --trial")
    if trial.user_attrs.get(keys.IS_BASELINE):
        raise HpsearchError(f"the best trial of {study.study_name!r} is the baseline itself (trial {trial.number}): "
                            f"nothing to confirm; run more trials, or pass --trial N to test another trial")
    return trial


def trial_config(study: optuna.Study, trial: FrozenTrial) -> TrainConfig:
    """The exact configuration `trial` trained: its stored config, else the profile's baseline with its params."""
    stored = trial.user_attrs.get(keys.CONFIG)
    if isinstance(stored, dict):
        return TrainConfig.from_dict(stored)
    base = TrainConfig.from_profile(study_profile(study))
    if trial.user_attrs.get(keys.IS_BASELINE):
        return base
    spec = parse_spec(study.user_attrs.get(keys.SPEC_TEXT, ""), study.user_attrs.get(keys.SPEC_PATH, "<spec>"))
    return spec.to_config(base, trial.params)


def baseline_config(study: optuna.Study) -> TrainConfig:
    trial = baseline_trial(study)
    return trial_config(study, trial) if trial is not None else TrainConfig.from_profile(study_profile(study))


def study_profile(study: optuna.Study) -> str:
    profile = study.user_attrs.get(keys.PROFILE)
    if not profile:
        raise HpsearchError(f"study {study.study_name!r} records no profile (user attr {keys.PROFILE!r}); "
                            f"it was not made by `hpsearch study`")
    return profile


def welch_p_value(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch's t-test p-value; None with fewer than 2 runs a side or no variance at all."""
    if len(a) < 2 or len(b) < 2 or statistics.variance(a) + statistics.variance(b) == 0:
        return None
    from scipy.stats import ttest_ind

    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def score_on_test(config: TrainConfig, data) -> dict[str, float]:
    """Train `config` and score it on the test set: {"test_accuracy_tta", "test_accuracy", "val_accuracy", "seconds"}."""
    result = train(config, data)
    scores = evaluate_test(result, data)
    result.model = None                       # free it before the next run
    return {METRIC: scores["test_accuracy_tta"], "test_accuracy": scores["test_accuracy"],
            "val_accuracy": result.val_accuracy, "seconds": result.train_seconds}


def run_confirm(study: optuna.Study, data, seeds: int = 3, trial: int | None = None,
                on_run: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Retrain the chosen trial and the baseline with `seeds` seeds each and compare them; returns the result
    (what the confirm command stores under the study's user attr "confirm"). `on_run(run)` is called after
    each run (run: which, seed, test_accuracy_tta, test_accuracy, val_accuracy, seconds)."""
    if seeds < 1:
        raise HpsearchError(f"--seeds must be at least 1 (got {seeds})")
    chosen = pick_trial(study, trial)
    configs = {"baseline": baseline_config(study), "best": trial_config(study, chosen)}
    scores: dict[str, list[float]] = {"baseline": [], "best": []}
    runs: list[dict[str, Any]] = []
    used = [configs["baseline"].seed + i for i in range(seeds)]
    for i in range(seeds):
        for which in ("baseline", "best"):      # interleaved, so an interrupted run stays balanced
            config = configs[which].replace(seed=configs[which].seed + i)
            run = {"which": which, "seed": config.seed, **score_on_test(config, data)}
            scores[which].append(run[METRIC])
            runs.append(run)
            if on_run is not None:
                on_run(run)
    return summarize(study, chosen, used, scores, runs)


def summarize(study: optuna.Study, chosen: FrozenTrial, seeds: list[int], scores: dict[str, list[float]],
              runs: list[dict[str, Any]]) -> dict[str, Any]:
    baseline_mean, baseline_std = _mean_std(scores["baseline"])
    best_mean, best_std = _mean_std(scores["best"])
    return {"seeds": seeds, "metric": METRIC, "baseline": scores["baseline"], "best": scores["best"],
            "baseline_mean": baseline_mean, "baseline_std": baseline_std, "best_mean": best_mean, "best_std": best_std,
            "p_value": welch_p_value(scores["best"], scores["baseline"]), "test": "Welch's t-test (two-sided)",
            "best_trial": chosen.number, "best_params": config_overrides(study, chosen),
            "profile": study_profile(study), "runs": runs,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
