"""`hpsearch study --workers N`: the plan (cores, GPUs, memory shares) and the parent with real worker processes.

The processes are real (a parent `hpsearch study --workers 2` and its workers on one journal file); only
training is a stand-in that sleeps through its epochs, because here only the bookkeeping matters.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.commands import study as study_command
from hpsearch.commands.common import add_backend_argument
from hpsearch.errors import HpsearchError
from hpsearch.record.storage import open_storage
from hpsearch.search import workers
from hpsearch.search.workers import Gpu

ROOT = Path(__file__).resolve().parents[2]
URL = "postgresql://hpsearch:s3cret@db-host:5432/hpsearch"  # never contacted: the tests stop before
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SPEC = """
[params]
peak_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
"""
# A worker whose train() sleeps EPOCH_SECONDS per epoch; its first trial waits until both workers have one
# running (a file per worker in BARRIER), so the tests see two trials at the same time, every run.
FAKE_WORKER = """
import os, sys, time
from pathlib import Path
from hpsearch.core.result import RunResult
from hpsearch.search import optuna_engine

BARRIER, started = Path(sys.argv.pop(1)), []

def train(config, data, on_epoch=None, **_):
    if not started:
        started.append(True)
        (BARRIER / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(BARRIER.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    rows = []
    for epoch in range(1, config.epochs + 1):
        time.sleep(0.4)
        row = {"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5 + 0.01 * epoch,
               "lr": 0.001, "seconds": 0.4}
        rows.append(row)
        on_epoch(epoch, dict(row))
    return RunResult(config=config, device="fake", epochs=rows, val_accuracy=rows[-1]["val_accuracy"],
                     train_seconds=0.4 * len(rows), images_per_second=1.0)

optuna_engine.train = train
from hpsearch.cli import main
sys.exit(main(["study", *sys.argv[1:]]))
"""
PARENT = """
import sys
from hpsearch.search import workers
workers.WORKER_COMMAND = [sys.executable, sys.argv.pop(1), sys.argv.pop(1)]
from hpsearch.cli import main
sys.exit(main(["study", *sys.argv[1:]]))
"""


# --- the plan -----------------------------------------------------------------------------------------------


def test_cpu_workers_get_disjoint_cores_covering_the_machine_and_matching_thread_pools():
    plan, why = workers.plan(3, cores=list(range(8)), found=[])
    cores = [set(w.cores) for w in plan]
    assert [len(c) for c in cores] == [3, 3, 2] and set().union(*cores) == set(range(8))
    assert sum(map(len, cores)) == 8  # disjoint
    assert [w.env["TF_NUM_INTRAOP_THREADS"] for w in plan] == ["3", "3", "2"]
    assert all(w.env["OMP_NUM_THREADS"] == str(len(w.cores)) and w.gpu is None for w in plan)
    assert not any("CUDA_VISIBLE_DEVICES" in w.env for w in plan) and "3 workers" in why


def test_workers_sharing_a_gpu_split_its_memory_and_several_gpus_take_turns():
    one, _ = workers.plan(2, cores=list(range(4)), found=[Gpu("0", "H100", 81559)])
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in one] == ["0", "0"]
    assert all(
        w.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.450" and w.env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for w in one
    )
    two, _ = workers.plan(2, ["2", "3"], cores=list(range(4)), found=[Gpu("1"), Gpu("2"), Gpu("3")])
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in two] == ["2", "3"]
    assert all("XLA_PYTHON_CLIENT_MEM_FRACTION" not in w.env for w in two)  # a GPU each: all of its memory
    with pytest.raises(HpsearchError, match="--gpus names 2 GPUs but --workers is 1"):
        workers.plan(1, ["0", "1"], cores=[0], found=[Gpu("0"), Gpu("1")])


def test_auto_says_what_it_picked_and_why():
    n, why = workers.auto_count(2, [])
    assert n == 1 and "no GPU, 2 cores" in why
    assert workers.auto_count(16, [])[0] == 8
    n, why = workers.auto_count(16, [Gpu("0", "H100", 81559)])
    assert n == workers.MAX_PER_GPU and "H100 80 GiB" in why
    assert workers.auto_count(4, [Gpu("0", "H100", 81559)])[0] == 2  # not more than the cores can feed
    assert workers.auto_count(16, [Gpu("0", "small", 6000), Gpu("1", "small", 6000)])[0] == 2


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_workers_is_a_one_line_error(text):
    with pytest.raises(ValueError, match="positive number or auto"):
        workers.parse_workers(text)
    assert workers.parse_gpus("0, 1") == ["0", "1"]
    with pytest.raises(ValueError, match="distinct GPU numbers"):
        workers.parse_gpus("0,0")


def parse(*argv: str) -> argparse.Namespace:
    """`hpsearch study`'s options as cli.py builds them (with --backend, --cache-dir and --verbose)."""
    parser = argparse.ArgumentParser()
    study_command.add_arguments(parser)
    add_backend_argument(parser)
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(list(argv))


def test_a_worker_gets_every_option_as_given_and_one_worker_each():
    args = parse(
        "--storage",
        URL,
        "--profile",
        "smoke",
        "--trials",
        "7",
        "--no-prune",
        "--prune-warmup",
        "3",
        "--workers",
        "2",
        "--gpus",
        "0,1",
        "--objectives",
        "accuracy",
        "--backend",
        "jax",
        "--cache-dir",
        "/tmp/cache here",
        "--verbose",
    )
    argv = study_command._worker_argv(args)
    child = parse(*argv)
    assert child.backend == "jax" and child.cache_dir == "/tmp/cache here" and child.verbose
    assert child.workers is None and child.gpus is None
    assert {k: v for k, v in vars(child).items() if k not in ("workers", "gpus", "storage")} == {
        k: v for k, v in vars(args).items() if k not in ("workers", "gpus", "storage")
    }
    # the storage URL (a password, maybe) never reaches the process table: it goes in the environment
    assert args.storage == URL and child.storage is None and not any("s3cret" in a for a in argv)


def test_the_workers_get_the_storage_in_their_environment_not_on_their_command_line(tmp_path, monkeypatch):
    seen = tmp_path / "seen.txt"
    child = (
        f"import json, os, sys; open({str(seen)!r}, 'a').write("
        f"json.dumps([sys.argv, os.environ.get('{workers.STORAGE_ENV}')]) + chr(10))"
    )
    monkeypatch.setattr(workers, "WORKER_COMMAND", [sys.executable, "-c", child])
    plan, _ = workers.plan(2, cores=[0, 1], found=[])
    codes = workers.run_workers(plan, ["--trials", "3"], lambda line: None, storage=URL)
    assert codes == {1: 0, 2: 0}
    lines = [json.loads(line) for line in seen.read_text().splitlines()]
    assert len(lines) == 2 and all(env == URL and not any("s3cret" in a for a in argv) for argv, env in lines)


def test_a_worker_reads_the_storage_its_parent_handed_over(tmp_path, monkeypatch, cifar_dir):
    """The child end: `hpsearch study --worker-number N` without --storage opens STORAGE_ENV's storage."""
    opened = []

    def stop_here(where, *args, **kwargs):
        opened.append(str(where))
        raise HpsearchError("stop")

    monkeypatch.setenv(workers.STORAGE_ENV, str(tmp_path / "shared.journal"))
    monkeypatch.setattr(study_command, "open_storage", stop_here)
    args = parse("--profile", "smoke", "--out", str(tmp_path), "--data-dir", str(cifar_dir), "--worker-number", "1")
    with pytest.raises(HpsearchError, match="stop"):
        study_command.run(args)
    assert opened == [str(tmp_path / "shared.journal")]


def test_keras_tuner_refuses_several_workers_before_loading_data(tmp_path):
    with pytest.raises(HpsearchError, match="keras-tuner runs one trial at a time"):
        study_command.run(
            parse(
                "--engine",
                "keras-tuner",
                "--workers",
                "2",
                "--data-dir",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path),
            )
        )


# --- the parent and its workers, as processes -----------------------------------------------------------------


@pytest.fixture
def parent(tmp_path, cifar_dir):
    """start(trials) -> the Popen of `hpsearch study --workers 2` on a fresh barrier (same study each call)."""
    (tmp_path / "fake_worker.py").write_text(FAKE_WORKER)
    (tmp_path / "parent.py").write_text(PARENT)
    (tmp_path / "spec.toml").write_text(SPEC)
    calls = []

    def start(trials: int) -> subprocess.Popen:
        barrier = tmp_path / f"barrier{len(calls)}"
        barrier.mkdir()
        calls.append(barrier)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [
                sys.executable,
                str(tmp_path / "parent.py"),
                str(tmp_path / "fake_worker.py"),
                str(barrier),
                "--spec",
                str(tmp_path / "spec.toml"),
                "--profile",
                "smoke",
                "--data-dir",
                str(cifar_dir),
                "--out",
                str(tmp_path / "out"),
                "--study-name",
                "w",
                "--trials",
                str(trials),
                "--no-prune",
                "--workers",
                "2",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    return start


def load(tmp_path) -> optuna.Study:
    return optuna.load_study(study_name="w", storage=open_storage(tmp_path / "out" / "studies" / "w.journal"))


def wait_until(tmp_path, proc, ready, limit=240.0) -> optuna.Study:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            s = load(tmp_path)
            if ready(s):
                return s
        except (KeyError, FileNotFoundError):  # the study is not created yet
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"timed out: {proc.communicate()[0][-3000:]}")


def running(s: optuna.Study) -> list:
    return [t for t in s.get_trials(states=(TrialState.RUNNING,)) if "config" in t.user_attrs]


def owner_pid(trial) -> int:
    return int(trial.user_attrs["worker"].rpartition(":")[2])


@pytest.mark.slow
def test_two_workers_finish_the_total_at_once_with_distinct_numbers_and_one_baseline(tmp_path, parent):
    proc = parent(5)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    s = load(tmp_path)
    done = s.get_trials(states=FINISHED)
    assert len(done) == 5 and len({t.number for t in s.trials}) == len(s.trials)
    assert not s.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert sum(bool(t.user_attrs.get("is_baseline")) for t in done) == 1
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both workers trained trials ...
    first, second = sorted(done, key=lambda t: t.datetime_start)[:2]
    assert second.datetime_start < first.datetime_complete  # ... at the same time
    assert "w1: trial" in output and "w2: trial" in output
    assert (tmp_path / "out" / "reports" / "w" / "report.html").is_file() and output.count("wrote ") == 2


@pytest.mark.slow
def test_a_sigkilled_workers_trial_is_retried_by_the_other(tmp_path, parent):
    proc = parent(5)
    s = wait_until(tmp_path, proc, lambda s: any(not t.user_attrs.get("is_baseline") for t in running(s)))
    victim = next(t for t in running(s) if not t.user_attrs.get("is_baseline"))
    os.kill(owner_pid(victim), signal.SIGKILL)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output  # the survivor made up for it
    assert "killed by signal 9" in output
    s = load(tmp_path)
    assert s.trials[victim.number].state == TrialState.FAIL
    assert "died" in s.trials[victim.number].user_attrs["fail_reason"]
    retry = [t for t in s.trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == victim.params
    assert len(s.get_trials(states=FINISHED)) == 5 and not s.get_trials(states=(TrialState.RUNNING,))


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_loses_nothing(tmp_path, parent):
    proc = parent(8)
    s = wait_until(tmp_path, proc, lambda s: len(running(s)) == 2 and s.get_trials(states=FINISHED))
    finished_before = {t.number for t in s.get_trials(states=FINISHED)}
    pids = {owner_pid(t) for t in running(s)}
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "stopping 2 worker(s)" in output and "interrupted" in output
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    s = load(tmp_path)
    assert not s.get_trials(states=(TrialState.RUNNING,))
    assert finished_before <= {t.number for t in s.get_trials(states=FINISHED)}
    stopped = [t for t in s.trials if t.state == TrialState.FAIL]
    assert stopped and all("interrupted" in t.user_attrs["fail_reason"] for t in stopped)
    again = parent(8)  # the same command resumes
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    assert len(load(tmp_path).get_trials(states=FINISHED)) == 8


@pytest.mark.parametrize(
    "gpus, found, says",
    [
        (["0"], [], "--gpus 0: no GPU 0 on this machine (no GPU is visible"),
        (["0", "2"], [Gpu("0"), Gpu("1")], "--gpus 0,2: no GPU 2 on this machine (GPUs 0, 1 are visible"),
    ],
)
def test_gpus_that_do_not_exist_are_refused(gpus, found, says):
    with pytest.raises(HpsearchError, match=re.escape(says)):
        workers.plan(len(gpus), gpus, cores=[0, 1], found=found)


def test_gpus_on_this_machine_are_refused_when_it_has_none(tmp_path, monkeypatch, capsys):
    """The command as a user meets it, on a machine without that GPU: one line, exit 2, nothing trained."""
    from hpsearch.cli import main

    monkeypatch.setattr(workers, "visible_gpus", lambda: [])
    monkeypatch.setattr(study_command, "run_workers", pytest.fail)
    assert main(["study", "--profile", "smoke", "--trials", "1", "--gpus", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hpsearch: --gpus 0: no GPU 0 on this machine") and len(err.strip().splitlines()) == 1
