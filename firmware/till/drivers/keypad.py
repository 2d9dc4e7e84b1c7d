# Keypads: a scanned key matrix (boards, Pi GPIO) and a character stream (the sim
# board's script or terminal, a Pi USB numeric keypad through evdev).
#
# Both give the same thing to the main loop: poll() returns the names of keys
# newly pressed, oldest first. A name is a digit "0"-"9", "00", or one of the
# function names below; which physical key carries which name is data in the
# board file (`KEYPAD["keys"]`), never code here.
from till.drivers import periph
from till.drivers.periph import read_available, ticks_diff

# Function keys. Digits are "0"-"9" and "00".
CLEAR = "CLEAR"
QTY = "QTY"
PLU = "PLU"
VOID = "VOID"
SUBTOTAL = "SUBTOTAL"
CASH = "CASH"
CARD = "CARD"
TOTAL = "TOTAL"
NO_SALE = "NO_SALE"
REFUND = "REFUND"
DISCOUNT = "DISCOUNT"
PRICE = "PRICE"
REPORT = "REPORT"
SIGN = "SIGN"  # sign on / sign off
FEED = "FEED"

DIGITS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "00")
FUNCTIONS = (CLEAR, QTY, PLU, VOID, SUBTOTAL, CASH, CARD, TOTAL, NO_SALE, REFUND,
             DISCOUNT, PRICE, REPORT, SIGN, FEED)
# Every key a till's keypad must offer (tests/device/test_boards.py holds each
# board's layout to it).
REQUIRED = DIGITS + FUNCTIONS
# Keys a layout may add: the decimal point (the engine takes it for quantities).
OPTIONAL = (".",)
NAMES = REQUIRED + OPTIONAL


def missing_keys(names):
    """The REQUIRED key names not in `names`."""
    return [k for k in REQUIRED if k not in names]


class MatrixKeypad:
    """A key matrix scanned one row at a time.

    rows: callables taking a level, each driving one row line (on a board the
    bound method `Pin(n, Pin.OUT).value`). cols: callables returning a column's
    level (`Pin(n, Pin.IN, Pin.PULL_UP).value`). keys: one tuple of key names per
    row, one name per column; None where no key sits.

    With active_low (the usual wiring: columns pulled up, a key connects its row
    to its column) the scanned row is driven 0 and the others 1, and a pressed key
    reads 0 on its column.

    Debounce: the whole matrix must read the same for debounce_ms before a change
    counts; a key then reports once, at its press, and not again until released
    (no auto-repeat: a held key never rings an item twice). Without diodes a third
    key pressed at the corner of a rectangle of two others shows a ghost; a
    cashier presses one key at a time, and the ghost is at worst one extra key.
    """

    def __init__(self, rows, cols, keys, debounce_ms=20, ticks_ms=None, active_low=True):
        if len(keys) != len(rows) or any(len(r) != len(cols) for r in keys):
            raise ValueError("key layout must have one name per row and column")
        self._rows = rows
        self._cols = cols
        self._keys = keys
        self.debounce_ms = debounce_ms
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._on = 0 if active_low else 1
        self._raw = ()
        self._raw_since = 0
        self._stable = ()
        for drive in rows:
            drive(1 - self._on)

    def read_matrix(self):
        """The names of the keys down right now (no debounce), in scan order."""
        down = []
        on = self._on
        for r, drive in enumerate(self._rows):
            drive(on)
            # The column lines settle within microseconds; a Python call takes
            # tens of them on an RP2040, so no explicit delay is needed here.
            for c, read in enumerate(self._cols):
                if read() == on and self._keys[r][c] is not None:
                    down.append(self._keys[r][c])
            drive(1 - on)
        return tuple(down)

    def poll(self):
        """Scan once; return the keys that became pressed (debounced)."""
        now = self._ticks_ms()
        raw = self.read_matrix()
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
            return []
        if raw == self._stable or ticks_diff(now, self._raw_since) < self.debounce_ms:
            return []
        pressed = [k for k in raw if k not in self._stable]
        self._stable = raw
        return pressed

    def run(self, handle, interval_ms=5):
        """A task scanning forever: handle(name) for each press.

        A key bounce lasts a few ms; scanning every 5 ms with a 20 ms debounce
        reports a press within ~25 ms.
        """
        return periph.poll_loop(self.poll, handle, interval_ms)


class StreamKeypad:
    """Keys from a character stream: the sim board's script or terminal, or the
    Pi's evdev adapter for a USB numeric keypad.

    keymap: character -> key name (from the board file), e.g. {"\\r": TOTAL,
    "+": QTY}; digits map to themselves unless the map says otherwise. A key can
    also be named in brackets, "[TOTAL]" or "[00]", which is how scripts press
    keys that have no character. Spaces, newlines and unmapped characters are
    ignored; an unknown bracketed name is reported through `unknown`.
    """

    def __init__(self, stream, keymap=None, read_bytes=64):
        self._stream = stream
        self._keymap = keymap or {}
        self._rbuf = bytearray(read_bytes)
        self._name = None  # characters of a "[NAME]" being read
        self.unknown = []  # names in brackets that are no key, for the log

    def poll(self):
        keys = []
        for _ in range(8):  # a bounded amount per poll; the rest comes next time
            n = read_available(self._stream, self._rbuf)
            if not n:
                break
            self._feed(memoryview(self._rbuf)[:n], keys)
        return keys

    def feed(self, data):
        """Keys from bytes (or ASCII text) that came by another route."""
        if isinstance(data, str):
            data = data.encode()
        keys = []
        self._feed(data, keys)
        return keys

    def _feed(self, data, keys):
        # Byte by byte: a terminal's multi-byte UTF-8 character is no key, and
        # decoding a read that splits one would fail.
        for b in data:
            ch = chr(b)
            if self._name is not None:
                if ch == "]":
                    name = self._name
                    self._name = None
                    if name in NAMES:
                        keys.append(name)
                    else:
                        self.unknown.append(name)
                elif len(self._name) < 16:
                    self._name += ch
                continue
            if ch == "[":
                self._name = ""
            elif ch in self._keymap:
                keys.append(self._keymap[ch])
            elif "0" <= ch <= "9":
                keys.append(ch)

    def run(self, handle, interval_ms=20):
        return periph.poll_loop(self.poll, handle, interval_ms)
