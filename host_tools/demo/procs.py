"""The demo's child processes: each in its own process group (a Ctrl-C at the
terminal reaches only the demo, which then stops them in order), stopped at the
end whatever happened: a till by closing its input (it finishes printing and
ends), the relay by SIGTERM, then the whole group by SIGKILL if it lingers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{log.stem} stopped before it listened on port {port}; "
                            f"its output is in {log}:\n" + tail(log))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise DemoError(f"{log.stem} did not listen on port {port} within {timeout_s:.0f} s; "
                    f"its output is in {log}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class DemoError(Exception):
    """A step of the demo failed: what, and where to look."""


class Child:
    """A long-lived child process, its output in a log file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None, stdin_pipe: bool = False) -> None:
        self.log = log
        self._out: IO[str] = open(log, "a")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=cwd, start_new_session=True)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, lines: list[str]) -> None:
        if not self.running or self.proc.stdin is None:
            raise DemoError(f"{self.log.stem} is not running; its output is in {self.log}:\n"
                            + tail(self.log))
        self.proc.stdin.write("".join(line + "\n" for line in lines))
        self.proc.stdin.flush()

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout_s: float = 20) -> None:
        """End input (a till finishes and stops) or SIGTERM, then SIGKILL the group."""
        try:
            if self.running:
                if self.proc.stdin is not None:
                    try:
                        self.proc.stdin.close()
                    except OSError:
                        pass
                else:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of its group
            except (ProcessLookupError, PermissionError):
                pass
            if self.proc.poll() is None:
                self.proc.wait()
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            self._out.close()
