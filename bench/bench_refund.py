"""What a refund by receipt costs (make bench): it reads every record after the
receipt to learn what is left of it (till.pos.refund; docs/engine.md, "Refunds")."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3  # the fastest of three: the machine is shared
RECORDS = 10_944  # a full Pico journal of three-line sales (the journal boot section)


def bench_refund_scan(mp: Callable[..., dict[str, list[str]]]) -> str:
    best: list[int] | None = None
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
            r = [int(x) for x in mp("mp_refund.py", "scan", f"{d}/journal", RECORDS)["scan"]]
        if best is None or r[2] < best[2]:
            best = r
    assert best is not None
    records, left, scan_us, all_us, free = best
    refunds = (records // 500) * 1
    return (
        "## Refunds: reading what is left of a receipt (MicroPython, `-X heapsize=192K`)\n\n"
        f"A refund by receipt reads every record after the receipt from the journal, one at "
        f"a time, to take off what its stornos refunded (the refunded quantities live only "
        f"there). Worst case: the oldest receipt of a full Pico journal ({records:,} records, "
        f"every 50th a storno, {refunds} of them of that receipt; journal in a host directory). "
        f"Fastest of {RUNS} runs.\n\n"
        "| figure | value | compared with |\n|---|---|---|\n"
        f"| what is left of the receipt, read (`till.pos.refund.of`) | **{scan_us / 1e6:.3f} s** "
        f"({1000 - left} of 1000 pieces refunded before) | decoding every record after it: "
        f"{all_us / 1e6:.3f} s |\n"
        f"| the same on an RP2040, estimated 20-50x slower than this core | "
        f"{scan_us * 20 / 1e6:.0f}-{scan_us * 50 / 1e6:.0f} s | a cashier waiting at the refund |\n"
        f"| free heap after it at 192K | {free // 1024} KiB | 192 KiB |\n\n"
        "Only records holding both a storno's kind and the receipt's number as key 9 (a "
        "byte search in the raw record) are decoded; the journal's reader still decodes "
        "each record once to find its sequence number. A journal HO processes is short (its "
        "segments are freed), so the usual refund reads a few hundred records; the worst "
        "case is a till that could not sync for days.\n"
    )
