"""The till as `kassa flash` sees it: two primitives, run code on it (`exec`)
and put files on it (`put_many`), as mpremote's own file commands are built on
exec and eval. `Device` does both with mpremote over a serial port or a
socket:// bridge; the tests do them against a directory, cutting the power
after any write (tests/host/test_flash_atomic.py), with the same code.

The code sent to the till is here, short and shared by every step: hashes of
files, the copy of unchanged modules, and the firmware switch, which is the
one in the staged boot.py (so the till's boot and the flasher finish an update
with the same code).
"""
from __future__ import annotations

import binascii
import glob
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from host_tools.provision.mpy_build import ROOT

BOOT = ROOT / "firmware" / "boot.py"
_SWITCH_END = "# ---- end of the firmware switch"


class DeviceError(Exception):
    """mpremote could not do what was asked; the message says what happened."""


class Target(Protocol):
    def exec(self, code: str) -> str: ...

    def put_many(self, pairs: Sequence[tuple[str, str]]) -> None: ...

    def mip_install(self, packages: Iterable[str], target: str, index: str | None) -> str: ...


def switch_code(boot_text: str) -> str:
    """boot.py's firmware switch section: `import os` up to its end marker."""
    end = boot_text.find(_SWITCH_END)
    start = boot_text.find("import os\n")
    if end < 0 or start < 0 or start > end:
        raise ValueError("boot.py has no firmware switch section")
    return boot_text[start:end]


# Runs on the till: print "H path sha256" for every file under the given names
# (files or directory trees; missing ones print nothing).
HASHES = """
import os, hashlib, binascii
def _hash(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        while True:
            b = f.read(512)
            if not b:
                break
            h.update(b)
    return binascii.hexlify(h.digest()).decode()
def _hashes(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for n in os.listdir(p):
            _hashes(p + '/' + n)
    else:
        print('H', p, _hash(p))
"""

# Runs on the till: copy a file on the till (unchanged modules need not cross
# the cable, which moves a few KB/s).
COPY = """
def _copy(src, dst):
    buf = bytearray(512)
    with open(src, 'rb') as s, open(dst, 'wb') as d:
        while True:
            k = s.readinto(buf)
            if not k:
                break
            d.write(buf[:k])
"""

# Runs on the till: its board's unique id ("-" where there is none).
UID = """
try:
    import machine
    print('UID', binascii.hexlify(machine.unique_id()).decode())
except (ImportError, AttributeError):
    print('UID -')
"""

# Runs on the till, not waited for: a board resets and boots main.py (a soft
# reset from the raw REPL would not run it); the unix-port simulator has no
# machine.reset, and its soft reset ends the process, which the test harness
# starts again as a board would boot.
RESTART = """
import time, machine
time.sleep_ms(100)
try:
    machine.reset()
except AttributeError:
    machine.soft_reset()
"""


# Files cross the cable as base64 inside the code of an exec, about
# WRITE_CHUNK_BYTES of data per exec: mpremote's own `fs cp` runs one exec
# round trip per 256 bytes with the bytes repr()'d (4 KB/s measured here over
# the unix-port bridge, 1.6-2 KB/s on a 115200 UART: FIELD_NOTES), while the
# raw-paste mode streams a longer exec at the line's speed. The code arrives
# in one buffer and its bytes constant is another, each needing one free
# block: 1 KB of data (1.4 KB of base64) found room in the heap a till leaves
# when mpremote breaks in without a soft reset (`--resume`), where 2 KB failed
# (MemoryError allocating 2,733 bytes, tests/host/test_deploy_e2e.py).
WRITE_CHUNK_BYTES = 1024
# The code of one mpremote session travels on its command line: Windows
# allows 32,767 characters; Linux 128 KiB per argument and far more in all.
ARGS_CHARS = 24_000 if sys.platform == "win32" else 256_000


def write_code(pairs: Sequence[tuple[str, str]],
               chunk_bytes: int = WRITE_CHUNK_BYTES) -> list[str]:
    """Code that writes local files (local path, path on the till) on the till,
    one exec body per chunk of about chunk_bytes of data (small files share
    one; a big one goes on in the next body, opened to append). Run them in
    order. Each file is written in place, as mpremote's cp writes it."""
    bodies: list[str] = []
    lines: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if lines:
            bodies.append("import gc\ngc.collect()\nfrom binascii import a2b_base64 as _a\n"
                          + "\n".join(lines) + "\n")
            lines.clear()
            size = 0

    for local, remote in pairs:
        with open(local, "rb") as f:
            data = f.read()
        lines.append(f"_f = open({remote!r}, 'wb')")
        for i in range(0, len(data), chunk_bytes):
            if size >= chunk_bytes:  # the rest of this file in the next body
                lines.append("_f.close()")
                flush()
                lines.append(f"_f = open({remote!r}, 'ab')")
            chunk = data[i:i + chunk_bytes]
            lines.append(f"_f.write(_a({binascii.b2a_base64(chunk, newline=False)!r}))")
            size += len(chunk)
        lines.append("_f.close()")
        if size >= chunk_bytes:
            flush()
    flush()
    return bodies


def parse_hashes(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "H":
            found[parts[1]] = parts[2]
    return found


def parse_value(out: str, tag: str) -> str | None:
    for line in out.splitlines():
        if line.startswith(tag + " "):
            value = line[len(tag) + 1:].strip()
            return None if value == "-" else value
    return None


class Device:
    """mpremote against one port; `resume` skips the soft reset (needed for a
    unix-port device, harmless to leave off for a board)."""

    def __init__(self, port: str, resume: bool = False, timeout_s: float = 300) -> None:
        self.port = port
        self.resume = resume
        self.timeout_s = timeout_s

    def run(self, *args: str) -> str:
        if self.port.startswith("/dev/") and not Path(self.port).exists():
            # mpremote would say the port "may be in use by another program".
            present = sorted(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*"))
            raise DeviceError(f"there is no {self.port} on this computer: connect the till by USB "
                              "and check the port's name ("
                              + (f"serial ports here: {', '.join(present)}" if present
                                 else "no USB serial port is here now") + ")")
        connect = self.port if ":" not in self.port or self.port.startswith("port:") \
            else f"port:{self.port}"
        cmd = [sys.executable, "-m", "mpremote", "connect", connect]
        if self.resume:
            cmd.append("resume")
        cmd.extend(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"the till on {self.port} did not answer within "
                              f"{self.timeout_s:.0f} s") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            hint = ""
            if "could not enter raw repl" in tail[0]:
                # A till whose gateway link is its REPL's port (an ESP32) lets
                # mpremote in only between sales (docs/link.md).
                hint = (": the till did not let mpremote in. If its display says "
                        "'Maintenance: finish the sale', finish the sale and flash again; "
                        "check that no other program (the gateway's sync) uses the port")
            raise DeviceError(f"mpremote on {self.port} failed: {tail[0]}{hint}")
        return proc.stdout

    def exec(self, code: str) -> str:
        return self.run("exec", code)

    def put_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Copy local files to the till (write_code), in as few mpremote
        sessions as the command line allows (ARGS_CHARS)."""
        args: list[str] = []
        for body in write_code(pairs):
            if args and sum(map(len, args)) + len(body) > ARGS_CHARS:
                self.run(*args[:-1])
                args = []
            args += ["exec", body, "+"]
        if args:
            self.run(*args[:-1])

    def mip_install(self, packages: Iterable[str], target: str, index: str | None) -> str:
        args = ["mip", "install", "--target", target]
        if index:
            args += ["--index", index]
        return self.run(*args, *packages)

    def restart(self) -> None:
        self.run("exec", "--no-follow", RESTART)
