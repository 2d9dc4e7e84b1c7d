"""HO processing of records that verify but cannot be counted: a till whose
clock ran past any date, amounts beyond the database's 64-bit integers. Each
is quarantined with its reason; processing goes on with the till's later
records and with other tills (before, the error aborted the round, and every
round after it, so tills behind it were never processed)."""
from __future__ import annotations

import secrets
import tempfile

from journals import _sale, make_journal
from host_tools.relay import processing
from host_tools.relay.store import Store
from till.formats import journal as J


def _till_with_bad_records(till_id: str, key: bytes) -> list[tuple[int, bytes]]:
    import random

    rnd = random.Random(3)
    times = iter([1795300000, 2**62, 1795300100, 1795300200])
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, till_id, key, clock=lambda: next(times), segment_bytes=1 << 20)
        j.append(J.KIND_SALE, _sale(rnd))   # 1: fine
        j.append(J.KIND_SALE, _sale(rnd))   # 2: its time is past year 9999
        huge = _sale(rnd)
        huge[6] = 2**63                     # 3: a total beyond BIGINT
        j.append(J.KIND_SALE, huge)
        j.append(J.KIND_SALE, _sale(rnd))   # 4: fine
        out = [(seq, bytes(raw)) for seq, raw in j.records_after(0)]
        j.close()
    return out


def test_records_that_cannot_be_counted_are_quarantined_and_do_not_block_others(store: Store) -> None:
    store.add_site("S001", "Main street")
    key = secrets.token_bytes(32)
    store.add_till("S001/a", key)
    store.store_batch("S001/a", _till_with_bad_records("S001/a", key), head=4)
    other_key, other = make_journal("S001/b", 10)
    store.add_till("S001/b", other_key)
    store.store_batch("S001/b", other, head=10)
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (12, 2)
    q = {r["seq"]: r for r in store.quarantine("S001/a")}
    assert sorted(q) == [2, 3] and {r["reason_code"] for r in q.values()} == {"schema"}
    assert "not a date" in q[2]["reason"] and "64-bit" in q[3]["reason"]
    assert [a.processed for a in store.acks(site_id="S001")] == [1, 10]
