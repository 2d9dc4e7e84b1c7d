"""HO's side of partial refunds, refunds without a receipt and vouchers: a
till's day rung up by the real sale engine (CPython) goes through the relay's
processing on SQLite and PostgreSQL. Every record validates against
docs/journal.cddl (none is quarantined), and HO's consolidated figures, the
voucher tender (3) included, equal the till's Z closing to the cent."""
from __future__ import annotations

from engine_fixture import KEY, TILL, Till, meta
from host_tools.relay import processing
from host_tools.relay.store import Store
from till.formats import journal as J
from till.formats import records as R

MILK, BREAD, COLA = "4008400402222", "4006381333931", "036000291452"


def _day() -> tuple[list[tuple[int, bytes]], dict[int, object]]:
    """(seq, raw) of every record, and the Z closing's body."""
    till = Till(meta(vouchers=["98"], max_refund_without_receipt=2000))
    try:
        till.sign_on(9)
        till.keys("3 QTY")
        till.scan(BREAD)
        till.scan(MILK)
        till.scan(COLA)
        till.keys("SUBTOTAL 10 DISCOUNT 5.00")
        till.scan("98000000042")  # a voucher of 5.00, the rest by card
        till.keys("CARD 4711 TOTAL")
        first = till.records(J.KIND_SALE)[-1][J.K_BODY][R.S_NUMBER]  # as its receipt says
        till.scan(COLA)
        till.keys("CASH")
        till.keys("REFUND %d TOTAL 2 QTY" % first)  # two loaves of the first sale
        till.scan(BREAD)
        till.keys("CASH")
        till.keys("REFUND %d TOTAL CARD 4712 TOTAL" % first)  # the rest of it, by card
        till.keys("REFUND TOTAL")  # milk without a receipt
        till.scan(MILK)
        till.keys("CASH REPORT 2 0 TOTAL")  # the drawer counted at the Z: 0
        records = [(seq, bytes(raw)) for seq, raw in till.journal.records_after(0)]
        stornos = till.records(J.KIND_STORNO)
        assert [R.S_PICKS in r[J.K_BODY] for r in stornos] == [True, True, False]
        assert stornos[-1][J.K_BODY][R.S_NO_RECEIPT] is True
        z = till.records(J.KIND_CLOSING)[-1][J.K_BODY]
        return records, z
    finally:
        till.close()


def test_partial_refunds_and_vouchers_are_valid_records_and_ho_totals_equal_the_z(store: Store) -> None:
    records, z = _day()
    store.add_site(TILL.split("/")[0], "Corner Shop")
    store.add_till(TILL, KEY)
    store.store_batch(TILL, records, head=records[-1][0])
    tally = processing.process(store)
    assert tally.quarantined == 0 and tally.processed == len(records), store.quarantine(TILL)
    [day] = store.sales()
    assert day["tenders"] == {str(t): amount for t, amount in z[R.P_TENDERS]}
    assert "3" in day["tenders"] and day["tenders"]["3"] == 500
    assert (day["sales_total"], day["refunds_total"]) == (z[R.P_SALES], z[R.P_REFUNDS])
    assert day["refunds"] == 3 and z[R.P_REFUNDS] < 0
    taxes = {(t["class"], t["rate_ppm"]): [t["net"], t["tax"], t["gross"]] for t in day["taxes"]}
    assert taxes == {(e[0], e[1]): e[2:] for e in z[R.P_TAXES]}
