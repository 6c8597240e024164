"""train(config, data, on_epoch=None, out_dir=None, callbacks=()) -> RunResult: one run of the baseline
recipe under `config`.

Validation only: the test set is never touched here (see evaluate.py and hpsearch.baseline). Prints nothing:
a progress display is an `on_epoch` hook (or a Keras callback) the caller hands in.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

import keras

from hpsearch.core import device as devices
from hpsearch.core.batches import make_batches
from hpsearch.core.callbacks import AtomicCheckpoint, EpochRecorder, PlateauScale, StopOnSignal
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import Cifar10, normalize, split
from hpsearch.core.model import build_model
from hpsearch.core.ondevice import device_training
from hpsearch.core.result import RunResult
from hpsearch.core.schedules import ScheduledLR, build_schedule
from hpsearch.core.whitening import MAX_IMAGES


def build_optimizer(config: TrainConfig, schedule: ScheduledLR):
    if config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(schedule)
    # The schedule's scale (lowered by PlateauScale) must be optimiser state: a stateless backend's compiled
    # step reads only the variables handed to it and would freeze any other variable's value at the first
    # trace. Keras has no public way to track a schedule's variable, hence its private `_track_variable`.
    optimizer._track_variable(schedule.scale)
    if config.lookahead:
        from hpsearch.core.lookahead import Lookahead

        optimizer = Lookahead(optimizer, k=config.lookahead_k, alpha=config.lookahead_alpha)
    return optimizer


def compile_model(config: TrainConfig, model: keras.Model, steps_per_epoch: int, jit_compile: bool):
    schedule = build_schedule(config, steps_per_epoch)
    model.compile(
        optimizer=build_optimizer(config, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return schedule


def train(
    config: TrainConfig,
    data: Cifar10,
    on_epoch: Callable[[int, dict], None] | None = None,
    out_dir: str | Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> RunResult:
    """Train `config` on `data`. `on_epoch(epoch, row)` runs after each epoch (1-based; row: the epoch's
    RunResult.epochs entry); anything it raises propagates. With `out_dir`, the best model (val accuracy) is
    checkpointed to out_dir/best.keras. `callbacks`: further Keras callbacks, run after ours.
    Raises TrainingDiverged (core.callbacks) when the loss becomes NaN or infinite."""
    device = devices.setup(config)
    splits = split(data, config)
    val_ds = make_batches(splits.val, splits.mean, splits.std, config, training=False)
    model = build_model(config, normalize(splits.train.images[:MAX_IMAGES], splits.mean, splits.std))
    if device.augment_on_device:
        fitted, train_ds = device_training(model, splits.train, splits.mean, splits.std, config)
    else:
        fitted, train_ds = model, make_batches(splits.train, splits.mean, splits.std, config, training=True)
    steps_per_epoch = math.ceil(len(splits.train.labels) / config.batch_size)
    schedule = compile_model(config, fitted, steps_per_epoch, device.jit_compile)

    recorder = EpochRecorder(on_epoch)
    fit_callbacks = [
        StopOnSignal(),
        recorder,
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=config.early_stopping_patience, restore_best_weights=True
        ),
        PlateauScale(schedule, "val_loss", config.plateau_factor, config.plateau_patience, config.min_lr),
    ]
    model_path = None
    if out_dir is not None:
        model_path = str(Path(out_dir) / "best.keras")
        fit_callbacks.append(AtomicCheckpoint(model_path, monitor="val_accuracy", mode="max", save_best_only=True))
    fit_callbacks += list(callbacks)

    start = time.perf_counter()
    fitted.fit(
        train_ds, epochs=config.epochs, validation_data=val_ds, callbacks=fit_callbacks, verbose=0, shuffle=False
    )
    train_seconds = time.perf_counter() - start

    epochs = recorder.epochs
    steady = epochs[1:] or epochs  # the first epoch pays for compilation
    images_per_second = len(splits.train.labels) * len(steady) / sum(e["seconds"] for e in steady)
    stopped = "early_stopping" if len(epochs) < config.epochs else "completed"
    return RunResult(
        config=config,
        device=str(device),
        backend=device.backend,
        epochs=epochs,
        val_accuracy=max(e["val_accuracy"] for e in epochs),
        train_seconds=train_seconds,
        images_per_second=images_per_second,
        class_names=list(data.class_names),
        model_path=model_path,
        stopped_reason=stopped,
        model=model,
    )
