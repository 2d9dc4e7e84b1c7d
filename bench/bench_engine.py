"""The sale engine under `make bench`: a 10-item sale on both interpreters against
the 50,000-item store, the heap it needs, and PIN verification cost (the basis
of till.auth.DEFAULT_ITERATIONS)."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_catalog import build_big_store

ROOT = Path(__file__).resolve().parent.parent
SALES = 20
PIN_ITERATIONS = (500, 1000)
# RP2040 at 133 MHz against this x86 core for MicroPython bytecode: 20-50x
# slower (FIELD_NOTES; the journal benchmarks use the same range).
SLOWER = (20, 50)
MP_HEAP = "320K"


def cpython(*args: object) -> dict[str, list[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "firmware"), str(ROOT / "bench")])
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "mp_engine.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return {ln.split()[1]: ln.split()[2:] for ln in proc.stdout.splitlines()
            if ln.startswith("RESULT ")}


def bench_engine(mp: Callable[..., dict[str, list[str]]],
                 smallest_heap_kib: Callable[..., int | None]) -> str:

    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        snap, items = build_big_store(tmp)
        pieces = [it for it in items if not it.get("weighed") and not it.get("open_price")]
        basket = random.Random(11).sample(pieces, 10)
        codes = tmp / "codes.txt"
        codes.write_text("".join("%013d\n" % it["barcodes"][0] for it in basket))
        rows = []
        r = mp("mp_engine.py", "sale", snap, tmp / "mp-journal", codes, SALES,
               heap=MP_HEAP)["sale"]
        rows.append((f"MicroPython unix port, `-X heapsize={MP_HEAP}`", "host directory", r))
        with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
            r = cpython("sale", snap, Path(shm) / "j", codes, SALES)["sale"]
        rows.append((f"CPython {sys.version.split()[0]}", "tmpfs (no device flush)", r))
        r = cpython("sale", snap, tmp / "cp-journal", codes, SALES)["sale"]
        rows.append((f"CPython {sys.version.split()[0]}", "disk (ext4, fsync per append)", r))
        heap_code = smallest_heap_kib("mp_engine.py", "imports", hi=512)
        heap_setup = smallest_heap_kib("mp_engine.py", "setup", snap, tmp / "h2", codes, 0,
                                       hi=512)
        heap_sale = smallest_heap_kib("mp_engine.py", "sale", snap, tmp / "h1", codes, 3, hi=512)
    pin_rows = []
    for n in PIN_ITERATIONS:
        us = int(mp("mp_engine.py", "pin", n, 20)["pin"][0])
        pin_rows.append(f"| {n} | {us / 1000:.1f} ms | {us * SLOWER[0] / 1e6:.2f}-"
                        f"{us * SLOWER[1] / 1e6:.2f} s |")
    table = "\n".join(f"| {who} | {where} | {int(r[0]) / 1000:.1f} ms | {int(r[1]) / 1000:.2f} ms "
                      f"| {int(r[2]) / 1000:.1f} ms |" for who, where, r in rows)
    return (
        "## Sale engine: a 10-item sale, 50,000-item catalog\n\n"
        f"Ten scans and CASH through `Engine.handle`, {SALES} sales in a row, after "
        "sign-on; the items are found by barcode in the 50,000-item snapshot on flash, "
        "the sale is journaled (CBOR, HMAC chain) and its print job built. *Per scan* "
        "includes the lookup, the new totals and the display lines; *commit* the journal "
        "append, the print job and the drawer action.\n\n"
        "| interpreter | journal on | per sale | per scan | commit |\n|---|---|---|---|---|\n"
        + table + "\n\n"
        "Heap, MicroPython: the smallest `-X heapsize` (2 KiB steps) at which each run "
        "completes.\n\n"
        "| run | smallest heap |\n|---|---|\n"
        f"| import engine, journal, snapshot and what they import (compiled code in the heap) "
        f"| {heap_code} KiB |\n"
        f"| + open the 50,000-item snapshot and the journal, recover, sign on | {heap_setup} KiB |\n"
        f"| + three 10-item cash sales | {heap_sale} KiB |\n\n"
        f"The unix port keeps compiled modules in the heap; all of `firmware/till` together "
        f"is more than a Pico W's 192 KiB, so a board runs the firmware from ROMFS or "
        f"frozen into flash (bytecode executes in place; see *The whole till* below), "
        f"leaving about {heap_sale - heap_code} KiB here for the working set. Most of a "
        "sale's heap is short-lived garbage: the live data of a 10-line sale is about "
        "6 KiB; the rest is the collector's slack and the buffers of encoding the journal "
        "record (`till.cbor.dumps` runs twice per append). The timings above use "
        f"`-X heapsize={MP_HEAP}` so that they measure the engine, not the collector.\n\n"
        "## PIN verification (PBKDF2-HMAC-SHA256, `till.auth`)\n\n"
        "| iterations | this machine, MicroPython | RP2040 estimate "
        f"({SLOWER[0]}-{SLOWER[1]}x slower) |\n|---|---|---|\n"
        + "\n".join(pin_rows) + "\n\n"
        "About half of each iteration is C SHA-256 (four compressions: MicroPython's "
        "sha256 has no copy(), so the HMAC pads are hashed again every time), half the "
        "bytecode XOR of the 32-byte block; a Cortex-M0+ may be nearer 60x slower for the "
        "C part, so take the upper end. `till.auth.DEFAULT_ITERATIONS` is 500: well under "
        "half a second on an RP2040 even at the slow end, and the snapshot builder's "
        "`--pin-iterations` default; the count is per cashier, in the snapshot, so HO can "
        "change it without a firmware update.\n"
    )
