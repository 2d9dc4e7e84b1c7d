# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Issue 11, section 1: cash in and cash out (their record, permission, slip,
# drawer and report lines), counting the drawer at the Z, the price check, and
# a copy of a receipt found by its number or its QR code. Slips and reports
# are checked by rendering them.
import support
from engine_fixture import PINS, Till, check_closing, display, of
from till.formats import escpos
from till.formats import journal as J
from till.formats import records as R
from till.pos import receipt, reports

if support.IS_MICROPYTHON:
    ho_recompute = None  # host code (cbor2): the CPython run of this file checks with it
else:
    import ho_recompute

PROFILE = {"columns": {"a": 42}, "cut": {"full": True}, "qr_native": False,
           "text_code_page": {"name": "CP437", "index": 0}}


def paper(job):
    out = escpos.EscPos(columns=42)
    receipt.render(job, out, PROFILE)
    return out.output()


def cash_records(till):
    return [r[J.K_BODY] for r in till.records(J.KIND_CASH)]


def test_cash_in_needs_the_permission_and_is_journaled_before_slip_and_drawer():
    till = Till()
    try:
        till.sign_on(1)  # Anna: her role lacks cash_in_out
        till.keys("REPORT 6")
        assert display(till.keys("100.00 TOTAL")) == ("Cash in       100.00", "Reason no.?")
        assert display(till.keys("1 TOTAL")) == ("Cash in/out: mgr", "Manager no.?")
        assert not till.records(J.KIND_CASH)  # nothing before the approval
        acts = till.keys("9 TOTAL %s TOTAL" % PINS[9])
        kinds = [a[0] for a in acts if a[0] in ("record", "print", "drawer")]
        assert kinds == ["record", "print", "drawer"], acts
        rec = of(acts, "record")[0]
        assert rec[2] == J.KIND_CASH
        assert rec[3] == {R.N_CASHIER: 1, R.N_APPROVER: 9, R.M_AMOUNT: 10000, R.M_REASON: "1"}
        assert display(acts) == ("Cash in       100.00", "Drawer open")
        job = of(acts, "print")[0][1]
        assert job["kind"] == "cash" and job["receipt"] == rec[1] and not job["footer"]
        # The slip as it prints, and as it is laid out again from its record.
        assert till.engine._job_of(till.records(J.KIND_CASH)[0]) == job
        slip = paper(job)
        assert b"Cash %d" % rec[1] not in slip  # an internal slip shows no number (gap-free
        # numbers are the customers' documents'; its QR code names the record)
        for needle in (b"Cash in", b"100.00", b"Ref 1", b"Approved by Maria",
                       b"Cashier Anna", b"KASSA1|"):
            assert needle in slip, needle
        assert b"Thank you" not in slip  # an internal slip: no customer footer
        # A manager's own role holds the permission: no approval asked.
        till.keys("SIGN")
        till.sign_on(9)
        acts = till.keys("REPORT 7 12.50 TOTAL TOTAL")
        assert of(acts, "drawer") and display(acts) == ("Cash out      -12.50", "Drawer open")
        assert cash_records(till)[-1] == {R.N_CASHIER: 9, R.M_AMOUNT: -1250}
        assert b"Cash out" in paper(of(acts, "print")[0][1])
    finally:
        till.close()


def test_cash_in_and_out_refuse_what_is_not_an_amount():
    till = Till()
    try:
        till.sign_on(9)
        till.keys("REPORT 6")
        acts = till.keys("TOTAL")
        assert display(acts) == ("Key an amount, then", "TOTAL") and of(acts, "beep")
        till.keys("CLEAR")
        assert display(till.keys("0 TOTAL"))[0] == "Key an amount, then"
        till.keys("CLEAR")
        assert till.display() == ("Cash in", "Amount?")  # the prompt stays
        till.keys("5.00 TOTAL")
        assert till.display() == ("Cash in         5.00", "Reason no.?")
        till.keys("CLEAR")  # gives up: nothing journaled, no drawer
        assert till.display()[0] == "Maria" and not cash_records(till)
        # The reason is a note as keyed: digits and points.
        till.keys("REPORT 7 5.00 TOTAL 2026.117 TOTAL")
        assert cash_records(till) == [{R.N_CASHIER: 9, R.M_AMOUNT: -500, R.M_REASON: "2026.117"}]
        # A manager whose role may not approve is refused, nothing journaled.
        till.keys("SIGN")
        till.sign_on(1)
        acts = till.keys("REPORT 7 3.00 TOTAL 7 TOTAL 3 TOTAL")
        assert display(acts)[0].startswith("Carla may not") and len(cash_records(till)) == 1
        # In a sale the menu is not open; in training no drawer and no money.
        till.scan("4006381333931")
        assert display(till.keys("REPORT")) == ("Finish or cancel the", "sale first")
        till.keys("CLEAR CASH CLEAR")
        till.keys("REPORT 4 9 TOTAL %s TOTAL" % PINS[9])
        acts = till.keys("REPORT 6 20.00 TOTAL TOTAL 9 TOTAL %s TOTAL" % PINS[9])
        assert not of(acts, "drawer") and display(acts)[1] == "(training)"
        rec = till.records(J.KIND_CASH)[-1]
        assert rec[J.K_FLAGS] == J.FLAG_TRAINING and of(acts, "print")[0][1]["training"]
        t = till.engine.totals
        assert (t.cash_in, t.count(R.C_TRAINING), t.count(R.C_CASH_INS)) == (0, 1, 0)
    finally:
        till.close()


def test_x_and_z_show_the_drawer_and_the_z_journals_expected_and_counted():
    till = Till()
    try:
        till.sign_on(9)
        till.keys("REPORT 6 100.00 TOTAL 1 TOTAL")  # the float
        till.scan("4006381333931")
        till.keys("5.00 CASH CLEAR")  # 2.89, rounded to 2.90 in cash
        till.scan("4008400402222")
        till.keys("CARD 42 TOTAL CLEAR")
        till.keys("REPORT 7 12.50 TOTAL 4711 TOTAL")  # a paid-out
        x = of(till.keys("REPORT 1"), "print")[0][1]
        assert (x["cash_in"], x["cash_out"], x["expected"], x["counted"]) == (10000, -1250, 9040, None)
        page = paper(x)
        for needle in (b"Cash in", b"100.00", b"Cash out", b"-12.50", b"Cash expected", b"90.40"):
            assert needle in page, needle
        assert b"Cash counted" not in page
        till.keys("CLEAR")
        # The count is blind: asked before the Z, whose paper shows the rest.
        acts = till.keys("REPORT 2")
        assert display(acts) == ("Z closing", "Cash counted")
        assert display(till.keys("TOTAL")) == ("Key an amount, then", "TOTAL")
        till.keys("CLEAR")
        acts = till.keys("90.00 TOTAL")
        body = of(acts, "record")[0][3]
        assert body[R.P_CASH_IN] == 10000 and body[R.P_CASH_OUT] == -1250
        assert (body[R.P_EXPECTED], body[R.P_COUNTED]) == (9040, 9000)
        assert body[R.P_COUNTS][R.C_CASH_INS] == 1 and body[R.P_COUNTS][R.C_CASH_OUTS] == 1
        assert display(acts) == ("Z 1             4.08", "Difference     -0.40")
        z = of(acts, "print")[0][1]
        page = paper(z)
        for needle in (b"Cash expected", b"90.40", b"Cash counted", b"90.00", b"Difference",
                       b"-0.40"):
            assert needle in page, needle
        seq = of(acts, "record")[0][1]
        check_closing(lambda: ((r[J.K_SEQ], r) for r in till.records()), seq, body, 0)
        if ho_recompute is not None:
            raws = [bytes(raw) for _, raw in till.journal.records_after(0)]
            assert ho_recompute.check_closings(ho_recompute.decode(raws)) == 1
        # The next period starts with an empty drawer account; a copy of the
        # Z from its record is the same paper.
        assert till.engine.totals.expected() == 0
        assert till.engine._job_of(till.records(J.KIND_CLOSING)[0]) == z
    finally:
        till.close()


def test_cash_movements_survive_a_power_cut_and_a_checkpoint():
    till = Till()
    try:
        till.sign_on(9)
        till.keys("REPORT 6 50.00 TOTAL TOTAL REPORT 7 5.00 TOTAL TOTAL")
        before = till.engine.totals.body(till.journal.last_seq)
        till.power_cut()
        assert till.engine.totals.body(till.journal.last_seq) == before
        assert before[R.P_EXPECTED] == 4500
        # A checkpoint's map resumes to the same totals.
        again = reports.Totals.from_body(before)
        assert again.body(before[R.P_LAST]) == before
        # A checkpoint of older firmware has no cash fields: zeros.
        old = dict(before)
        for k in (R.P_CASH_IN, R.P_CASH_OUT, R.P_EXPECTED):
            del old[k]
        t = reports.Totals.from_body(old)
        assert (t.cash_in, t.cash_out, t.expected()) == (0, 0, 0)
    finally:
        till.close()


def test_price_check_shows_the_price_and_sells_nothing():
    till = Till()
    try:
        till.sign_on(1)
        last = till.journal.last_seq
        assert display(till.keys("PRICE")) == ("Price check", "Scan or PLU")
        assert display(till.scan("4008400402222")) == ("Milch 1 l", "Price           1.19")
        assert display(till.scan("2312345012340")) == ("Gouda", "Price/kg       13.90")
        assert display(till.scan("2810275005024")) == ("Cheese counter", "Price           5.02")
        assert display(till.keys("7 PLU")) == ("Brot 500 g", "Price           2.89")
        assert display(till.keys("12 TOTAL")) == ("Milch 1 l", "Price           1.19")
        assert display(till.keys("4008400402222 PLU")) == ("Milch 1 l", "Price           1.19")
        acts = till.keys("555 PLU")
        assert display(acts) == ("Item 555", "Unknown: ask mgr") and of(acts, "beep")
        assert display(till.scan("4000000000006")) == ("Item 4000000000006", "Unknown: key PLU")
        till.keys("CLEAR")
        assert till.display() == ("Price check", "Scan or PLU")  # until CLEAR
        till.keys("CLEAR")
        assert till.engine.sale is None and till.journal.last_seq == last
        # In the middle of a sale: the sale stays as it was.
        till.scan("4006381333931")
        till.keys("PRICE")
        till.scan("036000291452")
        assert till.display() == ("Cola", "Price           1.29")
        till.keys("CLEAR CLEAR")
        assert len(till.engine.sale.active()) == 1 and till.engine.sale.total == 289
        # A price keyed before PRICE is still a price for the next item.
        till.keys("1.00 PRICE")
        assert till.engine.price == 100 and till.engine.prompt is None
    finally:
        till.close()


def test_a_copy_is_found_by_its_number_or_its_qr_code_and_marked_as_a_copy():
    till = Till()
    try:
        till.sign_on(9)
        till.scan("4006381333931")
        sale = of(till.keys("5.00 CASH"), "print")[0][1]
        till.keys("CLEAR")
        till.scan("4008400402222")
        till.keys("CASH CLEAR")
        qr = receipt.qr_payload(sale["till"], sale["receipt"], sale["tag"])
        till.keys("REPORT 3")
        acts = till.scan(qr + "\r\n")
        job = of(acts, "print")[0][1]
        assert job["copy"] and job["receipt"] == sale["receipt"]
        assert dict(job, copy=False) == sale
        assert b"*** COPY ***" in paper(job)
        ev = of(acts, "record")[0]
        assert ev[3] == {R.E_TYPE: R.EV_COPY, R.E_CASHIER: 9, R.E_DETAIL: sale["receipt"]}
        # By its number; a receipt of another till or with another tag is refused.
        till.keys("CLEAR")
        job = of(till.keys("REPORT 3 %d TOTAL" % sale["number"]), "print")[0][1]
        assert job["copy"] and job["receipt"] == sale["receipt"]
        till.keys("CLEAR")
        for text, why in ((receipt.qr_payload("store-12/till-8", sale["receipt"], sale["tag"]),
                           ("Not a receipt of", "this till")),
                          (receipt.qr_payload(sale["till"], sale["receipt"], bytes(16)),
                           ("Not a receipt of", "this till")),
                          (b"4006381333931", ("Not a receipt of", "this till"))):
            till.keys("REPORT 3")
            acts = till.scan(text)
            assert display(acts) == why and not of(acts, "print"), (text, acts)
            till.keys("CLEAR")
        # Only sales and refunds are receipts; the cash slip is not one.
        till.keys("REPORT 6 1.00 TOTAL TOTAL CLEAR")
        acts = till.keys("REPORT 3 %d TOTAL" % till.journal.last_seq)
        assert not of(acts, "print") and of(acts, "beep")
    finally:
        till.close()


def test_qr_payloads_read_back_and_anything_else_is_none():
    tag = bytes(range(16))
    text = receipt.qr_payload("S1/till-2", 1042, tag)
    assert receipt.parse_qr(text) == ("S1/till-2", 1042, tag)
    assert receipt.parse_qr(text.encode() + b"\r\n") == ("S1/till-2", 1042, tag)
    for bad in ("", "KASSA1|t|x|00", "KASSA1|t|1|" + "0" * 31, "KASSA1|t|1|" + "zz" * 16,
                "KASSA2|t|1|" + "00" * 16, "KASSA1|t|1|" + "00" * 15, b"\xff\xfe"):
        assert receipt.parse_qr(bad) is None, bad
