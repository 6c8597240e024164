import math

import numpy as np
import pytest

from hpsearch.core.config import TrainConfig
from hpsearch.core.device import backend, reset_state
from hpsearch.core.result import EPOCH_KEYS
from hpsearch.core.callbacks import TrainingDiverged
from hpsearch.core.train import train

SMOKE = TrainConfig.from_profile("smoke")


def _metrics(result):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in result.epochs]


def test_smoke_run_learns_and_reports_every_epoch(cifar):
    seen = []
    result = train(SMOKE, cifar, on_epoch=lambda epoch, logs: seen.append((epoch, logs)))
    assert [e for e, _ in seen] == list(range(1, SMOKE.epochs + 1))
    assert all(set(logs) == set(EPOCH_KEYS) for _, logs in seen)
    assert result.val_accuracy == max(e["val_accuracy"] for e in result.epochs)
    assert result.val_accuracy > 0.3  # chance is 0.1
    assert [round(e["lr"], 6) for e in result.epochs] == [0.0015, 0.0015, 0.0012, 0.0005]
    assert result.images_per_second > 0 and result.train_seconds > 0 and result.stopped_reason == "completed"


def test_same_seed_same_numbers_other_seed_other_numbers(cifar):
    a, b = train(SMOKE, cifar), train(SMOKE, cifar)
    assert _metrics(a) == _metrics(b)
    c = train(SMOKE.replace(seed=7), cifar)
    assert _metrics(c) != _metrics(a)


@pytest.mark.skipif(backend() == "torch", reason="jit_compile=True is torch.compile there, minutes to compile")
def test_xla_path_trains_and_is_deterministic(cifar):
    config = SMOKE.replace(jit_compile=True, epochs=2)
    a, b = train(config, cifar), train(config, cifar)
    assert "XLA" in a.device and "no XLA" not in a.device
    assert _metrics(a) == _metrics(b)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_each_precision_trains_with_lookahead_and_adamw(cifar, precision):
    config = SMOKE.replace(precision=precision, optimizer="adamw", weight_decay=1e-4, lookahead=True, epochs=2)
    result = train(config, cifar)
    assert result.device.endswith(f", {precision})")
    assert result.model.get_layer("conv2d").compute_dtype == ("bfloat16" if precision != "float32" else "float32")
    assert all(math.isfinite(e["loss"]) for e in result.epochs) and result.epochs[-1]["loss"] < result.epochs[0]["loss"]
    reset_state()


def test_on_epoch_can_stop_a_run_by_raising(cifar):
    class Stop(Exception):
        pass

    def stop_at_two(epoch, logs):
        if epoch == 2:
            raise Stop(epoch)

    with pytest.raises(Stop):
        train(SMOKE, cifar, on_epoch=stop_at_two)


def test_a_diverging_run_raises_with_the_reason(cifar):
    config = SMOKE.replace(optimizer="adamw", lr_values=(1e30,), lr_boundaries=(), epochs=2)
    with pytest.raises(TrainingDiverged, match="loss became"):
        train(config, cifar)


def test_checkpoint_holds_the_best_model(cifar, tmp_path):
    from hpsearch.core.model import load_model

    result = train(SMOKE.replace(lookahead=True), cifar, out_dir=tmp_path)
    loaded = load_model(result.model_path)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    assert np.allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-5)


def test_to_dict_is_json_ready(cifar):
    import json

    result = train(SMOKE.replace(epochs=1), cifar)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["config"]["widths"] == list(SMOKE.widths) and len(d["epochs"]) == 1
    assert d["backend"] == backend() and f"({backend()}, " in d["device"]  # metrics.json names it
    assert all(math.isfinite(v) for v in d["epochs"][0].values())


def test_early_stopping_watches_val_accuracy_with_the_configured_patience(cifar, monkeypatch):
    """Keras's EarlyStopping is what stops a run; the config's patience must reach it (not Keras's default
    or a constant), on val_accuracy, restoring the best weights."""
    import keras

    made = []

    class Recording(keras.callbacks.EarlyStopping):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(self)

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", Recording)
    train(SMOKE.replace(epochs=1, early_stopping_patience=7), cifar)
    [stopper] = made
    assert (stopper.monitor, stopper.patience, stopper.restore_best_weights) == ("val_accuracy", 7, True)
