"""HO's check of every Z closing's perpetual grand total (French NF525: the
grand total since the till's first sale, sealed in the closing; docs/records.md
"Z closing") against the sum of the till's sales and refunds HO has counted
before it. A mismatch is flagged where HO lists a till's problems (the Tills
view, the closing's reason) and the closing is still counted, never lost."""
from __future__ import annotations

import random
import secrets
import tempfile
from typing import Any

import cbor2

from journals import _sale, make_journal
from host_tools.relay import processing
from host_tools.relay.store import PROCESSED, Store
from till.formats import journal as J

SITE, TILL = "S001", "S001/till-1"


def _journal(key: bytes, plan: list[tuple[str, int]]) -> list[tuple[int, bytes]]:
    """Records written by the till's journal: ("sale", 0), ("storno", 0),
    ("training", 0) or ("z", off): a closing whose grand total is off by
    `off` from the sales and refunds before it."""
    rnd = random.Random(5)
    clock = iter(range(1795300000, 1795400000, 60))
    grand, z = 0, 0
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, TILL, key, clock=lambda: next(clock), segment_bytes=1 << 20)
        for what, off in plan:
            if what == "z":
                z += 1
                j.append(J.KIND_CLOSING, {1: z, 2: 1, 3: j.last_seq, 4: [], 5: [], 6: {}, 7: 0, 8: 0,
                                          9: 0, 10: 0, 11: grand + off, 13: 1, 14: 1})
                continue
            body = _sale(rnd, -1 if what == "storno" else 1)
            if what == "storno":
                body.update({9: 1, 10: 1})
            j.append(J.KIND_STORNO if what == "storno" else J.KIND_SALE, body,
                     J.FLAG_TRAINING if what == "training" else 0)
            if what != "training":
                grand += body[6]
        out = [(seq, bytes(raw)) for seq, raw in j.records_after(0)]
        j.close()
    return out


def _setup(store: Store) -> bytes:
    store.add_site(SITE, "Main street")
    key = secrets.token_bytes(32)
    store.add_till(TILL, key)
    return key


def _received(store: Store) -> dict[int, dict[str, Any]]:
    return {r["seq"]: r for r in store.received(TILL, limit=1000)}


def test_right_grand_totals_pass_across_processing_rounds(store: Store) -> None:
    key, records = make_journal(TILL, 125)  # a Z every 40 records, training sales between
    store.add_site(SITE, "Main street")
    store.add_till(TILL, key)
    store.store_batch(TILL, records, head=125)
    # Small rounds: most closings are checked against figures earlier rounds committed.
    tally = processing.process(store, budget_per_till=7)
    assert (tally.processed, tally.quarantined) == (125, 0)
    assert store.tills()[0]["total_mismatches"] == 0
    assert not any(r["reason"] for r in _received(store).values())
    assert len(store.closings(TILL)) == 3


def test_a_z_whose_grand_total_is_off_is_flagged_and_still_counted(store: Store) -> None:
    key = _setup(store)
    plan = [("sale", 0), ("storno", 0), ("training", 0), ("sale", 0), ("z", 0),
            ("sale", 0), ("z", 250), ("sale", 0), ("z", 0)]
    records = _journal(key, plan)
    store.store_batch(TILL, records, head=len(records))
    assert processing.process(store).processed == len(records)
    got = _received(store)
    assert {r["status"] for r in got.values()} == {PROCESSED}
    flagged = {s: r for s, r in got.items() if r["reason_code"] == processing.GRAND_TOTAL}
    assert list(flagged) == [7]  # the second Z alone: each Z is checked on its own
    reason = flagged[7]["reason"]
    assert "Z 2" in reason and "2.50 more" in reason and "up to record 6" in reason
    assert "counted as it is" in reason
    till = store.tills()[0]
    assert till["total_mismatches"] == 1 and till["processed"] == len(records)
    assert [c["seq"] for c in store.closings(TILL)] == [5, 7, 9]  # nothing lost
    assert store.acks(till_id=TILL)[0].processed == len(records)  # the till may free it


def test_a_sale_ho_does_not_hold_shows_in_the_next_z(store: Store) -> None:
    key = _setup(store)
    records = _journal(key, [("sale", 0), ("sale", 0), ("sale", 0), ("z", 0), ("sale", 0), ("z", 0)])
    # Record 2 altered on its way (a cashier id changed): quarantined, not counted.
    rec = cbor2.loads(records[1][1])
    rec[4][1] = 7
    records[1] = (2, cbor2.dumps(rec, canonical=True))
    store.store_batch(TILL, records, head=len(records))
    tally = processing.process(store, budget_per_till=3)
    assert (tally.processed, tally.quarantined) == (5, 1)
    got = _received(store)
    assert got[2]["reason_code"] == "verify"
    assert [s for s, r in got.items() if r["reason_code"] == processing.GRAND_TOTAL] == [4, 6]
    total = rec[4][6]
    assert f"{total // 100}.{total % 100:02d} more" in got[4]["reason"]
    assert "quarantined" in got[4]["reason"]
    assert store.tills()[0]["total_mismatches"] == 2


def test_the_pages_show_the_mismatch_and_a_refunds_paper_names_the_receipts_number(store: Store) -> None:
    from fastapi.testclient import TestClient

    from test_web import app_for, signed_in

    key = _setup(store)
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, TILL, key, clock=lambda: 1795300000, segment_bytes=1 << 20)
        j.append(J.KIND_EVENT, {1: 1, 2: 1})
        sale = {**_sale(random.Random(1)), 11: 1}  # receipt 1 is record 2
        j.append(J.KIND_SALE, sale)
        storno = {**_sale(random.Random(1), -1), 9: 2, 10: 9, 11: 1}
        j.append(J.KIND_STORNO, storno)
        j.append(J.KIND_CLOSING, {1: 1, 2: 1, 3: 3, 4: [], 5: [], 6: {}, 7: 0, 8: 0, 9: 0, 10: 0,
                                  11: 99, 13: 1, 14: 1, 16: 1, 17: 1})
        records = [(seq, bytes(raw)) for seq, raw in j.records_after(0)]
        j.close()
    store.store_batch(TILL, records, head=4)
    assert processing.process(store).processed == 4
    with TestClient(app_for(store), follow_redirects=False) as client:
        signed_in(client, store.add_user("ann", "viewer"))
        page = client.get("/ho/tills").text
        assert "Z grand total differs" in page and 'class="badge bad"' in page
        page = client.get(f"/ho/record/{TILL}/3").text
        assert "Refund 1 " in page and "Refund of receipt 1\n" in page
        page = client.get(f"/ho/record/{TILL}/4").text
        assert "PROCESSED" in page and "Z 1: its perpetual grand total 0.99" in page
