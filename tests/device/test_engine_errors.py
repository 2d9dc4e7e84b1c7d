# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Error paths of the sale engine that need more than keys and scans: a full,
# damaged or failing journal, a damaged catalog, an unexpected exception, no
# snapshot, no clock, a new snapshot mid-sale. Every check_protocol() in the
# fixture also holds here: no receipt or drawer without its record.
import support
from engine_fixture import (PINS, T0, FlakyJournal, Till, build_snapshot, display, items, meta,
                            of)
from till.formats import journal as J
from till.formats import records as R
from till.pos.engine import Engine, fit


def records_of(actions):
    return [a for a in actions if a[0] == "record"]


def test_full_journal_refuses_a_new_sale_but_lets_the_cashier_sign_on():
    till = Till(journal_kw={"full_free_bytes": 1 << 40})
    try:
        till.sign_on()
        assert till.engine.cashier["name"] == "Anna"
        acts = till.scan("4006381333931")
        assert display(acts) == ("Memory full: sync", "the till")
        assert till.engine.sale is None and of(acts, "beep")
    finally:
        till.close()


def check_append_failure(exc, lines):
    till = Till(journal_cls=FlakyJournal)
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.journal.fail = exc
        acts = till.keys("5.00 CASH")
        # Nothing written, so nothing printed and the drawer stays shut.
        assert not of(acts, "record") and not of(acts, "print") and not of(acts, "drawer")
        assert display(acts) == lines
        assert till.engine.sale is not None and till.engine.sale.is_paid()
        # Only a retry or a cancel make sense now.
        acts = till.keys("CLEAR")  # clears the message
        acts = till.scan("4008400402222")
        assert display(acts) == ("Payment started:", "finish the payment")
        acts = till.keys("CLEAR VOID")
        assert display(acts) == ("Not saved: TOTAL to", "retry")
        acts = till.keys("CLEAR TOTAL")
        assert not of(acts, "record") and not of(acts, "drawer")
        till.journal.fail = None
        till.keys("CLEAR")
        acts = till.keys("TOTAL")
        kinds = [a[0] for a in acts]
        assert kinds == ["record", "print", "drawer", "display"], kinds
        rec = records_of(acts)[0]
        assert rec[2] == J.KIND_SALE and rec[3][R.S_TENDERS] == [[R.TENDER_CASH, 290, 500]]
        assert display(acts)[0] == "Change          2.10"
        assert till.engine.sale is None
        assert [r[J.K_KIND] for r in till.records()] == [J.KIND_EVENT, J.KIND_SALE]
    finally:
        till.close()


def test_append_refused_when_full_keeps_the_sale_open():
    check_append_failure(J.JournalFull("full"), ("NOT SAVED: mem full", "Sync, then TOTAL"))


def test_append_refused_when_damaged_keeps_the_sale_open():
    check_append_failure(J.JournalBroken("damaged"), ("NOT SAVED: damaged", "Mgr: REPORT, TOTAL"))


def test_flash_error_on_append_keeps_the_sale_open():
    check_append_failure(OSError(5), ("NOT SAVED: flash", "TOTAL to retry"))


def test_heap_busy_on_append_keeps_the_sale_open_and_the_next_tick_retries_it():
    check_append_failure(MemoryError("memory allocation failed"),
                         ("NOT SAVED: busy", "TOTAL to retry"))
    till = Till(journal_cls=FlakyJournal)
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.journal.fail = MemoryError("memory allocation failed")
        till.keys("5.00 CASH")
        till.journal.fail = None
        acts = till.engine.handle(("tick",))
        assert [a[0] for a in acts] == ["record", "print", "drawer", "display"], acts
        assert till.engine.sale is None
        assert [r[J.K_KIND] for r in till.records()] == [J.KIND_EVENT, J.KIND_SALE]
    finally:
        till.close()


def test_cancel_with_cash_taken_needs_the_journal():
    till = Till(journal_cls=FlakyJournal)
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.keys("1.00 CASH CLEAR")
        till.journal.fail = J.JournalFull("full")
        acts = till.keys("CLEAR TOTAL 9 TOTAL %s TOTAL" % PINS[9])
        assert not of(acts, "drawer") and till.engine.sale is not None
        assert display(acts) == ("Memory full: sync", "the till")
        till.journal.fail = None
        acts = till.keys("CLEAR CLEAR TOTAL 9 TOTAL %s TOTAL" % PINS[9])
        assert [a[0] for a in acts][-3:] == ["record", "drawer", "display"]
        assert display(acts) == ("Cancelled:", "give back       1.00")
        # Without money taken, a sale can go even when nothing can be written.
        till.scan("4006381333931")
        till.journal.fail = J.JournalBroken("damaged")
        acts = till.keys("CLEAR TOTAL 9 TOTAL %s TOTAL" % PINS[9])
        assert display(acts) == ("Cancelled", "(not journaled)") and not of(acts, "drawer")
        assert till.engine.sale is None
    finally:
        till.close()


def damage_a_tag(till):
    """Flip a byte inside the chain tag of the second record on flash."""
    import os
    d = till.dir + "/journal"
    seg = d + "/" + sorted(n for n in os.listdir(d) if n.endswith(".cbs"))[0]
    data = bytearray(support.read_file(seg))
    # The second record's tag: find the record start, then its tag field (6: 16 bytes).
    second = [i for i in range(len(data) - 1) if data[i] in (0xA5, 0xA6) and data[i + 1] == 1][1]
    tag_at = data.index(bytes([0x06, 0x50]), second) + 2
    data[tag_at] ^= 0xFF
    support.write_file(seg, bytes(data))


def test_damaged_journal_sign_on_works_selling_waits_for_the_managers_ack():
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.keys("CASH SIGN")
        damage_a_tag(till)
        till.power_cut()
        assert till.journal.broken
        acts = till.sign_on()
        assert display(acts) == ("Journal damaged:", "manager REPORT 5")
        # The sign-on could not be journaled, the cashier is on all the same.
        assert not of(acts, "record") and till.engine.cashier["id"] == 1
        acts = till.scan("4006381333931")
        assert display(acts) == ("Journal damaged:", "call manager")
        acts = till.keys("CLEAR NO_SALE 9 TOTAL 9999 TOTAL")
        assert not of(acts, "drawer")
        acts = till.keys("CLEAR REPORT 5 9 TOTAL 9999 TOTAL")
        rec = records_of(acts)[0]
        assert rec[2] == J.KIND_ACK and rec[3][2] == "cashier 9"
        assert display(acts) == ("Journal damage", "acknowledged")
        assert not till.journal.broken
        acts = till.scan("4006381333931") + till.keys("CASH")
        assert [r[2] for r in records_of(acts)] == [J.KIND_SALE]
    finally:
        till.close()


class BrokenCatalogSnapshot:
    """Wraps a snapshot; its lookups fail like a damaged flash file, or raise
    something nobody expected."""

    def __init__(self, snap, exc):
        self._snap = snap
        self.exc = exc

    def __getattr__(self, name):
        return getattr(self._snap, name)

    def by_plu(self, plu):
        raise self.exc

    def by_barcode(self, code):
        raise self.exc


def engine_on(till, snapshot):
    till.engine = Engine(till.journal, snapshot, "t", till.clock, till.cols, T0)
    return till.engine


def test_damaged_catalog_is_a_message():
    till = Till()
    try:
        engine_on(till, BrokenCatalogSnapshot(till.snap, OSError("damaged")))
        till.sign_on()
        for acts in (till.scan("4006381333931"), till.keys("CLEAR 7 PLU")):
            assert display(acts) == ("Catalog damaged:", "call manager")
        assert till.engine.sale is None
    finally:
        till.close()


def test_an_unexpected_exception_is_shown_and_the_engine_goes_on():
    till = Till()
    try:
        engine_on(till, BrokenCatalogSnapshot(till.snap, KeyError("boom")))
        till.sign_on()
        acts = till.scan("4006381333931")
        assert display(acts) == ("Error: KeyError.", "Call support")
        assert isinstance(till.engine.error, KeyError)
        till.engine.error = None
        acts = till.keys("CLEAR SIGN")
        assert records_of(acts)[0][3] == {R.E_TYPE: R.EV_SIGN_OFF, R.E_CASHIER: 1}
    finally:
        till.close()


def test_unknown_keys_and_events():
    till = Till()
    try:
        acts = till.send(("key", "F13"))
        assert display(acts) == ("Unknown key F13", "") and of(acts, "beep")
        acts = till.send(("coffee",))
        assert display(acts) == ("Unknown event coffee", "")
        acts = till.send(("scan", b"4006381333931\r\n"))
        assert display(acts) == ("Sign on first", "")
    finally:
        till.close()


def test_no_snapshot_yet_then_one_arrives():
    till = Till()
    try:
        engine_on(till, None)
        acts = till.keys("1 SIGN")
        assert display(acts) == ("No HO data: sync the", "till")
        till.send(("snapshot", till.snap))
        till.keys("CLEAR")
        acts = till.sign_on()
        assert till.engine.cashier["name"] == "Anna"
    finally:
        till.close()


def test_clock_never_set():
    till = Till()
    try:
        till.clock.t = None
        till.power_cut()
        acts = till.sign_on()
        assert display(acts) == ("Anna         OFFLINE", "Clock not set")
        till.scan("4006381333931")
        acts = till.keys("CASH")
        job = of(acts, "print")[0][1]
        assert job["clock_set"] is False and job["time"] == 0
        rec = till.records(J.KIND_SALE)[0]
        assert rec[J.K_FLAGS] == J.FLAG_CLOCK_NOT_SET and rec[J.K_TIME] == 0
        # Offline rules apply: an open price is refused.
        acts = till.keys("40 PLU")
        assert display(acts) == ("Offline: no open", "prices")
        # Idle lock and retention need a clock; ticks change nothing.
        assert display(till.send(("tick",))) == ("Offline: no open", "prices")
        assert not till.engine.locked
    finally:
        till.close()


def test_new_snapshot_waits_for_the_sale_in_progress():
    till = Till()
    try:
        cat = []
        for it in items():
            if it["plu"] == 7:
                it = dict(it, price=299)
            cat.append(it)
        snap2 = build_snapshot(till.dir + "/snap2", meta(version=2), cat)
        till.sign_on()
        till.scan("4006381333931")
        till.send(("snapshot", snap2))
        assert till.engine.snap.version == 1
        till.scan("4006381333931")
        acts = till.keys("CASH")
        body = records_of(acts)[0][3]
        assert body[R.S_SNAPSHOT] == 1 and body[R.S_TOTAL] == 578
        assert till.engine.snap.version == 2
        till.scan("4006381333931")
        acts = till.keys("CASH")
        body = records_of(acts)[0][3]
        assert body[R.S_SNAPSHOT] == 2 and body[R.S_TOTAL] == 299
        snap2.close()
    finally:
        till.close()


def test_cashier_removed_by_a_new_snapshot_is_signed_off():
    till = Till()
    try:
        m = meta(version=2)
        del m["cashiers"][1]
        snap2 = build_snapshot(till.dir + "/snap2", m, items())
        till.sign_on()
        acts = till.send(("snapshot", snap2))
        assert till.engine.cashier is None
        assert display(acts) == ("Cashier removed", "by head office")
        assert records_of(acts)[0][3] == {R.E_TYPE: R.EV_SIGN_OFF, R.E_CASHIER: 1}
        acts = till.keys("CLEAR 1 SIGN")
        assert display(acts) == ("Cashier 1 unknown", "")
        snap2.close()
    finally:
        till.close()


def test_a_snapshot_installed_but_not_readable_signs_off_and_asks_for_a_restart():
    # The main loop's install switched to the new snapshot on flash but had no
    # heap to read it: the old one's files are gone, so nothing is sold from it.
    till = Till()
    try:
        till.sign_on()
        acts = till.send(("snapshot_lost",))
        assert till.engine.snap is None and till.engine.cashier is None
        assert display(acts) == ("HO data installed:", "restart the till")
        assert records_of(acts)[0][3] == {R.E_TYPE: R.EV_SIGN_OFF, R.E_CASHIER: 1}
        acts = till.keys("CLEAR 1 SIGN")
        assert display(acts) == ("No HO data: sync the", "till")
        assert not records_of(acts)
    finally:
        till.close()


def test_manager_locked_out_during_an_override():
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.keys("50 DISCOUNT 9 TOTAL 1 TOTAL")
        # After a wrong PIN the manager's PIN is asked again.
        assert till.display() == ("Wrong PIN: 2 tries", "left")
        till.keys("CLEAR")
        assert till.display() == ("Manager        Maria", "PIN?")
        till.keys("2 TOTAL")
        acts = till.keys("CLEAR 3 TOTAL")
        lock = records_of(acts)[0][3]
        assert lock == {R.E_TYPE: R.EV_LOCKOUT, R.E_CASHIER: 9, R.E_DETAIL: T0 + 900}
        assert display(acts) == ("Cashier 9 locked for", "15 min")
        acts = till.keys("CLEAR 50 DISCOUNT 9 TOTAL")
        assert display(acts) == ("Cashier 9 locked for", "15 min")
        # The lockout survives a restart (it is in the journal).
        till.power_cut()
        acts = till.keys("9 SIGN")
        assert display(acts) == ("Cashier 9 locked for", "15 min")
        till.clock.t += 900
        acts = till.keys("CLEAR 9 SIGN %s TOTAL" % PINS[9])
        assert till.engine.cashier["id"] == 9
    finally:
        till.close()


def test_idle_lock_sign_off_from_the_lock_screen_and_disabled_lock():
    till = Till()
    try:
        till.sign_on()
        till.tick(299)
        assert not till.engine.locked
        acts = till.tick(1)
        assert till.engine.locked and display(acts) == (fit("Locked", "Anna", 20), "PIN?")
        acts = till.scan("4006381333931")
        assert display(acts) == ("Sign on first", "")
        acts = till.keys("CLEAR CASH")
        assert display(acts) == ("Locked: key your", "PIN, then TOTAL")
        acts = till.keys("CLEAR SIGN")
        assert till.engine.cashier is None
        assert records_of(acts)[0][3][R.E_TYPE] == R.EV_SIGN_OFF
    finally:
        till.close()
    till = Till(meta(idle_lock_minutes=0))
    try:
        till.sign_on()
        till.tick(86400)
        assert not till.engine.locked
    finally:
        till.close()


def test_void_by_line_number_and_amount_discounts():
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")  # 2.89
        till.scan("4008400402222")  # 1.19
        till.scan("036000291452")  # 1.29
        till.keys("2 VOID")  # the milk
        # Amounts are checked as a share of the line: 0.12 of 1.29 is within
        # Anna's 10 %, 0.13 is not.
        acts = till.keys("0.13 DISCOUNT")
        assert display(acts) == ("Discount over 10%", "Manager no.?")
        acts = till.keys("CLEAR CLEAR 0.12 DISCOUNT SUBTOTAL 0.10 DISCOUNT CASH")
        body = records_of(acts)[0][3]
        lines = body[R.S_LINES]
        assert [ln.get(R.L_FLAGS, 0) for ln in lines] == [0, R.LF_VOIDED, 0]
        assert lines[2][R.L_DISCOUNT] == [R.DISC_AMOUNT, 12, 12]
        assert body[R.S_DISCOUNT] == [R.DISC_AMOUNT, 10, 10]
        assert body[R.S_TOTAL] == 289 + 129 - 12 - 10
    finally:
        till.close()


def test_cash_rounding_only_on_the_cash_part():
    till = Till()
    try:
        till.sign_on()
        till.scan("4008400402222")  # 1.19
        acts = till.keys("CARD 1 TOTAL")
        body = records_of(acts)[0][3]
        assert body[R.S_TENDERS] == [[R.TENDER_CARD, 119, "1"]] and R.S_ROUNDING not in body
        till.scan("4008400402222")
        acts = till.keys("1.00 CARD 2 TOTAL")
        acts = till.keys("CASH")  # 0.19 due in cash: 0.20
        body = records_of(acts)[0][3]
        assert body[R.S_TENDERS] == [[R.TENDER_CARD, 100, "2"], [R.TENDER_CASH, 20, 20]]
        assert body[R.S_ROUNDING] == 1
    finally:
        till.close()


def test_copy_of_the_last_receipt_after_a_restart():
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")
        first = of(till.keys("CASH"), "print")[0][1]
        till.power_cut()
        till.sign_on()
        acts = till.keys("REPORT 3 TOTAL")  # TOTAL alone: the last receipt
        copy = of(acts, "print")[0][1]
        assert copy["copy"] is True
        copy["copy"] = False
        assert copy == first
        assert records_of(acts)[0][3] == {R.E_TYPE: R.EV_COPY, R.E_CASHIER: 1,
                                           R.E_DETAIL: first["receipt"]}
    finally:
        till.close()


def test_no_receipt_to_copy_and_training_receipts_are_not_refunded_outside_training():
    till = Till()
    try:
        till.keys("9 SIGN 9999 TOTAL")
        assert display(till.keys("REPORT 3")) == ("Reprint receipt no.", "TOTAL=last")
        acts = till.keys("TOTAL")
        assert display(acts) == ("No receipt to copy", "")
        till.keys("CLEAR REPORT 4")
        till.scan("4006381333931")
        acts = till.keys("CASH")
        assert records_of(acts)[0][4] == J.FLAG_TRAINING
        assert records_of(acts)[0][3][R.S_NUMBER] == 1  # training receipts: their own numbers
        assert not of(acts, "drawer")  # no cash moves in training
        # Outside training the number is a real receipt's, and there is none yet.
        acts = till.keys("CLEAR REPORT 4 REFUND 1 TOTAL")
        assert display(acts) == ("Receipt 1 not found", "on this till")
    finally:
        till.close()


def test_sixteen_column_display():
    till = Till(cols=16)
    try:
        acts = till.sign_on()
        assert display(acts) == ("Anna", "")
        acts = till.scan("4012345678901")
        assert display(acts) == ("4012345678901", "Unknown: key PLU")
        acts = till.keys("CLEAR") + till.scan("5000267024608") + till.keys("TOTAL")
        assert display(acts) == ("Whisky 0,7 24.99", "Total      24.99")
    finally:
        till.close()


def test_messages_of_the_sale_fit_two_display_lines():
    from till.pos.engine import wrap
    till = Till(meta(max_lines=2))
    try:
        till.sign_on()
        till.scan("4006381333931")
        till.scan("4006381333931")
        acts = till.scan("4006381333931")
        assert display(acts) == ("Sale full (2 lines):", "pay, then go on")
        for text in ("Card amount: 0.01 up to the amount due",
                     "Tax class Z not set up: call manager",
                     "Payment started: finish or cancel",
                     "Key the cash given, or CASH alone",
                     "Receipt 1234567: ask head office"):
            lines = wrap(text, 20)
            assert (lines[0] + " " + lines[1]).strip() == text, lines
    finally:
        till.close()


def test_retention_signs_off_a_cashier_left_signed_on():
    till = Till(meta(idle_lock_minutes=0))
    try:
        till.sign_on()
        acts = till.tick(10 * 86400 + 1)
        kinds = [a[3][R.E_TYPE] for a in records_of(acts)]
        assert kinds == [R.EV_SIGN_OFF, R.EV_CREDENTIALS_CLEARED]
        assert of(acts, "wipe_credentials") and till.engine.cashier is None
        assert display(acts) == ("Unused too long:", "sync before sign-on")
    finally:
        till.close()


def test_explicit_training_and_ack_permissions():
    m = meta()
    m["roles"]["cashier"]["may"] = ["training", "ack_journal"]
    till = Till(m)
    try:
        till.sign_on()
        acts = till.keys("REPORT 4")
        assert records_of(acts)[0][3] == {R.E_TYPE: R.EV_TRAINING_ON, R.E_CASHIER: 1}
        assert till.engine.training
        till.journal.problems.append(J.Problem("seg", 0, None, "test damage"))
        acts = till.keys("CLEAR REPORT 4 CLEAR REPORT 5")
        assert records_of(acts)[-1][2] == J.KIND_ACK and not till.journal.broken
    finally:
        till.close()


def _failing(module, name, times):
    """module.name raising MemoryError on its next `times` calls (a heap with
    no room for a receipt's layout); returns the undo."""
    real = getattr(module, name)
    left = [times]

    def flaky(*args, **kw):
        if left[0]:
            left[0] -= 1
            raise MemoryError("memory allocation failed")
        return real(*args, **kw)

    setattr(module, name, flaky)
    return lambda: setattr(module, name, real), left


def test_a_receipt_with_no_room_to_be_laid_out_prints_from_its_record_a_moment_later():
    from till.pos import printjob

    till = Till()
    undo, left = _failing(printjob, "receipt", 1)
    try:
        till.sign_on()
        till.scan("4006381333931")
        acts = till.keys("5.00 CASH")
        seq = records_of(acts)[0][1]
        # The sale is journaled and the drawer opens; the paper waits.
        assert not of(acts, "print") and of(acts, "drawer")
        acts = till.tick(1)
        jobs = of(acts, "print")
        assert len(jobs) == 1 and jobs[0][1]["receipt"] == seq and not jobs[0][1]["copy"]
        # The same job as one laid out at once.
        assert jobs[0][1] == printjob.receipt(till.records(J.KIND_SALE)[0], "store-12/till-7",
                                              till.snap)
        assert till.engine.not_printed == 0
        # No room three ticks running: journaled as not printed, the cashier told.
        left[0] = 10
        till.scan("4006381333931")
        seq, _, body = records_of(till.keys("5.00 CASH"))[0][1:4]
        for _ in range(2):
            assert not of(till.tick(1), "print")
        acts = till.tick(1)
        # The number the cashier keys at REPORT 3, not the journal's seq.
        assert body[R.S_NUMBER] == 2 != seq
        assert not of(acts, "print") and display(acts) == ("Not printed: 2", "REPORT 3: reprint")
        events = [r[J.K_BODY] for r in till.records(J.KIND_EVENT)]
        assert {R.E_TYPE: R.EV_NOT_PRINTED, R.E_DETAIL: seq} in events
        # A copy with no room is said, not journaled, and not retried as an original.
        left[0] = 1
        till.keys("CLEAR")
        acts = till.keys("REPORT 3 TOTAL")
        assert display(acts) == ("Copy not printed", "Busy: try again")
        assert not any(r[J.K_BODY].get(R.E_TYPE) == R.EV_COPY for r in till.records(J.KIND_EVENT))
        assert not of(till.tick(1), "print")
    finally:
        undo()
        till.close()


def test_a_z_closing_with_no_room_to_be_laid_out_prints_later_as_it_would_have():
    from till.pos import printjob

    till = Till()
    try:
        till.sign_on(9)
        till.scan("4006381333931")
        till.keys("5.00 CASH CLEAR")
        acts = till.keys("REPORT 2 5.00 TOTAL")
        want = of(acts, "print")[0][1]
        closing = till.records(J.KIND_CLOSING)[0]
        assert till.engine._job_of(closing) == want
        # The next Z finds no room: it prints at the next tick, the same job.
        till.keys("CLEAR")
        undo, _ = _failing(printjob, "period", 1)
        try:
            acts = till.keys("REPORT 2 5.00 TOTAL")
        finally:
            undo()
        assert of(acts, "record") and not of(acts, "print")
        jobs = of(till.tick(1), "print")
        assert len(jobs) == 1 and jobs[0][1] == till.engine._job_of(till.records(J.KIND_CLOSING)[1])
        assert jobs[0][1]["kind"] == "z" and jobs[0][1]["receipt"] == till.records(J.KIND_CLOSING)[1][J.K_SEQ]
    finally:
        till.close()


def test_an_x_report_with_no_room_says_so_and_journals_nothing():
    from till.pos import printjob

    till = Till()
    undo, _ = _failing(printjob, "period", 1)
    try:
        till.sign_on(9)
        n = len(till.records())
        acts = till.keys("REPORT 1")
        assert display(acts) == ("Report not printed", "REPORT 1: again")
        assert len(till.records()) == n  # an X is never journaled, not even as not printed
    finally:
        undo()
        till.close()


def test_a_receipt_the_main_loop_could_not_lay_out_is_laid_out_again():
    # The app renders the job into its layout buffer; a MemoryError there comes
    # back as ("print_failed", seq, copy).
    till = Till()
    try:
        till.sign_on()
        till.scan("4006381333931")
        seq = records_of(till.keys("5.00 CASH CLEAR"))[0][1]
        assert not of(till.send(("print_failed", seq, False)), "print")
        jobs = of(till.tick(1), "print")
        assert len(jobs) == 1 and jobs[0][1]["receipt"] == seq and not jobs[0][1]["copy"]
        acts = till.send(("print_failed", seq, True))
        assert display(acts) == ("Copy not printed", "Busy: try again")
        assert not of(till.tick(1), "print") and till.engine.not_printed == 0
    finally:
        till.close()
