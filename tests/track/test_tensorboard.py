"""TensorBoard logs read back with TensorBoard's own reader: per-epoch scalars, the epoch a pruner stopped, the
HParams session (parameters, final metrics, status), and no TensorFlow needed to write them."""

import math
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from hpsearch.record.paths import tensorboard_dir
from hpsearch.track.tensorboard import TensorBoardTrials


def read(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def session(events: EventAccumulator):
    """(hparams as Python values, end status) of a run's HParams session."""
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG])
    end = plugin_data_pb2.HParamsPluginData.FromString(content[metadata.SESSION_END_INFO_TAG])
    values = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.session_start_info.hparams.items()}
    return values, end.session_end_info.status


def rows(n):
    return [
        {
            "epoch": e,
            "loss": 2.0 / e,
            "accuracy": 0.1 * e,
            "val_loss": 2.5 / e,
            "val_accuracy": 0.09 * e,
            "lr": 0.01 / e,
            "seconds": 1.5,
        }
        for e in range(1, n + 1)
    ]


def test_a_pruned_trial_has_every_epoch_and_its_hparams(tmp_path):
    """The callback never saw the epochs here (as for the epoch a pruner stops): `finished` writes them."""
    hook = TensorBoardTrials(tmp_path, "demo study")
    trial = SimpleNamespace(number=3, params={"peak_lr": 0.004, "lr_schedule": "one_cycle"}, user_attrs={})
    (callback,) = hook.callbacks(None, trial, None)
    hook.finished(trial, TrialState.PRUNED, rows(3))
    events = read(tensorboard_dir(tmp_path, "demo study") / "trial-3")  # a safe folder name
    for tag in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert [s.step for s in events.Scalars(tag)] == [1, 2, 3]
        assert [s.value for s in events.Scalars(tag)] == pytest.approx([r[tag] for r in rows(3)], rel=1e-6)
    assert events.Scalars("best_val_accuracy")[-1].value == pytest.approx(0.27)
    assert events.Scalars("epochs_run")[-1].value == 3 and events.Scalars("train_seconds")[-1].value == 4.5
    values, status = session(events)
    assert values == {
        "peak_lr": pytest.approx(0.004),
        "lr_schedule": "one_cycle",
        "is_baseline": False,
        "state": "PRUNED",
    }
    assert status == api_pb2.STATUS_SUCCESS


def test_nan_is_left_out_and_a_failed_trial_says_so(tmp_path):
    hook = TensorBoardTrials(tmp_path, "s")
    trial = SimpleNamespace(number=0, params={}, user_attrs={"is_baseline": True})
    hook.callbacks(None, trial, None)
    epochs = rows(2)
    epochs[1]["loss"] = math.nan
    hook.finished(trial, TrialState.FAIL, epochs)
    events = read(tmp_path / "tensorboard" / "s" / "trial-0")
    assert [s.step for s in events.Scalars("loss")] == [1] and len(events.Scalars("val_loss")) == 2
    assert session(events) == ({"is_baseline": True, "state": "FAIL"}, api_pb2.STATUS_FAILURE)


def test_written_without_tensorflow(tmp_path):
    """On JAX with TensorFlow made unimportable, the logs are still written (and TensorFlow never loads)."""
    script = textwrap.dedent(
        f"""
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("no tensorflow here")
        sys.meta_path.insert(0, NoTensorFlow())
        from types import SimpleNamespace
        from optuna.trial import TrialState
        from hpsearch.track.tensorboard import TensorBoardTrials
        hook = TensorBoardTrials({str(tmp_path)!r}, "s")
        trial = SimpleNamespace(number=1, params={{"x": 1.0}}, user_attrs={{}})
        hook.callbacks(None, trial, None)
        hook.finished(trial, TrialState.COMPLETE, [dict(epoch=1, loss=1.0, accuracy=0.5, val_loss=1.0,
                      val_accuracy=0.5, lr=0.1, seconds=1.0)])
        assert "tensorflow" not in sys.modules, "tensorflow was imported"
        """
    )
    import os

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read(tmp_path / "tensorboard" / "s" / "trial-1").Scalars("val_accuracy")[0].value == 0.5


def test_a_log_that_cannot_be_written_costs_nothing_but_itself(tmp_path, capsys):
    import io

    from rich.console import Console

    hook = TensorBoardTrials(tmp_path, "s", Console(file=io.StringIO()))
    blocked = tmp_path / "tensorboard"
    blocked.write_text("a file where the folder would go")
    trial = SimpleNamespace(number=0, params={}, user_attrs={})
    assert hook.callbacks(None, trial, None) == []  # the trial trains without a log
    hook.finished(trial, TrialState.COMPLETE, rows(1))  # and finishing it does not fail
    assert "trial 0: no TensorBoard log" in hook.console.file.getvalue()


def test_a_write_that_fails_midway_stops_the_log_not_the_trial(tmp_path):
    import io

    from rich.console import Console

    class FullDisk:
        def add_event(self, event):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    hook = TensorBoardTrials(tmp_path, "s", Console(file=io.StringIO()))
    trial = SimpleNamespace(number=2, params={}, user_attrs={})
    hook.callbacks(None, trial, None)
    hook.logs[2].writer = FullDisk()
    hook.finished(trial, TrialState.COMPLETE, rows(2))
    assert "its TensorBoard log" in hook.console.file.getvalue() and "No space left" in hook.console.file.getvalue()


def test_the_baselines_hparams_are_its_own_values_at_the_spaces_scale(tmp_path):
    """The baseline samples nothing: its HParams row is read from its stored config (widths at full scale)."""
    from hpsearch.core.config import TrainConfig
    from hpsearch.core.result import jsonable

    base = TrainConfig.from_profile("smoke")
    study = SimpleNamespace(user_attrs={"base_config": jsonable(base.to_dict())})
    hook = TensorBoardTrials(tmp_path, "s", params=["label_smoothing", "width_1", "lookahead_k"])
    trial = SimpleNamespace(number=0, params={}, user_attrs={"is_baseline": True, "config": {}})
    hook.callbacks(study, trial, base)
    hook.finished(trial, TrialState.COMPLETE, rows(1))
    values, _ = session(read(tmp_path / "tensorboard" / "s" / "trial-0"))
    assert values["label_smoothing"] == pytest.approx(base.label_smoothing) and values["width_1"] == 128
    assert values["lookahead_k"] == base.lookahead_k and values["is_baseline"] is True
