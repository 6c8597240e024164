"""AtomicCheckpoint: Keras's ModelCheckpoint deciding when, hpsearch.files making each save whole or nothing."""

import errno

import keras
import numpy as np
import pytest

from hpsearch.core.callbacks import AtomicCheckpoint
from hpsearch.files import WriteError


def tiny_model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_saves_the_best_epoch_whole_and_never_a_half_written_one(tmp_path, monkeypatch):
    folder = tmp_path / "run {epoch}"  # braces in --out must not be taken for Keras's filepath placeholders
    folder.mkdir()
    path = folder / "best.keras"
    model = tiny_model()
    checkpoint = AtomicCheckpoint(str(path), monitor="val_accuracy", mode="max", save_best_only=True)
    checkpoint.set_model(model)
    checkpoint.on_train_begin()

    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    first = path.read_bytes()
    x = np.ones((1, 3), dtype="float32")
    assert np.allclose(keras.saving.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))

    model.layers[-1].kernel.assign(np.zeros((3, 2)))
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.4})  # worse: Keras does not save, the file stays
    assert path.read_bytes() == first

    def full_disk(filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model, "save", full_disk)
    with pytest.raises(WriteError, match="best.keras: No space left on device; the previous version is kept"):
        checkpoint.on_epoch_end(2, {"val_accuracy": 0.6})
    assert path.read_bytes() == first
    monkeypatch.undo()

    checkpoint.on_epoch_end(3, {"val_accuracy": 0.7})
    assert np.allclose(keras.saving.load_model(path).predict(x, verbose=0), 0)
    assert sorted(p.name for p in folder.iterdir()) == ["best.keras"]  # no temporary file left
