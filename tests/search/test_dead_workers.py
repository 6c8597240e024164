"""Workers that die, share a database across machines, or are interrupted: dead-worker detection by process
table on a journal file only, a worker whose trial another marked goes on, and any number of Ctrl-C
leaves no trial RUNNING and queues the interrupted parameters again (as a killed worker's are)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.record import storage as storage_module
from hpsearch.search import optuna_engine as engine
from tests.search.test_optuna_engine import FakeTrain, dead_pid, finished, study
from tests.search.test_optuna_engine import fake_train as fake_train  # noqa: PLC0414 - the fixture, shared

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind, failed", [("journal", True), ("sqlite", True), ("shared database", False)])
def test_the_process_table_is_asked_only_for_a_file_of_this_machine(kind, failed, tmp_path, monkeypatch, fake_train):
    """Two machines with the same hostname (containers) on one shared database: a pid that is not running here
    may run there, so only heartbeats may fail the trial; a journal or SQLite file is one machine's, so the pid
    tells. (The shared database: the SQLite file opened as PostgreSQL's would be, without the local lock.)"""
    monkeypatch.setattr(storage_module.socket, "gethostname", lambda: "worker-box")
    url = str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path / 'hp.db'}"
    opened = storage_module.open_storage(url)
    if kind == "shared database":
        opened.hpsearch_lock_path = None
    assert storage_module.is_local(opened) is failed
    s = study(tmp_path, 1, storage=opened)
    theirs = s.ask({"peak_lr": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    theirs.set_user_attr("worker", f"worker-box:{dead_pid()}")  # dead here, or the other machine's live worker
    assert storage_module.recover_dead_workers(s, opened) == ([theirs.number] if failed else [])
    s = optuna.load_study(study_name="s", storage=opened)
    assert (s.trials[theirs.number].state == TrialState.FAIL) is failed
    assert [t.user_attrs.get("retry_of") for t in s.trials].count(theirs.number) == int(failed)


class _MarkedByAnother(FakeTrain):
    """Trains; meanwhile another worker (its own storage handle) fails this trial as heartbeat-stale and
    queues a retry, at epoch `at` (or after the last epoch: "end")."""

    def __init__(self, url, at):
        super().__init__()
        self.url, self.at, self.marked = url, at, []

    def __call__(self, config, data, on_epoch=None, **kwargs):
        def epoch(number, logs):
            if number == self.at:
                self._mark()
            on_epoch(number, logs)

        result = super().__call__(config, data, on_epoch=epoch)
        if self.at == "end":
            self._mark()
        return result

    def _mark(self):
        if self.marked or len(self.configs) != 2:  # the first trial after the baseline
            return
        other = storage_module.open_storage(self.url, heartbeat=False)
        theirs = optuna.load_study(study_name="s", storage=other)
        trial = theirs.get_trials(states=(TrialState.RUNNING,))[0]
        other.set_trial_user_attr(trial._trial_id, "fail_reason", "heartbeat stale (marked by another worker)")
        other.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        storage_module.retry_stale_trial(theirs, trial)
        self.marked.append(trial.number)


@pytest.mark.parametrize("at", [2, "end"])
def test_a_worker_whose_trial_another_marked_goes_on(at, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hp.db'}"
    fake = _MarkedByAnother(url, at)
    monkeypatch.setattr(engine, "train", fake)
    console = Console(file=io.StringIO(), width=200)
    s = study(tmp_path, 3, storage=url, console=console, prune_margin=None)  # before: UpdateFinishedTrialError
    [number] = fake.marked
    assert s.trials[number].state == TrialState.FAIL
    assert s.trials[number].user_attrs["fail_reason"] == "heartbeat stale (marked by another worker)"
    assert f"trial {number}: taken over" in console.file.getvalue()
    assert len(finished(s)) == 3 and not s.get_trials(states=(TrialState.RUNNING,))
    assert [t.user_attrs.get("retry_of") for t in s.trials].count(number) == 1


SCRIPT = """
import os, signal, sys, time
from pathlib import Path
import optuna
from rich.console import Console
from hpsearch.search import optuna_engine as engine
from tests.search.test_optuna_engine import SPEC, BASE, FakeTrain

folder, mode = Path(sys.argv[1]), sys.argv[2]

class Slow(FakeTrain):
    def __call__(self, config, data, on_epoch=None, **kwargs):
        if len(self.configs) == 1:                       # the trial after the baseline: wait for Ctrl-C
            (folder / "started").write_text("")
            def slow(epoch, logs):
                on_epoch(epoch, logs)
                time.sleep(60)
            return super().__call__(config, data, on_epoch=slow)
        return super().__call__(config, data, on_epoch=on_epoch)

engine.train = Slow()
if mode == "during-finish":                      # a second Ctrl-C exactly while the first is being recorded
    attrs = engine.trial_attrs
    def trial_attrs(*args, **kwargs):
        if "interrupted" in (kwargs.get("fail_reason") or ""):
            os.kill(os.getpid(), signal.SIGINT)
        return attrs(*args, **kwargs)
    engine.trial_attrs = trial_attrs
if mode == "during-claim":                       # Ctrl-C between asking for a trial and recording its owner
    claim = engine.claim
    def claiming(trial):
        claim(trial)
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGINT)
    engine.claim = claiming
try:
    engine.run_study(SPEC, None, trials=3, profile="smoke", base=BASE, out=folder, study_name="s", seed=1,
                     console=Console(file=sys.stderr))
except KeyboardInterrupt:
    sys.exit(130)
"""


def start_script(path: Path, text: str, args: list[str], backend: str | None = None) -> subprocess.Popen:
    """Write the Python script `text` to `path` and start it with `args` on this copy of hpsearch, its output
    (stdout and stderr) in one pipe."""
    path.write_text(textwrap.dedent(text))
    backend = backend or os.environ.get("KERAS_BACKEND", "jax")
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("mode", ["two-ctrl-c", "during-finish"])
def test_any_number_of_ctrl_c_leaves_nothing_running_and_requeues_the_trial(mode, tmp_path):
    worker = start_script(tmp_path / "worker.py", SCRIPT, [str(tmp_path), mode])
    try:
        for _ in range(1200):  # start-up (Keras import) is slow on a busy machine
            if (tmp_path / "started").exists() or worker.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # inside the trial's first epoch
        worker.send_signal(signal.SIGINT)
        if mode == "two-ctrl-c":
            time.sleep(0.1)
            worker.send_signal(signal.SIGINT)
        output = worker.communicate(timeout=120)[0]
    finally:
        worker.kill()
    assert worker.returncode == 130, output
    s = optuna.load_study(study_name="s", storage=storage_module.open_storage(tmp_path / "studies" / "s.journal"))
    assert not s.get_trials(states=(TrialState.RUNNING,)), output
    interrupted = s.trials[1]
    assert interrupted.state == TrialState.FAIL and "interrupted" in interrupted.user_attrs["fail_reason"]
    [retry] = [t for t in s.trials if t.user_attrs.get("retry_of") == 1]
    assert retry.state == TrialState.WAITING and retry.system_attrs["fixed_params"] == interrupted.params
    assert s.trials[0].state == TrialState.COMPLETE  # what had finished is kept


def test_ctrl_c_while_a_trial_is_claimed_leaves_nothing_running(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax")}
    worker = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "during-claim"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 130, worker.stdout + worker.stderr
    s = optuna.load_study(study_name="s", storage=storage_module.open_storage(tmp_path / "studies" / "s.journal"))
    assert [t.state for t in s.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert s.trials[1].user_attrs["fail_reason"].startswith("interrupted") and s.trials[1].user_attrs["worker"]
