# The gateway link over TCP (the sim and a Raspberry Pi): the till listens,
# the gateway connects with pyserial's socket://host:port. A thin byte pipe
# under till/link (sans-I/O) with readinto(buf) -> bytes read (0: none now;
# never blocks), write(mv) -> bytes taken (0: none now) and close(). A new
# connection replaces the old (a gateway that restarted); the link's RESET
# starts its session. Serial transports are in linkserial.py.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_EAGAIN = const(11)
_EWOULDBLOCK = const(35)  # macOS; Linux's is EAGAIN


def _would_block(exc):
    return exc.args and exc.args[0] in (_EAGAIN, _EWOULDBLOCK)


class TcpLink:
    """A listening socket and at most one gateway connection, never blocking."""

    def __init__(self, host, port):
        import socket

        self._socket = socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(1)
        s.setblocking(False)
        self._listener = s
        self._conn = None
        self.connections = 0

    @property
    def port(self):
        try:
            return self._listener.getsockname()[1]
        except (AttributeError, OSError):
            return None

    def _accept(self):
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        conn.setblocking(False)
        if self._conn is not None:
            self._conn.close()
        self._conn = conn
        self.connections += 1

    def connected(self):
        self._accept()
        return self._conn is not None

    def readinto(self, buf):
        self._accept()  # a gateway that reconnected replaces the old connection
        conn = self._conn
        if conn is None:
            return 0
        try:
            if hasattr(conn, "recv_into"):
                n = conn.recv_into(buf)
            else:
                n = conn.readinto(buf)
        except OSError as exc:
            if _would_block(exc):
                return 0
            self._drop()
            return 0
        if n is None:
            return 0
        if n == 0:
            self._drop()  # the gateway closed it
        return n

    def write(self, mv):
        conn = self._conn
        if conn is None:
            return len(mv)  # nobody listens: the channel sends again after a reset
        try:
            n = conn.send(mv)
        except OSError as exc:
            if _would_block(exc):
                return 0
            self._drop()
            return len(mv)
        return n or 0

    def _drop(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def close(self):
        self._drop()
        self._listener.close()
