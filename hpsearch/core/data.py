"""CIFAR-10: find it, read it safely, split it and normalise it (batches for the model: batches.py).

Batches are pickles (the official format), so they are read with a restricted unpickler that builds
nothing but dicts, lists, bytes, str and ints: numpy's array and dtype constructors are replaced by
stand-ins that only record what the file claims (shape, dtype name, raw bytes), and the arrays are then
made here from validated parts. numpy's own `_reconstruct`/`dtype.__setstate__` never see the file, so
a crafted dtype (object fields, odd flags) cannot make numpy read file bytes as pointers, and a claimed
shape must match the bytes actually present. Anything else a file asks for (e.g. `os.system`) is
refused before any of it runs, and files are size-checked before they are read.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.errors import HpsearchError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MAX_BATCH_BYTES = 64 * 2**20  # an official batch is ~31 MB (10,000 x 3,072 bytes plus labels and names)
MAX_META_BYTES = 64 * 2**10  # batches.meta is ~160 bytes
TEST_STREAM = 3  # the tag of the test subset's generator (split_seed's other draws: val, then train)
# Keras's own CIFAR-10 download (keras.datasets.cifar10), fetched without its loader, which unpickles
# every batch with the unrestricted pickle.
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ORIGIN_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def keras_cache_folders() -> list[Path]:
    """Where Keras keeps a downloaded CIFAR-10: older Keras extracts to datasets/cifar-10-batches-py,
    Keras >= 3.4 to datasets/cifar-10-batches-py-target/cifar-10-batches-py."""
    datasets = _keras_datasets()
    return [datasets / FOLDER, datasets / f"{FOLDER}-target" / FOLDER]


def _keras_datasets() -> Path:
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


class DataError(HpsearchError):
    """CIFAR-10 is missing, unsafe or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Cifar10:
    train_images: np.ndarray  # (N, 32, 32, 3) uint8
    train_labels: np.ndarray  # (N,) int64 in 0..9
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str  # the folder it was read from


# --- safe reading ------------------------------------------------------------------------------------


class _Malformed(Exception):
    """The file is a pickle, but not of a plain CIFAR-10 batch; the message says what is wrong."""


class _Refused(pickle.UnpicklingError):
    """The file asks for a callable outside the format (e.g. os.system); it is refused before it runs."""


class _Stub:
    """Base of the stand-ins handed out instead of numpy's callables. Every one refuses BUILD unless it
    is an array or dtype being filled in once (BUILD on the class itself fails: no `self`)."""

    state = None

    def __setstate__(self, state):
        raise _Malformed(f"unexpected state for {type(self).__name__}")


class _NDArray(_Stub):
    """Stands for `numpy.ndarray`, only ever passed to `_reconstruct`."""

    def __init__(self, *args):
        raise _Malformed("numpy.ndarray called directly")


class _Dtype(_Stub):
    """`numpy.dtype(name, align, copy)` then BUILD(state): kept as the name and state, checked in `numpy`."""

    name = None  # also for an instance made without __init__ (NEWOBJ)

    def __init__(self, name, align=False, copy=False):
        self.name = name

    def __setstate__(self, state):
        if self.state is not None:
            raise _Malformed("a dtype filled in twice")
        self.state = state

    def numpy(self, allowed: tuple[str, ...]) -> np.dtype:
        """A plain integer dtype from the allowed names; anything with fields, subarrays, a custom size or
        flags (what `object` fields need) is refused."""
        name = _text(self.name)
        if name not in allowed:
            raise _Malformed(f"dtype {name[:20]!r} (expected {' or '.join(allowed)})")
        state, order = self.state, "|"
        if state is not None:
            if not (
                isinstance(state, tuple)
                and len(state) == 8
                and state[0] == 3
                and state[2:] == (None, None, None, -1, -1, 0)
            ):
                raise _Malformed(f"dtype {name!r} with fields, a subarray, a custom size or flags")
            order = _text(state[1])
        if order not in ("<", ">", "|", "="):
            raise _Malformed(f"dtype byte order {order[:20]!r}")
        return np.dtype(name).newbyteorder(order) if order in "<>" else np.dtype(name)


class _Reconstruct(_Stub):
    """`numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`, then BUILD((version,) shape, dtype,
    is_fortran, raw bytes): numpy's array pickle up to protocol 4."""

    def __init__(self, cls, shape=(0,), typecode=b"b"):
        if cls is not _NDArray:
            raise _Malformed("_reconstruct of something other than numpy.ndarray")

    def __setstate__(self, state):
        if self.state is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Malformed("array state is not (version, shape, dtype, is_fortran, raw bytes)")
        self.state = state[-4:]

    def numpy(self, allowed: tuple[str, ...]) -> np.ndarray:
        """The array, read-only over the file's bytes: C order, and exactly as many bytes as the shape claims."""
        if self.state is None:
            raise _Malformed("an array without contents")
        shape, dtype, fortran, raw = self.state
        if not isinstance(dtype, _Dtype):
            raise _Malformed("an array without a plain dtype")
        dtype = dtype.numpy(allowed)
        if not (isinstance(shape, tuple) and len(shape) <= 2 and all(type(n) is int and 0 <= n < 2**31 for n in shape)):
            raise _Malformed(f"array shape {shape!r:.60}")
        if type(fortran) not in (bool, int) or fortran:
            raise _Malformed("an array not in C order")
        if not isinstance(raw, (bytes, bytearray)):
            raise _Malformed("an array of Python objects, not raw bytes")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise _Malformed(f"an array claiming shape {shape} of {dtype} but holding {len(raw)} bytes")
        return np.frombuffer(raw, dtype).reshape(shape)


class _FromBuffer(_Reconstruct):
    """`numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`: numpy's array pickle at protocol 5."""

    def __init__(self, buffer, dtype, shape, order="C"):
        self.state = (shape, dtype, order != "C", buffer)


class _Latin1(_Stub):
    """`_codecs.encode(text, "latin1")`: how bytes are pickled at protocol 2 by Python 3."""

    def __new__(cls, text, encoding="utf-8"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise _Malformed("_codecs.encode other than text to latin1 bytes")
        return text.encode("latin1")


_STAND_INS = {
    ("numpy", "ndarray"): _NDArray,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.multiarray", "_reconstruct"): _Reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _Reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _FromBuffer,
    ("numpy._core.numeric", "_frombuffer"): _FromBuffer,
    ("_codecs", "encode"): _Latin1,
}
_LABEL_DTYPES = ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _STAND_INS:
            return _STAND_INS[(module, name)]
        raise _Refused(f"refused to load {module}.{name}: not part of the CIFAR-10 format")


def _text(value) -> str:
    """A name as pickled by Python 2 (bytes) or 3 (str)."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    if isinstance(value, str):
        return value
    raise _Malformed(f"expected a name, got {type(value).__name__}")


def _unpickle(path: Path, limit: int, what: str) -> dict:
    """The file's top-level dict with str keys. Nothing but the stand-ins above can run while loading, so
    any exception means a malformed file: each becomes a DataError naming the file."""
    fix = "delete the folder and download CIFAR-10 again"
    too_big = f"{path} is larger than any {what} ({limit / 2**20:g} MiB at most); {fix}"
    try:
        if path.stat().st_size > limit:
            raise DataError(too_big)
        with open(path, "rb") as f:
            blob = f.read(limit + 1)  # a file may grow, or report a size it does not have
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(blob) > limit:
        raise DataError(too_big)
    try:
        loaded = _SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except _Malformed as exc:
        raise DataError(f"{path} is not a plain CIFAR-10 {what}: {exc}; {fix}") from None
    except _Refused as exc:
        raise DataError(f"{path} is not a safe CIFAR-10 {what} ({exc}); {fix}") from None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise DataError(f"{path} is truncated or corrupt ({type(exc).__name__}: {str(exc)[:100]}); {fix}") from None
    if not isinstance(loaded, dict):
        raise DataError(f"{path} is not a CIFAR-10 {what} (expected a dict, got {type(loaded).__name__}); {fix}")
    return {
        k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in loaded.items() if isinstance(k, (bytes, str))
    }


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images (n, 32, 32, 3) uint8, labels (n,) int64). Raises DataError naming the file."""
    batch = _unpickle(Path(path), MAX_BATCH_BYTES, "batch")
    data, labels = batch.get("data"), batch.get("labels", batch.get("fine_labels"))
    if data is None or labels is None:
        raise DataError(f"{path} has no 'data'/'labels' entries: not a CIFAR-10 batch")
    try:
        if not isinstance(data, _Reconstruct):
            raise _Malformed(f"data is of type {type(data).__name__}, not a numpy array")
        data = data.numpy(("u1",))
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) == 0:
            raise _Malformed(f"data has shape {data.shape} (expected (n, 3072) with n >= 1: one row per image)")
        labels = _labels(labels)
        if len(labels) != len(data):
            raise _Malformed(f"{len(labels)} labels for {len(data)} images")
    except _Malformed as exc:
        raise DataError(
            f"{path} is not a plain CIFAR-10 batch: {exc}; delete the folder and download CIFAR-10 again"
        ) from None
    # channel-major rows -> HWC images, copied out of the file's buffer into a writable array
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _labels(value) -> np.ndarray:
    """A list of ints or a 1-d integer array, each in 0..9, as int64."""
    if isinstance(value, _Reconstruct):
        labels = value.numpy(_LABEL_DTYPES)
        if labels.ndim != 1:
            raise _Malformed(f"labels have shape {labels.shape} (expected one label per image)")
        bad = np.flatnonzero((labels < 0) | (labels > 9))
        if len(bad):
            raise _Malformed(f"label {bad[0]} is {labels[bad[0]]} (expected a class number in 0..9)")
        return labels.astype(np.int64)
    if not isinstance(value, list):
        raise _Malformed(f"labels are of type {type(value).__name__} (expected a list of class numbers)")
    for i, label in enumerate(value):
        if type(label) is not int or not 0 <= label <= 9:
            raise _Malformed(f"label {i} is {label!r:.40} (expected a class number in 0..9)")
    return np.array(value, dtype=np.int64)


def _class_names(folder: Path) -> tuple[str, ...]:
    meta = folder / META_FILE
    if not meta.is_file():
        return CLASS_NAMES
    names = _unpickle(meta, MAX_META_BYTES, "metadata file").get("label_names")
    if not (
        isinstance(names, list)
        and len(names) == len(CLASS_NAMES)
        and all(isinstance(n, (bytes, str)) and 0 < len(n) <= 64 for n in names)
    ):
        raise DataError(
            f"{meta} does not hold 10 class names (label_names is {names!r:.80}); delete it to use "
            f"the standard names, or download CIFAR-10 again"
        )
    names = tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)
    if not all(n.isprintable() for n in names):
        raise DataError(f"{meta} has class names with control characters; delete it to use the standard names")
    return names


# --- finding the folder -------------------------------------------------------------------------------


def _missing(folder: Path) -> list[str]:
    return [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]


def _candidates() -> list[Path]:
    """Where to look, in order: $HPSEARCH_DATA_DIR, then the Keras cache. A dir may be the batches folder
    itself or its parent."""
    root = os.environ.get("HPSEARCH_DATA_DIR")
    found = [Path(root).expanduser(), Path(root).expanduser() / FOLDER] if root else []
    return found + keras_cache_folders()


def find_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The folder holding the batches. An explicit `data_dir` is the only place looked at (the folder or its
    cifar-10-batches-py/): a folder missing files is an error naming them, never a silent fall-through
    to other data. Without one: $HPSEARCH_DATA_DIR, the Keras cache, then a download."""
    if data_dir is not None:
        return _explicit_folder(Path(data_dir).expanduser())
    candidates = _candidates()
    for folder in candidates:
        if not _missing(folder):
            return folder
    downloaded = _download() if download else None
    if downloaded is not None and not _missing(downloaded):
        return downloaded
    looked = ", ".join(str(p) for p in candidates)
    raise DataError(
        f"CIFAR-10 not found (looked in: {looked}; expected {', '.join(TRAIN_FILES)} and {TEST_FILE}). "
        f"Pass --data-dir DIR (a folder holding {FOLDER}/ or its files), set HPSEARCH_DATA_DIR, "
        f"or run once with internet access to download it into the Keras cache."
    )


def _explicit_folder(root: Path) -> Path:
    if not root.is_dir():
        raise DataError(
            f"CIFAR-10 not found: --data-dir {root} is not a folder; pass the folder holding {FOLDER}/ or its files"
        )
    folders = [root, root / FOLDER]
    for folder in folders:
        if not _missing(folder):
            return folder
    closest = min(folders, key=lambda f: len(_missing(f)))  # the root on a tie: where the user pointed
    raise DataError(
        f"CIFAR-10 is incomplete in {closest}: missing {', '.join(_missing(closest))} "
        f"(looked in {root} and {root / FOLDER}); pass --data-dir a folder holding all of "
        f"{', '.join(TRAIN_FILES)}, {TEST_FILE} (or its {FOLDER}/)"
    )


def _reachable(url: str, timeout: float = 10.0) -> bool:
    """A HEAD request (through any configured proxy): without a network, nothing is printed or created."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def _download() -> Path | None:
    """CIFAR-10 into the Keras cache, where Keras's own loader would put it, checked against its SHA-256.
    Keras's get_file, but not keras.datasets.cifar10.load_data, which would unpickle every batch unsafely.
    Returns the batches folder, or None; a failed attempt leaves no empty cache folder behind."""
    if not _reachable(ORIGIN):
        return None
    import keras  # lazy: a backend import costs seconds, and only a download needs it here

    datasets = _keras_datasets()
    created = [p for p in (datasets.parent, datasets) if not p.exists()]
    try:
        target = keras.utils.get_file(
            fname=f"{FOLDER}-target",
            origin=ORIGIN,
            extract=True,
            file_hash=ORIGIN_SHA256,
            cache_dir=str(datasets.parent),
        )
        return Path(target) / FOLDER
    except Exception:  # noqa: BLE001 - network, proxy, disk, hash: all end in the same advice
        for folder in reversed(created):
            try:
                folder.rmdir()  # only if still empty
            except OSError:
                pass
        return None


def load_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Cifar10:
    """CIFAR-10 as uint8 arrays, from `data_dir` alone when given, else the first of $HPSEARCH_DATA_DIR, the
    Keras cache, a Keras download (where there is internet). Raises DataError naming the files or folders."""
    folder = find_cifar10(data_dir, download)
    train = [read_batch(folder / name) for name in TRAIN_FILES]
    test_images, test_labels = read_batch(folder / TEST_FILE)
    return Cifar10(
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        test_images,
        test_labels,
        _class_names(folder),
        str(folder),
    )


# --- split and normalise ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (n, 32, 32, 3)
    labels: np.ndarray  # int64 (n,)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split
    mean: np.ndarray  # per-channel mean of the training split, pixels in [0, 1]
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
            raise DataError(
                f"train_size {config.train_size} is more than the {len(train_idx)} training images left "
                f"after the {config.val_size}-image hold-out"
            )
        train_idx = train_idx[stratified_indices(data.train_labels[train_idx], config.train_size, rng)]
    test_idx = np.arange(len(data.test_labels))
    if config.test_size is not None and config.test_size < len(test_idx):
        # a generator of its own: the same test images whatever train_size is
        test_idx = stratified_indices(
            data.test_labels, config.test_size, np.random.default_rng([TEST_STREAM, config.split_seed])
        )
    train = Split(data.train_images[train_idx], data.train_labels[train_idx])
    pixels = train.images.reshape(-1, 3).astype(np.float64) / 255.0
    return Splits(
        train,
        Split(data.train_images[val_idx], data.train_labels[val_idx]),
        Split(data.test_images[test_idx], data.test_labels[test_idx]),
        pixels.mean(0).astype(np.float32),
        pixels.std(0).astype(np.float32),
    )


def normalize(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 -> float32: /255, then per-channel (x - mean) / std."""
    return ((images.astype(np.float32) / 255.0) - mean) / std


EVAL_BATCH = 500  # largest batch for validation and test predictions (no gradients kept)


def eval_batch_size(n: int, largest: int = EVAL_BATCH) -> int:
    """A batch size for evaluating `n` images that divides `n` where it can (the largest divisor up to
    `largest`, if at least a quarter of it), so every batch has one shape: a compiled (XLA) step is
    compiled once per shape, and a partial last batch would cost a second compilation."""
    divisor = max(d for d in range(1, min(n, largest) + 1) if n % d == 0)
    return divisor if divisor >= largest // 4 or divisor == n else largest


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
        stripes = np.stack(
            [np.sin((xx * np.cos(c * np.pi / 10) + yy * np.sin(c * np.pi / 10)) / 2.0) for c in range(10)]
        )  # (10, 32, 32)
        x = palette[labels][:, None, None, :] + 30 * stripes[labels][..., None] + rng.normal(0, 25, (n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), labels

    def dump(name: str, x: np.ndarray, y: np.ndarray) -> None:
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        with open(out / name, "wb") as f:
            pickle.dump(
                {
                    b"batch_label": name.encode(),
                    b"labels": y.tolist(),
                    b"data": rows,
                    b"filenames": [f"{name}_{i}.png".encode() for i in range(len(y))],
                },
                f,
                protocol=2,
            )

    x, y = images(n_train)
    for i, chunk in enumerate(np.array_split(np.arange(n_train), 5)):
        dump(TRAIN_FILES[i], x[chunk], y[chunk])
    dump(TEST_FILE, *images(n_test))
    with open(out / META_FILE, "wb") as f:
        pickle.dump(
            {b"label_names": [c.encode() for c in CLASS_NAMES], b"num_cases_per_batch": n_train // 5, b"num_vis": 3072},
            f,
            protocol=2,
        )
    return out
