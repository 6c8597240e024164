"""hpsearch.files: every write whole or not at all; a failed write keeps the previous file byte for byte and is
one line naming the path and the fix."""

import errno
import os
import stat

import pytest

from hpsearch import files
from hpsearch.files import WriteError


class CutShort:
    """A file object that writes the first half of what it is given, then fails as a full disk does."""

    def __init__(self, handle, error=errno.ENOSPC):
        self.handle, self.error = handle, error

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(self.error, os.strerror(self.error))

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def failing_open(monkeypatch, error=errno.ENOSPC, after=0):
    """Make hpsearch.files' open() cut every write short with `error`, after `after` good files."""
    opened = []

    def fake(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return handle
        opened.append(path)
        return handle if len(opened) <= after else CutShort(handle, error)

    monkeypatch.setattr(files, "open", fake, raising=False)
    return opened


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    files.write_json(target, {"x": 1})
    files.write_json(target, {"x": 2})
    assert target.read_text() == '{\n  "x": 2\n}\n'
    files.write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    files.write_text(tmp_path / "c.txt", "Δ ünïcode")
    assert (tmp_path / "c.txt").read_bytes() == "Δ ünïcode".encode("utf-8")
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_mode_open_would_give(tmp_path):
    mask = os.umask(0o022)
    try:
        os.umask(0o022)
        files.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == files._MODE  # not mkstemp's 0600


@pytest.mark.parametrize(
    "error, fix",
    [
        (errno.ENOSPC, "No space left on device; the previous version is kept; free space on that disk"),
        (errno.EROFS, "Read-only file system; the previous version is kept; pass --out with a folder on a writable"),
        (errno.EACCES, "Permission denied; the previous version is kept; pass --out with a folder you can write"),
        (errno.ENAMETOOLONG, "File name too long; the previous version is kept; pass a shorter --out"),
    ],
)
def test_a_write_cut_short_keeps_the_old_file_byte_for_byte(tmp_path, monkeypatch, error, fix):
    target = tmp_path / "trials.csv"
    old = b"number,value\n0,0.5\n1,0.6\n"
    target.write_bytes(old)
    failing_open(monkeypatch, error)
    with pytest.raises(WriteError) as info:
        files.write_csv(target, __import__("pandas").DataFrame({"number": range(100), "value": 0.7}))
    message = str(info.value)
    assert target.read_bytes() == old
    assert leftovers(tmp_path) == []
    assert "\n" not in message and str(target) in message and fix in message
    assert "previous version is kept" in message


def test_fsync_failing_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("{}")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(WriteError, match="No space left on device"):
        files.write_json(target, {"a": 1})
    assert target.read_text() == "{}" and leftovers(tmp_path) == []


def test_a_set_of_files_is_all_new_or_all_old(tmp_path, monkeypatch):
    names = ["trials.csv", "summary.csv", "report.html"]
    for name in names:
        (tmp_path / name).write_text(f"old {name}")
    failing_open(monkeypatch, after=2)  # the third file hits the full disk
    with pytest.raises(WriteError, match="report.html"):
        files.write_files({tmp_path / name: f"new {name}" for name in names})
    assert [(tmp_path / n).read_text() for n in names] == [f"old {n}" for n in names]
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    files.write_files({tmp_path / name: f"new {name}" for name in names})
    assert [(tmp_path / n).read_text() for n in names] == [f"new {n}" for n in names]


def test_text_that_is_not_utf8_makes_no_file(tmp_path):
    with pytest.raises(WriteError, match="not UTF-8"):
        files.write_text(tmp_path / "page.html", "a lone surrogate \udcff from a path")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_one_line_naming_it(tmp_path):
    with pytest.raises(WriteError) as info:
        files.write_text(tmp_path / "gone" / "a.txt", "x")
    assert str(tmp_path / "gone" / "a.txt") in str(info.value) and "previous version" not in str(info.value)


def test_a_path_that_is_not_utf8_is_shown_escaped():
    assert files.shown_path("/tmp/caf\udce9") == "/tmp/caf\\xe9"


def test_replacing_renames_what_the_library_wrote(tmp_path):
    target = tmp_path / "best.keras"
    target.write_bytes(b"old model")
    with files.replacing(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".keras" and temporary != target
        temporary.write_bytes(b"new model")
    assert target.read_bytes() == b"new model" and leftovers(tmp_path) == []


def test_replacing_leaves_the_file_when_nothing_was_written_or_saving_failed(tmp_path):
    target = tmp_path / "best.keras"
    target.write_bytes(b"old model")
    with files.replacing(target):
        pass  # the library chose not to save (no better epoch)
    assert target.read_bytes() == b"old model"
    with pytest.raises(WriteError, match="free space"):
        with files.replacing(target) as temporary:
            temporary.write_bytes(b"half a mo")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old model" and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "cell, written",
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+cmd", "'-1+cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=1", "a=1"),
        ("-0.5", "-0.5"),  # text that is a plain number is what a spreadsheet reads as that number
        ("+3e-05", "+3e-05"),
        (-0.012, -0.012),
        (7, 7),
        (None, None),
        (__import__("pathlib").Path("=x"), "'=x"),  # not text, not a number: as it will be written (str)
    ],
)
def test_csv_cell(cell, written):
    assert files.csv_cell(cell) == written


def test_csv_frame_quotes_text_cells_and_headers_and_keeps_numbers():
    import pandas as pd

    frame = pd.DataFrame({"=name": ["=cmd", "ok", None], "delta": [-0.5, 0.25, float("nan")], "n": [-1, 2, 3]})
    text = files.csv_text(frame)
    assert text.split("\r\n") == ["'=name,delta,n", "'=cmd,-0.5,-1", "ok,0.25,2", ",,3", ""]
    assert frame.columns[0] == "=name" and frame.iloc[0, 0] == "=cmd"  # the caller's frame is left as it was


def test_a_line_break_inside_a_cell_never_starts_a_row():
    import csv
    import io

    import pandas as pd

    text = files.csv_text(pd.DataFrame({"reason": ["x\r=cmd", "y\n@SUM(1)", "z\r\n+1+1"]}))
    assert '"x\r=cmd"' in text  # quoted: a spreadsheet reads one cell that starts with x
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["reason"], ["x\r=cmd"], ["y\n@SUM(1)"], ["z\r\n+1+1"]]
