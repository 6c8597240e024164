"""A journal file's integrity: a torn last record is set aside before anything is appended; a journal that
cannot be decoded is a one-line error naming the file, the line and the fix.

Why here and not in Optuna: JournalFileBackend skips a last line without its newline when it reads, but
appends the next record straight onto it, and from then on every read of the file fails (JSONDecodeError)
and every finished trial is unreadable. A crash or a full disk mid-write leaves exactly such a line.
The repair runs under Optuna's own append lock (JournalFileOpenLock, the lock every writer takes), so no
worker can be half-way through a write while the tail is checked again and cut.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from optuna.storages.journal import JournalFileOpenLock

from hpsearch.record.urls import StorageError

SQLITE_HEADER = b"SQLite format 3\x00"
_CHUNK = 1 << 16


def append_lock(path: Path) -> JournalFileOpenLock:
    """The lock Optuna's JournalFileBackend takes around every append (an O_EXCL lock file beside the journal)."""
    return JournalFileOpenLock(str(path))


def repair_torn_tail(path: Path) -> str | None:
    """If the journal's last line lacks its newline, move that partial record to <journal>.torn (appended, so
    earlier ones are kept) and cut it from the journal; a last record that is whole but for its newline gets
    the newline instead. Returns the line telling the user, or None when the journal was whole."""
    if _ends_whole(path) or not _starts_as_journal(path):  # not a journal (a text file): never cut it
        return None
    lock = append_lock(path)
    lock.acquire()
    try:
        if _ends_whole(path):  # a writer finished its record while we waited for the lock
            return None
        with open(path, "r+b") as journal:
            cut = _last_newline(journal) + 1
            journal.seek(cut)
            tail = journal.read()
            if _is_record(tail):
                journal.seek(0, os.SEEK_END)
                journal.write(b"\n")
                journal.flush()
                os.fsync(journal.fileno())
                return f"{path}: its last record lacked its newline (a crash mid-write); added it, nothing was lost"
            torn = Path(f"{path}.torn")
            with open(torn, "ab") as aside:  # first set aside (fsynced), then cut: a crash between keeps both
                aside.write(tail + b"\n")
                aside.flush()
                os.fsync(aside.fileno())
            journal.truncate(cut)
            journal.flush()
            os.fsync(journal.fileno())
    finally:
        lock.release()
    return (
        f"{path}: its last record was torn by a crash mid-write ({len(tail)} bytes); moved it to {torn} "
        f"and repaired the journal; every finished trial is kept"
    )


def tell(notice: str | None) -> None:
    """Say a repair on stderr, whichever command opened the journal (the record layer has no console)."""
    if notice:
        print(f"hpsearch: {notice}", file=sys.stderr)


def check_readable(path: Path) -> None:
    """Before Optuna reads it: a file that is plainly not a journal (an SQLite database) is named as such."""
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head == SQLITE_HEADER:
        raise StorageError(f"{path} is an SQLite database, not a journal file; pass --storage sqlite:///{path}")


def undecodable(path: Path, exc: Exception) -> StorageError:
    """The error for a journal Optuna could not replay: the first line that is not a journal record, and the fix."""
    with open(path, "rb") as journal:
        for number, line in enumerate(journal, start=1):
            if not _is_record(line.rstrip(b"\r\n")):
                what = "is not an Optuna journal file" if number == 1 else "cannot be decoded"
                return StorageError(
                    f"journal {path} {what}: line {number} is not a journal record; the {number - 1} lines "
                    f"before it are intact: keep a copy of the file, then move line {number} and everything after "
                    f"it out of it (e.g. `head -n {number - 1}`) to recover them, or pass another --storage"
                )
    return StorageError(
        f"journal {path} cannot be replayed ({type(exc).__name__}: {str(exc)[:200]}); keep a copy "
        f"of the file and pass another --storage"
    )


def _ends_whole(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return True
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def _starts_as_journal(path: Path) -> bool:
    """The first line is a journal record, or the whole file is the start of one (its first record torn)."""
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    return _is_record(first.rstrip(b"\r\n")) if first.endswith(b"\n") else first.startswith(b'{"op_code":')


def _last_newline(handle) -> int:
    """The offset of the file's last b"\\n", or -1."""
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - _CHUNK)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found
        end = start
    return -1


def _is_record(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict) and "op_code" in json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
