"""The code that writes files on a till (host_tools.provision.device.write_code),
run by the MicroPython unix port as a board runs it: every file lands byte for
byte, whatever its size against the chunk, and no exec body carries much more
than a chunk of data (a board compiles each body in its heap)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.provision.device import WRITE_CHUNK_BYTES, write_code

CHUNK = WRITE_CHUNK_BYTES
SIZES = {"empty": 0, "one": 1, "small.mpy": 300, "chunk": CHUNK, "chunk_plus": CHUNK + 1,
         "big.mpy": 5 * CHUNK + 17, "after_big": 40}


def _files(tmp: Path) -> list[tuple[str, str]]:
    src = tmp / "src"
    src.mkdir()
    pairs = []
    for name, size in SIZES.items():
        (src / name).write_bytes(os.urandom(size))
        pairs.append((str(src / name), "till.new/" + name))
    return pairs


def test_micropython_writes_every_file_as_sent(tmp_path: Path) -> None:
    pairs = _files(tmp_path)
    bodies = write_code(pairs)
    # base64 is 4/3 of the data; the statements around it are a few lines.
    assert max(len(b) for b in bodies) < 2 * CHUNK * 4 // 3 + 500
    assert len(bodies) < sum(SIZES.values()) // CHUNK + 3
    till = tmp_path / "till"
    (till / "till.new").mkdir(parents=True)
    script = tmp_path / "bodies.py"
    # Each body as its own exec, in order, as mpremote sends them.
    script.write_text("bodies = %r\nfor b in bodies:\n    exec(b)\n" % (bodies,))
    micropython = str(Path(sys.executable).with_name("micropython"))
    proc = subprocess.run([micropython, "-X", "heapsize=192K", str(script)], cwd=till,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for local, remote in pairs:
        assert (till / remote).read_bytes() == Path(local).read_bytes(), remote


def test_a_file_rewritten_is_replaced_whole(tmp_path: Path) -> None:
    """A second write of the same path starts it afresh (the file is opened
    'wb' first), so leftovers of an earlier, longer copy never stay."""
    pairs = _files(tmp_path)
    till = tmp_path / "till"
    (till / "till.new").mkdir(parents=True)
    here = os.getcwd()
    os.chdir(till)
    try:
        for body in write_code(pairs):
            exec(body, {})
        Path(pairs[5][0]).write_bytes(b"short")
        for body in write_code([pairs[5]]):
            exec(body, {})
    finally:
        os.chdir(here)
    assert (till / pairs[5][1]).read_bytes() == b"short"


def test_put_many_keeps_each_command_line_within_the_limit(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows allows 32,767 characters on a command line: a first flash is
    split into several mpremote sessions there, every file still sent once,
    in order."""
    from host_tools.provision import device

    pairs = _files(tmp_path)
    runs: list[tuple[str, ...]] = []
    monkeypatch.setattr(device, "ARGS_CHARS", 6000)
    dev = device.Device("socket://127.0.0.1:9", resume=True)
    monkeypatch.setattr(dev, "run", lambda *args: runs.append(args) or "")
    dev.put_many(pairs)
    assert len(runs) > 1
    assert all(sum(map(len, args)) <= 6000 for args in runs)
    assert all(args[0] == "exec" and args[-1] != "+" for args in runs)
    bodies = [a for args in runs for a in args if a not in ("exec", "+")]
    assert bodies == write_code(pairs)
