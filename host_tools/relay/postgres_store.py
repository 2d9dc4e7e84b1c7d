"""The relay's store on PostgreSQL (psycopg 3 with a connection pool).

Several relay processes may share one database. A processor claims a till by
locking its row with SELECT ... FOR UPDATE SKIP LOCKED: the till is processed
by one transaction at a time, and other processors skip to the next till
instead of waiting. Uploads never take that lock (they write till_contact, not
tills), so a till keeps uploading while it is being processed.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from host_tools.relay.store import Clock, Row, Store, StoreError, Tx

# Any fixed number: serialises schema migrations of relays starting together.
_MIGRATION_LOCK = 8470_0001


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s` (the SQL has no `%`)."""
    return sql.replace("?", "%s")


class _PgTx(Tx):
    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self.cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cur.execute(_pg(sql), params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cur.execute(_pg(sql), params)
        return self.cur.fetchall() if self.cur.description is not None else []

    def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(_pg(sql), params)
        return self.cur.rowcount

    def insert_rows(self, head: str, row_sql: str, tail: str, rows: Sequence[Sequence[Any]]) -> int:
        """psycopg's executemany: one statement, its rows sent in pipeline mode
        (not a round trip each). A statement of hundreds of rows would be
        parsed by psycopg on every call (it caches only short queries): that
        cost PostgreSQL ingest a third of its rate."""
        if not rows:
            return 0
        self.cur.executemany(_pg(head + row_sql + tail), rows)
        return self.cur.rowcount


class PostgresStore(Store):
    dialect = "postgres"
    for_update = " FOR UPDATE"
    claim_lock = " FOR UPDATE OF t SKIP LOCKED"

    def __init__(self, url: str, clock: Clock = time.time, pool_size: int = 8) -> None:
        super().__init__(clock)
        self.pool = ConnectionPool(url, min_size=1, max_size=max(1, pool_size), open=False)
        try:
            self.pool.open(wait=True, timeout=15)
        except Exception as exc:
            self.pool.close()
            raise StoreError(f"cannot connect to the relay database: {exc}") from exc

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self.pool.connection() as conn:
            with conn.transaction():
                with conn.cursor() as cur:
                    yield _PgTx(cur)

    def _lock_for_migration(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def close(self) -> None:
        self.pool.close()
