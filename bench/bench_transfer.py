"""The link against `mpremote cp` under `make bench`: the same bytes over the
same kind of socket bridge, straight and through tests/tools/faultproxy.py
limiting the line to 11,520 B/s (a 115200-baud UART).

- Journal, till to gateway: a sim till (MicroPython, ROMFS, sim.SIM_HEAP_KIB
  beside) rings a day's sales; the gateway's client reads every record
  (`records_after`); mpremote copies the same segment files off a unix-port
  board (tests/tools/mp_device.py) that holds them.
- A package, gateway to till: a receipt logo (a raster file, applied by a
  rename on the till) offered over the link (`offer_package`: chunks, the
  till's SHA-256 check, COMMIT); mpremote copies the same file onto the board.

mpremote runs the way `kassa flash` runs it (host_tools.provision.device:
`connect port:socket://... resume`, one session for all files); its time
includes its start and the raw REPL's entry."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import tillday as td
from bench_link import _read_all as read_all
from faultproxy import FaultProxy, Faults
from linktill import RunningTill
from mp_device import UnixDevice
from PIL import Image, ImageDraw
from simtill import make_till_root

from host_tools.gateway.link_client import CHUNK_BYTES, open_till
from host_tools.hodata import journal_reader as jr
from host_tools.hodata.raster import to_raster
from host_tools.provision import sim
from host_tools.provision.device import Device

ROOT = Path(__file__).resolve().parent.parent
SALES = 300
LINE_BYTES_PER_S = 11520  # 115200 baud, 8N1


def _logo(variant: int) -> bytes:
    """A 576-dot-wide receipt logo, 240 lines: a printer-ready raster of about
    17 KB. Each variant is other bytes: the till answers a package it already
    applied from its record, without the transfer (docs/link.md)."""
    img = Image.new("L", (576, 240), 255)
    draw = ImageDraw.Draw(img)
    for i in range(0, 240, 12):
        draw.rectangle((i, i // 2, 575 - i, 239 - i // 2), outline=0, width=3)
    draw.text((20, 110), f"variant {variant}", fill=0)
    return to_raster(img, 576)


def _line(port: int, throttled: bool) -> FaultProxy:
    return FaultProxy(port, Faults(bytes_per_s=LINE_BYTES_PER_S if throttled else None))


def _link_read(port: int, throttled: bool) -> tuple[int, float]:
    """(journal bytes, seconds) of reading every record, as bench_link does."""
    proxy = _line(port, throttled)
    try:
        _, nbytes, seconds, _ = read_all(proxy.url)
    finally:
        proxy.close()
    return nbytes, seconds


def _link_package(port: int, logo: bytes, throttled: bool) -> float:
    proxy = _line(port, throttled)
    try:
        client = open_till(proxy.url, timeout_s=10)
        try:
            t0 = time.monotonic()
            result = client.offer_package("logo", logo, hashlib.sha256(logo).hexdigest())
            took = time.monotonic() - t0
        finally:
            client.close()
    finally:
        proxy.close()
    if not result.applied:
        raise RuntimeError(f"the till refused the logo: {result.detail}")
    return took


def _mpremote(port: int, throttled: bool, args: list[str]) -> float:
    proxy = _line(port, throttled)
    try:
        t0 = time.monotonic()
        Device(proxy.url, resume=True, timeout_s=1800).run(*args)
        return time.monotonic() - t0
    finally:
        proxy.close()


def bench_transfer() -> str:
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        image = sim.romfs_image(tmp / "firmware.romfs")
        logos = {False: _logo(1), True: _logo(2)}
        till = RunningTill(make_till_root(tmp), image, heap_beside_kib=sim.SIM_HEAP_KIB)
        link: dict[bool, float] = {}
        pkg: dict[bool, float] = {}
        try:
            till.send(td.day_script(SALES, heap_every=SALES))
            till.wait_for(f"HEAP {SALES} ", timeout_s=1800)
            till.wait_listening()
            for throttled in (False, True):
                rec_bytes, link[throttled] = _link_read(till.port, throttled)
                pkg[throttled] = _link_package(till.port, logos[throttled], throttled)
        finally:
            till.kill()
        segments = jr.segment_paths(till.root / "journal")
        board = tmp / "board"
        (board / "journal").mkdir(parents=True)
        for seg in segments:
            shutil.copy(seg, board / "journal" / seg.name)
        for throttled, data in logos.items():
            (tmp / f"logo-{throttled}.ras").write_bytes(data)
        seg_bytes = sum(s.stat().st_size for s in segments)
        mp_read: dict[bool, float] = {}
        mp_write: dict[bool, float] = {}
        with UnixDevice(board) as dev:
            for throttled in (False, True):
                out = tmp / f"copied-{throttled}"
                out.mkdir()
                args: list[str] = []
                for seg in segments:
                    args += ["fs", "cp", f":journal/{seg.name}", str(out / seg.name), "+"]
                mp_read[throttled] = _mpremote(dev.port, throttled, args[:-1])
                assert all((out / s.name).read_bytes() == s.read_bytes() for s in segments)
                # Other bytes each time: mpremote skips a file the board holds already.
                mp_write[throttled] = _mpremote(dev.port, throttled, [
                    "fs", "cp", str(tmp / f"logo-{throttled}.ras"), ":logo.ras"])
                assert (board / "logo.ras").read_bytes() == logos[throttled]
    logo = logos[False]  # both variants are the same size
    rows = []
    for what, ours, our_bytes, theirs, their_bytes in (
            ("journal, till to gateway", link, rec_bytes, mp_read, seg_bytes),
            (f"logo ({len(logo):,} B), gateway to till", pkg, len(logo), mp_write, len(logo))):
        for throttled, line in ((False, "loopback TCP, unthrottled"),
                                (True, f"proxy at {LINE_BYTES_PER_S:,} B/s (115200 baud)")):
            a, b = ours[throttled], theirs[throttled]
            rows.append(f"| {what} | {line} | {a:.1f} s, {our_bytes / a:,.0f} B/s | {b:.1f} s, "
                        f"{their_bytes / b:,.0f} B/s | {b / a:.1f}x |")
    return "\n".join([
        "## The link against `mpremote cp` (same bytes, same bridge)",
        "",
        f"A sim till (MicroPython, ROMFS, {sim.SIM_HEAP_KIB}K beside) after {SALES} sales:",
        f"{rec_bytes:,} bytes of records in {len(segments)} segment file(s) ({seg_bytes:,} bytes",
        "with their headers). The link reads the records (`records_after`, docs/link.md);",
        "mpremote copies the segment files off a unix-port board behind the same kind of",
        "TCP bridge (tests/tools/mp_device.py), one session for all files, as `kassa",
        "flash` runs it. The logo goes the other way: `offer_package` (chunks of 507",
        "bytes, each written to flash before the next, the till's SHA-256 check and",
        "COMMIT) against `mpremote fs cp` of the same file.",
        "",
        "| what | line | link | mpremote cp | mpremote / link |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "The journal streams in the till's window of 4 frames and reaches "
        f"{100 * rec_bytes / link[True] / LINE_BYTES_PER_S:.0f} % of the",
        "115200 line; a package goes one chunk at a time (the till grants credit 1: each",
        "chunk is written to flash before the next, as an RP2040 loses UART bytes while",
        f"it writes flash), {1000 * pkg[False] / -(-len(logo) // CHUNK_BYTES):.0f} ms a chunk "
        "unthrottled here, and reaches "
        f"{100 * len(logo) / pkg[True] / LINE_BYTES_PER_S:.0f} % of the line.",
        "",
        "mpremote's time includes its start and the raw REPL's entry (about a second",
        "here), as a person or `kassa flash` pays it; it sends one exec round trip per",
        "256 bytes. mpremote needs the REPL, so a running till would stop selling while",
        "it copies; the link runs beside the sales (docs/link.md).",
        "",
    ])
