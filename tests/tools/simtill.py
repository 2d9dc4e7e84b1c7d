"""A sim-board till for tests and make bench: host_tools.provision.sim with the example
store, a logo, and a fixed till identity and time."""
from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image, ImageDraw

from host_tools.provision import sim
from host_tools.hodata.raster import to_raster

TILL_ID = "S001/till-1"
KEY = bytes(range(32))
NOON = 1795262400  # 2026-11-21 12:00 UTC


def make_till_root(tmp: Path, config: Path | None = None) -> Path:
    """What `kassa flash` and the first sync leave on a till, in a directory
    (config: a store.json instead of the example store's)."""
    logo = Image.new("L", (300, 60), 255)
    ImageDraw.Draw(logo).rectangle((10, 10, 290, 50), outline=0, width=6)
    return sim.init(tmp / "till", TILL_ID, KEY, config=config, created=NOON - 3600,
                    logo=to_raster(logo, 576))


def boot(root: Path, script: str, image: Path, timeout_s: float = 120,
         heap_beside_kib: int = sim.SIM_HEAP_KIB) -> subprocess.CompletedProcess:
    """firmware/main.py under MicroPython from the ROMFS image, the script on stdin."""
    return sim.run_micropython(root, image, input_text=script, heap_beside_kib=heap_beside_kib,
                               timeout_s=timeout_s)


SALE_SCRIPT = f"""
clock {NOON}
key 1 SIGN
type 1111
key TOTAL
scan 4006381333931
scan 4008400402222
key 3 QTY
type 31
key PLU
type 20.00
key CASH
"""
