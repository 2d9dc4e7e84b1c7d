"""Cash put into and taken out of the drawer (record kind 8) and the drawer
counted at the Z, at HO: accepted against docs/journal.cddl, counted per till
and day, in the ERP feed, each Z's expected and counted cash kept; on SQLite
and on PostgreSQL, and a database of the previous schema upgraded."""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from host_tools.relay import processing, schema
from host_tools.relay.store import Store, open_store
from till.formats import journal as J
from till.formats import records as R
from till.pos import reports

TILL = "S001/till-1"
KEY = bytes(range(32))


def _day() -> list[tuple[int, bytes]]:
    """A till's day as the engine journals it: a cash sale, the float in, a
    paid-out, a training cash in, and the Z with the drawer counted 0.40 short
    (the closing from the till's own Totals)."""
    sale = {R.S_CASHIER: 1, R.S_LINES: [{R.L_PLU: 7, R.L_QTY: 1, R.L_PRICE: 289, R.L_TAX: "B",
                                         R.L_AMOUNT: 289, R.L_NAME: "Brot"}],
            R.S_TENDERS: [[R.TENDER_CASH, 290, 500]], R.S_TAXES: [["B", 70000, 270, 19, 289]],
            R.S_TOTAL: 289, R.S_ROUNDING: 1, R.S_SNAPSHOT: 1}
    appends = [(J.KIND_SALE, sale, 0),
               (J.KIND_CASH, {R.N_CASHIER: 1, R.N_APPROVER: 9, R.M_AMOUNT: 10000, R.M_REASON: "1"}, 0),
               (J.KIND_CASH, {R.N_CASHIER: 9, R.M_AMOUNT: -1250}, 0),
               (J.KIND_CASH, {R.N_CASHIER: 1, R.M_AMOUNT: 500}, J.FLAG_TRAINING)]
    totals = reports.Totals()
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, TILL, KEY, clock=lambda: 1795300000)
        for kind, body, flags in appends:
            totals.add(j.append(kind, body, flags), kind, body, flags)
        closing = totals.closing_body(j.last_seq, 9, 1)
        closing[R.P_COUNTED] = closing[R.P_EXPECTED] - 40
        j.append(J.KIND_CLOSING, closing)
        out = [(s, bytes(r)) for s, r in j.records_after(0)]
        j.close()
    return out


def test_cash_movements_and_the_drawer_count_are_accepted_counted_and_fed(store: Store) -> None:
    store.add_site("S001", "")
    store.add_till(TILL, KEY)
    records = _day()
    store.store_batch(TILL, records, head=len(records))
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (5, 0), store.quarantine(TILL)
    day = store.sales()[0]
    assert (day["cash_in"], day["cash_out"], day["training"]) == (10000, -1250, 1)
    # Cash movements are no sales: the sales figures and tenders are the sale's alone.
    assert (day["sales"], day["sales_total"], day["tenders"]) == (1, 289, {"1": 290})
    z = store.closings(TILL)[0]
    assert (z["cash_expected"], z["cash_counted"]) == (290 + 10000 - 1250, 290 + 10000 - 1250 - 40)
    assert [(f["seq"], f["kind"]) for f in store.feed()] == [(1, "sale"), (2, "cash"), (3, "cash"),
                                                               (5, "closing")]
    assert store.feed()[1]["body"]["body"] == {"1": 1, "2": 9, "3": 10000, "4": "1"}


def test_a_zero_cash_movement_is_off_the_schema(store: Store) -> None:
    store.add_site("S001", "")
    store.add_till(TILL, KEY)
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, TILL, KEY, clock=lambda: 1795300000)
        j.append(J.KIND_CASH, {R.N_CASHIER: 1, R.M_AMOUNT: 0})
        records = [(s, bytes(r)) for s, r in j.records_after(0)]
        j.close()
    store.store_batch(TILL, records, head=1)
    assert processing.process(store).quarantined == 1
    assert store.quarantine(TILL)[0]["reason_code"] == "schema"


def test_a_database_of_the_previous_schema_is_upgraded_and_keeps_its_figures(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (3)")
    for version in (1, 2, 3):
        for statement in schema.statements(version, "sqlite"):
            db.execute(statement)
    db.execute("INSERT INTO daily VALUES ('S001/till-1', '2026-11-20', 'S001', 3, 900, 0, 0, 1, 0, 0, 1)")
    db.execute("INSERT INTO closings VALUES ('S001/till-1', 5, 'S001', '2026-11-20', 1, 1, 4, 900, 0, 900)")
    db.commit()
    db.close()
    store = open_store(str(path))
    try:
        assert store.schema_version() == schema.SCHEMA_VERSION == 5
        day = store.sales()[0]
        assert (day["sales_total"], day["cash_in"], day["cash_out"]) == (900, 0, 0)
        z = store.closings()[0]
        assert (z["grand_total"], z["cash_expected"], z["cash_counted"]) == (900, None, None)
    finally:
        store.close()
