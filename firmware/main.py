# The till's boot file: /main.py on a board, run at power-on after boot.py.
# `kassa flash` puts the firmware in /till, the board file in /board.py and the
# till's identity in /identity. On a host (the sim board) run it from the till's
# root directory with firmware/ and the repository root on the module path.
import os

# ---- the firmware switch (kassa flash sends this part to the till for its switch,
# so the till and the flasher finish an update with the same code)
#
# An update is staged beside what runs: NAME.new for each NAME of _UNIT it
# replaces. Once every staged file is verified, the flasher writes the marker
# _SWITCH (to a .tmp file, then renamed: whole or absent) listing those names,
# and only then moves them in. A power cut anywhere leaves one of two states:
# no marker (the old firmware stands; its leftovers are removed here) or the
# marker (the update is committed; what is still staged is moved in here). So a
# till boots the old firmware or the new one, never a mix. Only the names in
# _UNIT are ever touched: never the journal, the snapshot or the print queue.
# A file is replaced by one rename (atomic on littlefs and POSIX: there is never
# a moment without main.py); a directory is moved aside first, then removed.
_SWITCH = "switch"
_UNIT = ("till", "lib", "board.py", "provision", "identity", "main.py")


def _rm(path):
    # A file or a directory tree; a missing one is fine (finishing is repeatable).
    try:
        st = os.stat(path)
    except OSError:
        return
    if st[0] & 0x4000:
        for name in os.listdir(path):
            _rm(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def _finish_firmware_switch():
    """Finish a committed update or drop an uncommitted one. True when this
    replaced main.py itself (the caller must start over with the new one)."""
    names = os.listdir()
    _rm(_SWITCH + ".tmp")
    todo = ()
    if _SWITCH in names:
        with open(_SWITCH) as f:
            todo = f.read().split()
    replaced_main = False
    for name in _UNIT:
        if name + ".new" in names:
            if name not in todo:
                _rm(name + ".new")  # never committed
            else:
                if name in names and os.stat(name)[0] & 0x4000:
                    _rm(name + ".old")
                    os.rename(name, name + ".old")
                os.rename(name + ".new", name)
                replaced_main = replaced_main or name == "main.py"
        _rm(name + ".old")
    if todo:
        os.remove(_SWITCH)
    return replaced_main
# ---- end of the firmware switch


if _finish_firmware_switch():
    # A power cut left the new main.py staged, and the old one is running:
    # start over with the new one (a board resets; a host runs it in its place).
    import sys

    if sys.platform not in ("linux", "darwin", "win32"):
        import machine

        machine.soft_reset()
    exec(open("main.py").read(), {"__name__": "__main__"})
    raise SystemExit
del _rm, _finish_firmware_switch  # their bytecode is not needed after boot

# Before anything else is imported, while the heap is whole (till/reserve.py).
from till import reserve  # noqa: E402

_buffers = reserve.buffers()
reserve.hold()  # room for selling, released once the till has booted

try:
    import board
except ImportError:
    from boards import load

    board = load()

from till import app  # noqa: E402 - only after the firmware switch is complete

app.main(board, buffers=_buffers)
