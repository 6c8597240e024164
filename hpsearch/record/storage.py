"""Where studies live, and what happens to the trials of workers that died.

Storage: a JournalStorage file (record.paths.journal_path) by default (safe for several processes on one
machine); any Optuna URL otherwise (postgresql://, mysql://, sqlite:///; redis:// for a Redis journal), or a
journal path. Passwords are masked wherever a storage is named, and a database that cannot be reached
fails within CONNECT_TIMEOUT seconds.

Dead workers: every trial records its owner (user attrs "worker" = host:pid, "worker_started" = when that
process started, so a reused pid is not mistaken for it). A RUNNING trial whose owner on this host is gone
is marked FAIL with a fail_reason and re-enqueued once with the same parameters. Other hosts' processes
cannot be asked: on a database, heartbeats (HEARTBEAT_INTERVAL, HEARTBEAT_GRACE) fail and retry their
trials; a journal file is meant for one machine.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalRedisBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import HpsearchError
from hpsearch.record import keys
from hpsearch.record.paths import journal_path

CONNECT_TIMEOUT = 5            # seconds to reach a database before giving up
HEARTBEAT_INTERVAL = 60        # RDB: a trial's worker writes a heartbeat this often ...
HEARTBEAT_GRACE = 180          # ... and a trial without one for this long is failed and retried
ORPHAN_SECONDS = 60            # a RUNNING trial that names no worker after this long was orphaned


class StorageError(HpsearchError):
    """A storage that cannot be opened or reached; the message names it with its password masked."""


# --- storage -------------------------------------------------------------------------------------------

def mask_url(url: str) -> str:
    """The storage as it may be shown: any password replaced by ***."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", str(url))


def open_storage(url: str | Path | optuna.storages.BaseStorage | None = None, *, study_name: str | None = None,
                 out: str | Path = ".", heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """An Optuna storage: None -> the default journal file of `study_name` under the output root `out`; a path (no
    "://") -> that journal file; redis://... -> a Redis journal; any other URL -> RDBStorage (with heartbeats
    that fail and retry the trials of dead workers). Raises StorageError, password masked, within seconds."""
    if isinstance(url, optuna.storages.BaseStorage):
        return url
    if url is None:
        if study_name is None:
            raise StorageError("no storage: pass --storage URL or a study name for the default journal file")
        url = journal_path(out, study_name)
    text = str(url)
    if "://" not in text:
        return _journal_file(Path(text))
    try:
        if text.startswith(("redis://", "rediss://")):
            return JournalStorage(JournalRedisBackend(text))
        hb = dict(heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=HEARTBEAT_GRACE,
                  heartbeat_stale_trial_callback=retry_stale_trial) if heartbeat else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(_with_driver(text), engine_kwargs=_engine_kwargs(text), **hb)
    except ImportError:
        raise StorageError(f"cannot open storage {mask_url(text)}: its database driver is not installed; "
                           f"pip install psycopg2-binary (postgresql://) or PyMySQL (mysql+pymysql://)") from None
    except Exception as exc:  # sqlalchemy / driver errors: unreachable host, bad password, no database
        reason = _mask_secret(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, text)
        raise StorageError(f"cannot open storage {mask_url(text)}: {reason}; check that the server is "
                           f"running and the URL's host, port, user and database are right") from None


def _journal_file(path: Path) -> optuna.storages.BaseStorage:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the open-lock (O_EXCL lock file) rather than a symlink, so it also works where symlinks don't
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    except OSError as exc:
        raise StorageError(f"cannot open the journal file {path}: {exc.strerror or exc}; "
                           f"pass --out DIR or --storage with a writable place") from None
    storage.hpsearch_lock_path = f"{path}.workers.lock"      # see worker_lock
    return storage


def _with_driver(url: str) -> str:
    """postgresql:// names no driver and SQLAlchemy 2.1 then wants psycopg 3; use whichever is installed
    (psycopg2-binary is the one pyproject's `postgres` extra installs). postgres:// means postgresql://."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    return f"postgresql+{driver}{sep}{rest}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith(("postgresql", "postgres", "mysql")):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return kwargs


def _mask_secret(message: str, url: str) -> str:
    match = re.search(r"://[^:/@\s]*:([^@\s]+)@", url)
    if match:
        message = message.replace(match.group(1), "***")
    return mask_url(message)


@contextlib.contextmanager
def worker_lock(storage) -> Iterator[None]:
    """Serialises this package's check-then-act steps (enqueue the baseline, count-then-ask) between the
    processes of one machine sharing a journal file. Databases need no lock for correctness (see module doc)."""
    path = getattr(storage, "hpsearch_lock_path", None)
    if path is None:
        yield
        return
    import fcntl  # POSIX only: imported here, so that reading a study works everywhere
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- dead workers -------------------------------------------------------------------------------------------

def worker_id() -> str:
    """This process as a trial's owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None if it is gone or a zombie. With the
    pid, it identifies a process even after the pid is reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)                        # no /proc (not Linux): alive or not is all we can know
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "unknown"
    return None if fields[0] in "ZX" else fields[19]


def _dead_owner(trial: FrozenTrial) -> bool:
    if keys.WORKER not in trial.user_attrs:
        # a worker records itself right after study.ask(); a RUNNING trial that never did was orphaned
        # between the two (a kill at that instant)
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - started > ORPHAN_SECONDS
    host, _, pid = str(trial.user_attrs[keys.WORKER]).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False                               # another machine's trial: only heartbeats can tell
    if int(pid) == os.getpid():
        return True                                # ours: this process runs one trial at a time, between trials
    now, then = _process_start(int(pid)), trial.user_attrs.get(keys.WORKER_STARTED)
    return now is None or (then is not None and now != "unknown" and now != then)


def trial_id(storage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial `number` (what the storage's own methods take), by its public API."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def claim(trial: optuna.Trial) -> None:
    trial.set_user_attr(keys.WORKER, worker_id())
    trial.set_user_attr(keys.WORKER_STARTED, _process_start(os.getpid()))


def recover_dead_workers(study: optuna.Study, storage) -> list[int]:
    """Mark RUNNING trials of dead processes on this host FAIL (with a fail_reason) and retry their work;
    on a database, also fail heartbeat-stale trials. Returns the numbers of the trials failed here."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _dead_owner(trial):
            continue
        try:
            worker = trial.user_attrs.get(keys.WORKER, "unknown")
            tid = trial_id(storage, study, trial.number)
            storage.set_trial_user_attr(tid, keys.FAIL_REASON,
                                        f"worker {worker} died while the trial was running "
                                        f"(killed or crashed); its work is retried")
            if not storage.set_trial_state_values(tid, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue                               # another worker got there first
        failed.append(trial.number)
        retry_stale_trial(study, trial)
    if getattr(storage, "get_heartbeat_interval", lambda: None)():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)   # calls retry_stale_trial for each
    return failed


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a dead worker's trial once with the same parameters (the baseline is re-enqueued by
    `ensure_baseline`). A trial that is itself a retry is not retried again."""
    if trial.user_attrs.get(keys.IS_BASELINE) or keys.RETRY_OF in trial.user_attrs:
        return
    study.enqueue_trial(trial.params, user_attrs={keys.RETRY_OF: trial.number})


@contextlib.contextmanager
def heartbeat(storage, trial) -> Iterator[None]:
    """RDB storages: record the trial's heartbeat while it runs, as Study.optimize would."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)() if storage is not None else None
    if not interval:
        yield
        return
    stop, tid = threading.Event(), trial_id(storage, trial.study, trial.number)

    def beat() -> None:
        while True:
            storage.record_heartbeat(tid)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- reading a stored study --------------------------------------------------------------------------

def open_existing(storage: Any) -> optuna.storages.BaseStorage:
    """A storage for reading: a URL (sqlite:///..., postgresql://...), a journal file path, or a storage
    object as it is. A journal (or SQLite) file that does not exist is an error here, never created."""
    if not isinstance(storage, (str, Path)):
        return storage
    text = str(storage)
    local = text[len("sqlite:///"):] if text.startswith("sqlite:///") else None if "://" in text else text
    if local is not None and local != ":memory:" and not Path(local).is_file():
        raise HpsearchError(f"no study storage at {text}: the file does not exist; run `hpsearch study` "
                            "first (with the same --out), or pass --storage with the journal file or database "
                            "URL the study used")
    return open_storage(text, heartbeat=False)


def load_study(storage: Any, study_name: str) -> optuna.Study:
    """The stored study, or an HpsearchError that lists the studies this storage does hold.

    `storage` may also be the optuna.Study itself, already open (the study command's own), used as it is.
    """
    if isinstance(storage, optuna.Study):
        if storage.study_name != study_name:
            raise HpsearchError(f"the open study is {storage.study_name!r}, not {study_name!r}")
        return storage
    opened = open_existing(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:
        names = optuna.get_all_study_names(opened)
        known = ", ".join(repr(n) for n in names) if names else "none"
        raise HpsearchError(f"no study named {study_name!r} in {storage_label(storage)}; "
                            f"studies there: {known}; pass one of them with --study-name") from None


def storage_label(storage: Any) -> str:
    """How to name the storage to a person: a URL with its password hidden, a path, or a placeholder (a storage
    or study object, whose URL is not known here)."""
    if isinstance(storage, (str, Path)):
        return mask_url(str(storage))
    return "STORAGE_URL"
