# Adapters that give Linux devices on a Raspberry Pi till the stream shapes the
# drivers expect: USB keyboards (HID scanners, POS keyboards) through evdev, a
# python-escpos USB printer, smbus2 as machine.I2C, a GPIO key matrix through
# gpiozero, pyserial ports. Every Linux package is imported inside the adapter
# that needs it, so this module imports anywhere (its tests run under
# MicroPython with fakes). boards/rpi.py wires them up.

# evdev key codes (linux/input-event-codes.h) -> the character a US-layout
# keyboard types, unshifted and shifted.
_KEYS = {2: "1!", 3: "2@", 4: "3#", 5: "4$", 6: "5%", 7: "6^", 8: "7&", 9: "8*", 10: "9(",
         11: "0)", 12: "-_", 13: "=+", 14: "\b\b", 15: "\t\t", 28: "\r\r", 39: ";:", 40: "'\"",
         51: ",<", 52: ".>", 53: "/?", 57: "  ",
         55: "**", 71: "77", 72: "88", 73: "99", 74: "--", 75: "44", 76: "55", 77: "66",
         78: "++", 79: "11", 80: "22", 81: "33", 82: "00", 83: "..", 96: "\r\r", 98: "//"}
for _code, _row in ((16, "qwertyuiop"), (30, "asdfghjkl"), (44, "zxcvbnm")):
    for _i, _ch in enumerate(_row):
        _KEYS[_code + _i] = _ch + _ch.upper()
_SHIFTS = (42, 54)  # KEY_LEFTSHIFT, KEY_RIGHTSHIFT
_EV_KEY = 1
_KEY_DOWN = 1  # 0 is up, 2 is the keyboard's auto-repeat: never a new key


class EvdevKeys:
    """A keyboard-like device (HID scanner, POS keyboard) as a byte stream: each
    key press becomes the ASCII character it types, for the Scanner or a
    StreamKeypad. `device` is an evdev.InputDevice (read_one() returns None when
    no event waits)."""

    def __init__(self, device, grab=True):
        self._dev = device
        self._shift = False
        self._out = bytearray()
        if grab:
            device.grab()  # scans must not type into a console or another program

    def readinto(self, buf):
        while len(self._out) < len(buf):
            ev = self._dev.read_one()
            if ev is None:
                break
            if ev.type != _EV_KEY:
                continue
            if ev.code in _SHIFTS:
                self._shift = ev.value != 0
                continue
            chars = _KEYS.get(ev.code)
            if chars is not None and ev.value == _KEY_DOWN:
                self._out += chars[1 if self._shift else 0].encode()
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


class EscposUsb:
    """python-escpos's Usb printer as the stream Printer wants: write() through
    its bulk-out endpoint, readinto() from the bulk-in endpoint with a short
    timeout (the DLE EOT replies)."""

    def __init__(self, usb_printer, read_timeout_ms=5):
        self._p = usb_printer
        self._read_timeout_ms = read_timeout_ms

    def write(self, data):
        self._p._raw(bytes(data))  # pyusb errors are OSError: the driver handles them
        return len(data)

    def readinto(self, buf):
        try:
            data = self._p.device.read(self._p.in_ep, len(buf), self._read_timeout_ms)
        except OSError:  # usb.core.USBTimeoutError: nothing to read
            return 0
        n = len(data)
        buf[:n] = bytes(data)
        return n


def usb_printer(cfg):
    """The board's USB printer (PRINTER: vendor, product, endpoints,
    timeout_ms) opened with python-escpos, as an EscposUsb stream."""
    from escpos.printer import Usb

    usb = Usb(cfg["vendor"], cfg["product"], timeout=cfg["timeout_ms"],
              in_ep=cfg["in_ep"], out_ep=cfg["out_ep"])
    usb.open()
    return EscposUsb(usb)


class SMBusI2C:
    """smbus2 as the machine.I2C subset the LCD and the DS3231 drivers use."""

    def __init__(self, bus):
        self._bus = bus

    def writeto(self, addr, buf):
        from smbus2 import i2c_msg

        self._bus.i2c_rdwr(i2c_msg.write(addr, bytes(buf)))

    def readfrom_mem(self, addr, reg, n):
        return bytes(self._bus.read_i2c_block_data(addr, reg, n))

    def writeto_mem(self, addr, reg, buf):
        self._bus.write_i2c_block_data(addr, reg, list(buf))


def gpio_matrix(cfg, ticks_ms=None):
    """The KEYPAD_GPIO matrix through gpiozero: rows driven high when idle,
    columns read raw (pin.state) with pull-ups, as on the boards."""
    from gpiozero import DigitalInputDevice, DigitalOutputDevice
    from till.drivers.keypad import MatrixKeypad

    rows = []
    for n in cfg["rows"]:
        dev = DigitalOutputDevice(n, initial_value=True)
        rows.append(lambda level, dev=dev: setattr(dev, "value", level))
    cols = []
    for n in cfg["cols"]:
        dev = DigitalInputDevice(n, pull_up=True)
        cols.append(lambda dev=dev: dev.pin.state)
    return MatrixKeypad(rows, cols, cfg["keys"], cfg.get("debounce_ms", 20), ticks_ms)


def serial_port(device, baud):
    import serial

    # timeout=0 and write_timeout=0: pyserial returns at once, as the drivers expect.
    return serial.Serial(device, baud, timeout=0, write_timeout=0)
