"""`--engine keras-tuner`: the same studies/*.toml searched by KerasTuner's Hyperband or Bayesian optimisation.

KerasTuner proposes, our core trains: `run_trial` is overridden to call `train(config, data, on_epoch=...)`,
so a trial is exactly the recipe the Optuna engine runs. Every finished KerasTuner trial is then written
into an Optuna study with the shared schema (engine = "keras-tuner"), so the same reports, `confirm` and
`--trials` resume read it. Optuna is the record; KerasTuner's project folder (under --out) only keeps its
own algorithm's state, so that a re-run resumes the same Hyperband brackets.

Hyperband budgets: a KerasTuner trial with `tuner/epochs` = b < max_epochs trains the full-length recipe
(its LR schedule spans config.epochs) and stops after b epochs, so its curve is the prefix of the full run
and comparable with the baseline's. Our core cannot resume a stopped run, so a trial Hyperband promotes
is trained again from the start (the same seed gives the same prefix); every epoch is counted. A trial
stopped at its budget is recorded as PRUNED at that epoch (value = its last validation accuracy, as Optuna
records pruned trials); one that reached max_epochs, or stopped early by itself, is COMPLETE with its best.
Single objective (val_accuracy) only; the baseline-relative pruner is Optuna's and does not apply here.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.core.config import ConfigError, TrainConfig
from hpsearch.core.device import out_of_memory
from hpsearch.core.train import train
from hpsearch.errors import HpsearchError
from hpsearch.numbers import pct
from hpsearch.record import keys
from hpsearch.record.paths import safe_name, tuner_dir
from hpsearch.record.storage import open_storage
from hpsearch.record.trials import config_changes
from hpsearch.search.space import ParamSpec, StudySpec, baseline_params
from hpsearch.search.study import FINISHED, count, open_or_create, status_line, study_attrs, summary_line, trial_attrs

# keras_tuner is imported where it is used: a heavy library that only `--engine keras-tuner` needs.

ENGINE = "keras-tuner"
TUNERS = ("hyperband", "bayesian")
OBJECTIVE = keys.VAL_ACCURACY


class _BudgetReached(Exception):
    """Raised from on_epoch when a Hyperband trial has used its epochs."""


# --- the search space on KerasTuner ---------------------------------------------------------------------


def hyperparameters(spec: StudySpec):
    """The spec as a keras_tuner.HyperParameters; `when` becomes (nested) conditional scopes."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for param in spec.params.values():  # parents come first (the spec's sampling order)
        _register(hp, param, list((param.when or {}).items()))
    return hp


def _register(hp, param: ParamSpec, conditions: list) -> None:
    if conditions:
        parent, wanted = conditions[0]
        with hp.conditional_scope(parent, wanted if isinstance(wanted, list) else [wanted]):
            _register(hp, param, conditions[1:])
        return
    if param.type == "float":
        hp.Float(param.name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear")
    elif param.type == "int":
        hp.Int(
            param.name,
            param.low,
            param.high,
            step=None if param.log else (param.step or 1),
            sampling="log" if param.log else "linear",
        )
    elif param.type == "bool":
        hp.Boolean(param.name)
    else:
        hp.Choice(param.name, _kt_choices(param))


def _kt_choices(param: ParamSpec) -> list:
    """KerasTuner's Choice takes one type: ints mixed with floats become floats."""
    labels = param.labels
    if {type(v) for v in labels} == {int, float}:
        return [float(v) for v in labels]
    return labels


def sampled_params(spec: StudySpec, values: dict[str, Any]) -> dict[str, Any]:
    """KerasTuner's values -> the active parameters as Optuna stores them (labels, not decoded values)."""
    params: dict[str, Any] = {}
    decoded: dict[str, Any] = {}
    for param in spec.params.values():
        if param.name not in values or not param.active(decoded):
            continue
        value = values[param.name]
        if param.type == "categorical":
            value = next(label for label in param.labels if label == value)  # 0.0 -> the label 0
        elif param.type == "int":
            value = int(value)
        elif param.type == "float":
            value = float(value)
        params[param.name] = value
        decoded[param.name] = param.decode(value)
    return params


def distribution(param: ParamSpec) -> BaseDistribution:
    """The Optuna distribution the Optuna engine samples `param` from (so both engines' trials match)."""
    if param.type == "float":
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if param.type == "int":
        return IntDistribution(param.low, param.high, log=param.log, step=param.step or 1)
    return CategoricalDistribution(param.labels)


# --- one trial -----------------------------------------------------------------------------------------


def _train_to_budget(config: TrainConfig, data, budget: int | None):
    """Train `config`, stopping after `budget` epochs; returns (epoch rows, RunResult or None, seconds)."""
    rows: list[dict] = []
    stop_at = budget if budget is not None and budget < config.epochs else None

    def on_epoch(epoch: int, logs: dict) -> None:
        rows.append(dict(logs))
        if stop_at is not None and epoch >= stop_at:
            raise _BudgetReached

    start = time.perf_counter()
    try:
        result = train(config, data, on_epoch=on_epoch)
    except _BudgetReached:
        return rows, None, time.perf_counter() - start
    return rows, result, result.train_seconds


def _trial_attrs(
    config: TrainConfig | None,
    base: TrainConfig,
    rows: list[dict],
    seconds: float,
    is_baseline: bool = False,
    pruned_at: int | None = None,
    fail_reason: str | None = None,
    **extra,
) -> dict[str, Any]:
    """The shared schema's trial attrs (search/study.py), plus which trial and budget KerasTuner gave it."""
    return {
        keys.IS_BASELINE: is_baseline,
        keys.CONFIG: config_changes(config.to_dict(), base.to_dict()) if config else None,
        **trial_attrs(rows, seconds=seconds, pruned_at=pruned_at, fail_reason=fail_reason),
        **extra,
    }


def _curve(rows: list[dict]) -> dict[int, float]:
    return {
        int(r["epoch"]): float(r["val_accuracy"])
        for r in rows
        if r.get("val_accuracy") is not None and math.isfinite(r["val_accuracy"])
    }


def run_one(
    spec: StudySpec, data, base: TrainConfig, params: dict[str, Any], budget: int | None, **extra
) -> optuna.trial.FrozenTrial:
    """Train one parameter set (at most `budget` epochs) and return it as a finished Optuna trial.
    A diverged, impossible or out-of-memory configuration is a FAIL trial with its reason; any other
    error propagates (a bug, not a result)."""
    dists = {name: distribution(spec.params[name]) for name in params}
    start, config = time.perf_counter(), None

    def failed(exc: Exception, reason: str | None = None):
        return optuna.trial.create_trial(
            state=TrialState.FAIL,
            params=params,
            distributions=dists,
            user_attrs=_trial_attrs(
                config,
                base,
                [],
                time.perf_counter() - start,
                fail_reason=reason or f"{type(exc).__name__}: {exc}",
                **extra,
            ),
        )

    try:
        config = base if extra.get("is_baseline") else spec.to_config(base, params)
        rows, result, seconds = _train_to_budget(config, data, budget)
    except (ConfigError, TrainingDiverged) as exc:
        return failed(exc)
    except Exception as exc:
        if out_of_memory(exc):
            return failed(exc, out_of_memory(exc))
        raise
    curve = _curve(rows)
    if result is None:  # stopped at its Hyperband budget
        return optuna.trial.create_trial(
            state=TrialState.PRUNED,
            value=curve[max(curve)] if curve else None,
            params=params,
            distributions=dists,
            intermediate_values=curve,
            user_attrs=_trial_attrs(config, base, rows, seconds, **{**extra, "pruned_at": len(rows)}),
        )
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        value=result.val_accuracy,
        params=params,
        distributions=dists,
        intermediate_values=curve,
        user_attrs=_trial_attrs(config, base, result.epochs, seconds, **extra),
    )


def _tuner_class(kind: str):
    import keras_tuner as kt

    base = {"hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization}[kind]

    class HpsearchTuner(base):
        """KerasTuner's search algorithm; each trial is our core's training, recorded in the Optuna study."""

        def __init__(self, *args, spec, data, base_config, study, trials, console=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.spec, self.data, self.base_config, self.study = spec, data, base_config, study
            self.trials, self.console, self.failures, self.fail_reason = trials, console, 0, None

        def pre_create_trial(self):
            # Stop once the Optuna study holds `trials` finished trials (failed ones are retried, as with
            # the Optuna engine), or after more failures than `trials` in this run.
            remaining = self.trials - count(self.study)
            give_up = remaining <= 0 or self.failures > self.trials
            # KerasTuner's Oracle stops creating trials once len(trials) >= max_trials (-1: stop now)
            self.oracle.max_trials = -1 if give_up else len(self.oracle.trials) + remaining

        def run_trial(self, trial, *args, **kwargs):
            values = trial.hyperparameters.values
            params = sampled_params(self.spec, values)
            budget = values.get("tuner/epochs")
            try:
                frozen = run_one(
                    self.spec, self.data, self.base_config, params, budget, kt_trial_id=trial.trial_id, kt_budget=budget
                )
            except Exception as exc:
                # KerasTuner would swallow it (trial INVALID); record it and stop the search instead
                self.study.add_trial(
                    optuna.trial.create_trial(
                        state=TrialState.FAIL,
                        params=params,
                        distributions={n: distribution(self.spec.params[n]) for n in params},
                        user_attrs=_trial_attrs(
                            None, self.base_config, [], 0.0, fail_reason=f"{type(exc).__name__}: {exc}"
                        ),
                    )
                )
                raise kt.errors.FatalError(
                    f"trial failed with an unexpected error: {type(exc).__name__}: {exc}"
                ) from exc
            self.study.add_trial(frozen)
            if self.console is not None:
                self.console.print(_summary_line(len(self.study.trials) - 1, frozen), highlight=False)
            if frozen.state == TrialState.FAIL:
                # KerasTuner marks it FAILED: never promoted by Hyperband, left out of the Bayesian model
                self.failures += 1
                self.fail_reason = frozen.user_attrs[keys.FAIL_REASON]
                raise kt.errors.FailedTrialError(self.fail_reason)
            return {OBJECTIVE: float(max(frozen.intermediate_values.values()))}

        def on_trial_end(self, trial):
            if trial.status == "FAILED" and self.fail_reason:
                trial.message = self.fail_reason  # KerasTuner shows the message: the reason, not our traceback
            self.fail_reason = None
            super().on_trial_end(trial)

    return HpsearchTuner


def _summary_line(number: int, frozen: optuna.trial.FrozenTrial) -> str:
    epochs = frozen.user_attrs.get(keys.EPOCHS_RUN) or 0
    reason = (
        f"stopped at its Hyperband budget of {epochs} epochs, val accuracy {pct(frozen.value)}"
        if frozen.state == TrialState.PRUNED
        else frozen.user_attrs.get(keys.FAIL_REASON)
    )
    return summary_line(
        number, frozen.state, frozen.values, epochs, bool(frozen.user_attrs.get(keys.IS_BASELINE)), reason
    )


# --- the study ---------------------------------------------------------------------------------------------


def run_kt_study(
    spec: StudySpec,
    data,
    base_config: TrainConfig,
    storage,
    study_name: str,
    trials: int,
    tuner: str = "hyperband",
    seed: int = 42,
    out: str | Path = ".",
    profile: str | None = None,
    factor: int = 3,
    console=None,
    verbose: bool = False,
) -> optuna.Study:
    """Run (or resume) a KerasTuner study until the Optuna study holds `trials` finished (COMPLETE + PRUNED)
    trials, trial 0 being the baseline. `storage`: an Optuna storage, URL or journal path (None: the default
    journal file under the output root `out`). KerasTuner's own state is in OUT/studies/keras_tuner/<safe name>/.
    Returns the Optuna study."""
    if tuner not in TUNERS:
        raise HpsearchError(f"unknown tuner {tuner!r}; choose one of: {', '.join(TUNERS)}")
    if trials < 1:
        raise HpsearchError(f"--trials must be at least 1 (got {trials})")
    if factor < 2:
        raise HpsearchError(f"the Hyperband factor must be at least 2 (got {factor})")
    storage = open_storage(storage, study_name=study_name, out=out)
    study = _open_study(spec, storage, study_name, base_config, profile, tuner, factor, seed)
    if not any(t.user_attrs.get(keys.IS_BASELINE) for t in study.get_trials(deepcopy=False, states=FINISHED)):
        # the baseline trains base_config itself; its parameter values are recorded (when the space can hold
        # them) so it appears in parameter plots, as with the Optuna engine
        baseline = run_one(spec, data, base_config, baseline_params(spec, base_config) or {}, None, is_baseline=True)
        study.add_trial(baseline)
        if console is not None:
            console.print(_summary_line(len(study.trials) - 1, baseline), highlight=False)
        if baseline.state != TrialState.COMPLETE:
            raise HpsearchError(
                f"the baseline (trial 0) failed: {baseline.user_attrs.get(keys.FAIL_REASON)}; "
                f"the study needs it as its reference"
            )
    if count(study) >= trials:
        if console is not None:
            console.print(status_line(study, trials), highlight=False)
        return study

    import keras_tuner as kt

    # KerasTuner treats seed 0 as "no seed" (a random one): shift by one so every --seed is reproducible
    options = dict(
        objective=kt.Objective(OBJECTIVE, "max"),
        seed=seed + 1,
        hyperparameters=hyperparameters(spec),
        directory=str(tuner_dir(out)),
        project_name=safe_name(study_name),
        overwrite=False,
        max_consecutive_failed_trials=trials + 2,
    )  # our own rule (pre_create_trial) stops first
    if tuner == "hyperband":
        options.update(max_epochs=base_config.epochs, factor=factor, hyperband_iterations=None)
    else:
        options.update(max_trials=trials)  # reset before each trial by pre_create_trial
    with _captured(verbose):  # "Reloading Tuner from ..." on a resume
        search = _tuner_class(tuner)(
            spec=spec, data=data, base_config=base_config, study=study, trials=trials, console=console, **options
        )
    with _quiet_failed_trials():
        # verbose=0: KerasTuner's display ("Search: Running Trial #", "Best val_accuracy So Far") stays quiet;
        # our one line per trial says what happened. (Not _captured: our console may write to sys.stdout.)
        search.search(verbose=1 if verbose else 0)
    if console is not None:
        console.print(status_line(study, trials), highlight=False)
    return study


@contextlib.contextmanager
def _captured(verbose: bool) -> Iterator[None]:
    """KerasTuner's own print()s (to sys.stdout) go nowhere unless `verbose`; only around code that prints
    nothing of ours (a rich Console without a file of its own writes to whatever sys.stdout is)."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def _quiet_failed_trials() -> Iterator[None]:
    """KerasTuner prints the traceback of every failed trial while its DEBUG flag is on; a diverged trial is an
    expected result here, reported by its one-line reason instead. KerasTuner has no public switch for it,
    so this sets keras_tuner.src.config.DEBUG, its private module flag."""
    from keras_tuner.src import config as kt_config

    previous = getattr(kt_config, "DEBUG", False)
    kt_config.DEBUG = False
    try:
        yield
    finally:
        kt_config.DEBUG = previous


def _open_study(
    spec: StudySpec,
    storage,
    study_name: str,
    base: TrainConfig,
    profile: str | None,
    tuner: str,
    factor: int,
    seed: int,
) -> optuna.Study:
    """The study, created with the shared schema's user attrs, or loaded after checking it is the same search."""
    pruner = (
        {"name": "Hyperband (keras-tuner)", "factor": factor, "max_epochs": base.epochs}
        if tuner == "hyperband"
        else None
    )
    attrs = study_attrs(
        spec,
        base,
        engine=ENGINE,
        profile=profile,
        objectives=[OBJECTIVE],
        directions=["maximize"],
        pruner=pruner,
        sampler={"name": f"keras-tuner {tuner}", "seed": seed},
    )
    return open_or_create(storage, study_name, attrs, spec)
