"""RunResult's epoch timings: the first epoch (which compiles) apart from the steady ones."""

from hpsearch.core.config import TrainConfig
from hpsearch.core.result import RunResult


def _result(seconds):
    epochs = [{"epoch": i + 1, "seconds": s} for i, s in enumerate(seconds)]
    return RunResult(TrainConfig(), "CPU", epochs, 0.5, sum(seconds), 1.0)


def test_first_epoch_is_reported_apart_from_the_mean_of_the_steady_epochs():
    result = _result([9.0, 2.0, 4.0])
    assert (result.first_epoch_seconds, result.steady_epoch_seconds) == (9.0, 3.0)
    assert {k: result.to_dict()[k] for k in ("first_epoch_seconds", "steady_epoch_seconds")} == {
        "first_epoch_seconds": 9.0,
        "steady_epoch_seconds": 3.0,
    }
    assert _result([9.0]).steady_epoch_seconds is None and _result([]).first_epoch_seconds is None
