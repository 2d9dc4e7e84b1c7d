"""Uploads meeting other writers.

A batch is stored with one insert_rows of the records HO does not hold
(store._store_records: one executemany on PostgreSQL). Between its look-up and its INSERT another relay may
commit some of the same records (a gateway's retry on a second relay process,
PostgreSQL): the batch must then still answer each record truthfully and keep
a differing copy as a conflict, never report it stored."""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2
import psycopg
import pytest

from journals import batch, make_journal
from host_tools.relay import postgres_store
from host_tools.relay.store import open_store


def test_records_committed_by_another_relay_meanwhile_are_answered_as_held(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(pg_url)
    try:
        store.add_site("S001", "Main street")
        key, records = make_journal("S001/till-1", 6)
        store.add_till("S001/till-1", key)
        other = cbor2.loads(records[2][1])
        other[2] += 1
        forged = cbor2.dumps(other, canonical=True)  # a different record 3
        original = postgres_store._PgTx.insert_rows

        def other_relay_first(self: Any, head: str, row_sql: str, tail: str,
                              rows: Sequence[Sequence[Any]]) -> int:
            if not head.startswith("INSERT INTO records"):
                return original(self, head, row_sql, tail, rows)
            with psycopg.connect(pg_url, autocommit=True) as conn:  # commits before our INSERT
                for seq, raw in ((3, forged), (4, records[3][1])):
                    conn.execute("INSERT INTO records (till_id, seq, raw, sha256, received_at, status) "
                                 "VALUES (%s, %s, %s, sha256(%s), 1, 'UPLOADED')",
                                 ("S001/till-1", seq, raw, raw))
            return original(self, head, row_sql, tail, rows)

        monkeypatch.setattr(postgres_store._PgTx, "insert_rows", other_relay_first)
        result = store.store_batch("S001/till-1", records, head=6)
        outcomes = {a.seq: a.outcome for a in result.acks}
        assert outcomes[3] == "conflict" and outcomes[4] == "duplicate"
        assert {outcomes[s] for s in (1, 2, 5, 6)} <= {"stored", "duplicate"}
        assert result.flag is not None and "record 3 differs" in result.flag
        assert [c["seq"] for c in store.conflicts("S001/till-1")] == [3]
        assert len(store.received("S001/till-1")) == 6
    finally:
        store.close()


def _busy_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any, Any, dict[str, str], list[Any]]:
    """(database path, store, app, upload headers, 5 records of S001/till-1) of a
    SQLite relay whose writers give up after 200 ms."""
    from host_tools.relay import sqlite_store
    from host_tools.relay.app import create_app
    from host_tools.relay.config import RelayConfig

    monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_MS", 200)
    path = str(tmp_path / "relay.sqlite3")
    store = open_store(path)
    token = store.add_site("S001", "Main street")
    key, records = make_journal("S001/till-1", 5)
    store.add_till("S001/till-1", key)
    app = create_app(RelayConfig(database_url=path, worker_interval_s=None), store)
    return path, store, app, {"Authorization": f"Bearer {token}",
                              "Content-Type": "application/cbor-seq"}, records


def test_an_upload_that_cannot_get_sqlite_s_write_lock_is_a_503_to_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer holding the database past the busy timeout (a long
    `kassa ho` run on the same file) was a 500; it is a 503 with Retry-After,
    and the retry is stored."""
    from fastapi.testclient import TestClient

    path, store, app, headers, records = _busy_relay(tmp_path, monkeypatch)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            other.execute("BEGIN IMMEDIATE")
            r = client.post("/v1/sites/S001/tills/till-1/records", content=batch(records), headers=headers)
            assert r.status_code == 503 and r.headers["Retry-After"] == "5" and "retry" in r.json()["detail"]
            other.execute("ROLLBACK")
            r = client.post("/v1/sites/S001/tills/till-1/records", content=batch(records), headers=headers)
            assert r.status_code == 200 and [a["outcome"] for a in r.json()["acks"]] == ["stored"] * 5
    finally:
        other.close()
        store.close()


def test_an_upload_waiting_behind_a_long_writer_of_the_same_relay_is_a_503_to_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers of one relay queue on a lock rather than SQLite's busy handler;
    one held past the busy timeout (the relay's own worker in a long round)
    still answers 503 with Retry-After, and the retry is stored."""
    import threading

    from fastapi.testclient import TestClient

    _, store, app, headers, records = _busy_relay(tmp_path, monkeypatch)
    holding, done = threading.Event(), threading.Event()

    def long_writer() -> None:
        with store.transaction():
            holding.set()
            done.wait(10)

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        holding.wait(10)
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.post("/v1/sites/S001/tills/till-1/records", content=batch(records), headers=headers)
            assert r.status_code == 503 and r.headers["Retry-After"] == "5" and "retry" in r.json()["detail"]
            done.set()
            writer.join()
            r = client.post("/v1/sites/S001/tills/till-1/records", content=batch(records), headers=headers)
            assert r.status_code == 200 and [a["outcome"] for a in r.json()["acks"]] == ["stored"] * 5
    finally:
        done.set()
        writer.join()
        store.close()
