import os
import pickle
from pathlib import Path

import crafted_pickles as cp
import numpy as np
import pytest

from hpsearch.core import data as data_module
from hpsearch.core.config import TrainConfig
from hpsearch.core.data import (
    MAX_BATCH_BYTES,
    MAX_META_BYTES,
    DataError,
    _class_names,
    load_cifar10,
    normalize,
    read_batch,
    split,
    write_synthetic_cifar10,
)


def test_reads_the_official_format(cifar):
    assert cifar.train_images.shape == (600, 32, 32, 3) and cifar.train_images.dtype == np.uint8
    assert cifar.test_images.shape == (200, 32, 32, 3)
    assert set(np.unique(cifar.train_labels)) == set(range(10))
    assert cifar.class_names[0] == "airplane"


def test_channel_major_rows_become_hwc_images(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[0, 0, 2] = 200, 7  # red plane, one blue pixel
    row = image.transpose(2, 0, 1).reshape(1, -1)
    with open(tmp_path / "b", "wb") as f:
        pickle.dump({b"data": row, b"labels": [3]}, f)
    x, y = read_batch(tmp_path / "b")
    assert np.array_equal(x[0], image) and y.tolist() == [3]


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    folder = write_synthetic_cifar10(tmp_path / "c", n_train=50, n_test=20)
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": evil, b"labels": [0]}, f)
    with pytest.raises(DataError, match="data_batch_3.*not a safe"):
        load_cifar10(folder, download=False)
    assert not evil.marker.exists()


def test_truncated_and_wrong_shaped_files_are_named(tmp_path):
    folder = write_synthetic_cifar10(tmp_path / "c", n_train=50, n_test=20)
    blob = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="test_batch.*truncated"):
        load_cifar10(folder, download=False)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, f)
    with pytest.raises(DataError, match=r"test_batch.*shape \(4, 100\)"):
        load_cifar10(folder, download=False)


def test_reads_batches_as_python_2_wrote_them_and_at_protocol_5(tmp_path):
    """The official files: Python 2 str (bytes here) for keys, dtype names and the pixels, the dtype pickled
    as ('u1', 0, 1), numpy.core.multiarray; and labels that are a big-endian array, for once."""
    rows = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    u1 = cp.dtype(
        cp.py2str(b"u1"),
        cp.tup(
            cp.integer(3), cp.py2str(b"|"), cp.NONE, cp.NONE, cp.NONE, cp.integer(-1), cp.integer(-1), cp.integer(0)
        ),
    )
    labels = np.array([7, 0, 9], ">i8")
    blob = cp.pickle_of(
        cp.dct(
            (cp.py2str(b"batch_label"), cp.py2str(b"training batch 1 of 5")),
            (cp.py2str(b"data"), cp.array((3, 3072), u1, cp.py2str(rows.tobytes()), module="numpy.core.multiarray")),
            (
                cp.py2str(b"labels"),
                cp.array((3,), cp.dtype(cp.text("i8"), cp.dtype_state(">")), cp.raw(labels.tobytes())),
            ),
        )
    )
    assert np.array_equal(pickle.loads(blob, encoding="bytes")[b"data"], rows)  # what numpy itself reads
    (tmp_path / "py2").write_bytes(blob)
    x, y = read_batch(tmp_path / "py2")
    assert np.array_equal(x.transpose(0, 3, 1, 2).reshape(3, -1), rows) and y.tolist() == [7, 0, 9]
    assert y.dtype == np.int64 and x.flags.writeable and x.flags.c_contiguous
    with open(tmp_path / "p5", "wb") as f:
        pickle.dump({"data": rows, "labels": labels.astype("<u1")}, f, protocol=5)
    x5, y5 = read_batch(tmp_path / "p5")
    assert np.array_equal(x5, x) and y5.tolist() == [7, 0, 9]


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


@pytest.mark.parametrize(
    "content, problem",
    [
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [b"cat", b"dog"]}, r"label 0 is b'cat'"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": 3}, "labels are of type int"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.0, 2.7]}, "label 0 is 1.0"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.array([1.0, 2.7])}, "dtype 'f8'"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 10]}, "label 1 is 10"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.array([-1, 3])}, "label 0 is -1"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.array([3, 12], np.uint8)}, "label 1 is 12"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [True, False]}, "label 0 is True"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2, 3]}, "3 labels for 2 images"),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": np.zeros((2, 1), np.int64)},
            r"labels have shape \(2, 1\)",
        ),
        ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, r"shape \(0, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.int64), b"labels": [1, 2]}, "dtype 'i8'"),
        ({b"data": np.zeros((2, 32, 32, 3), np.uint8), b"labels": [1, 2]}, r"shape \(2, 32, 32, 3\)"),
        ({b"data": np.asfortranarray(np.zeros((2, 3072), np.uint8)), b"labels": [1, 2]}, "not in C order"),
        ({b"data": [[0] * 3072] * 2, b"labels": [1, 2]}, "data is of type list"),
        ({b"labels": [1, 2]}, "no 'data'"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_each_malformed_batch_is_a_data_error_naming_the_file_and_the_problem(tmp_path, content, problem):
    _dump(tmp_path / "data_batch_2", content)
    with pytest.raises(DataError, match=f"data_batch_2.*{problem}"):
        read_batch(tmp_path / "data_batch_2")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_a_file_that_reports_no_size_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    """A pipe (or /proc file) says size 0 and streams on: the read itself must stop at the limit."""
    import threading

    monkeypatch.setattr(data_module, "MAX_BATCH_BYTES", 2**20)
    fifo = tmp_path / "data_batch_1"
    os.mkfifo(fifo)
    written = []

    def feed():
        try:
            with open(fifo, "wb") as f:
                for _ in range(256):  # 16 MiB at most
                    f.write(bytes(2**16))
                    written.append(2**16)
        except BrokenPipeError:  # the reader stopped: what we want
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(DataError, match="data_batch_1 is larger than any batch"):
        read_batch(fifo)
    writer.join(timeout=60)
    assert sum(written) <= 2**20 + 2**18  # the limit and the pipe's buffer, not 16 MiB


@pytest.mark.parametrize("claimed, held", [(2, 3), (3, 2)])
def test_an_array_must_hold_exactly_the_bytes_its_shape_claims(tmp_path, claimed, held):
    rows = cp.array((claimed, 3072), cp.dtype(cp.text("u1")), cp.raw(bytes(held * 3072)))
    (tmp_path / "data_batch_1").write_bytes(cp.batch(rows, cp.lst(*[cp.integer(0)] * claimed)))
    with pytest.raises(DataError, match=rf"data_batch_1.*claiming shape \({claimed}, 3072\).*{held * 3072} bytes"):
        read_batch(tmp_path / "data_batch_1")


@pytest.mark.parametrize(
    "meta, problem",
    [
        ({b"label_names": [b"cat", b"dog"]}, "10 class names"),
        ({b"label_names": b"airplane"}, "10 class names"),
        ({b"label_names": [b"x" * 100] * 10}, "10 class names"),
        ({b"label_names": [f"c{i}\x1b[2J".encode() for i in range(10)]}, "control characters"),
        ([b"airplane"] * 10, "expected a dict"),
    ],
)
def test_a_malformed_meta_file_is_a_data_error(tmp_path, meta, problem):
    folder = write_synthetic_cifar10(tmp_path / "c", n_train=50, n_test=20)
    _dump(folder / "batches.meta", meta)
    with pytest.raises(DataError, match=f"batches.meta.*{problem}"):
        load_cifar10(folder, download=False)


def test_files_larger_than_the_format_are_refused_before_reading(tmp_path):
    folder = write_synthetic_cifar10(tmp_path / "c", n_train=50, n_test=20)
    with open(folder / "data_batch_4", "r+b") as f:
        f.truncate(MAX_BATCH_BYTES + 1)  # sparse: no disk used, a valid pickle at its start
    with pytest.raises(DataError, match="data_batch_4 is larger than any batch"):
        load_cifar10(folder, download=False)
    (folder / "batches.meta").write_bytes(b"\x80\x02" + b"N" * (MAX_META_BYTES + 10))
    with pytest.raises(DataError, match="batches.meta is larger"):
        _class_names(folder)


def test_an_explicit_data_dir_missing_files_is_an_error_naming_them_never_a_fall_through(tmp_path, monkeypatch):
    write_synthetic_cifar10(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py", n_train=50, n_test=20)
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(write_synthetic_cifar10(tmp_path / "env", n_train=50, n_test=20)))
    mine = write_synthetic_cifar10(tmp_path / "mine" / "cifar-10-batches-py", n_train=50, n_test=20)
    (mine / "data_batch_3").unlink()
    (mine / "test_batch").unlink()
    downloads = []
    monkeypatch.setattr(data_module, "_download", lambda: downloads.append(1))
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path / "mine", download=True)
    assert "missing data_batch_3, test_batch" in str(err.value) and str(mine) in str(err.value)
    assert downloads == []
    with pytest.raises(DataError, match="nowhere is not a folder"):
        load_cifar10(tmp_path / "nowhere")


def test_missing_data_names_the_folders_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(tmp_path / "env-dir"))
    with pytest.raises(DataError) as err:
        load_cifar10(None, download=False)
    message = str(err.value)
    for part in ("env-dir", "keras-home", "--data-dir", "data_batch_1", "test_batch"):
        assert part in message


def test_without_a_network_the_message_is_all_that_is_printed_and_nothing_is_created(tmp_path, monkeypatch, capfd):
    import keras

    fetched = []
    monkeypatch.setattr(data_module, "_reachable", lambda url: False)
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: fetched.append(k))
    with pytest.raises(DataError, match="internet"):
        load_cifar10(None, download=True)
    assert fetched == [] and capfd.readouterr() == ("", "")
    assert not (tmp_path / "keras-home" / "datasets").exists()


def test_a_failed_download_leaves_no_empty_cache_folder(tmp_path, monkeypatch):
    import keras

    def broken(**kwargs):
        (tmp_path / "keras-home" / "datasets").mkdir(parents=True)  # as Keras does before fetching
        raise OSError("connection reset")

    monkeypatch.setattr(data_module, "_reachable", lambda url: True)
    monkeypatch.setattr(keras.utils, "get_file", broken)
    with pytest.raises(DataError, match="internet"):
        load_cifar10(None, download=True)
    assert not (tmp_path / "keras-home" / "datasets").exists()


def test_a_download_is_checked_against_its_hash_and_read_from_where_keras_put_it(tmp_path, monkeypatch):
    import keras

    calls = []

    def fake_get_file(fname, origin, extract, file_hash, cache_dir):
        calls.append((origin, extract, file_hash))
        target = Path(cache_dir) / "datasets" / fname
        write_synthetic_cifar10(target / "cifar-10-batches-py", n_train=50, n_test=20)
        return str(target)

    monkeypatch.setattr(data_module, "_reachable", lambda url: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    data = load_cifar10(None, download=True)
    assert calls == [(data_module.ORIGIN, True, data_module.ORIGIN_SHA256)]
    assert len(data.train_labels) == 50
    assert load_cifar10(None, download=False).source == data.source  # the next run finds it in the cache


def test_finds_the_data_in_the_keras_cache_and_via_the_environment(tmp_path, monkeypatch):
    cache = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    write_synthetic_cifar10(cache, n_train=50, n_test=20)
    assert load_cifar10(download=False).source == str(cache)
    parent = tmp_path / "mine"
    write_synthetic_cifar10(parent / "cifar-10-batches-py", n_train=50, n_test=20)
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(parent))  # a parent of the batches folder is fine too
    assert load_cifar10(download=False).source == str(parent / "cifar-10-batches-py")


def test_split_is_stratified_seeded_and_disjoint(cifar):
    config = TrainConfig(val_size=100, train_size=300, test_size=50)
    a, b = split(cifar, config), split(cifar, config)
    assert np.array_equal(a.val.labels, b.val.labels) and np.array_equal(a.train.images, b.train.images)
    assert np.bincount(a.val.labels).tolist() == [10] * 10
    assert np.bincount(a.train.labels).tolist() == [30] * 10
    assert len(a.test.labels) == 50
    val_rows = {img.tobytes() for img in a.val.images}
    assert not any(img.tobytes() in val_rows for img in a.train.images)
    other = split(cifar, config.replace(split_seed=1))
    assert not np.array_equal(other.val.images, a.val.images)


def test_normalisation_uses_training_statistics(cifar):
    s = split(cifar, TrainConfig(val_size=100))
    x = normalize(s.train.images, s.mean, s.std)
    assert np.allclose(x.reshape(-1, 3).mean(0), 0, atol=1e-3) and np.allclose(x.reshape(-1, 3).std(0), 1, atol=1e-3)
