"""What the gateway needs from one till, whatever carries the link.

The gateway codes against `TillPort`; `host_tools.gateway.link_client.open_till`
returns one over a pyserial URL (`socket://127.0.0.1:PORT` for the sim till,
`/dev/ttyACM1` for a board). Tests may hand the gateway any other object with
these methods (a fake till in memory). The wire format behind it lives once, in
the till package (`till.link`), which both sides import.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hello:
    """A till's answer to hello: who it is and where its journal stands."""

    till_id: str
    firmware: str
    head_seq: int  # the last record on the till's flash (0: none yet)
    processed_seq: int  # the last record HO has PROCESSED, as the till knows it
    snapshot_version: int | None  # the HO data in force (None: the till has none)
    clock_s: int | None  # the till's clock, epoch seconds (None: never set)
    free_flash_bytes: int  # free, plus processed journal segments the till would reuse
    printer: str  # "ok", "paper_low", "paper_out", "cover_open", "no_answer", "error" (till/drivers/printer.py)


@dataclass(frozen=True)
class PackageResult:
    """What the till did with a package: applied, or why not (detail in a manager's words)."""

    applied: bool
    detail: str
    version: int | None  # the snapshot version in force afterwards (None: none / not a snapshot)


class LinkError(Exception):
    """The till is unreachable or the link broke; the message says what."""


class TillPort(Protocol):
    def hello(self) -> Hello:
        ...

    def records_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Records seq+1 ... (at most `limit`), ascending and contiguous, each as raw
        bytes exactly as on the till's flash (the relay re-verifies their tags)."""
        ...

    def mark_processed(self, seq: int) -> int:
        """Tell the till HO has processed every record up to `seq`; the till's
        processed seq afterwards."""
        ...

    def offer_package(
        self,
        kind: str,
        data: bytes,
        sha256_hex: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> PackageResult:
        """Send a package (`kind`: "snapshot" | "delta" | "logo"); progress(sent, total)."""
        ...

    def set_clock(self, epoch_s: int) -> int:
        """Set the till's clock; returns the offset found before setting (till minus
        gateway, seconds)."""
        ...

    def close(self) -> None:
        ...
