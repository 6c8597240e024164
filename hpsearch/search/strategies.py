"""Search strategies by name: the samplers and pruners a study may use, what each needs, and what it refuses.

Engines ask this module and never build a sampler or pruner themselves. Optuna's own samplers and pruners
are used as they are; ours (BaselinePruner) sits beside them.

    sampler: tpe (default) | random | qmc | cmaes | gp        multi-objective: tpe (default) | nsga2
    pruner:  baseline (default) | asha | hyperband | median | none; --prune-floor keeps the baseline rule
             as a floor under asha, hyperband or median

The resource of asha and hyperband is the epoch: a trial reports its validation accuracy after every epoch,
and the rungs are derived from the profile's epochs (`rungs`), so the same name means the same thing at
`mini` (4 epochs: rungs 1 and 3) and at `full` (10 epochs: rungs 1, 3 and 9).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import Callable

import optuna
from optuna.trial import FrozenTrial

from hpsearch.errors import HpsearchError
from hpsearch.numbers import pct, spread
from hpsearch.record import keys
from hpsearch.search.pruning import DEFAULT_MARGIN, DEFAULT_WARMUP_EPOCHS, BaselinePruner
from hpsearch.search.space import StudySpec

SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp")
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2")
PRUNERS = ("baseline", "asha", "hyperband", "median", "none")
DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "asha"  # chosen by `hpsearch bench --search` (README, "Search strategies")
REDUCTION_FACTOR = 3  # asha and hyperband keep the best third at each rung (Li et al.'s eta = 3)


# --- samplers ----------------------------------------------------------------------------------------------

_LABELS = {  # what a study stores as its sampler's name: Optuna's class (as 0.2 stored TPE's and NSGA-II's)
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "qmc": "QMCSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "nsga2": "NSGAIISampler",
}


def default_sampler(objectives: list[str]) -> str:
    """tpe for one objective; NSGA-II for several, as before samplers were a choice."""
    return "nsga2" if len(objectives) > 1 else DEFAULT_SAMPLER


def sampler_label(name: str) -> str:
    return _LABELS[name]


def check_sampler(name: str, spec: StudySpec, objectives: list[str]) -> None:
    """Refuse, in one line naming what would work, a sampler that does not apply to this study."""
    multi = len(objectives) > 1
    allowed = MULTI_OBJECTIVE_SAMPLERS if multi else SAMPLERS
    if name not in allowed:
        kind = "multi-objective" if multi else "single-objective"
        raise HpsearchError(f"--sampler {name} does not apply to a {kind} study; choose one of: {', '.join(allowed)}")
    if name == "cmaes" and not any(p.type in ("float", "int") for p in spec.params.values()):
        raise HpsearchError(
            f"--sampler cmaes needs numeric parameters and {spec.name!r} has only categorical ones; "
            "use --sampler tpe, random or qmc"
        )
    if name == "gp" and importlib.util.find_spec("torch") is None:
        raise HpsearchError(
            "--sampler gp needs PyTorch (Optuna's GPSampler is written in it): pip install 'hpsearch[torch]', "
            "or use --sampler tpe"
        )


def make_sampler(name: str, objectives: list[str], seed: int) -> optuna.samplers.BaseSampler:
    """The study's sampler. Stateless samplers are made afresh per trial from (seed, trial number), so that
    workers sharing a seed still sample different trials; qmc and cmaes are made once per process, because
    their sequence (QMC's scrambled points, CMA-ES's search distribution) is one thing over the study."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "qmc":
            return optuna.samplers.QMCSampler(
                scramble=True, seed=seed, warn_independent_sampling=False, warn_asynchronous_seeding=False
            )
        if name == "cmaes":
            # categorical parameters (the schedule, the optimiser) fall back to its independent sampler
            return optuna.samplers.CmaEsSampler(
                seed=seed,
                warn_independent_sampling=False,
                independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            )
    return _SeedPerTrial(_FACTORIES[name], seed)


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    # multivariate + group: TPE models the conditional parameters (`when`) jointly per branch;
    # constant_liar keeps parallel workers from piling onto the same region
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def _gp(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)


_FACTORIES: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "gp": _gp,
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
}


class _SeedPerTrial(optuna.samplers.BaseSampler):
    """A sampler made afresh for each trial, seeded from (seed, trial number): a study is reproducible, and
    workers that share a seed still sample different trials. TPE, random, GP and NSGA-II keep no state of
    their own between trials (they read the study), so a fresh one per trial samples as a reseeded one would;
    and Optuna has no public way to reseed a sampler with a chosen seed."""

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._make, self._seed, self._number, self._sampler = make, seed, None, None

    def _for(self, trial) -> optuna.samplers.BaseSampler:
        if trial.number != self._number:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = self._make((self._seed * 1_000_003 + trial.number) % 2**32)
            self._number, self._sampler = trial.number, sampler
        return self._sampler

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._for(trial).after_trial(study, trial, state, values)


# --- pruners -----------------------------------------------------------------------------------------------


def rungs(epochs: int, reduction_factor: int = REDUCTION_FACTOR) -> list[int]:
    """The epochs at which asha judges a trial: 1, eta, eta^2, ... below the last epoch (a trial that reached
    its last epoch is finished, not judged); at least epoch 1. 4 epochs -> [1, 3], 10 -> [1, 3, 9]."""
    out, epoch = [], 1
    while epoch < epochs or not out:
        out.append(epoch)
        epoch *= reduction_factor
    return out


@dataclass(frozen=True)
class PrunerChoice:
    """What the command line asked for: a pruner by name, its baseline-rule settings (the rule itself, or the
    floor under another), and the profile's epochs (the resource of asha and hyperband)."""

    name: str = DEFAULT_PRUNER
    floor: bool = False
    margin: float = DEFAULT_MARGIN
    warmup: int = DEFAULT_WARMUP_EPOCHS
    epochs: int = 10

    def settings(self) -> dict | None:
        """What the study records under user_attrs[keys.PRUNER] (None: no pruning)."""
        if self.name == "none":
            return None
        if self.name == "baseline":
            return BaselinePruner(self.margin, self.warmup).settings()  # as 0.2 stored it: resumes match
        out = {"name": self.name, "epochs": self.epochs}
        if self.name in ("asha", "hyperband"):
            out.update(reduction_factor=REDUCTION_FACTOR, rungs=rungs(self.epochs))
        if self.floor:
            out["floor"] = BaselinePruner(self.margin, self.warmup).settings()
        return out

    def describe(self) -> str:
        """The study header's words."""
        baseline = f"baseline-relative, margin {spread(self.margin)}, after epoch {self.warmup}"
        if self.name == "none":
            return "off"
        if self.name == "baseline":
            return baseline
        what = {
            "asha": f"asha (rungs at epochs {', '.join(map(str, rungs(self.epochs)))}, keeps the best "
            f"1/{REDUCTION_FACTOR})",
            "hyperband": f"hyperband (epochs 1-{self.epochs}, reduction factor {REDUCTION_FACTOR})",
            "median": "median (below the median of earlier trials at the same epoch, after 5 trials)",
        }[self.name]
        return what + (f", floor: {baseline}" if self.floor else "")


def check_pruner(choice: PrunerChoice, objectives: list[str]) -> None:
    if choice.name not in PRUNERS:
        raise HpsearchError(f"unknown --pruner {choice.name!r}; choose one of: {', '.join(PRUNERS)}")
    if len(objectives) > 1 and choice.name != "none":
        raise HpsearchError(
            f"--pruner {choice.name} does not apply to a multi-objective study (Optuna prunes single-objective "
            "studies only); drop --pruner or --objectives"
        )
    if choice.floor and choice.name in ("baseline", "none"):
        raise HpsearchError(
            f"--prune-floor goes under --pruner asha, hyperband or median (with --pruner {choice.name} it "
            "would change nothing); drop it"
        )


def stored_pruner(storage, study_name: str) -> tuple[str, bool] | None:
    """(pruner, floor) of the study `study_name` as it was created, or None when the storage has no such study."""
    try:
        attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(study_name))
    except KeyError:
        return None
    settings = attrs.get(keys.PRUNER)
    if not settings:
        return "none", False
    name = "baseline" if settings.get("name") == "BaselinePruner" else settings.get("name")
    return (name, bool(settings.get("floor"))) if name in PRUNERS else None


def resolve_pruner(asked: str | None, floor: bool, storage, study_name: str, objectives: list[str]) -> tuple[str, bool]:
    """The pruner a run uses: the one asked for; else, on a resume, the one the study was created with (a study
    started before asha became the default keeps its baseline rule); else the default (none for several
    objectives)."""
    if asked is not None:
        return asked, floor
    if len(objectives) > 1:
        return "none", floor
    stored = stored_pruner(storage, study_name)
    if stored is None:
        return DEFAULT_PRUNER, floor
    return stored[0], stored[1] or floor


def make_pruner(choice: PrunerChoice) -> "StudyPruner | None":
    """The study's pruner, or None for no pruning."""
    if choice.name == "none":
        return None
    baseline = BaselinePruner(choice.margin, choice.warmup)
    if choice.name == "baseline":
        return StudyPruner("baseline", baseline, None, choice)
    inner: optuna.pruners.BasePruner
    if choice.name == "asha":
        inner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR)
    elif choice.name == "hyperband":
        inner = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=choice.epochs, reduction_factor=REDUCTION_FACTOR
        )
    else:
        inner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=choice.warmup)
    return StudyPruner(choice.name, inner, baseline if choice.floor else None, choice)


class StudyPruner(optuna.pruners.BasePruner):
    """The pruner a study runs: one rule (ours or Optuna's), optionally the baseline rule as a floor under it.
    Never prunes the baseline trial itself (it is every other trial's reference). Remembers which rule
    stopped a trial, so the trial can record why (`reason`)."""

    def __init__(self, name, rule, floor: BaselinePruner | None, choice: PrunerChoice) -> None:
        self.name, self.rule, self.floor, self.choice = name, rule, floor, choice
        self.last_rule: str | None = None

    @property
    def baseline_rule(self) -> BaselinePruner | None:
        return self.rule if isinstance(self.rule, BaselinePruner) else self.floor

    def settings(self) -> dict | None:
        return self.choice.settings()

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self.last_rule = None
        if trial.user_attrs.get(keys.IS_BASELINE):
            return False
        if self.floor is not None and self.floor.prune(study, trial):
            self.last_rule = "baseline floor"
        elif self.rule.prune(study, trial):
            self.last_rule = self.name
        return self.last_rule is not None

    def reason(self, study: optuna.Study, epoch: int, value: float) -> str:
        """Why the last trial judged was pruned, in one line."""
        baseline = self.baseline_rule
        if self.last_rule in ("baseline", "baseline floor") and baseline is not None:
            reference = baseline.threshold(study, epoch)
            return (
                f"val accuracy {pct(value)} at epoch {epoch}, below the baseline's "
                f"{pct(reference + baseline.margin)} minus the margin of {spread(baseline.margin)}"
                + (" (the floor under " + self.name + ")" if self.last_rule == "baseline floor" else "")
            )
        if self.name == "median":
            return f"val accuracy {pct(value)} at epoch {epoch}, below the median of earlier trials at that epoch"
        return (
            f"val accuracy {pct(value)} at epoch {epoch} ({self.name} rung), not in the best "
            f"1/{REDUCTION_FACTOR} of the trials that reached it"
        )
