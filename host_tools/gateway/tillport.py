"""The gateway's view of one till over its link: what the till side offers
(hello, records, PROCESSED, packages, clock). link_client.open_till returns one
over a pyserial URL; tests pass a fake. Shared by the gateway and the link."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


@dataclass(frozen=True)
class Hello:
    till_id: str
    firmware: str
    head_seq: int
    processed_seq: int
    snapshot_version: int | None
    clock_s: int | None
    free_flash_bytes: int
    printer: str


@dataclass(frozen=True)
class PackageResult:
    applied: bool
    detail: str
    version: int | None


class LinkError(Exception):
    """The till is unreachable or the link broke; the message says what."""


class TillPort(Protocol):
    def hello(self) -> Hello: ...

    def records_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Ascending, contiguous, raw record bytes as on flash."""
        ...

    def mark_processed(self, seq: int) -> int:
        """The till's processed seq afterwards."""
        ...

    def offer_package(self, kind: str, data: bytes, sha256_hex: str,
                      progress: Callable[[int, int], None] | None = None) -> PackageResult:
        """kind: "snapshot" | "delta" | "logo"."""
        ...

    def set_clock(self, epoch_s: int) -> int:
        """The offset found before setting: till minus gateway, seconds."""
        ...

    def close(self) -> None: ...
