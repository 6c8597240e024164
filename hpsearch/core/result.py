"""RunResult: what one training run produced. The only thing the search and report layers read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpsearch.core.config import TrainConfig

EPOCH_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


@dataclass
class RunResult:
    config: TrainConfig
    device: str  # e.g. "CPU: 2 cores (<backend>, no XLA, mixed_bfloat16)"
    epochs: list[dict[str, float]]  # one dict per epoch run, keys EPOCH_KEYS (epoch counts from 1)
    val_accuracy: float  # best validation accuracy over the epochs (the search objective)
    train_seconds: float  # wall time of fit(), compilation included
    images_per_second: float  # training images / s over the epochs after the first (which
    # compiles), validation included
    test_accuracy: float | None = None  # filled by the final evaluation only; searches never touch test
    test_accuracy_tta: float | None = None
    test_per_class_accuracy: list[float] | None = None
    test_confusion: list[list[int]] | None = None  # rows = true class, columns = predicted (TTA predictions)
    class_names: list[str] | None = None
    model_path: str | None = None  # the best checkpoint (.keras), when the run had an out_dir
    stopped_reason: str = "completed"  # "completed" | "early_stopping"
    backend: str | None = None  # the Keras backend it ran on (also named in `device`)
    model: Any = field(default=None, repr=False, compare=False)  # the trained keras.Model (best weights)

    @property
    def epochs_run(self) -> int:
        return len(self.epochs)

    @property
    def first_epoch_seconds(self) -> float | None:
        """The first epoch's wall time: it pays for compilation (less when the compilation cache has it)."""
        return self.epochs[0]["seconds"] if self.epochs else None

    @property
    def steady_epoch_seconds(self) -> float | None:
        """The mean wall time of the epochs after the first (None after one epoch): what each further
        epoch costs."""
        steady = [e["seconds"] for e in self.epochs[1:]]
        return sum(steady) / len(steady) if steady else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (metrics.json): NaN becomes None, the model is left out."""
        out = {
            "config": self.config.to_dict(),
            "device": self.device,
            "backend": self.backend,
            "epochs": self.epochs,
            "epochs_run": self.epochs_run,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "test_accuracy_tta": self.test_accuracy_tta,
            "test_per_class_accuracy": self.test_per_class_accuracy,
            "test_confusion": self.test_confusion,
            "class_names": self.class_names,
            "train_seconds": self.train_seconds,
            "images_per_second": self.images_per_second,
            "first_epoch_seconds": self.first_epoch_seconds,
            "steady_epoch_seconds": self.steady_epoch_seconds,
            "model_path": self.model_path,
            "stopped_reason": self.stopped_reason,
        }
        return jsonable(out)


def jsonable(value: Any) -> Any:
    """JSON-ready (metrics.json, Optuna user attrs, report files): tuples -> lists, NaN/inf -> None,
    numpy scalars -> Python numbers, dict keys -> str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)
