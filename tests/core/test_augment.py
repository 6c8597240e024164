"""Augmentation and TTA views: the pixels, on numpy and on this process's backend through keras.ops."""

import keras
import numpy as np
import pytest

from hpsearch.core.augment import Draws, apply, augment, crop, draw, flip_where, shift, tta_views, view


def _images(n=64, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 32, 32, 3)).astype(np.float32)


def _by_hand(images, flips, offsets, pad):
    """Flip, reflect-pad, crop with plain slicing: the reference the vectorised code must match."""
    out = []
    for image, f, (dy, dx) in zip(images, flips, offsets):
        image = image[:, ::-1] if f else image
        padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        out.append(padded[dy : dy + 32, dx : dx + 32])
    return np.stack(out)


def test_same_seed_same_batch_other_seed_other_batch():
    x = _images()
    a, b = augment(x, np.random.default_rng(1)), augment(x, np.random.default_rng(1))
    c = augment(x, np.random.default_rng(2))
    assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, c)


def test_apply_is_flip_then_pad_and_crop_at_the_drawn_offsets():
    x = _images(50)
    draws = draw(np.random.default_rng(3), 50, flip=True, pad=3)
    assert np.array_equal(apply(x, draws, pad=3), _by_hand(x, draws.flips, draws.offsets, 3))


def test_draws_flip_about_half_and_cover_every_offset():
    draws = draw(np.random.default_rng(0), 2000, flip=True, pad=2)
    assert 900 < draws.flips.sum() < 1100
    assert {tuple(o) for o in draws.offsets} == {(dy, dx) for dy in range(5) for dx in range(5)}
    assert not draw(np.random.default_rng(0), 100, flip=False, pad=2).flips.any()


def test_no_augmentation_is_the_identity():
    x = _images(8)
    assert np.array_equal(augment(x, np.random.default_rng(1), flip=False, pad=0), x)


def test_tta_views_and_shift():
    assert tta_views(True, ((0, 0), (1, 1))) == [(False, 0, 0), (True, 0, 0), (False, 1, 1), (True, 1, 1)]
    assert tta_views(False, ((0, 0), (1, -1))) == [(False, 0, 0), (False, 1, -1)]
    x = _images(2)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    assert np.array_equal(shift(x, 1, -1), padded[:, 2:34, 0:32])
    assert np.array_equal(view(x, True, 0, 0), x[:, :, ::-1])
    mirrored = np.pad(x[:, :, ::-1], ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    assert np.array_equal(view(x, True, -1, -1), mirrored[:, 0:32, 0:32])


@pytest.mark.parametrize("pad", [1, 2, 4])
def test_keras_ops_give_the_same_pixels_as_numpy(pad):
    """The device-side form (xp=keras.ops) of every function, on this process's backend."""
    x = _images(20)
    draws = draw(np.random.default_rng(pad), 20, True, pad)
    tensor = keras.ops.convert_to_tensor(x)
    assert np.array_equal(keras.ops.convert_to_numpy(apply(tensor, draws, pad, xp=keras.ops)), apply(x, draws, pad))
    assert np.array_equal(
        keras.ops.convert_to_numpy(flip_where(tensor, draws.flips, xp=keras.ops)), flip_where(x, draws.flips)
    )
    assert np.array_equal(
        keras.ops.convert_to_numpy(crop(tensor, draws.offsets, pad, xp=keras.ops)), crop(x, draws.offsets, pad)
    )
    for flip, dy, dx in tta_views(True, ((0, 0), (1, 1), (-1, -1), (2, -1))):
        assert np.array_equal(
            keras.ops.convert_to_numpy(view(tensor, flip, dy, dx, xp=keras.ops)), view(x, flip, dy, dx)
        )


def test_draws_hold_what_apply_needs():
    draws = Draws(np.array([True, False]), np.array([[0, 4], [2, 2]]))
    x = _images(2)
    assert np.array_equal(apply(x, draws, 2), _by_hand(x, draws.flips, draws.offsets, 2))
