"""The baseline trial carries its own parameter values (so it shows in optuna-dashboard's parameter plots) when
every one lies in the space, and the study names its metrics for the dashboard."""

import optuna

from hpsearch.core.config import TrainConfig
from hpsearch.record import trials as record
from hpsearch.search import specs
from hpsearch.search.space import baseline_params, parse_spec

from test_optuna_engine import BASE, fake_train, study  # noqa: F401  (fake_train is a fixture)

IN_RANGE = parse_spec(
    """
[params]
peak_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
lr_schedule = { type = "categorical", choices = ["step", "triangular", "one_cycle"] }
width_1 = { type = "int", low = 64, high = 192, step = 32 }
width_2 = { type = "int", low = 128, high = 384, step = 64 }
width_3 = { type = "int", low = 256, high = 768, step = 128 }
weight_decay = { type = "float", low = 1e-5, high = 1e-2, log = true, when = { lr_schedule = "one_cycle" } }
""",
    "in_range.toml",
)


def test_baseline_params_are_the_baselines_values_or_none():
    values = baseline_params(IN_RANGE, BASE)
    assert values == {
        "peak_lr": BASE.peak_lr,
        "lr_schedule": "step",
        "width_1": 128,
        "width_2": 256,
        "width_3": 512,
    }  # weight_decay is inactive for it
    assert IN_RANGE.to_config(BASE, values) == BASE  # the same point: widths scale back to smoke's
    narrow = parse_spec('[params]\nlr_schedule = { type = "categorical", choices = ["one_cycle"] }\n', "n.toml")
    assert baseline_params(narrow, BASE) is None  # not representable: enqueued without params
    assert baseline_params(specs.load("default"), TrainConfig()) is not None


def test_the_baseline_trial_is_enqueued_with_them(tmp_path, fake_train):  # noqa: F811
    s = study(tmp_path, 2, spec=IN_RANGE)
    baseline = s.trials[0]
    assert baseline.user_attrs["is_baseline"] and baseline.params == baseline_params(IN_RANGE, BASE)
    assert fake_train.configs[0] == BASE and TrainConfig.from_dict(record.stored_config(s, baseline)) == BASE
    assert s.metric_names == ["val_accuracy"]
    assert optuna.load_study(study_name="s", storage=s._storage).metric_names == ["val_accuracy"]
