"""What `hpsearch confirm` stored: seed runs of a study's trials and its baseline, per profile, and their statistics.

One study user attr per seed run (keys.confirm_run_key(profile, trial, seed), e.g. "confirm_run:full:5:42"):

    {"profile": "full", "metric": "test_accuracy_tta", "seeds": [42, 43], "trials": [5],
     "run": {"trial": 5, "seed": 42, "test_accuracy_tta": ..., "test_accuracy": ..., "val_accuracy": ...,
             "seconds": ...}}

`trial` None is the baseline; "seeds" and "trials" are what the confirm that trained the run planned. A run is
stored as soon as it finishes (add_run), so an interrupted confirm keeps what it finished and the next one skips
it; each run has its own attr, written once, so two confirms of one study at one profile running at the same
time (two machines on one database, two shells on one journal) never overwrite each other's runs. `stored`
gathers the runs per profile into the record the statistics read:

    {"profile": "full", "metric": ..., "seeds": [42, 43], "trials": [5], "runs": [{"trial": None, ...}, ...]}

Older studies hold that whole record under keys.confirm_key(profile) (0.2 - 0.2.1), or one result under
keys.CONFIRM (before 0.2, read as a confirmation at its or the study's profile); both are still read.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna

from hpsearch.core.config import profiles
from hpsearch.core.result import jsonable
from hpsearch.record import keys, significance

METRIC = "test_accuracy_tta"
CONFIDENCE = significance.CONFIDENCE
FULL_TRAIN = 45_000  # TrainConfig().train_size None: all 50,000 minus the 5,000 val images
FEW_SEEDS = 3  # under this many seeds a side the interval is too wide to decide anything: confirm warns
MIN_EFFECT = 0.005  # the smallest difference worth suggesting seeds for (0.5 pts)
STATISTICS = (  # what confirm.json's comparison rows mean, written beside them
    "test 'paired' (scipy.stats.ttest_rel on per-seed differences) is primary when every seed ran in both arms; "
    "'welch' (scipy.stats.ttest_ind, equal_var=False) otherwise. ci_low/ci_high: the primary test's two-sided "
    "95% interval of best - baseline; p_value: its two-sided p; alpha: 0.05, Bonferroni-divided by the trials "
    "confirmed at the profile; detectable_difference: the smallest true difference found with 80% power at "
    "alpha (observed spread, noncentral t); suggested_seeds: seeds a side to detect the observed difference "
    "(at least 0.5 pts)"
)


def profile_rank(name: str) -> float:
    """How much training a profile does (train images x epochs): the higher, the closer to the full protocol.
    A profile this installation does not know ranks lowest."""
    body = profiles().get(name)
    if body is None:
        return -1.0
    return float((body.get("train_size") or FULL_TRAIN) * body.get("epochs", 10))


def stored(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """{profile: stored confirm record}, every profile confirmed at: the per-run attrs gathered, over the older
    per-profile record and the single result (a run stored both ways counts once, as its own attr has it)."""
    attrs = study.user_attrs
    out = {
        k[len(keys.CONFIRM_PREFIX) :]: _record(v.get("profile") or k[len(keys.CONFIRM_PREFIX) :], v)
        for k, v in attrs.items()
        if k.startswith(keys.CONFIRM_PREFIX) and isinstance(v, dict)
    }
    legacy = attrs.get(keys.CONFIRM)
    if isinstance(legacy, dict):
        profile = str(legacy.get("profile") or attrs.get(keys.PROFILE) or "?")
        out.setdefault(profile, _from_legacy(legacy, profile))
    runs = [v for k, v in attrs.items() if k.startswith(keys.CONFIRM_RUN_PREFIX) and _is_run(v)]
    for entry in sorted(runs, key=lambda v: (_order(v["run"]), str(v["profile"]))):
        record = out.setdefault(str(entry["profile"]), _record(str(entry["profile"]), {}))
        record["seeds"] = sorted(set(record["seeds"]) | set(entry.get("seeds") or []))
        record["trials"] = sorted(set(record["trials"]) | set(entry.get("trials") or []))
        same = (entry["run"].get("trial"), entry["run"].get("seed"))
        record["runs"] = [r for r in record["runs"] if (r.get("trial"), r.get("seed")) != same] + [entry["run"]]
    return out


def _record(profile: str, body: dict[str, Any]) -> dict[str, Any]:
    """A per-profile record with every field (a fresh copy: stored() merges runs into it)."""
    return {
        "profile": profile,
        "metric": body.get("metric") or METRIC,
        "seeds": list(body.get("seeds") or []),
        "trials": list(body.get("trials") or []),
        "runs": list(body.get("runs") or []),
    }


def _is_run(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("run"), dict) and value.get("profile") is not None


def _order(run: dict[str, Any]) -> tuple:
    """Seed by seed, the baseline first: the order one confirm trains them in (run_confirm)."""
    trial, seed = run.get("trial"), run.get("seed")
    return (seed if isinstance(seed, int) else 0, -1 if trial is None else trial if isinstance(trial, int) else 0)


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
    """Store one finished seed run at `profile` under its own attr (replacing a stored run of the same trial and
    seed); `seeds` and `trials`: what this confirm planned. Reads nothing: a confirm writing at the same time
    loses nothing."""
    entry = {"profile": profile, "metric": METRIC, "seeds": sorted(seeds), "trials": sorted(trials), "run": run}
    study.set_user_attr(keys.confirm_run_key(profile, run.get("trial"), run.get("seed")), jsonable(entry))


@dataclass(frozen=True)
class Comparison:
    """One trial against the baseline at one profile: test accuracies per seed, and their statistics (SciPy's,
    record/significance.py). The paired test on per-seed differences is primary when every seed ran in both
    arms (the seed sets the shuffle, the augmentation and the test subset of both); Welch's otherwise."""

    profile: str
    trial: int
    baseline: list[float]
    best: list[float]
    metric: str = METRIC
    family: int = 1  # trials confirmed at this profile: the verdict's test is corrected for picking among them
    baseline_seeds: tuple[int, ...] = ()  # the seed of each baseline value, in the same order
    best_seeds: tuple[int, ...] = ()

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

    @property
    def alpha(self) -> float:
        """The level the verdict tests at: 5 %, Bonferroni-corrected when the best of `family` trials is shown."""
        return significance.ALPHA / max(1, self.family)

    @property
    def is_paired(self) -> bool:
        """Every seed ran in both arms (once each), so the per-seed differences can be tested."""
        seeds = self.best_seeds
        return len(seeds) == len(self.best) and len(set(seeds)) == len(seeds) and set(seeds) == set(self.baseline_seeds)

    def pairs(self) -> tuple[list[float], list[float]]:
        """(best, baseline) values in the same seed order, for the paired test."""
        base = dict(zip(self.baseline_seeds, self.baseline))
        order = sorted(self.best_seeds)
        return [dict(zip(self.best_seeds, self.best))[s] for s in order], [base[s] for s in order]

    def paired_test(self) -> significance.TestResult | None:
        return significance.paired(*self.pairs()) if self.is_paired else None

    def welch_test(self) -> significance.TestResult | None:
        return significance.welch(self.best, self.baseline)

    def test(self) -> significance.TestResult | None:
        """The primary test: paired when every seed ran in both arms, else Welch's; None when untestable."""
        return self._primary

    @cached_property
    def _primary(self) -> significance.TestResult | None:
        return self.paired_test() or self.welch_test()

    def interval(self) -> tuple[float | None, float | None, float | None]:
        """(ci_low, ci_high, p_value) of best - baseline by the primary test (paired or Welch's, see test());
        None with fewer than two runs a side or no spread at all."""
        found = self.test()
        return (found.low, found.high, found.p) if found else (None, None, None)

    def detectable(self) -> float | None:
        """The smallest difference these seeds detect with 80 % power at the verdict's level (observed spread)."""
        found = self.test()
        return significance.detectable(found, self.alpha) if found else None

    def suggested_seeds(self) -> int | None:
        """Seeds a side that would detect a difference as large as the one observed (at least MIN_EFFECT);
        None when the spread is unknown or even significance.MAX_SEEDS would not do."""
        found = self.test()
        if found is None:
            return None
        return significance.seeds_needed(found, max(abs(self.difference or 0.0), MIN_EFFECT), self.alpha)

    @property
    def few_seeds(self) -> bool:
        return min(len(self.best), len(self.baseline)) < FEW_SEEDS

    def row(self) -> dict[str, Any]:
        found, welch_, paired_ = self.test(), self.welch_test(), self.paired_test()
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
            "test": found.kind if found else None,  # the primary test, whose interval and p-value follow
            "paired_design": self.is_paired,
            "ci_low": found.low if found else None,
            "ci_high": found.high if found else None,
            "p_value": found.p if found else None,
            "alpha": self.alpha,
            "welch_ci_low": welch_.low if welch_ else None,
            "welch_ci_high": welch_.high if welch_ else None,
            "welch_p_value": welch_.p if welch_ else None,
            "paired_ci_low": paired_.low if paired_ else None,
            "paired_ci_high": paired_.high if paired_ else None,
            "paired_p_value": paired_.p if paired_ else None,
            "detectable_difference": self.detectable(),  # 80 % power at `alpha`, from the observed spread
            "suggested_seeds": self.suggested_seeds(),
            "few_seeds": self.few_seeds,
        }


def welch(a: list[float], b: list[float]) -> tuple[float | None, float | None, float | None]:
    """mean(a) - mean(b): its 95 % interval and two-sided p-value by Welch's t-test (scipy.stats.ttest_ind)."""
    found = significance.welch(a, b)
    return (found.low, found.high, found.p) if found else (None, None, None)


def comparisons(study: optuna.Study) -> list[Comparison]:
    """Every (profile, trial) confirmed, the highest profile first, then the best mean first."""
    out = []
    for profile, record in stored(study).items():
        runs = [r for r in record.get("runs") or [] if _finite(r.get(record.get("metric") or METRIC))]
        metric = record.get("metric") or METRIC
        base = [r for r in runs if r.get("trial") is None]
        tested = sorted({r["trial"] for r in runs if r.get("trial") is not None})
        for trial in tested:
            best = [r for r in runs if r.get("trial") == trial]
            out.append(
                Comparison(
                    profile,
                    int(trial),
                    [float(r[metric]) for r in base],
                    [float(r[metric]) for r in best],
                    metric,
                    family=len(tested),
                    baseline_seeds=tuple(r.get("seed") for r in base),
                    best_seeds=tuple(r.get("seed") for r in best),
                )
            )
    return sorted(out, key=lambda c: (-profile_rank(c.profile), -(c.best_mean or 0.0), c.trial))


def headline_comparison(study: optuna.Study) -> Comparison | None:
    """The comparison the verdict rests on: at the highest profile confirmed, the trial with the best mean."""
    found = comparisons(study)
    return found[0] if found else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
