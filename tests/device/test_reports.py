# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Period totals, the Z closing and their recovery from the journal: after power
# cuts, after head office's processing deleted whole segments (checkpoints keep
# the totals), and compared with head office's own recomputation.
import support
from engine_fixture import PINS, Till, check_closing, of
from till.formats import cbor
from till.pos import reports
from till.formats import journal as J
from till.formats import records as R

if support.IS_MICROPYTHON:
    # Head office's independent check is host code (cbor2, tests/tools): the
    # CPython run of this file makes it; this run checks with till.pos.reports.
    ho_recompute = None
else:
    import ho_recompute


def sale_body(total, taxes, tenders, lines=None, rounding=0, discount=None, number=None):
    body = {R.S_CASHIER: 1, R.S_LINES: lines or [], R.S_TENDERS: tenders, R.S_TAXES: taxes,
            R.S_TOTAL: total, R.S_SNAPSHOT: 1}
    if number is not None:
        body[R.S_NUMBER] = number
    if rounding:
        body[R.S_ROUNDING] = rounding
    if discount:
        body[R.S_DISCOUNT] = discount
    return body


def test_totals_count_sales_stornos_and_keep_training_out():
    t = reports.Totals(z=3, first=10, grand_start=100000, numbers=[40, 6, 2, 0])
    t.add(10, J.KIND_SALE, sale_body(1190, [["A", 190000, 1000, 190, 1190]], [[1, 1190, 2000]],
                                     lines=[{R.L_DISCOUNT: [1, 1000, 50]},
                                            {R.L_FLAGS: R.LF_VOIDED}],
                                     discount=[2, 20, 20], number=41))
    t.add(11, J.KIND_SALE, sale_body(107, [["B", 70000, 100, 7, 107]], [[2, 107, "9"]],
                                     number=42))
    t.add(12, J.KIND_STORNO, sale_body(-107, [["B", 70000, -100, -7, -107]],
                                       [[1, -105, -105]], rounding=2, number=7))
    t.add(13, J.KIND_NO_SALE, {R.N_CASHIER: 1})
    t.add(14, J.KIND_EVENT, {R.E_TYPE: R.EV_CANCEL, R.E_DETAIL: {}})
    t.add(15, J.KIND_EVENT, {R.E_TYPE: R.EV_SIGN_OFF})
    t.add(16, J.KIND_SALE, sale_body(999, [["A", 190000, 839, 160, 999]], [[1, 999, 999]],
                                     number=3), J.FLAG_TRAINING)
    t.add(17, J.KIND_NO_SALE, {R.N_CASHIER: 1}, J.FLAG_TRAINING)
    body = t.body(17)
    assert body == {
        R.P_Z: 3, R.P_FIRST: 10, R.P_LAST: 17,
        R.P_TAXES: [["A", 190000, 1000, 190, 1190], ["B", 70000, 0, 0, 0]],
        R.P_TENDERS: [[1, 1085], [2, 107]],
        R.P_COUNTS: {R.C_SALES: 2, R.C_STORNOS: 1, R.C_NO_SALES: 1, R.C_CANCELLED: 1,
                     R.C_VOIDED_LINES: 1, R.C_TRAINING: 2},
        R.P_SALES: 1297, R.P_REFUNDS: -107, R.P_ROUNDING: 2, R.P_DISCOUNTS: 70,
        R.P_GRAND_TOTAL: 100000 + 1297 - 107, R.P_CASH_IN: 0, R.P_CASH_OUT: 0,
        R.P_EXPECTED: 1085,
        # The last document numbers: sales, refunds, training sales and refunds.
        R.P_NUMBERS: 42, R.P_NUMBERS + 1: 7, R.P_NUMBERS + 2: 3, R.P_NUMBERS + 3: 0}
    # Tenders take in what the tax classes and rounding say.
    gross = sum(e[4] for e in body[R.P_TAXES])
    assert sum(e[1] for e in body[R.P_TENDERS]) == gross + body[R.P_ROUNDING]
    # A checkpoint's map resumes to the same totals.
    again = reports.Totals.from_body(body)
    assert again.body(17) == body
    nxt = t.next_period(18)
    assert (nxt.z, nxt.first, nxt.grand_total, nxt.anchor_seq) == (4, 19, 101190, 18)
    assert nxt.numbers == [42, 7, 3, 0] and reports.after_closing(body, 18).numbers == nxt.numbers


def test_a_rate_change_mid_period_keeps_the_two_rates_apart():
    t = reports.Totals()
    t.add(1, J.KIND_SALE, sale_body(119, [["A", 190000, 100, 19, 119]], [[1, 119, 119]]))
    t.add(2, J.KIND_SALE, sale_body(116, [["A", 160000, 100, 16, 116]], [[1, 116, 116]]))
    assert t.body(2)[R.P_TAXES] == [["A", 160000, 100, 16, 116], ["A", 190000, 100, 19, 119]]


def shop(till, n):
    """n varied sales by Anna (signed on), some refunded; returns nothing."""
    for i in range(n):
        till.scan("4006381333931")
        if i % 3 == 0:
            till.keys("%d QTY 12 PLU" % (i % 5 + 1))
        if i % 4 == 1:
            till.scan("2312345012340")
        if i % 5 == 2:
            till.keys("CARD %d TOTAL" % (1000 + i))
        elif i % 5 == 3:
            till.keys("1.00 CASH CARD %d TOTAL" % i)
        else:
            till.keys("50.00 CASH")
        till.keys("CLEAR")


class HeadOffice:
    """What HO receives: every record, through the sync. Kept as the bytes
    received and decoded when checked: this test equipment shares the till's
    192K heap under MicroPython, and decoded records take several times the
    room of their bytes."""

    def __init__(self):
        self.raws = []  # (seq, the bytes as received)
        self.last = 0

    def sync(self, till, checkpoint=True):
        for seq, raw in till.journal.records_after(self.last):
            self.raws.append((seq, bytes(raw)))
            self.last = seq
        if checkpoint:
            return till.engine.mark_processed(self.last)
        return till.journal.mark_processed(self.last)

    def records(self):
        return ((seq, cbor.loads(raw)) for seq, raw in self.raws)

    def closings(self):
        return [(s, r[J.K_BODY]) for s, r in self.records() if r[J.K_KIND] == J.KIND_CLOSING]

    def check_last_closing(self):
        closings = self.closings()
        seq, body = closings[-1]
        prev = closings[-2][1][R.P_GRAND_TOTAL] if len(closings) > 1 else 0
        check_closing(self.records, seq, body, prev)
        if ho_recompute is not None:
            # Every closing so far, recomputed without the till's code.
            raws = [raw for _, raw in self.raws]
            assert ho_recompute.check_closings(ho_recompute.decode(raws)) == len(closings)
        return body


def z(till):
    acts = till.keys("REPORT 2 9 TOTAL %s TOTAL 0 TOTAL" % PINS[9])
    closing = [a for a in acts if a[0] == "record" and a[2] == J.KIND_CLOSING]
    assert len(closing) == 1, acts
    till.keys("CLEAR")
    return closing[0][3]


def test_power_cuts_and_deleted_segments_do_not_change_the_z():
    # Small segments so that HO's processing really deletes some mid-day.
    till = Till(journal_kw={"segment_bytes": 1024, "low_free_bytes": support.TIGHT})
    ho = HeadOffice()
    try:
        till.sign_on()
        shop(till, 6)
        till.keys("REFUND 3 TOTAL 9 TOTAL %s TOTAL CASH CLEAR" % PINS[9])
        deleted = ho.sync(till)
        shop(till, 5)
        till.scan("4006381333931")  # a sale in progress when the power goes
        till.power_cut()
        x_before = till.engine.totals.body(till.journal.last_seq)
        till.sign_on()
        shop(till, 4)
        deleted += ho.sync(till)
        till.power_cut()
        till.sign_on()
        shop(till, 3)
        assert deleted >= 2, deleted
        body = z(till)
        ho.sync(till)
        assert ho.check_last_closing() == body
        assert not body.get(R.P_INCOMPLETE)
        assert body[R.P_FIRST] == 1 and body[R.P_COUNTS][R.C_SALES] == 18
        assert body[R.P_COUNTS][R.C_STORNOS] == 1
        assert x_before[R.P_COUNTS][R.C_SALES] == 11
        # The second day: the period starts after the closing, the grand total
        # goes on, and a cut right after the closing changes nothing.
        till.power_cut()
        assert till.engine.totals.z == 2 and till.engine.totals.first == body[R.P_LAST] + 2
        till.sign_on()
        shop(till, 2)
        ho.sync(till)
        till.power_cut()
        till.sign_on()
        body2 = z(till)
        ho.sync(till)
        assert ho.check_last_closing() == body2
        assert body2[R.P_Z] == 2 and body2[R.P_COUNTS][R.C_SALES] == 2
        assert body2[R.P_GRAND_TOTAL] == body[R.P_GRAND_TOTAL] + body2[R.P_SALES]
    finally:
        till.close()


def test_deletion_without_a_checkpoint_is_flagged_incomplete():
    till = Till(journal_kw={"segment_bytes": 1024, "low_free_bytes": support.TIGHT})
    ho = HeadOffice()
    try:
        till.sign_on()
        shop(till, 8)
        assert ho.sync(till, checkpoint=False) >= 1  # bypasses the engine
        till.power_cut()
        assert till.engine.totals.incomplete
        on_flash = [s for s, _ in till.journal.records_after(0)]
        till.sign_on()
        body = z(till)
        assert body[R.P_INCOMPLETE] is True
        ho.sync(till)
        if ho_recompute is not None:
            # Head office holds every record, so its figures are whole; the
            # till's Z lacks exactly the records the journal deleted.
            records = ho_recompute.decode([raw for _, raw in ho.raws])
            (closing, want), = ho_recompute.expected_closings(records)
            assert closing[J.K_BODY] == body and R.P_INCOMPLETE not in want
            lost = [r for r in records if r[J.K_SEQ] < on_flash[0]]
            lost_sales = [r[J.K_BODY][R.S_TOTAL] for r in lost if r[J.K_KIND] == J.KIND_SALE]
            assert len(lost_sales) >= 1
            assert want[R.P_SALES] - body[R.P_SALES] == sum(lost_sales)
            assert want[R.P_COUNTS][R.C_SALES] - body[R.P_COUNTS][R.C_SALES] == len(lost_sales)
        job = [a for a in till.keys("REPORT 1") if a[0] == "print"][0][1]
        assert job["incomplete"] is False  # the new period is whole again
    finally:
        till.close()


def test_recover_an_empty_journal_and_one_with_only_events():
    till = Till()
    try:
        t = till.engine.totals
        assert (t.z, t.first, t.grand_total, t.incomplete) == (1, 1, 0, False)
        till.sign_on()
        till.keys("SIGN")
        till.power_cut()
        t = till.engine.totals
        assert (t.z, t.first, t.last, t.incomplete) == (1, 1, 2, False)
        assert t.body(2)[R.P_COUNTS] == {}
    finally:
        till.close()


def test_x_report_changes_nothing():
    till = Till()
    try:
        till.sign_on()
        shop(till, 2)
        before = till.journal.last_seq
        acts = till.keys("REPORT 1")
        assert not of(acts, "record") and till.journal.last_seq == before
        job = of(acts, "print")[0][1]
        assert job["kind"] == "x" and job["receipt"] is None and job["counts"]["sales"] == 2
        assert job["z"] == 1 and job["first"] == 1 and job["last"] == before
        again = of(till.keys("CLEAR REPORT 1"), "print")[0][1]
        assert again == job
    finally:
        till.close()


def test_a_body_this_firmware_did_not_write_does_not_stop_the_till():
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.keys("CASH")
        # Another writer's idea of a sale (tests/host/test_journal_host.py style).
        till.journal.append(J.KIND_SALE, {1: 99, 2: 3, 3: [[4006381333931, 1000, 249]]})
        till.journal.append(J.KIND_EVENT, [1, 2, 3])
        till.power_cut()
        t = till.engine.totals
        assert t.incomplete and t.count(R.C_SALES) == 1 and t.sales == 289
        assert t.last == till.journal.last_seq
        till.sign_on()
        till.scan("4006381333931")
        acts = till.keys("CASH")
        assert [a[2] for a in acts if a[0] == "record"] == [J.KIND_SALE]
    finally:
        till.close()
