# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Refunds of single lines and quantities of an earlier receipt (keyed or by its
# QR code), refunds without a receipt where HO's policy allows, and vouchers as
# a tender: the engine's keys, the records, the receipts as laid out, and the
# pieces of a receipt refunded one by one adding up to the sale exactly.
import gc

import support
from engine_fixture import PINS, T0, Till, check_closing, display, meta, of
from till.formats import cbor, escpos
from till.formats import journal as J
from till.formats import records as R
from till.pos import receipt, refund
from till.pos.engine import fit
from till.pos.sale import Sale

MILK = "4008400402222"  # PLU 12, 1.19, class B
BREAD = "4006381333931"  # PLU 7, 2.89, class B
COLA = "036000291452"  # PLU 150, 1.29, class A
WHISKY = "5000267024608"  # PLU 99, 24.99, class A, 18+
PROFILE = {"columns": {"a": 42}, "cut": {"full": True}, "qr_native": False}


def text_of(job):
    out = escpos.EscPos(columns=42)
    receipt.render(job, out, PROFILE)
    return out.output()


def sell(till, script):
    """A sale by Anna: script of scans (codes) and keys; returns its seq."""
    for step in script.split(";"):
        step = step.strip()
        if step.isdigit() and len(step) >= 12:
            till.scan(step)
        else:
            till.keys(step)
    rec = till.records(J.KIND_SALE)[-1]
    assert rec[J.K_SEQ] == till.journal.last_seq, till.display()
    return rec[J.K_SEQ]


def no(till, seq):
    """The document number printed on the receipt journaled as seq: what a
    cashier keys (a QR code names the seq itself)."""
    return till.journal.record(seq)[J.K_BODY][R.S_NUMBER]


def as_maria(till):
    till.keys("CLEAR SIGN")
    till.sign_on(9)


def stornos_of(till, seq):
    return [r for r in till.records(J.KIND_STORNO) if r[J.K_BODY].get(R.S_REFUND_OF) == seq]


def test_lines_and_quantities_of_a_receipt_are_refunded_once_each():
    till = Till()
    try:
        till.sign_on(1)
        # 3 bread, milk, cola, and 5 % off the sale: every line has a share of it.
        n = sell(till, "3 QTY; %s; %s; %s; SUBTOTAL 5 DISCOUNT; CASH" % (BREAD, MILK, COLA))
        sale = till.records(J.KIND_SALE)[-1][J.K_BODY]
        as_maria(till)
        acts = till.keys("REFUND %d TOTAL" % no(till, n))
        assert display(acts) == (fit("Refund", "10.59", 20), "CASH or CARD")
        # Two of the three loaves come back.
        till.keys("2 QTY")
        acts = till.scan(BREAD)
        assert display(acts) == (fit("Brot 500 g", "2 x", 20), fit("Refund", "5.49", 20))
        acts = till.keys("CASH")
        assert display(acts)[0].startswith("Refunded") and of(acts, "drawer")
        first = stornos_of(till, n)[-1][J.K_BODY]
        assert first[R.S_PICKS] == [0] and first[R.S_LINES][0][R.L_QTY] == -2
        assert first[R.S_APPROVER] == 9 and R.S_NO_RECEIPT not in first
        text = text_of(of(till.keys("CLEAR REPORT 3 TOTAL"), "print")[-1][1])
        assert ("Refund of receipt %d" % no(till, n)).encode() in text and b"-5.49" in text
        # Again: only one loaf is left, and an item the receipt does not have.
        till.keys("REFUND %d TOTAL" % no(till, n))
        acts = till.keys("2 QTY")
        acts = till.scan(BREAD)
        assert display(acts) == ("Item 7: 1 left to", "refund"), display(acts)
        acts = till.keys("CLEAR 99 PLU")
        assert display(acts) == ("Item 99 not on", "receipt %d" % no(till, n))
        till.keys("CLEAR 7 PLU")
        till.scan(COLA)
        till.keys("TOTAL")  # TOTAL pays back in cash, as for a sale
        second = stornos_of(till, n)[-1][J.K_BODY]
        assert sorted(second[R.S_PICKS]) == [0, 2]
        # After a restart, what is left is still known: the milk, all of it.
        till.power_cut()
        till.sign_on(9)
        acts = till.keys("REFUND %d TOTAL" % no(till, n))
        assert display(acts) == (fit("Refund", "1.13", 20), "CASH or CARD")
        acts = till.scan(BREAD)
        assert display(acts) == ("Item 7: 0 left to", "refund")
        till.keys("CLEAR CARD 4711 TOTAL")
        acts = till.keys("REFUND %d TOTAL" % no(till, n))
        assert display(acts) == ("Receipt %d already" % no(till, n), "refunded")
        # The pieces add up to the sale, line by line and to the cent.
        bodies = [r[J.K_BODY] for r in stornos_of(till, n)]
        assert sum(b[R.S_TOTAL] for b in bodies) == -sale[R.S_TOTAL]
        units = [0, 0, 0]
        for b in bodies:
            for j, ln in enumerate(b[R.S_LINES]):
                units[b[R.S_PICKS][j]] -= ln[R.L_QTY]
        assert units == [3, 1, 1]
        body = till.engine.totals.closing_body(till.journal.last_seq, 9, 1)
        assert body[R.P_REFUNDS] == -sale[R.S_TOTAL]
    finally:
        till.close()


def test_a_cashier_who_may_refund_is_held_to_her_limit_by_what_she_picks():
    m = meta()
    m["roles"]["cashier"]["may"].append("refund")
    m["roles"]["cashier"]["max_refund"] = 200
    till = Till(m)
    try:
        till.sign_on(1)
        n = sell(till, "%s; %s; %s; CASH" % (BREAD, MILK, COLA))
        acts = till.keys("REFUND %d TOTAL" % no(till, n))  # 5.37 in all, over her 2.00: no manager yet
        assert display(acts) == (fit("Refund", "5.37", 20), "CASH or CARD")
        till.scan(MILK)
        acts = till.keys("CASH")
        assert display(acts)[0].startswith("Refunded") and of(acts, "drawer")
        assert stornos_of(till, n)[-1][J.K_BODY][R.S_APPROVER] == 1
        acts = till.keys("REFUND %d TOTAL CASH" % no(till, n))  # the rest, 4.18: a manager
        assert display(acts) == ("Refund over 2.00", "Manager no.?")
        acts = till.keys("CLEAR")
        assert display(acts) == ("Not approved", "")
        acts = till.keys("CLEAR CARD 9 TOTAL %s TOTAL" % PINS[9])
        assert display(acts) == (fit("Card", "-4.18", 20), "Approval?")
        till.keys("4711 TOTAL")
        body = stornos_of(till, n)[-1][J.K_BODY]
        assert body[R.S_APPROVER] == 9 and body[R.S_TOTAL] == -418
        assert body[R.S_TENDERS] == [[R.TENDER_CARD, -418, "4711"]]
    finally:
        till.close()


def test_a_whole_refund_still_mirrors_the_sale_and_leaves_nothing():
    till = Till()
    try:
        till.sign_on(1)
        n = sell(till, "2 QTY; %s; %s; 10 DISCOUNT; CASH" % (COLA, MILK))
        sale = till.records(J.KIND_SALE)[-1][J.K_BODY]
        as_maria(till)
        till.keys("REFUND %d TOTAL CASH" % no(till, n))
        body = stornos_of(till, n)[-1][J.K_BODY]
        # No picks: every line, as a storno always was (its discount kinds kept).
        assert R.S_PICKS not in body and body[R.S_TOTAL] == -sale[R.S_TOTAL]
        assert body[R.S_LINES][1][R.L_DISCOUNT][:2] == sale[R.S_LINES][1][R.L_DISCOUNT][:2]
        acts = till.keys("REFUND %d TOTAL" % no(till, n))
        assert display(acts) == ("Receipt %d already" % no(till, n), "refunded")
        # Left of a storno written before partial refunds (no key 12): nothing.
        left = refund.Left(sale, n)
        left.add(body)
        assert left.empty()
    finally:
        till.close()


def test_a_weighed_line_is_refunded_whole_and_clear_abandons_a_refund():
    till = Till()
    try:
        till.sign_on(1)
        n = sell(till, "2312345012340; %s; CASH" % MILK)  # 1.234 kg of Gouda
        as_maria(till)
        till.keys("REFUND %d TOTAL" % no(till, n))
        acts = till.keys("12345 PLU")
        assert display(acts)[1] == fit("Refund", "17.15", 20)
        acts = till.keys("CLEAR")  # the picked line's message, then the refund
        acts = till.keys("CLEAR")
        assert display(acts) == ("Refund abandoned", "")
        assert not stornos_of(till, n)
        till.keys("REFUND %d TOTAL" % no(till, n))
        till.keys("12345 PLU CASH")
        body = stornos_of(till, n)[-1][J.K_BODY]
        assert body[R.S_LINES][0][R.L_GRAMS] == -1234 and body[R.S_TOTAL] == -1715
    finally:
        till.close()


def test_a_receipt_is_found_by_its_qr_code_only_with_this_tills_tag():
    till = Till()
    try:
        till.sign_on(1)
        n = sell(till, "%s; CASH" % MILK)
        tag = till.records(J.KIND_SALE)[-1][J.K_TAG]
        as_maria(till)
        for code in (receipt.qr_payload("store-12/till-8", n, tag),
                     receipt.qr_payload("store-12/till-7", n, bytes(16))):
            acts = till.scan(code)
            assert display(acts) == ("Receipt %d not found" % n, "on this till"), code
            till.keys("CLEAR")
        acts = till.scan("KASSA1|store-12/till-7|x")
        assert display(acts) == ("Misread: scan again", "")
        # Between sales, or at the refund's question for the receipt's number.
        till.keys("CLEAR REFUND")
        acts = till.scan(receipt.qr_payload("store-12/till-7", n, tag))
        assert display(acts) == (fit("Refund", "1.19", 20), "CASH or CARD")
        till.keys("CASH")
        assert stornos_of(till, n)
        till.scan(MILK)  # in a sale a receipt's code waits
        acts = till.scan(receipt.qr_payload("store-12/till-7", n, tag))
        assert display(acts) == ("Finish or cancel the", "sale first")
    finally:
        till.close()


def test_old_receipts_and_processed_segments_are_not_refunded():
    # A flash with no room to spare: processed segments go at HO's mark.
    till = Till(journal_kw={"segment_bytes": 700, "low_free_bytes": support.TIGHT})
    try:
        till.sign_on(1)
        n = sell(till, "%s; CASH" % MILK)
        number = no(till, n)  # kept: the record goes when HO has processed it
        for _ in range(3):
            sell(till, "%s; %s; CASH" % (BREAD, COLA))
        as_maria(till)
        till.clock.t += 31 * 86400  # refund_days: 30 by default
        acts = till.keys("REFUND %d TOTAL" % no(till, n))
        assert display(acts) == ("Receipt %d too old to" % no(till, n), "refund")
        till.clock.t = T0 + 60
        till.keys("CLEAR REFUND %d TOTAL" % no(till, n))
        till.scan(MILK)
        till.keys("CASH")
        storno = stornos_of(till, n)[-1][J.K_SEQ]
        # HO processed up to just before the storno: the sale's segment goes,
        # the storno's may stay; the receipt is then not refundable here at all.
        till.engine.mark_processed(storno - 1)
        assert till.journal.record(n) is None
        acts = till.keys("CLEAR REFUND %d TOTAL" % number)
        assert display(acts) == ("Receipt %d not found" % number, "on this till")
    finally:
        till.close()


def test_a_processed_receipt_is_refunded_while_the_flash_has_room_not_once_reused():
    cap = [1 << 30]
    free = support.chip_free(cap)
    real = J._free_bytes
    J._free_bytes = free
    till = Till(journal_kw={"segment_bytes": 700, "low_free_bytes": 8192,
                            "full_free_bytes": 64})
    try:
        till.sign_on(1)
        a = sell(till, "%s; CASH" % MILK)
        b = sell(till, "%s; %s; CASH" % (BREAD, COLA))
        while till.journal.status()["segments"] < 3:
            sell(till, "%s; %s; CASH" % (BREAD, COLA))
        till.engine.mark_processed(till.journal.last_seq)  # HO has every record
        st = till.journal.status()
        assert st["freeable"] > 0 and st["space"] == J.SPACE_OK and till.journal.record(a)
        as_maria(till)
        till.keys("REFUND %d TOTAL" % no(till, a))
        till.scan(MILK)
        acts = till.keys("CASH")
        assert display(acts)[0].startswith("Refunded") and stornos_of(till, a)
        number = no(till, b)
        # Yesterday's receipt, processed by HO: a copy of it too.
        till.keys("CLEAR")
        job = of(till.keys("REPORT 3 %d TOTAL" % number), "print")[0][1]
        assert job["copy"] and job["number"] == number
        # The flash fills (other files, a package): below the low-water mark
        # the next sale reuses the processed segments' room, oldest first.
        cap[0] -= free(till.journal.path) - 100  # 100 bytes free
        till.keys("CLEAR SIGN")
        till.sign_on(1)
        sell(till, "%s; CASH" % MILK)  # never refused: the ring made the room
        assert till.journal.record(a) is None and till.journal.record(b) is None
        assert till.journal.status()["freeable"] == 0
        # HO's mark wrote a checkpoint first: the totals and numbers come
        # back after a power cut, though the ring removed their records.
        numbers = list(till.engine.totals.numbers)
        grand = till.engine.totals.grand_total
        till.power_cut()
        assert till.engine.totals.numbers == numbers and not till.engine.totals.incomplete
        assert till.engine.totals.grand_total == grand
        till.sign_on(9)
        acts = till.keys("REFUND %d TOTAL" % number)
        assert display(acts) == ("Receipt %d not found" % number, "on this till")
        acts = till.keys("CLEAR REPORT 3 %d TOTAL" % number)
        assert display(acts) == ("Receipt %d no longer" % number, "on till") and not of(acts, "print")
    finally:
        J._free_bytes = real
        till.close()


def test_refunds_without_a_receipt_only_where_ho_allows_and_up_to_its_limit():
    till = Till()
    try:
        till.sign_on(9)
        acts = till.keys("REFUND TOTAL")
        assert display(acts) == ("Key the receipt no.", "")
    finally:
        till.close()
    till = Till(meta(max_refund_without_receipt=1000))
    try:
        till.sign_on(1)
        acts = till.keys("REFUND TOTAL")  # Anna may not refund: Maria approves
        assert display(acts) == ("Refund: manager", "Manager no.?")
        till.keys("9 TOTAL %s TOTAL" % PINS[9])
        till.scan(MILK)
        till.keys("2 QTY")
        till.scan(COLA)
        acts = till.keys("DISCOUNT")
        assert display(acts) == ("Refund: no price or", "discount")
        till.keys("CLEAR")
        till.scan(WHISKY)
        acts = till.keys("TOTAL")  # age question for the whisky
        acts = till.keys("CASH")
        assert display(acts) == ("No receipt: up to", "10.00")
        till.keys("CLEAR VOID CASH")
        rec = till.records(J.KIND_STORNO)[-1]
        body = rec[J.K_BODY]
        assert body[R.S_NO_RECEIPT] is True and R.S_REFUND_OF not in body
        assert body[R.S_APPROVER] == 9 and body[R.S_TOTAL] == -(119 + 2 * 129)
        assert [ln[R.L_QTY] for ln in body[R.S_LINES]] == [-1, -2, -1]
        text = text_of(of(till.keys("CLEAR REPORT 3 TOTAL"), "print")[-1][1])
        assert b"Refund without receipt" in text and b"*** REFUND ***" in text
    finally:
        till.close()


def test_vouchers_pay_where_ho_names_them():
    till = Till(meta(vouchers=["98"]))
    try:
        till.sign_on(1)
        till.scan(WHISKY)
        till.keys("TOTAL")  # age checked
        acts = till.keys("30.00")
        acts = till.scan("9812345678")
        assert display(acts) == ("Voucher 0.01 to", "24.99")
        acts = till.keys("CLEAR 10.00")
        acts = till.scan("98" + "1" * 25)  # longer than a receipt prints whole
        assert display(acts) == ("Misread: scan again", "")
        acts = till.keys("CLEAR 10.00")
        acts = till.scan("9812345678")
        assert display(acts) == (fit("Voucher", "10.00", 20), fit("Due", "14.99", 20))
        acts = till.keys("CASH")
        assert of(acts, "drawer")
        rec = till.records(J.KIND_SALE)[-1]
        tenders = rec[J.K_BODY][R.S_TENDERS]
        assert tenders[0] == [R.TENDER_VOUCHER, 1000, "9812345678"]
        assert tenders[1][0] == R.TENDER_CASH and rec[J.K_BODY][R.S_ROUNDING] == 1
        text = text_of(of(till.keys("CLEAR REPORT 3 TOTAL"), "print")[-1][1])
        assert b"Voucher" in text and b"Ref 9812345678" in text
        # A voucher alone pays all that is due; no drawer opens for it.
        till.scan(COLA)
        acts = till.scan("9800000001")
        assert of(acts, "record") and not of(acts, "drawer")
        # Refunds pay back in cash or by card, not by voucher.
        as_maria(till)
        till.keys("REFUND %d TOTAL" % till.records(J.KIND_SALE)[-1][J.K_BODY][R.S_NUMBER])
        acts = till.scan("9800000002")
        assert display(acts) == ("Pay back by CASH or", "CARD")
        till.keys("CLEAR CASH")
        # The Z carries the vouchers as a tender of their own, and equals
        # the records it closes.
        till.keys("REPORT 2 0 TOTAL")  # the drawer counted: 0
        z = till.records(J.KIND_CLOSING)[-1]
        assert [R.TENDER_VOUCHER, 1000 + 129] in z[J.K_BODY][R.P_TENDERS]
        check_closing(lambda: [(r[J.K_SEQ], r) for r in till.records()], z[J.K_SEQ],
                      z[J.K_BODY], 0)
    finally:
        till.close()


def test_where_ho_names_no_vouchers_a_vouchers_code_is_a_barcode_like_any_other():
    gc.collect()
    till = Till()
    try:
        till.sign_on(1)
        till.scan(COLA)
        acts = till.scan("9812345678")
        assert display(acts)[1] != "Due            0.00" and of(acts, "beep")
    finally:
        till.close()


def _sale(lines, discount=None):
    rates = {"A": 190000, "B": 70000}
    s = Sale(rates, True, False, 1)
    for item, qty in lines:
        s.add_line(item, qty=qty)
    if discount:
        s.set_sale_discount(R.DISC_PERCENT, discount)
    s.pay_cash(None)
    return s.body(1, 1)


def test_refunding_a_sale_piece_by_piece_adds_up_to_it_to_the_cent():
    items = [{"plu": 7, "name": "Brot", "price": 289, "tax": "B"},
             {"plu": 150, "name": "Cola", "price": 129, "tax": "A"},
             {"plu": 3, "name": "Wein", "price": 733, "tax": "A"}]
    for discount in (None, 700, 3333):
        for qtys in ((3, 1, 7), (1, 5, 2), (9, 9, 1)):
            body = _sale(list(zip(items, qtys)), discount)
            left = refund.Left(body, 5)
            got = 0
            while not left.empty():
                s = refund.storno(left, True, False, 1, [])
                for i in range(3):
                    if left.units[i]:
                        s = refund.storno(left, True, False, 1, left.pick(s, items[i]["plu"], 1))
                storno = s.body(1, 1)
                assert storno[R.S_TOTAL] < 0 and R.S_PICKS in storno
                got += storno[R.S_TOTAL]
                left.add(storno)
                gc.collect()
            assert got == -body[R.S_TOTAL], (discount, qtys, got, body[R.S_TOTAL])


class _Journal:
    """records_after over records kept in a list, as the journal yields them."""

    def __init__(self, records):
        self.raw = [(r[J.K_SEQ], cbor.dumps(r)) for r in records]

    def records_after(self, seq):
        for s, raw in self.raw:
            if s > seq:
                yield s, raw


def test_the_stornos_of_a_receipt_are_found_whatever_its_number_takes_to_encode():
    body = _sale([({"plu": 7, "name": "Brot", "price": 289, "tax": "B"}, 5)])
    for seq in (3, 23, 24, 300, 70000, 2 ** 32 + 5):
        storno = refund.storno(refund.Left(body, seq), True, False, 1, [(0, 2)]).body(1, 1)
        other = dict(storno)
        other[R.S_REFUND_OF] = seq + 1  # another receipt's storno
        sale = {J.K_SEQ: seq + 3, J.K_TIME: 0, J.K_KIND: J.KIND_SALE, J.K_BODY: body,
                J.K_TAG: bytes(16)}
        records = [{J.K_SEQ: seq, J.K_TIME: 0, J.K_KIND: J.KIND_SALE, J.K_BODY: body,
                    J.K_TAG: bytes(16)}, sale]
        for i, b in enumerate((storno, other, storno)):
            records.append({J.K_SEQ: seq + 4 + i, J.K_TIME: 0, J.K_KIND: J.KIND_STORNO,
                            J.K_BODY: b, J.K_TAG: bytes(16)})
        left = refund.of(_Journal(records), records[0], seq)
        assert left.units == [1] and not left.untouched, seq
