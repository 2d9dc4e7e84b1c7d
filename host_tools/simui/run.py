"""`kassa sim run DIR` at a terminal: the till on the screen, then what is left."""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from host_tools.provision import sim
from host_tools.simui.paper import PNG_PATTERN
from host_tools.simui.screen import SimScreen
from host_tools.simui.tillproc import TillProcess, board_settings


def run(root: Path, cpython: bool = False, set_clock: bool = True,
        link_port: int | None = None) -> int:
    """The screen until F10; then the till's last words and where the receipts are."""
    board = board_settings()
    with tempfile.TemporaryDirectory(prefix="kassa-sim-") as tmp:
        if cpython:
            till = TillProcess(root, None, link_port)
            name = "CPython (as a Pi)"
        else:
            till = TillProcess(root, sim.romfs_image(Path(tmp) / "firmware.romfs"), link_port)
            name = f"MicroPython {sim.SIM_HEAP_KIB}K"
        screen = SimScreen(root, till, board, name, set_clock=set_clock)
        interrupted = False
        try:
            code = asyncio.run(screen.run())
        except KeyboardInterrupt:  # a signal from outside: keys come as keys here
            code, interrupted = None, True
    for line in screen.last_words():
        print(line)
    if interrupted:
        print("Stopped (Ctrl-C). Every sale is in the journal.")
    elif code is None:
        print("The till did not stop in time and was ended; every sale is in its journal.")
    if screen.paper.last_png is not None:
        print(f"Receipts of this run: {screen.paper.last_png.parent}/{PNG_PATTERN} "
              f"(the last: {screen.paper.last_png.name}); all the paper: {root}/printer.bin")
    return code or 0
