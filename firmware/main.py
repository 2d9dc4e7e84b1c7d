# The till's boot file: /main.py on a board, run at power-on after boot.py.
# `kassa flash` puts the firmware in /till, the board file in /board.py and the
# till's identity in /identity. On a host (the sim board) run it from the till's
# root directory with firmware/ and the repository root on the module path.
import os


def _finish_firmware_switch():
    # kassa flash copies new firmware to till.new, then renames till away and
    # till.new into place; a power cut between the two renames leaves only
    # till.new, so finish the switch before anything imports till.
    names = os.listdir()
    if "till" not in names and "till.new" in names:
        os.rename("till.new", "till")


_finish_firmware_switch()

# Before anything else is imported, while the heap is whole (till/reserve.py).
from till import reserve  # noqa: E402

_buffers = reserve.buffers()
_link_buffer = reserve.link_buffer()
# Room for selling, released once the till has booted; the link's buffer
# comes out of it, so the boot has the room it always had.
reserve.hold(reserve.ROOM_BYTES - reserve.LINK_BYTES)

try:
    import board
except ImportError:
    from boards import load

    board = load()

from till import app  # noqa: E402 - only after the firmware switch is complete

app.main(board, buffers=_buffers, link_buffer=_link_buffer)
