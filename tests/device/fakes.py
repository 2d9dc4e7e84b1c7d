# Test fakes shared by the device tests (each written once, like
# python-escpos's Dummy): the tick counter the drivers take, the till's clock,
# and a serial receipt printer that answers status requests.
from till.formats import escpos


class Ticks:
    """A millisecond counter the test moves by hand (`ticks.t += 5`); it wraps
    at 2**30 like MicroPython's ticks_ms()."""

    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t & 0x3FFFFFFF


class Clock:
    """The till's clock: Unix seconds (None while never set). Callable, as the
    engine and journal take it, and with the RTC drivers' now() and set()."""

    def __init__(self, t=None):
        self.t = t

    def __call__(self):
        return self.t

    def now(self):
        return self.t

    def set(self, unix):
        self.t = unix


# Status reply bytes (Epson ESC/POS reference, DLE EOT): bits 1 and 4 always set.
PAPER_OK = 0x12
PAPER_NEAR_END = 0x1E  # bits 2-3: near-end sensor
PAPER_END = 0x7E  # bits 5-6 (and the near-end bits): paper out
OFFLINE_NONE = 0x12
OFFLINE_COVER = 0x16  # bit 2: cover open
OFFLINE_ERROR = 0x52  # bit 6: an error occurred


class SerialPrinter:
    """A serial printer. Job bytes go to `printed`; DLE EOT n requests (written
    on their own, as the driver does) are answered from the state unless the
    printer is off. `take` limits how many bytes one write accepts.

    paper_file: job bytes go to that file instead of RAM, and no write log is
    kept, so a test of a long run under MicroPython's fixed heap measures the
    till, not its test equipment."""

    def __init__(self, paper_file=None):
        self.paper_file = paper_file
        self._printed = bytearray()
        self.queries = []
        self.inbox = bytearray()
        self.paper = PAPER_OK
        self.offline = OFFLINE_NONE
        self.answering = True
        self.take = None
        self.raise_on_write = False
        self.eagain = 0
        self.writes = []

    def write(self, data):
        if self.raise_on_write:
            raise OSError(5)
        if self.eagain and len(data) > 3:
            self.eagain -= 1
            raise OSError(11)  # rp2 UART: no room in the TX buffer yet
        data = bytes(data)
        if data in (escpos.STATUS_PAPER, escpos.STATUS_OFFLINE):
            if self.paper_file is None:
                self.queries.append(data[2])
            if self.answering:
                self.inbox.append(self.paper if data[2] == 4 else self.offline)
            return 3
        if self.take is not None:
            data = data[:self.take]
        if self.paper_file is not None:
            with open(self.paper_file, "ab") as f:
                f.write(data)
            return len(data)
        self.writes.append(len(data))
        self._printed += data
        return len(data)

    @property
    def printed(self):
        if self.paper_file is None:
            return self._printed
        try:
            with open(self.paper_file, "rb") as f:
                return f.read()
        except OSError:
            return b""

    @printed.setter
    def printed(self, value):  # a test tears off the paper printed so far
        if self.paper_file is not None:
            with open(self.paper_file, "wb") as f:
                f.write(value)
        else:
            self._printed = bytearray(value)

    def readinto(self, buf):
        n = min(len(buf), len(self.inbox))
        if not n:
            return None
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n
