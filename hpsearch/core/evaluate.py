"""Plain and TTA evaluation. TTA averages the softmax over `tta_views` (flips x pad-and-crop shifts)."""

from __future__ import annotations

import numpy as np

from hpsearch.core.augment import tta_views, view
from hpsearch.core.data import Cifar10, Split, eval_batch_size, normalize, split
from hpsearch.interrupts import stop_if_signalled


def predict(model, images: np.ndarray, config, tta: bool = False, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities for normalised float images (n, 32, 32, 3): the mean over the TTA views (every
    view in batches of one shape, eval_batch_size, unless `batch_size` is given)."""
    batch_size = batch_size or eval_batch_size(len(images))
    views = tta_views(config.tta_flip, config.tta_shifts) if tta else [(False, 0, 0)]
    probs = np.zeros((len(images), 10), dtype=np.float64)
    for flip, dy, dx in views:
        stop_if_signalled()  # a Ctrl-C some library swallowed (see hpsearch.interrupts)
        probs += np.asarray(
            model.predict(view(images, flip, dy, dx), batch_size=batch_size, verbose=0), dtype=np.float64
        )
    return probs / len(views)


def evaluate(model, part: Split, mean, std, config, tta: bool = False) -> dict:
    """{"accuracy", "predictions"} of `model` on a split of uint8 images."""
    predictions = predict(model, normalize(part.images, mean, std), config, tta).argmax(1)
    return {"accuracy": float((predictions == part.labels).mean()), "predictions": predictions}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def evaluate_test(result, data: Cifar10) -> dict:
    """The final report's numbers for a trained RunResult: test accuracy plain and with TTA, per-class
    accuracy and the confusion matrix (of the TTA predictions). Fills them into `result` too."""
    splits = split(data, result.config)
    plain = evaluate(result.model, splits.test, splits.mean, splits.std, result.config, tta=False)
    tta = evaluate(result.model, splits.test, splits.mean, splits.std, result.config, tta=True)
    matrix = confusion_matrix(splits.test.labels, tta["predictions"])
    per_class = (np.diag(matrix) / np.maximum(matrix.sum(1), 1)).tolist()
    result.test_accuracy, result.test_accuracy_tta = plain["accuracy"], tta["accuracy"]
    result.test_per_class_accuracy, result.test_confusion = per_class, matrix.tolist()
    return {
        "test_accuracy": plain["accuracy"],
        "test_accuracy_tta": tta["accuracy"],
        "test_per_class_accuracy": per_class,
        "test_confusion": matrix.tolist(),
    }
