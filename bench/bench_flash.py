"""Flashing under `make bench`: kassa flash's steps (host_tools.provision.flash.install)
with the real mpremote to a MicroPython unix-port board behind a TCP bridge
(tests/tools/mp_device.py): a first flash, in which every module crosses the
cable, a re-flash with nothing changed, and an update of one module."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mp_device import UnixDevice

from host_tools.provision import flash as fl
from host_tools.provision.device import Device

ROOT = Path(__file__).resolve().parent.parent
TILL_ID = "S001/till-1"


def bench_flashing() -> str:
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        staged = fl.stage("sim", tmp / "stage")
        files = [p for p in staged.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        keys = tmp / "keys"
        with UnixDevice(tmp / "till") as dev:
            target = Device(dev.url, resume=True)
            for what in ("first flash (every file sent)", "re-flash, nothing changed",
                         "update of one module"):
                if what.startswith("update"):
                    with (staged / "till" / "pos" / "money.mpy").open("ab") as f:
                        f.write(b"\0")
                t0 = time.perf_counter()
                r = fl.install(target, staged, TILL_ID, keys_dir=keys)
                took = time.perf_counter() - t0
                rows.append(f"| {what} | {r.sent} | {' '.join(r.switched) or '-'} | "
                            f"{r.verified} | {took:.1f} s |")
    return (
        "## Flashing a till\n\n"
        "`kassa flash`'s steps with the real mpremote (" + _mpremote() + ") to a MicroPython "
        "unix-port board behind a TCP bridge (tests/tools/mp_device.py), sim board, "
        f"{len(files)} files, {total // 1024} KiB staged. Each flash reads the till's hashes, "
        "stages, checks every staged file by SHA-256 on the till, commits and switches, and "
        "checks every file again (docs/flashing.md); the restart is not timed.\n\n"
        "| flash | modules sent | switched | files checked | time |\n"
        "| --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        "Files cross as base64 inside exec'd code, 1 KB of data per exec in one mpremote "
        "session (host_tools/provision/device.py, write_code); with mpremote's own `fs cp` "
        "(one round trip per 256 bytes) a first flash of 127 KiB took 53.0 s here (2026-12-06). "
        "The bridge is a local socket; on a board the cable is the limit: a 115200 UART "
        "carries 11.5 KB/s, some 8 KB/s of data as base64, against 1.6-2.0 KB/s for "
        "`mpremote cp` there (FIELD_NOTES; not measured on hardware here).\n")


def _mpremote() -> str:
    import importlib.metadata

    return "mpremote " + importlib.metadata.version("mpremote")
