"""Finding a receipt by the number a cashier keys (Engine.document_seq, a
bisection over the journal: till.pos.reports.find_number) in a full journal,
under MicroPython's 192K heap (make bench)."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 10_000  # about a full Pico journal (10,944 three-line sales)
RUNS = 3  # the fastest of three: the machine is shared
CASES = (("first", "the first receipt"), ("middle", "a receipt in the middle"),
         ("recent", "a receipt 50 before the newest"), ("last", "the newest receipt"),
         ("refund_first", "the first refund"), ("refund_last", "the newest refund"))


def bench_doc_numbers(mp: Callable[..., dict[str, list[str]]]) -> str:
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        jdir = f"{d}/journal"
        fill = [int(x) for x in mp("mp_doc_numbers.py", "fill", jdir, RECORDS, heap="8M")["fill"]]
        runs = [mp("mp_doc_numbers.py", "find", jdir) for _ in range(RUNS)]
        # One pass over every record (mp_journal.py's replay): a lookup without the probes.
        scan_n, scan_us = min((tuple(int(x) for x in mp("mp_journal.py", "replay", jdir)["replay"])
                               for _ in range(RUNS)), key=lambda r: r[1])
    _, sales, refunds, segments = fill
    best = {name: min((int(r[name][0]), int(r[name][1])) for r in runs) for name, _ in CASES}
    rows = "".join(f"| {what} | {best[name][0] / 1e3:.1f} ms | {best[name][1]} | "
                   f"{20 * best[name][0] / 1e6:.2f}-{50 * best[name][0] / 1e6:.2f} s |\n"
                   for name, what in CASES)
    return (
        "## Finding a receipt by its number (MicroPython, `-X heapsize=192K`)\n\n"
        f"A journal of {RECORDS:,} records in {segments} segments of 16 KiB: {sales:,} sales "
        f"numbered 1 to {sales:,}, {refunds} refunds (one every 40 records) with their own "
        "numbers, a sign-on every 25. What REFUND and REPORT 3 do with the number a cashier "
        "keys (`Engine.document_seq`, docs/records.md \"Document numbers\"): probes stepping "
        "down from the newest record by doubling distances, then a bisection over the "
        "journal's sequence; each probe reads forward from where it lands to the first record "
        f"of the series. Fastest of {RUNS} runs.\n\n"
        "| lookup | this machine | records handed to it | an RP2040, estimated 20-50x slower |\n"
        "|---|---|---|---|\n" + rows +
        f"| without the probes: one pass over the journal (reading every record) | {scan_us / 1e3:.0f} ms | "
        f"{scan_n:,} | {20 * scan_us / 1e6:.0f}-{50 * scan_us / 1e6:.0f} s |\n\n"
        "A probe costs reading its segment from the start up to where it lands (the journal "
        "reads forward only), so a lookup costs about log2(distance from the newest record) "
        "half segments. A sparse "
        "series (refunds) also reads on to its next record at each probe. Nothing is kept "
        "between lookups: the heap holds no index that grows with the day.\n"
    )
