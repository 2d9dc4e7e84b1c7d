"""A MicroPython unix-port process that looks like a board on a serial port.

Its REPL runs on a pseudo-terminal (raw mode, so mpremote sees the bytes a board
sends); a TCP bridge makes it reachable as socket://127.0.0.1:PORT for mpremote
and pyserial. Its current directory plays the board's flash filesystem.
"""
from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import threading
import tty
from pathlib import Path


class UnixDevice:
    def __init__(self, root: Path, heap: str = "192K") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        master, slave = pty.openpty()
        tty.setraw(slave)  # no CR/LF translation: mpremote expects raw REPL bytes
        exe = str(Path(sys.executable).with_name("micropython"))
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        self.proc = subprocess.Popen([exe, "-X", f"heapsize={heap}"], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=root, env=env, close_fds=True)
        os.close(slave)
        self._master = master
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = False
        self._thread = threading.Thread(target=self._bridge, daemon=True)
        self._thread.start()

    def _bridge(self) -> None:
        while not self._stop:
            r, _, _ = select.select([self._server], [], [], 0.2)
            if not r:
                continue
            conn, _ = self._server.accept()
            with conn:
                try:
                    self._serve(conn)
                except OSError:
                    pass  # the client went away (as mpremote does): wait for the next

    def _serve(self, conn: socket.socket) -> None:
        while not self._stop:
            r, _, _ = select.select([self._master, conn], [], [], 0.2)
            if self._master in r:
                data = os.read(self._master, 4096)
                conn.sendall(data)
            if conn in r:
                data = conn.recv(4096)
                if not data:
                    return
                os.write(self._master, data)

    def close(self) -> None:
        self._stop = True
        self.proc.kill()
        self.proc.wait()
        self._thread.join(timeout=2)
        self._server.close()
        os.close(self._master)

    def __enter__(self) -> UnixDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
