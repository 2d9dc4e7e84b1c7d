# The till's boot file: /main.py on a board, run at power-on after boot.py
# (which finishes an interrupted firmware update before anything imports till).
# `kassa flash` puts the firmware in /till, the board file in /board.py and the
# till's identity in /identity. On a host (the sim board) run it from the till's
# root directory with firmware/ and the repository root on the module path.
# Before anything else is imported, while the heap is whole (till/reserve.py).
from till import reserve

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

from till import app

app.main(board, buffers=_buffers, link_buffer=_link_buffer)
