import keras
import numpy as np
import pytest

from hpsearch.core.config import TrainConfig
from hpsearch.core.data import normalize, split
from hpsearch.core.device import reset_state
from hpsearch.core.evaluate import confusion_matrix, evaluate, evaluate_test, predict
from hpsearch.core.train import train

SHIFTS = ((0, 0), (1, 1), (-1, -1))


@pytest.fixture(autouse=True)
def _float32_policy():
    """Models built here are float32, whatever an earlier training in this process left behind."""
    reset_state()
    yield
    reset_state()


def _position_sensitive_model():
    """A model that is neither flip- nor shift-invariant: softmax of a dense layer over all pixels."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _views_by_hand(images, flip, shifts):
    """Each TTA view with plain numpy slicing: mirror, then reflect-pad and crop at (dy, dx)."""
    views = []
    for dy, dx in shifts:
        for mirrored in (False, True) if flip else (False,):
            x = images[:, :, ::-1] if mirrored else images
            padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
            views.append(padded[:, 1 + dy : 33 + dy, 1 + dx : 33 + dx])
    return views


def test_tta_is_the_mean_over_exactly_the_configured_views():
    model = _position_sensitive_model()
    images = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype(np.float32)
    for flip in (True, False):
        config = TrainConfig(tta_flip=flip, tta_shifts=SHIFTS)
        views = _views_by_hand(images, flip, SHIFTS)
        expected = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
        got = predict(model, images, config, tta=True)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        plain = predict(model, images, config, tta=False)
        np.testing.assert_allclose(plain, model.predict(images, verbose=0), atol=1e-6)
        assert np.abs(got - plain).max() > 1e-3  # TTA changed the answer of this model


def test_tta_and_plain_accuracy_are_those_of_their_predictions(cifar):
    config = TrainConfig(val_size=100, tta_flip=True, tta_shifts=SHIFTS)
    s = split(cifar, config)
    model = _position_sensitive_model()
    images = normalize(s.val.images, s.mean, s.std)
    for tta in (False, True):
        views = _views_by_hand(images, True, SHIFTS) if tta else [images]
        expected = np.mean([model.predict(v, verbose=0) for v in views], axis=0).argmax(1)
        out = evaluate(model, s.val, s.mean, s.std, config, tta=tta)
        assert np.array_equal(out["predictions"], expected)
        assert out["accuracy"] == np.mean(expected == s.val.labels)


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), classes=3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_evaluate_test_fills_the_result_from_the_test_split(cifar):
    result = train(TrainConfig.from_profile("smoke", epochs=2), cifar)
    out = evaluate_test(result, cifar)
    s = split(cifar, result.config)
    images = normalize(s.test.images, s.mean, s.std)
    plain = predict(result.model, images, result.config).argmax(1)
    tta = predict(result.model, images, result.config, tta=True).argmax(1)
    assert out["test_accuracy"] == np.mean(plain == s.test.labels)
    assert out["test_accuracy_tta"] == np.mean(tta == s.test.labels)
    matrix = np.array(out["test_confusion"])
    assert matrix.sum() == result.config.test_size and np.array_equal(matrix, confusion_matrix(s.test.labels, tta))
    assert np.allclose(out["test_per_class_accuracy"], np.diag(matrix) / matrix.sum(1))
    assert result.test_accuracy_tta == out["test_accuracy_tta"] and result.test_accuracy == out["test_accuracy"]


def test_evaluate_test_puts_the_plain_and_the_tta_accuracy_where_they_belong(cifar, monkeypatch):
    """With accuracies that differ for certain (a tiny model often scores the same with and without TTA, which
    would hide two of them swapped): each lands in its own field of the result and of the returned numbers."""
    from types import SimpleNamespace

    from hpsearch.core import evaluate as module

    def scored(model, part, mean, std, config, tta=False):
        return {"accuracy": 0.75 if tta else 0.25, "predictions": part.labels}

    monkeypatch.setattr(module, "evaluate", scored)
    result = SimpleNamespace(model=None, config=TrainConfig.from_profile("smoke"))
    out = evaluate_test(result, cifar)
    assert (out["test_accuracy"], out["test_accuracy_tta"]) == (0.25, 0.75)
    assert (result.test_accuracy, result.test_accuracy_tta) == (0.25, 0.75)
    assert out["test_per_class_accuracy"] == [1.0] * 10  # the confusion matrix of the TTA predictions
