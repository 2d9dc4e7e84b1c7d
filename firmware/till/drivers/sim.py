# The sim board's virtual hardware: a serial printer that writes what it is sent
# to a file and answers status requests from a paper/cover/power state, and the
# script (or terminal) input that feeds the scanner and keypad and switches that
# state. The real drivers (Printer, Scanner, StreamKeypad) run on top of these,
# so what the sim tests is what runs on a board. boards/sim.py wires them up;
# the script's commands are listed there.
from till.drivers import keypad, periph
from till.drivers.periph import ticks_add, ticks_diff

PAPER_STATES = {"ok": 0x12, "low": 0x1E, "out": 0x7E}  # DLE EOT 4 replies
_COVER_OPEN = 0x16  # DLE EOT 2 reply bit 2
_OFFLINE_NONE = 0x12
_STATUS_PAPER = b"\x10\x04\x04"
_STATUS_OFFLINE = b"\x10\x04\x02"
_FIFO_BYTES = 256  # what a slow printer takes ahead of printing it
_KEEP_ERRORS = 8
_MEASURING = ("heap", "qstrs")  # commands that report on the till: see pump()
_COMMANDS = ("scan CODE | key NAME... | type TEXT | paper out|low|ok | cover open|closed | "
             "printer off|on|speed BYTES_PER_S | wait MS | clock UNIX_S | heap LABEL | qstrs | "
             "# comment")


class SimPrinterPort:
    """A serial printer that appends what it is sent to `path` and answers
    DLE EOT 4 and DLE EOT 2 from its state. The status requests are answered,
    not written to the file: the file holds what the paper would show.

    bytes_per_s (the script's `printer speed N`): a printer that takes bytes
    no faster than that, like a UART with a small FIFO (write() accepts what
    has drained since the last call); None takes everything at once."""

    def __init__(self, path, ticks_ms=None):
        self.path = path
        self.paper = "ok"
        self.cover_open = False
        self.on = True
        self.bytes_per_s = None
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._room = _FIFO_BYTES
        self._room_at = self._ticks_ms()
        self._credit = 0
        self._replies = bytearray()
        self._paper = None  # the paper file, kept open: no allocation per write

    def write(self, data):
        n = len(data)
        if not self.on:
            return n  # a UART to a switched-off printer: bytes go nowhere
        if n == 3 and data[0] == 0x10:
            req = bytes(data)
            if req == _STATUS_PAPER:
                self._replies.append(PAPER_STATES[self.paper])
                return n
            if req == _STATUS_OFFLINE:
                self._replies.append(_COVER_OPEN if self.cover_open else _OFFLINE_NONE)
                return n
        if self.paper == "out" or self.cover_open:
            # A stopped printer's buffer takes the bytes and nothing reaches
            # the paper: only asking it afterwards tells (the driver does).
            return n
        if self.bytes_per_s:
            # Drained since the last call, in thousandths of a byte so that
            # frequent small writes neither lose nor gain speed.
            now = self._ticks_ms()
            self._credit += ticks_diff(now, self._room_at) * self.bytes_per_s
            self._room_at = now
            gained = self._credit // 1000
            self._credit -= gained * 1000
            self._room = min(_FIFO_BYTES, self._room + gained)
            if self._room == _FIFO_BYTES:
                self._credit = 0  # a full FIFO saves nothing up
            n = min(n, self._room)
            self._room -= n
            if not n:
                return 0
            data = memoryview(data)[:n]
        if self._paper is None:
            self._paper = open(self.path, "ab")
        self._paper.write(data)
        self._paper.flush()
        return n

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

        stdin = stdin or sys.stdin
        # CPython's text stdin reads ahead: lines that arrived together (the
        # sim's screen sends a key per line, a paste many) would sit in its
        # buffer while poll() sees an empty pipe. Its unbuffered raw file
        # reads up to the newline only. MicroPython's stdin has no read-ahead.
        raw = getattr(getattr(stdin, "buffer", None), "raw", None)
        self._stdin = stdin
        self._raw = raw
        self._poll = select.poll()
        self._poll.register(raw if raw is not None else stdin, select.POLLIN)
        self.closed = False

    def readline(self):
        if self.closed or not self._poll.poll(0):
            return ""
        if self._raw is not None:
            line = self._raw.readline().decode("utf-8", "replace")
        else:
            line = self._stdin.readline()
        if not line:
            self.closed = True  # end of input (Ctrl-D, or the pipe closed)
        return line


class SimInput:
    """Reads script lines from `lines` (a text file, or TerminalLines) and routes
    them: scans to `scans`, keys to `keys`, printer states to `printer_port`."""

    def __init__(self, lines, printer_port=None, ticks_ms=None, out=None):
        self._lines = lines
        self._port = printer_port
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._out = out  # where a mistyped command is reported (the console)
        self._resume_at = None
        self.scans = _Pipe(self)
        self.keys = _Pipe(self)
        self.errors = []  # the last _KEEP_ERRORS refused lines (a sim runs for days too)
        self._ended = False  # the script (or terminal) has no more lines
        self._held = None  # a measuring command, run by settle() (see pump)
        self.clock = None  # set by build(): the `clock` command sets it,
        self.on_clock = None  # or, in a running till, hands the time to this

    @property
    def finished(self):
        """All input read and consumed: a scripted run (or Ctrl-D) is over."""
        self.pump()
        return (self._ended and self._resume_at is None and self._held is None
                and not self.scans.data and not self.keys.data)

    def pump(self):
        # The next line only once the scanner and keypad have taken everything
        # routed so far: a scan and the keys after it reach the till in order.
        while not self.scans.data and not self.keys.data and self._held is None:
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
            line = line.strip()
            if line.split(" ", 1)[0] in _MEASURING:
                # The keypad takes lines faster than the main loop handles
                # their keys: a measurement waits for the main loop's
                # settle(), after the keys and scans before it were handled.
                self._held = line
                return
            self._command(line)

    def settle(self):
        """Called by the main loop after it handled a pass of keys and scans:
        runs a measuring command (heap, qstrs) that waited for them."""
        line, self._held = self._held, None
        if line is not None:
            self._command(line)

    def _command(self, line):
        if not line or line.startswith("#"):
            return
        word, _, rest = line.partition(" ")
        args = rest.split()
        port = self._port
        if word == "scan" and args:
            self.scans.data += rest.strip().encode() + b"\r"
        elif word == "key" and args:
            unknown = [name for name in args if name not in keypad.NAMES]
            if unknown:
                # Nothing of the line is pressed: half a key sequence would
                # leave the till in a state the writer did not mean.
                self._refuse(line, "no key %s; the keys are %s"
                             % (", ".join(unknown), " ".join(keypad.NAMES)))
                return
            for name in args:
                self.keys.data += (name if len(name) == 1 else "[" + name + "]").encode()
        elif word == "type":
            self.keys.data += rest.encode()
        elif word == "wait" and args:
            self._resume_at = ticks_add(self._ticks_ms(), int(args[0]))
        elif word == "paper" and port and args and args[0] in PAPER_STATES:
            port.paper = args[0]
        elif word == "cover" and port and args and args[0] in ("open", "closed"):
            port.cover_open = args[0] == "open"
        elif word == "printer" and port and args and args[0] in ("on", "off"):
            port.on = args[0] == "on"
        elif word == "printer" and port and len(args) == 2 and args[0] == "speed" \
                and args[1].isdigit():
            port.bytes_per_s = int(args[1]) or None
        elif word == "clock" and args and args[0].isdigit():
            # What a sync does; the till journals it (on_clock is its set_clock).
            if self.on_clock is not None:
                self.on_clock(int(args[0]))
            elif self.clock is not None:
                self.clock.set(int(args[0]))
            else:
                self._refuse(line, "this till has no clock to set")
        elif word == "heap":
            # A long run's memory, for its test and make bench: one line
            # "HEAP <label> <free bytes> <largest block>" on stdout.
            free, largest = periph.heap_stats()
            print("HEAP %s %s %s" % (rest.strip() or "-", free, largest))
        elif word == "qstrs":
            # MicroPython's interned strings: its own line "qstr pool: ...
            # n_qstr=N ..." (the pool grows by doubling: tests keep N below
            # the next step, docs/benchmarks.md).
            try:
                import micropython

                micropython.qstr_info()
            except (ImportError, AttributeError):
                print("qstr pool: none (CPython)")
        else:
            self._refuse(line, "the commands are " + _COMMANDS)

    def _refuse(self, line, why):
        self.errors.append(line)
        if len(self.errors) > _KEEP_ERRORS:
            self.errors.pop(0)
        if self._out is not None:
            self._out.write("sim: not understood: %s (%s)\n" % (line, why))
