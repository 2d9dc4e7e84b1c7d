"""A till for the gateway's tests: TillPort over a REAL journal
(till.formats.journal under CPython, with its key), so hello, records and
PROCESSED are what a till's journal answers. It can be told to fail at any
call (LinkError: a cut cable), to mangle the records it sends, and to be slow.

`open_fake(url)` opens one from a URL `fake:DIR`, where DIR holds the journal
(DIR/journal), the key (DIR/till.key) and the till id (DIR/till.id); a
gateway subprocess uses it through run_gateway.py.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from host_tools.gateway.tillport import Hello, LinkError, PackageResult

from till.formats import journal as J

Mangle = Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]]
OPS = ("hello", "records_after", "mark_processed", "offer_package", "set_clock", "close")


class FakeTill:
    def __init__(self, directory: Path, till_id: str, key: bytes, fail_calls: set[int] | None = None,
                 mangle: Mangle | None = None, clock_offset_s: int | None = 0, delay_s: float = 0.0,
                 unreachable: bool = False) -> None:
        self.directory, self.till_id, self.key = directory, till_id, key
        self.fail_calls = fail_calls or set()  # the calls (1 = the first) that find the link cut
        self.fail_ops: set[str] = set()  # operations that find the link cut, every time
        self.mangle, self.delay_s, self.unreachable = mangle, delay_s, unreachable
        self.calls: list[str] = []
        self.clock_offset_s = clock_offset_s
        self.packages: list[tuple[str, bytes]] = []
        self.refuse: dict[str, str] = {}  # kind -> the reason the till gives for refusing it
        self.snapshot_version: int | None = 1  # the HO data in force (None: a freshly flashed till)
        self.closed = False

    def _journal(self) -> J.Journal:
        return J.Journal(str(self.directory / "journal"), self.till_id, self.key, segment_bytes=2048)

    def _call(self, op: str) -> None:
        self.calls.append(op)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.unreachable:
            raise LinkError("no answer on the port (fake: unreachable)")
        if len(self.calls) in self.fail_calls or op in self.fail_ops:
            raise LinkError(f"link cut during {op} (fake: call {len(self.calls)})")

    def hello(self) -> Hello:
        self._call("hello")
        j = self._journal()
        try:
            clock = None if self.clock_offset_s is None else int(time.time()) + self.clock_offset_s
            return Hello(self.till_id, "fake-1", j.last_seq, j.processed_seq, self.snapshot_version, clock,
                         1 << 20, "ok")
        finally:
            j.close()

    def records_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        self._call("records_after")
        j = self._journal()
        try:
            out = [(s, bytes(raw)) for s, raw in j.records_after(seq, limit)]
        finally:
            j.close()
        return self.mangle(out) if self.mangle else out

    def mark_processed(self, seq: int) -> int:
        self._call("mark_processed")
        j = self._journal()
        try:
            j.mark_processed(seq)
            return int(j.processed_seq)
        finally:
            j.close()

    def offer_package(self, kind: str, data: bytes, sha256_hex: str,
                      progress: Callable[[int, int], None] | None = None) -> PackageResult:
        self._call("offer_package")
        if kind in self.refuse:
            return PackageResult(False, self.refuse[kind], None)
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            return PackageResult(False, "the package's hash does not match", None)
        for done in range(0, len(data) + 1, max(1, len(data) // 4)):
            if progress:
                progress(min(done, len(data)), len(data))
        self.packages.append((kind, data))
        if kind in ("snapshot", "delta"):
            self.snapshot_version = (self.snapshot_version or 0) + 1
        return PackageResult(True, "applied", self.snapshot_version)

    def set_clock(self, epoch_s: int) -> int:
        self._call("set_clock")
        found, self.clock_offset_s = self.clock_offset_s, 0
        return -epoch_s if found is None else found  # a clock never set reads 0

    def close(self) -> None:
        self.calls.append("close")
        self.closed = True


def make_till_dir(directory: Path, till_id: str, key: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "till.key").write_bytes(key)
    (directory / "till.id").write_text(till_id)
    return directory


def append_sales(directory: Path, till_id: str, key: bytes, count: int, seed: int = 1) -> None:
    """`count` more records in the till's journal, as the sale engine writes them."""
    import random

    from journals import _sale  # the relay tests' record bodies (docs/records.md)

    rnd = random.Random(seed)
    j = J.Journal(str(directory / "journal"), till_id, key, clock=lambda: 1795300000 + rnd.randint(0, 3600),
                  segment_bytes=2048)
    try:
        for _ in range(count):
            j.append(J.KIND_SALE, _sale(rnd))
    finally:
        j.close()


def open_fake(url: str) -> FakeTill:
    """`fake:DIR[?delay=S]` -> a FakeTill over DIR's journal."""
    if not url.startswith("fake:"):
        raise LinkError(f"{url}: not a fake till URL")
    path, _, query = url[5:].partition("?")
    directory = Path(path)
    if not (directory / "till.key").exists():
        raise LinkError(f"no till at {directory}")
    delay = float(query.split("=", 1)[1]) if query.startswith("delay=") else 0.0
    return FakeTill(directory, (directory / "till.id").read_text().strip(),
                    (directory / "till.key").read_bytes(), delay_s=delay)
