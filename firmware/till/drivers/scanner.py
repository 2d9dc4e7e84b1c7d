# Barcode scanner: a line reader over a byte stream.
#
# A serial scanner sends each code as ASCII characters followed by a terminator
# (CR by factory default on most, CRLF or LF on others). The reader only calls
# `readinto(buf)` (or `read(n)`) on the stream it is given -- a machine.UART with
# timeout=0, a serial.Serial with timeout=0, a non-blocking socket file, the Pi's
# evdev keyboard adapter, a BytesIO in tests -- and never blocks: poll() takes
# what has arrived and returns complete codes. Decoding the digits (check digit,
# UPC-E, price-embedded codes) is till.barcode's job; this module hands over the
# raw text.
#
# Duplicate suppression: a scanner in presentation (continuous) mode reads an
# item held in front of it again and again, and a trigger scanner can double-read
# a bouncing trigger. The same code seen again within dedup_ms of the previous
# sighting is dropped; the window runs from the last sighting, so an item held
# still counts once however long it is held. A cashier scanning two equal cans
# takes longer than the window (default 700 ms), so both count.
from till.drivers import periph
from till.drivers.periph import read_available, ticks_diff

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

EVENT_CODE = "code"
EVENT_ERROR = "error"

_CR = const(0x0D)
_LF = const(0x0A)
_GS = const(0x1D)  # GS1-128 / DataMatrix field separator (FNC1), sent by scanners
_MAX_BYTES_PER_POLL = const(512)  # bounds poll() on a line full of noise

TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}

MSG_TOO_LONG = "Barcode too long (over %d characters): scan again"
MSG_GARBLED = "Scanner sent unreadable characters: scan again"
MSG_INCOMPLETE = "Scan cut off: scan again"


class Scanner:
    """Reads codes from `stream`.

    terminator: b"\\r", b"\\n", b"\\r\\n" or the names "CR", "LF", "CRLF". The code
    ends at the terminator's last byte; CR or LF bytes that are not that byte are
    ignored, so a CR-configured reader also copes with a scanner sending CRLF.
    max_len: a longer code is reported as an error and dropped (line noise or a
    wrong terminator setting would otherwise grow the buffer forever). 128 takes
    a receipt's QR code (till.pos.receipt.qr_payload: up to 116 characters with
    the longest till id HO gives), which a refund scans.
    dedup_ms: see the module comment; 0 turns suppression off.
    gap_ms: a code whose bytes stop arriving for this long without a terminator
    is dropped with an error (a scanner sends a code in one burst).
    ticks_ms: the millisecond clock (a fake in tests).
    """

    def __init__(self, stream, terminator=b"\r", max_len=128, dedup_ms=700, gap_ms=500,
                 ticks_ms=None, read_bytes=64):
        if isinstance(terminator, str):
            terminator = TERMINATORS[terminator]
        if terminator not in (b"\r", b"\n", b"\r\n"):
            raise ValueError("terminator must be CR, LF or CRLF")
        self._stream = stream
        self._end = terminator[-1]
        self.max_len = max_len
        self.dedup_ms = dedup_ms
        self.gap_ms = gap_ms
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._rbuf = bytearray(read_bytes)
        self._line = bytearray()
        self._garbled = False
        self._overflow = False
        self._last_byte_ms = 0
        self._last_code = None
        self._last_seen_ms = 0
        self.suppressed = 0  # duplicates dropped so far (for diagnostics)

    def poll(self):
        """Read what has arrived; return a list of events, oldest first.

        Each event is (EVENT_CODE, "4006381333931") or (EVENT_ERROR, message for
        the cashier). Never blocks.
        """
        events = []
        now = self._ticks_ms()
        if (self._line or self._overflow) and ticks_diff(now, self._last_byte_ms) >= self.gap_ms:
            if not self._overflow:
                events.append((EVENT_ERROR, MSG_INCOMPLETE))
            self._reset()
        taken = 0
        while taken < _MAX_BYTES_PER_POLL:
            n = read_available(self._stream, self._rbuf)
            if not n:
                break
            self._feed(memoryview(self._rbuf)[:n], now, events)
            taken += n
        return events

    def feed(self, data):
        """Process bytes that came by another route (e.g. an evdev adapter)."""
        events = []
        self._feed(data, self._ticks_ms(), events)
        return events

    def _reset(self):
        self._line = bytearray()
        self._garbled = False
        self._overflow = False

    def _feed(self, data, now, events):
        self._last_byte_ms = now
        for b in data:
            if b == self._end:
                if not self._overflow and self._line:
                    self._finish(now, events)
                self._reset()
            elif b == _CR or b == _LF or self._overflow:
                continue
            elif len(self._line) >= self.max_len:
                self._overflow = True
                self._line = bytearray()
                events.append((EVENT_ERROR, MSG_TOO_LONG % self.max_len))
            else:
                if not (0x20 <= b < 0x7F or b == _GS):
                    self._garbled = True
                self._line.append(b)

    def _finish(self, now, events):
        if self._garbled:
            events.append((EVENT_ERROR, MSG_GARBLED))
            return
        code = bytes(self._line).decode()
        if (self.dedup_ms and code == self._last_code
                and ticks_diff(now, self._last_seen_ms) < self.dedup_ms):
            self._last_seen_ms = now
            self.suppressed += 1
            return
        self._last_code = code
        self._last_seen_ms = now
        events.append((EVENT_CODE, code))

    def run(self, handle, interval_ms=20):
        """A task polling forever: handle((kind, value)) for each event.

        At 9600 baud a 13-digit code takes 15 ms, so a 20 ms poll keeps a scan's
        latency well under what a cashier notices.
        """
        return periph.poll_loop(self.poll, handle, interval_ms)
