# Helpers for device tests: the same test file runs under CPython (pytest) and
# under the MicroPython unix port (tests/device/mp_runner.py), so this module
# uses nothing either interpreter lacks.
import os
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    pass


def skip(reason):
    if not IS_MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s was not raised by %r" % (exc_type.__name__, fn))


def tmpdir():
    """A fresh, empty directory for one test."""
    base = os.getenv("KASSA_TEST_TMP") or "/tmp"
    name = base + "/t" + "".join("%02x" % b for b in os.urandom(6))
    os.mkdir(name)
    return name


def rmtree(path):
    for name in os.listdir(path):
        full = path + "/" + name
        if os.stat(full)[0] & 0x4000:
            rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def copy_tree(src, dst, buf=None):
    """Copy a directory tree through one small buffer (no file whole in RAM:
    a test under MicroPython's fixed heap lays out a till from a template)."""
    buf = buf or bytearray(256)
    os.mkdir(dst)
    for name in os.listdir(src):
        s, d = src + "/" + name, dst + "/" + name
        if os.stat(s)[0] & 0x4000:
            copy_tree(s, d, buf)
            continue
        with open(s, "rb") as fin, open(d, "wb") as fout:
            while True:
                n = fin.readinto(buf)
                if not n:
                    break
                fout.write(memoryview(buf)[:n])


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def mem_free():
    import gc

    gc.collect()
    try:
        return gc.mem_free()
    except AttributeError:  # CPython has no fixed heap
        return None


# A journal's low_free_bytes with no room to spare: HO's processed segments go
# at once, as on a full flash, instead of staying for refunds and copies.
TIGHT = 1 << 40


def chip_free(cap, root=None):
    """A stand-in for the free-flash query (journal._free_bytes) on a chip of
    cap[0] bytes: free is what the files under root (else the path asked
    about) leave of it."""
    import os

    def used(path):
        n = 0
        for name in os.listdir(path):
            st = os.stat(path + "/" + name)
            n += used(path + "/" + name) if st[0] & 0x4000 else st[6]
        return n

    def free(path):
        return cap[0] - used(root or path)

    return free
