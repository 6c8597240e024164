"""TensorBoard logs: per-epoch scalars (loss, accuracy, val_loss, val_accuracy, lr) and the HParams summary
(the trial's parameters and final metrics), so TensorBoard's HParams tab compares the trials of a study.

    OUT/tensorboard/<study>/trial-<n>/      one folder (a TensorBoard run and HParams session) per trial
    OUT/tensorboard/<run name>/             a `hpsearch baseline` run

Written with the `tensorboard` package's own event writer and protos, never TensorFlow's summary API: the
same files on JAX and PyTorch, where TensorFlow need not be installed (`tensorboard` is a dependency of
hpsearch for this; it is pure Python plus a small data server).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

import keras
from rich.console import Console
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from hpsearch.core.callbacks import current_lr
from hpsearch.record import keys
from hpsearch.record.paths import tensorboard_dir
from hpsearch.record.trials import param_values

SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")  # RunResult.epochs columns, one tag each
FINAL = ("best_val_accuracy", "epochs_run", "train_seconds")  # the HParams tab's metric columns, besides SCALARS
STATUS = {"COMPLETE": api_pb2.STATUS_SUCCESS, "PRUNED": api_pb2.STATUS_SUCCESS, "FAIL": api_pb2.STATUS_FAILURE}


class EventLog:
    """One TensorBoard run folder: scalars by step, then one HParams session (its values and status)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(self.folder))
        self.steps: set[int] = set()
        self.started = time.time()
        self.failed: str | None = None  # why the log stopped being written, if it did

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """The epoch's values (NaN and missing ones left out), written through to the file."""
        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag=tag, simple_value=float(values[tag]))
                for tag in values
                if isinstance(values[tag], (int, float)) and math.isfinite(values[tag])
            ]
        )
        self._write(summary, step)
        self.steps.add(step)

    def hparams(self, values: dict[str, Any], final: dict[str, float], status: int, step: int) -> None:
        """The HParams session: `values` (parameters: numbers, strings, bools; others as text), `final` metrics
        as scalars at `step`, and the session's status."""
        self.scalars(step, final)
        start = plugin_data_pb2.SessionStartInfo(group_name=self.folder.name, start_time_secs=self.started)
        for name, value in sorted(values.items()):
            if isinstance(value, bool):
                start.hparams[name].bool_value = value
            elif isinstance(value, (int, float)):
                start.hparams[name].number_value = value
            else:
                start.hparams[name].string_value = str(value)
        end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
        self._plugin(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start))
        self._plugin(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception as exc:  # see _write
            self.failed = self.failed or f"{type(exc).__name__}: {exc}"

    def _plugin(self, tag: str, data) -> None:
        data.version = metadata.PLUGIN_DATA_VERSION
        value = summary_pb2.Summary.Value(
            tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
        )
        self._write(summary_pb2.Summary(value=[value]), 0)

    def _write(self, summary, step: int) -> None:
        """A log that cannot be written (disk full, folder removed) stops logging and keeps the reason in
        `failed`: a trial or run is never lost for its TensorBoard log."""
        if self.failed:
            return
        try:
            self.writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
            self.writer.flush()  # a long study is watched live
        except Exception as exc:  # the writer's own thread re-raises whatever it met
            self.failed = f"{type(exc).__name__}: {exc}"


class EpochScalars(keras.callbacks.Callback):
    """Writes each epoch's SCALARS to an EventLog as the epoch ends (step = epoch, from 1); the LR is the
    one of the epoch's first step, as EpochRecorder records it."""

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self.log, self._lr = log, math.nan

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = current_lr(self.model.optimizer)

    def on_epoch_end(self, epoch, logs=None):
        self.log.scalars(epoch + 1, {**{k: (logs or {}).get(k, math.nan) for k in SCALARS[:-1]}, "lr": self._lr})


def final_metrics(epochs: list[dict]) -> dict[str, float]:
    accuracies = [e["val_accuracy"] for e in epochs if _finite(e.get("val_accuracy"))]
    return {
        "best_val_accuracy": max(accuracies) if accuracies else math.nan,
        "epochs_run": float(len(epochs)),
        "train_seconds": float(sum(e.get("seconds") or 0 for e in epochs)),
    }


def write_epochs(log: EventLog, epochs: list[dict]) -> None:
    """The epochs the callback did not see (the epoch a pruner stopped: it raises before later callbacks)."""
    for row in epochs:
        if int(row["epoch"]) not in log.steps:
            log.scalars(int(row["epoch"]), {k: row.get(k, math.nan) for k in SCALARS})


class TensorBoardTrials:
    """The trial hook (search/hooks.py) that logs each trial of study `name` under OUT/tensorboard/<name>/."""

    wants_model = False

    def __init__(self, out: str | Path, name: str, console: Console | None = None, params: Sequence[str] = ()) -> None:
        self.root = tensorboard_dir(out, name)
        self.logs: dict[int, EventLog] = {}
        self.console = console or Console()
        self.params = tuple(params)  # the space's parameters: every trial's values, the baseline's included
        self.study = None

    def callbacks(self, study, trial, config) -> list:
        self.study = study
        try:
            log = self.logs[trial.number] = EventLog(self.root / f"trial-{trial.number}")
        except OSError as exc:  # the trial trains without its log
            self.console.print(
                f"trial {trial.number}: no TensorBoard log ({exc.strerror or exc})", markup=False, highlight=False
            )
            return []
        return [EpochScalars(log)]

    def completed(self, study, trial, result, storage) -> None:
        pass

    def finished(self, trial, state, epochs: list[dict]) -> None:
        log = self.logs.pop(trial.number, None)
        if log is None:  # failed before training began
            return
        write_epochs(log, epochs)
        values = {
            **self._values(trial),
            keys.IS_BASELINE: bool(trial.user_attrs.get(keys.IS_BASELINE)),
            "state": state.name,
        }
        log.hparams(values, final_metrics(epochs), STATUS.get(state.name, api_pb2.STATUS_UNKNOWN), len(epochs))
        log.close()
        if log.failed:
            self.console.print(
                f"trial {trial.number}: its TensorBoard log in {log.folder} is incomplete ({log.failed})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def _values(self, trial) -> dict[str, Any]:
        """The trial's parameters, the baseline's included (record.trials.param_values)."""
        return param_values(self.study, trial, self.params)


class RunLog:
    """A single run's log (a `hpsearch baseline` run): OUT/tensorboard/<run name>/, scalars as it trains, the
    HParams session when it ends (its TrainConfig fields that differ from its profile's baseline)."""

    def __init__(self, out: str | Path, name: str) -> None:
        self.log = EventLog(tensorboard_dir(out, name))

    def callbacks(self) -> list:
        return [EpochScalars(self.log)]

    def finish(self, values: dict[str, Any], result=None) -> None:
        """`result`: the RunResult, or None when the run failed."""
        epochs = result.epochs if result is not None else []
        final = final_metrics(epochs)
        if result is not None and result.test_accuracy is not None:
            final.update(test_accuracy=result.test_accuracy, test_accuracy_tta=result.test_accuracy_tta)
        status = api_pb2.STATUS_SUCCESS if result is not None else api_pb2.STATUS_FAILURE
        self.log.hparams(values, final, status, len(epochs))
        self.log.close()


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
