"""`kassa sim run DIR` at a terminal: the till on the screen, then what is left."""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from host_tools.provision import sim
from host_tools.provision.ptyline import PortTaken
from host_tools.simui.paper import PNG_PATTERN
from host_tools.simui.screen import SimScreen
from host_tools.simui.serialtill import SerialTill
from host_tools.simui.tillproc import TillProcess, board_settings


def run(root: Path, cpython: bool = False, set_clock: bool = True,
        link_port: int | None = None, repl_port: int | None = None) -> int:
    """The screen until F10; then the till's last words and where the receipts
    are. repl_port: the till's link and its REPL on one port (SerialTill)."""
    board = board_settings()
    with tempfile.TemporaryDirectory(prefix="kassa-sim-") as tmp:
        till: TillProcess
        if cpython:
            till = TillProcess(root, None, link_port)
            name = "CPython (as a Pi)"
        else:
            image = sim.romfs_image(Path(tmp) / "firmware.romfs")
            name = f"MicroPython {sim.SIM_HEAP_KIB}K"
            if repl_port is None:
                till = TillProcess(root, image, link_port)
            else:
                try:
                    till = SerialTill(root, image, repl_port)
                except PortTaken as exc:
                    print(f"kassa sim run: {exc.strerror}: give another --repl-port",
                          file=sys.stderr)
                    return 1
        screen = SimScreen(root, till, board, name, set_clock=set_clock)
        interrupted = False
        try:
            code = asyncio.run(screen.run())
        except KeyboardInterrupt:  # a signal from outside: keys come as keys here
            code, interrupted = None, True
        finally:
            till.close()  # nothing of the run stays: the port is free again
    for line in screen.last_words():
        print(line)
    if interrupted:
        print("Stopped (Ctrl-C). Every sale is in the journal.")
    elif isinstance(till, SerialTill) and till.switched_off:
        print("The till was switched off: every paid sale is in its journal; a sale "
              "left open is not, as after a power cut.")
        code = 0
    elif code is None:
        print("The till did not stop in time and was ended; every sale is in its journal.")
    if screen.paper.last_png is not None:
        print(f"Receipts of this run: {screen.paper.last_png.parent}/{PNG_PATTERN} "
              f"(the last: {screen.paper.last_png.name}); all the paper: {root}/printer.bin")
    return code or 0
