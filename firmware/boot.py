# /boot.py on a board: MicroPython runs it at every reset, before main.py (its
# names are deleted at the end, so this code costs the till no heap while it
# sells). It finishes an update of the firmware that a power cut interrupted.
#
# `kassa flash` stages an update as NAME.new beside what runs, checks every
# staged file by hash, then writes the marker file `switch` (to switch.tmp,
# renamed: whole or absent) listing the names it replaces, and moves them in
# with the code below, run on the till. A cut before the marker leaves the old
# firmware whole (the leftovers are removed by the next flash, never here: a
# soft reset during a flash runs this file too); a cut after it is finished
# here, before main.py imports anything. So a till boots the old firmware or
# the new one, never a mix. A file is replaced by one rename (atomic on
# littlefs and POSIX); a directory is moved aside first, then removed. boot.py
# goes first, so that once anything has moved, the boot.py in place knows the
# marker. Only the names in _UNIT are touched: never the journal, the snapshot
# or the print queue.
import os

# ---- the firmware switch (kassa flash sends this part to the till)
_UNIT = ("boot.py", "till", "lib", "board.py", "provision", "identity", "main.py")


def _rm(p):
    try:
        d = os.stat(p)[0] & 0x4000
    except OSError:
        return
    if d:
        for n in os.listdir(p):
            _rm(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)


def _finish_firmware_switch(drop=False):
    """Finish a committed update; with drop, also remove an uncommitted one."""
    names = os.listdir()
    todo = ()
    if "switch" in names:
        with open("switch") as f:
            todo = f.read().split()
    for n in _UNIT:
        if n + ".new" in names:
            if n in todo:
                if n in names and os.stat(n)[0] & 0x4000:
                    _rm(n + ".old")
                    os.rename(n, n + ".old")
                os.rename(n + ".new", n)
            elif drop:
                _rm(n + ".new")
        _rm(n + ".old")
    if todo:
        os.remove("switch")
    if drop:
        _rm("switch.tmp")
# ---- end of the firmware switch


_finish_firmware_switch()
# boot.py and main.py share the __main__ namespace on a board: drop the names,
# so that their code is freed before main.py starts.
del _rm, _finish_firmware_switch, _UNIT
