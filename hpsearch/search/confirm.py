"""Is the winner real? Retrain a study's best configuration and its baseline over several seeds.

One validation number per trial can be luck: the search picks the maximum of many noisy numbers, so the
winner's value is biased upward. `confirm` retrains the chosen trial's exact configuration (its stored
`config`) and the baseline trial's, each with seeds base_seed + 0 .. N-1, at the study's profile, scores
every run on the *test* set with TTA (the first time the search's configurations see it), and compares
the two groups with Welch's t-test (unequal variances: a new recipe may be more or less stable than
the baseline). The result goes into study.user_attrs["confirm"] and reports/<study>/confirm.json, and
the trial's parameters into reports/<study>/best_params.json (for `hpsearch baseline --params`).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from hpsearch.core.config import TrainConfig
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.record.paths import study_report_dir
from hpsearch.record.trials import baseline_trial, best_trial, config_overrides, objectives

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
    if trial.user_attrs.get("is_baseline"):
        raise HpsearchError(f"the best trial of {study.study_name!r} is the baseline itself (trial {trial.number}): "
                            f"nothing to confirm; run more trials, or pass --trial N to test another trial")
    return trial


def trial_config(study: optuna.Study, trial: FrozenTrial) -> TrainConfig:
    """The exact configuration `trial` trained: its stored config, else the profile's baseline with its params."""
    stored = trial.user_attrs.get("config")
    if isinstance(stored, dict):
        return TrainConfig.from_dict(stored)
    base = TrainConfig.from_profile(study_profile(study))
    if trial.user_attrs.get("is_baseline"):
        return base
    from hpsearch.search.space import parse_spec

    spec = parse_spec(study.user_attrs.get("spec_text", ""), study.user_attrs.get("spec_path", "<spec>"))
    return spec.to_config(base, trial.params)


def baseline_config(study: optuna.Study) -> TrainConfig:
    trial = baseline_trial(study)
    return trial_config(study, trial) if trial is not None else TrainConfig.from_profile(study_profile(study))


def study_profile(study: optuna.Study) -> str:
    profile = study.user_attrs.get("profile")
    if not profile:
        raise HpsearchError(f"study {study.study_name!r} records no profile (user attr 'profile'); "
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
    from hpsearch.core.evaluate import evaluate_test
    from hpsearch.core.train import train

    result = train(config, data, verbose=False)
    scores = evaluate_test(result, data)
    result.model = None                       # free it before the next run
    return {METRIC: scores["test_accuracy_tta"], "test_accuracy": scores["test_accuracy"],
            "val_accuracy": result.val_accuracy, "seconds": result.train_seconds}


def run_confirm(study: optuna.Study, data, seeds: int = 3, trial: int | None = None,
                out: str | Path = ".", console: Console | None = None) -> dict[str, Any]:
    """Retrain the chosen trial and the baseline with `seeds` seeds each, store and write the comparison.
    Returns the dict stored under study.user_attrs["confirm"]."""
    if seeds < 1:
        raise HpsearchError(f"--seeds must be at least 1 (got {seeds})")
    console = console or Console()
    chosen = pick_trial(study, trial)
    configs = {"baseline": baseline_config(study), "best": trial_config(study, chosen)}
    scores: dict[str, list[float]] = {"baseline": [], "best": []}
    runs: list[dict[str, Any]] = []
    used = [configs["baseline"].seed + i for i in range(seeds)]
    console.print(f"confirm {study.study_name}: trial {chosen.number} vs the baseline, {seeds} seed(s) each, profile "
                  f"{study_profile(study)}, scored on the test set with TTA", highlight=False)
    for i in range(seeds):
        for which in ("baseline", "best"):      # interleaved, so an interrupted run stays balanced
            config = configs[which].replace(seed=configs[which].seed + i)
            run = score_on_test(config, data)
            scores[which].append(run[METRIC])
            runs.append({"which": which, "seed": config.seed, **run})
            console.print(f"  {which:8s} seed {config.seed}: {METRIC} {run[METRIC]:.2%} (val {run['val_accuracy']:.2%}, "
                          f"{run['seconds']:.1f} s)", highlight=False)
    result = summarize(study, chosen, used, scores, runs)
    study.set_user_attr("confirm", result)
    folder = write_files(study, chosen, result, out)
    console.print(confirm_table(result))
    console.print(f"wrote {folder}/confirm.json and best_params.json; stored in the study (user attr 'confirm')",
                  highlight=False)
    return result


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


def best_params_document(study: optuna.Study, chosen: FrozenTrial) -> dict[str, Any]:
    """best_params.json: "params" are TrainConfig overrides against the baseline (what `hpsearch baseline
    --params` reads, at any profile); the rest says where they came from."""
    names = objectives(study)
    return {"params": config_overrides(study, chosen), "profile": study_profile(study),
            "study_name": study.study_name, "study": study.study_name, "trial": chosen.number,
            "value": chosen.values[0] if chosen.values else None, "objectives": names,
            "values": dict(zip(names, chosen.values or [])), "sampled": dict(chosen.params),
            "config": chosen.user_attrs.get("config"), "is_baseline": False}


def write_files(study: optuna.Study, chosen: FrozenTrial, result: dict[str, Any], out: str | Path) -> Path:
    folder = study_report_dir(out, study.study_name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "confirm.json").write_text(json.dumps(jsonable(result), indent=2) + "\n")
    (folder / "best_params.json").write_text(json.dumps(jsonable(best_params_document(study, chosen)), indent=2) + "\n")
    return folder


def confirm_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"Confirm over {len(result['seeds'])} seed(s): {METRIC}", title_justify="left")
    for column, justify in (("configuration", "left"), ("mean", "right"), ("std", "right"), ("runs", "left")):
        table.add_column(column, justify=justify)
    for which, label in (("baseline", "baseline"), ("best", f"trial {result['best_trial']}")):
        mean, std = result[f"{which}_mean"], result[f"{which}_std"]
        table.add_row(label, _pct(mean), "—" if std is None else f"{std * 100:.2f} pts",
                      ", ".join(f"{v:.2%}" for v in result[which]))
    p = result["p_value"]
    diff = result["best_mean"] - result["baseline_mean"]
    verdict = "—" if p is None else ("significant at 5%" if p < 0.05 else "not significant at 5%")
    table.caption = (f"difference {diff * 100:+.2f} pts · Welch's t-test p = {'—' if p is None else f'{p:.3g}'}"
                     f" · {verdict}")
    return table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"
