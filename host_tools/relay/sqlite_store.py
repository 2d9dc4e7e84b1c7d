"""The relay's store on SQLite (the default: one file, WAL mode).

WAL lets readers go on while one writer commits; synchronous=FULL makes a
commit durable before the relay acknowledges it (an upload is answered only
after its batch is on disk). SQLite has one writer at a time, so a processor's
claim is simply a write transaction (BEGIN IMMEDIATE): two processors on one
file take turns, never the same till at once. Each thread keeps its own
connection (FastAPI runs handlers in a thread pool).

Writers of one process also queue on a lock before BEGIN IMMEDIATE: SQLite's
busy handler makes a writer that finds the file locked sleep and poll (1 ms,
then longer), so concurrent uploads left to it idle the file between commits;
queued on the lock, the next writer starts the moment the last one commits.
Other processes on the same file still meet the busy handler.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from host_tools.relay.store import Clock, Row, Store, StoreError, Tx

_BUSY_TIMEOUT_MS = 30_000


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str, clock: Clock = time.time) -> None:
        super().__init__(clock)
        if path != ":memory:" and not Path(path).parent.is_dir():
            raise StoreError(f"cannot create the relay database {path}: "
                             f"the folder {Path(path).parent} does not exist")
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=_BUSY_TIMEOUT_MS / 1000)
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the relay database {self.path}: {exc}") from exc
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        conn = self._conn()
        if not write:
            yield from self._run(conn, "BEGIN")
            return
        # As long as the busy handler would wait, and then the same error, which
        # the app answers with 503 and Retry-After.
        if not self._write_lock.acquire(timeout=_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked (another writer of this relay holds it)")
        try:
            yield from self._run(conn, "BEGIN IMMEDIATE")
        finally:
            self._write_lock.release()

    @staticmethod
    def _run(conn: sqlite3.Connection, begin: str) -> Iterator[Tx]:
        conn.execute(begin)
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _lock_for_migration(self, tx: Tx) -> None:
        pass  # BEGIN IMMEDIATE already excludes every other writer

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
