"""Spec parsing as properties (Hypothesis): the bounds written are the bounds parsed and sampled, `log` and
`step` reach Optuna's distributions, and a `when` condition decides exactly when a parameter is sampled."""

import json
import math

import optuna
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hpsearch.core.config import TrainConfig
from hpsearch.search.space import parse_spec

optuna.logging.set_verbosity(optuna.logging.WARNING)
SAMPLES = 12


def _sample(spec, n=SAMPLES, seed=0):
    """(overrides, the trial's distributions) of n random trials."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((spec.suggest(trial, TrainConfig()), dict(trial.distributions)))
        study.tell(trial, 0.0)
    return out


@settings(max_examples=30, deadline=None)
@given(
    low=st.floats(1e-6, 0.5, allow_subnormal=False),
    ratio=st.floats(1.01, 1e4),
    log=st.booleans(),
    steps=st.one_of(st.none(), st.integers(1, 20)),
)
def test_a_float_range_round_trips_and_every_sample_respects_it(low, ratio, log, steps):
    high = low * ratio
    step = None if steps is None or log else (high - low) / steps
    assume(step is None or math.isclose(((low + steps * step) - low) / step, steps))
    line = f'peak_lr = {{ type = "float", low = {low!r}, high = {high!r}, log = {str(log).lower()}'
    line += f", step = {step!r} }}" if step is not None else " }"
    param = parse_spec(f"[params]\n{line}\n").params["peak_lr"]
    assert (param.low, param.high, param.log, param.step) == (low, high, log, step)
    for overrides, distributions in _sample(parse_spec(f"[params]\n{line}\n")):
        value, dist = overrides["peak_lr"], distributions["peak_lr"]
        assert isinstance(dist, optuna.distributions.FloatDistribution)
        assert (dist.low, dist.log, dist.step) == (low, log, step)
        assert low <= value <= high * (1 + 1e-12) and isinstance(value, float)
        if step is not None:
            assert math.isclose((value - low) / step, round((value - low) / step), abs_tol=1e-6)


@settings(max_examples=30, deadline=None)
@given(low=st.integers(1, 30), span=st.integers(1, 60), log=st.booleans(), step=st.integers(1, 7))
def test_an_int_range_round_trips_and_every_sample_is_on_its_grid(low, span, log, step):
    step = 1 if log else step
    high = low + span * step
    extra = "log = true" if log else f"step = {step}"
    text = f'[params]\nlookahead_k = {{ type = "int", low = {low}, high = {high}, {extra} }}\n'
    param = parse_spec(text).params["lookahead_k"]
    assert (param.low, param.high, param.log) == (low, high, log)
    for overrides, distributions in _sample(parse_spec(text)):
        value, dist = overrides["lookahead_k"], distributions["lookahead_k"]
        assert isinstance(dist, optuna.distributions.IntDistribution) and (dist.low, dist.high, dist.log) == (
            low,
            high,
            log,
        )
        assert type(value) is int and low <= value <= high and (value - low) % step == 0


@settings(max_examples=25, deadline=None)
@given(
    choices=st.lists(st.sampled_from(["step", "triangular", "one_cycle"]), min_size=2, max_size=3, unique=True),
    data=st.data(),
)
def test_a_when_condition_decides_exactly_when_its_parameter_is_sampled(choices, data):
    wanted = data.draw(st.lists(st.sampled_from(choices), min_size=1, max_size=len(choices) - 1, unique=True))
    condition = json.dumps(wanted[0] if len(wanted) == 1 else wanted)  # one value, or a list of them
    text = (  # the dependent parameter first: sampling still takes the condition's target first
        f'[params]\nwarmup_fraction = {{ type = "float", low = 0.1, high = 0.5, when = {{ lr_schedule = {condition} }} }}\n'
        f'lr_schedule = {{ type = "categorical", choices = {json.dumps(choices)} }}\n'
    )
    spec = parse_spec(text)
    assert list(spec.params) == ["lr_schedule", "warmup_fraction"]  # the condition's target first
    seen = set()
    for overrides, _ in _sample(spec, n=3 * len(choices) + 6, seed=len(wanted)):
        assert ("warmup_fraction" in overrides) == (overrides["lr_schedule"] in wanted), overrides
        seen.add(overrides["lr_schedule"] in wanted)
    assert seen == {True, False}  # both branches were taken


@pytest.mark.parametrize(
    "bad", ["low = 0.5, high = 0.5", "low = 0.0, high = 0.1, log = true", "low = 0.1, high = 0.2, step = 0.03"]
)
def test_ranges_that_cannot_be_sampled_are_refused(bad):
    from hpsearch.search.space import SpecError

    with pytest.raises(SpecError, match="peak_lr"):
        parse_spec(f'[params]\npeak_lr = {{ type = "float", {bad} }}\n')
