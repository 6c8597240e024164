"""The recipe as wired: what TrainConfig says is what the compiled model, its optimiser, its schedule and
its callbacks do. Each test fails if one knob is dropped on the way (a default used instead)."""

import math

import keras
import numpy as np
import pytest

from hpsearch.core.callbacks import PlateauScale
from hpsearch.core.config import TrainConfig
from hpsearch.core.lookahead import Lookahead
from hpsearch.core.model import build_model
from hpsearch.core.schedules import build_schedule
from hpsearch.core.train import compile_model
from hpsearch.core.whitening import whitening_weights

STEPS = 10  # steps per epoch in these tests


def _compiled(**changes):
    config = TrainConfig().replace(**changes)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
    schedule = compile_model(config, model, STEPS, False)
    return config, model, schedule


@pytest.mark.parametrize("smoothing", [0.1, 0.0, 0.3])
def test_the_loss_carries_the_configured_label_smoothing(smoothing):
    config, model, _ = _compiled(label_smoothing=smoothing)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(smoothing)
    y_true = np.eye(10, dtype="float32")[[3, 7]]
    y_pred = np.full((2, 10), 0.05, "float32")
    y_pred[:, 0] = 0.55  # rows sum to 1; the true class gets 0.05
    target = y_true * (1 - smoothing) + smoothing / 10  # what smoothing does to a one-hot target
    expected = -(target * np.log(y_pred)).sum(1).mean()
    assert float(model.loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def _is_exactly(optimizer, kind) -> bool:
    """`optimizer` is a `kind` and not a subclass of it that Keras offers (AdamW is an Adam). On PyTorch Keras
    builds its own subclass of each optimizer (keras.src.backend.torch.optimizers), so the check is by the
    public class the optimizer's class derives from first."""
    public = [c for c in type(optimizer).__mro__ if c in (keras.optimizers.Adam, keras.optimizers.AdamW)]
    return bool(public) and public[0] is kind


def _lr_at(optimizer, step: int) -> float:
    optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@pytest.mark.parametrize(
    "changes, kind, decay",
    [
        ({}, keras.optimizers.Adam, None),
        ({"optimizer": "adamw", "weight_decay": 0.03}, keras.optimizers.AdamW, 0.03),
        ({"optimizer": "adamw", "weight_decay": 0.0007, "lr_schedule": "one_cycle"}, keras.optimizers.AdamW, 0.0007),
    ],
)
def test_the_optimizer_is_the_configured_one_with_the_configured_schedule(changes, kind, decay):
    config, model, schedule = _compiled(**changes)
    optimizer = model.optimizer
    assert _is_exactly(optimizer, kind)
    if decay is not None:
        assert optimizer.weight_decay == pytest.approx(decay)
    else:
        assert not optimizer.weight_decay
    total = STEPS * config.epochs
    for step in (0, total // 4, total // 2, total - 1):
        assert _lr_at(optimizer, step) == pytest.approx(float(schedule(step)), rel=1e-6)
    assert schedule.kind == config.lr_schedule and schedule.total_steps == total
    if config.lr_schedule == "step":
        assert [_lr_at(optimizer, s) for s in (0, 45, 75)] == pytest.approx(list(config.lr_values), rel=1e-6)


def test_lookahead_wraps_the_configured_optimizer_with_its_k_and_alpha():
    config, model, schedule = _compiled(
        optimizer="adamw", weight_decay=0.02, lookahead=True, lookahead_k=7, lookahead_alpha=0.3
    )
    optimizer = model.optimizer
    assert isinstance(optimizer, Lookahead) and (optimizer.k, optimizer.alpha) == (7, pytest.approx(0.3))
    assert _is_exactly(optimizer.inner_optimizer, keras.optimizers.AdamW)
    assert optimizer.inner_optimizer.weight_decay == pytest.approx(0.02)
    assert _lr_at(optimizer, 75) == pytest.approx(float(schedule(75)), rel=1e-6) == pytest.approx(0.0005)
    _, plain, _ = _compiled(optimizer="adamw", weight_decay=0.02)
    assert not isinstance(plain.optimizer, Lookahead)


def _peaked(kind: str, step: int) -> float:
    """The schedule by its definition: 100 steps, 20 warming up from low = peak * 0.01 to the peak, then
    falling back to low, along a straight line (triangular) or half a cosine (one-cycle)."""
    peak, low, warm = 0.004, 0.004 * 0.01, 20
    if step < warm:
        return low + (peak - low) * step / warm
    t = (step - warm) / (100 - warm)
    if kind == "triangular":
        return peak - (peak - low) * t
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * t))


@pytest.mark.parametrize("kind", ["triangular", "one_cycle"])
def test_triangular_and_one_cycle_have_their_own_shapes(kind):
    config = TrainConfig(lr_schedule=kind, peak_lr=0.004, warmup_fraction=0.2, final_lr_fraction=0.01)
    schedule = build_schedule(config, STEPS)
    for step in (0, 10, 20, 30, 40, 60, 80, 99):
        assert float(schedule(step)) == pytest.approx(_peaked(kind, step), rel=1e-5), step
    other = "one_cycle" if kind == "triangular" else "triangular"
    assert float(schedule(40)) != pytest.approx(_peaked(other, 40), rel=1e-2)  # 25 % into the fall:
    assert float(schedule(80)) != pytest.approx(_peaked(other, 80), rel=1e-2)  # 85 % vs 75 %, 15 % vs 25 %


def test_plateau_scale_halves_after_patience_flat_epochs_and_never_goes_below_min_lr():
    _, model, schedule = _compiled()  # step schedule: 1.5e-3 at step 0
    callback = PlateauScale(schedule, "val_loss", factor=0.5, patience=2, min_lr=1e-4)
    callback.set_model(model)

    def epoch(val_loss: float) -> float:
        callback.on_epoch_end(0, {"val_loss": val_loss})
        return float(schedule.scale.numpy())

    assert epoch(1.0) == 1.0  # a new best
    assert epoch(1.0) == 1.0  # one flat epoch: patience not yet used up
    assert epoch(1.1) == 0.5  # two: halved
    assert epoch(0.9) == 0.5  # a new best resets the count
    assert epoch(0.95) == 0.5
    assert epoch(0.95) == 0.25
    assert [epoch(0.95) for _ in range(4)] == [0.25, 0.125, 0.125, pytest.approx(1e-4 / 1.5e-3)]
    for _ in range(6):  # at the floor: lr == min_lr, never below
        epoch(0.95)
    assert float(schedule(0)) == pytest.approx(1e-4, rel=1e-5)
    callback.on_epoch_end(0, {"loss": 0.5})  # no val_loss this epoch: nothing changes
    assert float(schedule(0)) == pytest.approx(1e-4, rel=1e-5)


def test_build_model_initialises_whitening_conv_with_the_configured_eps():
    images = np.random.default_rng(1).normal(size=(50, 32, 32, 3)).astype(np.float32) * 0.05
    config = TrainConfig(whitening_eps=0.01, widths=(4, 4, 4))
    kernel = build_model(config, images).get_layer("whitening_conv").get_weights()[0]
    np.testing.assert_allclose(kernel, whitening_weights(images, 2, 0.01), rtol=1e-6)
    assert not np.allclose(kernel, whitening_weights(images, 2), rtol=1e-3)  # the default eps differs here
