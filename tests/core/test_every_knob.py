"""Every TrainConfig knob is wired: a walk over dataclasses.fields(TrainConfig), so a new field is walked too.

For each field, `train` runs up to the point where it would call `fit` (fit is replaced by a recorder: nothing
trains), once with a small base config and once with the field changed to another valid value. What it would
have fitted is observed from the outside in a dozen aspects: the built model, its initial weights, the
optimiser, the learning rate at every step, the loss, the callbacks' settings, the epochs, the device
settings, the training batches on the host pipeline AND on the on-device path (order and pixels), the
validation batches, the split, the TTA views and the model-size guard. Each field must change exactly the
aspects listed for it in EXPECTED: a knob dropped on the way (a default or a constant used instead) changes
too little, a knob wired into the wrong place too much. A field missing from EXPECTED fails the walk: give it
an alternative value and what it changes, or, if it can have no effect on this backend, an entry in
NO_EFFECT with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import keras
import numpy as np
import pytest

from hpsearch.core import device as devices
from hpsearch.core.batches import make_batches
from hpsearch.core.callbacks import PlateauScale
from hpsearch.core.config import ConfigError, TrainConfig
from hpsearch.core.data import split
from hpsearch.core.evaluate import predict
from hpsearch.core.lookahead import Lookahead
from hpsearch.core.ondevice import DeviceTrainer, DrawBatches, device_training
from hpsearch.core.train import train

# small and fast: 60 training images in batches of 16 (4 steps an epoch), 2 epochs, tiny widths
BASE = dict(
    widths=(4, 4, 8),
    batch_size=16,
    val_size=20,
    train_size=60,
    test_size=20,
    epochs=2,
    augment_on_device=False,
    jit_compile=False,
    precision="float32",
)
LR_STEPS = range(0, 3 * 4 * 2)  # every step of the longest run walked (3 epochs of 4 steps), and beyond
GUARD_PROBES = ((64, 128, 256), (256, 512, 1024), (512, 1024, 2048))  # widths the model-size guard judges

MODEL, WEIGHTS, OPTIMIZER, LR, LOSS, CALLBACKS, EPOCHS = (
    "model",
    "weights",
    "optimizer",
    "lr",
    "loss",
    "callbacks",
    "epochs",
)
DEVICE, HOST_ORDER, HOST_PIXELS, DEVICE_ORDER, DEVICE_PIXELS = (
    "device",
    "host order",
    "host pixels",
    "device order",
    "device pixels",
)
VAL, TTA, GUARD = "validation", "tta", "guard"
TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT, NORMALISATION = "train split", "val split", "test split", "normalisation"
ORDER, PIXELS = {HOST_ORDER, DEVICE_ORDER}, {HOST_PIXELS, DEVICE_PIXELS}
# other training images: whitening init, mean/std (so validation batches too), training batches
TRAINING_IMAGES = {TRAIN_SPLIT, NORMALISATION, WEIGHTS, VAL} | PIXELS

# field: (another valid value, base overrides the field needs to matter, the aspects it must change)
EXPECTED = {
    "seed": (7, {}, {WEIGHTS} | ORDER | PIXELS),
    "split_seed": (3, {}, TRAINING_IMAGES | {VAL_SPLIT, TEST_SPLIT}),
    "deterministic": (False, {}, {DEVICE}),
    "val_size": (30, {}, TRAINING_IMAGES | {VAL_SPLIT}),
    "train_size": (80, {}, TRAINING_IMAGES | ORDER | {LR}),
    "test_size": (30, {}, {TEST_SPLIT}),
    "batch_size": (8, {}, ORDER | PIXELS | {LR}),  # batches of 8: other groups
    "flip": (False, {}, PIXELS),
    "pad": (0, {}, PIXELS),
    "augment_on_device": (True, {}, {DEVICE}),
    "whitening_patch_size": (3, {}, {MODEL, WEIGHTS}),
    "whitening_eps": (0.05, {}, {WEIGHTS}),
    "whitening_trainable": (False, {}, {MODEL}),
    "widths": ((8, 8, 16), {}, {MODEL, WEIGHTS}),
    "bn_momentum": (0.5, {}, {MODEL}),
    "bn_epsilon": (0.01, {}, {MODEL}),
    "label_smoothing": (0.25, {}, {LOSS}),
    "optimizer": ("adamw", {}, {OPTIMIZER}),
    "weight_decay": (0.01, {"optimizer": "adamw"}, {OPTIMIZER}),  # AdamW's alone
    "lookahead": (True, {}, {OPTIMIZER}),
    "lookahead_k": (3, {"lookahead": True}, {OPTIMIZER}),
    "lookahead_alpha": (0.8, {"lookahead": True}, {OPTIMIZER}),
    "lr_schedule": ("triangular", {}, {LR}),
    "lr_values": ((0.002, 0.001, 0.0003), {}, {LR}),
    "lr_boundaries": ((0.3, 0.8), {}, {LR}),
    "peak_lr": (0.005, {"lr_schedule": "triangular"}, {LR}),
    "warmup_fraction": (0.4, {"lr_schedule": "triangular"}, {LR}),
    "final_lr_fraction": (0.2, {"lr_schedule": "one_cycle"}, {LR}),
    "epochs": (3, {}, {EPOCHS, LR}),
    "early_stopping_patience": (5, {}, {CALLBACKS}),
    "plateau_patience": (4, {}, {CALLBACKS}),
    "plateau_factor": (0.3, {}, {CALLBACKS}),
    "min_lr": (1e-4, {}, {CALLBACKS}),
    "tta_flip": (False, {}, {TTA}),
    "tta_shifts": (((0, 0), (2, -1)), {}, {TTA}),
    "jit_compile": (True, {}, {DEVICE}),
    "precision": ("mixed_bfloat16", {}, {DEVICE, MODEL}),  # the layers' dtype policies
    "max_model_gb": (0.05, {}, {GUARD}),
}
# (field, backend): why changing it can have no observable effect there
NO_EFFECT = {
    ("deterministic", "jax"): "JAX is deterministic on a CPU by itself; there is nothing to ask (device.py)",
}


class _Fitted(Exception):
    """Raised by the recording `fit`: what train() would have fitted, and with what."""

    def __init__(self, fitted, train_ds, epochs, validation_data, callbacks):
        super().__init__("fit called")
        self.fitted, self.train_ds, self.epochs = fitted, train_ds, epochs
        self.validation_data, self.callbacks = validation_data, callbacks


def _record_fit(self, x=None, epochs=1, validation_data=None, callbacks=(), **_):
    raise _Fitted(self, x, epochs, validation_data, list(callbacks))


def _digest(*values) -> str:
    """A short fingerprint of arrays (floats at 4 decimals: the same numbers on the same machine)."""
    h = hashlib.sha256()
    for v in values:
        a = np.asarray(keras.ops.convert_to_numpy(v))
        a = np.round(a.astype(np.float64), 4) if a.dtype.kind == "f" else a
        h.update(repr((a.shape, a.dtype.kind)).encode() + np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _plain(obj) -> dict:
    """An object's public settings of plain types (a callback's patience, factor, monitor, ...)."""
    return {k: v for k, v in sorted(vars(obj).items()) if not k.startswith("_") and isinstance(v, (int, float, str))}


def _structure(model) -> str:
    """The model's layers and their configs, without names of objects and without initial values."""
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if not k.endswith("initializer")}
        layers.append((type(layer).__name__, config))
    return json.dumps(layers, sort_keys=True, default=str)


def _optimizer(optimizer) -> dict:
    inner = optimizer.inner_optimizer if isinstance(optimizer, Lookahead) else optimizer
    seen = {
        "class": "AdamW" if isinstance(inner, keras.optimizers.AdamW) else type(inner).__mro__[0].__name__,
        "adam": isinstance(inner, keras.optimizers.Adam),
        "weight_decay": inner.weight_decay,
        "lookahead": isinstance(optimizer, Lookahead),
    }
    if isinstance(optimizer, Lookahead):
        seen.update(k=optimizer.k, alpha=optimizer.alpha)
    return seen


def _lr(optimizer) -> list[float]:
    lrs = []
    for step in LR_STEPS:
        optimizer.iterations.assign(step)
        lrs.append(round(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 9))
    optimizer.iterations.assign(0)
    return lrs


def _plateau_reach(plateau: list, optimizer) -> list[float]:
    """How the LR the optimiser uses moves when each PlateauScale halves its schedule's scale (0.5: it lowers
    the optimiser's own LR)."""
    ratios = []
    for callback in plateau:
        before = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        callback.schedule.scale.assign(0.5)
        ratios.append(round(float(keras.ops.convert_to_numpy(optimizer.learning_rate)) / before, 6))
        callback.schedule.scale.assign(1.0)
    return ratios


def _determinism() -> object:
    name = devices.backend()
    if name == "tensorflow":
        from tensorflow.python.framework import config as tf_config

        return tf_config.is_op_determinism_enabled()
    if name == "torch":
        import torch

        return torch.are_deterministic_algorithms_enabled()
    return None


def _host_batches(ds) -> tuple[list, str]:
    """The images' order in every batch of epochs 0 and 1, and the pixels of their first and last batches."""
    order = [ds.picked(e, i).tolist() for e in (0, 1) for i in range(len(ds))]
    images = [ds.batch(e, i) for e in (0, 1) for i in (0, len(ds) - 1)]
    return order, _digest(*(x for x, _ in images), *(y for _, y in images))


def _device_batches(trainer: DeviceTrainer, ds: DrawBatches) -> tuple[list, str]:
    """The same for the on-device path: the indices it sends, and the pixels its augmentation layer makes."""
    order = [ds.batch(e, i)[0]["index"].tolist() for e in (0, 1) for i in range(len(ds))]
    batches = [ds.batch(e, i) for e in (0, 1) for i in (0, len(ds) - 1)]
    return order, _digest(*(trainer.augment(inputs) for inputs, _ in batches), *(y for _, y in batches))


class _ViewRecorder:
    """A model for predict(): records each view it is shown, answers a uniform distribution."""

    def __init__(self):
        self.seen = []

    def predict(self, images, batch_size=None, verbose=0):
        self.seen.append(_digest(images))
        return np.full((len(images), 10), 0.1, np.float32)


def _accepted(config: TrainConfig, widths) -> bool:
    try:
        config.replace(widths=widths)
    except ConfigError:
        return False
    return True


def observe(config: TrainConfig, data, monkeypatch) -> dict:
    """What train(config, data) would fit, aspect by aspect (see the module's docstring)."""
    monkeypatch.setattr(keras.Model, "fit", _record_fit)
    with pytest.raises(_Fitted) as caught:
        train(config, data)
    fit = caught.value
    trainer, train_ds = fit.fitted, fit.train_ds
    network = trainer.network if isinstance(trainer, DeviceTrainer) else trainer
    part, mean, std = train_ds.part, train_ds.mean, train_ds.std
    if isinstance(trainer, DeviceTrainer):
        host_ds = make_batches(part, mean, std, config, training=True)
    else:
        host_ds = train_ds
        trainer, train_ds = device_training(network, part, mean, std, config)
    host_order, host_pixels = _host_batches(host_ds)
    device_order, device_pixels = _device_batches(trainer, train_ds)
    plateau = [c for c in fit.callbacks if isinstance(c, PlateauScale)]
    splits = split(data, config)
    views = _ViewRecorder()
    predict(views, np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32), config, tta=True)
    val_x, val_y = fit.validation_data.batch(0, 0)
    return {
        MODEL: _structure(network),
        WEIGHTS: _digest(*network.get_weights()),
        OPTIMIZER: _optimizer(fit.fitted.optimizer),
        LR: _lr(fit.fitted.optimizer),
        LOSS: fit.fitted.loss.get_config(),
        CALLBACKS: [(type(c).__name__, _plain(c)) for c in fit.callbacks]
        + [_plateau_reach(plateau, fit.fitted.optimizer)],
        EPOCHS: fit.epochs,
        DEVICE: {
            "jit_compile": fit.fitted.jit_compile,
            "augment_on_device": isinstance(fit.fitted, DeviceTrainer),
            "policy": keras.config.dtype_policy().name,
            "deterministic": _determinism(),
        },
        HOST_ORDER: host_order,
        HOST_PIXELS: host_pixels,
        DEVICE_ORDER: device_order,
        DEVICE_PIXELS: device_pixels,
        VAL: (len(fit.validation_data), _digest(val_x, val_y)),
        TRAIN_SPLIT: (len(splits.train.labels), _digest(splits.train.images, splits.train.labels)),
        VAL_SPLIT: (len(splits.val.labels), _digest(splits.val.images, splits.val.labels)),
        TEST_SPLIT: (len(splits.test.labels), _digest(splits.test.images, splits.test.labels)),
        NORMALISATION: _digest(splits.mean, splits.std),
        TTA: views.seen,
        GUARD: [_accepted(config, w) for w in GUARD_PROBES],
    }


_BASES: dict[TrainConfig, dict] = {}  # the few base configs, observed once each


def _observed(config: TrainConfig, data, monkeypatch) -> dict:
    if config not in _BASES:
        _BASES[config] = observe(config, data, monkeypatch)
    return _BASES[config]


def _changed(a: dict, b: dict) -> set[str]:
    assert a.keys() == b.keys()
    return {k for k in a if a[k] != b[k]}


@pytest.fixture(autouse=True)
def _float32_after():
    yield
    devices.reset_state()


def test_every_field_has_an_entry():
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    missing = [f for f in fields if f not in EXPECTED]
    assert not missing, f"TrainConfig fields without an entry in EXPECTED (a value and what it changes): {missing}"
    assert not set(EXPECTED) - set(fields), "EXPECTED names fields TrainConfig no longer has"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig)])
def test_changing_a_field_changes_what_it_should_and_nothing_else(field, cifar, monkeypatch):
    if field not in EXPECTED:
        pytest.fail(f"{field}: no entry in EXPECTED (test_every_field_has_an_entry)")
    value, needs, expected = EXPECTED[field]
    base = TrainConfig().replace(**{**BASE, **needs})
    other = base.replace(**{field: value})
    assert getattr(other, field) != getattr(base, field), f"{field}: the alternative is the base value"
    changed = _changed(_observed(base, cifar, monkeypatch), observe(other, cifar, monkeypatch))
    if (field, devices.backend()) in NO_EFFECT:
        expected = set()
    assert changed == expected, (
        f"{field} = {value!r}: changed {sorted(changed)}, expected {sorted(expected)} "
        f"(missing: {sorted(expected - changed)}, unexpected: {sorted(changed - expected)})"
    )
    assert changed or (field, devices.backend()) in NO_EFFECT, f"{field} has no observable effect"


def test_the_same_config_is_observed_the_same_twice(cifar, monkeypatch):
    """Everything observed is a function of the config: the same seed gives the same weights, order and
    pixels on both paths (so a difference above is the field's doing, not chance)."""
    config = TrainConfig().replace(**BASE)
    first, second = observe(config, cifar, monkeypatch), observe(config, cifar, monkeypatch)
    assert not _changed(first, second)
    assert first[CALLBACKS][-1] == [0.5]  # one PlateauScale, and it lowers the LR the optimiser uses
