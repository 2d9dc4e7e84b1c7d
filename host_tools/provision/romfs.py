"""ROMFS images of the till firmware (MicroPython 1.25+ read-only filesystem).

On a board whose MicroPython has a ROMFS partition, .mpy files there run in place
from memory-mapped flash: the firmware's bytecode and constants cost no heap. That
is what makes the whole till fit a Pico W's 192 KB heap (docs/benchmarks.md); copied
to littlefs instead, every module is loaded into RAM. The image is made by
mpremote's own builder (the format mpremote `romfs deploy` writes to the board).
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

from mpremote.romfs import make_romfs

from host_tools.provision.mpy_build import ROOT

FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"


def build_image(board_file: Path | None = None, firmware: Path = FIRMWARE) -> bytes:
    """The image: till/ of `firmware` (compiled by mpy-cross) and, if given, the
    board file as board.py (e.g. BOARDS / "pico_w.py")."""
    with tempfile.TemporaryDirectory(prefix="kassa-romfs-") as tmp:
        stage = Path(tmp) / "rom"
        shutil.copytree(firmware / "till", stage / "till",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if board_file is not None:
            shutil.copy2(board_file, stage / "board.py")
        # make_romfs prints a listing of every file it packs: a build detail
        # that buried what a person running the sim wanted to see.
        with contextlib.redirect_stdout(io.StringIO()):
            return make_romfs(str(stage), mpy_cross=True)
