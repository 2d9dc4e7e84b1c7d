# Raspberry Pi Pico W (RP2040, MicroPython). Flashed as /board.py by
# `kassa flash --board pico_w`; main.py does `import board; dev = board.build()`.
# docs/wiring.md has the wiring table. Nothing here touches hardware until build().
NAME = "pico_w"
PLATFORM = "rp2"

# Epson TM-T20II, 80 mm paper: `kassa printer profile TM-T20II` (till/drivers/profiles.py).
from till.drivers.profiles import TM_T20II as PROFILE  # noqa: F401 - read by till.devices

# The printer's serial interface at 38400 baud (set its DIP switches/memory
# switch so): a 7.7 KB logo takes 2 s instead of 8 s at 9600. TX/RX crossed to
# the printer's RXD/TXD through an RS-232 level shifter (MAX3232). The cash
# drawer hangs on the printer's drawer-kick port (ESC p, pin 2).
PRINTER = {"port": "uart", "uart": 0, "tx": 0, "rx": 1, "baud": 38400,
           "status": True, "queue_dir": "printq", "drawer_pin": 2}

# A TTL serial scanner, factory setting 9600 8N1, CR after each code. At 9600
# baud a code fits the RP2040's 32-byte UART FIFO during a flash erase.
SCANNER = {"port": "uart", "uart": 1, "tx": 4, "rx": 5, "baud": 9600,
           "terminator": "CR", "max_len": 128, "dedup_ms": 700}

# One I2C bus for the LCD backpack (PCF8574 at 0x27; 0x3F for a PCF8574A) and
# the DS3231 RTC module (0x68). 100 kHz: long wires to the display.
I2C = {"id": 0, "sda": 8, "scl": 9, "freq": 100000}
DISPLAY = {"kind": "hd44780", "addr": 0x27, "cols": 16, "rows": 2}
POLE = None  # both UARTs are taken: no customer pole display on this board
CLOCK = {"kind": "ds3231", "addr": 0x68}

# 6 x 5 key matrix without diodes: rows driven (one low at a time), columns
# read with the RP2040's internal pull-ups.
KEYPAD = {
    "kind": "matrix", "rows": (10, 11, 12, 13, 14, 15), "cols": (16, 17, 18, 19, 20),
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

# Pico W filesystem: littlefs v2, 848 KiB = 212 blocks of 4096 B, progsize 256.
FLASH = {"fs": "littlefs2", "block_bytes": 4096, "blocks": 212, "prog_bytes": 256}
# 16 KiB segments (docs/benchmarks.md); warn below 128 KiB free (the firmware
# and the snapshot share the 848 KiB), refuse sales below 24 KiB.
JOURNAL = {"dir": "journal", "segment_bytes": 16384, "low_free_bytes": 131072,
           "full_free_bytes": 24576}
SNAPSHOT_DIR = "snapshot"

# The gateway talks to the till over the USB cable, on a second USB serial
# interface (micropython-lib usb-device-cdc: `mpremote mip install
# usb-device-cdc`); the first stays the REPL's, for mpremote (docs/link.md).
# A UART link ({"kind": "uart", "uart": n, "tx": .., "rx": .., "baud": 115200})
# needs a UART the printer and scanner leave free: a Pico W has none.
LINK = {"kind": "usb_cdc"}
# micropython-lib packages `kassa flash` installs with mip (into /lib): a second
# USB serial port beside the REPL for the gateway link.
MIP_PACKAGES = ("usb-device-cdc",)
WATCHDOG_MS = 8000  # the RP2040 watchdog's longest is 8388 ms


def build():
    from till.drivers import devices

    return devices.build_machine(globals())
