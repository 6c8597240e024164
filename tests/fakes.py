"""What a fake `train` returns: a RunResult from the epochs it made up (for tests where only bookkeeping counts)."""

from hpsearch.core.result import RunResult


def fake_result(config, epochs: list[dict], seconds_per_epoch: float) -> RunResult:
    return RunResult(
        config=config,
        device="fake",
        epochs=epochs,
        val_accuracy=max(e["val_accuracy"] for e in epochs),
        train_seconds=seconds_per_epoch * len(epochs),
        images_per_second=1.0,
    )
