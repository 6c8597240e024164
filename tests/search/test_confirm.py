"""hpsearch confirm: the winner and the baseline retrained over seeds, Welch's t-test, stored and written."""
import json
import statistics

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.cli import main
from hpsearch.commands.common import read_params
from hpsearch.core.config import TrainConfig
from hpsearch.core.result import jsonable as _jsonable
from hpsearch.errors import HpsearchError
from hpsearch.record.storage import open_storage
from hpsearch.search.confirm import pick_trial, welch_p_value

optuna.logging.set_verbosity(optuna.logging.WARNING)
SMOOTHING = FloatDistribution(0.0, 0.2)


def _trial(config, value, state=TrialState.COMPLETE, baseline=False, **params):
    return create_trial(state=state, value=value, params=params, distributions={k: SMOOTHING for k in params},
                        user_attrs={"is_baseline": baseline, "config": _jsonable(config.to_dict())})


def make_study(path, best_value=0.6):
    """A small study as `hpsearch study` stores it: the baseline, a better-looking trial, a pruned one."""
    base = TrainConfig.from_profile("smoke", epochs=2)
    study = optuna.create_study(storage=open_storage(path), study_name="tiny", direction="maximize")
    study.set_user_attr("profile", "smoke")
    study.set_user_attr("objectives", ["val_accuracy"])
    study.add_trial(_trial(base, 0.5, baseline=True))
    study.add_trial(_trial(base.replace(label_smoothing=0.0), best_value, label_smoothing=0.0))
    study.add_trial(_trial(base.replace(label_smoothing=0.2), 0.1, state=TrialState.PRUNED, label_smoothing=0.2))
    return study


@pytest.mark.slow
def test_confirm_retrains_both_over_seeds_and_records_the_test(tmp_path, cifar_dir):
    journal = str(tmp_path / "tiny.journal")
    make_study(journal)
    out = tmp_path / "out"
    assert main(["confirm", "--study-name", "tiny", "--storage", journal, "--seeds", "2",
                 "--data-dir", str(cifar_dir), "--out", str(out)]) == 0

    confirm = optuna.load_study(study_name="tiny", storage=open_storage(journal)).user_attrs["confirm"]
    assert confirm["seeds"] == [42, 43] and confirm["metric"] == "test_accuracy_tta" and confirm["best_trial"] == 1
    assert len(confirm["baseline"]) == len(confirm["best"]) == 2
    for which in ("baseline", "best"):                  # the scores are the runs' own, in seed order
        assert confirm[which] == [r["test_accuracy_tta"] for r in confirm["runs"] if r["which"] == which]
    assert confirm["baseline_mean"] == pytest.approx(statistics.fmean(confirm["baseline"]))
    assert confirm["best_std"] == pytest.approx(statistics.stdev(confirm["best"]))
    assert confirm["p_value"] == welch_p_value(confirm["best"], confirm["baseline"])
    assert confirm["best_params"] == {"label_smoothing": 0.0}
    # interleaved, each configuration with seeds base + 0 and base + 1
    assert [(r["which"], r["seed"]) for r in confirm["runs"]] == [("baseline", 42), ("best", 42),
                                                                  ("baseline", 43), ("best", 43)]

    folder = out / "reports" / "tiny"
    assert json.loads((folder / "confirm.json").read_text()) == confirm
    best = json.loads((folder / "best_params.json").read_text())
    assert best["params"] == {"label_smoothing": 0.0} and best["profile"] == "smoke"
    assert best["study"] == "tiny" and best["values"]["val_accuracy"] == pytest.approx(0.6) and best["trial"] == 1
    assert best["chosen_by"] == "confirm"
    # what `hpsearch baseline --params best_params.json` trains
    assert TrainConfig.from_profile("smoke", **read_params(folder / "best_params.json")).label_smoothing == 0.0


def test_welch_p_value():
    assert welch_p_value([0.70, 0.71, 0.72], [0.70, 0.71, 0.72]) == pytest.approx(1.0)
    assert welch_p_value([0.80, 0.81, 0.82, 0.80], [0.70, 0.71, 0.69, 0.70]) < 0.001
    assert welch_p_value([0.8], [0.7, 0.71]) is None                  # one run: no variance to test with
    assert welch_p_value([0.8, 0.8], [0.7, 0.7]) is None              # no variance at all


def test_nothing_to_confirm_is_an_error_for_people(tmp_path, capsys):
    journal = str(tmp_path / "tiny.journal")
    study = make_study(journal, best_value=0.4)                         # the baseline (0.5) stays the best
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
