import pytest

from hpsearch.core.config import ConfigError, TrainConfig, profiles


def test_default_config_is_the_baseline():
    c = TrainConfig()
    assert c.seed == 42 and c.epochs == 10 and c.optimizer == "adam" and not c.lookahead
    assert c.lr_schedule == "step" and c.lr_values == (0.0015, 0.0012, 0.0005)
    assert c.widths == (128, 256, 512) and c.whitening_patch_size == 2 and c.whitening_filters == 24
    assert c.val_size == 5000 and c.train_size is None and c.test_size is None


def test_replace_rejects_unknown_fields_by_name():
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig().replace(learning_rate=0.1)


@pytest.mark.parametrize("changes, field", [
    ({"epochs": 0}, "epochs"), ({"label_smoothing": 1.5}, "label_smoothing"), ({"optimizer": "sgd"}, "optimizer"),
    ({"widths": (8, 16)}, "widths"), ({"lr_boundaries": (0.7, 0.4)}, "lr_boundaries"),
    ({"lr_schedule": "cosine"}, "lr_schedule"), ({"whitening_patch_size": 9}, "whitening_patch_size"),
])
def test_invalid_values_are_rejected_with_the_field_name(changes, field):
    with pytest.raises(ConfigError, match=field):
        TrainConfig().replace(**changes)


@pytest.mark.parametrize("changes, field", [
    ({"epochs": "3"}, "epochs"), ({"label_smoothing": "0.1"}, "label_smoothing"), ({"lookahead": 1}, "lookahead"),
    ({"train_size": 2.5}, "train_size"), ({"epochs": True}, "epochs"), ({"widths": 128}, "widths"),
    ({"lr_values": ["a", "b", "c"]}, "lr_values"), ({"tta_shifts": [[0, "x"]]}, "tta_shifts"),
    ({"widths": [8.5, 16, 16]}, "widths"),
])
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
    for name, overrides in profiles().items():
        assert not recipe & set(overrides), name
        TrainConfig.from_profile(name)  # valid


def test_unknown_profile_names_the_choices():
    with pytest.raises(ConfigError, match="smoke"):
        TrainConfig.from_profile("huge")
