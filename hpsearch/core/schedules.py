"""Learning-rate schedules, evaluated per optimiser step inside the compiled train step.

`step` is the original's: 1.5e-3 -> 1.2e-3 -> 5e-4 at fixed fractions of training. `triangular` rises
linearly to `peak_lr` over the warm-up and falls linearly back; `one_cycle` warms up linearly, then
anneals with a cosine. Every schedule is multiplied by a `scale` variable that ReduceLROnPlateau
(`PlateauScale` in train.py) lowers, so plateau reductions compose with any schedule instead of being
overwritten by it at the next epoch.
"""

from __future__ import annotations

import math

import keras
from keras import ops

KINDS = ("step", "triangular", "one_cycle")


@keras.saving.register_keras_serializable(package="hpsearch")
class ScheduledLR(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(
        self,
        kind: str,
        total_steps: int,
        values=(),
        boundaries=(),
        peak_lr: float = 0.0,
        warmup_fraction: float = 0.25,
        final_lr_fraction: float = 0.02,
        scale: float = 1.0,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown lr_schedule {kind!r}; choose one of {KINDS}")
        self.kind, self.total_steps = kind, max(int(total_steps), 1)
        self.values, self.boundaries = tuple(values), tuple(boundaries)
        self.peak_lr, self.warmup_fraction, self.final_lr_fraction = peak_lr, warmup_fraction, final_lr_fraction
        self.scale = keras.Variable(scale, dtype="float32", trainable=False, name="lr_scale")

    def base(self, step):
        step = ops.cast(step, "float32")
        t = step / self.total_steps  # progress in [0, 1]
        if self.kind == "step":
            lr = ops.convert_to_tensor(self.values[0], "float32")
            for boundary, value in zip(self.boundaries, self.values[1:]):
                lr = ops.where(t >= boundary, value, lr)
            return lr
        low, warm = self.peak_lr * self.final_lr_fraction, self.warmup_fraction
        rising = low + (self.peak_lr - low) * t / warm
        falling_t = ops.clip((t - warm) / (1.0 - warm), 0.0, 1.0)
        if self.kind == "triangular":
            falling = self.peak_lr - (self.peak_lr - low) * falling_t
        else:  # one_cycle
            falling = low + (self.peak_lr - low) * 0.5 * (1.0 + ops.cos(math.pi * falling_t))
        return ops.where(t < warm, rising, falling)

    def __call__(self, step):
        return self.base(step) * self.scale

    def get_config(self):
        return {
            "kind": self.kind,
            "total_steps": self.total_steps,
            "values": list(self.values),
            "boundaries": list(self.boundaries),
            "peak_lr": self.peak_lr,
            "warmup_fraction": self.warmup_fraction,
            "final_lr_fraction": self.final_lr_fraction,
            "scale": float(self.scale.numpy()),
        }


def build_schedule(config, steps_per_epoch: int) -> ScheduledLR:
    return ScheduledLR(
        config.lr_schedule,
        steps_per_epoch * config.epochs,
        config.lr_values,
        config.lr_boundaries,
        config.peak_lr,
        config.warmup_fraction,
        config.final_lr_fraction,
    )
