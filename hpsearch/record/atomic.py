"""Writing a file atomically: into a temporary name in the same folder, flushed, then renamed over the target.
A reader (or a later run after a kill) sees the old file or the whole new one, never a torn one.

(Used for kept models and exported models; a project-wide helper for every writer may replace it.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, so Keras accepts a .keras name); write the file
    there. On success it is synced and renamed to `path`; on any error it is removed and `path` is untouched."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
