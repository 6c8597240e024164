"""The Optuna engine: one trial is `train(base.replace(**params), data, on_epoch=report_and_prune)`.

How a study runs, and why:
- `trials` is the study's total of finished trials, COMPLETE + PRUNED. FAIL does not count: a failed
  trial (diverged, interrupted, its worker killed) produced no measurement, so re-running the same
  command retries that work. A worker stops starting trials once finished + running reaches the total,
  so several workers end at that total: exactly on a journal file (the count and the ask run under its
  lock); on a database, workers that ask at the same instant can each start one more (no lock spans
  machines), so the study may end a trial or two over;
  it also gives up after more failures than `trials` in one run (a space that only diverges).
- A trial whose worker is known dead never counts: on a journal or SQLite file (one machine's) it is failed
  and retried as soon as the next worker looks; on a shared database only its heartbeat's expiry tells, so a
  worker that finds finished + running at the total while the finished fall short waits, saying so, until
  those trials finish or expire and are retried (_wait_for_running): the command never ends with exit 0
  and fewer finished trials than asked because of a dead worker's trial (--timeout still ends it).
- Trial 0 is the baseline (`base` itself, its own values as parameters where the space holds them; user
  attr is_baseline), enqueued once. On a
  journal file the check-and-enqueue runs under a file lock; on a database two workers starting at the
  same instant may both enqueue one, and the later-numbered trial is then an ordinary trial at the
  baseline's own values (a repeat of the baseline, not marked as it).
- Storage and killed workers: see record/storage.py (a journal file by default, any Optuna URL; a RUNNING trial
  whose worker died is marked FAIL on the next start and its parameters are queued again).
- Ctrl-C (or SIGTERM) marks the running trial FAIL ("interrupted") and queues its parameters again, as a
  killed worker's are, then stops; more Ctrl-Cs meanwhile wait until that is written (never a RUNNING trial).
- A trial that another worker marked finished meanwhile (its heartbeat looked stale) is reported as taken
  over, and this worker goes on with the next one.
- Several workers on one machine (`hpsearch study --workers N`, search/workers.py) are N processes each
  running this loop from its start; their parent loads no backend and only reads the study at the end.
- Multi-objective studies (e.g. val_accuracy and train_seconds) use NSGA-II and are never pruned: Optuna
  prunes single-objective studies only.
"""

from __future__ import annotations

import contextlib
import gc
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Sequence

import optuna
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.core.config import ConfigError, TrainConfig
from hpsearch.core.device import out_of_memory
from hpsearch.core.result import jsonable
from hpsearch.core.train import train
from hpsearch.errors import HpsearchError
from hpsearch.interrupts import interrupts_deferred as _interrupts_deferred
from hpsearch.interrupts import signals_as_interrupt as _signals_as_interrupt
from hpsearch.interrupts import stop_if_signalled as _stop_if_signalled
from hpsearch.record import keys
from hpsearch.record.trials import config_changes, epoch_attrs
from hpsearch.record.storage import (
    claim,
    grace,
    heartbeat,
    heartbeats,
    is_local,
    open_storage,
    recover_dead_workers,
    retry_stale_trial,
    worker_lock,
)
from hpsearch.search.hooks import TrialHook, model_folder
from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS
from hpsearch.search.strategies import (
    DEFAULT_SAMPLER,
    PrunerChoice,
    StudyPruner,
    check_pruner,
    check_sampler,
    default_sampler,
    make_pruner,
    make_sampler,
    resolve_pruner,
    sampler_label,
)
from hpsearch.search.space import StudySpec, baseline_params
from hpsearch.search.study import (
    OBJECTIVES,
    count,
    default_study_name,
    epochs_spent,
    max_epochs,
    open_or_create,
    parse_objectives,
    status_line,
    study_attrs,
    summary_line,
    trial_attrs,
)

ENGINE = "optuna"
WAIT_POLL = 5  # seconds between looks at the trials a study's total waits for (see _wait_for_running)


# --- the study ------------------------------------------------------------------------------------------


@dataclass
class StudySetup:
    """Everything that stays the same over a study's trials."""

    spec: StudySpec
    base: TrainConfig
    data: Any
    objectives: list[str]
    pruner: StudyPruner | None
    console: Console
    trainer: Callable[..., Any] = train  # train(config, data, on_epoch=...) -> RunResult (the benchmark replays)
    strategy: str | None = None  # "<sampler>/<pruner>", recorded on every trial (keys.STRATEGY)
    hooks: Sequence[TrialHook] = ()  # kept models, TensorBoard logs (search/hooks.py)
    scratch: Path = Path(".")  # where a trial's checkpoint waits for the hooks (when one wants it)


def create_or_load_study(
    spec: StudySpec,
    base: TrainConfig,
    storage,
    study_name: str,
    *,
    profile: str,
    objectives: list[str],
    seed: int,
    pruner: StudyPruner | None,
    sampler: str = DEFAULT_SAMPLER,
) -> optuna.Study:
    """The study, created with its user attrs, or loaded after checking it was made the same way (a resume
    with another sampler or pruner is allowed: every trial records the ones that produced it)."""
    attrs = study_attrs(
        spec,
        base,
        engine=ENGINE,
        profile=profile,
        objectives=objectives,
        directions=[OBJECTIVES[o] for o in objectives],
        pruner=pruner.settings() if pruner else None,
        sampler={"name": sampler_label(sampler), "seed": seed},
    )
    return open_or_create(
        storage,
        study_name,
        attrs,
        spec,
        sampler=make_sampler(sampler, objectives, seed),
        pruner=pruner or optuna.pruners.NopPruner(),
    )


def ensure_baseline(study: optuna.Study, params: dict | None = None) -> None:
    """Enqueue the baseline unless one is COMPLETE, RUNNING or WAITING (a failed one is retried), with its own
    parameter values (space.baseline_params) when they are given."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    if not any(t.user_attrs.get(keys.IS_BASELINE) for t in study.get_trials(deepcopy=False, states=live)):
        study.enqueue_trial(params or {}, user_attrs={keys.IS_BASELINE: True})


def run_study(
    spec: StudySpec,
    data,
    *,
    trials: int,
    profile: str,
    base: TrainConfig | None = None,
    storage: str | Path | None = None,
    study_name: str | None = None,
    out: str | Path = ".",
    seed: int = 0,
    timeout: float | None = None,
    objectives: str | list[str] | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    prune_floor: bool = False,
    prune_margin: float | None = DEFAULT_MARGIN,
    prune_warmup: int = DEFAULT_WARMUP_EPOCHS,
    epoch_budget: int | None = None,
    console: Console | None = None,
    progress: Callable[[int, int], ContextManager[Any]] | None = None,
    trainer: Callable[..., Any] | None = None,
    hooks: Sequence[TrialHook] = (),
    scratch: str | Path | None = None,
) -> optuna.Study:
    """Run (or resume) a study until it holds `trials` finished trials (COMPLETE + PRUNED), or `timeout`
    seconds have passed, or its trials have spent `epoch_budget` epochs (both checked between trials).
    `base` defaults to the profile's baseline. `sampler` and `pruner` name a strategy (search/strategies.py;
    sampler default: tpe, NSGA-II for several objectives; pruner default: on a resume the study's own, else
    asha); `prune_floor` keeps the baseline rule under asha/hyperband/median; `prune_margin=None` turns
    pruning off (as `pruner="none"`).
    `progress(remaining_trials, max_epochs)`: a live display the caller hands in (e.g.
    report.console.StudyProgress), entered while trials run and told of each trial and epoch (start_trial,
    epoch, finish_trial). `trainer`: what trains a config (default core.train.train). `hooks`:
    search/hooks.py's TrialHooks (kept models, TensorBoard); `scratch`: the folder a trial's checkpoint
    waits in for them (default `out`). Returns the study."""
    console = console or Console()
    objectives = parse_objectives(objectives)
    base = base or TrainConfig.from_profile(profile)
    sampler = sampler or default_sampler(objectives)
    study, opened, study_pruner = open_study(
        spec,
        trials=trials,
        profile=profile,
        base=base,
        storage=storage,
        study_name=study_name,
        out=out,
        seed=seed,
        objectives=objectives,
        sampler=sampler,
        pruner=pruner,
        prune_floor=prune_floor,
        prune_margin=prune_margin,
        prune_warmup=prune_warmup,
        console=console,
    )
    strategy = f"{sampler}/{study_pruner.name if study_pruner else 'none'}"
    setup = StudySetup(
        spec,
        base,
        data,
        objectives,
        study_pruner,
        console,
        trainer or train,
        strategy,
        tuple(hooks),
        Path(scratch or out),
    )
    remaining = trials - count(study)
    display = progress(remaining, max_epochs(spec, base)) if progress and remaining > 0 else contextlib.nullcontext()
    with display as shown, _signals_as_interrupt():
        _optimize(study, opened, setup, trials, timeout, shown, epoch_budget)
    console.print(status_line(study, trials), highlight=False)
    return study


def open_study(
    spec: StudySpec,
    *,
    trials: int,
    profile: str,
    base: TrainConfig | None = None,
    storage: str | Path | None = None,
    study_name: str | None = None,
    out: str | Path = ".",
    seed: int = 0,
    objectives: str | list[str] | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    prune_floor: bool = False,
    prune_margin: float | None = DEFAULT_MARGIN,
    prune_warmup: int = DEFAULT_WARMUP_EPOCHS,
    console: Console | None = None,
) -> tuple[optuna.Study, optuna.storages.BaseStorage, StudyPruner | None]:
    """Everything before the first trial (run_study's arguments): check the strategy, create or load the
    study, fail and retry the trials of dead workers, enqueue the baseline. Returns (study, storage, pruner)."""
    if trials < 1:
        raise HpsearchError(f"--trials must be at least 1 (got {trials})")
    console = console or Console()
    objectives = parse_objectives(objectives)
    base = base or TrainConfig.from_profile(profile)
    study_name = study_name or default_study_name(spec, profile, objectives)
    sampler = sampler or default_sampler(objectives)
    check_sampler(sampler, spec, objectives)
    multi = len(objectives) > 1
    asked = pruner
    if asked is not None:
        check_pruner(PrunerChoice(pruner, prune_floor), objectives)  # before the storage is opened (or created)
    opened = open_storage(storage, study_name=study_name, out=out)
    pruner, prune_floor = resolve_pruner(pruner, prune_floor, opened, study_name, objectives)
    if asked is None:
        check_pruner(PrunerChoice(pruner, prune_floor), objectives)  # the default, or the resumed study's own
    choice = PrunerChoice(
        "none" if prune_margin is None or multi else pruner,
        prune_floor,
        DEFAULT_MARGIN if prune_margin is None else prune_margin,
        prune_warmup,
        max_epochs(spec, base),
    )
    study_pruner = make_pruner(choice)
    with worker_lock(opened):
        study = create_or_load_study(
            spec,
            base,
            opened,
            study_name,
            profile=profile,
            objectives=objectives,
            seed=seed,
            pruner=study_pruner,
            sampler=sampler,
        )
        failed = recover_dead_workers(study, opened)
        if count(study) < trials:
            ensure_baseline(study, baseline_params(spec, base))
    if failed:
        console.print(f"marked trial(s) {', '.join(map(str, failed))} FAIL: their worker had died; retrying them")
    if len(objectives) > 1:
        console.print("multi-objective study (Pareto front): pruning does not apply")
    return study, opened, study_pruner


def _optimize(
    study: optuna.Study,
    storage,
    setup: StudySetup,
    trials: int,
    timeout: float | None,
    progress=None,
    epoch_budget: int | None = None,
) -> None:
    start, failures, waiting = time.monotonic(), 0, set()
    while timeout is None or time.monotonic() - start < timeout:
        _stop_if_signalled()
        if epoch_budget is not None and epochs_spent(study) >= epoch_budget:
            break
        trial = _claim_trial(study, storage, trials, baseline_params(setup.spec, setup.base))
        if trial is None:
            if _wait_for_running(study, storage, trials, setup.console, waiting):
                continue
            break
        state = run_trial(study, trial, setup, storage, progress)
        failures += state == TrialState.FAIL
        if failures > trials:
            setup.console.print(f"[yellow]stopping: {failures} trials failed in this run (see their fail_reason)[/]")
            break


def _wait_for_running(study: optuna.Study, storage, trials: int, console: Console, said: set[int]) -> bool:
    """On a shared database, when the trials still RUNNING are all that stands between the study and its total:
    wait a while (True), saying so once per trial; they finish, or their heartbeat expires (a dead worker's)
    and they are retried here. False when there is nothing to wait for: the total is reached, or the storage
    is one machine's (a dead worker's trial there was failed and retried at once, so what runs is alive)."""
    interval = heartbeats(storage)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not interval or is_local(storage) or count(study) >= trials or not running:
        return False
    new = [t for t in running if t.number not in said]
    if new:
        owners = ", ".join(f"{t.number} ({t.user_attrs.get(keys.WORKER, 'worker unknown')})" for t in new)
        console.print(
            f"{count(study)} of {trials} trials finished; waiting for trial(s) {owners}, still RUNNING: the total "
            f"counts finished trials only. A live worker's trial finishes; a dead worker's heartbeat expires "
            f"{grace(storage)} s after its last beat, and it is retried here",
            markup=False,
            highlight=False,
        )
        said.update(t.number for t in new)
    time.sleep(min(interval, WAIT_POLL))
    return True


def _claim_trial(study: optuna.Study, storage, trials: int, baseline_values: dict | None) -> optuna.Trial | None:
    """A new RUNNING trial owned by this worker, or None when finished + running trials reach `trials`."""
    with worker_lock(storage):
        recover_dead_workers(study, storage)
        if count(study) + count(study, (TrialState.RUNNING,)) >= trials:
            return None
        # a baseline that failed meanwhile (a killed worker's, or one a heartbeat found stale) is queued again,
        # with its own values, so the study never ends without its reference
        ensure_baseline(study, baseline_values)
        with _interrupts_deferred() as caught, warnings.catch_warnings():  # never a RUNNING trial unowned
            warnings.filterwarnings("ignore", message="Heartbeat of storage")  # heartbeat() does it here
            trial = study.ask()
            claim(trial)
            if caught:  # Ctrl-C meanwhile: it ends before it began (nothing sampled yet to retry)
                trial.set_user_attr(keys.FAIL_REASON, "interrupted (Ctrl-C or SIGTERM) before the trial started")
                study.tell(trial, state=TrialState.FAIL)
        return trial


# --- one trial -------------------------------------------------------------------------------------------


def run_trial(study: optuna.Study, trial: optuna.Trial, setup: StudySetup, storage=None, progress=None) -> TrialState:
    """Train one trial, record the schema's user attrs and tell the study; returns the final state.
    Diverged, impossible and out-of-memory configurations are FAIL and the study goes on; Ctrl-C marks
    the trial FAIL and re-raises; any other error marks it FAIL and re-raises."""
    record = _TrialRecord(study, trial, setup, progress)
    try:
        with heartbeat(storage, trial), model_folder(setup.hooks, setup.scratch) as folder:
            if record.is_baseline:
                # the baseline trains `base` itself; its enqueued values (if any) are recorded as its params
                if baseline_params(setup.spec, setup.base) is not None:
                    setup.spec.suggest(trial, setup.base)
                config = setup.base
            else:
                config = setup.base.replace(**setup.spec.suggest(trial, setup.base))
            trial.set_user_attr(keys.CONFIG, config_changes(config.to_dict(), setup.base.to_dict()))
            if setup.strategy:
                trial.set_user_attr(keys.STRATEGY, setup.strategy)
            callbacks = [c for hook in setup.hooks for c in hook.callbacks(study, trial, config)]
            result = setup.trainer(config, setup.data, on_epoch=record.on_epoch, out_dir=folder, callbacks=callbacks)
            for hook in setup.hooks:  # the trial is still RUNNING: a hook may attach artifacts
                hook.completed(study, trial, result, storage)
    except optuna.TrialPruned as exc:
        return record.finish(TrialState.PRUNED, reason=str(exc))
    except (TrainingDiverged, ConfigError) as exc:
        return record.finish(TrialState.FAIL, reason=f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        with _interrupts_deferred():
            record.finish(
                TrialState.FAIL,
                reason="interrupted (Ctrl-C or SIGTERM) before the trial finished; its parameters are queued again",
            )
            if not record.taken:
                retry_stale_trial(study, trial)  # exactly as a killed worker's trial is retried
        raise
    except optuna.exceptions.UpdateFinishedTrialError:  # another worker marked it (a report or attr failed)
        return record.taken_over()
    except Exception as exc:
        if out_of_memory(exc):
            return record.finish(TrialState.FAIL, reason=out_of_memory(exc))
        record.finish(TrialState.FAIL, reason=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        gc.collect()
    record.epochs = [jsonable(e) for e in result.epochs]
    values = [result.val_accuracy] + ([result.train_seconds] if "train_seconds" in setup.objectives else [])
    return record.finish(TrialState.COMPLETE, values, seconds=result.train_seconds)


class _TrialRecord:
    """One trial as the storage schema wants it: its epochs as they come (reported to the pruner), then
    its outcome. Also keeps the console and the progress display, if any, up to date."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, setup: StudySetup, progress=None) -> None:
        self.study, self.trial, self.setup, self.progress = study, trial, setup, progress
        self.epochs: list[dict] = []
        self.taken = False  # another worker marked the trial finished meanwhile
        self.pruned_by: str | None = None  # the rule that pruned it (StudyPruner.last_rule)
        self.is_baseline = bool(trial.user_attrs.get(keys.IS_BASELINE)) and not _duplicate_baseline(study, trial)
        trial.set_user_attr(keys.IS_BASELINE, self.is_baseline)
        if progress is not None:
            progress.start_trial(trial.number)

    def on_epoch(self, epoch: int, logs: dict) -> None:
        _stop_if_signalled()  # an interrupt some library swallowed stops the trial here
        self.epochs.append(jsonable(logs))
        for key, column in epoch_attrs(self.epochs).items():  # partial curves survive an interruption
            self.trial.set_user_attr(key, column)
        self.trial.set_user_attr(keys.EPOCHS_RUN, len(self.epochs))
        if self.progress is not None:
            self.progress.epoch(epoch, logs)
        if len(self.setup.objectives) > 1:
            return  # Optuna prunes single-objective studies only
        self.trial.report(float(logs[keys.VAL_ACCURACY]), epoch)
        if self.trial.should_prune():
            pruner = self.setup.pruner
            self.pruned_by = pruner.last_rule if pruner is not None else None
            reason = pruner.reason(self.study, epoch, float(logs[keys.VAL_ACCURACY])) if pruner else "pruned"
            raise optuna.TrialPruned(reason)

    def finish(
        self, state: TrialState, values=None, reason: str | None = None, seconds: float | None = None
    ) -> TrialState:
        trial = self.trial
        pruned_at = len(self.epochs) if state == TrialState.PRUNED else None
        attrs = trial_attrs(
            self.epochs, seconds=seconds, pruned_at=pruned_at, fail_reason=reason if state == TrialState.FAIL else None
        )
        if pruned_at is not None and self.pruned_by:
            attrs[keys.PRUNED_BY] = self.pruned_by
        with _interrupts_deferred():  # a Ctrl-C here would leave the trial RUNNING
            try:
                for key, value in attrs.items():
                    trial.set_user_attr(key, value)
                with warnings.catch_warnings():  # "already finished": taken_over says it once
                    warnings.simplefilter("ignore")
                    told = self.study.tell(trial, values, state=state, skip_if_finished=True)
            except optuna.exceptions.UpdateFinishedTrialError:
                return self.taken_over()
        if told.state != state:
            return self.taken_over()
        for hook in self.setup.hooks:
            hook.finished(trial, state, self.epochs)
        if self.progress is not None:
            self.progress.finish_trial(state.name, values[0] if values else None)
        self.setup.console.print(
            summary_line(trial.number, state, values, len(self.epochs), self.is_baseline, reason), highlight=False
        )
        return state

    def taken_over(self) -> TrialState:
        """Another worker marked this trial finished (FAIL, its heartbeat stale): its result is not ours to
        record; say so and go on."""
        self.taken = True
        stored = self.study.get_trials(deepcopy=False)[self.trial.number].state
        if self.progress is not None:
            self.progress.finish_trial(stored.name, None)
        self.setup.console.print(
            f"trial {self.trial.number}: taken over — another worker marked it {stored.name} "
            f"(its heartbeat looked stale); its result is not recorded, going on",
            highlight=False,
        )
        return stored


def _duplicate_baseline(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Another baseline trial with a lower number is already done, running or queued."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    return any(
        t.user_attrs.get(keys.IS_BASELINE) and t.number < trial.number
        for t in study.get_trials(deepcopy=False, states=live)
    )
