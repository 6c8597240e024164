"""Is the winner real? Retrain a study's best configuration(s) and its baseline over several seeds, at any profile.

One validation number per trial can be luck: the search picks the maximum of many noisy numbers, so the
winner's value is biased upward. `confirm` retrains the chosen trials' configurations and the baseline's,
each with seeds base_seed + 0 .. N-1, at a profile (the study's own by default, or another: search on `cpu`,
confirm at `full` on a GPU), scores every run on the *test* set with TTA (the first time the search's
configurations see it), and hands each finished run to `on_run` as it finishes: the confirm command stores
it in the study at once (record/confirms.py), so an interrupt keeps it and the next run skips it. The
statistics are computed from the stored runs by record.confirms with SciPy (record/significance.py): the
paired t-test on per-seed differences when every seed ran in both arms (one seed sets both arms' shuffle,
augmentation and test subset), else Welch's (unequal variances). This module writes nothing.

At the study's own profile a trial trains its stored config; at another profile it is that profile's
baseline with the trial's TrainConfig overrides (record.trials.config_overrides), so a space that searched
only the recipe carries over unchanged while the profile sizes the run.
"""

from __future__ import annotations

from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.core.config import TrainConfig
from hpsearch.core.evaluate import evaluate_test
from hpsearch.core.train import train
from hpsearch.errors import HpsearchError
from hpsearch.core.result import jsonable
from hpsearch.record import confirms, keys
from hpsearch.record.trials import (
    baseline_trial,
    best_trial,
    config_overrides,
    maximizes,
    objective_index,
    stored_config,
    trial_value,
)
from hpsearch.search.reproduce import at_profile, base_at
from hpsearch.search.space import parse_spec

METRIC = confirms.METRIC


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
            raise HpsearchError(
                f"study {study.study_name!r} has no trial {number} "
                f"(trials 0..{len(study.trials) - 1}); pass another --trial"
            )
        if trial.state != TrialState.COMPLETE:
            raise HpsearchError(
                f"trial {number} is {trial.state.name}, not COMPLETE: only a trial that ran to its "
                f"end can be confirmed; pass another --trial"
            )
    if trial.user_attrs.get(keys.IS_BASELINE):
        raise HpsearchError(
            f"the best trial of {study.study_name!r} is the baseline itself (trial {trial.number}): "
            f"nothing to confirm; run more trials, or pass --trial N to test another trial"
        )
    return trial


def trial_config(study: optuna.Study, trial: FrozenTrial) -> TrainConfig:
    """The exact configuration `trial` trained: its stored config, else the profile's baseline with its params."""
    stored = stored_config(study, trial)
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
        raise HpsearchError(
            f"study {study.study_name!r} records no profile (user attr {keys.PROFILE!r}); "
            f"it was not made by `hpsearch study`"
        )
    return profile


def welch_p_value(a: list[float], b: list[float]) -> float | None:
    """Two-sided Welch's t-test p-value; None with fewer than 2 runs a side or no variance at all."""
    return confirms.welch(a, b)[2]


def pick_trials(study: optuna.Study, number: int | None = None, top: int | None = None) -> list[FrozenTrial]:
    """--trial N, else the `top` best COMPLETE non-baseline trials by val accuracy (default: the best one)."""
    if number is not None or not top or top == 1:
        return [pick_trial(study, number)]
    index = objective_index(study)
    done = [t for t in study.trials if trial_value(t, index) is not None and not t.user_attrs.get(keys.IS_BASELINE)]
    if not done:
        raise HpsearchError(
            f"study {study.study_name!r} has no COMPLETE trial but the baseline; run `hpsearch study` first"
        )
    done.sort(key=lambda t: (-trial_value(t, index) if maximizes(study) else trial_value(t, index), t.number))
    return done[:top]


def configs_at(study: optuna.Study, trials: list[FrozenTrial], profile: str) -> dict[int | None, TrainConfig]:
    """{None: the baseline, number: that trial} as trained at `profile`."""
    if profile == study_profile(study):
        return {None: baseline_config(study), **{t.number: trial_config(study, t) for t in trials}}
    TrainConfig.from_profile(profile)  # an unknown profile fails here, by name
    base = base_at(profile, study_profile(study), jsonable(baseline_config(study).to_dict()))
    spec = _spec(study)
    return {
        None: base,
        **{t.number: at_profile(base, spec, t.params, config_overrides(study, t)) for t in trials},
    }


def _spec(study: optuna.Study):
    try:
        return parse_spec(study.user_attrs[keys.SPEC_TEXT], study.user_attrs.get(keys.SPEC_PATH, "<spec>"))
    except (KeyError, HpsearchError):
        return None


def score_on_test(config: TrainConfig, data, out_dir: str | None = None) -> dict[str, float]:
    """Train `config` and score it on the test set: {"test_accuracy_tta", "test_accuracy", "val_accuracy", "seconds"}.
    With `out_dir`, its best checkpoint is left in out_dir/best.keras (the confirm command keeps each arm's best)."""
    result = train(config, data, out_dir=out_dir)
    scores = evaluate_test(result, data)
    result.model = None  # free it before the next run
    return {
        METRIC: scores["test_accuracy_tta"],
        "test_accuracy": scores["test_accuracy"],
        "val_accuracy": result.val_accuracy,
        "seconds": result.train_seconds,
    }


def planned_seeds(study: optuna.Study, seeds: int) -> list[int]:
    return [baseline_config(study).seed + i for i in range(seeds)]


def run_confirm(
    study: optuna.Study,
    data,
    trials: list[FrozenTrial],
    *,
    profile: str | None = None,
    seeds: int = 3,
    skip: set[tuple[int | None, int]] = frozenset(),
    on_run: Callable[[dict[str, Any]], None] | None = None,
    score: Callable[[TrainConfig, Any], dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Retrain `trials` and the baseline with `seeds` seeds each at `profile` (default: the study's), skipping
    the (trial or None, seed) pairs in `skip` (runs already stored); returns the runs it trained. `on_run(run)`
    is called after each run (run: trial (None = baseline), seed, profile, test_accuracy_tta, test_accuracy,
    val_accuracy, seconds): the confirm command stores it there. `score(config, data)`: score_on_test by default."""
    if seeds < 1:
        raise HpsearchError(f"--seeds must be at least 1 (got {seeds})")
    profile = profile or study_profile(study)
    score = score or score_on_test
    configs = configs_at(study, trials, profile)
    runs = []
    for seed in planned_seeds(study, seeds):
        for which, config in configs.items():  # interleaved, so an interrupted confirm stays balanced
            if (which, seed) in skip:
                continue
            offset = seed - configs[None].seed
            run = {
                "trial": which,
                "seed": seed,
                "profile": profile,
                **score(config.replace(seed=config.seed + offset), data),
            }
            runs.append(run)
            if on_run is not None:
                on_run(run)
    return runs
