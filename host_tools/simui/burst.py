"""Fingers or a scanner? Digits told apart by how fast they come.

A barcode scanner that types (a USB "keyboard wedge"), or a paste in a
terminal that does not mark pastes, sends a code's digits far faster than
anyone types: a few milliseconds apart, against a hundred or more for
fingers. The screen holds digits back for gap_s; a run of at least
min_digits that came that fast is a scan, anything else key presses, in
the order typed. Pure: the caller gives the time and acts on what it gets.
"""
from __future__ import annotations

from dataclasses import dataclass, field

GAP_S = 0.03  # keys closer than this come from a scanner or a paste, not fingers
MIN_DIGITS = 8  # the shortest barcode (EAN-8)
MAX_DIGITS = 48  # the sim scanner's max_len (boards/sim.py SCANNER)


@dataclass
class Burst:
    gap_s: float = GAP_S
    min_digits: int = MIN_DIGITS
    max_digits: int = MAX_DIGITS
    digits: list[str] = field(default_factory=list)  # held back
    last_s: float = 0.0  # when the last came

    def add(self, digit: str, now_s: float) -> list[tuple[str, str]]:
        """Hold `digit`; what is to be sent first: ("keys", "123") for digits
        that came slowly before it, ("scan", code) for a run that reached
        max_digits (a held key's repeats: no code is longer)."""
        out = []
        if self.digits and now_s - self.last_s > self.gap_s:
            out.append(self.end())
        self.digits.append(digit)
        self.last_s = now_s
        if len(self.digits) >= self.max_digits:
            out.append(self.end())
        return out

    def due(self, now_s: float) -> bool:
        """Whether the digits held back have waited long enough: no more
        are coming fast."""
        return bool(self.digits) and now_s - self.last_s >= self.gap_s

    def end(self) -> tuple[str, str]:
        """Let the digits held back go: ("scan", code) or ("keys", digits)."""
        digits = "".join(self.digits)
        self.digits = []
        return ("scan" if len(digits) >= self.min_digits else "keys", digits)
