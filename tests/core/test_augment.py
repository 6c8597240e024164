import numpy as np
import tensorflow as tf

from hpsearch.core.augment import augment, random_crop, random_flip, shift, tta_views, view


def _images(n=64, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(n, 32, 32, 3)).astype(np.float32))


def test_same_seed_same_batch_other_seed_other_batch():
    x = _images()
    a, b = augment(x, tf.constant([1, 2])), augment(x, tf.constant([1, 2]))
    c = augment(x, tf.constant([1, 3]))
    assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, c)


def test_flip_mirrors_about_half_of_the_images_exactly():
    x = _images(400)
    y = random_flip(x, tf.constant([0, 7])).numpy()
    flipped = [np.array_equal(y[i], x.numpy()[i, :, ::-1]) for i in range(400)]
    kept = [np.array_equal(y[i], x.numpy()[i]) for i in range(400)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_crop_is_a_window_of_the_reflect_padded_image_at_every_offset():
    x = _images(200)
    y = random_crop(x, tf.constant([5, 5]), pad=2).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    offsets = set()
    for i in range(len(y)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(y[i], padded[i, dy:dy + 32, dx:dx + 32])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) == 25          # all 5 x 5 offsets occur


def test_no_augmentation_is_the_identity():
    x = _images(8)
    assert np.array_equal(augment(x, tf.constant([1, 1]), flip=False, pad=0), x)


def test_tta_views_and_shift():
    assert tta_views(True, ((0, 0), (1, 1))) == [(False, 0, 0), (True, 0, 0), (False, 1, 1), (True, 1, 1)]
    x = _images(2)
    padded = np.pad(x.numpy(), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    assert np.array_equal(shift(x, 1, -1), padded[:, 2:34, 0:32])
    assert np.array_equal(view(x, True, 0, 0), x.numpy()[:, :, ::-1])
