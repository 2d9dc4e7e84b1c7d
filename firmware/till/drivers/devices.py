# Builds a till's devices from its board description (boards/*.py).
#
# A board file is data -- pins, ports, baud rates, the printer profile, the
# keypad layout -- plus a build() that hands its names to a function here. The
# board is flashed as /board.py beside the till package, so everything with
# logic lives in this module, compiled and tested with the rest of the firmware.
# Nothing here runs at import: `machine` is imported inside build_machine().
#
# Every build returns the same dict, which the main loop codes against:
#   "board"     the board's NAME
#   "printer"   printer.Printer          "scanner"  scanner.Scanner
#   "keypad"    keypad.MatrixKeypad or StreamKeypad (both: poll(), run())
#   "display"   display.Displays (show(lines, customer_lines=None))
#   "clock"     rtc.DS3231 or rtc.SoftClock (now(), set())
#   "profile"   the printer profile dict (receipt layout)
#   "journal"   dict: dir, segment_bytes, low_free_bytes, full_free_bytes
#   "snapshot_dir", "link" (the gateway link's description, opened by its task),
#   "watchdog"  None, or a function(timeout_ms) starting the hardware watchdog
#   "i2c"       the I2C bus or None
from till.drivers.display import Displays, PoleDisplay
from till.drivers.keypad import MatrixKeypad
from till.drivers.printer import Printer
from till.drivers.rtc import DS3231, SoftClock
from till.drivers.scanner import Scanner


def printer_for(cfg, stream, ticks_ms=None):
    pc = cfg["PRINTER"]
    profile = cfg.get("PROFILE") or {}
    baud = pc.get("baud")
    return Printer(stream, queue_dir=pc.get("queue_dir"), ticks_ms=ticks_ms,
                   check_status=pc.get("status", True),
                   # 10 bits a byte on a UART (8N1); a USB link needs no pacing.
                   bytes_per_s=baud // 10 if baud else None,
                   max_width_bytes=(profile.get("paper_width_dots") or 512) // 8,
                   drawer_pin=pc.get("drawer_pin", 2))


def scanner_for(cfg, stream, ticks_ms=None):
    sc = cfg["SCANNER"]
    return Scanner(stream, terminator=sc.get("terminator", "CR"),
                   max_len=sc.get("max_len", 128), dedup_ms=sc.get("dedup_ms", 700),
                   ticks_ms=ticks_ms)


def clock_for(cfg, i2c, ticks_ms=None):
    c = cfg.get("CLOCK") or {"kind": "soft"}
    if c["kind"] == "ds3231":
        return DS3231(i2c, c.get("addr", 0x68), ticks_ms=ticks_ms)
    return SoftClock(ticks_ms)


def lcd_for(cfg, i2c):
    from till.drivers.lcd import Lcd

    d = cfg["DISPLAY"]
    lcd = Lcd(i2c, d.get("addr", 0x27), d.get("cols", 16), d.get("rows", 2))
    try:
        lcd.init()
    except OSError as exc:  # no display answering: the next show() tries again
        lcd.error = exc
    return lcd


def pole_for(cfg, stream):
    p = cfg.get("POLE")
    if not p or stream is None:
        return None
    return PoleDisplay(stream, p.get("cols", 20), p.get("rows", 2), p.get("protocol", "escpos"))


def assemble(cfg, printer, scanner, keypad, cashier, clock, pole=None, watchdog=None,
             i2c=None):
    return {
        "board": cfg["NAME"],
        "printer": printer,
        "scanner": scanner,
        "keypad": keypad,
        "display": Displays(cashier, pole),
        "clock": clock,
        "profile": cfg.get("PROFILE") or {},
        "journal": cfg["JOURNAL"],
        "snapshot_dir": cfg.get("SNAPSHOT_DIR", "snapshot"),
        "link": cfg.get("LINK"),
        "watchdog": watchdog,
        "i2c": i2c,
    }


def build_machine(cfg):
    """The devices of a MicroPython board (rp2, esp32) from its data."""
    import machine
    from machine import Pin

    i2c = None
    ic = cfg.get("I2C")
    if ic:
        i2c = machine.I2C(ic["id"], sda=Pin(ic["sda"]), scl=Pin(ic["scl"]), freq=ic["freq"])

    def uart(c, **buffers):
        # timeout=0: reads return at once with what has arrived (the drivers
        # poll); writes are paced by the printer driver so they never wait.
        return machine.UART(c["uart"], baudrate=c["baud"], tx=Pin(c["tx"]), rx=Pin(c["rx"]),
                            timeout=0, **buffers)

    printer = printer_for(cfg, uart(cfg["PRINTER"], txbuf=256, rxbuf=64))
    # 256 bytes hold several codes should the loop be busy (a 4 KiB flash erase
    # stops the RP2040 for ~45 ms; the hardware FIFO still catches 32 bytes).
    scanner = scanner_for(cfg, uart(cfg["SCANNER"], rxbuf=256))
    kp = cfg["KEYPAD"]
    external = kp.get("external_pullups", ())
    rows = [Pin(n, Pin.OUT, value=1).value for n in kp["rows"]]
    cols = [Pin(n, Pin.IN, None if n in external else Pin.PULL_UP).value for n in kp["cols"]]
    keypad = MatrixKeypad(rows, cols, kp["keys"], kp.get("debounce_ms", 20))
    pole = None
    if cfg.get("POLE"):
        pole = pole_for(cfg, uart(cfg["POLE"]))
    watchdog = None
    if cfg.get("WATCHDOG_MS"):
        def watchdog(timeout_ms=cfg["WATCHDOG_MS"]):
            return machine.WDT(timeout=timeout_ms)
    return assemble(cfg, printer, scanner, keypad, lcd_for(cfg, i2c), clock_for(cfg, i2c),
                    pole, watchdog, i2c)
