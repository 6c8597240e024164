"""CIFAR-10: find it, read it safely, split it and normalise it (batches for the model: batches.py).

Batches are pickles (the official format), so they are read with a restricted unpickler that can build
only what the format needs: dicts, lists, bytes, str, ints and numpy arrays. A file that asks for
anything else (e.g. `os.system`) is refused before any of it runs.
"""
from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.errors import HpsearchError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def keras_cache_folders() -> list[Path]:
    """Where Keras keeps a downloaded CIFAR-10: older Keras extracts to datasets/cifar-10-batches-py,
    Keras >= 3.4 to datasets/cifar-10-batches-py-target/cifar-10-batches-py."""
    datasets = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"
    return [datasets / FOLDER, datasets / f"{FOLDER}-target" / FOLDER]


class DataError(HpsearchError):
    """CIFAR-10 is missing, unsafe or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Cifar10:
    train_images: np.ndarray   # (N, 32, 32, 3) uint8
    train_labels: np.ndarray   # (N,) int64 in 0..9
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str                # the folder it was read from


# --- safe reading ------------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # numpy arrays pickled under Python 2 / protocol 2 carry their bytes this way
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: not part of the CIFAR-10 format")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images (n, 32, 32, 3) uint8, labels (n,) int64). Raises DataError naming the file."""
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path} is not a safe CIFAR-10 batch ({exc}); delete it and re-download CIFAR-10") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise DataError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
                        f"delete the folder and re-download CIFAR-10") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR-10 batch (expected a dict, got {type(batch).__name__})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels", batch.get("fine_labels"))
    if data is None or labels is None:
        raise DataError(f"{path} has no 'data'/'labels' entries: not a CIFAR-10 batch")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path} has the wrong shape: data {data.dtype} {data.shape}, {len(labels)} labels "
                        f"(expected uint8 (n, 3072) and n labels)")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _has_cifar(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_FILES, TEST_FILE))


def _candidates(data_dir: str | os.PathLike | None) -> list[Path]:
    """Where to look, in order: the given dir, $HPSEARCH_DATA_DIR, the Keras cache. A dir may be the
    batches folder itself or its parent."""
    roots = [Path(p).expanduser() for p in (data_dir, os.environ.get("HPSEARCH_DATA_DIR")) if p]
    found = []
    for root in roots:
        found += [root, root / FOLDER]
    return found + keras_cache_folders()


def find_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    candidates = _candidates(data_dir)
    for folder in candidates:
        if _has_cifar(folder):
            return folder
    if download:
        try:
            import keras
            keras.datasets.cifar10.load_data()  # downloads into the Keras cache where there is internet
        except Exception:  # no internet, proxy, disk: all end in the same advice below
            pass
        for folder in keras_cache_folders():
            if _has_cifar(folder):
                return folder
    looked = ", ".join(str(p) for p in candidates)
    raise DataError(
        f"CIFAR-10 not found (looked in: {looked}; expected {', '.join(TRAIN_FILES)} and {TEST_FILE}). "
        f"Pass --data-dir DIR (a folder holding {FOLDER}/ or its files), set HPSEARCH_DATA_DIR, "
        f"or run once with internet access to download it into the Keras cache.")


def load_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Cifar10:
    """CIFAR-10 as uint8 arrays, from the first of: `data_dir`, $HPSEARCH_DATA_DIR, the Keras cache, a Keras
    download (where there is internet). Raises DataError naming the folders looked in."""
    folder = find_cifar10(data_dir, download)
    train = [read_batch(folder / name) for name in TRAIN_FILES]
    test_images, test_labels = read_batch(folder / TEST_FILE)
    return Cifar10(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                   test_images, test_labels, _class_names(folder), str(folder))


def _class_names(folder: Path) -> tuple[str, ...]:
    meta = folder / META_FILE
    if not meta.is_file():
        return CLASS_NAMES
    with open(meta, "rb") as f:
        try:
            names = _SafeUnpickler(f, encoding="bytes").load().get(b"label_names")
        except Exception:
            raise DataError(f"{meta} is not a safe CIFAR-10 metadata file; delete it or re-download CIFAR-10") from None
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names) if names else CLASS_NAMES


# --- split and normalise ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    images: np.ndarray   # uint8 (n, 32, 32, 3)
    labels: np.ndarray   # int64 (n,)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split
    mean: np.ndarray     # per-channel mean of the training split, pixels in [0, 1]
    std: np.ndarray


def stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` indices with the class proportions of `labels` (largest-remainder rounding), sorted."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / counts.sum() * size
    take = np.floor(exact).astype(int)
    take[np.argsort(exact - take)[::-1][: size - take.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def split(data: Cifar10, config) -> Splits:
    """The seeded, stratified val hold-out, then (for small profiles) stratified subsets of train and test."""
    n = len(data.train_labels)
    if config.val_size >= n:
        raise DataError(f"val_size {config.val_size} leaves no training images (the data has {n})")
    rng = np.random.default_rng(config.split_seed)
    val_idx = stratified_indices(data.train_labels, config.val_size, rng)
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    if config.train_size is not None:
        if config.train_size > len(train_idx):
            raise DataError(f"train_size {config.train_size} is more than the {len(train_idx)} training images left "
                            f"after the {config.val_size}-image hold-out")
        train_idx = train_idx[stratified_indices(data.train_labels[train_idx], config.train_size, rng)]
    test_idx = np.arange(len(data.test_labels))
    if config.test_size is not None and config.test_size < len(test_idx):
        test_idx = stratified_indices(data.test_labels, config.test_size, rng)
    train = Split(data.train_images[train_idx], data.train_labels[train_idx])
    pixels = train.images.reshape(-1, 3).astype(np.float64) / 255.0
    return Splits(train, Split(data.train_images[val_idx], data.train_labels[val_idx]),
                  Split(data.test_images[test_idx], data.test_labels[test_idx]),
                  pixels.mean(0).astype(np.float32), pixels.std(0).astype(np.float32))


def normalize(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 -> float32: /255, then per-channel (x - mean) / std."""
    return ((images.astype(np.float32) / 255.0) - mean) / std


# --- synthetic data for tests and installation checks ---------------------------------------------

def write_synthetic_cifar10(path: str | os.PathLike, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """A tiny, learnable CIFAR-format folder: each class a colour and a stripe direction, plus noise.
    n_train images are spread over the five training batches."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = rng.uniform(40, 215, size=(10, 3))

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        yy, xx = np.mgrid[0:32, 0:32]
        stripes = np.stack([np.sin((xx * np.cos(c * np.pi / 10) + yy * np.sin(c * np.pi / 10)) / 2.0)
                            for c in range(10)])                     # (10, 32, 32)
        x = palette[labels][:, None, None, :] + 30 * stripes[labels][..., None] + rng.normal(0, 25, (n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), labels

    def dump(name: str, x: np.ndarray, y: np.ndarray) -> None:
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        with open(out / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": y.tolist(), b"data": rows,
                         b"filenames": [f"{name}_{i}.png".encode() for i in range(len(y))]}, f, protocol=2)

    x, y = images(n_train)
    for i, chunk in enumerate(np.array_split(np.arange(n_train), 5)):
        dump(TRAIN_FILES[i], x[chunk], y[chunk])
    dump(TEST_FILE, *images(n_test))
    with open(out / META_FILE, "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CLASS_NAMES], b"num_cases_per_batch": n_train // 5,
                     b"num_vis": 3072}, f, protocol=2)
    return out
