"""A MicroPython unix-port process that looks like a board on a serial port.

Its REPL runs on a pseudo-terminal bridged to socket://127.0.0.1:PORT for
mpremote and pyserial (host_tools/provision/ptyline.py, which the sim's screen
uses too). Its current directory plays the board's flash filesystem.

With repl_link=True the pty passes Ctrl-C (0x03) through as data, as a board's
UART does while its program has set micropython.kbd_intr(-1) (a sim till
whose link shares its REPL's port, KASSA_LINK_PORT=stdio): the program itself
must recognise mpremote's break-in, and MicroPython's REPL reads Ctrl-C
itself. What the device writes while nobody is connected is lost, as on a
UART with nobody listening; console=PATH takes its stderr (the sim's display
in that mode) off the port.

With reboot=True it acts as a board that resets: when the process ends (a soft
reset from the raw REPL ends a unix-port process; machine.soft_reset() too), a
new one starts on the same port, runs boot.py and then main.py if the directory
has them (as a board boots), then offers the REPL. Bytes still waiting from before the reset
are dropped, as a board's USB port drops them.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from host_tools.provision.ptyline import PtyLine, own_session


# A board's boot: boot.py, then main.py, each run to its end in its own
# namespace (MicroPython frees boot.py before main.py starts).
_BOOT = """
import os
for _name in ('boot.py', 'main.py'):
    if _name in os.listdir():
        with open(_name) as _f:
            _code = _f.read()
        exec(_code, {'__name__': '__main__'})
        del _code
"""


class UnixDevice:
    def __init__(self, root: Path, heap: str = "192K", reboot: bool = False,
                 env: dict[str, str] | None = None, repl_link: bool = False,
                 console: Path | None = None, port: int = 0) -> None:
        """env: more environment for the MicroPython process (a sim board's
        KASSA_LINK_PORT, so that its link listens on a port of the test's).
        port: the bridge's TCP port (0: a free one)."""
        self.root = root
        self.heap = heap
        self.env = dict(env or {})
        self.repl_link = repl_link
        self._console = open(console, "ab") if console is not None else None
        self.boots = 0  # processes started
        root.mkdir(parents=True, exist_ok=True)
        # The pty and its TCP bridge: host_tools/provision/ptyline.py. Without
        # repl_link, Ctrl-C interrupts a running program, as on a board: the
        # pty is the process's controlling terminal and sends it SIGINT
        # (MicroPython's REPL reads Ctrl-C itself, in its own raw mode).
        self.line = PtyLine(port, ctrl_c_is_data=repl_link, keep_unheard=not repl_link)
        self.port = self.line.port
        self.url = self.line.url
        self._stop = False
        self.proc = self._start(boot_main=False)
        self.boots = 1
        self._rebooter = None
        if reboot:
            self._rebooter = threading.Thread(target=self._reboot, daemon=True)
            self._rebooter.start()

    def _start(self, boot_main: bool) -> subprocess.Popen:
        exe = str(Path(sys.executable).with_name("micropython"))
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        env.update(self.env)
        argv = [exe, "-X", f"heapsize={self.heap}"]
        if boot_main:
            argv += ["-i", "-c", _BOOT]

        slave = self.line.slave
        return subprocess.Popen(argv, stdin=slave, stdout=slave,
                                stderr=self._console or slave, cwd=self.root, env=env,
                                close_fds=True, preexec_fn=own_session)

    def _reboot(self) -> None:
        while not self._stop:
            try:
                self.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            if self._stop:
                return
            time.sleep(0.3)  # what the host still sends after the reset is lost
            # MicroPython's REPL turns ISIG off while it runs and back on when
            # it ends; a process killed in the REPL (a power cut) leaves it
            # off, and the next boot could not be interrupted. A board's USB
            # port starts afresh at every reset.
            self.line.fresh(drop_input=True)
            self.proc = self._start(boot_main=True)
            self.boots += 1  # counted once self.proc is the new process

    def type_lines(self, text: str, until: bytes, timeout_s: float = 60) -> str:
        """Type lines at the device's terminal (as a person or a scanner
        would); what it printed, once `until` came."""
        shown = b""
        end = time.monotonic() + timeout_s
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.settimeout(0.1)
            for line in text.strip().splitlines():
                s.sendall(line.encode() + b"\n")
                time.sleep(0.05)
            while until not in shown:
                if time.monotonic() > end:
                    raise AssertionError(f"{until!r} never came: "
                                         + shown.decode(errors="replace")[-2000:])
                try:
                    shown += s.recv(4096)
                except socket.timeout:
                    pass
        return shown.decode(errors="replace")

    def close(self) -> None:
        self._stop = True
        if self._rebooter is not None:
            self._rebooter.join(timeout=2)
        self.proc.kill()
        self.proc.wait()
        self.line.close()
        if self._console is not None:
            self._console.close()

    def __enter__(self) -> UnixDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
