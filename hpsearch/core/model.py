"""build_model(config, train_images): the baseline network, layer names as in the original summary.

whitening_conv (p x p, 2*p*p*3 filters, valid) -> APTx, then three stages of
  conv -> maxpool 2 -> BN -> APTx -> conv -> BN -> APTx        (3x3, same padding, no bias)
then maxpool 3 -> flatten -> dense 10 softmax. TrainConfig() gives 4,611,394 parameters.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from hpsearch.core.activations import aptx
from hpsearch.core.whitening import whitening_weights


def conv_bn(x, filters: int, config, pool: bool):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    if pool:
        x = layers.MaxPooling2D(2)(x)
    x = layers.BatchNormalization(momentum=config.bn_momentum, epsilon=config.bn_epsilon)(x)
    return layers.Activation(aptx)(x)


def build_model(config, train_images: np.ndarray) -> keras.Model:
    """`train_images`: normalised float32 training images (n, 32, 32, 3) for the whitening initialiser."""
    p = config.whitening_patch_size
    kernel = whitening_weights(train_images, p, config.whitening_eps)
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(config.whitening_filters, p, padding="valid", name="whitening_conv",
                      kernel_initializer=keras.initializers.Constant(kernel),
                      trainable=config.whitening_trainable)(inputs)
    x = layers.Activation(aptx)(x)
    for width in config.widths:
        x = conv_bn(x, width, config, pool=True)
        x = conv_bn(x, width, config, pool=False)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax", dtype="float32", name="dense")(x)  # float32 under mixed precision
    return keras.Model(inputs, outputs, name="hpsearch_baseline")


def load_model(path) -> keras.Model:
    """A saved hpsearch model (e.g. a run's best.keras), in Keras's safe mode: registers hpsearch's custom
    objects (APTx, the LR schedule, Lookahead) first, so nothing but registered classes is deserialised."""
    from hpsearch.core import lookahead, schedules  # noqa: F401  (registration on import)

    return keras.models.load_model(path, safe_mode=True)
