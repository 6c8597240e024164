"""What both engines share: the objectives and default name, opening a study (with its setting checks),
counting what it finished, writing the stored schema's attrs, recognising an out-of-memory trial, and the
lines that say what happened.

Both the Optuna engine and the keras-tuner engine record into an Optuna study with the same schema
(record/keys.py), so the same reports, `confirm` and resumes read either.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.markup import escape

from hpsearch.core.config import TrainConfig
from hpsearch.core.device import DEFAULT_BACKEND, backend
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.numbers import pct
from hpsearch.record import keys
from hpsearch.record.storage import StorageError, mask_url
from hpsearch.record.trials import epoch_attrs
from hpsearch.search.space import StudySpec, parse_spec
from hpsearch.versions import versions

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what `--trials` counts: FAIL produced nothing, it is retried


OBJECTIVES = {"val_accuracy": "maximize", "train_seconds": "minimize"}  # the objectives a study may have
ALIASES = {
    "accuracy": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "seconds": "train_seconds",
    "time": "train_seconds",
    "train_seconds": "train_seconds",
}


# --- objectives and names ------------------------------------------------------------------------------


def parse_objectives(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """ "accuracy,train_seconds" -> ["val_accuracy", "train_seconds"]."""
    names = text.split(",") if isinstance(text, str) else list(text or [keys.VAL_ACCURACY])
    out = []
    for name in (n.strip() for n in names if n.strip()):
        if name not in ALIASES:
            raise HpsearchError(
                f"unknown objective {name!r}; choose from: accuracy (val_accuracy, maximised), "
                f"train_seconds (minimised), e.g. --objectives accuracy,train_seconds"
            )
        if ALIASES[name] not in out:
            out.append(ALIASES[name])
    if not out or out[0] != keys.VAL_ACCURACY:
        raise HpsearchError(
            "the first objective must be accuracy (validation accuracy), e.g. --objectives accuracy,train_seconds"
        )
    return out


def default_study_name(spec: StudySpec, profile: str, objectives: list[str]) -> str:
    """<spec>-<profile>, e.g. default-cpu; "-pareto" for a multi-objective study."""
    return f"{spec.name}-{profile}" + ("-pareto" if len(objectives) > 1 else "")


def count(study: optuna.Study, states=FINISHED) -> int:
    """How many of the study's trials are in `states` (default: finished, COMPLETE + PRUNED)."""
    return len(study.get_trials(deepcopy=False, states=states))


def epochs_spent(study: optuna.Study) -> int:
    """Epochs the study's finished and failed trials trained (what a budget in epochs counts)."""
    done = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL))
    return sum(int(t.user_attrs.get(keys.EPOCHS_RUN) or 0) for t in done)


def max_epochs(spec: StudySpec, base: TrainConfig) -> int:
    """The most epochs a trial of this space can run (the space's `epochs` parameter, else the base's)."""
    epochs = spec.params.get("epochs")
    if epochs is None:
        return base.epochs
    return int(epochs.high if epochs.high is not None else max(epochs.choices))


# --- the study: its attrs, created once and checked on every resume ----------------------------------------


def study_attrs(
    spec: StudySpec,
    base: TrainConfig,
    *,
    engine: str,
    profile: str | None,
    objectives: list[str],
    directions: list[str],
    pruner: dict | None,
    sampler: dict,
) -> dict[str, Any]:
    """The study's user attrs: how it was made, so that a resume, a report or `confirm` can tell."""
    return {
        keys.SPEC_PATH: spec.path,
        keys.SPEC_TEXT: spec.text,
        keys.DESCRIPTION: spec.description,
        keys.PROFILE: profile,
        keys.OBJECTIVES: objectives,
        keys.DIRECTIONS: directions,
        keys.PRUNER: pruner,
        keys.MAX_EPOCHS: max_epochs(spec, base),
        keys.VERSIONS: versions(),
        keys.ENGINE: engine,
        keys.BACKEND: backend(),
        keys.BASE_CONFIG: jsonable(base.to_dict()),
        keys.SAMPLER: sampler,
    }


def open_or_create(storage, study_name: str, attrs: dict, spec: StudySpec, **create_kwargs) -> optuna.Study:
    """Create the study with `attrs` (study_attrs), or load it after checking that it was made the same way
    (engine, backend, objectives, base settings, search space)."""
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            directions=attrs[keys.DIRECTIONS],
            load_if_exists=True,
            **create_kwargs,
        )
    except Exception as exc:  # the database went away between opening and creating
        raise StorageError(
            f"cannot create or load study {study_name!r}: {type(exc).__name__}: "
            f"{mask_url(str(exc).strip().splitlines()[0] if str(exc).strip() else '')}"
        ) from None
    stored = study.user_attrs
    if keys.ENGINE not in stored:
        # engine is the "created" mark, so it is written last: a study killed while its attrs were being written
        # is completed by the next start rather than refused for "other base settings"
        for key, value in sorted(attrs.items(), key=lambda item: item[0] == keys.ENGINE):
            study.set_user_attr(key, value)
        with warnings.catch_warnings():  # ExperimentalWarning: the API optuna-dashboard reads names from
            warnings.simplefilter("ignore")
            study.set_metric_names(list(attrs[keys.OBJECTIVES]))
        return study
    _check_same_study(study_name, stored, attrs, spec)
    return study


def _check_same_study(name: str, stored: dict, wanted: dict, spec: StudySpec) -> None:
    fix = "rerun with the same options, or pass a new --study-name"
    if stored.get(keys.ENGINE) != wanted[keys.ENGINE]:
        raise HpsearchError(f"study {name!r} was run with --engine {stored.get(keys.ENGINE)}; {fix}")
    ran_on = stored.get(keys.BACKEND, DEFAULT_BACKEND)  # studies from before backends were recorded ran on TF
    if ran_on != wanted[keys.BACKEND]:
        raise HpsearchError(
            f"study {name!r} was run on backend {ran_on}; rerun with --backend {ran_on}, or pass a new --study-name"
        )
    if stored.get(keys.OBJECTIVES) != wanted[keys.OBJECTIVES]:
        raise HpsearchError(
            f"study {name!r} has objectives {stored.get(keys.OBJECTIVES)}, not {wanted[keys.OBJECTIVES]}; {fix}"
        )
    if stored.get(keys.BASE_CONFIG) != wanted[keys.BASE_CONFIG]:
        raise HpsearchError(
            f"study {name!r} was created at profile {stored.get(keys.PROFILE)!r} with other base "
            f"settings; its trials would not be comparable with these; {fix}"
        )
    try:
        same_space = parse_spec(stored.get(keys.SPEC_TEXT, ""), stored.get(keys.SPEC_PATH, "")).params == spec.params
    except HpsearchError:
        same_space = False
    if not same_space:
        raise HpsearchError(
            f"study {name!r} was created from another search space ({stored.get(keys.SPEC_PATH)}); "
            f"pass that --spec to resume it, or a new --study-name"
        )
    ran_with = (stored.get(keys.SAMPLER) or {}).get("name")
    if wanted[keys.ENGINE] != "optuna" and ran_with != wanted[keys.SAMPLER]["name"]:
        raise HpsearchError(f"study {name!r} was run with {ran_with}; {fix}")
    # another sampler or pruner on an Optuna study's resume is allowed: every trial records the strategy that produced it
    # (keys.STRATEGY), and the report says which produced which trials


# --- a trial's attrs ----------------------------------------------------------------------------------------


def trial_attrs(
    epochs: list[dict], *, seconds: float | None = None, pruned_at: int | None = None, fail_reason: str | None = None
) -> dict[str, Any]:
    """A finished trial's user attrs: its epochs (one short list per column), how many, where it was pruned,
    its training seconds (the sum of its epochs' when not given) and, for a FAIL trial, why."""
    attrs = {
        **epoch_attrs(epochs),
        keys.EPOCHS_RUN: len(epochs),
        keys.PRUNED_AT: pruned_at,
        keys.TRAIN_SECONDS: seconds if seconds is not None else sum(e.get("seconds") or 0 for e in epochs),
    }
    if fail_reason:
        attrs[keys.FAIL_REASON] = fail_reason
    return jsonable(attrs)


# --- what is said ---------------------------------------------------------------------------------------------


def summary_line(
    number: int,
    state: TrialState,
    values: list[float] | None,
    epochs_run: int,
    is_baseline: bool = False,
    reason: str | None = None,
) -> str:
    """One rich-markup line for a finished trial (stored text escaped)."""
    label = f"trial {number}" + (" (baseline)" if is_baseline else "")
    if state == TrialState.COMPLETE:
        extra = f" · {values[1]:.1f} s" if len(values) > 1 else ""
        return f"{label}: val accuracy {pct(values[0])}{extra} ({epochs_run} epochs)"
    if state == TrialState.PRUNED:
        return f"{label}: pruned — {escape(reason or f'behind the baseline after epoch {epochs_run}')}"
    return f"{label}: [red]failed[/] — {escape(reason or '')}"


def status_line(study: optuna.Study, trials: int) -> str:
    """Where the study stands against its `trials`, and what to do next."""
    done, running = count(study), count(study, (TrialState.RUNNING,))
    pruned = count(study, (TrialState.PRUNED,))
    line = f"study {escape(study.study_name)}: {done} of {trials} trials finished ({pruned} pruned)"
    if done >= trials:
        return line
    if running and done + running >= trials:
        return f"{line}; the other {running} are running in other workers"
    return f"{line}; run the same command again to continue"
