"""`hpsearch baseline --params best_params.json` retrains what was searched: at the study's profile by default,
re-scaled to another --profile exactly as `confirm --profile` does; bad files are one line."""

import argparse
import json

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.cli import main
from hpsearch.commands.baseline import config_from_args
from hpsearch.core.config import TrainConfig
from hpsearch.core.result import jsonable
from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.storage import open_storage
from hpsearch.record.trials import best_params
from hpsearch.search.confirm import configs_at, trial_config
from hpsearch.search.space import parse_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPEC = """
[params]
label_smoothing = { type = "float", low = 0.0, high = 0.3 }
width_1 = { type = "int", low = 64, high = 192, step = 32 }
width_2 = { type = "int", low = 128, high = 384, step = 64 }
width_3 = { type = "int", low = 256, high = 768, step = 128 }
"""
SAMPLED = {"label_smoothing": 0.05, "width_1": 192, "width_2": 384, "width_3": 256}


def _study(path) -> optuna.Study:
    """A smoke-profile study (baseline seed 7, beyond its profile) whose best trial changed the widths."""
    spec = parse_spec(SPEC, "wide.toml")
    base = TrainConfig.from_profile("smoke", seed=7)
    study = optuna.create_study(storage=open_storage(path), study_name="wide", direction="maximize")
    for key, value in {
        keys.PROFILE: "smoke",
        keys.OBJECTIVES: ["val_accuracy"],
        keys.BASE_CONFIG: jsonable(base.to_dict()),
        keys.SPEC_TEXT: SPEC,
        keys.SPEC_PATH: "wide.toml",
    }.items():
        study.set_user_attr(key, value)
    dists = {
        "label_smoothing": FloatDistribution(0.0, 0.3),
        "width_1": IntDistribution(64, 192, step=32),
        "width_2": IntDistribution(128, 384, step=64),
        "width_3": IntDistribution(256, 768, step=128),
    }
    tuned = spec.to_config(base, SAMPLED)
    for config, value, params, baseline in ((base, 0.5, {}, True), (tuned, 0.7, SAMPLED, False)):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=value,
                params=params,
                distributions={k: dists[k] for k in params},
                user_attrs={
                    keys.IS_BASELINE: baseline,
                    keys.CONFIG: {
                        k: v for k, v in jsonable(config.to_dict()).items() if v != jsonable(base.to_dict())[k]
                    },
                },
            )
        )
    return study


def _args(params, profile=None, seed=None, epochs=None):
    return argparse.Namespace(params=str(params), profile=profile, seed=seed, epochs=epochs)


@pytest.fixture
def searched(tmp_path):
    study = _study(str(tmp_path / "wide.journal"))
    path = tmp_path / "best_params.json"
    path.write_text(json.dumps(jsonable(best_params(study))))
    return study, path


def test_without_profile_it_trains_the_trial_at_the_studys_profile(searched):
    study, path = searched
    config, profile, reproduced = config_from_args(_args(path))
    winner = study.trials[1]
    assert profile == "smoke" and config == trial_config(study, winner) == configs_at(study, [winner], "smoke")[1]
    assert config.widths == (12, 24, 8) and config.seed == 7 and config.train_size == 400  # smoke-scaled, not full
    assert reproduced.to_dict() == {"study": "wide", "trial": 1, "study_profile": "smoke", "rescaled_to": None}


@pytest.mark.parametrize("profile", ["cpu", "full"])
def test_with_another_profile_it_is_what_confirm_trains_there(searched, profile):
    study, path = searched
    config, chosen, reproduced = config_from_args(_args(path, profile))
    assert chosen == profile and config == configs_at(study, [study.trials[1]], profile)[1]
    assert config.train_size == TrainConfig.from_profile(profile).train_size and config.seed == 7
    assert config.widths == (192, 384, 256)  # the sampled widths: cpu and full both have the full-size widths
    assert config.label_smoothing == 0.05 and reproduced.to_dict()["rescaled_to"] == profile


def test_seed_and_epochs_still_override(searched):
    config, _, _ = config_from_args(_args(searched[1], "cpu", seed=3, epochs=1))
    assert (config.seed, config.epochs) == (3, 1)


def test_a_file_without_a_profile_keeps_the_old_behaviour(tmp_path):
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"label_smoothing": 0.1}))
    assert config_from_args(_args(path)) == (TrainConfig.from_profile("full", label_smoothing=0.1), "full", None)
    assert config_from_args(_args(path, "cpu"))[0] == TrainConfig.from_profile("cpu", label_smoothing=0.1)


@pytest.mark.parametrize(
    "change, profile, message",
    [
        ({"sampled": {**SAMPLED, "width_1": 4096}}, "cpu", "sampled width_1 = 4096 does not fit"),
        ({"sampled": {**SAMPLED, "label_smoothing": "much"}}, "cpu", "sampled label_smoothing = 'much' does not"),
        ({"sampled": {**SAMPLED, "dropout": 0.5}}, "cpu", "'dropout' is not in its search space"),
        ({"profile": "huge"}, "cpu", "unknown profile 'huge'"),
        ({"spec_text": None}, "cpu", "holds no search space"),
        ({"params": {"label_smoothing": "much"}}, "smoke", "label_smoothing"),
        ({"params": {"filters": 3}}, "smoke", "unknown TrainConfig field(s): filters"),
    ],
)
def test_values_that_do_not_fit_are_one_line_exit_2(searched, change, profile, message, capsys):
    path = searched[1]
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(HpsearchError, match="--params file"):
        config_from_args(_args(path, profile))
    assert main(["baseline", "--params", str(path), "--profile", profile, "--summary"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and str(path) in err


@pytest.mark.slow
def test_the_run_header_and_metrics_name_the_trial(searched, cifar_dir, tmp_path, capsys):
    path = searched[1]
    argv = ["baseline", "--params", str(path), "--epochs", "1", "--data-dir", str(cifar_dir), "--out", str(tmp_path)]
    assert main([*argv, "--name", "again"]) == 0
    assert "reproduces trial 1 of study 'wide' (at its own profile)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "reports" / "again" / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["config"]["widths"] == [12, 24, 8]
    assert metrics["reproduces"] == {"study": "wide", "trial": 1, "study_profile": "smoke", "rescaled_to": None}
