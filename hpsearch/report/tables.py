"""A stored study as tables (pandas): one row per trial, a summary.

Reads only what the study stored (through hpsearch.record); never trains. Works while a study is still
running or after it was interrupted: RUNNING and FAIL trials get a row like any other.

`val_accuracy` in the trials table is the trial's objective value when it completed, and otherwise the
best validation accuracy it reported before it stopped (a pruned trial's last word), so every row says
how far the trial got; rankings ("best", "top trials") only ever use COMPLETE trials. One scale and one rule
for every row (record.trials.trained_param_value): param_ columns hold what the trial trained (widths at the
profile's scale, full_scale_<name> beside them where that differs) and are blank for a parameter the trial
did not use, the baseline's row included.
"""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd

from hpsearch.numbers import stored
from hpsearch.record import confirms, keys
from hpsearch.record.trials import (
    OBJECTIVE,
    baseline_delta,
    baseline_trial,
    best_trial,
    config_overrides,
    epochs_run,
    maximizes,
    objective_index,
    objectives,
    full_scale_value,
    pruned_at,
    reached_val_accuracy,
    train_seconds,
    trained_param_value,
    trial_value,
)
from hpsearch.report.verdict import study_verdict

TRIAL_COLUMNS = (
    "number",
    "state",
    "is_baseline",
    OBJECTIVE,
    "delta_baseline",  # record.baseline_delta: against the baseline at the same epoch for a trial stopped early
    "epochs_run",
    "pruned_at",
    "pruned_by",  # the rule that stopped a pruned trial (search/strategies.py), blank otherwise
    "strategy",  # "<sampler>/<pruner>" that produced the trial (blank in studies that did not record it)
    "seconds",
    "fail_reason",
)
PARAM_PREFIX = "param_"  # a parameter as the trial trained it (widths at the profile's scale; blank if unused)
FULL_SCALE_PREFIX = "full_scale_"  # a width at the full baseline's scale, where it differs from the trained one


def param_text(row: Any, column: str, fmt: Any = str) -> str:
    """A param_ cell as people read it: the trained value, with the full-scale one beside it where it differs
    ("16 (256 at full scale)"); "" for a parameter the trial did not use."""
    value = row[column]
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    full = row.get(FULL_SCALE_PREFIX + column[len(PARAM_PREFIX) :]) if hasattr(row, "get") else None
    text = fmt(value)
    if full is not None and not (isinstance(full, float) and full != full) and full != value:
        text += f" ({fmt(full)} at full scale)"
    return text


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
            "is_baseline": bool(trial.user_attrs.get(keys.IS_BASELINE, False)),
            OBJECTIVE: reached_val_accuracy(trial, index),
            "delta_baseline": stored(baseline_delta(base, trial, index)),
            "epochs_run": epochs_run(trial),
            "pruned_at": pruned_at(trial),
            "pruned_by": str(trial.user_attrs.get(keys.PRUNED_BY) or ""),
            "strategy": str(trial.user_attrs.get(keys.STRATEGY) or ""),
            "seconds": train_seconds(trial),
            "fail_reason": str(trial.user_attrs.get(keys.FAIL_REASON) or ""),
        }
        for i, name in enumerate(names):
            if name != OBJECTIVE:
                row[name] = trial_value(trial, i)
        for name in param_names:
            row[PARAM_PREFIX + name] = trained_param_value(study, trial, name)
            row[FULL_SCALE_PREFIX + name] = full_scale_value(study, trial, name)
        rows.append(row)
    # a width's full-scale value gets a column only where it differs from the trained one somewhere
    full = [
        FULL_SCALE_PREFIX + p
        for p in param_names
        if any(r[FULL_SCALE_PREFIX + p] is not None and r[FULL_SCALE_PREFIX + p] != r[PARAM_PREFIX + p] for r in rows)
    ]
    columns = list(TRIAL_COLUMNS) + [n for n in names if n != OBJECTIVE] + [PARAM_PREFIX + p for p in param_names]
    columns += full
    frame = pd.DataFrame(rows, columns=columns)
    for name in [c for c in columns if c.startswith((PARAM_PREFIX, FULL_SCALE_PREFIX))]:
        frame[name] = pd.Series([r[name] for r in rows], dtype=object)  # as stored: ints stay ints beside None
    for col in ("epochs_run", "pruned_at"):
        frame[col] = frame[col].astype("Int64")
    return frame


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
    by_epoch: dict[int, dict[str, int]] = {}  # the epoch a pruned trial stopped at -> trials, epochs saved
    for stop, ran in zip(pruned["pruned_at"].fillna(pruned["epochs_run"]), pruned["epochs_run"].fillna(0)):
        if pd.isna(stop):
            continue
        rung = by_epoch.setdefault(int(stop), {"trials": 0, "epochs_saved": 0})
        rung["trials"] += 1
        rung["epochs_saved"] += max(max_epochs - int(ran), 0) if max_epochs else 0
    return {
        "max_epochs": max_epochs,
        "pruned_trials": len(pruned),
        "epochs_run": ran_complete + ran_pruned,
        "epochs_full": full,
        "epochs_saved": saved,
        "fraction_saved": saved / full if full else 0.0,
        "by_epoch": dict(sorted(by_epoch.items())),
    }


def state_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {
        state: int((frame["state"] == state).sum())
        for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
        if (frame["state"] == state).any()
    }


def headline(study: optuna.Study) -> dict[str, Any]:
    """The answer in numbers: baseline and best val accuracy, their difference, and confirm when stored."""
    index = objective_index(study)
    base, best = baseline_trial(study), best_trial(study)
    base_value = trial_value(base, index) if base else None
    best_value = trial_value(best, index) if best else None
    diff = stored(best_value - base_value) if best_value is not None and base_value is not None else None
    return {
        "baseline_trial": base.number if base else None,
        "baseline_val_accuracy": base_value,
        "best_trial": best.number if best else None,
        "best_val_accuracy": best_value,
        "best_is_baseline": bool(best and best.user_attrs.get(keys.IS_BASELINE)),
        "difference": diff,
        "best_overrides": config_overrides(study, best) if best else {},
        "comparisons": confirms.comparisons(study),
    }


def summary_frame(study: optuna.Study, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study in key/value rows (metric, value): the verdict first (report.verdict, the same words as the
    console and the page), counts, baseline vs best, pruning savings, every confirm (by profile and trial)."""
    frame = trials_frame(study) if frame is None else frame
    head, saved = headline(study), pruning_savings(study, frame)
    verdict = study_verdict(study)
    rows: list[tuple[str, Any]] = [("badge", verdict.badge), ("verdict", verdict.state), ("verdict_text", verdict.text)]
    rows += [(f"verdict_{key}", value) for key, value in verdict.fields.items()]
    rows += [
        ("study", study.study_name),
        ("engine", study.user_attrs.get(keys.ENGINE)),
        ("profile", study.user_attrs.get(keys.PROFILE)),
        ("objectives", ",".join(objectives(study))),
        ("directions", ",".join(d.name.lower() for d in study.directions)),
        ("trials", len(frame)),
    ]
    rows += [(f"trials_{state.lower()}", n) for state, n in state_counts(frame).items()]
    rows += [
        (key, head[key])
        for key in ("baseline_trial", "baseline_val_accuracy", "best_trial", "best_val_accuracy", "difference")
    ]
    rows += [
        ("max_epochs", saved["max_epochs"]),
        ("epochs_run", saved["epochs_run"]),
        ("epochs_full_study", saved["epochs_full"]),
        ("epochs_saved_by_pruning", saved["epochs_saved"]),
        ("fraction_saved_by_pruning", saved["fraction_saved"]),
    ]
    rows += [
        (f"epochs_saved_by_pruning_at_epoch_{epoch}", rung["epochs_saved"]) for epoch, rung in saved["by_epoch"].items()
    ]
    for comparison in head["comparisons"]:
        prefix = f"confirm_{comparison.profile}_trial_{comparison.trial}_"
        rows += [(prefix + key, value) for key, value in comparison.row().items() if key not in ("profile", "trial")]
    return pd.DataFrame(rows, columns=["metric", "value"])


def _max_epochs(study: optuna.Study, frame: pd.DataFrame) -> int:
    value = study.user_attrs.get(keys.MAX_EPOCHS)
    if isinstance(value, int) and value > 0:
        return value
    ran = frame["epochs_run"].dropna()
    return int(ran.max()) if len(ran) else 0
