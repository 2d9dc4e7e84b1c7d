# The gateway link over a serial port, as thin byte pipes under till/link
# (the same readinto/write/close as linktcp.py):
#   usb_cdc    a Pico W: a second USB serial interface (micropython-lib
#              usb-device-cdc, which `kassa flash` installs), so the REPL and
#              mpremote keep the first. USB pushes back instead of dropping.
#   uart       any board: a UART of its own (pins in the board file); bytes that
#              arrive while the RP2040 writes flash are lost, which the link's
#              credit window (one frame at a time to the till) keeps rare and
#              its retransmission repairs.
#   usb_serial an ESP32 DevKit: the USB bridge on UART0, which the REPL also uses.
#              The till takes it over (Ctrl-C off while the link runs), so
#              mpremote cannot break in while the till runs: reflash after a
#              reset into the bootloader (docs/link.md; a handoff on mpremote's
#              \r\x03 between frames is not built).


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
    """The REPL's own port (ESP32 UART0): binary stdin/stdout, polled."""

    def __init__(self):
        import select
        import sys

        import micropython

        micropython.kbd_intr(-1)  # 0x03 is data on the link, not Ctrl-C
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._one = bytearray(1)

    def readinto(self, buf):
        n = 0
        while n < len(buf) and self._poll.poll(0):
            if not self._in.readinto(self._one):
                break
            buf[n] = self._one[0]
            n += 1
        return n

    def write(self, mv):
        return self._out.write(mv) or 0


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
