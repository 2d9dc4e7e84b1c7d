"""A board's serial port played by a pseudo-terminal, reachable as
socket://127.0.0.1:PORT (mpremote and pyserial open that URL like a port).

A MicroPython unix-port process gets the pty's slave end as its stdin and
stdout; a thread bridges the master end to one TCP client at a time, as a
UART has one host at a time (a second waits until the first leaves). The pty
is raw (no CR/LF translation: mpremote expects the REPL's own bytes). With
ctrl_c_is_data (the default) Ctrl-C (0x03) is a byte like any other, as on a
board's UART while its program reads the port itself (the sim till whose link
shares its REPL's port, KASSA_LINK_PORT=stdio): the program must recognise
mpremote's break-in, and MicroPython's REPL reads Ctrl-C itself. Otherwise the
pty sends SIGINT to the foreground process of a session that made it its
controlling terminal (the caller sets that up).

What the device writes while nobody is connected is dropped, as on a UART
with nobody listening, unless keep_unheard (then it waits in the pty, up to
its buffer, for the next client: a REPL's greeting).

The line also watches what the REPL says of itself ("raw REPL; CTRL-B to
exit" or the ">>> " prompt: raw_repl), and can speak for a board between two
processes (say): the unix port ends its process at a soft reset, where a
board says "MPY: soft reboot" and carries on, so a host that plays the board
starts the next process and says that itself.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pty
import select
import socket
import termios
import threading
import tty

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"  # MicroPython's, on entering the raw REPL
_PROMPT = b">>> "  # the friendly REPL's
_TAIL = 64  # bytes of output kept to find the markers above across reads
_POLL_S = 0.2  # how often the thread looks at close()


def own_session() -> None:
    """preexec_fn for the device's process (its stdin the slave): a session
    of its own whose controlling terminal is the line. It then hangs up
    (SIGHUP) when the line goes, as a program on a closed terminal does: the
    host that played the board ended, however it ended, and nothing is left
    running. Without ctrl_c_is_data, Ctrl-C on the line interrupts it."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PortTaken(OSError):
    """The TCP port is in use by another program."""


class PtyLine:
    """The port: `slave` for the device's process, `url` for the host."""

    def __init__(self, port: int = 0, ctrl_c_is_data: bool = True,
                 keep_unheard: bool = False) -> None:
        """port: the TCP port on 127.0.0.1 (0: a free one; PortTaken if in use)."""
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind(("127.0.0.1", port))
        except OSError as exc:
            self._server.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(exc.errno, f"127.0.0.1:{port} is in use by another program") \
                    from exc
            raise
        self._server.listen(1)
        self.port: int = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        master, slave = pty.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        if ctrl_c_is_data:
            attrs[3] &= ~termios.ISIG
        else:
            attrs[3] |= termios.ISIG
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.slave = slave
        self._master = master
        self._attrs = attrs
        self._keep_unheard = keep_unheard
        self._raw_repl = False  # what the REPL on the line last said of itself
        self.clients = 0  # connections so far
        self._tail = b""
        self._mute: bytes | None = None
        self._muted = b""
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._bridge, name=f"pty line {self.port}",
                                        daemon=True)
        self._thread.start()

    # ---- for the host that plays the board --------------------------------------

    def fresh(self, drop_input: bool = False) -> None:
        """The line's settings as at a board's reset (a process killed in
        MicroPython's REPL leaves the REPL's own); with drop_input, what the
        host sent and nobody read is lost too, as a board's USB port loses it."""
        if drop_input:
            termios.tcflush(self.slave, termios.TCIFLUSH)
        termios.tcsetattr(self.slave, termios.TCSANOW, self._attrs)

    @property
    def raw_repl(self) -> bool:
        """Whether the REPL on the line last said it is in raw mode, in all
        the device has written so far (a process that just ended included)."""
        with self._lock:
            self._drain()
            return self._raw_repl

    def say(self, data: bytes, mute_until: bytes | None = None) -> None:
        """Send `data` to the client as the device, after all the device has
        written so far; with mute_until, drop what the device writes next up
        to that marker (which is sent)."""
        with self._lock:
            self._drain()
            self._send(data)
            self._mute, self._muted = mute_until, b""

    def write(self, data: bytes) -> None:
        """Bytes into the device's input, as from the host."""
        os.write(self._master, data)

    def close(self) -> None:
        """Stop the bridge and free the port and the pty."""
        if self._stop:
            return
        self._stop = True
        self._thread.join(timeout=5 * _POLL_S + 1)
        self._server.close()
        os.close(self._master)
        os.close(self.slave)

    def __enter__(self) -> PtyLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the bridge thread -------------------------------------------------------

    def _bridge(self) -> None:
        while not self._stop:
            watch = [self._server.fileno()]
            if not self._keep_unheard:
                watch.append(self._master)
            r, _, _ = select.select(watch, [], [], _POLL_S)
            if self._master in r:
                with self._lock:
                    self._drain()  # nobody listens: heard by the watch, then lost
            if self._server.fileno() not in r:
                continue
            conn, _ = self._server.accept()
            with conn:
                with self._lock:
                    self._conn = conn
                    self.clients += 1
                try:
                    self._serve(conn)
                except OSError:
                    pass  # the client went away (as mpremote does): wait for the next
                finally:
                    with self._lock:
                        self._conn = None

    def _serve(self, conn: socket.socket) -> None:
        while not self._stop:
            r, _, _ = select.select([self._master, conn.fileno()], [], [], _POLL_S)
            if self._master in r:
                with self._lock:
                    self._drain()
            if conn.fileno() in r:
                data = conn.recv(4096)
                if not data:
                    return
                os.write(self._master, data)

    def _drain(self) -> None:
        """All the device has written, to the client (the lock is held)."""
        while select.select([self._master], [], [], 0)[0]:
            data = os.read(self._master, 4096)
            if not data:
                return
            self._heard(data)

    def _heard(self, data: bytes) -> None:
        seen = self._tail + data
        raw, prompt = seen.rfind(RAW_BANNER), seen.rfind(_PROMPT)
        if raw != prompt:  # one of them seen (both -1: neither)
            self._raw_repl = raw > prompt
        self._tail = seen[-_TAIL:]
        if self._mute is not None:
            held = self._muted + data
            at = held.find(self._mute)
            if at < 0:
                self._muted = held[-len(self._mute):]
                return
            data, self._mute, self._muted = held[at:], None, b""
        self._send(data)

    def _send(self, data: bytes) -> None:
        if self._conn is None or not data:
            return  # nobody listens: lost, as on a UART
        try:
            self._conn.sendall(data)
        except OSError:
            pass  # the client is going; the bridge thread sees it next
