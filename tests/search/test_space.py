"""Study specs: every shipped spec loads and samples valid configs; every kind of mistake is a SpecError
naming the file, the key and the reason."""

import optuna
import pytest

from hpsearch.core.config import TrainConfig, model_memory_gb, profiles
from hpsearch.errors import HpsearchError
from hpsearch.search import specs
from hpsearch.search.specs import SHIPPED
from hpsearch.search.space import SpecError, check_fits, load_spec, parse_spec

STUDIES = SHIPPED
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("name", ["default", "lr_schedule", "architecture", "future_work"])
def test_shipped_specs_sample_valid_configs(name):
    spec = load_spec(STUDIES / f"{name}.toml")
    assert spec.description and spec.text.startswith("#")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        overrides = spec.suggest(trial)
        config = spec.to_config(TrainConfig(), trial.params)  # from what Optuna stored ...
        assert config == TrainConfig().replace(**overrides)  # ... equals what suggest returned
        study.tell(trial, 0.0)


def test_future_work_covers_the_ideas():
    params = load_spec(STUDIES / "future_work.toml").params
    assert set(params["lr_schedule"].choices) == {"triangular", "one_cycle"}
    assert params["weight_decay"].when == {"optimizer": "adamw"}
    assert params["lookahead_k"].when == params["lookahead_alpha"].when == {"lookahead": True}


def test_default_is_the_union_of_the_others():
    default = set(load_spec(STUDIES / "default.toml").params)
    for name in ("lr_schedule", "architecture", "future_work"):
        assert set(load_spec(STUDIES / f"{name}.toml").params) <= default


def test_when_conditions_are_respected():
    spec = parse_spec("""
        [params]
        optimizer = { type = "categorical", choices = ["adam", "adamw"] }
        weight_decay = { type = "float", low = 1e-5, high = 1e-2, log = true, when = { optimizer = "adamw" } }
    """)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        overrides = spec.suggest(trial)
        assert ("weight_decay" in overrides) == (overrides["optimizer"] == "adamw")
        seen.add(overrides["optimizer"])
        study.tell(trial, 0.0)
    assert seen == {"adam", "adamw"}


def test_condition_target_is_sampled_first_whatever_the_order():
    spec = parse_spec("""
        [params]
        lookahead_k = { type = "int", low = 3, high = 10, when = { lookahead = true } }
        lookahead = { type = "bool" }
    """)
    assert list(spec.params) == ["lookahead", "lookahead_k"]


def test_widths_from_three_stage_params_and_from_a_categorical_of_lists():
    stages = parse_spec("""
        [params]
        width_1 = { type = "int", low = 8, high = 16, step = 8 }
        width_2 = { type = "int", low = 16, high = 32, step = 16 }
        width_3 = { type = "categorical", choices = [32, 64] }
    """)
    config = stages.to_config(TrainConfig(), {"width_1": 8, "width_2": 32, "width_3": 64})
    assert config.widths == (8, 32, 64)
    lists = parse_spec("""
        [params]
        widths = { type = "categorical", choices = [[8, 16, 32], [16, 32, 64]] }
        lr_values = { type = "categorical", choices = [[0.003, 0.0015, 0.0005], [0.0015, 0.0012, 0.0005]] }
    """)
    assert lists.params["widths"].labels == ["[8, 16, 32]", "[16, 32, 64]"]
    trial = optuna.create_study().ask()
    overrides = lists.suggest(trial)
    assert isinstance(trial.params["widths"], str)  # Optuna stores the JSON text ...
    assert overrides["widths"] in {(8, 16, 32), (16, 32, 64)}  # ... TrainConfig gets the tuple
    assert lists.to_config(TrainConfig(), trial.params).lr_values == overrides["lr_values"]


def test_float_fields_get_floats():
    spec = parse_spec('[params]\nlabel_smoothing = { type = "categorical", choices = [0, 0.1] }')
    assert spec.to_overrides({"label_smoothing": 0}) == {"label_smoothing": 0.0}
    assert isinstance(spec.to_overrides({"label_smoothing": 0})["label_smoothing"], float)


BAD_SPECS = {
    "unknown field": (
        '[params]\npeak_learning_rate = { type = "float", low = 1e-4, high = 1e-2 }',
        "peak_learning_rate",
        "unknown TrainConfig field",
    ),
    "low above high": (
        '[params]\npeak_lr = { type = "float", low = 1e-2, high = 1e-4 }',
        "peak_lr",
        "impossible range",
    ),
    "low equal to high": (
        '[params]\nbatch_size = { type = "int", low = 64, high = 64 }',
        "batch_size",
        "impossible range",
    ),
    "log of zero": (
        '[params]\nweight_decay = { type = "float", low = 0.0, high = 0.1, log = true }',
        "weight_decay",
        "low > 0",
    ),
    "value the config rejects": (
        '[params]\nlabel_smoothing = { type = "float", low = 0.0, high = 1.5 }',
        "label_smoothing",
        "label_smoothing must be in [0, 1)",
    ),
    "float for an int field": (
        '[params]\nbatch_size = { type = "float", low = 32, high = 256 }',
        "batch_size",
        "wrong type",
    ),
    "number for a string field": (
        '[params]\noptimizer = { type = "categorical", choices = [1, 2] }',
        "optimizer",
        "wrong type",
    ),
    "unknown choice": (
        '[params]\noptimizer = { type = "categorical", choices = ["adam", "sgd"] }',
        "optimizer",
        "'sgd' is not allowed",
    ),
    "unknown type": (
        '[params]\npeak_lr = { type = "loguniform", low = 1e-4, high = 1e-2 }',
        "peak_lr",
        "type must be one of",
    ),
    "typo in a key": ('[params]\npeak_lr = { type = "float", lo = 1e-4, high = 1e-2 }', "peak_lr", "unknown key(s)"),
    "when on a missing parameter": (
        '[params]\nweight_decay = { type = "float", low = 1e-5, high = 1e-2, when = { optimizer = "adamw" } }',
        "weight_decay",
        "no parameter 'optimizer'",
    ),
    "when on a value never sampled": (
        '[params]\noptimizer = { type = "categorical", choices = ["adam"] }\n'
        'weight_decay = { type = "float", low = 1e-5, high = 1e-2, when = { optimizer = "adamw" } }',
        "weight_decay",
        "never sampled",
    ),
    "conditions in a cycle": (
        '[params]\nlookahead = { type = "bool", when = { flip = true } }\nflip = { type = "bool", when = { lookahead = true } }',
        "when",
        "cycle",
    ),
    "one stage width alone": ('[params]\nwidth_2 = { type = "int", low = 8, high = 64 }', "width_2", "go together"),
    "step that does not fit": (
        '[params]\nbatch_size = { type = "int", low = 32, high = 100, step = 32 }',
        "batch_size",
        "multiple of step",
    ),
    "split seed": ('[params]\nsplit_seed = { type = "int", low = 0, high = 9 }', "split_seed", "same validation"),
    "no parameters": ('[study]\ndescription = "x"', "[params]", "no parameters"),
    "bad TOML": ('[params]\npeak_lr = { type = "float"; low = 1e-4 }', "not valid TOML", ""),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_spec_errors_name_the_file_the_key_and_the_reason(case, tmp_path):
    text, key, reason = BAD_SPECS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert isinstance(info.value, HpsearchError)
    assert str(path) in message and key in message and reason in message


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read study spec"):
        load_spec(tmp_path / "nope.toml")


def test_all_problems_are_reported_at_once():
    with pytest.raises(SpecError) as info:
        parse_spec('[params]\npeak_lr = { type = "float", low = 1, high = 0 }\nbogus = { type = "bool" }')
    assert "[params.peak_lr]" in str(info.value) and "[params.bogus]" in str(info.value)


BIG_SPEC = """[params]
width_1 = { type = "int", low = 64, high = 192, step = 32 }
width_2 = { type = "int", low = 128, high = 384, step = 64 }
width_3 = { type = "int", low = 256, high = 2000 }
batch_size = { type = "categorical", choices = [512, 64] }
whitening_patch_size = { type = "int", low = 1, high = 3 }
"""


def test_a_spec_is_sized_at_its_largest_corner_against_the_memory_limit():
    spec = parse_spec(BIG_SPEC, "big.toml")
    # the largest corner: every width's high, the largest batch (listed first), patch 1
    # (the widest feature maps; patch 3 is checked too and is smaller)
    largest = TrainConfig(widths=(192, 384, 2000), batch_size=512, whitening_patch_size=1, max_model_gb=1e6)
    needed = model_memory_gb(largest)
    assert needed > model_memory_gb(largest.replace(whitening_patch_size=3))
    check_fits(spec, TrainConfig(max_model_gb=needed * 1.001), "full")
    with pytest.raises(SpecError) as refused:
        check_fits(spec, TrainConfig(max_model_gb=needed * 0.999), "full")
    message = str(refused.value)
    assert "big.toml" in message and "width_3=2000" in message and "batch_size=512" in message
    assert "width_2=384" in message and "profile full" in message and "\n" not in message
    # at a smaller profile the widths scale down with the baseline's, and the same spec fits
    check_fits(spec, TrainConfig.from_profile("smoke").replace(max_model_gb=needed * 0.999), "smoke")


def test_every_shipped_spec_fits_every_profile():
    for name in specs.shipped_names():
        for profile in profiles():
            check_fits(specs.load(name), TrainConfig.from_profile(profile), profile)


def test_the_study_command_refuses_a_spec_too_large_before_anything_is_written(tmp_path, capsys):
    from hpsearch.cli import main

    (tmp_path / "big.toml").write_text(BIG_SPEC.replace("high = 2000", "high = 100000"))
    out = tmp_path / "out"
    assert main(["study", "--spec", str(tmp_path / "big.toml"), "--profile", "full", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hpsearch: ") and "max_model_gb = 16" in err and "width_3=100000" in err
    assert len(err.splitlines()) == 1 and not out.exists()
