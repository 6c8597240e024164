"""Ctrl-C at any moment of any command: exit 130, one line, never ignored, never a traceback.

Real subprocesses get a real SIGINT at several moments, each found by an output line or reached by a patched
function that signals its own process (never a fixed sleep): during the imports, at the command's header,
at the first training step, mid-epoch, while the reports are written; and `confirm` at its header."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpsearch import interrupts

ROOT = Path(__file__).resolve().parents[1]

# Runs `hpsearch ARGS` with one function patched to send this process SIGINT (env SIGNAL_AT), as a Ctrl-C
# at that moment would.
WRAPPER = """
import os, signal, sys
at = os.environ["SIGNAL_AT"]
def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
if at == "first-step" or at == "mid-epoch":
    from hpsearch.core import callbacks
    check, steps = callbacks.StopOnSignal.on_train_batch_begin, []
    def on_batch(self, batch, logs=None):
        steps.append(batch)
        if (at == "first-step" and len(steps) == 1) or (at == "mid-epoch" and len(steps) == 20):
            ctrl_c()
        check(self, batch, logs)
    callbacks.StopOnSignal.on_train_batch_begin = on_batch
if at == "reports":
    from hpsearch import baseline
    write = baseline.write_run_report
    def writing(run_dir):
        ctrl_c()
        return write(run_dir)
    baseline.write_run_report = writing
from hpsearch.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(**extra) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        **extra,
    }


def _check_one_line(code: int, output: str, lines_seen: list[str]) -> str:
    """Exit 130, no traceback, and the interrupt said once."""
    text = output + "".join(lines_seen)
    assert code == 130, text
    assert "Traceback" not in text and "Exception ignored" not in text, text
    said = [line for line in text.splitlines() if line.startswith("hpsearch: interrupted")]
    assert len(said) == 1, text
    return text


def _interrupt_on(argv: list[str], marker, env: dict, cwd: Path) -> tuple[int, str]:
    """Start `argv`, send SIGINT as soon as a line containing `marker` (or for which `marker(line)` holds)
    appears; returns (status, output)."""
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if marker(line) if callable(marker) else marker in line:
                process.send_signal(signal.SIGINT)
                break
        rest = process.communicate(timeout=300)[0]
    finally:
        process.kill()
    return process.returncode, "".join(seen) + rest


def _baseline_args(cifar_dir, out) -> list[str]:
    return ["baseline", "--profile", "smoke", "--epochs", "2", "--data-dir", str(cifar_dir), "--out", str(out)]


def _numpy_imported(line: str) -> bool:
    return line.startswith("import time:") and line.rstrip().endswith(" numpy")


def test_ctrl_c_while_the_command_imports_is_one_line(tmp_path, cifar_dir):
    """-X importtime names each module as it finishes importing: numpy's line comes while hpsearch's own
    imports are still running (before cli.main, before any try)."""
    argv = [sys.executable, "-X", "importtime", "-m", "hpsearch.cli", *_baseline_args(cifar_dir, tmp_path)]
    code, output = _interrupt_on(argv, _numpy_imported, _env(), tmp_path)
    shown = "\n".join(line for line in output.splitlines() if not line.startswith("import time:"))
    _check_one_line(code, shown, [])
    assert "hpsearch baseline:" not in shown  # it stopped in the imports


def test_ctrl_c_at_the_header_stops_the_baseline(tmp_path, cifar_dir):
    """The header comes just before training starts, where JAX's gc callback swallowed the KeyboardInterrupt
    and the run trained to its end."""
    argv = [sys.executable, "-m", "hpsearch.cli", *_baseline_args(cifar_dir, tmp_path)]
    code, output = _interrupt_on(argv, "hpsearch baseline:", _env(), tmp_path)
    _check_one_line(code, output, [])
    assert "epoch  2/2" not in output and not list((tmp_path / "reports").glob("*/metrics.json"))


@pytest.mark.parametrize("at", ["first-step", "mid-epoch", "reports"])
def test_ctrl_c_during_training_or_writing_is_one_line(at, tmp_path, cifar_dir):
    script = tmp_path / "wrapper.py"
    script.write_text(textwrap.dedent(WRAPPER))
    result = subprocess.run(
        [sys.executable, str(script), *_baseline_args(cifar_dir, tmp_path / "out")],
        cwd=tmp_path,
        env=_env(SIGNAL_AT=at),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = _check_one_line(result.returncode, result.stdout + result.stderr, [])
    epochs = [line for line in output.splitlines() if line.lstrip().startswith("epoch ")]
    # the smoke profile: 400 images in batches of 32, 13 steps an epoch; step 20 is in epoch 2
    assert len(epochs) == {"first-step": 0, "mid-epoch": 1, "reports": 2}[at], output
    assert "wrote" not in output


def test_ctrl_c_at_confirms_header_stops_it_and_keeps_what_finished(tmp_path, cifar_dir):
    from tests.search.test_confirm import make_study

    journal = tmp_path / "tiny.journal"
    make_study(str(journal))
    argv = [sys.executable, "-m", "hpsearch.cli", "confirm", "--study-name", "tiny", "--storage", str(journal)]
    argv += ["--seeds", "2", "--data-dir", str(cifar_dir), "--out", str(tmp_path)]
    code, output = _interrupt_on(argv, "confirm tiny:", _env(), tmp_path)
    _check_one_line(code, output, [])
    assert output.count(", stored") < 4  # stopped, whether in loading the data or in training


# --- the mechanism, in this process --------------------------------------------------------------------


def test_an_interrupt_a_gc_callback_swallowed_is_raised_again_silently(capfd):
    """As JAX's gc callback does: the KeyboardInterrupt raised inside it is 'ignored' by Python (with a
    traceback on stderr). Here it is raised again, outside, and nothing is printed."""

    def callback(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # the handler runs here, inside the callback

    raised = False
    with interrupts.signals_as_interrupt():
        gc.callbacks.append(callback)
        try:
            gc.collect()
            gc.callbacks.remove(callback)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                time.sleep(0.01)
        except KeyboardInterrupt:
            raised = True
        finally:
            if callback in gc.callbacks:
                gc.callbacks.remove(callback)
    assert raised
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err


def test_a_swallowed_signal_stops_training_at_the_next_check():
    from hpsearch.core.callbacks import StopOnSignal

    with interrupts.signals_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))
        except KeyboardInterrupt:
            pass  # swallowed, as a library might
        with pytest.raises(KeyboardInterrupt):
            StopOnSignal().on_train_batch_begin(0)
    StopOnSignal().on_train_batch_begin(0)  # outside a command, a signal long handled stops nothing


def test_the_line_says_what_was_kept():
    assert interrupts.line(KeyboardInterrupt()) == "hpsearch: interrupted"
    assert interrupts.line(interrupts.Interrupted("runs kept")) == "hpsearch: interrupted; runs kept"
