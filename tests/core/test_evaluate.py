import keras
import numpy as np

from hpsearch.core.config import TrainConfig
from hpsearch.core.data import split
from hpsearch.core.evaluate import confusion_matrix, evaluate, evaluate_test, predict
from hpsearch.core.train import train


def _flip_invariant_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)     # mirroring leaves a spatial mean unchanged
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def test_tta_of_a_flip_invariant_model_equals_plain_evaluation(cifar):
    config = TrainConfig(val_size=100, tta_flip=True, tta_shifts=((0, 0),))
    s = split(cifar, config)
    model = _flip_invariant_model()
    plain = evaluate(model, s.val, s.mean, s.std, config, tta=False)
    tta = evaluate(model, s.val, s.mean, s.std, config, tta=True)
    assert np.array_equal(plain["predictions"], tta["predictions"]) and plain["accuracy"] == tta["accuracy"]


def test_tta_averages_over_all_views():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    images = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype(np.float32)
    config = TrainConfig(tta_flip=True, tta_shifts=((0, 0),))
    expected = (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)) / 2
    assert np.allclose(predict(model, images, config, tta=True), expected, atol=1e-5)


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), classes=3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_evaluate_test_fills_the_result(cifar):
    result = train(TrainConfig.from_profile("smoke", epochs=2), cifar)
    out = evaluate_test(result, cifar)
    assert 0 <= out["test_accuracy"] <= 1 and 0 <= out["test_accuracy_tta"] <= 1
    assert sum(map(sum, out["test_confusion"])) == result.config.test_size
    assert result.test_accuracy_tta == out["test_accuracy_tta"] and len(result.test_per_class_accuracy) == 10
