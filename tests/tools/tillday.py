"""A trading day on the sim till under MicroPython, for tests and `make bench`.

`day_script()` writes what the cashier and the printer do: N cash sales rung
back to back, printer faults at chosen sales, the heap measured every so many
sales. `ring()` boots firmware/main.py from the ROMFS image with that script and
`account()` then reads what the till left: the journal (through the host's
verifier), the paper (each receipt's QR names its sale), the print queue on
flash and what the display showed. `problems()` says what a day must not have.
"""
from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.hodata import journal_reader as jr
from simtill import KEY, NOON, TILL_ID, boot

KIND_SALE = 1
KIND_EVENT = 6
EV_CRASH = 10
EV_NOT_PRINTED = 12
COPY_MARK = b"*** COPY ***"
CUT = b"\x1dV"
INIT = b"\x1b@"  # every receipt starts with ESC @ (till.pos.receipt)
# One sale: three scans, 50.00 keyed, CASH (the rush).
SALE_LINES = ("scan 4006381333931", "scan 4008400402222", "scan 4006381333931",
              "type 50.00", "key CASH")
_QR = re.compile(rb"KASSA1\|" + re.escape(TILL_ID.encode()) + rb"\|(\d+)\|")
_HEAP = re.compile(r"^HEAP (\S+) (\d+) (\d+)$")


def day_script(sales: int, *, printer_speed: int = 0, heap_every: int = 100,
               faults: dict[int, list[str]] | None = None, gap_ms: int = 0,
               end: list[str] | None = None) -> str:
    """The script for `sales` sales. faults: script lines to run before sale i
    (0-based), e.g. {100: ["paper out"], 300: ["paper ok"]}. The heap is
    measured before the first sale, after every `heap_every` sales and at the
    end (labels are sale counts); `end` runs after the last sale."""
    lines = [f"clock {NOON}", f"printer speed {printer_speed}", "key 1 SIGN", "type 1111",
             "key TOTAL", "heap 0"]
    faults = faults or {}
    for i in range(sales):
        lines += faults.get(i, [])
        lines += SALE_LINES
        if gap_ms:
            lines.append(f"wait {gap_ms}")
        if (i + 1) % heap_every == 0 and i + 1 < sales:
            lines.append(f"heap {i + 1}")
    lines += faults.get(sales, [])
    lines.append(f"heap {sales}")
    lines += end or []
    return "\n".join(lines) + "\n"


@dataclass
class Day:
    root: Path
    proc: subprocess.CompletedProcess
    seconds: float
    heap: dict[int, tuple[int, int]] = field(default_factory=dict)  # sales -> (free, largest)
    sales: list[int] = field(default_factory=list)  # journal sequence numbers
    numbers: dict[int, int] = field(default_factory=dict)  # seq -> the receipt's printed number
    crashes: list[str] = field(default_factory=list)
    not_printed: list[int] = field(default_factory=list)
    printed: Counter = field(default_factory=Counter)  # originals on paper, per sale
    copies: Counter = field(default_factory=Counter)
    waiting: list[int] = field(default_factory=list)  # in the flash print queue
    partial: int = 0  # receipt tails on paper (a printer switched on mid-receipt)
    screens: list[str] = field(default_factory=list)  # first display line of each screen
    verify_errors: list[str] = field(default_factory=list)


def ring(root: Path, image: Path, script: str, timeout_s: float = 900) -> Day:
    start = time.monotonic()
    proc = boot(root, script, image, timeout_s=timeout_s)
    # What the till showed, kept beside its journal for a failure's post-mortem.
    (root / "console.txt").write_text(proc.stdout + proc.stderr)
    return account(root, proc, time.monotonic() - start)


def account(root: Path, proc: subprocess.CompletedProcess, seconds: float) -> Day:
    day = Day(root, proc, seconds)
    out = proc.stdout.splitlines()
    for i, line in enumerate(out):
        m = _HEAP.match(line)
        if m:
            day.heap[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
        elif line.startswith("|") and (i == 0 or not out[i - 1].startswith("|")):
            day.screens.append(line.strip("|").rstrip())
    report = jr.verify(root / "journal", KEY, TILL_ID)
    day.verify_errors = [str(e) for e in report.errors]
    for path in jr.segment_paths(root / "journal"):
        for item in list(jr.read_segment(path))[1:]:
            rec = item.value
            if rec[3] == KIND_SALE:
                day.sales.append(rec[1])
                day.numbers[rec[1]] = rec[4].get(11, rec[1])  # docs/records.md "Document numbers"
            elif rec[3] == KIND_EVENT and rec[4][1] == EV_CRASH:
                day.crashes.append(rec[4][3])
            elif rec[3] == KIND_EVENT and rec[4][1] == EV_NOT_PRINTED:
                day.not_printed.append(rec[4][3])
    paper = (root / "printer.bin").read_bytes() if (root / "printer.bin").exists() else b""
    for receipt in paper.split(CUT):
        if INIT not in receipt:
            # The tail of a receipt whose start went into a printer switched
            # on part way: the driver did not count it, and sent it again
            # whole (or journaled it as not printed).
            day.partial += len(_QR.findall(receipt))
            continue
        for seq in _QR.findall(receipt):
            (day.copies if COPY_MARK in receipt else day.printed)[int(seq)] += 1
    queue = root / "printq"
    if queue.exists():
        for f in queue.glob("*.job"):
            day.waiting.append(int(f.stem.partition("-")[2]))
    return day


def problems(day: Day, sales: int) -> list[str]:
    """What went wrong, each in a sentence; [] for a good day."""
    out = []
    if day.proc.returncode != 0:
        out.append(f"the till exited with {day.proc.returncode}: {day.proc.stderr[-500:]}")
    if len(day.sales) != sales:
        out.append(f"{len(day.sales)} sales in the journal, {sales} rung")
    if day.verify_errors:
        out.append(f"the journal does not verify: {day.verify_errors[:3]}")
    if day.crashes:
        out.append(f"{len(day.crashes)} crashes journaled, the first: {day.crashes[0]}")
    if "Traceback" in day.proc.stdout:
        out.append("a traceback on the console")
    twice = sorted(s for s, n in day.printed.items() if n > 1)
    if twice:
        out.append(f"{len(twice)} receipts printed more than once: {twice[:10]}")
    stray = sorted(set(day.printed) - set(day.sales))
    if stray:
        out.append(f"receipts on paper for no sale in the journal: {stray[:10]}")
    # The display names a receipt by its printed number (REPORT 3 takes it).
    told = {int(s.split(":")[1]) for s in day.screens
            if s.startswith("Not printed:") and s.split(":")[1].strip().isdigit()}
    for seq in day.sales:
        fates = [day.printed[seq] == 1, seq in day.not_printed, seq in day.waiting]
        if sum(fates) != 1:
            out.append(f"sale {seq}: printed {day.printed[seq]}x, journaled as not printed: "
                       f"{seq in day.not_printed}, waiting in the queue: {seq in day.waiting}")
            break
    # In a rush the losses come faster than screens can show them, and the
    # sale in progress keeps the display: the cashier is told at least once
    # (REPORT 3 reprints any of them), and never of a receipt that printed.
    if day.not_printed and not told:
        out.append(f"{len(day.not_printed)} receipts not printed and the cashier never told")
    lost = {day.numbers.get(s, s) for s in day.not_printed}
    if told - lost:
        out.append(f"told 'not printed' of receipts that were not: {sorted(told - lost)[:10]}")
    return out


def heap_drift(day: Day, first: int = 100) -> tuple[int, int]:
    """(free, largest block) after the last sale minus after the first `first`."""
    last = max(day.heap)
    return (day.heap[last][0] - day.heap[first][0], day.heap[last][1] - day.heap[first][1])

