"""The confirm statistics against SciPy: what confirm.json stores is what scipy.stats computes on the stored runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from scipy import stats

from hpsearch.record import confirms, significance
from hpsearch.report import write_study_reports

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from report_fakes import add_confirm, build_study, tables_best  # noqa: E402

BASE = [0.781, 0.776, 0.784, 0.779]
BEST = [0.790, 0.779, 0.796, 0.783]


def test_confirm_json_matches_scipy_recomputed_on_the_stored_runs(tmp_path):
    """Every stored p-value and interval, the primary's and both tests', equals SciPy's on the runs stored beside
    them; the interval is two-sided (a one-sided quantile would give a narrower one)."""
    study = build_study("cpu-demo", confirm=False)
    trial = tables_best(study)
    add_confirm(study, "cpu", trial, BASE, BEST)
    written = json.loads((write_study_reports(study, "cpu-demo", tmp_path).parent / "confirm.json").read_text())
    runs = written["confirms"]["cpu"]["runs"]
    by_seed = {arm: {r["seed"]: r["test_accuracy_tta"] for r in runs if r["trial"] == arm} for arm in (None, trial)}
    seeds = sorted(by_seed[None])
    best, base = [by_seed[trial][s] for s in seeds], [by_seed[None][s] for s in seeds]
    (row,) = written["comparisons"]
    paired, welch = stats.ttest_rel(best, base), stats.ttest_ind(best, base, equal_var=False)
    for prefix, test in (("paired_", paired), ("welch_", welch), ("", paired)):  # paired: every seed in both arms
        interval = test.confidence_interval(0.95)
        assert row[prefix + "p_value"] == pytest.approx(test.pvalue, rel=1e-9)
        assert row[prefix + "ci_low"] == pytest.approx(interval.low, rel=1e-9)
        assert row[prefix + "ci_high"] == pytest.approx(interval.high, rel=1e-9)
    assert row["test"] == "paired" and row["paired_design"] is True
    one_sided = stats.t.ppf(0.95, paired.df) * np.std(np.subtract(best, base), ddof=1) / np.sqrt(len(best))
    assert (row["ci_high"] - row["ci_low"]) / 2 > one_sided * 1.2
    assert "ttest_rel" in written["statistics"] and "ttest_ind" in written["statistics"]


def test_welch_is_primary_when_a_seed_ran_in_one_arm_only():
    study = build_study("cpu-demo", confirm=False)
    trial = tables_best(study)
    add_confirm(study, "cpu", trial, BASE, BEST[:3])  # the trial's fourth seed is missing
    (comparison,) = confirms.comparisons(study)
    assert not comparison.is_paired and comparison.test().kind == "welch"
    expected = stats.ttest_ind(BEST[:3], BASE, equal_var=False)
    assert comparison.interval()[2] == pytest.approx(expected.pvalue)


def test_the_detectable_difference_is_found_with_80_percent_power():
    """Simulated confirms whose true difference is the detectable one come out significant about 80 % of the time
    (paired and Welch designs); at a quarter of it, far less often."""
    rng = np.random.default_rng(0)
    for design in ("paired", "welch"):
        test = significance.paired(BEST, BASE) if design == "paired" else significance.welch(BEST, BASE)
        d = significance.detectable(test, 0.05)
        n, sims = len(BEST), 4000
        for effect, low, high in ((d, 0.76, 0.84), (d / 4, 0.0, 0.2)):
            if design == "paired":
                diffs = rng.normal(effect, np.sqrt(test.variances[0]), size=(sims, n))
                p = stats.ttest_1samp(diffs, 0.0, axis=1).pvalue
            else:
                a = rng.normal(effect, np.sqrt(test.variances[0]), size=(sims, n))
                b = rng.normal(0.0, np.sqrt(test.variances[1]), size=(sims, n))
                p = stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue
            assert low < np.mean(p < 0.05) < high, (design, effect)


def test_seeds_needed_is_the_first_count_that_detects_the_target():
    test = significance.paired(BEST, BASE)
    n = significance.seeds_needed(test, 0.005)
    assert n is not None and n > len(BEST)

    def detect(k: int) -> float:
        se, df = significance.at_seeds(test, k)
        return se * significance._noncentrality(df, 0.05, 0.8)

    assert detect(n) <= 0.005 < detect(n - 1)
    assert significance.at_seeds(test, len(BEST))[0] == pytest.approx(test.se)  # the observed design itself
    assert significance.seeds_needed(test, 1e-6) is None  # beyond MAX_SEEDS


def test_untestable_designs_give_none():
    assert significance.welch([0.8], [0.7, 0.71]) is None
    assert significance.paired([0.8, 0.81], [0.7, 0.71]) is None  # differences without spread
    assert significance.welch([0.7, 0.7], [0.7, 0.7]) is None


def test_two_seeds_a_side_warn_and_suggest_a_count(tmp_path):
    from hpsearch.report.verdict import study_verdict

    study = build_study("cpu-demo", confirm=False)
    add_confirm(study, "cpu", tables_best(study), BASE[:2], BEST[:2])
    (comparison,) = confirms.comparisons(study)
    verdict = study_verdict(study)
    assert comparison.few_seeds and verdict.badge == "NOT SIGNIFICANT"
    n = comparison.suggested_seeds()
    assert "too wide to decide anything" in verdict.text and f"--seeds {n}" in verdict.text
    assert f"{comparison.detectable() * 100:.1f} pts" in verdict.text
    row = comparison.row()
    assert row["suggested_seeds"] == n and row["detectable_difference"] == pytest.approx(comparison.detectable())


def test_seeds_help_says_it_is_a_count():
    import argparse

    from hpsearch.commands import confirm

    parser = argparse.ArgumentParser()
    confirm.add_arguments(parser)
    assert "a count" in parser.format_help().replace("\n", " ")


optuna.logging.set_verbosity(optuna.logging.WARNING)
