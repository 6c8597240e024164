"""Hostile CIFAR-10 batches: each is refused with a DataError, runs nothing (a marker file it would create
stays absent) and does not crash the process. The payloads that attack numpy itself (crafted dtypes,
shapes the bytes do not fill) are read in a subprocess, so a segfault shows as its exit code."""

import os
import re
import subprocess
import sys
from pathlib import Path

import crafted_pickles as cp
import pytest

from hpsearch.core.data import DataError, read_batch

REPO = Path(__file__).resolve().parents[2]
ROWS = cp.array((2, 3072), cp.dtype(cp.text("u1")), cp.raw(bytes(2 * 3072)))


def _code_payloads(marker: Path) -> dict[str, bytes]:
    m = str(marker)
    return {
        "os.system": cp.call(cp.glob("os", "system"), cp.text(f"touch {m}")),
        "posix.system": cp.call(cp.glob("posix", "system"), cp.text(f"touch {m}")),
        "os.system via STACK_GLOBAL": cp.call(cp.stack_glob("os", "system"), cp.text(f"touch {m}")),
        "os.system via INST": cp.inst("os", "system", cp.text(f"touch {m}")),
        "builtins.exec": cp.call(cp.glob("builtins", "exec"), cp.text(f"open({m!r}, 'w').close()")),
        "builtins.eval": cp.call(cp.glob("builtins", "eval"), cp.text(f"open({m!r}, 'w').close()")),
        "__builtin__.eval": cp.call(cp.glob("__builtin__", "eval"), cp.text(f"open({m!r}, 'w').close()")),
        "subprocess.call": cp.call(cp.glob("subprocess", "call"), cp.lst(cp.text("touch"), cp.text(m))),
        "subprocess.Popen": cp.call(cp.glob("subprocess", "Popen"), cp.lst(cp.text("touch"), cp.text(m))),
        "importlib.import_module": cp.call(cp.glob("importlib", "import_module"), cp.text("hpsearch_evil_module")),
        "numpy runstring": cp.call(
            cp.glob("numpy.testing._private.utils", "runstring"), cp.text(f"open({m!r}, 'w').close()"), cp.dct()
        ),
        "nested pickle.loads": cp.call(
            cp.glob("pickle", "loads"), cp.raw(cp.pickle_of(cp.call(cp.glob("os", "system"), cp.text(f"touch {m}"))))
        ),
        "copyreg._reconstructor": cp.call(
            cp.glob("copyreg", "_reconstructor"), cp.glob("os", "system"), cp.glob("builtins", "object"), cp.NONE
        ),
    }


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """An importable module that creates the marker when imported (the importlib payload's target)."""
    marker = tmp_path / "pwned"
    (tmp_path / "hpsearch_evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return marker


@pytest.mark.parametrize("name", list(_code_payloads(Path("m"))))
@pytest.mark.parametrize("where", ["data", "labels"])
def test_a_batch_that_calls_code_is_refused_and_runs_nothing(tmp_path, evil_module, name, where):
    payload = _code_payloads(evil_module)[name]
    labels = cp.lst(cp.integer(0), cp.integer(1))
    blob = cp.batch(payload, labels) if where == "data" else cp.batch(ROWS, payload)
    (tmp_path / "data_batch_1").write_bytes(blob)
    with pytest.raises(DataError, match=r"data_batch_1 is not a safe CIFAR-10 batch \(refused to load"):
        read_batch(tmp_path / "data_batch_1")
    assert not evil_module.exists()
    sys.modules.pop("hpsearch_evil_module", None)


def test_the_crafted_batches_are_well_formed_apart_from_their_payload(tmp_path):
    """The control: the same assembler's honest batch loads, so each refusal above is the payload's."""
    (tmp_path / "ok").write_bytes(cp.batch(ROWS, cp.lst(cp.integer(0), cp.integer(1))))
    images, labels = read_batch(tmp_path / "ok")
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [0, 1]


def _object_dtype(name: str = "V8") -> bytes:
    """A dtype whose one field holds Python objects, with its flags zeroed: numpy would read the file's
    bytes as object pointers."""
    obj = cp.dtype(cp.text("O8"), cp.dtype_state(flags=63))
    fields = cp.dct((cp.text("x"), cp.tup(obj, cp.integer(0))))
    return cp.dtype(cp.text(name), cp.dtype_state(names=cp.tup(cp.text("x")), fields=fields, elsize=8, alignment=1))


_POINTERS = cp.raw(b"\x41" * 16)  # two "pointers" to 0x4141414141414141
_NUMPY_ATTACKS = {
    "object-field dtype as labels": (cp.batch(ROWS, cp.array((2,), _object_dtype(), _POINTERS)), "dtype 'V8'"),
    "object fields under an int name": (
        cp.batch(ROWS, cp.array((2,), _object_dtype("i8"), _POINTERS)),
        "dtype 'i8' with fields",
    ),
    "object-field dtype as data": (cp.batch(cp.array((2,), _object_dtype(), _POINTERS), cp.lst()), "dtype 'V8'"),
    "object array (pickled list)": (
        cp.batch(ROWS, cp.array((2,), cp.dtype(cp.text("O8")), cp.lst(cp.integer(1), cp.integer(2)))),
        "dtype 'O8'",
    ),
    # itemsize 0: zero strides, so 10^9 claimed images need no bytes, until someone copies them (2.8 TiB)
    "zero strides": (
        cp.batch(cp.array((10**9, 3072), cp.dtype(cp.text("u1"), cp.dtype_state(elsize=0)), cp.raw(b"")), cp.lst()),
        "dtype 'u1' with fields, a subarray, a custom size",
    ),
    "huge claimed shape": (
        cp.batch(cp.array((3_000_000, 3072), cp.dtype(cp.text("u1")), cp.raw(bytes(3072))), cp.lst()),
        r"claiming shape \(3000000, 3072\).*3072 bytes",
    ),
    "absurd shape": (cp.batch(cp.array((2**62, 2**62), cp.dtype(cp.text("u1")), cp.raw(b"")), cp.lst()), "array shape"),
    "negative shape": (
        cp.batch(cp.array((-1, 3072), cp.dtype(cp.text("u1")), cp.raw(bytes(3072))), cp.lst()),
        "array shape",
    ),
    "Fortran order": (
        cp.batch(
            cp.array((2, 3072), cp.dtype(cp.text("u1")), cp.raw(bytes(6144)), fortran=cp.TRUE),
            cp.lst(cp.integer(0), cp.integer(1)),
        ),
        "not in C order",
    ),
    "dtype filled twice": (
        cp.batch(ROWS, cp.array((2,), cp.build(cp.dtype(cp.text("i8")), cp.dtype_state()), cp.raw(bytes(16)))),
        "filled in twice",
    ),
    "BUILD on a stand-in class": (cp.batch(cp.build(cp.glob("numpy", "dtype"), cp.dct()), cp.lst()), "corrupt"),
    "dtype made without its constructor": (
        cp.batch(ROWS, cp.array((2,), cp.glob("numpy", "dtype") + cp.tup() + b"\x81", cp.raw(bytes(16)))),
        "expected a name",
    ),
    "dtype name of a megabyte": (
        cp.batch(ROWS, cp.array((2,), cp.dtype(cp.text("u" * 2**20)), cp.raw(bytes(16)))),
        r"dtype 'u{20}' \(expected",
    ),
}

_READER = """
import sys
from hpsearch.core.data import DataError, read_batch
try:
    read_batch(sys.argv[1])
except DataError as exc:
    print("DataError:", exc)
    sys.exit(0)
print("loaded without complaint")
sys.exit(3)
"""


@pytest.mark.parametrize("name", list(_NUMPY_ATTACKS))
def test_a_batch_that_attacks_numpy_is_refused_without_crashing(tmp_path, name):
    blob, problem = _NUMPY_ATTACKS[name]
    (tmp_path / "test_batch").write_bytes(blob)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _READER, str(tmp_path / "test_batch")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode} (-11 is a segfault): {done.stdout}{done.stderr[-2000:]}"
    assert "DataError:" in done.stdout and "test_batch" in done.stdout
    assert re.search(problem, done.stdout), done.stdout
