import os
import pickle

import numpy as np
import pytest

from hpsearch.core.config import TrainConfig
from hpsearch.core.data import (DataError, load_cifar10, normalize, read_batch, split,
                                write_synthetic_cifar10)


def test_reads_the_official_format(cifar):
    assert cifar.train_images.shape == (600, 32, 32, 3) and cifar.train_images.dtype == np.uint8
    assert cifar.test_images.shape == (200, 32, 32, 3)
    assert set(np.unique(cifar.train_labels)) == set(range(10))
    assert cifar.class_names[0] == "airplane"


def test_channel_major_rows_become_hwc_images(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[0, 0, 2] = 200, 7           # red plane, one blue pixel
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
    with pytest.raises(DataError, match="test_batch.*wrong shape"):
        load_cifar10(folder, download=False)


def test_missing_data_names_the_folders_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(tmp_path / "env-dir"))
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path / "nowhere", download=False)
    message = str(err.value)
    for part in ("nowhere", "env-dir", "keras-home", "--data-dir", "data_batch_1", "test_batch"):
        assert part in message


def test_failed_download_ends_in_the_same_clear_message(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("no route to host")
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError, match="internet"):
        load_cifar10(None, download=True)


def test_finds_the_data_in_the_keras_cache_and_via_the_environment(tmp_path, monkeypatch):
    cache = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    write_synthetic_cifar10(cache, n_train=50, n_test=20)
    assert load_cifar10(download=False).source == str(cache)
    parent = tmp_path / "mine"
    write_synthetic_cifar10(parent / "cifar-10-batches-py", n_train=50, n_test=20)
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(parent))   # a parent of the batches folder is fine too
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
