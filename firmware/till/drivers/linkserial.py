# The gateway link over a serial port, as thin byte pipes under till/link
# (the same readinto/write/close as linktcp.py):
#   usb_cdc    a Pico W: a second USB serial interface (micropython-lib
#              usb-device-cdc, which `kassa flash` installs), so the REPL and
#              mpremote keep the first. USB pushes back instead of dropping.
#   uart       any board: a UART of its own (pins in the board file); bytes that
#              arrive while the RP2040 writes flash are lost, which the link's
#              credit window (one frame at a time to the till) keeps rare and
#              its retransmission repairs.
#   usb_serial an ESP32 DevKit: the USB bridge on UART0, which the REPL also uses
#              (and the sim with KASSA_LINK_PORT=stdio: its process's stdio).
#              The till takes it over (Ctrl-C off while the link runs) and hands
#              it back when mpremote breaks in between frames (StdioLink), so a
#              running till is redeployed without anyone pressing a button.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

from till.drivers.periph import ticks_diff, ticks_ms as _ticks_ms

_CR = const(0x0D)  # mpremote breaks in with \r then Ctrl-C (transport_serial.enter_raw_repl)
_CTRL_C = const(0x03)
_POLLIN = const(1)  # select.POLLIN on MicroPython and Linux
_MID = const(0)  # inside a frame
_START = const(1)  # the next byte begins a frame
_HELD = const(2)  # a 0x0D at a frame's start, held back until the next byte says what it is
# A frame never pauses a second in the middle: the gateway writes each one
# whole (525 bytes at most: 46 ms at 115200 baud) and sends it again only
# after its own second's timeout. So a line seen empty for a second (two looks
# a second apart, nothing read between them: not a second the till spent
# elsewhere while the bytes waited) ends a frame a cut cable left unfinished.
_QUIET_MS = const(1000)


class StreamLink:
    """A UART or USB CDC port opened without blocking (timeout 0)."""

    def __init__(self, stream):
        self._s = stream

    def connected(self):
        return True

    def readinto(self, buf):
        try:
            n = self._s.readinto(buf)
        except OSError:
            return 0
        return n or 0

    def write(self, mv):
        try:
            n = self._s.write(mv)
        except OSError:
            return 0
        return n or 0

    def close(self):
        pass


class StdioLink(StreamLink):
    """The REPL's own port (ESP32 UART0): binary stdin/stdout, polled.

    Ctrl-C is off while the link runs (0x03 is data in a frame), so the till
    itself recognises mpremote's \\r\\x03 -- where a frame would begin:
    after a frame's closing 0x00, or once the line was quiet for a second
    inside a frame (a gateway cut off mid-frame). No frame begins with those
    two bytes (till/link/wire.py pack()). Then it reads nothing more: what
    follows (mpremote's \\r\\x01) is the REPL's. `handoff` tells the main loop, which hands the port over
    (till/app.py); close() gives Ctrl-C back. stream, out, poll: the port's
    input, output and a poller of the input (tests pass fakes)."""

    def __init__(self, stream=None, out=None, poll=None, ticks_ms=None):
        if stream is None:
            import select
            import sys

            try:
                import micropython

                micropython.kbd_intr(-1)  # 0x03 is data on the link, not Ctrl-C
            except ImportError:  # CPython (the sim as on a Pi): no REPL to share
                pass
            stream = sys.stdin.buffer
            # CPython's buffered stdin reads ahead, where poll() cannot see:
            # its raw file reads what is asked. MicroPython's has no read-ahead.
            stream = getattr(stream, "raw", stream)
            out = sys.stdout.buffer
            poll = select.poll()
            poll.register(stream, _POLLIN)
        self._in = stream
        self._out = out
        self._poll = poll
        self._ticks_ms = ticks_ms or _ticks_ms
        self._one = bytearray(1)
        self._state = _START
        self._last = None  # when the line was first found empty inside a frame
        self.handoff = False  # mpremote broke in: the port is the REPL's

    def readinto(self, buf):
        n = 0
        one = self._one
        # Two places spare: a held 0x0D given back, and a cut frame's end.
        while not self.handoff and n < len(buf) - 1:
            if not self._poll.poll(0):
                if self._state != _START:
                    now = self._ticks_ms()
                    if self._last is None:
                        self._last = now  # the line found empty inside a frame
                    elif ticks_diff(now, self._last) >= _QUIET_MS:
                        if self._state == _HELD:
                            buf[n] = _CR  # all there was of a frame
                            n += 1
                        buf[n] = 0  # the decoder drops what it holds of the cut frame
                        n += 1
                        self._state = _START
                break
            if not self._in.readinto(one):
                break
            self._last = None
            b = one[0]
            if self._state == _HELD:
                if b == _CTRL_C:
                    self.handoff = True
                    break
                buf[n] = _CR  # a frame's COBS code byte 13 after all
                n += 1
                self._state = _MID
            elif self._state == _START and b == _CR:
                self._state = _HELD
                continue
            buf[n] = b
            n += 1
            self._state = _START if b == 0 else _MID
        return n

    def write(self, mv):
        return self._out.write(mv) or 0

    def close(self):
        try:
            import micropython

            micropython.kbd_intr(3)  # Ctrl-C interrupts again: the REPL's
        except ImportError:  # CPython: no REPL to hand the port to
            pass


def open_serial(desc):
    kind = desc.get("kind")
    if kind == "usb_cdc":
        import usb.device
        from usb.device.cdc import CDCInterface

        cdc = CDCInterface(timeout=0)
        # builtin_driver=True keeps the REPL's own USB serial port beside it.
        usb.device.get().init(cdc, builtin_driver=True)
        return StreamLink(cdc)
    if kind == "uart":
        import machine

        uart = machine.UART(desc["uart"], baudrate=desc.get("baud", 115200),
                            tx=machine.Pin(desc["tx"]), rx=machine.Pin(desc["rx"]),
                            timeout=0, rxbuf=desc.get("rxbuf", 2048))
        return StreamLink(uart)
    if kind == "usb_serial":
        return StdioLink()
    raise ValueError("LINK kind %r is not one this till knows" % (kind,))
