"""A batch is stored with one executemany of the records HO does not hold
(store._store_records). Between its look-up and its INSERT another relay may
commit some of the same records (a gateway's retry on a second relay process,
PostgreSQL): the batch must then still answer each record truthfully and keep
a differing copy as a conflict, never report it stored."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cbor2
import psycopg
import pytest

from journals import make_journal
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
        original = postgres_store._PgTx.execute_many

        def other_relay_first(self: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
            with psycopg.connect(pg_url, autocommit=True) as conn:  # commits before our INSERT
                for seq, raw in ((3, forged), (4, records[3][1])):
                    conn.execute("INSERT INTO records (till_id, seq, raw, sha256, received_at, status) "
                                 "VALUES (%s, %s, %s, sha256(%s), 1, 'UPLOADED')",
                                 ("S001/till-1", seq, raw, raw))
            return original(self, sql, rows)

        monkeypatch.setattr(postgres_store._PgTx, "execute_many", other_relay_first)
        result = store.store_batch("S001/till-1", records, head=6)
        outcomes = {a.seq: a.outcome for a in result.acks}
        assert outcomes[3] == "conflict" and outcomes[4] == "duplicate"
        assert {outcomes[s] for s in (1, 2, 5, 6)} <= {"stored", "duplicate"}
        assert result.flag is not None and "record 3 differs" in result.flag
        assert [c["seq"] for c in store.conflicts("S001/till-1")] == [3]
        assert len(store.received("S001/till-1")) == 6
    finally:
        store.close()
