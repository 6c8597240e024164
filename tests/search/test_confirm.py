"""hpsearch confirm: the winner and the baseline retrained over seeds, Welch's t-test, stored and written."""

import json
import math
import statistics

import optuna
import pytest
import scipy.stats
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.cli import main
from hpsearch.commands import confirm as confirm_command
from hpsearch.record import confirms
from hpsearch.record.storage import load_study
from hpsearch.search import confirm as confirm_module
from hpsearch.commands.common import read_params
from hpsearch.core.config import TrainConfig
from hpsearch.core.result import jsonable as _jsonable
from hpsearch.errors import HpsearchError
from hpsearch.record.storage import open_storage
from hpsearch.search.confirm import pick_trial, welch_p_value

optuna.logging.set_verbosity(optuna.logging.WARNING)
SMOOTHING = FloatDistribution(0.0, 0.2)


def _trial(config, value, state=TrialState.COMPLETE, baseline=False, **params):
    return create_trial(
        state=state,
        value=value,
        params=params,
        distributions={k: SMOOTHING for k in params},
        user_attrs={"is_baseline": baseline, "config": _jsonable(config.to_dict())},
    )


def make_study(path, best_value=0.6):
    """A small study as `hpsearch study` stores it: the baseline, a better-looking trial, a pruned one."""
    base = TrainConfig.from_profile("smoke", epochs=2)
    study = optuna.create_study(storage=open_storage(path), study_name="tiny", direction="maximize")
    study.set_user_attr("profile", "smoke")
    study.set_user_attr("objectives", ["val_accuracy"])
    study.set_user_attr("base_config", _jsonable(base.to_dict()))
    study.add_trial(_trial(base, 0.5, baseline=True))
    study.add_trial(_trial(base.replace(label_smoothing=0.0), best_value, label_smoothing=0.0))
    study.add_trial(_trial(base.replace(label_smoothing=0.2), 0.1, state=TrialState.PRUNED, label_smoothing=0.2))
    return study


@pytest.mark.slow
def test_confirm_retrains_both_over_seeds_and_records_the_test(tmp_path, cifar_dir):
    journal = str(tmp_path / "tiny.journal")
    make_study(journal)
    out = tmp_path / "out"
    assert (
        main(
            [
                "confirm",
                "--study-name",
                "tiny",
                "--storage",
                journal,
                "--seeds",
                "2",
                "--data-dir",
                str(cifar_dir),
                "--out",
                str(out),
            ]
        )
        == 0
    )

    stored = confirms.stored(optuna.load_study(study_name="tiny", storage=open_storage(journal)))["smoke"]
    assert stored["seeds"] == [42, 43] and stored["metric"] == "test_accuracy_tta" and stored["trials"] == [1]
    # interleaved, each configuration with seeds base + 0 and base + 1
    assert [(r["trial"], r["seed"]) for r in stored["runs"]] == [(None, 42), (1, 42), (None, 43), (1, 43)]

    folder = out / "reports" / "tiny"
    written = json.loads((folder / "confirm.json").read_text())
    assert written["confirms"] == {"smoke": stored}
    (row,) = written["comparisons"]
    baseline = [r["test_accuracy_tta"] for r in stored["runs"] if r["trial"] is None]
    trial_1 = [r["test_accuracy_tta"] for r in stored["runs"] if r["trial"] == 1]
    assert row["trial"] == 1 and row["seeds"] == 2 and row["best_mean"] == pytest.approx(statistics.fmean(trial_1))
    assert row["best_std"] == pytest.approx(statistics.stdev(trial_1))
    # every seed ran in both arms: the paired test is primary (Welch's when the differences have no spread)
    from scipy.stats import ttest_ind, ttest_rel

    assert row["paired_design"] and row["test"] in ("paired", "welch")
    scipy_test = (
        ttest_rel(trial_1, baseline) if row["test"] == "paired" else ttest_ind(trial_1, baseline, equal_var=False)
    )
    assert row["p_value"] == pytest.approx(scipy_test.pvalue)
    assert row["baseline_mean"] == pytest.approx(
        statistics.fmean(r["test_accuracy_tta"] for r in stored["runs"] if r["trial"] is None)
    )
    best = json.loads((folder / "best_params.json").read_text())
    assert best["params"] == {"label_smoothing": 0.0} and best["profile"] == "smoke"
    assert best["study"] == "tiny" and best["values"]["val_accuracy"] == pytest.approx(0.6) and best["trial"] == 1
    assert best["chosen_by"] == "confirm"
    # what `hpsearch baseline --params best_params.json` trains
    assert TrainConfig.from_profile("smoke", **read_params(folder / "best_params.json")).label_smoothing == 0.0


def fake_score(config, data, **_):
    """No training: a score that depends on the configuration and the seed, as a real run's would."""
    value = 0.5 + (0.2 - config.label_smoothing) * 0.1 + (config.seed % 7) * 0.001 + config.epochs * 0.01
    return {"test_accuracy_tta": value, "test_accuracy": value - 0.01, "val_accuracy": value, "seconds": 1.0}


def test_each_seed_run_is_stored_as_it_finishes_and_a_rerun_continues(tmp_path, monkeypatch):
    """An interrupt keeps the finished runs; the same command again trains only the missing ones."""
    journal = str(tmp_path / "tiny.journal")
    make_study(journal)
    trained = []

    def interrupted(config, data, **_):
        if len(trained) == 3:
            raise KeyboardInterrupt
        trained.append((config.label_smoothing, config.seed))
        return fake_score(config, data)

    monkeypatch.setattr(confirm_module, "score_on_test", interrupted)
    monkeypatch.setattr(confirm_command, "load_cifar10", lambda data_dir: None)
    args = ["confirm", "--study-name", "tiny", "--storage", journal, "--seeds", "3", "--out", str(tmp_path)]
    assert main(args) == 130
    stored = confirms.stored(load_study(journal, "tiny"))["smoke"]["runs"]
    assert [(r["trial"], r["seed"]) for r in stored] == [(None, 42), (1, 42), (None, 43)]

    trained.clear()
    monkeypatch.setattr(
        confirm_module, "score_on_test", lambda c, d, **_: (trained.append(c.seed), fake_score(c, d))[1]
    )
    assert main(args) == 0
    assert trained == [43, 44, 44]  # only the missing runs: trial 1 at 43, both at 44
    stored = confirms.stored(load_study(journal, "tiny"))["smoke"]["runs"]
    assert sorted((r["trial"] or 0, r["seed"]) for r in stored) == sorted((t, s) for t in (0, 1) for s in (42, 43, 44))


def test_confirm_at_another_profile_is_stored_beside_the_studys_own(tmp_path, monkeypatch):
    """Search at smoke, confirm at smoke and at cpu: both kept, the report shows them side by side, and the
    verdict rests on the higher profile (cpu)."""
    journal = str(tmp_path / "tiny.journal")
    make_study(journal)
    configs = []
    monkeypatch.setattr(confirm_module, "score_on_test", lambda c, d, **_: (configs.append(c), fake_score(c, d))[1])
    monkeypatch.setattr(confirm_command, "load_cifar10", lambda data_dir: None)
    base = ["confirm", "--study-name", "tiny", "--storage", journal, "--seeds", "2", "--out", str(tmp_path)]
    assert main(base) == 0
    assert main(base + ["--profile", "cpu"]) == 0
    cpu = TrainConfig.from_profile("cpu")
    assert configs[-2:] == [cpu.replace(seed=43), cpu.replace(seed=43, label_smoothing=0.0)]
    assert configs[0].epochs == 2 and configs[-1].epochs == cpu.epochs  # the study's own config, then cpu's

    study = load_study(journal, "tiny")
    assert set(confirms.stored(study)) == {"smoke", "cpu"}
    assert [(c.profile, c.trial) for c in confirms.comparisons(study)] == [("cpu", 1), ("smoke", 1)]
    page = (tmp_path / "reports" / "tiny" / "report.html").read_text()
    head = page.split("<h2>Top trials</h2>")[0]
    assert "confirmed at cpu (test TTA, 2 + 2 seeds, " in head and "confirmed at smoke (test TTA, 2 + 2 seeds, " in head
    assert "search at smoke (val, 1 run)" in head
    assert "Confirmed at profile cpu" in head and "Confirmed at profile smoke" not in head


def test_welch_p_value():
    assert welch_p_value([0.70, 0.71, 0.72], [0.70, 0.71, 0.72]) == pytest.approx(1.0)
    assert welch_p_value([0.80, 0.81, 0.82, 0.80], [0.70, 0.71, 0.69, 0.70]) < 0.001
    assert welch_p_value([0.8], [0.7, 0.71]) is None  # one run: no variance to test with
    assert welch_p_value([0.8, 0.8], [0.7, 0.7]) is None  # no variance at all
    # Welch by hand, with unequal variances and sizes, where Student's pooled t-test disagrees:
    # t = 2.370, Welch-Satterthwaite df = 2.04, two-sided p = 0.139 (Student's, df 6: p = 0.018)
    high, low = [0.80, 0.84, 0.88], [0.78, 0.79, 0.78, 0.79, 0.785]
    vh, vl = statistics.variance(high) / 3, statistics.variance(low) / 5
    t = (statistics.fmean(high) - statistics.fmean(low)) / math.sqrt(vh + vl)
    df = (vh + vl) ** 2 / (vh**2 / 2 + vl**2 / 4)
    assert welch_p_value(high, low) == pytest.approx(2 * scipy.stats.t.sf(t, df), rel=1e-9)
    assert welch_p_value(high, low) == pytest.approx(0.1389, abs=1e-4)


def test_nothing_to_confirm_is_an_error_for_people(tmp_path, capsys):
    journal = str(tmp_path / "tiny.journal")
    study = make_study(journal, best_value=0.4)  # the baseline (0.5) stays the best
    with pytest.raises(HpsearchError, match="baseline itself"):
        pick_trial(study)
    assert pick_trial(study, 1).number == 1
    with pytest.raises(HpsearchError, match="PRUNED"):
        pick_trial(study, 2)
    with pytest.raises(HpsearchError, match="no trial 9"):
        pick_trial(study, 9)
    # the CLI says so and exits 2 before loading any data
    assert main(["confirm", "--study-name", "tiny", "--storage", journal]) == 2
    assert "baseline itself" in capsys.readouterr().err
    assert main(["confirm", "--study-name", "other", "--storage", journal]) == 2
    assert "no study named 'other'" in capsys.readouterr().err


def test_top_k_picks_the_best_non_baseline_trials(tmp_path):
    from hpsearch.search.confirm import pick_trials

    study = make_study(str(tmp_path / "tiny.journal"))
    base = TrainConfig.from_profile("smoke", epochs=2)
    study.add_trial(_trial(base.replace(label_smoothing=0.05), 0.55, label_smoothing=0.05))
    assert [t.number for t in pick_trials(study, top=2)] == [1, 3]  # the baseline (0.5) and the pruned one left out
    assert [t.number for t in pick_trials(study, top=5)] == [1, 3]
    assert [t.number for t in pick_trials(study, number=3)] == [3]


def test_confirm_top_k_retrains_each_of_the_k_best_against_one_set_of_baseline_runs(tmp_path, monkeypatch):
    journal = str(tmp_path / "tiny.journal")
    study = make_study(journal)
    base = TrainConfig.from_profile("smoke", epochs=2)
    study.add_trial(_trial(base.replace(label_smoothing=0.05), 0.55, label_smoothing=0.05))
    trained = []
    monkeypatch.setattr(
        confirm_module, "score_on_test", lambda c, d, **_: (trained.append(c.label_smoothing), fake_score(c, d))[1]
    )
    monkeypatch.setattr(confirm_command, "load_cifar10", lambda data_dir: None)
    args = ["confirm", "--study-name", "tiny", "--storage", journal, "--seeds", "2", "--top", "2"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    baseline = base.label_smoothing
    assert sorted(trained) == sorted([baseline, baseline, 0.0, 0.0, 0.05, 0.05])  # one baseline set, two trials
    stored = confirms.stored(load_study(journal, "tiny"))["smoke"]["runs"]
    assert sorted({r["trial"] for r in stored}, key=lambda t: -1 if t is None else t) == [None, 1, 3]
    assert {c.trial for c in confirms.comparisons(load_study(journal, "tiny"))} == {1, 3}
