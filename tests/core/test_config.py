import re

import pytest

from hpsearch.core.config import ConfigError, TrainConfig, model_memory_gb, model_size, profiles


def test_default_config_is_the_baseline():
    c = TrainConfig()
    assert c.seed == 42 and c.epochs == 10 and c.optimizer == "adam" and not c.lookahead
    assert c.lr_schedule == "step" and c.lr_values == (0.0015, 0.0012, 0.0005)
    assert c.widths == (128, 256, 512) and c.whitening_patch_size == 2 and c.whitening_filters == 24
    assert c.val_size == 5000 and c.train_size is None and c.test_size is None


def test_replace_rejects_unknown_fields_by_name():
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig().replace(learning_rate=0.1)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"label_smoothing": 1.5}, "label_smoothing"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"widths": (8, 16)}, "widths"),
        ({"lr_boundaries": (0.7, 0.4)}, "lr_boundaries"),
        ({"lr_schedule": "cosine"}, "lr_schedule"),
        ({"whitening_patch_size": 9}, "whitening_patch_size"),
    ],
)
def test_invalid_values_are_rejected_with_the_field_name(changes, field):
    with pytest.raises(ConfigError, match=field):
        TrainConfig().replace(**changes)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"epochs": "3"}, "epochs"),
        ({"label_smoothing": "0.1"}, "label_smoothing"),
        ({"lookahead": 1}, "lookahead"),
        ({"train_size": 2.5}, "train_size"),
        ({"epochs": True}, "epochs"),
        ({"widths": 128}, "widths"),
        ({"lr_values": ["a", "b", "c"]}, "lr_values"),
        ({"tta_shifts": [[0, "x"]]}, "tta_shifts"),
        ({"widths": [8.5, 16, 16]}, "widths"),
    ],
)
def test_wrong_types_are_rejected_with_the_field_name(changes, field):
    with pytest.raises(ConfigError, match=f"{field} must be"):
        TrainConfig().replace(**changes)


def test_lists_from_json_become_tuples_and_round_trip():
    c = TrainConfig().replace(widths=[8, 16, 32], tta_shifts=[[0, 0], [1, 1]])
    assert c.widths == (8, 16, 32) and c.tta_shifts == ((0, 0), (1, 1))
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_profiles_only_resize_the_run():
    recipe = {"optimizer", "lr_schedule", "lr_values", "label_smoothing", "whitening_patch_size", "seed"}
    assert {"full", "cpu", "smoke"} <= set(profiles())
    assert profiles()["full"] == {}
    baseline = TrainConfig().to_dict()
    for name, overrides in profiles().items():
        assert not recipe & set(overrides), name
        config = TrainConfig.from_profile(name).to_dict()
        expected = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        assert {k: v for k, v in config.items() if v != baseline[k]} == {
            k: v for k, v in expected.items() if v != baseline[k]
        }, name  # exactly the overrides, applied
    assert TrainConfig.from_profile("smoke", epochs=2).epochs == 2  # overrides win over the profile
    assert TrainConfig.from_profile("cpu").train_size == 10000


def test_unknown_profile_names_the_choices():
    with pytest.raises(ConfigError, match="smoke"):
        TrainConfig.from_profile("huge")


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "field, value",
    [
        ("bn_epsilon", NAN),
        ("bn_epsilon", INF),
        ("min_lr", NAN),
        ("min_lr", -INF),
        ("peak_lr", INF),
        ("peak_lr", NAN),
        ("lr_values", (0.001, INF, 0.0005)),
        ("lr_values", (NAN, 0.001, 0.0005)),
        ("lr_boundaries", (0.4, NAN)),
        ("whitening_eps", INF),
        ("weight_decay", INF),
        ("label_smoothing", NAN),
        ("max_model_gb", INF),
        ("plateau_factor", NAN),
        ("lookahead_alpha", NAN),
    ],
)
def test_every_float_field_must_be_finite(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be finite"):
        TrainConfig().replace(**{field: value})


@pytest.mark.parametrize(
    "field, value, ok",
    [
        ("seed", -1, False),
        ("seed", 2**32, False),
        ("seed", 0, True),
        ("seed", 2**32 - 1, True),
        ("split_seed", -5, False),
        ("split_seed", 2**40, False),
        ("split_seed", 2**32 - 1, True),
        ("bn_epsilon", 0.0, False),
        ("bn_epsilon", -1e-3, False),
        ("min_lr", -1e-6, False),
        ("min_lr", 0.0, True),
    ],
)
def test_seeds_and_epsilons_are_in_range(field, value, ok):
    if ok:
        assert getattr(TrainConfig().replace(**{field: value}), field) == value
    else:
        with pytest.raises(ConfigError, match=field):
            TrainConfig().replace(**{field: value})


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"whitening_patch_size": 1, "widths": (4, 8, 12)},
        {"whitening_patch_size": 3, "widths": (8, 4, 16)},
        {"whitening_patch_size": 5, "widths": (6, 6, 6)},
    ],
)
def test_model_size_is_the_built_models(changes):
    """The arithmetic estimate must follow model.py: a change to the network shows here."""
    import numpy as np

    from hpsearch.core.model import build_model

    config = TrainConfig().replace(**changes)
    images = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32)
    model = build_model(config, images)
    params, values = model_size(config)
    assert params == model.count_params()
    # every layer's output up to the last conv stage (then pool 3, flatten, dense: negligible)
    assert values == sum(int(np.prod(layer.output.shape[1:])) for layer in model.layers[1:-3])


def test_a_model_too_large_is_refused_with_the_limit_to_raise():
    with pytest.raises(ConfigError) as err:
        TrainConfig().replace(widths=(20000, 8, 8))
    message = str(err.value)
    assert "max_model_gb = 16" in message and "widths (20000, 8, 8)" in message and len(message) < 400
    assert re.search(r"need about 1\d\d\.\d GB", message)  # 119.5 GB: weights plus activations
    with pytest.raises(ConfigError, match="batch_size 100000"):
        TrainConfig().replace(batch_size=100_000)
    assert TrainConfig().replace(widths=(20000, 8, 8), max_model_gb=200.0).widths == (20000, 8, 8)
    assert model_memory_gb(TrainConfig()) < 1 and model_memory_gb(TrainConfig(batch_size=256)) > model_memory_gb(
        TrainConfig()
    )
    for name in profiles():
        assert model_memory_gb(TrainConfig.from_profile(name)) < TrainConfig().max_model_gb


@pytest.mark.parametrize(
    "changes",
    [
        {f"field_{i}": 1 for i in range(100_000)},
        {"lr_values": tuple([0.001] * 1_000_000)},
        {"optimizer": "x" * 1_000_000},
        {"epochs": 10**5000},
        {"widths": (10**5000, 8, 8)},
        {"seed": -(10**100)},
    ],
)
def test_error_messages_stay_one_short_line(changes):
    with pytest.raises(ConfigError) as err:
        TrainConfig().replace(**changes)
    message = str(err.value)
    assert len(message) < 1000 and "\n" not in message
    if len(changes) > 5:
        assert "and 99995 more" in message
