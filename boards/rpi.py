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

# Epson TM-T20II, 80 mm paper: `kassa printer profile TM-T20II` (till/drivers/profiles.py).
from till.drivers.profiles import TM_T20II as PROFILE  # noqa: F401 - read by till.devices

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
           "terminator": "CR", "max_len": 128, "dedup_ms": 700}

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

# The Pi is on the shop's network: the till listens, the gateway connects to
# socket://<the Pi's name>:7420 (docs/link.md).
LINK = {"kind": "tcp", "host": "0.0.0.0", "port": 7420}
WATCHDOG_MS = None  # systemd's WatchdogSec= restarts a hung till on a Pi


def build(keypad="evdev"):
    import evdev
    from smbus2 import SMBus
    from till.drivers import devices
    from till.drivers.keypad import StreamKeypad
    from till.drivers.linux import EvdevKeys, SMBusI2C, gpio_matrix, serial_port, usb_printer

    cfg = dict(globals())
    pc = PRINTER
    if pc["port"] == "usb":
        stream = usb_printer(pc)
    else:
        stream = serial_port(pc["device"], pc["baud"])
    printer = devices.printer_for(cfg, stream)
    sc = SCANNER
    if sc["port"] == "evdev":
        scanner_stream = EvdevKeys(evdev.InputDevice(sc["device"]))
    else:
        scanner_stream = serial_port(sc["device"], sc["baud"])
    scanner = devices.scanner_for(cfg, scanner_stream)
    if keypad == "gpio":
        keys = gpio_matrix(KEYPAD_GPIO)
    else:
        keys = StreamKeypad(EvdevKeys(evdev.InputDevice(KEYPAD["device"])), KEYPAD["keymap"])
    i2c = SMBusI2C(SMBus(I2C["bus"]))
    pole = None
    if POLE:
        pole = devices.pole_for(cfg, serial_port(POLE["device"], POLE["baud"]))
    return devices.assemble(cfg, printer, scanner, keys, devices.lcd_for(cfg, i2c),
                            devices.clock_for(cfg, i2c), pole, None, i2c)
