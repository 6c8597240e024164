"""The Optuna engine: one trial is `train(base.replace(**params), data, on_epoch=report_and_prune)`.

How a study runs, and why:
- `trials` is the study's total of finished trials, COMPLETE + PRUNED. FAIL does not count: a failed
  trial (diverged, interrupted, its worker killed) produced no measurement, so re-running the same
  command retries that work. A worker stops starting trials once finished + running reaches the total,
  so several workers (processes on one machine, or machines on one database) end at exactly that total;
  it also gives up after more failures than `trials` in one run (a space that only diverges).
- Trial 0 is the baseline (`base` itself, no parameters; user attr is_baseline), enqueued once. On a
  journal file the check-and-enqueue runs under a file lock; on a database two workers starting at the
  same instant may both enqueue one, and the later-numbered trial then samples like any other.
- Storage and killed workers: see storage.py (a journal file by default, any Optuna URL; a RUNNING trial
  whose worker died is marked FAIL on the next start and its parameters are queued again).
- Ctrl-C (or SIGTERM) marks the running trial FAIL ("interrupted"), never leaves it RUNNING, and stops.
- Multi-objective studies (e.g. val_accuracy and train_seconds) use NSGA-II and are never pruned: Optuna
  prunes single-objective studies only.
"""
from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.markup import escape

from hpsearch.core.config import ConfigError, TrainConfig
from hpsearch.core.device import DEFAULT_BACKEND, backend
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.versions import versions
from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS, BaselinePruner
from hpsearch.search.space import StudySpec, parse_spec
from hpsearch.search.storage import (StorageError, claim, heartbeat, journal_path, mask_url, open_storage,
                                     recover_dead_workers, worker_lock)

# the study command and the report layer take the storage helpers from here too
__all__ = ["run_study", "run_trial", "create_or_load_study", "make_sampler", "parse_objectives",
           "default_study_name", "open_storage", "mask_url", "journal_path", "StorageError", "versions"]

ENGINE = "optuna"
OBJECTIVES = {"val_accuracy": "maximize", "train_seconds": "minimize"}
ALIASES = {"accuracy": "val_accuracy", "val_accuracy": "val_accuracy", "seconds": "train_seconds",
           "time": "train_seconds", "train_seconds": "train_seconds"}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)      # what `trials` counts


# --- objectives and names -----------------------------------------------------------------------------

def parse_objectives(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """"accuracy,train_seconds" -> ["val_accuracy", "train_seconds"]."""
    names = text.split(",") if isinstance(text, str) else list(text or ["val_accuracy"])
    out = []
    for name in (n.strip() for n in names if n.strip()):
        if name not in ALIASES:
            raise HpsearchError(f"unknown objective {name!r}; choose from: accuracy (val_accuracy, maximised), "
                                f"train_seconds (minimised), e.g. --objectives accuracy,train_seconds")
        if ALIASES[name] not in out:
            out.append(ALIASES[name])
    if not out or out[0] != "val_accuracy":
        raise HpsearchError("the first objective must be accuracy (validation accuracy), "
                            "e.g. --objectives accuracy,train_seconds")
    return out


def default_study_name(spec: StudySpec, profile: str, objectives: list[str]) -> str:
    """<spec>-<profile>, e.g. default-cpu; "-pareto" for a multi-objective study."""
    return f"{spec.name}-{profile}" + ("-pareto" if len(objectives) > 1 else "")


# --- the study ------------------------------------------------------------------------------------------

@dataclass
class StudySetup:
    """Everything that stays the same over a study's trials."""
    spec: StudySpec
    base: TrainConfig
    data: Any
    objectives: list[str]
    pruner: BaselinePruner | None
    console: Console
    progress: Any = None


def make_sampler(objectives: list[str], seed: int) -> optuna.samplers.BaseSampler:
    """TPE (single objective) or NSGA-II (several), reseeded per trial from (seed, trial number): a study
    is reproducible, and workers that share a seed still sample different trials."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if len(objectives) > 1:
            return _seed_per_trial(optuna.samplers.NSGAIISampler(seed=seed), seed)
        # multivariate + group: TPE models the conditional parameters (`when`) jointly per branch;
        # constant_liar keeps parallel workers from piling onto the same region
        return _seed_per_trial(optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                             constant_liar=True), seed)


def _seed_per_trial(sampler, seed: int):
    """Reseed the sampler's random states from (seed, trial number) before each trial."""
    original = sampler.before_trial

    def before_trial(study, trial):
        for state in (getattr(sampler, "_rng", None), getattr(getattr(sampler, "_random_sampler", None), "_rng", None)):
            if state is not None:
                state.rng.seed((seed * 1_000_003 + trial.number) % 2**32)
        original(study, trial)

    sampler.before_trial = before_trial
    return sampler


def create_or_load_study(spec: StudySpec, base: TrainConfig, storage, study_name: str, *, profile: str,
                         objectives: list[str], seed: int, pruner: BaselinePruner | None) -> optuna.Study:
    """The study, created with its user attrs, or loaded after checking it was made the same way."""
    directions = [OBJECTIVES[o] for o in objectives]
    attrs = {"spec_path": spec.path, "spec_text": spec.text, "description": spec.description, "profile": profile,
             "objectives": objectives, "directions": directions, "pruner": pruner.settings() if pruner else None,
             "max_epochs": max_epochs(spec, base), "versions": versions(), "engine": ENGINE,
             "base_config": jsonable(base.to_dict()), "sampler": {"name": "TPESampler" if len(objectives) == 1
                                                                     else "NSGAIISampler", "seed": seed}}
    return open_or_create(storage, study_name, attrs, spec, sampler=make_sampler(objectives, seed),
                          pruner=pruner or optuna.pruners.NopPruner())


def open_or_create(storage, study_name: str, attrs: dict, spec: StudySpec, **create_kwargs) -> optuna.Study:
    """Create the study with the shared schema's user attrs (`attrs`), or load it after checking that it
    was made the same way (engine, sampler, objectives, base settings, search space, pruner)."""
    try:
        study = optuna.create_study(storage=storage, study_name=study_name, directions=attrs["directions"],
                                    load_if_exists=True, **create_kwargs)
    except Exception as exc:  # the database went away between opening and creating
        raise StorageError(f"cannot create or load study {study_name!r}: {type(exc).__name__}: "
                           f"{mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else '')}") from None
    attrs = {**attrs, "backend": backend()}
    stored = study.user_attrs
    if "engine" not in stored:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        return study
    _check_same_study(study_name, stored, attrs, spec)
    return study


def _check_same_study(name: str, stored: dict, wanted: dict, spec: StudySpec) -> None:
    fix = "rerun with the same options, or pass a new --study-name"
    if stored.get("engine") != wanted["engine"]:
        raise HpsearchError(f"study {name!r} was run with --engine {stored.get('engine')}; {fix}")
    if stored.get("backend", DEFAULT_BACKEND) != wanted["backend"]:   # studies from before backends were recorded
        raise HpsearchError(f"study {name!r} was run on backend {stored.get('backend', DEFAULT_BACKEND)}; rerun with "
                            f"--backend {stored.get('backend', DEFAULT_BACKEND)}, or pass a new --study-name")
    if stored.get("objectives") != wanted["objectives"]:
        raise HpsearchError(f"study {name!r} has objectives {stored.get('objectives')}, "
                            f"not {wanted['objectives']}; {fix}")
    if (stored.get("sampler") or {}).get("name") != wanted["sampler"]["name"]:
        raise HpsearchError(f"study {name!r} was run with {(stored.get('sampler') or {}).get('name')}; {fix}")
    if stored.get("base_config") != wanted["base_config"]:
        raise HpsearchError(f"study {name!r} was created at profile {stored.get('profile')!r} with other base "
                            f"settings; its trials would not be comparable with these; {fix}")
    try:
        same_space = parse_spec(stored.get("spec_text", ""), stored.get("spec_path", "")).params == spec.params
    except HpsearchError:
        same_space = False
    if not same_space:
        raise HpsearchError(f"study {name!r} was created from another search space ({stored.get('spec_path')}); "
                            f"pass that --spec to resume it, or a new --study-name")
    if stored.get("pruner") != wanted["pruner"]:
        raise HpsearchError(f"study {name!r} was pruned with {stored.get('pruner')}, not {wanted['pruner']}; "
                            f"pass the same --prune-margin/--prune-warmup, or a new --study-name")


def ensure_baseline(study: optuna.Study) -> None:
    """Enqueue the baseline unless one is COMPLETE, RUNNING or WAITING (a failed one is retried)."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    if not any(t.user_attrs.get("is_baseline") for t in study.get_trials(deepcopy=False, states=live)):
        study.enqueue_trial({}, user_attrs={"is_baseline": True})


def max_epochs(spec: StudySpec, base: TrainConfig) -> int:
    epochs = spec.params.get("epochs")
    if epochs is None:
        return base.epochs
    return int(epochs.high if epochs.high is not None else max(epochs.choices))


def run_study(spec: StudySpec, data, *, trials: int, profile: str, base: TrainConfig | None = None,
              storage: str | Path | None = None, study_name: str | None = None, out_dir: str | Path = "studies",
              seed: int = 0, timeout: float | None = None, objectives: str | list[str] | None = None,
              prune_margin: float | None = DEFAULT_MARGIN, prune_warmup: int = DEFAULT_WARMUP_EPOCHS,
              console: Console | None = None) -> optuna.Study:
    """Run (or resume) a study until it holds `trials` finished trials (COMPLETE + PRUNED), or `timeout`
    seconds have passed (checked between trials). `base` defaults to the profile's baseline;
    `prune_margin=None` turns pruning off. Returns the study."""
    if trials < 1:
        raise HpsearchError(f"--trials must be at least 1 (got {trials})")
    console = console or Console()
    objectives = parse_objectives(objectives)
    base = base or TrainConfig.from_profile(profile)
    study_name = study_name or default_study_name(spec, profile, objectives)
    pruner = BaselinePruner(prune_margin, prune_warmup) if prune_margin is not None and len(objectives) == 1 else None
    opened = open_storage(storage, study_name=study_name, out_dir=out_dir)
    with worker_lock(opened):
        study = create_or_load_study(spec, base, opened, study_name, profile=profile, objectives=objectives,
                                     seed=seed, pruner=pruner)
        failed = recover_dead_workers(study, opened)
        if _count(study, FINISHED) < trials:
            ensure_baseline(study)
    if failed:
        console.print(f"marked trial(s) {', '.join(map(str, failed))} FAIL: their worker had died; retrying them")
    if len(objectives) > 1:
        console.print("multi-objective study (Pareto front): pruning does not apply")
    setup = StudySetup(spec, base, data, objectives, pruner, console)
    with _progress(setup, trials - _count(study, FINISHED), max_epochs(spec, base)), _sigterm_as_interrupt():
        _optimize(study, opened, setup, trials, timeout)
    console.print(_status_line(study, trials), highlight=False)
    return study


def _status_line(study: optuna.Study, trials: int) -> str:
    done, running = _count(study, FINISHED), _count(study, (TrialState.RUNNING,))
    pruned = _count(study, (TrialState.PRUNED,))
    line = f"study {study.study_name}: {done} of {trials} trials finished ({pruned} pruned)"
    if done >= trials:
        return line
    if running and done + running >= trials:
        return f"{line}; the other {running} are running in other workers"
    return f"{line}; run the same command again to continue"


def _optimize(study: optuna.Study, storage, setup: StudySetup, trials: int, timeout: float | None) -> None:
    start, failures = time.monotonic(), 0
    while timeout is None or time.monotonic() - start < timeout:
        trial = _claim_trial(study, storage, trials)
        if trial is None:
            break
        state = run_trial(study, trial, setup, storage)
        failures += state == TrialState.FAIL
        if failures > trials:
            setup.console.print(f"[yellow]stopping: {failures} trials failed in this run (see their fail_reason)[/]")
            break


def _claim_trial(study: optuna.Study, storage, trials: int) -> optuna.Trial | None:
    """A new RUNNING trial owned by this worker, or None when finished + running trials reach `trials`."""
    trial = None
    try:
        with worker_lock(storage):
            recover_dead_workers(study, storage)
            if _count(study, FINISHED) + _count(study, (TrialState.RUNNING,)) >= trials:
                return None
            with warnings.catch_warnings():   # "heartbeat ... used with Study.optimize": _heartbeat does it here
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
            claim(trial)
            return trial
    except KeyboardInterrupt:
        if trial is not None:
            study.tell(trial, state=TrialState.FAIL)
        raise


def _count(study: optuna.Study, states) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


# --- one trial -------------------------------------------------------------------------------------------

def run_trial(study: optuna.Study, trial: optuna.Trial, setup: StudySetup, storage=None) -> TrialState:
    """Train one trial, record the schema's user attrs and tell the study; returns the final state.
    Diverged, impossible and out-of-memory configurations are FAIL and the study goes on; Ctrl-C marks
    the trial FAIL and re-raises; any other error marks it FAIL and re-raises."""
    from hpsearch.core.train import TrainingDiverged, train

    record = _TrialRecord(study, trial, setup)
    try:
        with heartbeat(storage, trial):
            overrides = {} if record.is_baseline else setup.spec.suggest(trial)
            config = setup.base.replace(**overrides)
            trial.set_user_attr("config", jsonable(config.to_dict()))
            result = train(config, setup.data, on_epoch=record.on_epoch, verbose=False)
    except optuna.TrialPruned as exc:
        return record.finish(TrialState.PRUNED, reason=str(exc))
    except (TrainingDiverged, ConfigError) as exc:
        return record.finish(TrialState.FAIL, reason=f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        record.finish(TrialState.FAIL, reason="interrupted (Ctrl-C or SIGTERM) before the trial finished")
        raise
    except Exception as exc:
        if type(exc).__name__ == "ResourceExhaustedError":      # out of (GPU) memory: this config, not the study
            return record.finish(TrialState.FAIL, reason=f"out of memory: {str(exc).splitlines()[0][:300]}")
        record.finish(TrialState.FAIL, reason=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        gc.collect()
    record.epochs = [jsonable(e) for e in result.epochs]
    values = [result.val_accuracy] + ([result.train_seconds] if "train_seconds" in setup.objectives else [])
    return record.finish(TrialState.COMPLETE, values, seconds=result.train_seconds)


class _TrialRecord:
    """One trial as the storage schema wants it: its epochs as they come (reported to the pruner), then
    its outcome. Also keeps the console and the progress display up to date."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, setup: StudySetup) -> None:
        self.study, self.trial, self.setup = study, trial, setup
        self.epochs: list[dict] = []
        self.is_baseline = bool(trial.user_attrs.get("is_baseline")) and not _duplicate_baseline(study, trial)
        trial.set_user_attr("is_baseline", self.is_baseline)
        if setup.progress is not None:
            setup.progress.start_trial(trial.number)

    def on_epoch(self, epoch: int, logs: dict) -> None:
        self.epochs.append(jsonable(logs))
        self.trial.set_user_attr("epochs", self.epochs)          # partial curves survive an interruption
        self.trial.set_user_attr("epochs_run", len(self.epochs))
        if self.setup.progress is not None:
            self.setup.progress.epoch(epoch, logs)
        if len(self.setup.objectives) > 1:
            return                                                # Optuna prunes single-objective studies only
        self.trial.report(float(logs["val_accuracy"]), epoch)
        if self.trial.should_prune():
            pruner = self.setup.pruner
            raise optuna.TrialPruned(f"val accuracy {logs['val_accuracy']:.2%} at epoch {epoch}, below the "
                                     f"baseline's {pruner.threshold(self.study, epoch) + pruner.margin:.2%} "
                                     f"minus the margin {pruner.margin}")

    def finish(self, state: TrialState, values=None, reason: str | None = None,
               seconds: float | None = None) -> TrialState:
        trial = self.trial
        trial.set_user_attr("epochs", self.epochs)
        trial.set_user_attr("epochs_run", len(self.epochs))
        trial.set_user_attr("pruned_at", len(self.epochs) if state == TrialState.PRUNED else None)
        trial.set_user_attr("train_seconds", seconds if seconds is not None
                            else sum(e.get("seconds") or 0 for e in self.epochs))
        if reason and state == TrialState.FAIL:
            trial.set_user_attr("fail_reason", reason)
        self.study.tell(trial, values, state=state)
        if self.setup.progress is not None:
            self.setup.progress.finish_trial(state.name, values[0] if values else None)
        self.setup.console.print(_summary_line(trial.number, state, values, reason, len(self.epochs),
                                               self.is_baseline), highlight=False)
        return state


def _duplicate_baseline(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Another baseline trial with a lower number is already done, running or queued."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    return any(t.user_attrs.get("is_baseline") and t.number < trial.number
               for t in study.get_trials(deepcopy=False, states=live))


def _summary_line(number: int, state: TrialState, values, reason, epochs_run: int, is_baseline: bool) -> str:
    label = f"trial {number}" + (" (baseline)" if is_baseline else "")
    if state == TrialState.COMPLETE:
        extra = f" · {values[1]:.1f} s" if len(values) > 1 else ""
        return f"{label}: val accuracy {values[0]:.2%}{extra} ({epochs_run} epochs)"
    if state == TrialState.PRUNED:
        return f"{label}: pruned — {escape(reason or f'behind the baseline after epoch {epochs_run}')}"
    return f"{label}: [red]failed[/] — {escape(reason or '')}"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends a study like Ctrl-C: the running trial is marked FAIL, not left RUNNING."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _progress(setup: StudySetup, remaining: int, epochs: int) -> Iterator[None]:
    """The report layer's live progress, when the console is a terminal."""
    from hpsearch.report.console import StudyProgress

    if remaining <= 0 or not setup.console.is_terminal:
        yield
        return
    with StudyProgress(remaining, epochs, console=setup.console) as progress:
        setup.progress = progress
        try:
            yield
        finally:
            setup.progress = None
