"""Where studies live, and what happens to the trials of workers that died.

Storage: a JournalStorage file (record.paths.journal_path) by default (safe for several processes on one
machine); any Optuna URL otherwise (postgresql://, mysql://, sqlite:///; redis:// for a Redis journal), or a
journal path. Passwords are masked wherever a storage is named (record/urls.py), a mistyped URL is refused,
a database that cannot be reached fails within CONNECT_TIMEOUT seconds, and a journal's torn last record is
set aside before anything is appended (record/journal.py). Reading (`report`, `confirm`) creates nothing.

Dead workers: every trial records its owner (user attrs "worker" = host:pid, "worker_started" = when that
process started, so a reused pid is not mistaken for it). On a journal file or a SQLite file (one machine's
storage: `is_local`), a RUNNING trial whose owner is gone from this machine's process table is marked FAIL
with a fail_reason and re-enqueued once with the same parameters, at once. On a shared database
(PostgreSQL, MySQL), used by machines that may even share a hostname (containers), the process table proves
nothing: heartbeats (HEARTBEAT_INTERVAL, HEARTBEAT_GRACE) alone fail and retry the trials of dead workers,
so such a trial stays RUNNING until its heartbeat is HEARTBEAT_GRACE seconds old (the study waits for it:
search/optuna_engine.py). A worker records the trial's first heartbeat before its owner, and a trial that
never beat (its worker killed before the first beat, or not hpsearch's) is failed once it has run for
HEARTBEAT_GRACE seconds without one.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import optuna
import sqlalchemy
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import HpsearchError
from hpsearch.record import journal, keys
from hpsearch.record.journal import check_readable
from hpsearch.record.paths import journal_path
from hpsearch.record.urls import StorageError, check_not_mistyped, mask_message, mask_url, parse

__all__ = ["StorageError", "mask_url", "open_storage", "open_existing", "load_study", "storage_label", "study_names"]

CONNECT_TIMEOUT = 5  # seconds to reach a database before giving up
HEARTBEAT_INTERVAL = 60  # RDB: a trial's worker writes a heartbeat this often ...
HEARTBEAT_GRACE = 180  # ... and a trial without one for this long is failed and retried
ORPHAN_SECONDS = 60  # a RUNNING trial that names no worker after this long was orphaned


# --- storage -------------------------------------------------------------------------------------------


def open_storage(
    url: str | Path | optuna.storages.BaseStorage | None = None,
    *,
    study_name: str | None = None,
    out: str | Path = ".",
    heartbeat: bool = True,
    create: bool = True,
) -> optuna.storages.BaseStorage:
    """An Optuna storage: None -> the default journal file of `study_name` under the output root `out`; a path (no
    "://") -> that journal file; redis://... -> a Redis journal; any other URL -> RDBStorage (with heartbeats
    that fail and retry the trials of dead workers). `create=False` (reading): no table, file or folder is
    created; a storage holding no Optuna study is an error. Raises StorageError, password masked, within seconds."""
    if isinstance(url, optuna.storages.BaseStorage):
        return url
    if url is None:
        if study_name is None:
            raise StorageError("no storage: pass --storage URL or a study name for the default journal file")
        url = journal_path(out, study_name)
    if isinstance(url, str):  # a string from a person (--storage); a Path is one hpsearch made (the default)
        check_not_mistyped(url)
    text = str(url)
    location = parse(text)
    if not location.is_url:
        return _journal_file(Path(text), create=create)
    try:
        if text.startswith(("redis://", "rediss://")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return JournalStorage(JournalRedisBackend(text))
        if not create:
            _check_has_studies(text)
        hb = (
            dict(
                heartbeat_interval=HEARTBEAT_INTERVAL,
                grace_period=HEARTBEAT_GRACE,
                heartbeat_stale_trial_callback=retry_stale_trial,
            )
            if heartbeat
            else {}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                _with_driver(text), engine_kwargs=_engine_kwargs(text), skip_table_creation=not create, **hb
            )
        database = sqlite_file(text)
        if database is not None:  # a file on this machine, like a journal: see worker_lock and is_local
            storage.hpsearch_lock_path = f"{database}.workers.lock"
        return storage
    except HpsearchError:
        raise
    except ImportError as exc:
        raise StorageError(
            f"cannot open storage {location.shown}: its driver is not installed; "
            f"pip install {driver_package(location.scheme, exc)}"
        ) from None
    except Exception as exc:  # sqlalchemy / driver errors: unreachable host, bad password, no database
        reason = mask_message(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, text)
        raise StorageError(
            f"cannot open storage {location.shown}: {reason}; check that the server is "
            f"running and the URL's host, port, user and database are right"
        ) from None


# the module a storage's driver is imported as -> what to pip install for it
DRIVER_PACKAGES = {
    "psycopg": "'psycopg[binary]'",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "redis": "redis",
    "oracledb": "oracledb",
    "cx_Oracle": "cx_Oracle",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}
# a URL's scheme -> the module its driver is, when the ImportError does not name it (Optuna's for Redis)
SCHEME_DRIVERS = {"redis": "redis", "rediss": "redis", "postgresql": "psycopg", "postgres": "psycopg"}


def driver_package(scheme: str | None, exc: ImportError) -> str:
    """What to pip install for a storage whose driver failed to import: the package of the module the error
    names, else the one the scheme implies (`redis://` -> redis, `mysql+pymysql://` -> PyMySQL)."""
    dialect, _, driver = (scheme or "").lower().partition("+")
    module = (exc.name or "").split(".")[0] or SCHEME_DRIVERS.get(dialect) or driver
    return DRIVER_PACKAGES.get(module) or DRIVER_PACKAGES.get(driver) or module or "the driver for this URL"


def _check_has_studies(url: str) -> None:
    """Reading: RDBStorage would create Optuna's tables in any database it opens; look first, without writing."""
    engine = sqlalchemy.create_engine(_with_driver(url), **_engine_kwargs(url))
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if not {"studies", "version_info"} <= tables:
        raise StorageError(
            f"no study storage at {mask_url(url)}: the database holds no Optuna studies; run "
            f"`hpsearch study --storage ...` first, or pass the URL the study used"
        )


def _journal_file(path: Path, create: bool = True) -> optuna.storages.BaseStorage:
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        elif not path.is_file():
            raise StorageError(
                f"no study storage at {path}: the file does not exist; run `hpsearch study` first "
                "(with the same --out), or pass --storage with the journal file or database URL the "
                "study used"
            )
        if not path.is_file():
            raise StorageError(f"journal {path} is not a file; pass a journal file path or a database URL")
        check_readable(path)
        journal.tell(journal.repair_torn_tail(path))
        lock = journal.append_lock(path)  # the open-lock (O_EXCL lock file): it also works where symlinks don't
    except OSError as exc:
        raise StorageError(
            f"cannot open the journal file {path}: {exc.strerror or exc}; "
            f"pass --out DIR or --storage with a writable place"
        ) from None
    try:
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    except Exception as exc:  # Optuna replays the whole file here: a record it cannot decode
        raise journal.undecodable(path, exc) from None
    storage.hpsearch_lock_path = f"{path}.workers.lock"  # see worker_lock
    storage.hpsearch_journal = (path, _identity(path))  # see storage_failures: replaced under the study?
    return storage


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


# what to do when a study's storage fails under it, after the system's own words
_STORAGE_FIXES = {
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space within your quota",
    errno.EROFS: "make its file system writable again",
    errno.EACCES: "give this user write permission on it",
    errno.EPERM: "give this user write permission on it",
}


@contextlib.contextmanager
def storage_failures(storage, where: Any) -> Iterator[None]:
    """A study's storage failing while trials run (a full disk, a read-only remount, the journal file replaced
    or removed, a database gone) as one line naming the storage and the fix. What was finished is kept in it,
    and the next start repairs a torn last record (journal.repair_torn_tail) and resumes. Any other error passes
    through as it is."""
    try:
        yield
    except (HpsearchError, KeyboardInterrupt):
        raise
    except Exception as exc:
        problem = _storage_problem(storage, where, exc)
        if problem is None:
            raise
        raise problem from None


def _storage_problem(storage, where: Any, exc: Exception) -> StorageError | None:
    shown = mask_url(str(where))
    journal_file = getattr(storage, "hpsearch_journal", None)
    if journal_file is not None and _identity(journal_file[0]) != journal_file[1]:
        return StorageError(
            f"the journal {shown} was replaced or removed while the study ran; its finished trials are in the "
            f"file that was there: put that file back and run the same command again to resume (or pass another "
            f"--study-name to start afresh)"
        )
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        reason = mask_message(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, str(where))
        return StorageError(
            f"the study's storage {shown} failed: {reason}; the finished trials are kept there; check the "
            f"database server, then run the same command again to resume"
        )
    if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename).startswith(str(where))):
        fix = _STORAGE_FIXES.get(exc.errno, "fix it")
        return StorageError(
            f"the study's storage {shown} failed: {exc.strerror or exc}; the finished trials are kept there; "
            f"{fix}, then run the same command again to resume"
        )
    return None


def sqlite_file(url: str) -> str | None:
    """The database file of a sqlite:/// URL (None for another URL, or an in-memory database)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _with_driver(url: str) -> str:
    """postgresql:// names no driver and SQLAlchemy 2.1 then wants psycopg 3 (what pyproject's `postgres` extra
    installs); where only psycopg2 is installed, use it. postgres:// means postgresql://."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    only_psycopg2 = not importlib.util.find_spec("psycopg") and importlib.util.find_spec("psycopg2")
    driver = "psycopg2" if only_psycopg2 else "psycopg"
    return f"postgresql+{driver}{sep}{rest}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith(("postgresql", "postgres", "mysql")):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    return kwargs


@contextlib.contextmanager
def worker_lock(storage) -> Iterator[None]:
    """Serialises this package's check-then-act steps (enqueue the baseline, count-then-ask) between the
    processes of one machine sharing a journal or SQLite file. On a shared database nothing serialises them
    across machines:
    a duplicate baseline or a trial over the total is possible there, and harmless (search/optuna_engine.py)."""
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
            os.kill(pid, 0)  # no /proc (not Linux): alive or not is all we can know
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "unknown"
    return None if fields[0] in "ZX" else fields[19]


def _dead_owner(trial: FrozenTrial, local: bool) -> bool:
    """Whether the trial's worker is known to be gone. `local`: the storage is a journal or SQLite file, on this
    machine only, so this machine's process table can tell; elsewhere a "host:pid" may name another machine."""
    if keys.WORKER not in trial.user_attrs:
        # a worker records itself right after study.ask(); a RUNNING trial that never did was orphaned
        # between the two (a kill at that instant)
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - started > ORPHAN_SECONDS
    host, _, pid = str(trial.user_attrs[keys.WORKER]).rpartition(":")
    if not local or host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's trial: only heartbeats can tell
    if int(pid) == os.getpid():
        return True  # ours: this process runs one trial at a time, between trials
    now, then = _process_start(int(pid)), trial.user_attrs.get(keys.WORKER_STARTED)
    return now is None or (then is not None and now != "unknown" and now != then)


def is_local(storage) -> bool:
    """A journal or SQLite file opened here: a storage of one machine (see the module doc)."""
    return getattr(storage, "hpsearch_lock_path", None) is not None


def trial_id(storage, study: optuna.Study, number: int) -> int:
    """The storage's id of trial `number` (what the storage's own methods take), by its public API."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def claim(trial: optuna.Trial) -> None:
    """Record this process as the owner of `trial` (just asked for), after its first heartbeat (where the
    storage has them): a trial with an owner has a heartbeat, which expires if the owner dies."""
    if heartbeats(trial.storage):
        trial.storage.record_heartbeat(trial_id(trial.storage, trial.study, trial.number))
    trial.set_user_attr(keys.WORKER, worker_id())
    trial.set_user_attr(keys.WORKER_STARTED, _process_start(os.getpid()))


def recover_dead_workers(study: optuna.Study, storage) -> list[int]:
    """Mark RUNNING trials of dead processes on this host FAIL (with a fail_reason) and retry their work;
    on a database, also fail heartbeat-stale trials. Returns the numbers of the trials failed here."""
    failed, local = [], is_local(storage)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _dead_owner(trial, local):
            continue
        try:
            worker = trial.user_attrs.get(keys.WORKER, "unknown")
            tid = trial_id(storage, study, trial.number)
            storage.set_trial_user_attr(
                tid,
                keys.FAIL_REASON,
                f"worker {worker} died while the trial was running (killed or crashed); its work is retried",
            )
            if not storage.set_trial_state_values(tid, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        failed.append(trial.number)
        retry_stale_trial(study, trial)
    if heartbeats(storage):
        _fail_never_beaten(study, storage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # calls retry_stale_trial for each
    return failed


def heartbeats(storage) -> int | None:
    """The storage's heartbeat interval in seconds (RDB storages opened by open_storage), else None."""
    return getattr(storage, "get_heartbeat_interval", lambda: None)() if storage is not None else None


def grace(storage) -> int:
    """Seconds without a heartbeat after which the storage's trials are failed as their worker's dead."""
    return getattr(storage, "grace_period", None) or 2 * (heartbeats(storage) or 0)


def _fail_never_beaten(study: optuna.Study, storage) -> None:
    """Fail (and retry) RUNNING trials that have run HEARTBEAT_GRACE seconds without a single heartbeat: Optuna's
    fail_stale_trials skips a trial that never beat, which would then stay RUNNING for ever."""
    seconds = grace(storage)
    old = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.datetime_start is not None and time.time() - t.datetime_start.timestamp() > seconds
    ]
    if not old:
        return
    ids = {trial_id(storage, study, t.number): t for t in old}
    # Optuna has no public reader of heartbeats: their table, through the storage's own engine
    table = sqlalchemy.table("trial_heartbeats", sqlalchemy.column("trial_id"))
    with storage.engine.connect() as connection:
        beaten = set(connection.execute(sqlalchemy.select(table.c.trial_id).where(table.c.trial_id.in_(ids))).scalars())
    for tid, trial in ids.items():
        if tid in beaten:
            continue
        try:
            storage.set_trial_user_attr(
                tid, keys.FAIL_REASON, f"no heartbeat in the {seconds} s since it started; its work is retried"
            )
            if storage.set_trial_state_values(tid, TrialState.FAIL):
                retry_stale_trial(study, trial)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished meanwhile, or another worker got there first


def retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a dead worker's trial once with the same parameters (the baseline is re-enqueued by
    `ensure_baseline`). A trial that is itself a retry is not retried again."""
    if trial.user_attrs.get(keys.IS_BASELINE) or keys.RETRY_OF in trial.user_attrs:
        return
    study.enqueue_trial(trial.params, user_attrs={keys.RETRY_OF: trial.number})


@contextlib.contextmanager
def heartbeat(storage, trial) -> Iterator[None]:
    """RDB storages: record the trial's heartbeat while it runs, as Study.optimize would."""
    interval = heartbeats(storage)
    if not interval:
        yield
        return
    stop, tid = threading.Event(), trial_id(storage, trial.study, trial.number)

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(tid)
            except Exception:  # a brief database error: beat again at the next interval rather than stop beating
                pass  # (a longer outage ends the trial anyway: it cannot be told either)
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
    object as it is. Nothing is created: a missing journal or SQLite file, or a database without Optuna's
    tables, is an error here."""
    if not isinstance(storage, (str, Path)):
        return storage
    text = str(storage)
    if text.startswith("sqlite:///") and text != "sqlite:///:memory:" and not Path(text[len("sqlite:///") :]).is_file():
        raise StorageError(
            f"no study storage at {text}: the file does not exist; run `hpsearch study` "
            "first (with the same --out), or pass --storage with the journal file or database "
            "URL the study used"
        )
    return open_storage(storage, heartbeat=False, create=False)


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
        raise HpsearchError(
            f"no study named {study_name!r} in {storage_label(storage)}; "
            f"studies there: {known}; pass one of them with --study-name"
        ) from None


def study_names(storage: Any) -> list[str]:
    """The names of the studies a storage holds (read only: nothing is created)."""
    return list(optuna.get_all_study_names(open_existing(storage)))


def storage_label(storage: Any) -> str:
    """How to name the storage to a person: a URL with its password hidden, a path, or a placeholder (a storage
    or study object, whose URL is not known here)."""
    if isinstance(storage, (str, Path)):
        return mask_url(str(storage))
    return "STORAGE_URL"
