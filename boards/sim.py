# The sim board: virtual hardware for MicroPython's unix port and CPython.
#
# The printer writes the ESC/POS bytes it is sent to a file (`kassa receipt
# render FILE` shows them as text and PNG) and answers status requests from a
# paper/cover/power state the script can change; the scanner and keypad read a
# script (or the terminal); the display prints its lines to stdout or a file.
# The real drivers (Printer, Scanner, StreamKeypad) run on top, so what is
# tested here is what runs on a board.
#
# Script lines (a file, or typed at the terminal), one command each:
#   scan 4006381333931        the scanner reads a code
#   key 1 2 PLU 00 TOTAL      keys by name or digit (names as till.keypad)
#   type 12+                  characters through the keymap below
#   paper out|low|ok          the printer's paper sensor
#   cover open|closed         its cover
#   printer off|on            its power: off, it answers nothing
#   wait 500                  read no further lines for 500 ms
#   clock 1795262400          set the till's clock (as the gateway does at sync)
#   # a comment               (blank lines too are ignored)
# An unknown command is kept in SimInput.errors, not fatal.
NAME = "sim"
PLATFORM = "sim"

# Epson TM-T20II, 80 mm paper: `kassa printer profile TM-T20II` (till/profiles.py).
from till.profiles import TM_T20II as PROFILE  # noqa: F401 - read by till.devices

# Paths are relative to the root directory given to build().
PRINTER = {"port": "file", "out": "printer.bin", "status": True, "queue_dir": "printq",
           "drawer_pin": 2}
# dedup_ms 0: a script scans the same item twice on purpose, a moment apart.
SCANNER = {"port": "script", "terminator": "CR", "max_len": 48, "dedup_ms": 0}
KEYPAD = {
    "kind": "stream",
    # A terminal's keys; scripts name keys with `key`.
    "keymap": {"\r": "TOTAL", "\n": "TOTAL", "+": "QTY", "-": "VOID", "*": "SUBTOTAL",
               "/": "CLEAR", "c": "CASH", "k": "CARD", "p": "PLU", "r": "REFUND",
               "d": "DISCOUNT", "e": "PRICE", "x": "REPORT", "s": "SIGN", "n": "NO_SALE",
               "f": "FEED", "a": "00", ".": "."},
}
DISPLAY = {"kind": "text", "cols": 20, "rows": 2}
POLE = None
CLOCK = {"kind": "soft"}  # like a board without RTC: unset until the gateway sets it

# The sim keeps its journal in a host directory; the geometry is the Pico's, for
# a littlefs image (tests/device/flashsim.py) when flash behaviour matters.
FLASH = {"fs": "host", "block_bytes": 4096, "blocks": 352, "prog_bytes": 256}
JOURNAL = {"dir": "journal", "segment_bytes": 16384, "low_free_bytes": 262144,
           "full_free_bytes": 24576}
SNAPSHOT_DIR = "snapshot"

LINK = {"kind": "tcp", "host": "127.0.0.1", "port": 7420}
WATCHDOG_MS = None

_PAPER = {"ok": 0x12, "low": 0x1E, "out": 0x7E}  # DLE EOT 4 replies
_COVER_OPEN = 0x16  # DLE EOT 2 reply bit 2
_OFFLINE_NONE = 0x12
_STATUS_PAPER = b"\x10\x04\x04"
_STATUS_OFFLINE = b"\x10\x04\x02"


class SimPrinterPort:
    """A serial printer that appends what it is sent to `path` and answers
    DLE EOT 4 and DLE EOT 2 from its state. The status requests are answered,
    not written to the file: the file holds what the paper would show."""

    def __init__(self, path):
        self.path = path
        self.paper = "ok"
        self.cover_open = False
        self.on = True
        self._replies = bytearray()

    def write(self, data):
        data = bytes(data)
        if not self.on:
            return len(data)  # a UART to a switched-off printer: bytes go nowhere
        if data == _STATUS_PAPER:
            self._replies.append(_PAPER[self.paper])
        elif data == _STATUS_OFFLINE:
            self._replies.append(_COVER_OPEN if self.cover_open else _OFFLINE_NONE)
        else:
            with open(self.path, "ab") as f:
                f.write(data)
        return len(data)

    def readinto(self, buf):
        n = min(len(buf), len(self._replies))
        buf[:n] = self._replies[:n]
        self._replies = self._replies[n:]
        return n


class _Pipe:
    """Bytes routed by SimInput to one reader (the scanner or the keypad)."""

    def __init__(self, source):
        self._source = source
        self.data = bytearray()

    def readinto(self, buf):
        self._source.pump()
        n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class TerminalLines:
    """stdin as a non-blocking line source: readline() returns "" when no
    whole line waits (the terminal delivers a line at Enter)."""

    def __init__(self, stdin=None):
        import select
        import sys

        self._stdin = stdin or sys.stdin
        self._poll = select.poll()
        self._poll.register(self._stdin, select.POLLIN)
        self.closed = False

    def readline(self):
        if self.closed or not self._poll.poll(0):
            return ""
        line = self._stdin.readline()
        if not line:
            self.closed = True  # end of input (Ctrl-D, or the pipe closed)
        return line


class SimInput:
    """Reads script lines from `lines` (a text file, or TerminalLines) and routes
    them: scans to `scans`, keys to `keys`, printer states to `printer_port`."""

    def __init__(self, lines, printer_port=None, ticks_ms=None):
        from till import periph

        self._lines = lines
        self._port = printer_port
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._resume_at = None
        self.scans = _Pipe(self)
        self.keys = _Pipe(self)
        self.errors = []
        self._ended = False  # the script (or terminal) has no more lines
        self.clock = None  # set by build(): the `clock` command sets it

    @property
    def finished(self):
        """All input read and consumed: a scripted run (or Ctrl-D) is over."""
        self.pump()
        return (self._ended and self._resume_at is None
                and not self.scans.data and not self.keys.data)

    def pump(self):
        from till.periph import ticks_diff

        # The next line only once the scanner and keypad have taken everything
        # routed so far: a scan and the keys after it reach the till in order.
        while not self.scans.data and not self.keys.data:
            if self._resume_at is not None:
                if ticks_diff(self._ticks_ms(), self._resume_at) < 0:
                    return
                self._resume_at = None
            line = self._lines.readline()
            if not line:
                # A script file ends for good; a terminal only when it is closed.
                self._ended = (self._lines.closed if isinstance(self._lines, TerminalLines)
                               else True)
                return
            self._command(line.strip())

    def _command(self, line):
        if not line or line.startswith("#"):
            return
        word, _, rest = line.partition(" ")
        args = rest.split()
        port = self._port
        if word == "scan" and args:
            self.scans.data += rest.strip().encode() + b"\r"
        elif word == "key":
            for name in args:
                self.keys.data += (name if len(name) == 1 else "[" + name + "]").encode()
        elif word == "type":
            self.keys.data += rest.encode()
        elif word == "wait" and args:
            from till.periph import ticks_add

            self._resume_at = ticks_add(self._ticks_ms(), int(args[0]))
        elif word == "paper" and port and args and args[0] in _PAPER:
            port.paper = args[0]
        elif word == "cover" and port and args and args[0] in ("open", "closed"):
            port.cover_open = args[0] == "open"
        elif word == "printer" and port and args and args[0] in ("on", "off"):
            port.on = args[0] == "on"
        elif word == "clock" and self.clock is not None and args and args[0].isdigit():
            self.clock.set(int(args[0]))
        else:
            self.errors.append(line)


def build(root=".", script=None, display_out=None, ticks_ms=None):
    """The sim till's devices. root: the directory for the printer file, the
    print queue, the journal and the snapshot (created as needed). script: an
    open text file of script lines, or None to read the terminal. display_out:
    a text stream for the display (default stdout). The dict also carries
    "sim_input" (its .errors) and "printer_port" (the paper state)."""
    import os
    import sys

    from till import devices
    from till.display import TextDisplay
    from till.keypad import StreamKeypad

    try:
        os.mkdir(root)
    except OSError:
        pass
    cfg = dict(globals())
    cfg["PRINTER"] = dict(PRINTER, queue_dir=root + "/" + PRINTER["queue_dir"])
    port = SimPrinterPort(root + "/" + PRINTER["out"])
    source = SimInput(script if script is not None else TerminalLines(), port, ticks_ms)
    printer = devices.printer_for(cfg, port, ticks_ms)
    scanner = devices.scanner_for(cfg, source.scans, ticks_ms)
    keypad = StreamKeypad(source.keys, KEYPAD["keymap"])
    cashier = TextDisplay(display_out or sys.stdout, DISPLAY["cols"], DISPLAY["rows"])
    clock = devices.clock_for(cfg, None, ticks_ms)
    source.clock = clock
    dev = devices.assemble(cfg, printer, scanner, keypad, cashier, clock)
    dev["journal"] = dict(JOURNAL, dir=root + "/" + JOURNAL["dir"])
    dev["snapshot_dir"] = root + "/" + SNAPSHOT_DIR
    dev["sim_input"] = source
    dev["printer_port"] = port
    return dev
