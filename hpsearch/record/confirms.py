"""What `hpsearch confirm` stored: seed runs of a study's trials and its baseline, per profile, and their statistics.

One study user attr per profile confirmed at (keys.confirm_key(profile)):

    {"profile": "full", "metric": "test_accuracy_tta", "seeds": [42, 43], "trials": [5],
     "runs": [{"trial": None, "seed": 42, "test_accuracy_tta": ..., "test_accuracy": ..., "val_accuracy": ...,
               "seconds": ...}, {"trial": 5, "seed": 42, ...}, ...]}

`trial` None is the baseline. A run is added as soon as it finishes (add_run), so an interrupted confirm keeps
what it finished and the next one skips it. Studies confirmed before this schema hold one result under
keys.CONFIRM; it is read as a confirmation at its (or the study's) profile.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import optuna

from hpsearch.core.config import profiles
from hpsearch.core.result import jsonable
from hpsearch.record import keys

METRIC = "test_accuracy_tta"
CONFIDENCE = 0.95
FULL_TRAIN = 45_000  # TrainConfig().train_size None: all 50,000 minus the 5,000 val images

# scipy (Student's t quantiles) is imported where it is used: a heavy library needed only for a few numbers.


def profile_rank(name: str) -> float:
    """How much training a profile does (train images x epochs): the higher, the closer to the full protocol.
    A profile this installation does not know ranks lowest."""
    body = profiles().get(name)
    if body is None:
        return -1.0
    return float((body.get("train_size") or FULL_TRAIN) * body.get("epochs", 10))


def stored(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """{profile: stored confirm record}, every profile confirmed at (the old single result included)."""
    attrs = study.user_attrs
    out = {
        k[len(keys.CONFIRM_PREFIX) :]: v
        for k, v in attrs.items()
        if k.startswith(keys.CONFIRM_PREFIX) and isinstance(v, dict)
    }
    legacy = attrs.get(keys.CONFIRM)
    if isinstance(legacy, dict):
        profile = str(legacy.get("profile") or attrs.get(keys.PROFILE) or "?")
        out.setdefault(profile, _from_legacy(legacy, profile))
    return out


def _from_legacy(result: dict[str, Any], profile: str) -> dict[str, Any]:
    seeds = result.get("seeds") if isinstance(result.get("seeds"), list) else []
    trial = result.get("best_trial")
    runs = [{"trial": None, "seed": s, METRIC: v} for s, v in zip(seeds, result.get("baseline") or [])]
    runs += [{"trial": trial, "seed": s, METRIC: v} for s, v in zip(seeds, result.get("best") or [])]
    return {
        "profile": profile,
        "metric": result.get("metric") or METRIC,
        "seeds": seeds,
        "trials": [trial] if trial is not None else [],
        "runs": runs,
    }


def done(study: optuna.Study, profile: str) -> set[tuple[int | None, int]]:
    """(trial or None for the baseline, seed) of every run stored at `profile`: what a re-run skips."""
    record = stored(study).get(profile) or {}
    return {(r.get("trial"), r.get("seed")) for r in record.get("runs") or []}


def add_run(study: optuna.Study, profile: str, run: dict[str, Any], *, seeds: list[int], trials: list[int]) -> None:
    """Store one finished seed run at `profile` (replacing a stored run of the same trial and seed)."""
    record = dict(
        stored(study).get(profile) or {"profile": profile, "metric": METRIC, "seeds": [], "trials": [], "runs": []}
    )
    record["seeds"] = sorted(set(record.get("seeds") or []) | set(seeds))
    record["trials"] = sorted(set(record.get("trials") or []) | set(trials))
    same = (run.get("trial"), run.get("seed"))
    record["runs"] = [r for r in record.get("runs") or [] if (r.get("trial"), r.get("seed")) != same] + [jsonable(run)]
    study.set_user_attr(keys.confirm_key(profile), jsonable(record))


@dataclass(frozen=True)
class Comparison:
    """One trial against the baseline at one profile: test accuracies per seed, Welch's statistics."""

    profile: str
    trial: int
    baseline: list[float]
    best: list[float]
    metric: str = METRIC
    family: int = 1  # trials confirmed at this profile: the verdict's test is corrected for picking among them

    @property
    def baseline_mean(self) -> float | None:
        return statistics.fmean(self.baseline) if self.baseline else None

    @property
    def best_mean(self) -> float | None:
        return statistics.fmean(self.best) if self.best else None

    @property
    def baseline_std(self) -> float | None:
        return statistics.stdev(self.baseline) if len(self.baseline) > 1 else None

    @property
    def best_std(self) -> float | None:
        return statistics.stdev(self.best) if len(self.best) > 1 else None

    @property
    def difference(self) -> float | None:
        if self.best_mean is None or self.baseline_mean is None:
            return None
        return self.best_mean - self.baseline_mean

    def welch(self) -> tuple[float | None, float | None, float | None]:
        """(ci_low, ci_high, p_value) of best - baseline: Welch's t (unequal variances); None with fewer than
        two runs a side or no variance at all."""
        return welch(self.best, self.baseline)

    def row(self) -> dict[str, Any]:
        low, high, p = self.welch()
        return {
            "profile": self.profile,
            "trial": self.trial,
            "metric": self.metric,
            "seeds": len(self.best),
            "baseline_runs": len(self.baseline),
            "baseline_mean": self.baseline_mean,
            "baseline_std": self.baseline_std,
            "best_mean": self.best_mean,
            "best_std": self.best_std,
            "difference": self.difference,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
        }


def welch(a: list[float], b: list[float]) -> tuple[float | None, float | None, float | None]:
    """mean(a) - mean(b): its 95 % interval and two-sided p-value by Welch's t-test."""
    if len(a) < 2 or len(b) < 2:
        return None, None, None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return None, None, None
    from scipy.stats import t as student_t

    diff, se = statistics.fmean(a) - statistics.fmean(b), math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(student_t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    p = float(2 * student_t.sf(abs(diff) / se, df))
    return diff - half, diff + half, p


def comparisons(study: optuna.Study) -> list[Comparison]:
    """Every (profile, trial) confirmed, the highest profile first, then the best mean first."""
    out = []
    for profile, record in stored(study).items():
        runs = [r for r in record.get("runs") or [] if _finite(r.get(record.get("metric") or METRIC))]
        metric = record.get("metric") or METRIC
        baseline = [float(r[metric]) for r in runs if r.get("trial") is None]
        tested = sorted({r["trial"] for r in runs if r.get("trial") is not None})
        for trial in tested:
            best = [float(r[metric]) for r in runs if r.get("trial") == trial]
            out.append(Comparison(profile, int(trial), baseline, best, metric, family=len(tested)))
    return sorted(out, key=lambda c: (-profile_rank(c.profile), -(c.best_mean or 0.0), c.trial))


def headline_comparison(study: optuna.Study) -> Comparison | None:
    """The comparison the verdict rests on: at the highest profile confirmed, the trial with the best mean."""
    found = comparisons(study)
    return found[0] if found else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
