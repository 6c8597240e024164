"""Pick and describe the device: XLA everywhere (measured faster on CPU too, where Keras's "auto" turns
it off), mixed float16 on GPUs. Global TensorFlow state is set here and nowhere else."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    kind: str            # "GPU" | "CPU"
    name: str
    jit_compile: bool
    mixed_precision: bool

    def __str__(self) -> str:
        extras = ", ".join(x for x in ("XLA" if self.jit_compile else "no XLA",
                                       "mixed_float16" if self.mixed_precision else "float32") if x)
        return f"{self.kind}: {self.name} ({extras})"


def detect() -> tuple[str, str]:
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "GPU", details.get("device_name", gpus[0].name)
    return "CPU", f"{os.cpu_count()} cores"


def setup(config) -> Device:
    """Seeds, determinism and precision for one run of `config`; returns what it chose."""
    import keras
    import tensorflow as tf

    kind, name = detect()
    jit = config.jit_compile if config.jit_compile is not None else True
    mixed = config.mixed_precision if config.mixed_precision is not None else kind == "GPU"
    keras.backend.clear_session(free_memory=True)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(config.seed)
    _set_op_determinism(config.deterministic and not jit, kind, jit)
    return Device(kind, name, jit, mixed)


def _set_op_determinism(enable: bool, kind: str, jit: bool) -> None:
    """Keras turns XLA off while TF op determinism is on, so: without XLA, op determinism; with XLA,
    XLA's own determinism (CPU: always; GPU: --xla_gpu_deterministic_ops, set before the first compile)."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    if enable:
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()
    if jit and kind == "GPU" and "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
