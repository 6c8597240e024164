"""Every file hpsearch writes goes through here: written whole or not at all.

    write_text(path, text)   write_bytes(path, data)   write_json(path, value)   write_csv(path, frame)
    write_files({path: text or bytes, ...})   several files of one report: all staged, then all renamed
    replacing(path)          a temporary path for a library that writes to a path itself (keras's model.save)

Each file is written to a temporary file in the same folder (so the rename never crosses file systems),
flushed and fsynced, then renamed over the old one with os.replace, which is atomic on POSIX and Windows.
A reader sees the previous version or the new one, never half a file; a failed write (disk full, read-only
file system, no permission, a path too long) leaves the previous version whole, removes its temporary file
and raises WriteError: one line naming the path and the fix.

CSV cells are neutralised here, once for every CSV (OWASP, CSV injection): a text cell starting with
=, +, -, @, tab or carriage return gets a leading single quote, so a spreadsheet shows it instead of
running it, and a cell holding a line break is quoted. Numbers stay numbers: a negative difference is
still -0.012.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import numbers
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from hpsearch.errors import HpsearchError

CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a spreadsheet reads it as a number
_MODE = 0o666 & ~(lambda mask: os.umask(mask))(os.umask(0))  # what open() would give a new file (mkstemp: 0600)
_FIXES = {  # what to do, after the system's own words for what went wrong
    errno.ENOSPC: "free space on that disk, or pass --out with a folder on another disk",
    errno.EDQUOT: "free space within your quota, or pass --out with a folder on another disk",
    errno.EROFS: "pass --out with a folder on a writable file system",
    errno.EACCES: "pass --out with a folder you can write to",
    errno.EPERM: "pass --out with a folder you can write to",
    errno.ENAMETOOLONG: "pass a shorter --out (a name at most 255 bytes, the path at most 4096)",
    errno.ENOENT: "its folder disappeared while writing; pass --out with a folder that stays",
}


class WriteError(HpsearchError):
    """A file that could not be written; the previous version, if any, is untouched."""


def fix_for(exc: OSError) -> str:
    """What to do about an OSError met while writing, in words."""
    return _FIXES.get(exc.errno, "pass --out with a writable folder")


def write_error(path: str | Path, exc: OSError | UnicodeError) -> WriteError:
    """The one-line error for a write of `path` that failed with `exc`."""
    if isinstance(exc, UnicodeError):
        reason, fix = "its text or name is not UTF-8", "pass --out and names in UTF-8"
    else:
        reason, fix = exc.strerror or str(exc), fix_for(exc)
    kept = "; the previous version is kept" if os.path.exists(path) else ""  # False on any OSError
    return WriteError(f"cannot write {shown_path(path)}: {reason}{kept}; {fix}")


def shown_path(path: str | Path) -> str:
    """A path as it may be printed: bytes that are not UTF-8 (surrogate escapes) shown as \\xNN."""
    return os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")


def _temporary(path: Path) -> Path:
    """A new empty file beside `path`, hidden, with the same suffix (keras decides the format by it)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    try:
        os.fchmod(handle, _MODE)
    except (AttributeError, OSError):  # no fchmod on Windows
        pass
    finally:
        os.close(handle)
    return Path(name)


def _sync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every platform lets a folder be opened (Windows), hence best effort."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _encoded(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")


def _stage(path: Path, data: bytes) -> Path:
    """`data` in a flushed, fsynced temporary file beside `path`; on failure nothing is left behind."""
    temporary = _temporary(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_files(contents: Mapping[str | Path, str | bytes]) -> list[Path]:
    """Write several files (text as UTF-8): every one is staged first, and only when all are staged are they
    renamed into place, so a full disk leaves the previous set whole rather than half old and half new.
    Returns the paths written. Raises WriteError."""
    staged: dict[Path, Path] = {}
    current = Path(".")
    try:
        for target, content in contents.items():
            current = Path(target)
            data = _encoded(content)  # before any file is made: a text that is not UTF-8 leaves nothing
            staged[current] = _stage(current, data)
        for target, temporary in staged.items():
            current = target
            os.replace(temporary, target)
    except (OSError, UnicodeError) as exc:
        raise write_error(current, exc) from None
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)  # those not renamed, after a failure
    for folder in {p.parent for p in staged}:
        _sync_folder(folder)
    return list(staged)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically. Raises WriteError."""
    return write_files({path: data})[0]


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically. Raises WriteError."""
    return write_files({path: text})[0]


def json_text(value: Any) -> str:
    """JSON as hpsearch stores it: indented, ASCII (any name survives any reader), one final newline."""
    return json.dumps(value, indent=2) + "\n"


def write_json(path: str | Path, value: Any) -> Path:
    """Write `value` as JSON to `path` atomically. Raises WriteError."""
    return write_text(path, json_text(value))


def csv_cell(value: Any) -> Any:
    """A cell as a spreadsheet may read it: text starting with =, +, -, @, tab or CR gets a leading quote;
    numbers (and text that is a plain number, like "-0.5") and empty cells are left as they are."""
    if value is None or isinstance(value, (numbers.Number, bool)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(CSV_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return value


def _is_missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def csv_frame(frame):
    """A copy of a pandas DataFrame with every text cell and column name neutralised (csv_cell)."""
    safe = frame.rename(columns=lambda c: csv_cell(c)).copy()
    for column in range(safe.shape[1]):
        values = safe.iloc[:, column]
        if values.dtype == object or str(values.dtype) in ("string", "str", "category"):
            safe.isetitem(column, values.astype(object).map(lambda v: v if _is_missing(v) else csv_cell(v)))
    return safe


def csv_text(frame) -> str:
    """The CSV of a pandas DataFrame, cells neutralised, without the index. Rows end in CRLF (RFC 4180): then
    Python's csv writer quotes every cell holding a CR or LF; with pandas's "\n" a bare CR inside a cell is left
    unquoted, and a reader that ends rows at it starts a new row there, unquoted ("x\r=cmd")."""
    return csv_frame(frame).to_csv(index=False, lineterminator="\r\n")


def write_csv(path: str | Path, frame) -> Path:
    """Write a pandas DataFrame as CSV (cells neutralised, no index) to `path` atomically. Raises WriteError."""
    return write_text(path, csv_text(frame))


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """For a library that writes to a path itself: yields a temporary path beside `path` with the same suffix
    (an empty file); what was written there replaces `path` when the block ends without an error. A block that
    wrote nothing (the file still empty: the library chose not to save) leaves `path` untouched, and so does an
    error, which removes the temporary file; an OSError becomes WriteError."""
    target = Path(path)
    try:
        temporary = _temporary(target)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        yield temporary
        if temporary.stat().st_size:
            _sync(temporary)
            os.replace(temporary, target)
    except OSError as exc:
        raise write_error(target, exc) from None
    finally:
        temporary.unlink(missing_ok=True)
    _sync_folder(target.parent)
