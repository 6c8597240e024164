"""MLflow runs (`--mlflow URI`): each trial of a study a run, nested under one parent run per study, with its
parameters, per-epoch metrics (loss, accuracy, val_loss, val_accuracy, lr; step = epoch), the baseline flag, how
it ended and why, and its kept model as an artifact.

    experiment $MLFLOW_EXPERIMENT_NAME, else "hpsearch"
      <study>                 the study's parent run: tags hpsearch.role=study, hpsearch.study, hpsearch.study_id
        trial-<n>             one per trial (mlflow.parentRunId): params, metrics by epoch, tags is_baseline,
                              hpsearch.state, hpsearch.reason; model/trial-<n>.keras when --keep-models kept it
      <run name>              a `hpsearch baseline` run (no parent): metrics by epoch, params, model/best.keras

The parent is found by its tags (a hash of the study name), never by an id handed around, so every process of a
study (--workers, other machines on a shared storage) nests its trials under the same one. The command that
starts a study creates it before any worker starts; two first starts on two machines at the same instant may
each create one: the earlier (start time, then run id) is kept and a later one deleted when its creator sees
both, and otherwise both stay, each tagged with the study.

The URI is shown masked (record/urls.py) in everything printed and is never written to MLflow. MLflow is an
optional extra (`pip install 'hpsearch[mlflow]'`): this module imports it at the top, and the commands import
this module only when --mlflow is given (commands/common.py says what to install when it is missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.environment_variables import MLFLOW_EXPERIMENT_NAME
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from rich.console import Console

from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.models import kept_file
from hpsearch.record.trials import param_values
from hpsearch.record.urls import mask_message, mask_url
from hpsearch.track.tensorboard import EpochScalars, final_metrics, write_epochs

DEFAULT_EXPERIMENT = "hpsearch"
MODEL_FOLDER = "model"  # the artifact path of a run's model
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}  # as TensorBoard's HParams status
MAX_TAG = 5000  # characters of a reason kept (MLflow takes 8,000 in a tag value)
# MLflow retries a failed request for about 4 minutes by default (it expects rate limits); a study whose server
# went away would wait that long on every call. Unless the user set them: 2 retries, 30 s a request.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # two "View run at" lines per trial otherwise
}
CHECK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}  # the first request: fail fast


class Tracking:
    """A tracking server (or store) checked to answer, and the experiment hpsearch logs to there."""

    def __init__(self, uri: str) -> None:
        self.uri, self.shown = uri, mask_url(uri)  # mask_url remembers its secrets: cli.py masks all printed
        for name, value in CLIENT_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self.experiment_name = MLFLOW_EXPERIMENT_NAME.get() or DEFAULT_EXPERIMENT
        with _environment(CHECK):
            try:
                self.client = MlflowClient(tracking_uri=uri)
                self.experiment_id = self._experiment()
            except HpsearchError:
                raise
            except Exception as exc:  # unreachable, refused, or a URI MLflow cannot use (an unknown scheme)
                raise HpsearchError(
                    f"--mlflow {self.shown}: MLflow cannot log there ({_short(exc, uri)}); start the tracking "
                    f"server (mlflow server --host HOST --port PORT) or pass the URI of one that runs "
                    f"(http://HOST:PORT, or sqlite:///FILE.db for a local file)"
                ) from None

    def _experiment(self) -> str:
        """The experiment's id, created if it does not exist (or the one another process created meanwhile)."""
        found = self.client.get_experiment_by_name(self.experiment_name)
        if found is None:
            try:
                return self.client.create_experiment(self.experiment_name)
            except MlflowException:
                found = self.client.get_experiment_by_name(self.experiment_name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            raise HpsearchError(
                f"--mlflow {self.shown}: the experiment {self.experiment_name!r} is deleted there; restore it "
                f"(mlflow experiments restore) or set MLFLOW_EXPERIMENT_NAME to another name"
            )
        return found.experiment_id

    def study_parent(self, name: str) -> str:
        """The id of study `name`'s parent run: found by its tags, else created (see the module doc). Before any
        training: a failure is one line."""
        try:
            return self._study_parent(name)
        except Exception as exc:  # refused (permissions), or the server went away since the check
            raise HpsearchError(
                f"--mlflow {self.shown}: cannot find or create the parent run of study {name!r} in experiment "
                f"{self.experiment_name!r} ({_short(exc, self.uri)}); check the server, or leave out --mlflow"
            ) from None

    def _study_parent(self, name: str) -> str:
        found = self._parents(name)
        if found:
            return found[0]
        tags = {keys.MLFLOW_ROLE: "study", keys.MLFLOW_STUDY: name, keys.MLFLOW_STUDY_ID: study_id(name)}
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        first = self._parents(name)[0]
        if first != run_id:  # another process created one at the same time, earlier: use it, drop ours
            self.client.delete_run(run_id)
        return first

    def _parents(self, name: str) -> list[str]:
        """The run ids of study `name`'s parent runs, the earliest (start time, then id) first."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{keys.MLFLOW_STUDY_ID}` = '{study_id(name)}' AND tags.`{keys.MLFLOW_ROLE}` = 'study'",
            run_view_type=ViewType.ACTIVE_ONLY,
        )
        return [r.info.run_id for r in sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))]


def study_id(name: str) -> str:
    """The tag value a study's parent run is found by: a hash, since a filter string cannot quote every name."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class MlflowRun:
    """One MLflow run: metrics by step as they come, then its params, final metrics, tags, artifacts and status.
    A run that cannot be written (the server went away) stops logging and keeps the reason in `failed`: a trial
    or a run is never lost for its MLflow run. Used as an EventLog (tensorboard.py) by EpochScalars."""

    def __init__(self, tracking: Tracking, name: str, tags: dict[str, str]) -> None:
        self.tracking, self.steps = tracking, set()
        self.failed: str | None = None  # why the run stopped being written, if it did
        created = self._call(lambda: self._client.create_run(tracking.experiment_id, run_name=name, tags=tags))
        self.run_id = created.info.run_id if created else None

    @property
    def _client(self) -> MlflowClient:
        return self.tracking.client

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """The step's values (NaN and missing ones left out), in one request."""
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if _finite(v)]
        self._call(lambda: self._client.log_batch(self.run_id, metrics=metrics))
        self.steps.add(step)

    def params(self, values: dict[str, Any]) -> None:
        self._call(lambda: self._client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in values.items()]))

    def tags(self, values: dict[str, Any]) -> None:
        tags = [RunTag(k, mask_url(str(v))[:MAX_TAG]) for k, v in values.items() if v is not None]
        self._call(lambda: self._client.log_batch(self.run_id, tags=tags))

    def artifact(self, path: str | Path) -> None:
        self._call(lambda: self._client.log_artifact(self.run_id, str(path), MODEL_FOLDER))

    def end(self, status: str) -> None:
        self._call(lambda: self._client.set_terminated(self.run_id, status))

    def _call(self, request):
        """request()'s result, or None once the run has failed (the first failure's reason is kept)."""
        if self.failed:
            return None
        try:
            return request()
        except Exception as exc:  # a server gone, a full disk behind it: this run stops, the training goes on
            self.failed = _short(exc, self.tracking.uri)
            return None


class MlflowTrials:
    """The trial hook (search/hooks.py) that logs each trial of a study as a run under the study's parent run
    (`study`, which the command opened: the server is checked and the parent found once per process)."""

    wants_model = False  # it logs the model KeepModels kept (search/keep.py), never a checkpoint of its own

    def __init__(self, study: StudyRun, console: Console | None = None, params: Sequence[str] = ()) -> None:
        self.tracking, self.name, self.parent = study.tracking, study.name, study.run_id
        self.console = console or Console()
        self.params = tuple(params)  # the space's parameters: every trial's values, the baseline's included
        self.runs: dict[int, MlflowRun] = {}
        self.study = None

    def callbacks(self, study, trial, config) -> list:
        self.study = study
        run = self.runs[trial.number] = self._start(trial)
        if run.failed:  # the trial trains without its run
            self._say(trial, f"no MLflow run ({run.failed})")
            return []
        return [EpochScalars(run)]

    def completed(self, study, trial, result, storage) -> None:
        """Its model, when KeepModels kept it (that hook runs first): the file it kept, still beside the
        checkpoint (the artifact store's copy may be deleted later, when the trial drops out of the top K)."""
        run = self.runs.get(trial.number)
        if run is None or not result.model_path or not trial.user_attrs.get(keys.MODEL_ARTIFACT):
            return
        model = kept_file(result.model_path, trial.number)
        if model.is_file():
            run.artifact(model)

    def finished(self, trial, state, epochs: list[dict]) -> None:
        run = self.runs.pop(trial.number, None) or self._start(trial)  # a trial failed before training has one too
        write_epochs(run, epochs)
        run.scalars(len(epochs), final_metrics(epochs))
        run.tags({keys.MLFLOW_STATE: state.name, keys.MLFLOW_REASON: reason(trial, state.name)})
        run.end(STATUS.get(state.name, "FAILED"))
        if run.failed:
            self._say(trial, f"its MLflow run is incomplete ({run.failed})")

    def _start(self, trial) -> MlflowRun:
        tags = {
            MLFLOW_PARENT_RUN_ID: self.parent,
            keys.MLFLOW_ROLE: "trial",
            keys.MLFLOW_STUDY: self.name,
            keys.MLFLOW_TRIAL: str(trial.number),
            keys.IS_BASELINE: str(bool(trial.user_attrs.get(keys.IS_BASELINE))),
        }
        run = MlflowRun(self.tracking, f"trial-{trial.number}", tags)
        run.params(param_values(self.study, trial, self.params))
        return run

    def _say(self, trial, text: str) -> None:
        self.console.print(f"trial {trial.number}: {text}", markup=False, highlight=False, soft_wrap=True)


class StudyRun:
    """Study `name`'s parent run, opened when the study command starts (before any training: an unreachable URI
    is one line there). `running()` sets it RUNNING while the study runs and ends it with how the study ended."""

    def __init__(self, uri: str, name: str) -> None:
        self.tracking, self.name = Tracking(uri), name
        self.run_id = self.tracking.study_parent(name)

    def print_where(self, console) -> None:
        console.print(
            f"MLflow: the trials of {self.name} are runs under parent run {self.run_id}, experiment "
            f"{self.tracking.experiment_name}, at {self.tracking.shown}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        client = self.tracking.client
        with contextlib.suppress(Exception):  # only the parent's status: the study goes on without it
            client.update_run(self.run_id, status="RUNNING")  # a resumed study's parent runs again
        status = "FAILED"
        try:
            yield
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            with contextlib.suppress(Exception):  # the study's own outcome counts, not its parent run's
                client.set_terminated(self.run_id, status)


class RunLog:
    """A `hpsearch baseline` run as one MLflow run (no parent): metrics by epoch as it trains; when it ends, its
    values (as TensorBoard's RunLog has them), final and test metrics, status and model (best.keras)."""

    def __init__(self, uri: str, name: str) -> None:
        self.name, self.log = name, MlflowRun(Tracking(uri), name, {keys.MLFLOW_ROLE: "run"})

    def callbacks(self) -> list:
        return [EpochScalars(self.log)]

    def print_where(self, console) -> None:
        tracking = self.log.tracking
        console.print(
            f"MLflow: run {self.name} ({self.log.run_id}), experiment {tracking.experiment_name}, at {tracking.shown}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def finish(self, values: dict[str, Any], result=None) -> str | None:
        """`result`: the RunResult, or None when the run failed. Returns why the run is incomplete, if it is."""
        model = result.model_path if result is not None else None
        epochs = result.epochs if result is not None else []
        final = final_metrics(epochs)
        if result is not None and result.test_accuracy is not None:
            final.update(test_accuracy=result.test_accuracy, test_accuracy_tta=result.test_accuracy_tta)
        write_epochs(self.log, epochs)
        self.log.scalars(len(epochs), final)
        self.log.params(values)
        if model and Path(model).is_file():
            self.log.artifact(model)
        self.log.end("FINISHED" if result is not None else "FAILED")
        return self.log.failed


def reason(trial, state: str) -> str | None:
    """Why a trial was pruned (the epoch and the rule, as stored) or failed (its FAIL_REASON)."""
    attrs = trial.user_attrs
    if state == "FAIL":
        return attrs.get(keys.FAIL_REASON) or "failed"
    if state == "PRUNED":
        rule = attrs.get(keys.PRUNED_BY)
        return f"pruned at epoch {attrs.get(keys.PRUNED_AT)}" + (f" by the {rule} rule" if rule else "")
    return None


def _short(exc: BaseException, uri: str) -> str:
    """An MLflow error in a few words, masked: the OS's reason when there is one ([Errno 111] Connection
    refused), else its first line, cut at 200 characters."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")\]]*|Read timed out|timed out", text)
    line = found.group(0).strip() if found else (text.splitlines() or [type(exc).__name__])[0][:200]
    return mask_message(line, uri)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ while it lasts (MLflow reads its settings there at each request)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
