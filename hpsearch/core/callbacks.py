"""The small callbacks of a training run (Keras's own are used for checkpointing and early stopping)."""

from __future__ import annotations

import math
import time
from typing import Callable

import keras

from hpsearch.files import replacing
from hpsearch.interrupts import stop_if_signalled

ACCURACY_DECIMALS = 6


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says at which epoch and the learning rate then."""


def current_lr(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class StopOnSignal(keras.callbacks.Callback):
    """Ends the run at the next step once Ctrl-C or SIGTERM came (hpsearch.interrupts): the KeyboardInterrupt
    the signal raised may have been swallowed (a gc callback as training starts), and the run would train on."""

    def on_train_begin(self, logs=None):
        stop_if_signalled()

    def on_epoch_begin(self, epoch, logs=None):
        stop_if_signalled()

    def on_train_batch_begin(self, batch, logs=None):
        stop_if_signalled()

    def on_test_batch_begin(self, batch, logs=None):
        stop_if_signalled()


class EpochRecorder(keras.callbacks.Callback):
    """Times each epoch, records its metrics and LR, stops on a diverged loss, and hands the epoch to
    `on_epoch` (the search layer's hook; whatever it raises ends the run)."""

    def __init__(self, on_epoch: Callable[[int, dict], None] | None = None):
        super().__init__()
        self.on_epoch, self.epochs, self._start, self._lr = on_epoch, [], 0.0, math.nan

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = current_lr(self.model.optimizer)  # the LR of the epoch's first step
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {
            "epoch": epoch + 1,
            # Keras averages accuracies in float32 (0.15 arrives as 0.15000000596...): 6 decimals is what it holds
            **{
                k: round(float(logs.get(k, math.nan)), ACCURACY_DECIMALS)
                if "accuracy" in k
                else float(logs.get(k, math.nan))
                for k in ("loss", "accuracy", "val_loss", "val_accuracy")
            },
            "lr": self._lr,
            "seconds": time.perf_counter() - self._start,
        }
        self.epochs.append(row)
        if not math.isfinite(row["loss"]):
            raise TrainingDiverged(f"loss became {row['loss']} in epoch {row['epoch']} (lr {row['lr']:.3g})")
        if self.on_epoch is not None:
            self.on_epoch(row["epoch"], dict(row))


class PlateauScale(keras.callbacks.Callback):
    """ReduceLROnPlateau for a scheduled LR: multiplies the schedule's `scale` by `factor` after `patience`
    epochs without a better `monitor`; a reduction never takes the LR of that moment below `min_lr` (the
    schedule's own decay afterwards can). (Keras's ReduceLROnPlateau cannot change a schedule, and an
    epoch-wise LR scheduler would undo its reductions.)"""

    def __init__(self, schedule, monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5):
        super().__init__()
        self.schedule, self.monitor, self.factor, self.patience, self.min_lr = (
            schedule,
            monitor,
            factor,
            patience,
            min_lr,
        )
        self.best, self.wait = math.inf, 0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if value < self.best:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            lr = current_lr(self.model.optimizer)
            if lr > self.min_lr:
                scale = float(self.schedule.scale.numpy())
                self.schedule.scale.assign(scale * max(self.factor, self.min_lr / lr))
            self.wait = 0


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ModelCheckpoint (it decides when to save), saving whole or not at all: model.save writes to a
    path itself, so each save goes to a temporary .keras file beside `filepath`, renamed over it once written
    (hpsearch.files.replacing). A full disk mid-save leaves the previous best model whole."""

    def __init__(self, filepath: str, **kwargs):
        super().__init__(filepath, **kwargs)
        self.final = filepath

    def on_epoch_end(self, epoch, logs=None):
        with replacing(self.final) as temporary:
            self.filepath = str(temporary).replace("{", "{{").replace("}", "}}")  # Keras formats it with the logs
            super().on_epoch_end(epoch, logs)
