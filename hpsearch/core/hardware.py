"""Pick and describe the device. Global TensorFlow state (precision policy, seeds, determinism) is set
here and nowhere else.

Defaults, as measured with `hpsearch bench` (README, "Speed"):
- GPU: XLA and mixed float16.
- CPU: no XLA (TensorFlow 2.21's XLA CPU backend ran this network at half the speed of the oneDNN
  kernels that run without it), and mixed bfloat16 where the CPU has bf16 instructions (avx512_bf16 or
  AMX): float32 variables, bfloat16 convolutions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Device:
    kind: str            # "GPU" | "CPU"
    name: str
    jit_compile: bool
    precision: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.name} ({'XLA' if self.jit_compile else 'no XLA'}, {self.precision})"


def detect() -> tuple[str, str]:
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "GPU", details.get("device_name", gpus[0].name)
    return "CPU", f"{os.cpu_count()} cores"


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_precision(kind: str) -> str:
    if kind == "GPU":
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def setup(config) -> Device:
    """Seeds, determinism and precision for one run of `config`; returns what it chose."""
    import keras

    kind, name = detect()
    jit = config.jit_compile if config.jit_compile is not None else kind == "GPU"
    precision = config.precision or default_precision(kind)
    keras.backend.clear_session(free_memory=True)
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(config.seed)
    set_op_determinism(config.deterministic and not jit)
    return Device(kind, name, jit, precision)


def set_op_determinism(enable: bool) -> None:
    """TF op determinism, only without XLA: Keras turns XLA off while it is on, and XLA cannot compile
    some gradients (MaxPool on GPU) under it. XLA on CPU is deterministic by itself (tested); on GPU an
    XLA run is reproducible only as far as cuDNN's autotuning allows."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    if enable:
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()
