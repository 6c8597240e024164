"""What a study stored, read back: the one home of the trial/study schema for every reader.

Reads only what the study stored; never trains. Works while a study is still running or after it was
interrupted. Rankings ("best") only ever use COMPLETE trials; the baseline trial samples no parameters,
so its values are read from its stored config.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.core.config import FULL_WIDTHS
from hpsearch.record import confirms, keys

OBJECTIVE = keys.VAL_ACCURACY


def objectives(study: optuna.Study) -> list[str]:
    """The objective names, in the order of trial.values ("val_accuracy" when the study did not say)."""
    names = study.user_attrs.get(keys.OBJECTIVES)
    n = len(study.directions)
    if isinstance(names, list) and len(names) == n:
        return [str(x) for x in names]
    return [OBJECTIVE] + [f"objective_{i}" for i in range(1, n)]


def objective_index(study: optuna.Study) -> int:
    names = objectives(study)
    return names.index(OBJECTIVE) if OBJECTIVE in names else 0


def maximizes(study: optuna.Study) -> bool:
    return study.directions[objective_index(study)] == optuna.study.StudyDirection.MAXIMIZE


# --- what a trial stores: its per-epoch columns and its config changes (the writers' side too) -----------

CURVE_DIGITS = 5  # significant digits kept per epoch value: accuracies on up to 100,000 images stay exact


def epoch_attrs(epochs: list[dict]) -> dict[str, list]:
    """A trial's epochs (RunResult.epochs rows, epoch 1, 2, ... in order) as its user attrs: one short list per
    column (keys.curve_key), rounded to CURVE_DIGITS significant digits."""
    return {keys.curve_key(column): [_rounded(row.get(column)) for row in epochs] for column in keys.CURVE_COLUMNS}


def epoch_rows(trial: FrozenTrial) -> list[dict]:
    """The trial's epochs as rows {"epoch": 1, "loss": ..., ...}: from its per-column attrs, or from the whole
    rows studies made before 0.2 stored."""
    columns = {c: trial.user_attrs.get(keys.curve_key(c)) for c in keys.CURVE_COLUMNS}
    columns = {c: v for c, v in columns.items() if isinstance(v, list)}
    if columns:
        n = max(len(v) for v in columns.values())
        return [{"epoch": i + 1, **{c: (v[i] if i < len(v) else None) for c, v in columns.items()}} for i in range(n)]
    old = trial.user_attrs.get(keys.EPOCHS) or []
    return [dict(e) for e in old if isinstance(e, dict) and "epoch" in e] if isinstance(old, list) else []


def config_changes(config: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """What a trial stores as its config: the fields of `config` (TrainConfig.to_dict) that differ from the
    study's base config, compared as stored (JSON)."""
    config, base = _plain(config), _plain(base)
    return {k: v for k, v in config.items() if k not in base or base[k] != v}


def stored_config(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any] | None:
    """The whole config `trial` trained, as stored: the study's base config with the trial's changes (a study
    made before 0.2 stored whole configs, which the same update reads unchanged). None when nothing was stored."""
    changes = trial.user_attrs.get(keys.CONFIG)
    if not isinstance(changes, dict):
        return None
    base = study.user_attrs.get(keys.BASE_CONFIG)
    if not isinstance(base, dict):  # a 0.1 study: whole configs (0.2 writes base_config before any trial runs)
        return dict(changes)
    return {**base, **changes}


def _rounded(value: Any) -> Any:
    return float(f"{value:.{CURVE_DIGITS}g}") if _finite(value) else None


# --- reading a trial --------------------------------------------------------------------------------------


def curve(trial: FrozenTrial) -> list[tuple[int, float]]:
    """(epoch, val_accuracy) per epoch: the stored epochs, else the reported intermediate values."""
    points = [(int(e["epoch"]), e.get("val_accuracy")) for e in epoch_rows(trial)]
    if not points:
        points = sorted(trial.intermediate_values.items())
    return [(int(x), float(y)) for x, y in points if _finite(y)]


def trial_value(trial: FrozenTrial, index: int = 0) -> float | None:
    """Objective `index` of a COMPLETE trial, else None."""
    if trial.state != TrialState.COMPLETE or not trial.values:
        return None
    value = trial.values[index]
    return float(value) if _finite(value) else None


def reached_val_accuracy(trial: FrozenTrial, index: int = 0) -> float | None:
    """The objective value when complete, else the last val accuracy the trial reported: the number its pruner
    (or Hyperband budget) judged and optuna-dashboard shows, so every reader shows the same one."""
    value = trial_value(trial, index)
    if value is not None:
        return value
    points = [y for _, y in curve(trial)]
    return points[-1] if points else None


def baseline_delta(base: FrozenTrial | None, trial: FrozenTrial, index: int = 0) -> float | None:
    """`trial`'s val accuracy minus the baseline's (`base`, baseline_trial of the study: looked up once by a
    caller that loops over trials, as each study.trials copies them all), where the trial got to: a COMPLETE
    trial against the baseline's result, one stopped early (PRUNED, FAIL, RUNNING) against the baseline's val
    accuracy at the epoch it stopped (a trial pruned at epoch 2 is not "15 points behind" a baseline that
    trained 10)."""
    if base is None or trial.number == base.number:
        return None
    if trial.state == TrialState.COMPLETE:
        mine, theirs = trial_value(trial, index), trial_value(base, index)
        return mine - theirs if mine is not None and theirs is not None else None
    points = curve(trial)
    reference = dict(curve(base))
    if not points or points[-1][0] not in reference:
        return None
    epoch, value = points[-1]
    return value - reference[epoch]


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The baseline trial: the first marked is_baseline (COMPLETE preferred, as a failed one is retried)."""
    marked = [t for t in study.trials if t.user_attrs.get(keys.IS_BASELINE)]
    return next((t for t in marked if t.state == TrialState.COMPLETE), marked[0] if marked else None)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The COMPLETE trial with the best val accuracy (the baseline included), or None."""
    index = objective_index(study)
    done = [t for t in study.trials if trial_value(t, index) is not None]
    if not done:
        return None
    pick = max if maximizes(study) else min
    return pick(done, key=lambda t: trial_value(t, index))


def param_value(study: optuna.Study, trial: FrozenTrial, name: str) -> Any:
    """A parameter's value in `trial`: sampled, else read from its stored config (the baseline samples
    nothing: its values are the config's). width_1..3 are the entries of `widths`."""
    if name in trial.params:
        return trial.params[name]
    config = stored_config(study, trial) or {}
    if name in config:
        return config[name]
    match = re.fullmatch(r"width_([123])", name)
    if match and isinstance(config.get("widths"), list) and len(config["widths"]) == 3:
        if trial.user_attrs.get(keys.IS_BASELINE):  # spec widths are at the full baseline's scale (search/space.py):
            return FULL_WIDTHS[int(match.group(1)) - 1]  # the baseline is 1x, whatever its profile trained
        return config["widths"][int(match.group(1)) - 1]
    return None


def param_values(study: optuna.Study | None, trial: FrozenTrial, names) -> dict[str, Any]:
    """The trial's values of the space's parameters `names` (param_value: sampled, else read from its stored
    config, at the space's scale), inactive conditional ones left out; its sampled ones when `study` is None.
    What a tracker (TensorBoard's HParams, MLflow's params) shows for every trial, the baseline included."""
    if study is None:
        return dict(trial.params)
    found = {name: param_value(study, trial, name) for name in names}
    return {**{k: v for k, v in found.items() if v is not None}, **trial.params}


WIDTH_NAMES = ("width_1", "width_2", "width_3", "widths")  # parameters written at the full baseline's scale


def trained_param_value(study: optuna.Study, trial: FrozenTrial, name: str) -> Any:
    """A parameter's value as `trial` trained it, the same rule for every row: widths at the profile's scale
    (the stored config's, where search specs write them at the full scale, search/space.py), and None for a
    parameter the trial did not use (a conditional one), the baseline included when it was enqueued with
    its active parameters. A baseline stored without parameters falls back to its config (param_value)."""
    is_base = bool(trial.user_attrs.get(keys.IS_BASELINE))
    if name not in trial.params and (trial.params or not is_base):
        return None  # inactive for this trial
    if name in WIDTH_NAMES:
        widths = (stored_config(study, trial) or {}).get("widths")
        if isinstance(widths, (list, tuple)) and len(widths) == 3:
            return json.dumps(list(widths)) if name == "widths" else widths[WIDTH_NAMES.index(name)]
    return param_value(study, trial, name)


def full_scale_value(study: optuna.Study, trial: FrozenTrial, name: str) -> Any:
    """A width parameter at the full baseline's scale (as sampled; the baseline's are FULL_WIDTHS); None for
    any other parameter or an inactive one."""
    if name not in WIDTH_NAMES:
        return None
    if name in trial.params:
        return trial.params[name]
    if trial.user_attrs.get(keys.IS_BASELINE) and not trial.params:
        return json.dumps(list(FULL_WIDTHS)) if name == "widths" else FULL_WIDTHS[WIDTH_NAMES.index(name)]
    return None


def config_overrides(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The TrainConfig fields `trial` set differently from the baseline trial: what to pass to
    `hpsearch baseline --params` (at any profile). Falls back to the sampled parameters when the
    configs were not stored."""
    base = baseline_trial(study)
    mine = stored_config(study, trial)
    theirs = stored_config(study, base) if base else None
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return dict(trial.params)
    mine, theirs = _plain(mine), _plain(theirs)
    return {k: v for k, v in mine.items() if k in theirs and theirs[k] != v}


def _plain(value: Any) -> Any:
    """As stored (JSON): tuples are lists, so a config read back compares equal to one in memory."""
    return json.loads(json.dumps(value, default=str))


def best_params(study: optuna.Study) -> dict[str, Any]:
    """best_params.json, one schema whichever command wrote it last: the trial `hpsearch confirm` tested once
    it ran (at the highest profile confirmed), else the best COMPLETE trial. "params" = its TrainConfig overrides
    against the baseline (the file `hpsearch baseline --params` reads), "sampled" = Optuna's parameters,
    "config" = its full config; plus the Pareto front for a multi-objective study."""
    names = objectives(study)
    comparison = confirms.headline_comparison(study)  # the verdict's trial: at the highest profile confirmed
    confirmed = comparison.trial if comparison is not None else None
    chosen = next((t for t in study.trials if t.number == confirmed), None) if confirmed is not None else None
    chosen_by = "confirm" if chosen is not None else "best val accuracy"
    chosen = chosen or best_trial(study)
    out: dict[str, Any] = {
        keys.STUDY: study.study_name,
        keys.PROFILE: study.user_attrs.get(keys.PROFILE),
        "objectives": names,
        "chosen_by": chosen_by,
    }
    if chosen is None:
        out.update({keys.TRIAL: None, keys.PARAMS: None, "note": "no COMPLETE trial yet"})
    else:
        out.update(trial_params(study, chosen))
    if len(study.directions) > 1:
        out["pareto_front"] = [
            {
                "trial": t.number,
                "values": dict(zip(names, t.values)),
                "params": config_overrides(study, t),
                "sampled": dict(t.params),
            }
            for t in _pareto_trials(study)
        ]
    return out


def trial_params(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """One trial as best_params.json holds it, with what `hpsearch baseline --params` needs to retrain it at
    any profile without the study: the study's baseline config and search space."""
    base = baseline_trial(study)
    return {
        keys.TRIAL: trial.number,
        keys.IS_BASELINE: bool(trial.user_attrs.get(keys.IS_BASELINE)),
        "values": dict(zip(objectives(study), trial.values or [])),
        keys.PARAMS: config_overrides(study, trial),
        keys.SAMPLED: dict(trial.params),
        keys.CONFIG: stored_config(study, trial),
        keys.BASE_CONFIG: (stored_config(study, base) if base else None) or study.user_attrs.get(keys.BASE_CONFIG),
        keys.SPEC_PATH: study.user_attrs.get(keys.SPEC_PATH),
        keys.SPEC_TEXT: study.user_attrs.get(keys.SPEC_TEXT),
    }


def _pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    try:
        return sorted(study.best_trials, key=lambda t: t.number)
    except (ValueError, RuntimeError):
        return []


def epochs_run(trial: FrozenTrial) -> int | None:
    if trial.user_attrs.get(keys.EPOCHS_RUN) is not None:
        return int(trial.user_attrs[keys.EPOCHS_RUN])
    points = curve(trial)
    return len(points) if points or trial.state.is_finished() else None


def pruned_at(trial: FrozenTrial) -> int | None:
    if trial.user_attrs.get(keys.PRUNED_AT) is not None:
        return int(trial.user_attrs[keys.PRUNED_AT])
    if trial.state == TrialState.PRUNED:
        points = curve(trial)
        return points[-1][0] if points else None
    return None


def strategy_runs(study: optuna.Study) -> list[tuple[str, int, int]]:
    """Which strategy ("<sampler>/<pruner>", keys.STRATEGY) produced which trials, as (strategy, first, last)
    runs of trial numbers; a resume may change it. Empty for studies that did not record it."""
    runs: list[tuple[str, int, int]] = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        name = trial.user_attrs.get(keys.STRATEGY)
        if not isinstance(name, str):
            continue
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1], trial.number)
        else:
            runs.append((name, trial.number, trial.number))
    return runs


def train_seconds(trial: FrozenTrial) -> float | None:
    value = trial.user_attrs.get(keys.TRAIN_SECONDS)
    if _finite(value):
        return float(value)
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
