"""Training augmentation and TTA views, vectorised over a batch (TensorFlow ops, seeded and stateless).

Augmentation: random horizontal flip, reflect-pad by `pad` pixels, random 32x32 crop. Each batch's
randomness comes from an explicit seed, so the same seed gives the same augmented epoch on every run.
"""
from __future__ import annotations

import tensorflow as tf


def random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def random_crop(images: tf.Tensor, seed: tf.Tensor, pad: int) -> tf.Tensor:
    """Reflect-pad by `pad`, then crop back to the original size at a random offset per image."""
    if pad == 0:
        return images
    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    offsets = tf.random.stateless_uniform([2, n], seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32)
    rows = offsets[0][:, None] + tf.range(h)[None, :]            # (n, h)
    cols = offsets[1][:, None] + tf.range(w)[None, :]            # (n, w)
    padded = tf.gather(padded, rows, axis=1, batch_dims=1)       # (n, h, w + 2 pad, c)
    return tf.gather(padded, cols, axis=2, batch_dims=1)         # (n, h, w, c)


def augment(images: tf.Tensor, seed: tf.Tensor, flip: bool = True, pad: int = 2) -> tf.Tensor:
    """The baseline's augmentation of one batch; `seed` is a shape-[2] integer tensor."""
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if flip:
        images = random_flip(images, flip_seed)
    return random_crop(images, crop_seed, pad)


def shift(images: tf.Tensor, dy: int, dx: int) -> tf.Tensor:
    """A TTA view: reflect-pad, then crop shifted by (dy, dx) pixels (the deterministic pad-and-crop)."""
    if dy == 0 and dx == 0:
        return images
    p = max(abs(dy), abs(dx))
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
    return padded[:, p + dy:p + dy + h, p + dx:p + dx + w, :]


def tta_views(flip: bool, shifts) -> list[tuple[bool, int, int]]:
    """The (flip, dy, dx) views TTA averages over."""
    return [(f, dy, dx) for dy, dx in shifts for f in ((False, True) if flip else (False,))]


def view(images: tf.Tensor, flip: bool, dy: int, dx: int) -> tf.Tensor:
    if flip:
        images = tf.reverse(images, axis=[2])
    return shift(images, dy, dx)
