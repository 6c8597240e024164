"""APTx (Kumar 2022): (1 + tanh(x)) * x / 2 — Mish/SiLU-like at a fraction of the cost.

Registered so that a saved model loads with `keras.models.load_model(path, safe_mode=True)`."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hpsearch")
def aptx(x):
    return (1.0 + ops.tanh(x)) * x * 0.5
