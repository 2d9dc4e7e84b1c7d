# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Document numbers (docs/records.md, "Document numbers"): receipts and refunds
# are numbered 1, 2, 3... per series, apart from the journal's sequence; a
# number is taken only by the append that journals its record, comes back
# after a power cut or a deletion of processed segments, and a number a
# cashier keys finds its record (Engine.document_seq).
import support
from engine_fixture import PINS, FlakyJournal, Till, display, of
from till.formats import escpos
from till.formats import journal as J
from till.formats import records as R
from till.pos import receipt, reports

BREAD = "4006381333931"
MILK = "4008400402222"
PROFILE = {"columns": {"a": 42}, "qr_native": False, "cut": {"full": True}}


def recorded(acts, kind=None):
    return [a for a in acts if a[0] == "record" and (kind is None or a[2] == kind)]


def sell(till, code=BREAD):
    """One cash sale; (seq, body) of its record."""
    till.scan(code)
    rec = recorded(till.keys("CASH"), J.KIND_SALE)
    assert len(rec) == 1
    return rec[0][1], rec[0][3]


def refund(till, number):
    """Refund receipt `number` (Maria approves), cash; the actions."""
    return till.keys("CLEAR REFUND %d TOTAL 9 TOTAL %s TOTAL CASH" % (number, PINS[9]))


def paper(job):
    out = escpos.EscPos(columns=42)
    receipt.render(job, out, PROFILE)
    return out.output()


def numbers_on_flash(till, ser):
    """number -> seq for every record of series ser the journal still holds."""
    out = {}
    for rec in till.records():
        if reports.series(rec[J.K_KIND], rec.get(J.K_FLAGS, 0)) == ser:
            out[rec[J.K_BODY][R.S_NUMBER]] = rec[J.K_SEQ]
    return out


def test_numbers_are_gap_free_whatever_happens_between_sales():
    till = Till(journal_cls=FlakyJournal,
                journal_kw={"segment_bytes": 1024, "low_free_bytes": support.TIGHT})
    try:
        till.sign_on()
        seq1, body = sell(till)
        assert body[R.S_NUMBER] == 1 and seq1 == 2  # the sign-on is record 1
        assert display(till.keys("CLEAR")) == ("Anna", "")
        till.scan(BREAD)
        acts = till.keys("CASH")
        assert display(acts) == ("Paid            2.90", "Receipt            2")
        # A cancelled sale takes no number.
        till.scan(MILK)
        till.keys("CLEAR TOTAL 9 TOTAL %s TOTAL" % PINS[9])
        assert sell(till)[1][R.S_NUMBER] == 3
        # An append that fails takes none: the retry journals the same number.
        till.journal.fail = J.JournalFull("full")
        till.scan(MILK)
        acts = till.keys("CASH")
        assert not recorded(acts) and display(acts) == ("NOT SAVED: mem full", "Sync, then TOTAL")
        till.journal.fail = None
        rec = recorded(till.keys("TOTAL"), J.KIND_SALE)
        assert rec[0][3][R.S_NUMBER] == 4
        # A power cut in a sale: nothing journaled, nothing taken.
        till.scan(BREAD)
        till.power_cut()
        till.sign_on()
        seq5, body = sell(till)
        assert body[R.S_NUMBER] == 5
        # Refunds have their own series; the refund names the receipt's seq.
        acts = refund(till, 2)
        (st,) = recorded(acts, J.KIND_STORNO)
        assert st[3][R.S_NUMBER] == 1 and display(acts)[1] == "Refund             1"
        assert st[3][R.S_REFUND_OF] == seq1 + 1
        job = of(acts, "print")[0][1]
        assert (job["number"], job["refund_of"], job["refund_seq"]) == (1, 2, seq1 + 1)
        # Training: numbers of its own, none taken from the real series.
        till.keys("CLEAR REPORT 4 9 TOTAL %s TOTAL" % PINS[9])
        _, body = sell(till)
        assert body[R.S_NUMBER] == 1
        acts = refund(till, 1)
        (st,) = recorded(acts, J.KIND_STORNO)
        assert st[4] == J.FLAG_TRAINING and st[3][R.S_NUMBER] == 1
        assert st[3][R.S_REFUND_OF] == recorded(acts)[0][1] - 1  # the training sale
        till.keys("CLEAR REPORT 4 9 TOTAL %s TOTAL" % PINS[9])
        assert sell(till)[1][R.S_NUMBER] == 6
        # HO processed everything: segments go, the checkpoint keeps the numbers
        # and the perpetual grand total (every sale and refund since the first).
        grand = sum(r[J.K_BODY][R.S_TOTAL] for r in till.records()
                    if reports.series(r[J.K_KIND], r.get(J.K_FLAGS, 0)) in (0, 1))
        deleted = till.engine.mark_processed(till.journal.last_seq)
        assert deleted >= 1 and not any(r[J.K_SEQ] == seq1 for r in till.records())
        till.power_cut()
        assert till.engine.totals.numbers == [6, 1, 1, 1]
        till.sign_on()
        _, body = sell(till)
        assert body[R.S_NUMBER] == 7
        # The Z closing seals the last number of each series; the next period
        # goes on from them, also after a cut right after the Z.
        till.keys("CLEAR")
        acts = till.keys("REPORT 2 9 TOTAL %s TOTAL 0 TOTAL" % PINS[9])  # the drawer counted: 0
        z = recorded(acts, J.KIND_CLOSING)[0][3]
        assert [z[R.P_NUMBERS + i] for i in range(4)] == [7, 1, 1, 1]
        assert z[R.P_GRAND_TOTAL] == grand + body[R.S_TOTAL] and not z.get(R.P_INCOMPLETE)
        text = paper(of(acts, "print")[0][1])
        assert b"Receipt nos." in text and b"Refund nos." in text
        till.engine.mark_processed(till.journal.last_seq)
        till.power_cut()
        till.sign_on()
        assert sell(till)[1][R.S_NUMBER] == 8
        assert refund(till, 7)[-1][2] == "Refund             2"
    finally:
        till.close()


def test_a_number_keyed_finds_its_record_while_the_journal_holds_it():
    till = Till(journal_kw={"segment_bytes": 1024, "low_free_bytes": support.TIGHT})
    try:
        till.sign_on()
        for i in range(24):
            sell(till, MILK if i % 3 else BREAD)
            if i % 7 == 6:
                refund(till, i)
                till.keys("CLEAR")
        till.engine.mark_processed(till.journal.last_seq // 2)
        for i in range(6):
            sell(till)
        till.keys("CLEAR")
        till.power_cut()  # the lookup needs nothing kept in RAM
        sales, refunds = numbers_on_flash(till, 0), numbers_on_flash(till, 1)
        assert 1 not in sales and 30 in sales and len(refunds) >= 1  # some deleted, some kept
        e = till.engine
        for n in range(0, 33):
            assert e.document_seq(n) == sales.get(n), n
        for n in range(0, 5):
            assert e.document_seq(n, refund=True) == refunds.get(n), n
        # The cashier's view of it: a deleted receipt, a kept one.
        till.sign_on()
        acts = till.keys("REPORT 3 1 TOTAL")
        assert display(acts) == ("Receipt 1 no longer", "on till")
        acts = till.keys("CLEAR REPORT 3 30 TOTAL")
        job = of(acts, "print")[0][1]
        assert job["copy"] and job["number"] == 30 and job["receipt"] == sales[30]
        assert b"Receipt 30" in paper(job)
        n = max(refunds)
        acts = till.keys("CLEAR REPORT 3 REFUND %d TOTAL" % n)
        job = of(acts, "print")[0][1]
        assert job["kind"] == "storno" and job["number"] == n and job["receipt"] == refunds[n]
        assert display(acts) == ("Copy printed", "Refund %13d" % n)
        acts = till.keys("CLEAR REFUND 1 TOTAL")
        assert display(acts) == ("Receipt 1 not found", "on this till")
    finally:
        till.close()


def test_paper_and_display_show_the_number_and_the_qr_keeps_the_seq():
    till = Till()
    try:
        till.sign_on()
        till.keys("NO_SALE 9 TOTAL %s TOTAL" % PINS[9])  # a record between: seq and number part
        till.scan(MILK)
        acts = till.keys("CASH")
        seq, _, body = recorded(acts)[0][1:4]
        assert (seq, body[R.S_NUMBER]) == (3, 1)
        assert display(acts) == ("Paid            1.20", "Receipt            1")
        text = paper(of(acts, "print")[0][1])
        assert b"Receipt 1 " in text and b"KASSA1|store-12/till-7|3|" in text
        acts = refund(till, 1)
        job = of(acts, "print")[0][1]
        text = paper(job)
        assert b"Refund 1 " in text and b"Refund of receipt 1\n" in text
        assert b"KASSA1|store-12/till-7|%d|" % recorded(acts)[0][1] in text
        # Not printed for want of room: told with the number REPORT 3 takes.
        till.keys("CLEAR")
        till.scan(BREAD)
        seq = recorded(till.keys("CASH"))[0][1]
        acts = till.send(("not_printed", seq))
        assert display(acts) == ("Not printed: 2", "REPORT 3: reprint")
        acts = till.send(("not_printed", seq - 1))  # the refund before it
        assert display(acts) == ("Not printed: 1", "REPORT 3, REFUND")
        acts = till.send(("not_printed", 2))  # the no-sale slip: not a receipt REPORT 3 takes
        assert display(acts) == ("Not printed:", "")
        till.keys("CLEAR")
        acts = till.keys("REPORT 2 9 TOTAL %s TOTAL 0 TOTAL" % PINS[9])  # the drawer counted: 0
        acts = till.send(("not_printed", recorded(acts, J.KIND_CLOSING)[0][1]))
        assert display(acts) == ("Not printed:     Z 1", "")
    finally:
        till.close()


def test_receipts_of_a_firmware_before_numbers_keep_their_seq():
    # Records as the firmware before document numbers wrote them (no key 11):
    # their paper showed the journal seq, which keeps finding them.
    till = Till()
    try:
        till.sign_on()
        seq, body = sell(till)
        old = dict(body)
        del old[R.S_NUMBER]
        old_seq = till.journal.append(J.KIND_SALE, old)
        till.power_cut()
        assert till.engine.totals.numbers[0] == 1
        e = till.engine
        assert e.document_seq(old_seq) == old_seq and e.document_seq(1) == seq
        job = e._receipt_job(till.journal.record(old_seq))
        assert job["number"] == old_seq and b"Receipt %d " % old_seq in paper(job)
        till.sign_on()
        assert sell(till)[1][R.S_NUMBER] == 2
        acts = refund(till, old_seq)
        assert recorded(acts, J.KIND_STORNO)[0][3][R.S_REFUND_OF] == old_seq
    finally:
        till.close()


def test_find_number_bisects_over_a_journal_of_mixed_records():
    # reports.find_number alone, on a journal where the series are sparse.
    till = Till(journal_kw={"segment_bytes": 2048})
    try:
        j = till.journal
        want = {}
        numbers = [0, 0, 0, 0]
        for i in range(120):
            kind = J.KIND_STORNO if i % 11 == 5 else J.KIND_SALE if i % 3 else J.KIND_EVENT
            flags = J.FLAG_TRAINING if i % 13 == 4 else 0
            ser = reports.series(kind, flags)
            body = {R.E_TYPE: R.EV_SIGN_ON, R.E_CASHIER: 1}
            if ser is not None:
                numbers[ser] += 1
                body = {R.S_NUMBER: numbers[ser]}
            seq = j.append(kind, body, flags)
            if ser is not None:
                want[(ser, numbers[ser])] = seq
        for ser in range(4):
            for n in range(numbers[ser] + 2):
                # A bisection alone, and stepping down from the newest first.
                assert reports.find_number(j, ser, n) == want.get((ser, n)), (ser, n)
                assert reports.find_number(j, ser, n, numbers[ser]) == want.get((ser, n)), (ser, n)
    finally:
        till.close()
