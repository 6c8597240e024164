"""A worker killed with SIGKILL mid-trial, then the same study started again, on every storage kind: the total
means finished. On a journal or SQLite file the dead worker's trial is failed and retried at once; on a shared
database (PostgreSQL: HPSEARCH_TEST_POSTGRES_URL) only its heartbeat can tell, and the new start waits for it,
saying so, instead of ending with exit 0 and fewer finished trials."""

from __future__ import annotations

import io
import signal
import threading
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpsearch.core.device import chosen_backend
from hpsearch.record import storage as storage_module
from tests.search.test_dead_workers import start_script
from tests.search.test_optuna_engine import finished, study
from tests.storages import KINDS, storage_url
from tests.search.test_optuna_engine import fake_train as fake_train  # noqa: PLC0414 - the fixture, shared


# A worker of study NAME on STORAGE whose second trial (after the baseline) never ends: the test kills it there.
WORKER = """
import sys, time
from pathlib import Path
from rich.console import Console
from hpsearch.core.device import chosen_backend
from hpsearch.record import storage as storage_module
from hpsearch.search import optuna_engine as engine
from hpsearch.search import optuna_engine as engine
from tests.search.test_optuna_engine import SPEC, BASE, FakeTrain

folder, url, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
storage_module.HEARTBEAT_INTERVAL = 1

class Stuck(FakeTrain):
    def __call__(self, config, data, on_epoch=None, **kwargs):
        if len(self.configs) == 1:
            def stuck(epoch, logs):
                on_epoch(epoch, logs)
                (folder / "started").write_text("")
                time.sleep(600)
            return super().__call__(config, data, on_epoch=stuck)
        return super().__call__(config, data, on_epoch=on_epoch)

engine.train = Stuck()
engine.run_study(SPEC, None, trials=3, profile="smoke", base=BASE, out=folder, study_name=name, seed=1,
                 storage=url, console=Console(file=sys.stderr))
"""


def _killed_mid_trial(tmp_path: Path, url: str, name: str) -> None:
    # on this process's backend: the study records it, and the start here checks it
    worker = start_script(tmp_path / "worker.py", WORKER, [str(tmp_path), url, name], backend=chosen_backend())
    try:
        while not (tmp_path / "started").exists():  # the trial has reported an epoch: it is RUNNING
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        worker.kill()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_killed_workers_trial_never_counts_toward_the_total(kind, tmp_path, monkeypatch, fake_train):
    monkeypatch.setattr(storage_module, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE", 3)
    url, name = storage_url(kind, tmp_path), f"killed-{uuid.uuid4().hex[:8]}"
    _killed_mid_trial(tmp_path, url, name)
    stuck = optuna.load_study(study_name=name, storage=storage_module.open_storage(url)).trials[1]
    assert stuck.state == TrialState.RUNNING  # as SIGKILL leaves it

    console = Console(file=io.StringIO(), width=300)
    alive = None
    if kind == "postgres":  # its worker beats on (alive, as far as anyone can tell) until this start waits for it
        beats = storage_module.open_storage(url)
        stuck_id = storage_module.trial_id(beats, optuna.load_study(study_name=name, storage=beats), 1)

        def beating():
            while "waiting for trial(s) 1" not in console.file.getvalue():
                beats.record_heartbeat(stuck_id)
                time.sleep(0.2)

        beats.record_heartbeat(stuck_id)  # before this start looks
        alive = threading.Thread(target=beating, daemon=True)
        alive.start()
    s = study(tmp_path, 3, storage=url, study_name=name, console=console)  # the same command again
    if alive is not None:
        alive.join(timeout=5)
    said = console.file.getvalue()
    assert len(finished(s)) == 3 and not s.get_trials(states=(TrialState.RUNNING, TrialState.WAITING)), said
    assert s.trials[1].state == TrialState.FAIL
    [retry] = [t for t in s.trials if t.user_attrs.get("retry_of") == 1]
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED) and retry.params == stuck.params
    if kind == "postgres":  # only the heartbeat can tell: the start waited for it, and said so
        assert "2 of 3 trials finished; waiting for trial(s) 1 (" in said
    else:  # the process table told at once
        assert "marked trial(s) 1 FAIL: their worker had died" in said and "waiting" not in said
        assert "died" in s.trials[1].user_attrs["fail_reason"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_on_a_shared_database_a_trial_that_never_beat_is_failed_after_the_grace(tmp_path, monkeypatch, fake_train):
    """A RUNNING trial without a single heartbeat (its worker killed before the first, or not hpsearch's) would
    never go stale in Optuna's eyes; waiting for it would never end."""
    monkeypatch.setattr(storage_module, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(storage_module, "HEARTBEAT_GRACE", 1)
    opened = storage_module.open_storage(f"sqlite:///{tmp_path / 'hp.db'}")
    opened.hpsearch_lock_path = None  # as a shared database: the process table proves nothing
    s = study(tmp_path, 1, storage=opened)
    silent = s.ask({"peak_lr": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    silent.set_user_attr("worker", "another-host:1")
    s = study(tmp_path, 3, storage=opened)  # it ends: a trial that never beat is not waited on for ever
    assert s.trials[silent.number].state == TrialState.FAIL
    assert "no heartbeat" in s.trials[silent.number].user_attrs["fail_reason"]
    assert len(finished(s)) == 3 and not s.get_trials(states=(TrialState.RUNNING,))
