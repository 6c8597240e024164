"""Training data kept on the device and augmented inside the compiled step (as airbench does).

Where the host sets the pace (a GPU: numpy augmentation and the copy of float32 batches cost more than the
step), the whole uint8 training split becomes one device tensor, held by `DeviceAugment`, and each step
sends only the batch's indices and random draws (a few hundred bytes): the step gathers, normalises,
flips and crops with keras.ops, on any backend. The indices and draws are those of the host pipeline
(batches.Batches: the same permutation and generators), so both paths give the same pixels for a seed.

`DeviceTrainer` wraps the network for `fit`: a training batch is a dict of indices and draws, a validation
batch plain images. Its weights and saved file are the network's alone (the data is no weight to keep).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from hpsearch.core.augment import Draws, apply, draw
from hpsearch.core.batches import Batches


class DrawBatches(Batches):
    """The host pipeline's batches as indices and draws: ({"index", "flips", "offsets"}, one-hot labels)."""

    def batch(self, epoch: int, index: int):
        picked = self.picked(epoch, index)
        draws = draw(self.rng(epoch, index), len(picked), self.flip, self.pad)
        inputs = {"index": picked.astype(np.int32), "flips": draws.flips, "offsets": draws.offsets.astype(np.int32)}
        return inputs, self.labels(picked)


class DeviceAugment(keras.layers.Layer):
    """uint8 images held on the device -> the normalised, flipped and cropped batch of the drawn indices."""

    def __init__(self, images: np.ndarray, mean: np.ndarray, std: np.ndarray, pad: int, **kwargs):
        super().__init__(dtype="float32", **kwargs)  # float32 out, as the host batches (mixed precision casts later)
        # a variable, not a constant: a compiled step takes variables as arguments, while a constant would
        # be baked into the program (JAX: a 138 MB constant in every compilation)
        self.images = keras.Variable(images, dtype="uint8", trainable=False, name="train_images")
        self.mean, self.std, self.pad = np.asarray(mean, np.float32), np.asarray(std, np.float32), pad

    def build(self, input_shape=None):
        # built explicitly: the images variable exists from __init__ and nothing depends on the input shape.
        # Without a build, Keras traces call() with placeholder indices to build it (out of range on PyTorch)
        # and warns that the layer "has unbuilt state".
        self.built = True

    def call(self, inputs):
        images = ops.cast(ops.take(self.images, inputs["index"], axis=0), "float32")
        images = (images / 255.0 - self.mean) / self.std
        return apply(images, Draws(inputs["flips"], inputs["offsets"]), self.pad, ops)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs["index"].shape[0], *self.images.shape[1:]), "float32")


class DeviceTrainer(keras.Model):
    """The network behind a DeviceAugment for `fit`: dict batches are augmented on the device, image
    batches (validation) go straight to the network."""

    def __init__(self, network: keras.Model, augment: DeviceAugment):
        super().__init__(name="device_trainer")
        self.network, self.augment = network, augment

    def build(self, input_shape=None):
        # the network is a built functional model and the augment layer builds itself (see DeviceAugment.build)
        self.augment.build()
        self.built = True

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            inputs = self.augment(inputs)
        return self.network(inputs, training=training)

    # EarlyStopping (restore_best_weights) and ModelCheckpoint act through these: they should copy and save
    # the network, not the resident training images.
    def get_weights(self):
        return self.network.get_weights()

    def set_weights(self, weights):
        self.network.set_weights(weights)

    def save(self, filepath, *args, **kwargs):
        return self.network.save(filepath, *args, **kwargs)


def device_training(network: keras.Model, part, mean, std, config) -> tuple[DeviceTrainer, DrawBatches]:
    """What `train` fits when augmenting on the device: the wrapped network and its batches of draws."""
    batches = DrawBatches(
        part, mean, std, config.batch_size, training=True, seed=config.seed, flip=config.flip, pad=config.pad
    )
    trainer = DeviceTrainer(network, DeviceAugment(part.images, mean, std, config.pad))
    trainer.build()
    return trainer, batches
