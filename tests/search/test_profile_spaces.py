"""Spaces that fit the profile: widths in a spec are at the full-size baseline's scale and a profile whose
baseline is narrower (smoke) scales them by the same ratio, so a smoke search compares like with like."""

import optuna
from hpsearch.core.config import TrainConfig
from hpsearch.search import specs
from hpsearch.search.confirm import configs_at
from hpsearch.search.space import scale_widths

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_default_space_is_relative_to_the_profiles_baseline():
    spec = specs.load("default")
    full, smoke = TrainConfig.from_profile("full"), TrainConfig.from_profile("smoke")
    baseline = {"width_1": 128, "width_2": 256, "width_3": 512}  # the full baseline's own widths
    assert spec.to_config(full, baseline).widths == full.widths
    assert spec.to_config(smoke, baseline).widths == smoke.widths  # the same point is the smoke baseline
    wide = {"width_1": 192, "width_2": 384, "width_3": 768}  # the space's widest: 1.5x at every stage
    assert spec.to_config(full, wide).widths == (192, 384, 768)
    assert spec.to_config(smoke, wide).widths == (12, 24, 24)  # 1.5x the smoke baseline's 8/16/16


def test_sampled_trials_train_the_scaled_widths():
    spec = specs.load("default")
    smoke = TrainConfig.from_profile("smoke")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        config = smoke.replace(**spec.suggest(trial, smoke))
        assert config.widths == scale_widths(
            (trial.params["width_1"], trial.params["width_2"], trial.params["width_3"]), smoke
        )
        assert all(w <= 2 * b for w, b in zip(config.widths, smoke.widths))  # never a 40x bigger network
        study.tell(trial, 0.5)


def test_confirm_at_another_profile_rescales_the_widths():
    """A smoke trial confirmed at cpu trains its widths at the cpu baseline's scale, not the smoke numbers."""
    spec = specs.load("default")
    smoke = TrainConfig.from_profile("smoke")
    study = optuna.create_study(study_name="s")
    study.set_user_attr("profile", "smoke")
    study.set_user_attr("spec_text", spec.text)
    base = optuna.trial.create_trial(value=0.5, user_attrs={"is_baseline": True, "config": smoke.to_dict()})
    params = {"width_1": 192, "width_2": 384, "width_3": 768}
    dists = {name: optuna.distributions.IntDistribution(64, 768, step=32) for name in params}
    trained = spec.to_config(smoke, params)
    winner = optuna.trial.create_trial(
        value=0.6, params=params, distributions=dists, user_attrs={"config": trained.to_dict()}
    )
    study.add_trials([base, winner])
    at_cpu = configs_at(study, [study.trials[1]], "cpu")
    assert at_cpu[None] == TrainConfig.from_profile("cpu")
    assert at_cpu[1].widths == (192, 384, 768) and at_cpu[1].train_size == 10000
    assert configs_at(study, [study.trials[1]], "smoke")[1].widths == trained.widths == (12, 24, 24)
