"""The whole till under `make bench`: firmware/main.py on the sim board under
MicroPython, firmware in a ROMFS image as on a board with a ROMFS partition;
how much heap beside the image a boot, sign-on, 3-line sale and receipt need."""
from __future__ import annotations

import tempfile
from pathlib import Path

from simtill import SALE_SCRIPT, boot, make_till_root

from host_tools.provision.romfs import build_image

ROOT = Path(__file__).resolve().parent.parent


def _sold(tmp: Path, image: Path, heap_kib: int) -> bool:
    work = tmp / f"h{heap_kib}"
    work.mkdir()
    root = make_till_root(work)
    proc = boot(root, SALE_SCRIPT, image, heap_beside_kib=heap_kib)
    return (proc.returncode == 0 and "MemoryError" not in proc.stdout + proc.stderr
            and (root / "printer.bin").exists())


def bench_whole_till() -> str:
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        image = tmp / "firmware.romfs"
        image.write_bytes(build_image(ROOT / "boards" / "sim.py"))
        lo, hi = 64, 256
        if not _sold(tmp, image, hi):
            need = None
        else:
            while hi - lo > 4:
                mid = (lo + hi) // 2
                if _sold(tmp, image, mid):
                    hi = mid
                else:
                    lo = mid
            need = hi
        size = image.stat().st_size
    return (
        "## The whole till (sim board, MicroPython)\n\n"
        "`firmware/main.py` boots, a cashier signs on, scans two items, keys a third by "
        "PLU, pays cash; the receipt (logo, QR) goes to the sim printer. The firmware runs "
        "from a ROMFS image (`kassa flash --romfs`), executed in place as on a board.\n\n"
        "| figure | value | compared with |\n|---|---|---|\n"
        f"| ROMFS image (firmware + sim board file) | {size / 1024:.0f} KiB | a board's "
        "ROMFS partition, in flash |\n"
        f"| smallest heap beside the image that completes the sale (4 KiB steps) | "
        f"{need} KiB | 192 KiB free on a Pico W |\n\n"
        "On this 64-bit unix port objects are about twice their size on a 32-bit RP2040, "
        "so a board needs less. Copied to littlefs as .mpy files instead of ROMFS, the "
        "firmware's bytecode alone takes over 200 KiB of heap here: a Pico W needs a "
        "MicroPython build with a ROMFS partition (or the firmware frozen in).\n"
    )
