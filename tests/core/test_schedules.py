import numpy as np
import pytest

from hpsearch.core.config import TrainConfig
from hpsearch.core.schedules import build_schedule


def _lrs(config, steps_per_epoch=10):
    s = build_schedule(config, steps_per_epoch)
    return np.array([float(s(i)) for i in range(steps_per_epoch * config.epochs)]), s


def test_step_schedule_is_the_originals():
    lrs, _ = _lrs(TrainConfig())
    per_epoch = lrs.reshape(10, 10)
    assert (
        np.allclose(per_epoch[:4], 0.0015)
        and np.allclose(per_epoch[4:7], 0.0012)
        and np.allclose(per_epoch[7:], 0.0005)
    )


def test_triangular_and_one_cycle_peak_after_warmup_and_end_low():
    for kind in ("triangular", "one_cycle"):
        lrs, _ = _lrs(TrainConfig(lr_schedule=kind, peak_lr=0.004, warmup_fraction=0.3, final_lr_fraction=0.01))
        assert np.isclose(lrs.max(), 0.004, rtol=1e-3) and abs(int(lrs.argmax()) - 30) <= 1
        assert lrs[0] < 0.0005 and lrs[-1] < 0.0005
        assert np.all(np.diff(lrs[:30]) > 0) and np.all(np.diff(lrs[31:]) <= 1e-9)


def test_scale_multiplies_any_schedule():
    config = TrainConfig(lr_schedule="triangular")
    lrs, s = _lrs(config)
    s.scale.assign(0.25)
    assert np.isclose(float(s(17)), 0.25 * lrs[17])


def _tiny_compiled_model(config, steps_per_epoch):
    import keras

    from hpsearch.core.train import build_optimizer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    schedule = build_schedule(config, steps_per_epoch)
    model.compile(build_optimizer(config, schedule), keras.losses.CategoricalCrossentropy(from_logits=True))
    return model, schedule


def test_a_lowered_scale_reaches_the_compiled_training_step():
    """The scale is optimiser state: a backend that compiles a stateless step must see a new value at the
    next epoch, not the value it traced (scale 0 -> Adam moves no weight)."""
    import keras

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(32) % 3, 3)
    for lookahead in (False, True):
        config = TrainConfig(epochs=3, lookahead=lookahead, lookahead_k=1)
        model, schedule = _tiny_compiled_model(config, steps_per_epoch=2)
        weights = []

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                weights.append([w.copy() for w in model.get_weights()])
                if epoch == 1:
                    schedule.scale.assign(0.0)

        model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False, callbacks=[Record()])
        assert all(np.array_equal(a, b) for a, b in zip(weights[1], weights[2])), f"lookahead={lookahead}"
        assert not np.allclose(weights[0][0], weights[1][0])  # before the change, epochs move them


def test_plateau_scale_halves_after_patience_flat_epochs_and_stops_at_min_lr():
    import keras

    from hpsearch.core.callbacks import PlateauScale, current_lr

    config = TrainConfig(lr_values=(0.001,), lr_boundaries=())
    model, schedule = _tiny_compiled_model(config, steps_per_epoch=10)
    callback = PlateauScale(schedule, "val_loss", factor=0.5, patience=2, min_lr=0.0003)
    callback.set_model(model)
    scales = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.92, 0.99, 0.98, 0.97, 0.96, 0.99, 0.99]):
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
        scales.append(float(keras.ops.convert_to_numpy(schedule.scale)))
    # better at 0 and 1; flat at 2, 3 -> halve; flat 4, 5 -> 0.25 ... but never below min_lr / lr = 0.3
    assert scales == pytest.approx([1, 1, 1, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3])
    assert current_lr(model.optimizer) == pytest.approx(0.0003)
