"""MLflow runs against a real tracking server (`mlflow server` on 127.0.0.1, in a temporary folder, started and
stopped here), read back through MLflow's client: one parent run per study, one nested run per trial with its
parameters, metric histories, baseline flag, how it ended and why, and its kept model; an unreachable URI is
one line before any training; a password in the URI is never printed nor written."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from hpsearch.cli import main  # noqa: E402
from hpsearch.core.callbacks import TrainingDiverged  # noqa: E402
from hpsearch.record import keys  # noqa: E402
from hpsearch.record.storage import open_storage  # noqa: E402
from hpsearch.search import keep, workers  # noqa: E402
from hpsearch.search import optuna_engine as engine  # noqa: E402
from tests.fakes import fake_result  # noqa: E402

PASSWORD = "s3cret-pw"  # never printed, never written
SPEC = '[params]\npeak_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }\n'
SERVER_START = 240  # seconds to wait for the server to answer (it imports MLflow and migrates its database)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server: SQLite backend store, artifacts served through it (as a remote one)."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(folder / "server.log", "w")
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder}/mlflow.db", "--artifacts-destination", str(folder / "a")]
    # no usage telemetry; no job runner (its huey consumers: seven processes this test never uses)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [*command, "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START
    try:
        while not _answers(url + "/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield SimpleNamespace(url=url, port=port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the uvicorn process it started
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # whatever of its process group outlived it
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def experiment(monkeypatch, request):
    """Each test in an experiment of its own; no usage telemetry leaves the machine."""
    name = f"test-{request.node.name}"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return name


class ScriptedTrain:
    """Stands in for train(), by call: 0 (the baseline) and 1 complete, 2 falls far behind the baseline (pruned),
    3 diverges (FAIL, retried), 4 and later complete below the kept two (within the pruning margin). Calls the
    hooks' Keras callbacks as Keras does (after the core's on_epoch, which may prune), and writes a checkpoint
    for --keep-models."""

    CEILINGS = {0: 0.6, 1: 0.8, 2: 0.1}  # and 0.58 from call 4 on

    def __init__(self):
        self.rows: list[list[dict]] = []

    def __call__(self, config, data, on_epoch=None, out_dir=None, callbacks=()):
        call = len(self.rows)
        rows = []
        self.rows.append(rows)
        for epoch in range(1, config.epochs + 1):
            if call == 3:
                raise TrainingDiverged(f"loss became nan in epoch {epoch}")
            value = self.CEILINGS.get(call, 0.58) * (1 - 0.5**epoch)
            row = {
                "epoch": epoch,
                "loss": 2 - value,
                "accuracy": value + 0.01,
                "val_loss": 2.1 - value,
                "val_accuracy": value,
                "lr": 0.01 / epoch,
                "seconds": 0.25,
            }
            rows.append(row)
            for callback in callbacks:
                callback.set_model(SimpleNamespace(optimizer=SimpleNamespace(learning_rate=row["lr"])))
                callback.on_epoch_begin(epoch - 1)
            on_epoch(epoch, dict(row))
            for callback in callbacks:
                callback.on_epoch_end(epoch - 1, {k: row[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")})
        result = fake_result(config, rows, 0.25)
        if out_dir is not None:
            (Path(out_dir) / "best.keras").write_bytes(f"model of call {call}".encode())
            result.model_path = str(Path(out_dir) / "best.keras")
        return result


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr("gc.collect", lambda *args: 0)
    monkeypatch.setattr(keep, "save_for_inference", shutil.copyfile)  # the stand-in checkpoints are no Keras files
    fake = ScriptedTrain()
    monkeypatch.setattr(engine, "train", fake)
    return fake


def study_command(out: Path, cifar_dir, uri: str, *extra: str) -> list[str]:
    (out / "lr.toml").parent.mkdir(parents=True, exist_ok=True)
    (out / "lr.toml").write_text(SPEC)
    command = ["study", "--spec", str(out / "lr.toml"), "--profile", "smoke", "--data-dir", str(cifar_dir)]
    return command + ["--out", str(out), "--study-name", "demo", "--mlflow", uri, *extra]


def runs_of(client: MlflowClient, experiment: str, filter_string: str = "") -> list:
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], filter_string=filter_string) if found else []


def test_a_study_logs_each_trial_as_a_run_under_its_parent(server, experiment, scripted, cifar_dir, tmp_path, capsys):
    uri = server.url.replace("http://", f"http://alice:{PASSWORD}@")
    command = study_command(tmp_path, cifar_dir, uri, "--trials", "4", "--pruner", "baseline", "--keep-models", "2")
    assert main(command) == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert f"http://alice:***@127.0.0.1:{server.port}" in out  # where the runs went, masked
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes(), path

    study = optuna.load_study(study_name="demo", storage=open_storage(tmp_path / "studies" / "demo.journal"))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "FAIL", "COMPLETE"]
    client = MlflowClient(server.url)
    (parent,) = runs_of(client, experiment, f"tags.`{keys.MLFLOW_ROLE}` = 'study'")
    assert parent.info.run_name == "demo" and parent.info.status == "FINISHED"
    assert parent.data.tags[keys.MLFLOW_STUDY] == "demo"
    children = runs_of(client, experiment, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(runs_of(client, experiment)) == 1 + len(children)  # nothing outside the study's parent
    assert not any(PASSWORD in repr(run.data) for run in [parent, *children])  # no tag, param or metric holds it
    by_trial = {int(r.data.tags[keys.MLFLOW_TRIAL]): r for r in children}
    assert sorted(by_trial) == [0, 1, 2, 3, 4]

    for trial in study.trials:
        run = by_trial[trial.number]
        tags, params = run.data.tags, run.data.params
        assert run.info.run_name == f"trial-{trial.number}"
        assert tags[keys.MLFLOW_STATE] == trial.state.name
        assert run.info.status == ("FAILED" if trial.state.name == "FAIL" else "FINISHED")
        assert tags[keys.IS_BASELINE] == str(trial.number == 0)
        expected = trial.params["peak_lr"] if trial.params else study.user_attrs["base_config"]["peak_lr"]
        assert float(params["peak_lr"]) == pytest.approx(expected)
        rows = scripted.rows[trial.number]
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            history = sorted(client.get_metric_history(run.info.run_id, metric), key=lambda m: m.step)
            assert [m.step for m in history] == [r["epoch"] for r in rows], (trial.number, metric)
            assert [m.value for m in history] == pytest.approx([r[metric] for r in rows])

    pruned_at = study.trials[2].user_attrs[keys.PRUNED_AT]
    assert 1 < pruned_at < 4 and len(scripted.rows[2]) == pruned_at  # the pruning epoch too (write_epochs)
    assert by_trial[2].data.tags[keys.MLFLOW_REASON] == f"pruned at epoch {pruned_at} by the baseline rule"
    assert "TrainingDiverged: loss became nan in epoch 1" in by_trial[3].data.tags[keys.MLFLOW_REASON]
    assert keys.MLFLOW_REASON not in by_trial[1].data.tags
    assert by_trial[1].data.metrics["best_val_accuracy"] == pytest.approx(
        max(r["val_accuracy"] for r in scripted.rows[1])
    )

    # kept models: trials 0 and 1 were in the top 2 when they finished; 4 was not
    for number, kept in [(0, True), (1, True), (2, False), (3, False), (4, False)]:
        listed = [a.path for a in client.list_artifacts(by_trial[number].info.run_id, "model")]
        assert listed == ([f"model/trial-{number}.keras"] if kept else []), number
    local = client.download_artifacts(by_trial[1].info.run_id, "model/trial-1.keras", str(tmp_path / "down"))
    assert Path(local).read_bytes() == b"model of call 1"

    # a resumed study nests its new trials under the same parent
    assert main(study_command(tmp_path, cifar_dir, uri, "--trials", "5", "--pruner", "baseline")) == 0
    (again,) = runs_of(client, experiment, f"tags.`{keys.MLFLOW_ROLE}` = 'study'")
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert len(runs_of(client, experiment, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")) == 6


def test_an_unreachable_server_is_one_line_before_any_training(experiment, scripted, cifar_dir, tmp_path, capsys):
    uri = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    assert main(study_command(tmp_path, cifar_dir, uri, "--trials", "2")) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and err.startswith("hpsearch: --mlflow http://alice:***@127.0.0.1:")
    assert "mlflow server" in err and PASSWORD not in out + err
    assert scripted.rows == [] and not (tmp_path / "studies").exists()  # nothing trained, no study made


def test_a_baseline_run_is_one_run_with_its_metrics_and_model(server, experiment, monkeypatch, cifar_dir, tmp_path):
    import hpsearch.baseline

    fake = ScriptedTrain()
    monkeypatch.setattr(hpsearch.baseline, "train", fake)

    def evaluate_test(result, data):  # the stand-in checkpoint is no Keras file
        result.test_accuracy, result.test_accuracy_tta = 0.5, 0.52

    monkeypatch.setattr(hpsearch.baseline, "evaluate_test", evaluate_test)
    command = ["baseline", "--profile", "smoke", "--data-dir", str(cifar_dir), "--out", str(tmp_path)]
    assert main([*command, "--name", "b1", "--mlflow", server.url]) == 0
    client = MlflowClient(server.url)
    (run,) = runs_of(client, experiment)
    assert run.info.run_name == "b1" and run.info.status == "FINISHED" and "mlflow.parentRunId" not in run.data.tags
    assert run.data.tags[keys.MLFLOW_ROLE] == "run" and run.data.params["profile"] == "smoke"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]
    assert run.data.metrics["test_accuracy"] == 0.5 and run.data.metrics["test_accuracy_tta"] == 0.52
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/best.keras"]


def test_every_process_of_a_study_finds_the_same_parent(server, experiment):
    """Workers (or other machines) look the parent up by its tags; of two made at once, the earliest wins."""
    from hpsearch.track.mlflow import Tracking, study_id

    first = Tracking(server.url).study_parent("shared 'name'")  # a quote in the name: found by its hash
    assert Tracking(server.url).study_parent("shared 'name'") == first
    assert Tracking(server.url).study_parent("another") != first
    tracking = Tracking(server.url)
    tags = {keys.MLFLOW_ROLE: "study", keys.MLFLOW_STUDY: "raced", keys.MLFLOW_STUDY_ID: study_id("raced")}
    early = tracking.client.create_run(tracking.experiment_id, start_time=1000, run_name="raced", tags=tags)
    late = tracking.client.create_run(tracking.experiment_id, start_time=2000, run_name="raced", tags=tags)
    assert tracking.study_parent("raced") == early.info.run_id != late.info.run_id


def test_workers_get_the_uri_in_their_environment_not_on_their_command_line(tmp_path, monkeypatch):
    from hpsearch.commands import study as study_cmd
    from hpsearch.cli import build_parser

    uri = f"http://alice:{PASSWORD}@mlflow.example:5000"
    args = build_parser().parse_args(["study", "--mlflow", uri, "--workers", "2"])
    assert not any(PASSWORD in a for a in study_cmd._worker_argv(args))
    seen = tmp_path / "seen.txt"
    child = f"import os; open({str(seen)!r}, 'a').write(os.environ['{workers.MLFLOW_ENV}'] + chr(10))"
    monkeypatch.setattr(workers, "WORKER_COMMAND", [sys.executable, "-c", child])
    plan, _ = workers.plan(2, cores=[0, 1], found=[])
    assert workers.run_workers(plan, [], lambda line: None, mlflow=uri) == {1: 0, 2: 0}
    assert seen.read_text().splitlines() == [uri, uri]


def test_without_mlflow_installed_it_is_one_line(monkeypatch, cifar_dir, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    import hpsearch.track

    monkeypatch.delitem(sys.modules, "hpsearch.track.mlflow", raising=False)  # imported afresh, and fails
    monkeypatch.delattr(hpsearch.track, "mlflow", raising=False)
    assert main(study_command(tmp_path, cifar_dir, "http://127.0.0.1:5000", "--trials", "2")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pip install 'hpsearch[mlflow]'" in err


def test_a_server_gone_midway_stops_the_run_not_the_trial(server, experiment):
    import io

    from optuna.trial import TrialState
    from rich.console import Console

    from hpsearch.track.mlflow import MlflowTrials, StudyRun

    hook = MlflowTrials(StudyRun(server.url, "s"), Console(file=io.StringIO(), width=200))
    trial = SimpleNamespace(number=0, params={"peak_lr": 0.01}, user_attrs={})
    assert len(hook.callbacks(None, trial, None)) == 1

    class Gone:
        def __getattr__(self, name):
            raise ConnectionError(f"{name}: [Errno 111] Connection refused")

    hook.tracking.client = Gone()
    row = {"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5, "lr": 0.1, "seconds": 1}
    hook.finished(trial, TrialState.COMPLETE, [row])  # returns: the trial is told, whatever MLflow does
    said = hook.console.file.getvalue()
    assert said.strip() == "trial 0: its MLflow run is incomplete ([Errno 111] Connection refused)"
