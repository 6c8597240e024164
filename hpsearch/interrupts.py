"""Ctrl-C (SIGINT) and SIGTERM, the same in every command: exit 130, one line, never ignored, never a traceback.

- While the `hpsearch` command imports its libraries (`starting`, run by hpsearch/__init__.py before numpy
  loads), a signal ends the process at once with the line: nothing has been done yet.
- While a command runs (`signals_as_interrupt`, around cli.main and a study), a signal raises KeyboardInterrupt
  and is noted; `stop_if_signalled` raises again where training checks (each batch and epoch: core.callbacks'
  StopOnSignal; between trials). A KeyboardInterrupt raised where Python cannot propagate it is otherwise lost:
  in a garbage-collector callback (JAX's runs at every gc.collect(), which Keras's clear_session calls as
  training starts) or a __del__, Python prints "Exception ignored in ..." with a traceback and goes on. The
  unraisable hook installed here keeps that one silent and delivers the signal again (from a thread), to land
  outside.
- `interrupts_deferred`: a block that must finish its write (a trial's outcome) holds the signals until its end.
- `Interrupted(message)`: a KeyboardInterrupt that says what was kept; cli prints "hpsearch: interrupted; ...".

Standard library only: this module is imported before anything heavy.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STATUS = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that says what is kept, e.g. "finished trials are kept in X; run the same command again"."""


def line(exc: BaseException | None = None) -> str:
    """The one line a command ends with when interrupted."""
    said = str(exc) if isinstance(exc, Interrupted) else ""
    return f"hpsearch: interrupted{'; ' + said if said else ''}"


def is_command() -> bool:
    """This process is the `hpsearch` command (its console script, or python -m hpsearch.cli), not a program
    that imports hpsearch as a library (whose signals are its own business)."""
    argv = getattr(sys, "orig_argv", [])
    return os.path.basename(sys.argv[0] if sys.argv else "") == "hpsearch" or any(
        a == "-m" and b == "hpsearch.cli" for a, b in zip(argv, argv[1:])
    )


_said: list[bool] = []  # the line was printed (a later signal, while exiting, does not print it again)


def _exit_now(signum, frame) -> None:
    """Before a command starts, and after it has ended: nothing to record, so end at once (os._exit: no
    KeyboardInterrupt that an import or an atexit handler could turn into a traceback)."""
    if not _said:
        os.write(2, (line() + "\n").encode())
    os._exit(EXIT_STATUS)


def starting() -> None:
    """The `hpsearch` command's very first step (hpsearch/__init__.py): signals end it at once until cli.main
    takes them over, and again once it has returned."""
    for sig in SIGNALS:
        signal.signal(sig, _exit_now)


def ending() -> None:
    """The command is ending on an interrupt: a further signal ends the process at once (the line, if cli.main
    has not printed it yet; exit 130)."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _exit_now)


def said() -> None:
    """cli.main printed the line."""
    _said.append(True)


# --- while a command runs ------------------------------------------------------------------------------

_signalled: list[int] = []  # SIGINT/SIGTERM received while signals_as_interrupt is on
_active: list[bool] = []  # signals_as_interrupt is on (nested blocks keep the outer one's record)
_deferring = threading.local()


def _interrupt(signum, frame) -> None:
    _signalled.append(signum)
    raise KeyboardInterrupt


def _send_again(signum: int) -> None:
    time.sleep(0.01)
    os.kill(os.getpid(), signum)


def _unraisable(info) -> None:
    """A KeyboardInterrupt that Python could not raise (it interrupted a gc callback or a __del__): silent, and
    the signal is delivered again, to raise where the interrupted code can see it. Anything else: as Python
    would report it."""
    if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt) and _active:
        # from another thread, a moment later: a signal sent from here would be handled here, inside the hook,
        # and lost again (_thread: threading's Thread.start would wait here for the thread, which sends it)
        _thread.start_new_thread(_send_again, (_signalled[-1] if _signalled else signal.SIGINT,))
        return
    sys.__unraisablehook__(info)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt (the study marks its running trial FAIL, not RUNNING) and are
    noted for stop_if_signalled. The outermost block starts with nothing noted and restores the handlers it
    found; a nested one (a study inside cli.main) keeps the outer one's record."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _active:
        _signalled.clear()
    previous = {sig: signal.signal(sig, _interrupt) for sig in SIGNALS}
    hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    _active.append(True)
    try:
        yield
    finally:
        _active.pop()
        sys.unraisablehook = hook
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_if_signalled() -> None:
    """Raise KeyboardInterrupt if a signal came while signals_as_interrupt is on (one some library swallowed)."""
    if _signalled and _active:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block has written what it writes, then raise KeyboardInterrupt:
    a second Ctrl-C while the first is being recorded would otherwise cut the storage write and leave the
    trial RUNNING. Yields the signals caught so far (a list that fills). Nested blocks defer to the outermost."""
    if threading.current_thread() is not threading.main_thread() or getattr(_deferring, "on", False):
        yield []
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum) or _signalled.append(signum))
        for sig in SIGNALS
    }
    _deferring.on = True
    try:
        yield caught
    finally:
        _deferring.on = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt
