# Checks the harness itself: the same file really runs on both interpreters.
import sys

import support


def test_interpreter_is_expected():
    if support.IS_MICROPYTHON:
        assert sys.implementation.name == "micropython"
        # The runner caps the heap at a Pico W's free heap (192K).
        free = support.mem_free()
        assert 100000 < free < 200000, free
    else:
        assert sys.implementation.name == "cpython"


def test_raises_helper_fails_when_nothing_raised():
    try:
        support.raises(ValueError, lambda: None)
    except AssertionError:
        return
    raise AssertionError("support.raises accepted a call that raised nothing")


def test_tmpdir_is_fresh():
    d = support.tmpdir()
    import os

    assert os.listdir(d) == []
    support.write_file(d + "/x", b"abc")
    assert support.read_file(d + "/x") == b"abc"
    support.rmtree(d)
