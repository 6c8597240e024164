"""The statistics of a confirm: SciPy's t-tests with their intervals, and what the seeds could detect.

    welch(best, baseline)          scipy.stats.ttest_ind(equal_var=False): two arms, unequal variances
    paired(best, baseline)         scipy.stats.ttest_rel: per-seed differences (the same seed in both arms
                                   sets the shuffle, the augmentation draws and the test subset)
    detectable(test, alpha)        the smallest true difference the test finds with 80 % power
    seeds_needed(test, target)     seeds a side for which that smallest difference falls to `target`

The intervals are two-sided 95 % intervals (`TtestResult.confidence_interval`), the p-values two-sided.
The detectable difference solves, for the test's own degrees of freedom and standard error (the observed
spread), power(d) = P(|T| > t_crit | noncentrality d / se) = 0.80 with SciPy's noncentral t (`scipy.stats.nct`)
and a root finder: no statsmodels (not installed, and SciPy already gives the closed form's pieces).

scipy is imported inside the functions: a heavy library needed only for a few numbers (module docstring rule).
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.80
MAX_SEEDS = 100  # seeds_needed looks no further: beyond this a confirm is not the tool


@dataclass(frozen=True)
class TestResult:
    """One t-test of mean(best) - mean(baseline)."""

    kind: str  # "paired" | "welch"
    difference: float
    low: float  # two-sided CONFIDENCE interval
    high: float
    p: float  # two-sided
    df: float
    se: float  # standard error of the difference
    variances: tuple[float, ...]  # per-seed variance components: (var of the differences,) or (var a, var b)

    @property
    def name(self) -> str:
        return "paired t-test on per-seed differences" if self.kind == "paired" else "Welch's t-test"


def welch(a: list[float], b: list[float]) -> TestResult | None:
    """mean(a) - mean(b) by Welch's t-test; None with fewer than two runs a side or no spread at all."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a), statistics.variance(b)
    if va + vb <= 1e-15:
        return None
    from scipy import stats

    return _result("welch", stats.ttest_ind(a, b, equal_var=False), (va, vb))


def paired(a: list[float], b: list[float]) -> TestResult | None:
    """mean(a - b) by the paired t-test, a[i] and b[i] from the same seed; None with fewer than two pairs or
    differences without spread."""
    if len(a) != len(b) or len(a) < 2:
        return None
    var = statistics.variance([x - y for x, y in zip(a, b)])
    if var <= 1e-15:
        return None
    from scipy import stats

    return _result("paired", stats.ttest_rel(a, b), (var,))


def _result(kind: str, test, variances: tuple[float, ...]) -> TestResult:
    from scipy import stats

    interval = test.confidence_interval(CONFIDENCE)
    low, high, df = float(interval.low), float(interval.high), float(test.df)
    se = (high - low) / 2 / float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))
    return TestResult(kind, (low + high) / 2, low, high, float(test.pvalue), df, se, variances)


def mean_interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """(mean, low, high): the mean of `values` and its two-sided 95 % interval (scipy.stats.ttest_1samp's);
    no interval with fewer than two values or no spread."""
    mean = statistics.fmean(values)
    if len(values) < 2 or statistics.variance(values) <= 1e-15:
        return mean, None, None
    from scipy import stats

    interval = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
    return mean, float(interval.low), float(interval.high)


def detectable(test: TestResult, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference `test`'s design finds significant (two-sided, at `alpha`) with `power`."""
    return test.se * _noncentrality(test.df, alpha, power)


def _noncentrality(df: float, alpha: float, power: float) -> float:
    from scipy import optimize, stats

    crit = float(stats.t.ppf(1 - alpha / 2, df))

    def short(nc: float) -> float:
        lower = float(stats.nct.cdf(-crit, df, nc))  # the wrong-sign tail: negligible, NaN when it underflows
        return float(stats.nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power

    high = crit + 2.0
    while short(high) < 0:  # heavy tails at one degree of freedom need a large noncentrality
        high *= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(optimize.brentq(short, 0.0, high, xtol=1e-6))


def at_seeds(test: TestResult, n: int) -> tuple[float, float]:
    """(se, df) the same design would have with `n` seeds a side (the observed per-seed spread)."""
    terms = [v / n for v in test.variances]
    se = math.sqrt(sum(terms))
    df = sum(terms) ** 2 / sum(t**2 / (n - 1) for t in terms)
    return se, df


def seeds_needed(test: TestResult, target: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds a side for which the design detects `target` (>= 2); None when even MAX_SEEDS would not. The
    detectable difference falls as seeds grow, so a bisection finds the first count that is enough."""

    def enough(n: int) -> bool:
        se, df = at_seeds(test, n)
        return se * _noncentrality(df, alpha, power) <= abs(target)

    low, high = 2, MAX_SEEDS
    if not enough(high):
        return None
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid + 1, high)
    return low
