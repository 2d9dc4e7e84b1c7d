"""The whole till under `make bench`: firmware/main.py on the sim board under
MicroPython, firmware in a ROMFS image as on a board with a ROMFS partition;
how much heap beside the image a boot, sign-on, 3-line sale and receipt need,
and what is free after the boot and after sales."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from simtill import NOON, SALE_SCRIPT, boot, make_till_root

from host_tools.provision.romfs import build_image

ROOT = Path(__file__).resolve().parent.parent


def _sold(tmp: Path, image: Path, heap_kib: int) -> bool:
    work = tmp / f"h{heap_kib}"
    work.mkdir()
    root = make_till_root(work)
    proc = boot(root, SALE_SCRIPT, image, heap_beside_kib=heap_kib)
    return (proc.returncode == 0 and "MemoryError" not in proc.stdout + proc.stderr
            and (root / "printer.bin").exists())


# Boot, sign on, two cash sales; the heap after each step (the sim's `heap`
# and `qstrs` commands).
_HEAP_SCRIPT = f"""clock {NOON}
heap boot
qstrs
key 1 SIGN
type 1111
key TOTAL
scan 4006381333931
key 2 0 0 0 CASH
wait 300
scan 4006381333931
key 2 0 0 0 CASH
wait 300
heap sales
"""


def _heap_rows(tmp: Path, image: Path) -> tuple[list[str], int]:
    rows, qstrs = [], 0
    for kib in (192, 256):
        work = tmp / f"heap{kib}"
        work.mkdir()
        proc = boot(make_till_root(work), _HEAP_SCRIPT, image, heap_beside_kib=kib)
        heap = {m[0]: (int(m[1]), int(m[2]))
                for m in re.findall(r"^HEAP (\w+) (\d+) (\d+)$", proc.stdout, re.M)}
        found = re.search(r"n_qstr=(\d+)", proc.stdout)
        qstrs = int(found.group(1)) if found else 0
        rows.append(f"| {kib}K | {heap['boot'][0]:,} / {heap['boot'][1]:,} | "
                    f"{heap['sales'][0]:,} / {heap['sales'][1]:,} |")
    return rows, qstrs


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
        rows, qstrs = _heap_rows(tmp, image)
    return (
        "## The whole till (sim board, MicroPython)\n\n"
        "`firmware/main.py` boots, a cashier signs on, scans two items, keys a third by "
        "PLU, pays cash; the receipt (logo, QR) goes to the sim printer. The firmware runs "
        "from a ROMFS image (`kassa flash --romfs`), executed in place as on a board.\n\n"
        "| figure | value | compared with |\n|---|---|---|\n"
        f"| ROMFS image (firmware + sim board file) | {size / 1024:.0f} KiB | a board's "
        "ROMFS partition, in flash |\n"
        f"| smallest heap beside the image that completes the sale (4 KiB steps) | "
        f"{need} KiB | 192 KiB free on a Pico W |\n"
        f"| interned strings (qstrs) after the boot | {qstrs:,} | the pool's next doubling "
        "at 2,540 on this port (tests/host/test_link_till.py keeps 150 below it) |\n\n"
        "Free heap, bytes free / largest free block, the link to the gateway and the "
        "snapshot installer loaded (they are from the boot: till/app.py says why):\n\n"
        "| heap beside the image | after the boot | after sign-on and two sales |\n"
        "|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "The build lists every str constant of a module in the module's qstr table "
        "(host_tools/provision/mpy_strings.py): MicroPython then hands out the interned "
        "string, its text in the image, instead of a 32-byte heap object each. Before it "
        "(measured 2026-12-06), the till had 15.6 KB free at 192K after the boot without its "
        "link's code, 12.8 KB after two sales in pieces of 640 bytes, and the link's code "
        "did not load after 30 sales. The image grows by the texts it lists twice.\n\n"
        "On this 64-bit unix port objects are about twice their size on a 32-bit RP2040, "
        "so a board needs less. Copied to littlefs as .mpy files instead of ROMFS, the "
        "firmware's bytecode alone takes over 200 KiB of heap here: a Pico W needs a "
        "MicroPython build with a ROMFS partition (or the firmware frozen in).\n"
    )
