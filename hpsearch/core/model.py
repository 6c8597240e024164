"""build_model(config, train_images): the baseline network, layer names as in the original summary.

whitening_conv (p x p, 2*p*p*3 filters, valid) -> APTx, then three stages of
  conv -> maxpool 2 -> BN -> APTx -> conv -> BN -> APTx        (3x3, same padding, no bias)
then maxpool 3 -> flatten -> dense 10 softmax. TrainConfig() gives 4,611,394 parameters.

Every layer is named explicitly, as in the original's summary table (`aptx_after_whitening`, then
`conv2d`, `max_pooling2d`, `batch_normalization`, `activation_1` ... `activation_6`, with Keras's
suffixes), so the summary reads the same on every backend and however many models the process built.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from hpsearch.core.activations import aptx
from hpsearch.core.whitening import whitening_weights


def _suffix(i: int) -> str:
    """Keras's naming: the first layer of a kind is `conv2d`, the next `conv2d_1`, ..."""
    return f"_{i}" if i else ""


def conv_bn(x, filters: int, config, i: int, pool: int | None):
    """The i-th conv block (0-based); `pool` is the index of its max-pool layer, None without one."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv2d{_suffix(i)}")(x)
    if pool is not None:
        x = layers.MaxPooling2D(2, name=f"max_pooling2d{_suffix(pool)}")(x)
    x = layers.BatchNormalization(
        momentum=config.bn_momentum, epsilon=config.bn_epsilon, name=f"batch_normalization{_suffix(i)}"
    )(x)
    return layers.Activation(aptx, name=f"activation_{i + 1}")(x)


def build_model(config, train_images: np.ndarray) -> keras.Model:
    """`train_images`: normalised float32 training images (n, 32, 32, 3) for the whitening initialiser."""
    p = config.whitening_patch_size
    kernel = whitening_weights(train_images, p, config.whitening_eps)
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(
        config.whitening_filters,
        p,
        padding="valid",
        name="whitening_conv",
        kernel_initializer=keras.initializers.Constant(kernel),
        trainable=config.whitening_trainable,
    )(inputs)
    x = layers.Activation(aptx, name="aptx_after_whitening")(x)
    for stage, width in enumerate(config.widths):
        x = conv_bn(x, width, config, 2 * stage, pool=stage)
        x = conv_bn(x, width, config, 2 * stage + 1, pool=None)
    x = layers.MaxPooling2D(3, name=f"max_pooling2d{_suffix(len(config.widths))}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", dtype="float32", name="dense")(x)  # float32 under mixed precision
    return keras.Model(inputs, outputs, name="hpsearch_baseline")


def load_model(path, compile: bool = False) -> keras.Model:
    """A saved hpsearch model (e.g. a run's best.keras), in Keras's safe mode: registers hpsearch's custom
    objects (APTx, the LR schedule, Lookahead) first, so nothing but registered classes is deserialised.
    For evaluation, so uncompiled by default: train.py adds the LR scale to the optimiser's state, which a
    recompiled optimiser lacks (Keras would skip restoring its state, with a warning)."""
    from hpsearch.core import lookahead, schedules  # noqa: F401  (registration on import)

    return keras.models.load_model(path, safe_mode=True, compile=compile)


def save_for_inference(checkpoint, path) -> None:
    """Re-save a training checkpoint (best.keras: the weights plus the optimiser's state, about 3x their size
    with Adam's two moments) with the weights alone: what a kept or exported model needs."""
    load_model(checkpoint).save(path)
