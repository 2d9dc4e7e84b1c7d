"""The build step that lists a module's string constants in its qstr table
(host_tools/provision/mpy_strings.py): the module still loads and behaves the
same under MicroPython, and from ROMFS its strings no longer cost heap."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from mpremote.romfs import make_romfs

from host_tools.provision import mpy_strings
from host_tools.provision.mpy_build import ROOT, compile_file, mpy_cross

MICROPYTHON = str(Path(sys.executable).with_name("micropython"))
ROMFS_BOOT = ROOT / "host_tools" / "provision" / "romfs_boot.py"

MODULE = '''
SHORT = "ok"
LONG = ("Key your cashier no., then SIGN", "Receipt %d not found on this till",
        "Void: manager", b"not a str", 12345678901234567890, 1.5, None, True,
        "caf\\u00e9 \\u20ac 3.50", "x" * 300)


def prompt(i):
    return ("Finish or cancel the sale first", "Sign on first", "Price over %s")[i]


def nested():
    return {"a long dictionary key": [("Payment started: no void",)]}
'''


def _parse(mpy: bytes) -> tuple[list[bytes], list[bytes]]:
    """(the qstr table's texts, the str constants) of a .mpy file."""
    n_qstr, pos = mpy_strings._read_uint(mpy, 4)
    n_obj, pos = mpy_strings._read_uint(mpy, pos)
    qstrs = []
    for _ in range(n_qstr):
        n, pos = mpy_strings._read_uint(mpy, pos)
        if not n & 1:
            qstrs.append(mpy[pos:pos + (n >> 1)])
            pos += (n >> 1) + 1
    strings: list[bytes] = []
    for _ in range(n_obj):
        pos = mpy_strings._skip_obj(mpy, pos, strings)
    return qstrs, strings


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[bytes, bytes]:
    """(mpy-cross's own output, the same after the build step)."""
    tmp = tmp_path_factory.mktemp("mpy")
    src = tmp / "texts.py"
    src.write_text(MODULE)
    plain = tmp / "plain.mpy"
    subprocess.run([mpy_cross(), "-s", "texts.py", "-o", str(plain), str(src)], check=True)
    assert compile_file(src, tmp / "texts.mpy", "texts.py") is None
    return plain.read_bytes(), (tmp / "texts.mpy").read_bytes()


def test_every_string_constant_is_in_the_qstr_table_and_nothing_else_changes(compiled):
    plain, interned = compiled
    qstrs_before, strings = _parse(plain)
    qstrs_after, strings_after = _parse(interned)
    assert strings_after == strings  # the constants themselves are untouched
    assert qstrs_after[:len(qstrs_before)] == qstrs_before  # indices the bytecode uses
    long_ones = [s for s in strings if len(s) <= mpy_strings.MAX_QSTR_BYTES]
    assert b"Key your cashier no., then SIGN" in long_ones
    assert set(long_ones) <= set(qstrs_after)
    assert b"x" * 300 not in qstrs_after  # too long for a qstr: stays an object
    # The module's code follows the tables unchanged.
    assert interned.endswith(plain[-200:])


def test_a_file_that_is_not_bytecode_mpy_is_refused():
    for bad in (b"", b"MPY", b"M\x05\x00\x1f\x00\x00", b"M\x06\x0a\x1f\x00\x00"):
        with pytest.raises(mpy_strings.MpyFormatError):
            mpy_strings.intern_strings(bad)


def _run_from_romfs(tmp: Path, mpy: bytes, script: str) -> str:
    stage = tmp / "rom"
    stage.mkdir()
    (stage / "texts.mpy").write_bytes(mpy)
    with contextlib.redirect_stdout(io.StringIO()):
        image = make_romfs(str(stage), mpy_cross=False)
    (tmp / "image.romfs").write_bytes(image)
    (tmp / "main.py").write_text(script)
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=1M", str(ROMFS_BOOT), str(tmp / "image.romfs"),
                           str(tmp / "main.py")], capture_output=True, text=True, timeout=60,
                          env={"MICROPYPATH": ".frozen"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


SCRIPT = '''
import gc
# The qstr pool grows by doubling: intern names until it has just grown (after
# a few hundred), so that the module's new qstrs fit the pool as it is and the
# figure is the module's own.
i = 0
while True:
    was = gc.mem_alloc()
    getattr(gc, "filler%d" % i, None)
    i += 1
    if i > 300 and gc.mem_alloc() - was > 1000:
        break
gc.collect()
before = gc.mem_alloc()
import texts
gc.collect()
print("HEAP", gc.mem_alloc() - before)
print(repr(texts.LONG))
print([texts.prompt(i) for i in range(3)], texts.nested(), texts.SHORT)
print(texts.prompt(0) == "Finish or cancel the sale " + "first", hash(texts.prompt(1)) == hash("Sign on first"))
'''


def test_under_micropython_the_module_behaves_the_same_and_its_strings_cost_no_heap(
        compiled, tmp_path):
    plain, interned = compiled
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out_plain = _run_from_romfs(tmp_path / "a", plain, SCRIPT).splitlines()
    out_interned = _run_from_romfs(tmp_path / "b", interned, SCRIPT).splitlines()
    assert out_interned[1:] == out_plain[1:]
    assert out_interned[-1] == "True True"
    # Nine str constants that mpy-cross left as objects (more than 10
    # characters, at most 255): 32 bytes of heap each before on this 64-bit
    # port, nothing after.
    saved = int(out_plain[0].split()[1]) - int(out_interned[0].split()[1])
    assert saved >= 9 * 32, (out_plain[0], out_interned[0])
