"""A trading day in one boot: the whole till (firmware/main.py on the sim board,
under MicroPython from ROMFS with the sim's heap beside it) rings thousands of
sales while its printer falls behind, runs out of paper, is switched off and has
its cover opened. Afterwards every sale is in the journal and verifies on the
host, no task crashed, every receipt printed exactly once or is journaled as not
printed (REPORT 3 reprints it) or still waits in the flash queue, and the heap
after the last sale is where it was after the first hundred.

The long version (5,000 sales, heap every 200) is `make bench`."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

import tillday as td
from host_tools.provision.romfs import build_image
from simtill import make_till_root

# One boot, 2,000 sales: a rush with the printer falling behind, then (the
# printer made fast and the queue drained) a stretch at a steadier pace with
# the printer's faults. One boot for both: the heap is checked over the whole
# day, and the suite pays for one till's start and one long run.
RUSH_SALES = 1300
OUTAGE_SALES = 700
DAY_SALES = RUSH_SALES + OUTAGE_SALES
# After the first 100 sales, the heap's free bytes stay within this of where
# they were (they move with what is in flight: a receipt being laid out, the
# printer's chunk): a leak of one small object per sale would be 30+ KB here.
FREE_DRIFT_BYTES = 4096
# The largest free block never falls below what a sale's biggest allocation
# needs (a dict of a dozen keys, a line's list).
MIN_LARGEST_BLOCK = 256


@pytest.fixture(scope="module")
def romfs_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rom") / "firmware.romfs"
    path.write_bytes(build_image(ROOT / "boards" / "sim.py"))
    return path


@pytest.fixture(scope="module")
def day(tmp_path_factory, romfs_image) -> td.Day:
    # The rush: back to back, as fast as the script feeds keys; the printer
    # takes 11,520 bytes/s (115200 baud), some five receipts a second with the
    # logo. After it the flash queue (20 receipts) drains in about 4 s.
    faults = {RUSH_SALES: ["wait 6000", "printer speed 0"]}
    # Then a printer that keeps up when it works, a sale every 30 ms or so:
    # paper out for 200 sales, then refilled; switched off for 50; cover open
    # for 50. After each fix the cashier waits 3.5 s, as one does after fixing
    # the printer: the printer is asked again within its retry_ms (3 s) and the
    # queue's receipts print before the next sales, whatever the machine's load
    # (without the pause a loaded machine let the sales overtake the drain, and
    # receipts kept for the printer's return were dropped by newer ones:
    # correct behaviour, but not what this check is about). The pause before
    # the first fault lets the receipts before it print, also on a loaded machine.
    outage = {100: ["wait 3500", "paper out"], 300: ["paper ok", "wait 3500"], 400: ["printer off"],
              450: ["printer on", "wait 3500"], 550: ["cover open"],
              600: ["cover closed", "wait 3500"]}
    for j in range(OUTAGE_SALES):
        faults[RUSH_SALES + j] = faults.get(RUSH_SALES + j, []) + outage.get(j, []) + ["wait 30"]
    # At the end the sim itself waits while the printer works through its
    # queue; the 6 s cover one more status retry (retry_ms) on a loaded machine.
    script = td.day_script(DAY_SALES, printer_speed=11520, faults=faults, end=["wait 6000"])
    return td.ring(make_till_root(tmp_path_factory.mktemp("day")), romfs_image, script)


def check_day(day: td.Day, sales: int) -> None:
    assert td.problems(day, sales) == []
    free, _ = td.heap_drift(day)
    assert abs(free) <= FREE_DRIFT_BYTES, day.heap
    assert min(largest for n, (_, largest) in day.heap.items() if n >= 100) \
        >= MIN_LARGEST_BLOCK, day.heap


def test_a_day_of_2000_sales_in_one_boot_loses_no_receipt_and_keeps_its_heap(day) -> None:
    check_day(day, DAY_SALES)


def test_a_rush_with_the_printer_falling_behind(day) -> None:
    # The printer fell behind: the flash queue filled and the oldest receipts
    # were journaled as not printed, the rest printed once.
    rush = set(sorted(day.sales)[:RUSH_SALES])
    assert rush & set(day.not_printed) and {s for s in rush if day.printed[s] == 1}


def test_paper_out_printer_off_and_cover_open_lose_no_receipt(day) -> None:
    for message in ("PRINTER: NO PAPER", "PRINTER OFF?", "PRINTER COVER"):
        assert message in day.screens, message  # each fault shown to the cashier
    order = sorted(day.sales)[RUSH_SALES:]
    printed = {i for i, seq in enumerate(order) if day.printed[seq] == 1}
    lost = {i for i, seq in enumerate(order) if seq in day.not_printed}
    # A working printer prints every receipt: before the first fault (the
    # rush's queue drained first) and, after the last, once the printer has
    # been found back (it is asked every retry_ms, while sales here come every
    # 30 ms) and the queue has drained.
    assert set(range(0, 99)) <= printed and set(range(680, OUTAGE_SALES)) <= printed
    for start, end in ((100, 300), (400, 450), (550, 600)):
        during = set(range(start, end + 30))
        # The flash queue kept the newest receipts of the outage and printed
        # them when the printer was back; the older ones beyond its 20 were
        # journaled as not printed (REPORT 3 reprints them).
        assert during & printed and during & lost, (start, sorted(during & lost))
