"""A stored study as tables (pandas): one row per trial, a summary, the best parameters.

Reads only what the study stored (see the storage schema); never trains. Works while a study is still
running or after it was interrupted: RUNNING and FAIL trials get a row like any other.

`val_accuracy` in the trials table is the trial's objective value when it completed, and otherwise the
best validation accuracy it reported before it stopped (a pruned trial's last word), so every row says
how far the trial got; rankings ("best", "top trials") only ever use COMPLETE trials. The baseline trial
samples no parameters; its param_ columns show the values of its stored config instead.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

OBJECTIVE = "val_accuracy"
TRIAL_COLUMNS = ("number", "state", "is_baseline", OBJECTIVE, "epochs_run", "pruned_at", "seconds", "fail_reason")
PARAM_PREFIX = "param_"


def objectives(study: optuna.Study) -> list[str]:
    """The objective names, in the order of trial.values ("val_accuracy" when the study did not say)."""
    names = study.user_attrs.get("objectives")
    n = len(study.directions)
    if isinstance(names, list) and len(names) == n:
        return [str(x) for x in names]
    return [OBJECTIVE] + [f"objective_{i}" for i in range(1, n)]


def objective_index(study: optuna.Study) -> int:
    names = objectives(study)
    return names.index(OBJECTIVE) if OBJECTIVE in names else 0


def maximizes(study: optuna.Study) -> bool:
    return study.directions[objective_index(study)] == optuna.study.StudyDirection.MAXIMIZE


def curve(trial: FrozenTrial) -> list[tuple[int, float]]:
    """(epoch, val_accuracy) per epoch: the stored epochs, else the reported intermediate values."""
    epochs = trial.user_attrs.get("epochs") or []
    points = [(int(e["epoch"]), e.get("val_accuracy")) for e in epochs if isinstance(e, dict) and "epoch" in e]
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
    """The objective value when complete, else the best val accuracy the trial reported."""
    value = trial_value(trial, index)
    if value is not None:
        return value
    points = [y for _, y in curve(trial)]
    return max(points) if points else None


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: TRIAL_COLUMNS, any further objective, then every parameter as param_<name>."""
    names = objectives(study)
    index = objective_index(study)
    param_names = sorted({p for t in study.trials for p in t.params})
    rows = []
    base = baseline_trial(study)
    for trial in study.trials:
        row: dict[str, Any] = {
            "number": trial.number,
            "state": trial.state.name,
            "is_baseline": bool(trial.user_attrs.get("is_baseline", False)),
            OBJECTIVE: reached_val_accuracy(trial, index),
            "epochs_run": _epochs_run(trial),
            "pruned_at": _pruned_at(trial),
            "seconds": _seconds(trial),
            "fail_reason": str(trial.user_attrs.get("fail_reason") or ""),
        }
        for i, name in enumerate(names):
            if name != OBJECTIVE:
                row[name] = trial_value(trial, i)
        for name in param_names:
            row[PARAM_PREFIX + name] = param_value(trial, name) if base and trial.number == base.number else trial.params.get(name)
        rows.append(row)
    columns = list(TRIAL_COLUMNS) + [n for n in names if n != OBJECTIVE] + [PARAM_PREFIX + p for p in param_names]
    frame = pd.DataFrame(rows, columns=columns)
    for name in param_names:  # as stored: ints stay ints beside a missing (conditional) value
        frame[PARAM_PREFIX + name] = pd.Series([r[PARAM_PREFIX + name] for r in rows], dtype=object)
    for col in ("epochs_run", "pruned_at"):
        frame[col] = frame[col].astype("Int64")
    return frame


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The baseline trial: the first marked is_baseline (COMPLETE preferred, as a failed one is retried)."""
    marked = [t for t in study.trials if t.user_attrs.get("is_baseline")]
    return next((t for t in marked if t.state == TrialState.COMPLETE), marked[0] if marked else None)


def param_value(trial: FrozenTrial, name: str) -> Any:
    """A parameter's value in `trial`: sampled, else read from its stored config (the baseline samples
    nothing: its values are the config's). width_1..3 are the entries of `widths`."""
    if name in trial.params:
        return trial.params[name]
    config = trial.user_attrs.get("config") or {}
    if name in config:
        return config[name]
    match = re.fullmatch(r"width_([123])", name)
    if match and isinstance(config.get("widths"), list) and len(config["widths"]) == 3:
        return config["widths"][int(match.group(1)) - 1]
    return None


def config_overrides(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The TrainConfig fields `trial` set differently from the baseline trial: what to pass to
    `hpsearch baseline --params` (at any profile). Falls back to the sampled parameters when the
    configs were not stored."""
    base = baseline_trial(study)
    mine = trial.user_attrs.get("config")
    theirs = base.user_attrs.get("config") if base else None
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return dict(trial.params)
    mine, theirs = _plain(mine), _plain(theirs)
    return {k: v for k, v in mine.items() if k in theirs and theirs[k] != v}


def _plain(value: Any) -> Any:
    """As stored (JSON): tuples are lists, so a config read back compares equal to one in memory."""
    return json.loads(json.dumps(value, default=str))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The COMPLETE trial with the best val accuracy (the baseline included), or None."""
    index = objective_index(study)
    done = [t for t in study.trials if trial_value(t, index) is not None]
    if not done:
        return None
    pick = max if maximizes(study) else min
    return pick(done, key=lambda t: trial_value(t, index))


def top_trials(frame: pd.DataFrame, study: optuna.Study, top: int = 10) -> pd.DataFrame:
    """The `top` best COMPLETE trials, best first."""
    done = frame[frame["state"] == "COMPLETE"].dropna(subset=[OBJECTIVE])
    return done.sort_values([OBJECTIVE, "number"], ascending=[not maximizes(study), True]).head(top)


def pruning_savings(study: optuna.Study, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Epochs pruning did not run, over the epochs this study would have run without a pruner.

    Without pruning each pruned trial would have run max_epochs; complete trials ran what they ran
    (early stopping is not pruning). RUNNING and FAIL trials are left out: they say nothing about pruning.
    """
    frame = trials_frame(study) if frame is None else frame
    max_epochs = _max_epochs(study, frame)
    complete = frame[frame["state"] == "COMPLETE"]
    pruned = frame[frame["state"] == "PRUNED"]
    ran_complete = int(complete["epochs_run"].fillna(0).sum())
    ran_pruned = int(pruned["epochs_run"].fillna(0).sum())
    full = ran_complete + len(pruned) * max_epochs if max_epochs else ran_complete + ran_pruned
    saved = max(full - ran_complete - ran_pruned, 0)
    return {"max_epochs": max_epochs, "pruned_trials": len(pruned), "epochs_run": ran_complete + ran_pruned,
            "epochs_full": full, "epochs_saved": saved, "fraction_saved": saved / full if full else 0.0}


def state_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {state: int((frame["state"] == state).sum())
            for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING") if (frame["state"] == state).any()}


def headline(study: optuna.Study) -> dict[str, Any]:
    """The answer in numbers: baseline and best val accuracy, their difference, and confirm when stored."""
    index = objective_index(study)
    base, best = baseline_trial(study), best_trial(study)
    base_value = trial_value(base, index) if base else None
    best_value = trial_value(best, index) if best else None
    diff = best_value - base_value if best_value is not None and base_value is not None else None
    return {
        "baseline_trial": base.number if base else None, "baseline_val_accuracy": base_value,
        "best_trial": best.number if best else None, "best_val_accuracy": best_value,
        "best_is_baseline": bool(best and best.user_attrs.get("is_baseline")),
        "difference": diff, "best_overrides": config_overrides(study, best) if best else {},
        "confirm": study.user_attrs.get("confirm") or None,
    }


def summary_frame(study: optuna.Study, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study in key/value rows (metric, value): counts, baseline vs best, pruning savings, confirm."""
    frame = trials_frame(study) if frame is None else frame
    head, saved = headline(study), pruning_savings(study, frame)
    rows: list[tuple[str, Any]] = [
        ("study", study.study_name), ("engine", study.user_attrs.get("engine")),
        ("profile", study.user_attrs.get("profile")), ("objectives", ",".join(objectives(study))),
        ("directions", ",".join(d.name.lower() for d in study.directions)), ("trials", len(frame)),
    ]
    rows += [(f"trials_{state.lower()}", n) for state, n in state_counts(frame).items()]
    rows += [(key, head[key]) for key in
             ("baseline_trial", "baseline_val_accuracy", "best_trial", "best_val_accuracy", "difference")]
    rows += [("max_epochs", saved["max_epochs"]), ("epochs_run", saved["epochs_run"]),
             ("epochs_full_study", saved["epochs_full"]), ("epochs_saved_by_pruning", saved["epochs_saved"]),
             ("fraction_saved_by_pruning", saved["fraction_saved"])]
    confirm = head["confirm"] or {}
    rows += [(f"confirm_{key}", confirm.get(key)) for key in
             ("metric", "baseline_mean", "baseline_std", "best_mean", "best_std", "p_value") if key in confirm]
    if "seeds" in confirm:
        seeds = confirm["seeds"]
        rows.append(("confirm_seeds", len(seeds) if isinstance(seeds, list) else seeds))
    return pd.DataFrame(rows, columns=["metric", "value"])


def best_params(study: optuna.Study) -> dict[str, Any]:
    """best_params.json: the best trial; "params" = its TrainConfig overrides against the baseline (the file
    `hpsearch baseline --params` reads), "sampled" = Optuna's parameters, "config" = its full config;
    plus the Pareto front for a multi-objective study."""
    names = objectives(study)
    best = best_trial(study)
    out: dict[str, Any] = {"study": study.study_name, "profile": study.user_attrs.get("profile"), "objectives": names}
    if best is None:
        out.update(trial=None, params=None, note="no COMPLETE trial yet")
    else:
        out.update(trial=best.number, is_baseline=bool(best.user_attrs.get("is_baseline")),
                   values=dict(zip(names, best.values)), params=config_overrides(study, best),
                   sampled=dict(best.params), config=best.user_attrs.get("config"))
    if len(study.directions) > 1:
        out["pareto_front"] = [{"trial": t.number, "values": dict(zip(names, t.values)),
                                "params": config_overrides(study, t), "sampled": dict(t.params)}
                               for t in _pareto_trials(study)]
    return out


def _pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    try:
        return sorted(study.best_trials, key=lambda t: t.number)
    except (ValueError, RuntimeError):
        return []


def _epochs_run(trial: FrozenTrial) -> int | None:
    if trial.user_attrs.get("epochs_run") is not None:
        return int(trial.user_attrs["epochs_run"])
    points = curve(trial)
    return len(points) if points or trial.state.is_finished() else None


def _pruned_at(trial: FrozenTrial) -> int | None:
    if trial.user_attrs.get("pruned_at") is not None:
        return int(trial.user_attrs["pruned_at"])
    if trial.state == TrialState.PRUNED:
        points = curve(trial)
        return points[-1][0] if points else None
    return None


def _seconds(trial: FrozenTrial) -> float | None:
    value = trial.user_attrs.get("train_seconds")
    if _finite(value):
        return float(value)
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def _max_epochs(study: optuna.Study, frame: pd.DataFrame) -> int:
    value = study.user_attrs.get("max_epochs")
    if isinstance(value, int) and value > 0:
        return value
    ran = frame["epochs_run"].dropna()
    return int(ran.max()) if len(ran) else 0


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
