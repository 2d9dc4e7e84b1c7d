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

from host_tools.provision.mpy_build import ROOT, compile_file, compile_tree

FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
BUILD_MPY = ROOT / "build" / "mpy"  # make mpy's output


def build_image(board_file: Path | None = None, firmware: Path = FIRMWARE) -> bytes:
    """The image: till/ of `firmware` compiled by mpy-cross (the repository's
    own is build/mpy: what the tests import is what goes to the board) and, if
    given, the board file as board.mpy (e.g. BOARDS / "pico_w.py")."""
    with tempfile.TemporaryDirectory(prefix="kassa-romfs-") as tmp:
        compiled = BUILD_MPY if firmware.resolve() == FIRMWARE.resolve() else Path(tmp) / "mpy"
        errors = compile_tree(compiled, firmware)
        if errors:
            raise RuntimeError("mpy-cross failed:\n" + "\n".join(errors))
        stage = Path(tmp) / "rom"
        shutil.copytree(compiled / "till", stage / "till")
        if board_file is not None:
            error = compile_file(board_file, stage / "board.mpy", "board.py")
            if error is not None:
                raise RuntimeError("mpy-cross failed:\n" + error)
        return pack(stage)


def pack(stage: Path) -> bytes:
    """A ROMFS image of a folder of already compiled files, each with its short
    source name (mpy_build.compile_file): mpremote's builder compiles in its
    temporary folder, and every traceback would name that."""
    # make_romfs prints a listing of every file it packs: a build detail
    # that buried what a person running the sim wanted to see.
    with contextlib.redirect_stdout(io.StringIO()):
        return make_romfs(str(stage), mpy_cross=False)
