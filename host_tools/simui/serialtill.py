"""The screen's till on one serial line, as an ESP32 till on its UART0
(`kassa sim run DIR --repl-port PORT`).

The till runs with KASSA_LINK_PORT=stdio (boards/sim.py): its link is its
stdin/stdout, which is a pty bridged to socket://127.0.0.1:PORT
(host_tools/provision/ptyline.py), so `kassa gateway sync` and `mpremote`
reach it on that one URL. Its display and console are its stderr (read here
as TillProcess reads stdout); the screen's script commands are appended to the
file `script` in its root, which it reads as it grows.

mpremote breaks in between two frames (drivers/linkserial.py StdioLink); the
till finishes an open sale and its receipt, and its program ends (app.py
_hand_over). As on a board whose main.py has returned, the port is then
MicroPython's REPL, here a second process on the same pty, until the till is
restarted: restart() (the screen's F3, a board's reset button), or a soft
reset at the REPL's >>> prompt, which runs main.py on a board. The unix port
ends its process at any soft reset; one in the raw REPL (mpremote's, before
each command unless told `resume`) leaves a board in the raw REPL, so the next
REPL process is put there and its greeting hidden, as mpremote expects.
"""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from host_tools.provision import sim
from host_tools.provision.ptyline import RAW_BANNER, PtyLine, own_session
from host_tools.simui.tillproc import TillProcess

SCRIPT_FILE = "script"  # boards/sim.py reads it in stdio mode
BREAK_IN = b"\r\x03"  # mpremote's (transport_serial.enter_raw_repl)
_RAW_REPL = b"\r\x01"
_SOFT_REBOOT = b"MPY: soft reboot\r\n"  # what a board says (ports/*/main.c)


class SerialTill(TillProcess):
    """The till and then its REPL on a pty line; PortTaken if `port` is in use."""

    def __init__(self, root: Path, image: Path, port: int) -> None:
        super().__init__(root, image, None)
        self.line = PtyLine(port)
        self.url = self.line.url
        self.in_repl = False  # the till's program ended: the port is the REPL's
        self._repl: asyncio.subprocess.Process | None = None
        self._boot = False  # restart() was asked
        self._closing = False
        self.switched_off = False  # by switch_off(), not by its own end

    @property
    def script(self) -> Path:
        return self.root / SCRIPT_FILE

    async def start(self) -> None:
        assert self.image is not None
        self.script.write_text("")  # the till reads it from its start
        self._boot = False
        self.line.fresh()
        argv, env = sim.micropython_command(self.root, self.image, link_port=sim.STDIO_LINK)
        slave = self.line.slave
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=asyncio.subprocess.PIPE, cwd=self.root,
            env=env, preexec_fn=own_session)
        self.in_repl = False

    async def send(self, command: str) -> None:
        if self.running:
            with open(self.script, "a") as f:
                f.write(command + "\n")

    def _output(self) -> asyncio.StreamReader:
        assert self.proc is not None and self.proc.stderr is not None
        return self.proc.stderr

    async def repl(self) -> bool:
        """The port is MicroPython's REPL until the till is to boot again
        (True), or stop() or a REPL that failed (False)."""
        assert self.image is not None
        self.in_repl = True
        slave = self.line.slave
        while not self._closing:
            if self._boot:
                return True
            argv, env = sim.micropython_command(self.root, self.image, repl=True)
            self._repl = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, cwd=self.root, env=env,
                preexec_fn=own_session)
            code = await self._repl.wait()
            self._repl = None
            if self._closing or self._boot:
                continue
            if code != 0:
                break  # not a soft reset (those end it with 0): MicroPython itself failed
            raw = self.line.raw_repl
            self.line.say(_SOFT_REBOOT, mute_until=RAW_BANNER if raw else None)
            if not raw:
                return True  # a soft reset at >>> runs main.py
            self.line.fresh()
            self.line.write(_RAW_REPL)  # back where mpremote's soft reset left it
        self.in_repl = False
        return False

    def restart(self) -> bool:
        """The reset button, while the REPL has the port; whether it had."""
        if not self.in_repl or self._closing:
            return False
        self._boot = True
        if self._repl is not None and self._repl.returncode is None:
            self._repl.kill()
        return True

    async def stop(self, timeout_s: float) -> int | None:
        """The REPL, if it has the port, is ended; the till is asked to stop
        (_ask_to_stop) and killed after timeout_s or at switch_off()."""
        self._closing = True
        if self._repl is not None and self._repl.returncode is None:
            self._repl.kill()
        return await super().stop(timeout_s)

    def _ask_to_stop(self, proc: asyncio.subprocess.Process) -> None:
        """Break in as mpremote does: the till finishes its receipt (and waits
        for an open sale to be finished) and its program ends."""
        self.line.write(BREAK_IN)

    def switch_off(self) -> None:
        """The power switch: every sale is in the journal; an open one is not."""
        if self.proc is not None and self.proc.returncode is None:
            self.switched_off = True
            self.proc.kill()

    def close(self) -> None:
        """Free the port and the pty; the till's `script` goes (it was this run's)."""
        self.line.close()
        with contextlib.suppress(FileNotFoundError):
            self.script.unlink()
