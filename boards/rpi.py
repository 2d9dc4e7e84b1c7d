# Raspberry Pi (CPython 3.11, Raspberry Pi OS). Runs from the repository:
# `from boards import load; dev = load("rpi").build()`. docs/wiring.md has
# the wiring table.
#
# The Pi reaches its peripherals through Linux: the printer over USB with
# python-escpos's Usb backend (pyusb) or over a serial port with pyserial, the
# scanner and keypad as USB keyboards through evdev (grabbed, so their keys never
# reach a console), or a key matrix on GPIO through gpiozero, the LCD and RTC on
# /dev/i2c-1 through smbus2. Every import happens inside build() and the
# adapters, so this file imports anywhere (tests run it under MicroPython too).
NAME = "rpi"
PLATFORM = "linux"

# Epson TM-T20II, 80 mm paper: `kassa printer profile TM-T20II` (till/profiles.py).
from till.profiles import TM_T20II as PROFILE  # noqa: F401 - read by till.devices

# port "usb": python-escpos Usb(vendor, product) -- 04b8:0e15 is the TM-T20II;
# `lsusb` shows yours. Its bulk-in endpoint carries the DLE EOT replies.
# port "serial": {"device": "/dev/ttyUSB0", "baud": 38400} through pyserial.
PRINTER = {"port": "usb", "vendor": 0x04B8, "product": 0x0E15, "in_ep": 0x82,
           "out_ep": 0x01, "timeout_ms": 200, "status": True,
           "queue_dir": "/var/lib/kassa/printq", "drawer_pin": 2}

# port "evdev": a USB scanner in keyboard (HID) mode, Enter after each code.
# port "serial": {"device": "/dev/ttyACM0", "baud": 9600} for a USB-CDC scanner.
SCANNER = {"port": "evdev",
           "device": "/dev/input/by-id/usb-Barcode_Scanner-event-kbd",
           "terminator": "CR", "max_len": 48, "dedup_ms": 700}

# kind "evdev": a programmable POS keyboard (or a numeric keypad plus letter
# keys); the keymap says which character is which key. kind "gpio": a key
# matrix on the header through gpiozero (BCM numbers), like the boards'.
KEYPAD = {
    "kind": "evdev",
    "device": "/dev/input/by-id/usb-POS_Keyboard-event-kbd",
    "keymap": {
        "\r": "TOTAL", "+": "QTY", "-": "VOID", "*": "SUBTOTAL", "/": "CLEAR",
        "\b": "CLEAR", "a": "00", "c": "CASH", "k": "CARD", "p": "PLU", "r": "REFUND",
        "d": "DISCOUNT", "e": "PRICE", "x": "REPORT", "s": "SIGN", "n": "NO_SALE",
        "f": "FEED", ".": ".",
    },
}
KEYPAD_GPIO = {
    "kind": "gpio", "rows": (5, 6, 13, 19, 26, 21), "cols": (12, 16, 20, 23, 24),
    "debounce_ms": 20,
    "keys": (
        ("REPORT", "SIGN", "NO_SALE", "REFUND", "FEED"),
        ("7", "8", "9", "CLEAR", "VOID"),
        ("4", "5", "6", "QTY", "DISCOUNT"),
        ("1", "2", "3", "PLU", "PRICE"),
        ("0", "00", ".", "SUBTOTAL", "CARD"),
        (None, None, None, "TOTAL", "CASH"),
    ),
}

# /dev/i2c-1 is GPIO2 (SDA) / GPIO3 (SCL). Leave the kernel's i2c-rtc overlay
# off: the till reads the DS3231 itself and needs its oscillator-stop flag.
I2C = {"bus": 1, "sda": 2, "scl": 3}
DISPLAY = {"kind": "hd44780", "addr": 0x27, "cols": 20, "rows": 4}
POLE = {"device": "/dev/ttyUSB1", "baud": 9600, "cols": 20, "rows": 2, "protocol": "escpos"}
CLOCK = {"kind": "ds3231", "addr": 0x68}

# ext4 on the SD card: the journal writes fsync file and directory (till.durable).
FLASH = {"fs": "ext4", "device": "SD card"}
JOURNAL = {"dir": "/var/lib/kassa/journal", "segment_bytes": 16384,
           "low_free_bytes": 67108864, "full_free_bytes": 1048576}
SNAPSHOT_DIR = "/var/lib/kassa/snapshot"

# The Pi is on the shop's network: the gateway is reached over TCP.
LINK = {"kind": "tcp", "host": "kassa-gateway.local", "port": 7420}
WATCHDOG_MS = None  # systemd's WatchdogSec= restarts a hung till on a Pi

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
    from till.keypad import MatrixKeypad

    rows = []
    for n in cfg["rows"]:
        dev = DigitalOutputDevice(n, initial_value=True)
        rows.append(lambda level, dev=dev: setattr(dev, "value", level))
    cols = []
    for n in cfg["cols"]:
        dev = DigitalInputDevice(n, pull_up=True)
        cols.append(lambda dev=dev: dev.pin.state)
    return MatrixKeypad(rows, cols, cfg["keys"], cfg.get("debounce_ms", 20), ticks_ms)


def _serial(device, baud):
    import serial

    # timeout=0 and write_timeout=0: pyserial returns at once, as the drivers expect.
    return serial.Serial(device, baud, timeout=0, write_timeout=0)


def build(keypad="evdev"):
    import evdev
    from smbus2 import SMBus
    from till import devices
    from till.keypad import StreamKeypad

    cfg = dict(globals())
    pc = PRINTER
    if pc["port"] == "usb":
        from escpos.printer import Usb

        usb = Usb(pc["vendor"], pc["product"], timeout=pc["timeout_ms"],
                  in_ep=pc["in_ep"], out_ep=pc["out_ep"])
        usb.open()
        stream = EscposUsb(usb)
    else:
        stream = _serial(pc["device"], pc["baud"])
    printer = devices.printer_for(cfg, stream)
    sc = SCANNER
    if sc["port"] == "evdev":
        scanner_stream = EvdevKeys(evdev.InputDevice(sc["device"]))
    else:
        scanner_stream = _serial(sc["device"], sc["baud"])
    scanner = devices.scanner_for(cfg, scanner_stream)
    if keypad == "gpio":
        keys = gpio_matrix(KEYPAD_GPIO)
    else:
        keys = StreamKeypad(EvdevKeys(evdev.InputDevice(KEYPAD["device"])), KEYPAD["keymap"])
    i2c = SMBusI2C(SMBus(I2C["bus"]))
    pole = None
    if POLE:
        pole = devices.pole_for(cfg, _serial(POLE["device"], POLE["baud"]))
    return devices.assemble(cfg, printer, scanner, keys, devices.lcd_for(cfg, i2c),
                            devices.clock_for(cfg, i2c), pole, None, i2c)
