"""Training augmentation and TTA views, vectorised over a batch, written once for numpy and keras.ops.

Augmentation: random horizontal flip, reflect-pad by `pad` pixels, random crop back to the image size.
The random choices (which images flip, which crop offsets) are drawn with numpy from an explicit
generator (`draw`), and applying them is deterministic (`apply`), so the same seed gives the same pixels
on every backend. `apply`, `shift` and `view` take `xp`: `numpy` on the host (the batch pipeline) or
`keras.ops` for tensors on the device; both give the same pixels (tested on every backend).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draws:
    flips: np.ndarray  # (n,) bool: mirror image i left-right
    offsets: np.ndarray  # (n, 2) int: crop window's top-left corner in the padded image, each in 0..2 pad


def draw(rng: np.random.Generator, n: int, flip: bool = True, pad: int = 2) -> Draws:
    """The random choices for a batch of `n` images: each flips with probability 1/2 (when `flip`), and
    each crop offset is uniform over the (2 pad + 1)^2 windows."""
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    return Draws(flips, rng.integers(0, 2 * pad + 1, size=(n, 2)))


def reflect_pad(images, pad: int, xp=np):
    return xp.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")


def flip_where(images, flips, xp=np):
    """Mirror left-right the images whose `flips` entry is true."""
    return xp.where(xp.reshape(flips, (-1, 1, 1, 1)), xp.flip(images, axis=2), images)


def crop(images, offsets, pad: int, xp=np):
    """Reflect-pad by `pad`, then take each image's window at its (dy, dx) `offsets` (0..2 pad)."""
    if pad == 0:
        return images
    h, w = images.shape[1], images.shape[2]  # the batch size may be unknown inside a traced step
    padded = reflect_pad(images, pad, xp)
    offsets = xp.convert_to_tensor(offsets, "int32") if xp is not np else offsets
    rows = xp.reshape(offsets[:, 0], (-1, 1)) + xp.reshape(xp.arange(h), (1, -1))  # (n, h)
    cols = xp.reshape(offsets[:, 1], (-1, 1)) + xp.reshape(xp.arange(w), (1, -1))  # (n, w)
    padded = xp.take_along_axis(padded, xp.reshape(rows, (-1, h, 1, 1)), axis=1)  # (n, h, w + 2 pad, c)
    return xp.take_along_axis(padded, xp.reshape(cols, (-1, 1, w, 1)), axis=2)  # (n, h, w, c)


def apply(images, draws: Draws, pad: int, xp=np):
    """The augmentation of one batch with its random choices fixed: flip, then pad-and-crop."""
    return crop(flip_where(images, draws.flips, xp), draws.offsets, pad, xp)


def augment(images: np.ndarray, rng: np.random.Generator, flip: bool = True, pad: int = 2) -> np.ndarray:
    """The baseline's augmentation of one host batch (numpy), its randomness drawn from `rng`."""
    return apply(images, draw(rng, len(images), flip, pad), pad)


def shift(images, dy: int, dx: int, xp=np):
    """A TTA view: reflect-pad, then crop shifted by (dy, dx) pixels (the deterministic pad-and-crop)."""
    if dy == 0 and dx == 0:
        return images
    p = max(abs(dy), abs(dx))
    h, w = images.shape[1], images.shape[2]
    return reflect_pad(images, p, xp)[:, p + dy : p + dy + h, p + dx : p + dx + w, :]


def tta_views(flip: bool, shifts) -> list[tuple[bool, int, int]]:
    """The (flip, dy, dx) views TTA averages over."""
    return [(f, dy, dx) for dy, dx in shifts for f in ((False, True) if flip else (False,))]


def view(images, flip: bool, dy: int, dx: int, xp=np):
    if flip:
        images = xp.flip(images, axis=2)
    return shift(images, dy, dx, xp)
