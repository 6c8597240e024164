"""The batch pipeline's use of augmentation: every image once per epoch, flipped about half the time,
cropped at every offset, the same for the same seed, unaugmented for validation."""

import numpy as np
import pytest

from hpsearch.core.batches import Batches, make_batches
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import Split

N, PAD = 250, 2
MEAN, STD = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.2, 0.25, 0.3], np.float32)


def _split():
    """Channel 2 of image i is the constant i (flips and crops keep it), so an output names its source;
    channels 0 and 1 are noise, so the flip and the crop offset can be read back."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)
    images[..., 2] = np.arange(N, dtype=np.uint8)[:, None, None]
    return Split(images, np.arange(N) % 10)


def _pixels(batch):
    """Back from normalised floats to uint8 pixels."""
    return np.rint((batch * STD + MEAN) * 255).astype(np.int64)


def _source_flip_offset(part, out):
    i = int(out[0, 0, 2])
    image = part.images[i].astype(np.int64)
    hits = [
        (f, dy, dx)
        for f in (False, True)
        for dy in range(2 * PAD + 1)
        for dx in range(2 * PAD + 1)
        if np.array_equal(
            out,
            np.pad(image[:, ::-1] if f else image, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="reflect")[
                dy : dy + 32, dx : dx + 32
            ],
        )
    ]
    assert len(hits) == 1, f"output is not exactly one window of image {i}"
    return i, hits[0]


def _epoch(batches, epoch):
    xs, ys = zip(*(batches.batch(epoch, i) for i in range(len(batches))))
    return np.concatenate(xs), np.concatenate(ys)


def test_training_batches_are_every_image_once_flipped_about_half_and_cropped_at_every_offset():
    part = _split()
    batches = Batches(part, MEAN, STD, 32, training=True, seed=5, flip=True, pad=PAD)
    assert len(batches) == 8  # 250 = 7 x 32 + 26: the last batch is partial
    x, y = _epoch(batches, 0)
    assert x.dtype == np.float32 and x.shape == (N, 32, 32, 3) and y.shape == (N, 10)
    seen = [_source_flip_offset(part, out) for out in _pixels(x)]
    sources = [i for i, _ in seen]
    assert sorted(sources) == list(range(N)) and sources != list(range(N))  # a shuffled permutation
    assert np.array_equal(y.argmax(1), part.labels[sources])  # labels follow their images
    flips = sum(f for _, (f, _, _) in seen)
    assert 90 < flips < 160
    assert {(dy, dx) for _, (_, dy, dx) in seen} == {(dy, dx) for dy in range(5) for dx in range(5)}


def test_epochs_differ_and_the_same_seed_repeats_them():
    part = _split()
    a = Batches(part, MEAN, STD, 50, training=True, seed=5)
    b = Batches(part, MEAN, STD, 50, training=True, seed=5)
    c = Batches(part, MEAN, STD, 50, training=True, seed=6)
    first = a[0]
    a.on_epoch_end()  # what Keras calls after each epoch
    assert a.epoch == 1 and not np.array_equal(a[0][0], first[0])
    assert np.array_equal(b[0][0], first[0]) and np.array_equal(b.batch(1, 3)[0], a[3][0])
    assert not np.array_equal(c[0][0], first[0])
    sources = [_pixels(_epoch(a, epoch)[0])[:, 0, 0, 2].tolist() for epoch in (0, 1)]  # channel 2 names the image
    assert sorted(sources[1]) == list(range(N)) and sources[1] != sources[0]  # reshuffled, not re-augmented only


def test_validation_batches_are_in_order_and_unaugmented():
    part = _split()
    batches = Batches(part, MEAN, STD, 64, training=False, seed=5)
    x, y = _epoch(batches, 0)
    expected = (part.images.astype(np.float32) / 255.0 - MEAN) / STD
    assert np.array_equal(x, expected) and np.array_equal(y.argmax(1), part.labels)
    batches.on_epoch_end()
    assert np.array_equal(batches[1][0], x[64:128])


def test_make_batches_takes_the_configs_augmentation():
    part = _split()
    off = make_batches(part, MEAN, STD, TrainConfig(batch_size=N, flip=False, pad=0), training=True)
    x, _ = off[0]
    order = _pixels(x)[:, 0, 0, 2]
    assert np.array_equal(_pixels(x), part.images[order].astype(np.int64))  # shuffled, not flipped or cropped
    flip_only = make_batches(part, MEAN, STD, TrainConfig(batch_size=N, flip=True, pad=0), training=True)
    x = _pixels(flip_only[0][0])
    flipped = [np.array_equal(out, part.images[out[0, 0, 2]][:, ::-1]) for out in x]
    assert 90 < sum(flipped) < 160


def test_an_index_past_the_end_raises_index_error():
    with pytest.raises(IndexError):
        Batches(_split(), MEAN, STD, 100, training=False)[3]


def test_the_training_pipeline_on_real_splits_is_deterministic_and_reshuffles_each_epoch(cifar):
    """(Moved from test_data.py with the pipeline.)"""
    from hpsearch.core.data import normalize, split

    config = TrainConfig(val_size=100, batch_size=50, seed=3)
    s = split(cifar, config)
    first = make_batches(s.train, s.mean, s.std, config, training=True)
    again = make_batches(s.train, s.mean, s.std, config, training=True)
    assert all(np.array_equal(first[i][0], again[i][0]) for i in range(len(first)))
    epoch1 = first[0][0]
    first.on_epoch_end()
    assert not np.array_equal(epoch1, first[0][0])
    x, y = make_batches(s.val, s.mean, s.std, config, training=False)[0]
    assert x.shape == (100, 32, 32, 3) and y.shape == (100, 10)  # the 100 val images in one batch of one shape
    assert np.allclose(x, normalize(s.val.images, s.mean, s.std), atol=1e-5)


@pytest.mark.parametrize(
    "n, size", [(5000, 500), (2000, 500), (10000, 500), (100, 100), (250, 250), (600, 300), (1009, 500), (7, 7)]
)
def test_evaluation_batches_have_one_shape_where_a_divisor_allows(n, size):
    from hpsearch.core.data import eval_batch_size

    assert eval_batch_size(n) == size
    part = Split(np.zeros((n, 32, 32, 3), np.uint8), np.arange(n) % 10)
    batches = make_batches(part, MEAN, STD, TrainConfig(), training=False)
    assert batches.batch_size == size and sum(len(batches.picked(0, i)) for i in range(len(batches))) == n


def test_an_epochs_shuffle_and_its_batches_draws_are_separate_random_streams(monkeypatch):
    """numpy seeds [a, b] and [a, b, 0] alike, so the shuffle of epoch e and the flips and crops of its batch 0
    would draw the same random bits unless each stream is tagged: every generator made is a distinct stream."""
    import hpsearch.core.batches as module

    part, made = _split(), []
    real = np.random.default_rng

    def recording(seed=None):
        made.append(np.random.SeedSequence(seed).generate_state(4).tolist())
        return real(seed)

    monkeypatch.setattr(module.np.random, "default_rng", recording)
    batches = Batches(part, MEAN, STD, 50, training=True, seed=5)
    for epoch in (0, 1):
        batches.order(epoch)
        for index in range(3):
            batches.rng(epoch, index)
    assert len(made) == 8 and len({tuple(s) for s in made}) == 8
