"""What the sim till's printer printed, read back from its output file.

The sim printer (till.drivers.sim.SimPrinterPort) appends every byte that
reaches the paper to printer.bin. PaperWatcher follows that file: each
receipt, ended by a cut, is rendered by host_tools.hodata.receipt_render and
saved as a PNG beside the file; the text of the receipt being printed (or the
last one) is kept for the screen, and drawer pulses (ESC p, which go to the
printer's drawer port) are counted so the screen can show the drawer open.

A cut's bytes (GS V) can also occur inside a raster logo's data, so a place
is taken as the end of a receipt only when the bytes up to it parse as a
stream whose last block is its only cut.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from host_tools.hodata import receipt_render as rr

# GS V m (m 0, 1, 48, 49) and GS V m n (m 65, 66, 97, 98, 103, 104): full or partial cut.
_CUT = re.compile(rb"\x1dV[\x00\x01\x30\x31]|\x1dV[\x41\x42\x61\x62\x67\x68][\x00-\xff]")
PNG_PATTERN = "receipt-*.png"


def _drawer_pulses(paper: rr.Receipt) -> int:
    return sum(1 for e in paper.events if e.message.startswith("drawer pulse"))


def _has_print(paper: rr.Receipt) -> bool:
    return any(not isinstance(b, rr.TextLine) or b.cells for b in paper.blocks)


@dataclass
class PaperWatcher:
    """Follows `path` from its size now (what earlier runs printed was shown then)."""

    path: Path
    columns: int = rr.DEFAULT_COLUMNS
    width_dots: int = rr.DEFAULT_WIDTH_DOTS
    text: str = ""  # the receipt being printed, else the last one printed
    printing: bool = False  # text is a receipt not yet cut
    last_png: Path | None = None  # the PNG of the last receipt cut this run
    drawer_pulses: int = 0  # seen this run
    _start: int = 0
    _size: int = -1
    _done_pulses: int = 0
    _number: int = 0

    def __post_init__(self) -> None:
        self._start = self.path.stat().st_size if self.path.exists() else 0
        # Numbers go on from the PNGs of earlier runs: none is overwritten.
        numbers = [int(p.stem.split("-")[1]) for p in self.path.parent.glob(PNG_PATTERN)
                   if p.stem.split("-")[1].isdigit()]
        self._number = max(numbers, default=0)

    def poll(self) -> list[Path]:
        """Read what was printed since the last call; the PNGs saved for it."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size == self._size:
            return []
        self._size = size
        with open(self.path, "rb") as f:
            f.seek(self._start)
            data = f.read()
        new: list[Path] = []
        at = 0
        for cut in _CUT.finditer(data):
            chunk = data[at:cut.end()]
            paper = rr.parse(chunk, self.columns, self.width_dots)
            cuts = [b for b in paper.blocks if isinstance(b, rr.Cut)]
            if len(cuts) != 1 or not isinstance(paper.blocks[-1], rr.Cut):
                continue  # the bytes of a logo, not a cut
            at = cut.end()
            self._done_pulses += _drawer_pulses(paper)
            if _has_print(paper):
                self._number += 1
                png = self.path.parent / f"receipt-{self._number:04d}.png"
                rr.draw_paper(paper).image.save(png)
                new.append(png)
                self.text = rr.to_text(paper)
                self.printing = False
        self._start += at
        tail = rr.parse(data[at:], self.columns, self.width_dots)
        self.drawer_pulses = self._done_pulses + _drawer_pulses(tail)
        if _has_print(tail):
            self.text = rr.to_text(tail)
            self.printing = True
        if new:
            self.last_png = new[-1]
        return new
