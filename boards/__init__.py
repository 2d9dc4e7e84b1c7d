# One file per board: what it is wired to, as data, plus build() that makes the
# device objects (firmware/till/drivers/devices.py documents the dict it returns).
#
# On a board, `kassa flash --board NAME` copies boards/NAME.py to /board.py and
# main.py does `import board`. On a host (the sim board under CPython or the
# MicroPython unix port, the Raspberry Pi) the repository root is on the path
# and main.py loads the board by name:
#
#     try:
#         import board                      # a flashed till
#     except ImportError:
#         from boards import load
#         board = load()                    # KASSA_BOARD, else "sim"
#     dev = board.build()
#
# Importing a board file never touches hardware; build() does.
NAMES = ("pico_w", "esp32", "rpi", "sim")


def load(name=None):
    """The board module `name` (default: $KASSA_BOARD, else "sim")."""
    if name is None:
        import os

        name = os.getenv("KASSA_BOARD") or "sim"
    if name not in NAMES:
        raise ValueError("no board %r; boards: %s" % (name, ", ".join(NAMES)))
    return __import__("boards." + name, None, None, [name])
