"""Lists a compiled module's string constants in its own qstr table, so that
under MicroPython they cost the till almost no heap.

Why: a str constant in a .mpy file becomes a heap object when the module is
imported, even when the module runs in place from ROMFS (the object points at
the text in flash, but the object itself is 32 bytes on a 64-bit port, 16 on a
Pico). The firmware has over a thousand of them (the cashier's prompts, error
texts): on the 64-bit unix port the tests run on, some 40 KB of a 192 KB heap.
Unless a qstr (an interned string) with the same text exists: then the loader
hands out the qstr and allocates nothing (py/persistentcode.c: load_obj ->
mp_obj_new_str_static -> qstr_find_strn). mpy-cross interns only strings of up
to 10 characters and identifiers. A module's qstr table is loaded before its
constants, and from ROMFS its entries are interned without copying their text
(load_qstr -> qstr_from_strn_static): an entry costs one slot in MicroPython's
qstr pool (11 bytes here, 7 on a Pico).

So each str constant is appended to the qstr table of its own module. Nothing
else changes: the bytecode names qstrs by their index in the table and the new
entries come after every index it uses; the file stays a valid .mpy of the same
version (docs/flashing.md). A module copied to littlefs instead of ROMFS has its
qstr text copied into the heap, about what the str object's text cost there.

The qstr pool grows by doubling its slot count (the next step on this port is
a block of some 28 KB once about 2,530 qstrs exist): tests/device/test_heap.py
keeps the whole till's count, link and snapshot install included, below it.

The format (MicroPython's py/persistentcode.c, .mpy version 6): a 4-byte header;
the number of qstrs and of constant objects (variable-length unsigned ints,
7 bits a byte, high bit set on all but the last); each qstr as uint(len << 1)
then its bytes and a NUL (uint(id << 1 | 1) for one built into the firmware);
each object as a type byte, then for str and bytes uint(len), the bytes and a
NUL, for int, float and complex uint(len) and the digits, for a tuple uint(n)
and n objects; then the module's code.
"""
from __future__ import annotations

MPY_VERSION = 6
# Object type bytes (py/persistentcode.h, MP_PERSISTENT_OBJ_*).
_NO_DATA = {0, 1, 2, 3, 4}  # the native function table, None, False, True, Ellipsis
_STR, _BYTES, _INT, _FLOAT, _COMPLEX, _TUPLE = 5, 6, 7, 8, 9, 10
# A qstr's length is stored in one byte (MICROPY_QSTR_BYTES_IN_LEN = 1).
MAX_QSTR_BYTES = 255


class MpyFormatError(ValueError):
    pass


def _read_uint(data: bytes, pos: int) -> tuple[int, int]:
    n = 0
    while True:
        if pos >= len(data):
            raise MpyFormatError("the file ends inside a number")
        b = data[pos]
        pos += 1
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            return n, pos


def _uint(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _skip_obj(data: bytes, pos: int, strings: list[bytes]) -> int:
    """Position after the object at `pos`; str constants are added to `strings`."""
    kind = data[pos]
    pos += 1
    if kind in _NO_DATA:
        return pos
    n, pos = _read_uint(data, pos)
    if kind == _TUPLE:
        for _ in range(n):
            pos = _skip_obj(data, pos, strings)
        return pos
    if kind in (_STR, _BYTES):
        if kind == _STR:
            strings.append(data[pos:pos + n])
        return pos + n + 1  # the text and its NUL
    if kind in (_INT, _FLOAT, _COMPLEX):
        return pos + n
    raise MpyFormatError(f"unknown constant type {kind}")


def intern_strings(mpy: bytes) -> bytes:
    """The module with each of its str constants also in its qstr table."""
    if len(mpy) < 4 or mpy[0:1] != b"M" or mpy[1] != MPY_VERSION:
        raise MpyFormatError("not a version 6 .mpy file")
    if mpy[2] != 0:
        raise MpyFormatError("native code: only bytecode modules are handled")
    n_qstr, pos = _read_uint(mpy, 4)
    n_obj, pos = _read_uint(mpy, pos)
    tables_at = pos
    known: set[bytes] = set()
    for _ in range(n_qstr):
        n, pos = _read_uint(mpy, pos)
        if not n & 1:
            known.add(mpy[pos:pos + (n >> 1)])
            pos += (n >> 1) + 1
    qstrs_end = pos
    strings: list[bytes] = []
    for _ in range(n_obj):
        pos = _skip_obj(mpy, pos, strings)
    extra = []
    for text in strings:
        if text not in known and 0 < len(text) <= MAX_QSTR_BYTES and b"\0" not in text:
            known.add(text)
            extra.append(_uint(len(text) << 1) + text + b"\0")
    if not extra:
        return mpy
    return (mpy[:4] + _uint(n_qstr + len(extra)) + _uint(n_obj) + mpy[tables_at:qstrs_end]
            + b"".join(extra) + mpy[qstrs_end:])
