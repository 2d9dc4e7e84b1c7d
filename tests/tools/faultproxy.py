"""A TCP proxy between the gateway's client and a till's link, for tests and
make bench: it can drop, corrupt, duplicate, delay and reorder what passes,
cut the connection after a number of bytes, and limit the line to a byte
rate (a 115200-baud UART carries 11,520 B/s). Faults are drawn from a seeded
random (a fault left at 0 draws nothing, so adding one keeps the others'
draws). Listens on 127.0.0.1 only."""
from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    drop: float = 0.0  # a chunk (what one recv returned) lost
    corrupt: float = 0.0  # one bit of a chunk flipped
    duplicate: float = 0.0  # a chunk sent twice
    cut_after: tuple[int, int] | None = None  # cut the connection after n bytes, n in this range
    bytes_per_s: float | None = None  # the line's rate, both ways
    delay: float = 0.0  # a chunk held back up to delay_max_s (a stalled line: the sender's timer runs out)
    delay_max_s: float = 0.3
    reorder: float = 0.0  # a chunk sent after the one that follows it
    seed: int = 1
    # Each fault whose rate is above 0 also happens once for sure, on the
    # first chunks: a short run's few hundred chunks may draw none of a rare
    # one, and a test that checks every fault landed would then fail by luck.
    each_once: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {
        "drop": 0, "corrupt": 0, "duplicate": 0, "cut": 0, "delay": 0, "reorder": 0, "bytes": 0})


class FaultProxy:
    def __init__(self, upstream_port: int, faults: Faults | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream)
            except OSError:
                down.close()
                continue
            f = self.faults
            budget = [self._rng.randint(*f.cut_after) if f.cut_after else None]
            pair = (down, up)
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst, pair, budget),
                                 daemon=True).start()

    @staticmethod
    def _first(f: Faults, kind: str, rate: float) -> bool:
        return f.each_once and rate > 0 and f.counts[kind] == 0

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, ...],
              budget: list[int | None]) -> None:
        f = self.faults
        chunk_max = 256 if f.bytes_per_s else 512
        line_free = time.monotonic()  # when the line has sent what it was given
        held: bytes | None = None  # a chunk that goes after the next one (reorder)
        try:
            while True:
                data = src.recv(chunk_max)
                if not data:
                    break
                with self._lock:
                    r = self._rng.random
                    f.counts["bytes"] += len(data)
                    if budget[0] is not None:
                        budget[0] -= len(data)
                        if budget[0] <= 0:
                            f.counts["cut"] += 1
                            break
                    if r() < f.drop or self._first(f, "drop", f.drop):
                        f.counts["drop"] += 1
                        continue
                    if r() < f.corrupt or self._first(f, "corrupt", f.corrupt):
                        b = bytearray(data)
                        b[self._rng.randrange(len(b))] ^= 1 << self._rng.randrange(8)
                        data = bytes(b)
                        f.counts["corrupt"] += 1
                    copies = 2 if r() < f.duplicate or self._first(f, "duplicate", f.duplicate) \
                        else 1
                    if copies == 2:
                        f.counts["duplicate"] += 1
                    delayed = f.delay and (r() < f.delay or self._first(f, "delay", f.delay))
                    pause = self._rng.uniform(0.01, f.delay_max_s) if delayed else 0.0
                    if pause:
                        f.counts["delay"] += 1
                    if held is None and f.reorder and (r() < f.reorder
                                                       or self._first(f, "reorder", f.reorder)):
                        f.counts["reorder"] += 1
                        held = data
                        continue
                if pause:
                    time.sleep(pause)
                if held is not None:
                    data, held = data + held, None  # the held chunk goes right after this one
                for _ in range(copies):
                    if f.bytes_per_s:
                        # A virtual line clock: a late wake-up is made up by
                        # the next chunk, so the rate holds under load.
                        now = time.monotonic()
                        line_free = max(line_free, now) + len(data) / f.bytes_per_s
                        if line_free > now:
                            time.sleep(line_free - now)
                    dst.sendall(data)
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
