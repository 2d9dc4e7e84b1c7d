"""The sim till as a child process of the screen, and its output read back.

The child is the plain `kassa sim run` till (firmware/main.py on the sim
board, under MicroPython by default) with a pipe for stdin, so its input is
the sim's script language, one command a line (`key TOTAL`, `scan CODE`,
`paper out`...). Its display writes each change to stdout as the display's
rows between bars, then a blank line (till.drivers.display.TextDisplay);
DisplayReader turns that back into frames, and every other line (the sim's
own messages, a crash report) into console lines.
"""
from __future__ import annotations

import asyncio
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.provision import sim
from host_tools.provision.mpy_build import ROOT

BOARD_FILE = ROOT / "boards" / "sim.py"


def board_settings() -> dict[str, Any]:
    """The sim board file's settings (its keymap, display size, link), read
    from the file itself so the screen and the till never disagree."""
    return runpy.run_path(str(BOARD_FILE))


@dataclass
class Frame:
    lines: list[str]


class DisplayReader:
    """Lines of the till's stdout -> display frames (Frame) or console text."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols = cols
        self.rows = rows
        self._rows: list[str] = []

    def line(self, text: str) -> Frame | str | None:
        text = text.rstrip("\r\n")
        if len(text) == self.cols + 2 and text[0] == "|" and text[-1] == "|":
            self._rows.append(text[1:-1])
            if len(self._rows) == self.rows:
                frame = Frame(self._rows)
                self._rows = []
                return frame
            return None
        self._rows = []
        return text if text.strip() else None


class TillProcess:
    """The till, started by start(); send() a script command, lines() its output."""

    def __init__(self, root: Path, image: Path | None, link_port: int | None = None) -> None:
        """image: the firmware's ROMFS image (MicroPython), or None for CPython;
        link_port: where its link listens (default: the board file's LINK)."""
        self.root = root
        self.image = image
        self.link_port = link_port
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.image is not None:
            argv, env = sim.micropython_command(self.root, self.image, link_port=self.link_port)
        else:
            argv, env = sim.cpython_command(self.link_port)
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=self.root, env=env)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def send(self, command: str) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing() or not self.running:
            return
        proc.stdin.write(command.encode() + b"\n")
        try:
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the till stopped; its last words arrive on stdout

    def _output(self) -> asyncio.StreamReader:
        """Where the till's display and messages come out."""
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout

    async def readline(self) -> str | None:
        """The next line of output, None once the till has ended."""
        data = await self._output().readline()
        return data.decode("utf-8", "replace") if data else None

    def _ask_to_stop(self, proc: asyncio.subprocess.Process) -> None:
        """End input, as Ctrl-D does: the till finishes what prints and stops."""
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()

    async def stop(self, timeout_s: float) -> int | None:
        """Ask the till to stop (_ask_to_stop); after timeout_s it is killed.
        Its exit code, None if killed."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            self._ask_to_stop(proc)
        try:
            return await asyncio.wait_for(proc.wait(), timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return None

    def close(self) -> None:
        """What the till held beside its process (nothing here)."""
