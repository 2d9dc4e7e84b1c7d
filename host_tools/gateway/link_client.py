"""The gateway's side of a till's link, over any pyserial URL.

`open_till("socket://127.0.0.1:7420")` for the sim till or a Pi,
`open_till("/dev/ttyACM1")` for a Pico W's second USB serial port. The framing,
the reliable channel and every message's format are the till's own modules
(till.link: frame, channel, ops; installed on the host with the till package),
so both ends share one implementation; only the blocking I/O is here.

A broken connection (a cut cable, a till that restarted) is reopened and the
request asked again: records continue after the last whole record received,
a package resumes at the offset the till reports; each request is safe to
repeat (docs/link.md).
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import serial

from host_tools.gateway.tillport import Hello, LinkError, PackageResult, TillPort
from till.link import wire as F
from till.link import ops as O
from till.link.stream import RecordStream
from till.link.wire import Channel

CHUNK_BYTES = F.MAX_BODY - O.CHUNK_HEAD
RECONNECTS = 3  # per request, before LinkError
_READ_WAIT_S = 0.002


class TillRefused(LinkError):
    """The till answered with an error (the request changed nothing); code is ops.E_*."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


class _Broken(LinkError):
    """The connection failed or the till restarted: reconnect and ask again."""


def _ms() -> int:
    return int(time.monotonic() * 1000)


class LinkClient:
    """A TillPort over a pyserial URL (see the module comment)."""

    def __init__(self, url: str, timeout_s: float = 5.0, rto_ms: int = 1000,
                 window: int = 8, credit: int = 16) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._rto_ms = rto_ms
        self._window = window
        self._credit = credit
        self._port: Any = None
        self._channel: Channel | None = None
        self._session = 0
        self._replies: list[tuple[int, Any]] = []
        self._stream = RecordStream()
        self.reconnects = 0
        self._connect()

    # ---- the connection -----------------------------------------------------

    def _connect(self) -> None:
        self._drop_port()
        try:
            self._port = serial.serial_for_url(self.url, timeout=_READ_WAIT_S,
                                               write_timeout=self.timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _Broken(f"Cannot open the till's link at {self.url}: {exc}") from exc
        self._channel = Channel(self._on_message, window=self._window, credit=self._credit,
                                rto_ms=self._rto_ms, gateway=True)
        # A new session byte each time: frames of an older session are ignored.
        self._session = (self._session or os.urandom(1)[0]) % 255 + 1
        self._channel.reset(self._session, _ms())
        try:
            self._pump(lambda: self._ch().ready, "to the start of a session")
        except _Broken as exc:
            raise _Broken(f"The till at {self.url} does not answer: {exc}") from exc

    def _drop_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
            self._port = None

    def _ch(self) -> Channel:
        assert self._channel is not None
        return self._channel

    def _on_message(self, body: memoryview) -> None:
        op = body[0]
        if op == O.OP_RECORDS | O.REPLY:
            self._stream.feed(body[1:])
            self._progress = True
            return
        self._replies.append((op, O.args_of(body)))

    def _pump(self, until: Callable[[], bool], what: str) -> None:
        """Move bytes until until() is true; _Broken after timeout_s with no progress."""
        ch = self._ch()
        port = self._port
        deadline = time.monotonic() + self.timeout_s
        self._progress = False
        try:
            while not until():
                now = _ms()
                while (out := ch.next_output(now)) is not None:
                    port.write(bytes(out))
                data = port.read(max(1, port.in_waiting))
                if data:
                    before = ch.rx_expected
                    ch.feed(data, _ms())
                    if ch.rx_expected != before or self._progress:
                        deadline = time.monotonic() + self.timeout_s
                        self._progress = False
                if ch.stale:
                    raise _Broken("the till restarted (it knows no such session)")
                if time.monotonic() > deadline:
                    raise _Broken(f"no answer for {self.timeout_s:g} s waiting {what}")
        except (serial.SerialException, OSError) as exc:
            raise _Broken(f"the link to {self.url} broke: {exc}") from exc

    def _exchange(self, body: bytes) -> tuple[int, Any]:
        """Send one request, wait for its reply (a record stream's END for RECORDS)."""
        ch = self._ch()
        self._replies = []
        self._pump(lambda: ch.room() > 0, "for room in the window")
        ch.send(body)
        self._pump(lambda: bool(self._replies), "for the till's reply")
        return self._replies[-1]

    def _request(self, body: bytes, reply_op: int) -> Any:
        """One request with reconnection; the reply's arguments, or TillRefused."""
        for attempt in range(RECONNECTS + 1):
            try:
                if self._port is None:
                    self._connect()
                op, args = self._exchange(body)
                break
            except _Broken as exc:
                self._drop_port()
                self.reconnects += 1
                if attempt == RECONNECTS:
                    raise LinkError(str(exc)) from exc
        return self._check(op, args, reply_op)

    @staticmethod
    def _check(op: int, args: Any, reply_op: int) -> Any:
        if op == O.R_ERROR:
            if isinstance(args, list) and len(args) >= 2:
                raise TillRefused(int(args[0]), str(args[1]))
            raise LinkError(f"The till sent an unreadable error: {args!r}")
        if op != reply_op:
            raise LinkError(f"The till answered operation {op:#x}, expected {reply_op:#x}")
        return args

    # ---- TillPort -----------------------------------------------------------

    def hello(self) -> Hello:
        h = self._request(O.message(O.OP_HELLO), O.OP_HELLO | O.REPLY)
        try:
            return Hello(till_id=str(h["till"]), firmware=str(h["fw"]), head_seq=int(h["head"]),
                         processed_seq=int(h["processed"]),
                         snapshot_version=_opt_int(h.get("snapshot")),
                         clock_s=_opt_int(h.get("clock")), free_flash_bytes=int(h["free"]) + int(h.get("freeable", 0)),
                         printer=str(h.get("printer", "unknown")))
        except (KeyError, TypeError, ValueError) as exc:
            raise LinkError(f"The till's hello is incomplete ({exc}): {h!r}") from exc

    def records_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """TillPort.records_after. Fewer than `limit` (but at least one) when the
        link kept breaking: the caller asks again after the last one."""
        out: list[tuple[int, bytes]] = []
        after = seq
        for attempt in range(RECONNECTS + 1):
            want = limit - len(out)
            if want <= 0:
                break
            self._stream = RecordStream()
            try:
                if self._port is None:
                    self._connect()
                op, args = self._exchange(O.message(O.OP_RECORDS, [after, want]))
            except _Broken as exc:
                # Keep every whole record that came; ask for the rest.
                got = self._take_stream(after)
                out += got
                after = got[-1][0] if got else after
                self._drop_port()
                self.reconnects += 1
                if attempt == RECONNECTS:
                    if out:
                        return out  # what came, whole and in order; ask again for the rest
                    raise LinkError(str(exc)) from exc
                continue
            self._check(op, args, O.R_RECORDS_END)
            got = self._take_stream(after)
            if not self._stream.complete() or len(got) != args[0]:
                raise LinkError(f"The till's record stream ended inside a record "
                                f"({len(got)} whole records, the till counted {args[0]})")
            out += got
            break
        return out

    def _take_stream(self, after: int) -> list[tuple[int, bytes]]:
        got = self._stream.out
        for i, (s, _) in enumerate(got):
            if s != after + 1 + i:
                raise LinkError(f"The till sent record {s} where {after + 1 + i} was due: "
                                f"its journal has a gap")
        self._stream = RecordStream()
        return got

    def mark_processed(self, seq: int) -> int:
        return int(self._request(O.message(O.OP_PROCESSED, seq), O.OP_PROCESSED | O.REPLY))

    def set_clock(self, epoch_s: int) -> int:
        old, new = self._request(O.message(O.OP_CLOCK, int(epoch_s)), O.OP_CLOCK | O.REPLY)
        # A clock never set counts as 0, as the journal records it (FLAG_CLOCK_NOT_SET).
        return int(old or 0) - int(new)

    def status(self) -> dict[str, Any]:
        return dict(self._request(O.message(O.OP_STATUS), O.OP_STATUS | O.REPLY))

    def offer_package(self, kind: str, data: bytes, sha256_hex: str,
                      progress: Callable[[int, int], None] | None = None,
                      till_id: str | None = None) -> PackageResult:
        """TillPort.offer_package; till_id: the till the package is meant for
        (default: the one that answers), which the till checks against its own."""
        try:
            digest = bytes.fromhex(sha256_hex)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            return PackageResult(False, f"{sha256_hex!r} is not a SHA-256 in hex", None)
        total = len(data)
        target = till_id or self._till_id()
        try:
            at = int(self._request(O.message(O.OP_OFFER, [kind, total, digest, target]),
                                   O.OP_OFFER | O.REPLY))
            while at < total:
                if progress is not None:
                    progress(at, total)
                piece = data[at:at + CHUNK_BYTES]
                try:
                    at = int(self._request(O.chunk(at, piece), O.OP_CHUNK | O.REPLY))
                except TillRefused as exc:
                    if exc.code != O.E_OFFSET:
                        raise
                    # A chunk written before its reply was lost: ask where to go on.
                    at = int(self._request(O.message(O.OP_OFFER,
                                                     [kind, total, digest, target]),
                                           O.OP_OFFER | O.REPLY))
            if progress is not None:
                progress(total, total)
            applied, detail, version = self._request(O.message(O.OP_COMMIT, digest),
                                                     O.OP_COMMIT | O.REPLY)
        except TillRefused as exc:
            return PackageResult(False, str(exc), None)
        return PackageResult(bool(applied), str(detail), _opt_int(version))

    def _till_id(self) -> str:
        if not hasattr(self, "_hello_till"):
            self._hello_till = self.hello().till_id
        return self._hello_till

    def close(self) -> None:
        self._drop_port()


def _opt_int(x: Any) -> int | None:
    return None if x is None else int(x)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_till(url: str, timeout_s: float = 5.0) -> TillPort:
    """Open the link to the till at a pyserial URL; LinkError if it does not answer."""
    return LinkClient(url, timeout_s)
