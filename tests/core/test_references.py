"""References, not self-checks: augmentation on both paths, TTA views and the LR schedules against plain
numpy and closed forms written here, and the stratified split as properties (Hypothesis)."""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpsearch.core.augment import view
from hpsearch.core.batches import make_batches
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import Cifar10, Split, split
from hpsearch.core.ondevice import device_training
from hpsearch.core.schedules import build_schedule

N = 250
MEAN, STD = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.2, 0.25, 0.3], np.float32)


def _part() -> Split:
    """Noise images whose channel 2 is the constant i (flips and crops keep it): an output names its source."""
    images = np.random.default_rng(0).integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)
    images[..., 2] = np.arange(N, dtype=np.uint8)[:, None, None]
    return Split(images, np.arange(N) % 10)


def _windows(image: np.ndarray, pad: int, mirrored: bool) -> dict[tuple, np.ndarray]:
    """Every crop the augmentation may make of `image`, by plain numpy: (mirrored?, dy, dx) -> 32x32 window of
    the reflect-padded (and, if mirrored, left-right reversed) image."""
    source = image[:, ::-1] if mirrored else image
    padded = np.pad(source, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    return {
        (mirrored, dy, dx): padded[dy : dy + 32, dx : dx + 32] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
    }


def _host_epoch(part, config):
    batches = make_batches(part, MEAN, STD, config, training=True)
    return np.concatenate([batches.batch(0, i)[0] for i in range(len(batches))])


def _device_epoch(part, config):
    network = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    trainer, batches = device_training(network, part, MEAN, STD, config)
    return np.concatenate(
        [keras.ops.convert_to_numpy(trainer.augment(batches.batch(0, i)[0])) for i in range(len(batches))]
    )


def _kinds(path, part: Split, config: TrainConfig) -> list[tuple[int, bool, int, int]]:
    """(source image, mirrored?, dy, dx) of each output of an epoch, read back against the numpy windows; fails
    unless each output is exactly one window that the config's (flip, pad) allow."""
    pixels = np.rint((path(part, config) * STD + MEAN) * 255).astype(np.int64)
    seen = []
    for out in pixels:
        source = int(out[0, 0, 2])
        image = part.images[source].astype(np.int64)
        allowed = {**_windows(image, config.pad, False), **(_windows(image, config.pad, True) if config.flip else {})}
        hits = [kind for kind, window in allowed.items() if np.array_equal(out, window)]
        assert len(hits) == 1, f"image {source}: not one window that flip={config.flip}, pad={config.pad} allow"
        seen.append((source, *hits[0]))
    return seen


@pytest.mark.parametrize("path", [_host_epoch, _device_epoch], ids=["host", "device"])
@pytest.mark.parametrize("flip, pad", [(True, 2), (False, 2), (True, 1), (False, 0), (True, 0)])
def test_each_training_image_is_one_allowed_window_and_every_allowed_kind_occurs(path, flip, pad):
    """Host pipeline and on-device path alike: every image of an epoch once, each output exactly one window
    of its source that (flip, pad) allow (never a mirrored one without flip, never shifted with pad 0), about
    half mirrored with flip, every offset of the padded image used."""
    seen = _kinds(path, _part(), TrainConfig(flip=flip, pad=pad, batch_size=32, seed=11))
    assert sorted(s for s, *_ in seen) == list(range(N))
    mirrored = sum(m for _, m, _, _ in seen)
    assert (0.35 * N < mirrored < 0.65 * N) if flip else mirrored == 0
    assert {(dy, dx) for *_, dy, dx in seen} == {(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)}


def test_the_seed_reaches_the_shuffle_and_the_draws_on_both_paths():
    """Another seed: another order AND other flips and crops for the same images (not only the same draws
    in another order), on the host and on the device; the same seed: the same epoch on both paths."""
    part = _part()
    epochs = {
        (path.__name__, seed): _kinds(path, part, TrainConfig(batch_size=32, seed=seed))
        for path in (_host_epoch, _device_epoch)
        for seed in (11, 12)
    }
    assert (
        epochs[("_host_epoch", 11)]
        == epochs[("_device_epoch", 11)]
        == _kinds(_host_epoch, part, TrainConfig(batch_size=32, seed=11))
    )
    for path in ("_host_epoch", "_device_epoch"):
        a, b = epochs[(path, 11)], epochs[(path, 12)]
        assert [s for s, *_ in a] != [s for s, *_ in b], f"{path}: the same order for two seeds"
        draws_a, draws_b = {s: k for s, *k in a}, {s: k for s, *k in b}
        same = sum(draws_a[s] == draws_b[s] for s in range(N))
        assert same < N / 4, f"{path}: {same} of {N} images drew the same flip and crop under two seeds"


def _shifted_by_hand(images: np.ndarray, flip: bool, dy: int, dx: int) -> np.ndarray:
    """A TTA view with numpy alone: mirror, then the 32x32 window moved by (dy, dx) in the image reflected
    about its borders (np.pad by the largest shift allowed, 4: a reflection does not depend on the pad)."""
    x = images[:, :, ::-1] if flip else images
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    return padded[:, 4 + dy : 36 + dy, 4 + dx : 36 + dx]


@pytest.mark.parametrize("flip, dy, dx", [(False, 0, 0), (True, 0, 0), (False, 2, -1), (True, -3, 4), (False, 0, -4)])
def test_tta_views_are_numpys_shifts_and_flips_on_numpy_and_on_the_backend(flip, dy, dx):
    images = np.random.default_rng(2).normal(size=(3, 32, 32, 3)).astype(np.float32)
    expected = _shifted_by_hand(images, flip, dy, dx)
    np.testing.assert_array_equal(view(images, flip, dy, dx), expected)
    on_backend = view(keras.ops.convert_to_tensor(images), flip, dy, dx, keras.ops)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(on_backend), expected, atol=1e-6)


# --- LR schedules against their closed forms ----------------------------------------------------------------


def _closed_form(c: TrainConfig, step: int, total: int) -> float:
    t = step / total
    if c.lr_schedule == "step":
        return c.lr_values[sum(t >= b for b in c.lr_boundaries)]
    peak, low, warm = c.peak_lr, c.peak_lr * c.final_lr_fraction, c.warmup_fraction
    if t < warm:
        return low + (peak - low) * t / warm
    fall = min((t - warm) / (1 - warm), 1.0)
    if c.lr_schedule == "triangular":
        return peak - (peak - low) * fall
    return low + (peak - low) * (1 + math.cos(math.pi * fall)) / 2


fractions = st.floats(0.05, 0.95).map(lambda x: round(x, 3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["step", "triangular", "one_cycle"]),
    steps_per_epoch=st.integers(1, 40),
    epochs=st.integers(1, 12),
    boundaries=st.lists(fractions, min_size=0, max_size=3, unique=True).map(sorted),
    values=st.lists(st.floats(1e-5, 1e-1), min_size=4, max_size=4),
    peak=st.floats(1e-4, 1e-1),
    warm=fractions,
    final=st.floats(0.001, 1.0),
    picks=st.lists(st.floats(0, 1.2), min_size=6, max_size=6),
)
def test_every_schedule_is_its_closed_form(kind, steps_per_epoch, epochs, boundaries, values, peak, warm, final, picks):
    config = TrainConfig(
        lr_schedule=kind,
        epochs=epochs,
        lr_values=tuple(values[: len(boundaries) + 1]),
        lr_boundaries=tuple(boundaries),
        peak_lr=peak,
        warmup_fraction=warm,
        final_lr_fraction=final,
    )
    total = steps_per_epoch * epochs
    schedule = build_schedule(config, steps_per_epoch)
    steps = sorted({0, total - 1, *(int(p * total) for p in picks)})
    for step in steps:
        edges = [*boundaries, warm]  # a float32 step / total this close to an edge may round to either side
        if any(abs(step / total - e) < 1e-6 for e in edges):
            continue
        assert float(schedule(step)) == pytest.approx(_closed_form(config, step, total), rel=2e-5), step


# --- the stratified split, as properties -----------------------------------------------------------------------


def _data(train_counts: list[int], test_counts: list[int]) -> Cifar10:
    """Images whose first pixel holds their index (two bytes), labels with the given counts per class, shuffled."""

    def part(counts, seed):
        labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(10), counts))
        images = np.random.default_rng(seed + 1).integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(len(labels)) // 256, np.arange(len(labels)) % 256
        return images, labels

    (train_x, train_y), (test_x, test_y) = part(train_counts, 1), part(test_counts, 5)
    return Cifar10(train_x, train_y, test_x, test_y, tuple(f"c{i}" for i in range(10)), "synthetic")


def _indices(s: Split) -> np.ndarray:
    return s.images[:, 0, 0, 0].astype(np.int64) * 256 + s.images[:, 0, 0, 1]


def _stratified(picked_labels: np.ndarray, pool_labels: np.ndarray, size: int) -> None:
    """`size` picked, each class within one of its exact share of the pool (largest-remainder rounding)."""
    assert len(picked_labels) == size
    for c in range(10):
        exact = size * np.sum(pool_labels == c) / len(pool_labels)
        assert math.floor(exact) <= np.sum(picked_labels == c) <= math.ceil(exact), (c, exact)


def _ways(picked_labels: np.ndarray, pool_labels: np.ndarray) -> int:
    """How many stratified choices of these class counts the pool offers."""
    return math.prod(math.comb(int(np.sum(pool_labels == c)), int(np.sum(picked_labels == c))) for c in range(10))


@settings(max_examples=40, deadline=None)
@given(
    train_counts=st.lists(st.integers(3, 40), min_size=10, max_size=10),
    test_counts=st.lists(st.integers(2, 20), min_size=10, max_size=10),
    val_share=st.floats(0.05, 0.6),
    train_share=st.one_of(st.none(), st.floats(0.1, 1.0)),
    test_share=st.one_of(st.none(), st.floats(0.1, 1.0)),
    split_seed=st.integers(0, 2**32 - 2),
)
def test_the_split_is_stratified_disjoint_and_a_function_of_split_seed(
    train_counts, test_counts, val_share, train_share, test_share, split_seed
):
    data = _data(train_counts, test_counts)
    n, n_test = len(data.train_labels), len(data.test_labels)
    val_size = max(10, int(val_share * n))
    assume(val_size <= n - 10)
    train_size = None if train_share is None else max(10, int(train_share * (n - val_size)))
    test_size = None if test_share is None else max(10, int(test_share * n_test))
    config = TrainConfig(val_size=val_size, train_size=train_size, test_size=test_size, split_seed=split_seed)
    s = split(data, config)
    train, val, test = _indices(s.train), _indices(s.val), _indices(s.test)

    assert len(set(val)) == val_size and not set(train) & set(val)
    assert np.array_equal(data.train_labels[val], s.val.labels) and np.array_equal(
        data.train_labels[train], s.train.labels
    )
    _stratified(s.val.labels, data.train_labels, val_size)
    pool = np.setdiff1d(np.arange(n), val)
    if train_size is None:
        assert np.array_equal(np.sort(train), pool)
    else:
        _stratified(s.train.labels, data.train_labels[pool], train_size)
    if test_size is None or test_size >= n_test:
        assert np.array_equal(np.sort(test), np.arange(n_test))
    else:
        _stratified(s.test.labels, data.test_labels, test_size)
    pixels = s.train.images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(s.mean, pixels.mean(0), rtol=1e-5)
    np.testing.assert_allclose(s.std, pixels.std(0), rtol=1e-5)

    again = split(data, config)
    assert all(np.array_equal(_indices(a), b) for a, b in zip((again.train, again.val, again.test), (train, val, test)))
    # two other seeds: where there are >= 100 ways to choose a part, both choosing ours means the seed is unused
    others = [split(data, config.replace(split_seed=(split_seed + k) % 2**32)) for k in (1, 2)]
    for name, mine, pool_labels in (
        ("val", val, data.train_labels),
        ("train", train, data.train_labels[pool]),
        ("test", test, data.test_labels),
    ):
        picked = data.test_labels[mine] if name == "test" else data.train_labels[mine]
        if _ways(picked, pool_labels) >= 100:
            assert any(not np.array_equal(_indices(getattr(o, name)), mine) for o in others), name
