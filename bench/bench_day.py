"""A trading day in one boot under `make bench`: 5,000 sales rung back to back on
the sim till (firmware/main.py under MicroPython from ROMFS, the sim's heap
beside it: host_tools/provision/sim.py) with a 115200-baud printer falling behind, and a printer outage
(paper, power, cover). The heap's free bytes and largest free block every 200
sales, the time per sale, and where every receipt went (tests/tools/tillday.py
does the accounting; tests/host/test_till_day.py is the short version)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import tillday as td
from simtill import make_till_root

from host_tools.provision import sim
from host_tools.provision.romfs import build_image

ROOT = Path(__file__).resolve().parent.parent
RUSH_SALES = 5000
OUTAGE = {100: ["paper out"], 300: ["paper ok"], 400: ["printer off"], 450: ["printer on"],
          550: ["cover open"], 600: ["cover closed"]}


def _fates(day: td.Day, sales: int) -> str:
    printed = sum(1 for n in day.printed.values() if n == 1)
    return (f"{len(day.sales)} in the journal, {printed} printed once, "
            f"{len(day.not_printed)} journaled as not printed (REPORT 3 reprints), "
            f"{len(day.waiting)} waiting in the flash queue; "
            f"{len(day.crashes)} crashes; problems: {td.problems(day, sales) or 'none'}")


def bench_trading_day() -> str:
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        image = tmp / "firmware.romfs"
        image.write_bytes(build_image(ROOT / "boards" / "sim.py"))
        rush = td.ring(make_till_root(tmp / "rush"), image,
                       td.day_script(RUSH_SALES, printer_speed=11520, heap_every=200,
                                     end=["wait 15000"]), timeout_s=3600)
        outage = td.ring(make_till_root(tmp / "outage"), image,
                         td.day_script(700, printer_speed=0, gap_ms=20, faults=OUTAGE,
                                       end=["wait 15000"]))
    rows = "\n".join(f"| {n} | {free:,} | {largest:,} |"
                     for n, (free, largest) in sorted(rush.heap.items()))
    free, largest = td.heap_drift(rush, first=200)
    ms = (rush.seconds - 15) * 1000 / RUSH_SALES  # the end's 15 s wait is not selling
    return (
        f"## A trading day in one boot (sim till, MicroPython, {sim.SIM_HEAP_KIB}K)\n\n"
        f"Rush: {RUSH_SALES:,} cash sales back to back (three scans, 50.00 keyed, CASH), "
        "the printer at 11,520 bytes/s (115200 baud; a receipt with the logo is about "
        "5 KB). Outage: 700 sales 20 ms apart on a fast printer, paper out for sales "
        "100-300, printer off 400-450, cover open 550-600. Each boot runs the whole "
        "till from `firmware/main.py`; the script's `heap` command prints "
        "`gc.mem_free()` and the largest free block.\n\n"
        f"| figure | value | compared with |\n|---|---|---|\n"
        f"| time per sale, rush (the sim's keys as fast as the loop takes them) | "
        f"{ms:.1f} ms | a cashier: a sale every 20-60 s |\n"
        f"| heap drift, sale 200 to {RUSH_SALES:,}: free / largest block | "
        f"{free:+,} / {largest:+,} bytes | issue 7: within a few KB |\n"
        f"| rush receipts | {_fates(rush, RUSH_SALES)} | every sale accounted for |\n"
        f"| outage receipts | {_fates(outage, 700)} | every sale accounted for |\n\n"
        "The printer prints about five receipts a second while the rush rings some "
        f"{1000 / ms:.0f}: the flash queue (20 receipts) fills and the oldest receipts "
        "are journaled as not printed, the cashier told; none is lost or printed twice. "
        "The free heap moves with what is in flight (a receipt being laid out, the "
        "printer's chunk); it does not trend.\n\n"
        "| sales | heap free (bytes) | largest free block |\n|---|---|---|\n" + rows + "\n"
    )
