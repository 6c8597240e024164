"""A tiny pickle assembler for tests: builds files opcode by opcode, so a test can write what no honest
pickler would (a dtype state with object fields, a shape the bytes do not fill, a call to os.system) and
what old picklers did (Python 2's CIFAR-10 batches), without ever unpickling anything unsafely itself."""

from __future__ import annotations

import struct

NONE, FALSE, TRUE = b"N", b"\x89", b"\x88"


def text(s: str) -> bytes:  # BINUNICODE: a Python 3 str
    data = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def raw(b: bytes) -> bytes:  # BINBYTES: bytes
    return b"B" + struct.pack("<I", len(b)) + b


def py2str(b: bytes) -> bytes:  # BINSTRING: a Python 2 str, loaded as bytes by encoding="bytes"
    return b"T" + struct.pack("<i", len(b)) + b


def integer(n: int) -> bytes:  # INT (protocol 0 text): any size, any sign
    return b"I%d\n" % n


def glob(module: str, name: str) -> bytes:  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def stack_glob(module: str, name: str) -> bytes:  # STACK_GLOBAL (protocol 4)
    return text(module) + text(name) + b"\x93"


def inst(module: str, name: str, *args: bytes) -> bytes:  # INST: find_class and call in one opcode
    return b"(" + b"".join(args) + b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def lst(*items: bytes) -> bytes:
    return b"](" + b"".join(items) + b"e"


def dct(*pairs: tuple[bytes, bytes]) -> bytes:
    return b"}(" + b"".join(k + v for k, v in pairs) + b"u"


def call(fn: bytes, *args: bytes) -> bytes:  # REDUCE
    return fn + tup(*args) + b"R"


def build(obj: bytes, state: bytes) -> bytes:  # BUILD: obj.__setstate__(state)
    return obj + state + b"b"


def dtype_state(
    order: str = "|", names: bytes = NONE, fields: bytes = NONE, elsize: int = -1, alignment: int = -1, flags: int = 0
) -> bytes:
    return tup(integer(3), text(order), NONE, names, fields, integer(elsize), integer(alignment), integer(flags))


def dtype(name: bytes, state: bytes | None = None) -> bytes:
    """numpy.dtype(name, False, True) then BUILD(state), as numpy pickles a dtype; `name` an encoded op."""
    return build(call(glob("numpy", "dtype"), name, FALSE, TRUE), state if state is not None else dtype_state())


def array(
    shape: tuple[int, ...],
    dtype_op: bytes,
    data_op: bytes,
    fortran: bytes = FALSE,
    module: str = "numpy._core.multiarray",
) -> bytes:
    """_reconstruct(ndarray, (0,), b'b') then BUILD((1, shape, dtype, fortran, data)), as numpy pickles an array."""
    shell = call(glob(module, "_reconstruct"), glob("numpy", "ndarray"), tup(integer(0)), raw(b"b"))
    return build(shell, tup(integer(1), tup(*map(integer, shape)), dtype_op, fortran, data_op))


def pickle_of(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def batch(data_op: bytes, labels_op: bytes) -> bytes:
    return pickle_of(dct((raw(b"data"), data_op), (raw(b"labels"), labels_op)))
