# ESP32 DevKit (ESP32-WROOM-32, 4 MiB flash, MicroPython). Flashed as /board.py
# by `kassa flash --board esp32`; docs/wiring.md has the wiring table.
#
# Pins left alone: 0, 2, 5, 12, 15 (boot strapping), 6-11 (the module's flash),
# 1 and 3 (UART0: the USB bridge, REPL and gateway link). 34, 35, 36 and 39 are
# inputs only, without internal pull-ups: they serve as keypad columns with
# 10 kOhm pull-up resistors to 3V3 on the keypad board.
NAME = "esp32"
PLATFORM = "esp32"

# Epson TM-T88V, 80 mm paper: `kassa printer profile TM-T88V` (till/drivers/profiles.py).
from till.drivers.profiles import TM_T88V as PROFILE  # noqa: F401 - read by till.devices

# UART2 at its default pins, through a MAX3232 to the printer's RS-232 port;
# the printer set to 38400 baud. Drawer on the printer's kick port, pin 2.
PRINTER = {"port": "uart", "uart": 2, "tx": 17, "rx": 16, "baud": 38400,
           "status": True, "queue_dir": "printq", "drawer_pin": 2}

# UART1 must be given pins: its defaults (9, 10) are the flash chip's.
SCANNER = {"port": "uart", "uart": 1, "tx": 19, "rx": 18, "baud": 9600,
           "terminator": "CR", "max_len": 128, "dedup_ms": 700}

I2C = {"id": 0, "sda": 21, "scl": 22, "freq": 100000}
# 20 x 4 LCD: room for the item, the price, the total and the printer's state.
DISPLAY = {"kind": "hd44780", "addr": 0x27, "cols": 20, "rows": 4}
POLE = None  # UART0-2 are all taken
# The ESP32's own RTC loses the time on every reset: a DS3231 keeps it.
CLOCK = {"kind": "ds3231", "addr": 0x68}

# 5 x 6 matrix: 5 rows driven, 6 columns read.
KEYPAD = {
    "kind": "matrix", "rows": (13, 23, 25, 26, 27), "cols": (32, 33, 34, 35, 36, 39),
    "external_pullups": (34, 35, 36, 39),
    "debounce_ms": 20,
    "keys": (
        ("SIGN", "REPORT", "NO_SALE", "REFUND", "FEED", "VOID"),
        ("7", "8", "9", "CLEAR", "QTY", "DISCOUNT"),
        ("4", "5", "6", "PLU", "PRICE", "SUBTOTAL"),
        ("1", "2", "3", None, "CARD", None),
        ("0", "00", ".", None, "CASH", "TOTAL"),
    ),
}

# MicroPython's ESP32 filesystem on 4 MiB flash: littlefs v2, 2 MiB = 512 blocks.
FLASH = {"fs": "littlefs2", "block_bytes": 4096, "blocks": 512, "prog_bytes": 256}
JOURNAL = {"dir": "journal", "segment_bytes": 16384, "low_free_bytes": 262144,
           "full_free_bytes": 24576}
SNAPSHOT_DIR = "snapshot"

# The DevKit's USB bridge (CP2102/CH340) on UART0: sys.stdin/stdout, 115200
# baud, shared with the REPL (UART1 and UART2 serve scanner and printer). The
# till takes the port while it runs (Ctrl-C off) and hands it to the REPL when
# mpremote breaks in between frames, once no sale is open: `kassa flash`
# redeploys a running till on the gateway's cable (docs/link.md).
LINK = {"kind": "usb_serial", "baud": 115200}
WATCHDOG_MS = 10000


def build():
    from till.drivers import devices

    return devices.build_machine(globals())
