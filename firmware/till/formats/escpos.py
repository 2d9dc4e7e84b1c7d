# ESC/POS byte builder for the till's receipt printer.
#
# python-escpos cannot run on MicroPython (metaclasses, Pillow, PyYAML), so the till
# builds the bytes itself. Each method sends exactly the bytes python-escpos 3.1
# sends for the same operation (tests/host/test_escpos_oracle.py holds it to that).
# The builder only calls `write(bytes)` on the stream it is given -- a machine.UART,
# a serial.Serial, an open file -- or collects the bytes in a bytearray when none is
# given. It never reads: status replies arrive on the caller's stream and are decoded
# with the parse_* functions below.
#
# Byte meanings: Epson "ESC/POS Command Reference for TM printers" (the TM-T88 and
# TM-T20 series); the command names (ESC a, GS k ...) are that reference's.

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from till.formats import codepages
from till.formats.barcode import check_digit
from till.formats.text import fit_columns

_DLE = const(0x10)  # data link escape: real-time commands
_EOT = const(0x04)
_ESC = const(0x1B)
_GS = const(0x1D)

# Justification for align() (ESC a n)
LEFT = const(0)
CENTER = const(1)
RIGHT = const(2)

# Where a barcode's human-readable digits go (GS H n)
HRI_NONE = const(0)
HRI_ABOVE = const(1)
HRI_BELOW = const(2)
HRI_BOTH = const(3)

# QR error correction levels (GS ( k fn 69: 48 + level)
QR_EC_L = const(0)  # ~7 % of the symbol can be restored
QR_EC_M = const(1)  # ~15 %
QR_EC_Q = const(2)  # ~25 %
QR_EC_H = const(3)  # ~30 %

# parse_paper_status() results; the numbers are python-escpos's paper_status().
PAPER_OUT = const(0)
PAPER_NEAR_END = const(1)
PAPER_OK = const(2)

# Real-time status requests, DLE EOT n. The printer answers each with one byte at
# once, even while it is busy or offline.
STATUS_PRINTER = b"\x10\x04\x01"  # n=1: online/offline, drawer connector pin 3
STATUS_OFFLINE = b"\x10\x04\x02"  # n=2: why offline: cover open, paper end, error
STATUS_ERROR = b"\x10\x04\x03"  # n=3: which error: cutter, unrecoverable, auto-recoverable
STATUS_PAPER = b"\x10\x04\x04"  # n=4: paper roll sensors: near end, out

_BARCODE_EAN13_A = const(2)  # GS k m=2: JAN13/EAN13, function A (data ends with NUL)
_BARCODE_EAN13_B = const(67)  # GS k m=67: JAN13/EAN13, function B (length-prefixed)
_BARCODE_CODE128 = const(73)  # GS k m=73: CODE128, function B only
_QR_CN = const(49)  # GS ( k cn=49 ('1'): the 2D symbol is a QR code
_QR_STORE_MAX = const(7089)  # Model 2, version 40, level L, numeric: the most it holds
_RASTER_FRAGMENT_ROWS = const(960)  # python-escpos splits taller images here
_COPY_CHUNK_BYTES = const(256)  # raster copy buffer: small enough for an ESP32 heap

# The status bytes of DLE EOT 1-4 always have bit 1 and bit 4 set and bits 0 and 7
# clear; a byte without that pattern is not a status reply (an ASB or echo byte).
_STATUS_FIXED_MASK = const(0x93)
_STATUS_FIXED_BITS = const(0x12)


def _check(ok, message):
    if not ok:
        raise ValueError(message)


def drawer_pulse(pin=2, on_ms=100, off_ms=100):
    """ESC p m t1 t2: pulse drawer kick-out connector pin 2 (m=0) or pin 5
    (m=1) for t1 x 2 ms, then stay off t2 x 2 ms. python-escpos sends 50, 50.
    A function as well as a builder method: the printer driver sends it on
    its own, without a builder's allocations."""
    _check(pin in (2, 5), "drawer pin must be 2 or 5")
    t1 = on_ms // 2
    t2 = off_ms // 2
    _check(1 <= t1 <= 255 and 1 <= t2 <= 255, "drawer pulse must be 2-510 ms")
    return bytes((_ESC, 0x70, 0 if pin == 2 else 1, t1, t2))


def feed_lines(lines=1):
    """ESC d n: print the buffer and feed n lines (0-255)."""
    _check(0 <= lines <= 255, "feed must be 0-255 lines")
    return bytes((_ESC, 0x64, lines))


class EscPos:
    """Builds ESC/POS commands into `stream` (anything with `write`) or a buffer.

    `columns` is the paper's width in font A characters (48 on 576-dot paper, 42 on
    512-dot, 32 on 58 mm); text_columns() uses it. The code page starts as CP437,
    the printer's state after power-on and after init().
    """

    def __init__(self, stream=None, columns=48, buffer=None):
        # buffer: a bytearray to collect output in. A till reuses one reserved
        # at boot, so a receipt never needs a fresh, growing buffer from a heap
        # fragmented by the day's work.
        self._buf = None
        if stream is None:
            self._buf = buffer if buffer is not None else bytearray()
            self._buf[:] = b""  # empty, but the reserved room stays allocated
            self._write = self._buf.extend
        else:
            self._write = stream.write
        self.columns = columns
        self._table = codepages.CP437
        self._width_mult = 1

    def collected(self):
        """The collected bytes without a copy: the builder's own buffer, valid
        until the next clear() (only without a stream)."""
        return self._buf

    def output(self):
        """The bytes collected so far (only without a stream)."""
        return bytes(self._buf)

    def clear(self):
        """Forget the collected bytes, keeping the buffer (only without a stream)."""
        self._buf[:] = b""
        self._table = codepages.CP437
        self._width_mult = 1

    def raw(self, data):
        self._write(data)

    # -- printer setup -------------------------------------------------------

    def init(self):
        # ESC @: clears the print buffer and resets every mode (alignment, bold,
        # size, code page) to the power-on settings. The code page goes back to
        # the printer's default (PC437 on Epson), so call codepage() afterwards.
        self._write(b"\x1b\x40")
        self._table = codepages.CP437
        self._width_mult = 1

    def codepage(self, index, table):
        # ESC t n: select character code table n. `index` comes from the printer
        # profile (Epson: 0 = PC437, 19 = PC858); `table` is the matching
        # codepages.CP437 / CP858 so text() encodes what the printer will decode.
        _check(0 <= index <= 255, "code page index must be 0-255")
        self._write(bytes((_ESC, 0x74, index)))
        self._table = table

    # -- text -----------------------------------------------------------------

    def text(self, s):
        """Print text in the current code page; '\\n' ends a line (LF, 0x0A)."""
        self._write(codepages.encode(s, self._table))

    def textln(self, s=""):
        self.text(s + "\n")

    def text_columns(self, left, right, width=None):
        """One line with `left` at the left edge and `right` at the right edge.

        The line never wraps: `left` is cut short instead. The width defaults to
        the columns left at the current character width (double width halves it).
        """
        if width is None:
            width = self.columns // self._width_mult
        self.textln(fit_columns(left, right, width))

    def align(self, n):
        # ESC a n: justification 0 left, 1 centre, 2 right. The printer applies it
        # only at the start of a line, to the text, barcodes and images after it.
        _check(n in (LEFT, CENTER, RIGHT), "alignment must be LEFT, CENTER or RIGHT")
        self._write(bytes((_ESC, 0x61, n)))

    def bold(self, on=True):
        # ESC E n: emphasized mode on (n=1) / off (n=0).
        self._write(bytes((_ESC, 0x45, 1 if on else 0)))

    def underline(self, n=1):
        # ESC - n: underline off (0), 1 dot (1), 2 dots (2) thick.
        _check(0 <= n <= 2, "underline must be 0, 1 or 2")
        self._write(bytes((_ESC, 0x2D, n)))

    def size(self, width=1, height=1):
        # GS ! n: character size; bits 4-7 width multiplier - 1, bits 0-3 height
        # multiplier - 1 (1-8 each). size(2, 2) is double size, size() normal.
        _check(1 <= width <= 8 and 1 <= height <= 8, "character size must be 1-8")
        self._write(bytes((_GS, 0x21, ((width - 1) << 4) | (height - 1))))
        self._width_mult = width

    # -- paper ----------------------------------------------------------------

    def feed(self, lines=1):
        self._write(feed_lines(lines))

    def cut(self, partial=False, feed_lines=6):
        # The cutter sits a few lines above the print head, so python-escpos's
        # cut() first feeds 6 lines (ESC d 6) to bring the last line past the
        # blade. GS V 0 is a full cut, GS V 1 a partial cut (one point left
        # uncut so the receipt hangs until torn off).
        if feed_lines:
            self.feed(feed_lines)
        self._write(bytes((_GS, 0x56, 1 if partial else 0)))

    def drawer(self, pin=2, on_ms=100, off_ms=100):
        self._write(drawer_pulse(pin, on_ms, off_ms))

    def request_status(self, query):
        """Send one of the STATUS_* requests; the reply byte comes back on the
        caller's stream: decode it with the matching parse_* function."""
        self._write(query)

    # -- barcodes ---------------------------------------------------------------

    def _barcode_setup(self, height, module_width, hri, center):
        # The same settings python-escpos sends before every hardware barcode, in
        # its order. With center=True alignment stays CENTER afterwards, as there.
        _check(1 <= height <= 255, "barcode height must be 1-255 dots")
        _check(2 <= module_width <= 6, "barcode module width must be 2-6 dots")
        _check(0 <= hri <= 3, "hri must be one of HRI_*")
        if center:
            self.align(CENTER)
        self._write(bytes((
            _GS, 0x68, height,  # GS h n: bar height in dots
            _GS, 0x77, module_width,  # GS w n: narrowest bar (module) width in dots
            _GS, 0x66, 0,  # GS f 0: font A for the human-readable digits
            _GS, 0x48, hri,  # GS H n: where the digits go
        )))

    def ean13(self, digits, height=64, module_width=3, hri=HRI_BELOW, center=True,
              function_b=False):
        """EAN-13 from 12 digits (the printer adds the check digit) or 13 digits
        (the check digit is verified here: a wrong one raises ValueError)."""
        _check(len(digits) in (12, 13) and _all_digits(digits),
               "EAN-13 needs 12 or 13 digits")
        if len(digits) == 13:
            _check(check_digit(digits[:12]) == ord(digits[12]) - 0x30,
                   "EAN-13 check digit is wrong")
        self._barcode_setup(height, module_width, hri, center)
        data = digits.encode()
        if function_b:
            # GS k m n d1..dn: function B, the length n before the data.
            self._write(bytes((_GS, 0x6B, _BARCODE_EAN13_B, len(data))) + data)
        else:
            # GS k m d1..dk NUL: function A, the data ends with NUL.
            self._write(bytes((_GS, 0x6B, _BARCODE_EAN13_A)) + data + b"\x00")

    def code128(self, data, height=64, module_width=3, hri=HRI_BELOW, center=True):
        """CODE128 of printable ASCII, in code set B."""
        for ch in data:
            _check(0x20 <= ord(ch) <= 0x7E, "CODE128 data must be printable ASCII")
        # GS k 73 n d1..dn: the data starts with "{B" to select code set B; a "{"
        # in the data must be sent as "{{" since "{x" pairs are code-set commands.
        body = b"{B" + data.replace("{", "{{").encode()
        _check(len(body) <= 255, "CODE128 data too long")
        self._barcode_setup(height, module_width, hri, center)
        self._write(bytes((_GS, 0x6B, _BARCODE_CODE128, len(body))) + body)

    # -- QR code --------------------------------------------------------------

    def _qr_fn(self, fn, params):
        # GS ( k pL pH cn fn [params]: pL + pH*256 counts the bytes after pH.
        n = len(params) + 2
        self._write(bytes((_GS, 0x28, 0x6B, n & 0xFF, n >> 8, _QR_CN, fn)))
        self._write(params)

    def qr(self, data, module_size=3, ec=QR_EC_L, model=2):
        """A QR code drawn by the printer itself (python-escpos native=True).

        `data` is str (sent as UTF-8) or bytes. Empty data prints nothing, as in
        python-escpos.
        """
        _check(1 <= module_size <= 16, "QR module size must be 1-16 dots")
        _check(QR_EC_L <= ec <= QR_EC_H, "QR error correction must be one of QR_EC_*")
        _check(model in (1, 2), "QR model must be 1 or 2")
        if isinstance(data, str):
            data = data.encode()
        _check(len(data) <= _QR_STORE_MAX, "QR data too long")
        if not data:
            return
        self._qr_fn(65, bytes((48 + model, 0)))  # fn 65: select model 1 (49) / 2 (50)
        self._qr_fn(67, bytes((module_size,)))  # fn 67: module size in dots
        self._qr_fn(69, bytes((48 + ec,)))  # fn 69: error correction L/M/Q/H = 48-51
        self._qr_fn(80, b"0" + data)  # fn 80, m=48: store the data in the symbol area
        self._qr_fn(81, b"0")  # fn 81, m=48: print the stored symbol

    # -- raster images --------------------------------------------------------

    def raster(self, width_bytes, height, src, fragment_rows=_RASTER_FRAGMENT_ROWS):
        """Print a raster image: `height` rows of `width_bytes` bytes, 1 = black,
        most significant bit leftmost (what `kassa` writes for a logo).

        `src` is bytes or a stream with `readinto` (an open file), copied through
        a small buffer so a 7.7 KB logo never sits in RAM whole. Images taller
        than `fragment_rows` go out as several commands, as python-escpos does.
        If the stream ends early the missing rows are sent white -- the printer
        is waiting for that many bytes and would eat the next commands -- and
        ValueError is raised afterwards.
        """
        _check(1 <= width_bytes <= 0xFFFF and height >= 1, "raster size out of range")
        _check(1 <= fragment_rows <= 0xFFFF, "fragment_rows out of range")
        if hasattr(src, "readinto"):
            copy = _StreamCopy(src)
        else:
            copy = _BytesCopy(src)
        row = 0
        while row < height:
            rows = min(fragment_rows, height - row)
            # GS v 0 m xL xH yL yH d1..dk: m=0 normal density; x = bytes per row,
            # y = rows; k = x * y bytes follow.
            self._write(bytes((_GS, 0x76, 0x30, 0,
                               width_bytes & 0xFF, width_bytes >> 8, rows & 0xFF, rows >> 8)))
            copy.send(self._write, width_bytes * rows)
            row += rows
        if copy.short:
            raise ValueError("raster data ended %d bytes early; padded with white" % copy.short)


class _BytesCopy:
    def __init__(self, data):
        self._mv = memoryview(data)
        self._pos = 0
        self.short = 0

    def send(self, write, n):
        got = min(n, len(self._mv) - self._pos)
        write(self._mv[self._pos:self._pos + got])
        self._pos += got
        _pad(write, n - got)
        self.short += n - got


class _StreamCopy:
    def __init__(self, stream):
        self._stream = stream
        self._buf = bytearray(_COPY_CHUNK_BYTES)
        self.short = 0

    def send(self, write, n):
        mv = memoryview(self._buf)
        while n > 0:
            got = self._stream.readinto(mv[:min(n, len(mv))])
            if not got:
                break
            # bytes() so a stream that keeps what it is given (BytesIO does
            # not, a list-backed fake might) never sees the buffer reused.
            write(bytes(mv[:got]))
            n -= got
        _pad(write, n)
        self.short += n


def _pad(write, n):
    zeros = bytes(min(n, _COPY_CHUNK_BYTES))
    while n > 0:
        k = min(n, len(zeros))
        write(zeros[:k])
        n -= k


def _all_digits(s):
    for ch in s:
        if not "0" <= ch <= "9":
            return False
    return True


# -- status replies -----------------------------------------------------------
# Each parser takes the one reply byte (an int) and returns None when the byte
# does not have the fixed bits of a status reply, so a caller reading a shared
# stream can skip a stray byte instead of acting on it.

def _is_status(b):
    return (b & _STATUS_FIXED_MASK) == _STATUS_FIXED_BITS


def parse_paper_status(b):
    """Reply to STATUS_PAPER (DLE EOT 4): PAPER_OK, PAPER_NEAR_END or PAPER_OUT.

    Bits 2-3 (0x0C) are the near-end sensor, bits 5-6 (0x60) the paper-end sensor.
    Epson sets each pair together; some makers (Citizen CT-S2000) report two
    near-end sensors in bits 2 and 3 apart, so either bit of a pair counts here
    where python-escpos wants both.
    """
    if not _is_status(b):
        return None
    if b & 0x60:
        return PAPER_OUT
    if b & 0x0C:
        return PAPER_NEAR_END
    return PAPER_OK


def parse_printer_status(b):
    """Reply to STATUS_PRINTER (DLE EOT 1)."""
    if not _is_status(b):
        return None
    return {
        "online": not b & 0x08,  # bit 3: offline
        "drawer_pin3_high": bool(b & 0x04),  # bit 2: drawer open or closed, per drawer
        "waiting_recovery": bool(b & 0x20),  # bit 5: waiting for online recovery
        "feed_button": bool(b & 0x40),  # bit 6: paper feed button pressed
    }


def parse_offline_cause(b):
    """Reply to STATUS_OFFLINE (DLE EOT 2)."""
    if not _is_status(b):
        return None
    return {
        "cover_open": bool(b & 0x04),  # bit 2
        "feed_button": bool(b & 0x08),  # bit 3: paper fed by the feed button
        "paper_end_stop": bool(b & 0x20),  # bit 5: printing stopped, paper end
        "error": bool(b & 0x40),  # bit 6: an error occurred (see DLE EOT 3)
    }


def parse_error_cause(b):
    """Reply to STATUS_ERROR (DLE EOT 3)."""
    if not _is_status(b):
        return None
    return {
        "cutter_error": bool(b & 0x08),  # bit 3: autocutter jammed
        "unrecoverable": bool(b & 0x20),  # bit 5: needs power cycle / service
        "auto_recoverable": bool(b & 0x40),  # bit 6: e.g. head too hot; clears itself
    }
