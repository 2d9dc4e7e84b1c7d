# The sim board: virtual hardware for MicroPython's unix port and CPython.
#
# The printer writes the ESC/POS bytes it is sent to a file (`kassa receipt
# render FILE` shows them as text and PNG) and answers status requests from a
# paper/cover/power state the script can change; the scanner and keypad read a
# script (or the terminal); the display prints its lines to stdout or a file.
# The real drivers (Printer, Scanner, StreamKeypad) run on top, so what is
# tested here is what runs on a board.
#
# `kassa sim run DIR` at a terminal shows this board on a screen (the display,
# the receipts, the drawer, keys for the printer's paper, cover and power:
# host_tools/simui); without one it reads script lines (scan, key, type,
# paper, cover, printer, wait, clock, heap), which is also what the screen
# sends. Both are described in docs/simulator.md; a line not understood is
# reported on the console with the commands, and skipped.
NAME = "sim"
PLATFORM = "sim"

# Epson TM-T20II, 80 mm paper: `kassa printer profile TM-T20II` (till/drivers/profiles.py).
from till.drivers.profiles import TM_T20II as PROFILE  # noqa: F401 - read by till.devices

# Paths are relative to the root directory given to build().
PRINTER = {"port": "file", "out": "printer.bin", "status": True, "queue_dir": "printq",
           "drawer_pin": 2}
# dedup_ms 0: a script scans the same item twice on purpose, a moment apart.
SCANNER = {"port": "script", "terminator": "CR", "max_len": 128, "dedup_ms": 0}
KEYPAD = {
    "kind": "stream",
    # One keyboard key per till key: the sim screen sends these (Enter is
    # TOTAL) and draws its legend from this map; `type` in a script goes
    # through it too, and `key` names keys.
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

# The gateway connects to socket://127.0.0.1:7420 (docs/link.md). The
# environment's KASSA_LINK_PORT replaces the port (0: any free one, printed as
# "LINK listening on port N"), so tests and several sim tills can run at once.
# KASSA_LINK_PORT=stdio puts the link on the process's stdin/stdout, its REPL's
# port, as an ESP32's is (the same StdioLink: LINK "usb_serial"), for mpremote
# to break in between frames: the display goes to stderr, script lines come
# from the file `script` in the root as they are appended, and the till runs,
# as a board does, until mpremote takes the port.
LINK = {"kind": "tcp", "host": "127.0.0.1", "port": 7420}
WATCHDOG_MS = None

def build(root=".", script=None, display_out=None, ticks_ms=None):
    """The sim till's devices. root: the directory for the printer file, the
    print queue, the journal and the snapshot (created as needed). script: an
    open text file of script lines, or None to read the terminal. display_out:
    a text stream for the display (default stdout). The dict also carries
    "sim_input" (its .errors) and "printer_port" (the paper state)."""
    import os
    import sys

    from till.drivers import devices
    from till.drivers.display import TextDisplay
    from till.drivers.keypad import StreamKeypad
    from till.drivers.sim import SimInput, SimPrinterPort, TerminalLines

    try:
        os.mkdir(root)
    except OSError:
        pass
    link_port = os.getenv("KASSA_LINK_PORT")
    stdio = link_port == "stdio"
    if stdio:
        # Script lines come from the file `script` in the root, read as they
        # are appended to it (none: no input); the display goes to stderr.
        try:
            script = open(root + "/" + "script")
        except OSError:
            import io

            script = io.StringIO("")
        display_out = sys.stderr
    cfg = dict(globals())
    cfg["PRINTER"] = dict(PRINTER, queue_dir=root + "/" + PRINTER["queue_dir"])
    port = SimPrinterPort(root + "/" + PRINTER["out"], ticks_ms)
    source = SimInput(script if script is not None else TerminalLines(), port, ticks_ms,
                      display_out or sys.stdout)
    printer = devices.printer_for(cfg, port, ticks_ms)
    scanner = devices.scanner_for(cfg, source.scans, ticks_ms)
    keypad = StreamKeypad(source.keys, KEYPAD["keymap"])
    cashier = TextDisplay(display_out or sys.stdout, DISPLAY["cols"], DISPLAY["rows"])
    clock = devices.clock_for(cfg, None, ticks_ms)
    source.clock = clock
    dev = devices.assemble(cfg, printer, scanner, keypad, cashier, clock)
    dev["journal"] = dict(JOURNAL, dir=root + "/" + JOURNAL["dir"])
    dev["snapshot_dir"] = root + "/" + SNAPSHOT_DIR
    dev["printer_port"] = port
    if stdio:
        dev["link"] = {"kind": "usb_serial"}
        return dev  # without "sim_input" main() runs it as a board's
    if link_port is not None:
        dev["link"] = dict(LINK, port=int(link_port))
    dev["sim_input"] = source
    return dev
