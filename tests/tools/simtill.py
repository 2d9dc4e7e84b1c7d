"""A sim-board till in a directory, booted under MicroPython from a ROMFS image
with a Pico W's 192K of heap beside it: shared by tests/host/test_sim_till.py
and make bench."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cbor2
from PIL import Image, ImageDraw

from host_tools import snapshot_builder as sb
from host_tools.raster import to_raster
from till.snapshot import SnapshotStore

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "store"
TILL_ID = "S001/till-1"
KEY = bytes(range(32))
NOON = 1795262400  # 2026-11-21 12:00 UTC
PICO_W_HEAP_KIB = 192


def make_till_root(tmp: Path) -> Path:
    """What `kassa flash` and the first sync leave on a till, in a directory."""
    root = tmp / "till"
    root.mkdir()
    (root / "identity").write_bytes(cbor2.dumps({1: TILL_ID, 2: KEY}))
    config = sb.load_config(DATA / "store.json")
    items = sb.load_items(DATA / "items.csv", config)
    sb.build(items, config, 1, tmp / "snap", created=NOON - 3600)
    sb.write_full_package(tmp / "snap", tmp / "snap.pkg")
    store = SnapshotStore(str(root / "snapshot"))
    store.open()
    with open(tmp / "snap.pkg", "rb") as f:
        store.install(f)
    store.close()
    logo = Image.new("L", (300, 60), 255)
    ImageDraw.Draw(logo).rectangle((10, 10, 290, 50), outline=0, width=6)
    (root / "snapshot" / "logo.ras").write_bytes(to_raster(logo, 576))
    return root


def boot(root: Path, script: str, image: Path, timeout_s: float = 120,
         heap_beside_kib: int = PICO_W_HEAP_KIB) -> subprocess.CompletedProcess:
    """firmware/main.py under MicroPython, firmware from a ROMFS image as on a board,
    with a Pico W's 192K of heap left beside the image (tests/tools/romfs_boot.py)."""
    heap_kib = heap_beside_kib + (image.stat().st_size + 1023) // 1024
    env = {k: v for k, v in os.environ.items()}
    env["MICROPYPATH"] = ".frozen"  # nothing from the host: /rom is added by the boot
    micropython = str(Path(sys.executable).with_name("micropython"))
    return subprocess.run([micropython, "-X", f"heapsize={heap_kib}K",
                           str(ROOT / "tests" / "tools" / "romfs_boot.py"), str(image),
                           str(ROOT / "firmware" / "main.py")],
                          input=script, capture_output=True, text=True, cwd=root, env=env,
                          timeout=timeout_s)


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

