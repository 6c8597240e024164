"""Batches for `model.fit`: numpy on the host, through `keras.utils.PyDataset`, the same on every backend.

Why the host: on this network the training step, not the pipeline, sets the pace on a CPU (measured with
`hpsearch bench`: the whole epoch runs within a few per cent of the bare step on each backend), and
numpy gives the same pixels on every backend. Where the host is the bottleneck (a GPU), ondevice.py keeps
the images on the device and augments them inside the compiled step, with the same draws as here.

Every batch is a pure function of (seed, epoch, batch index): the epoch's order is a permutation drawn from
(seed, epoch) and each batch's flips and crops from (seed, epoch, index). So an epoch is the same on every
run, whatever order or thread Keras asks for the batches in, and differs from the previous epoch.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from hpsearch.core.augment import augment
from hpsearch.core.data import Split, eval_batch_size, normalize

CLASSES = 10
# numpy seeds [a, b] and [a, b, 0] alike (SeedSequence pads with zeros), so each stream leads with its own tag:
# an epoch's shuffle and its batch 0's flips and crops would otherwise draw the same random bits
SHUFFLE_STREAM, AUGMENT_STREAM = 1, 2


class Batches(keras.utils.PyDataset):
    """(normalised float32 images, one-hot labels) of a split. Images stay uint8 until a batch is built (a
    quarter of the memory). With `training`, batches are shuffled per epoch and augmented."""

    def __init__(
        self,
        part: Split,
        mean: np.ndarray,
        std: np.ndarray,
        batch_size: int,
        *,
        training: bool,
        seed: int = 0,
        flip: bool = True,
        pad: int = 2,
        workers: int = 1,
    ):
        super().__init__(workers=workers)
        self.part, self.mean, self.std, self.batch_size = part, mean, std, batch_size
        self.training, self.seed, self.flip, self.pad = training, seed, flip, pad
        self.epoch = 0
        self._order = (None, None)  # (epoch, permutation) of the epoch last asked for

    def __len__(self) -> int:
        return math.ceil(len(self.part.labels) / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The images' order in `epoch` (training: a fresh permutation each epoch)."""
        if not self.training:
            return np.arange(len(self.part.labels))
        if self._order[0] != epoch:
            rng = np.random.default_rng([SHUFFLE_STREAM, self.seed, epoch])
            self._order = (epoch, rng.permutation(len(self.part.labels)))
        return self._order[1]

    def picked(self, epoch: int, index: int) -> np.ndarray:
        """The indices of the images in batch `index` of `epoch`."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        return self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        """The generator of batch `index`'s flips and crops in `epoch` (the same on the host and the device)."""
        return np.random.default_rng([AUGMENT_STREAM, self.seed, epoch, index])

    def labels(self, picked: np.ndarray) -> np.ndarray:
        return np.eye(CLASSES, dtype=np.float32)[self.part.labels[picked]]

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.picked(epoch, index)
        images = self.part.images[picked]
        if self.training:
            images = augment(images, self.rng(epoch, index), self.flip, self.pad)
        return normalize(images, self.mean, self.std), self.labels(picked)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(self.epoch, index)

    def on_epoch_end(self) -> None:
        self.epoch += 1


def make_batches(part: Split, mean: np.ndarray, std: np.ndarray, config, training: bool) -> Batches:
    """The batches `train` feeds to `model.fit` for `config` (augmented with its flip/pad when training;
    validation in batches of one shape, eval_batch_size)."""
    size = config.batch_size if training else eval_batch_size(len(part.labels))
    return Batches(part, mean, std, size, training=training, seed=config.seed, flip=config.flip, pad=config.pad)
