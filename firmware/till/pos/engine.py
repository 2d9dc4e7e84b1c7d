# The sale engine: a state machine between the cashier and the journal.
#
#   actions = engine.handle(event)
#
# Events are tuples: ("key", name), ("scan", digits), ("tick",),
# ("printer", status), ("link", up, synced_at), ("snapshot", snapshot),
# ("snapshot_lost",) when an install could not be read after its switch, and
# from the main loop ("config", info, at_boot) when HO's data was installed,
# ("crash", task, detail) when a task failed, ("clock_set", old, new) when the
# clock was set, ("not_printed", seq) when receipt seq could not wait to print,
# ("processed", seq) when the gateway reports HO processed records up to seq.
# The engine is the only writer of the journal: each of these becomes a record
# here, so whatever reads the journal (the link, HO) sees every fact in one
# place, in order.
# Actions are tuples, in the order the main loop must carry them out:
# ("record", seq, kind, body, flags), ("print", job), ("drawer",),
# ("wipe_credentials",), ("beep",), and always last ("display", line1, line2).
# docs/engine.md describes the protocol, the keys and every prompt.
#
# The engine reaches flash only through the two objects it is given: the
# journal (append, records_after, acknowledge, mark_processed) and the snapshot
# (catalog lookups). A "record" action reports an append that has already
# returned, i.e. is durable; print and drawer actions are only ever produced
# after it, and not at all when the append failed. So a receipt never shows a
# sale the journal does not hold, and the drawer never opens for one.
#
# clock() gives Unix seconds (None while the clock was never set). Hand the
# journal the same clock and read the RTC once per event, so that a record's
# time and its receipt's time are the same second.
from till.pos import auth, offline, policy, printjob, receipt, reports
from till.formats import barcode, dates
from till.formats import journal as J
from till.formats import records as R
from till.formats.catalog import MAX_PLU, SnapshotError
from till.pos.money import format_money, parse_keyed
from till.pos.sale import Sale, SaleError

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

DIGIT_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "00", ".")
KEYS = DIGIT_KEYS + ("CLEAR", "QTY", "PLU", "VOID", "SUBTOTAL", "CASH", "CARD", "TOTAL",
                     "NO_SALE", "REFUND", "DISCOUNT", "PRICE", "REPORT", "SIGN", "FEED")
_MAX_ENTRY = const(14)  # a GTIN-14 keyed by hand
_MAX_QTY = const(999)
_MAX_REF = const(12)
_BP = const(10000)
_BARCODE_LENGTHS = (8, 12, 13, 14)
# A voucher's code is its tender's reference, printed whole after "  Ref " on
# a 58 mm receipt's 32 columns; a longer one is a misread.
_MAX_VOUCHER = const(26)
_DAY_S = const(86400)
_MAX_CRASH_DETAIL = const(200)
# Receipts that found no room in the heap to be laid out wait here (their
# journal sequence numbers) and are built again from their records once a
# second, between sales, when the sale's own objects are gone; after
# _PRINT_TRIES tries a receipt is journaled as not printed (REPORT 3).
_PRINT_RETRIES = const(4)
_PRINT_TRIES = const(3)
_YES_NO = "TOTAL = yes, CLEAR = no"  # what a yes/no prompt answers to other keys


def fit(left, right, width):
    """left and right on one display line of width characters; left gives way.
    The right part is a price, the status flags (status_flags fits them) or
    what is being keyed: it stays whole, and only what is keyed, when wider
    than the line, shows its last characters."""
    if not right:
        return left[:width]
    if len(right) >= width:
        return right[-width:]
    left = left[:width - len(right) - 1]
    return left + " " * (width - len(left) - len(right)) + right


def named(label, name, width):
    """A label (VOID, Cashier, Locked) and a name on one display line: the
    label stays whole and a long name gives way at its end."""
    return fit(label, name[:width - len(label) - 1].rstrip(), width)


def wrap(text, width, alt=None):
    """A message on two display lines: by words if it fits, else alt (two
    lines) if given, else cut by characters."""
    lines = []
    cur = ""
    for word in text.split(" "):
        if not cur:
            cur = word
        elif len(cur) + 1 + len(word) <= width:
            cur += " " + word
        else:
            lines.append(cur)
            cur = word
    lines.append(cur)
    if len(lines) <= 2 and len(lines[0]) <= width and len(lines[-1]) <= width:
        return (lines[0], lines[1] if len(lines) > 1 else "")
    if alt is not None:
        return (alt[0][:width], alt[1][:width])
    return (text[:width], text[width:2 * width])


def _percent(bp):
    if bp % 100 == 0:
        return "%d%%" % (bp // 100)
    return format_money(bp, 2) + "%"


# Prompt titles: at most 16 characters, the narrowest display.
_PERMISSION_TEXT = {
    "void_line": "Void: manager",
    "void_sale": "Cancel: manager",
    "refund": "Refund: manager",
    "no_sale": "No sale: manager",
    "price_override": "Price: manager",
    "x_report": "X report: mgr",
    "z_report": "Z closing: mgr",
    "training": "Training: mgr",
    "ack_journal": "Journal ack: mgr",
    "cash_in_out": "Cash in/out: mgr",
}


def describe_exception(exc):
    """What failed and where, in one short line: "MemoryError: memory
    allocation failed (printer.py:460 _finish_job)". Built carefully: it is
    called after a MemoryError, so a failure here gives the bare class name."""
    name = exc.__class__.__name__
    try:
        where = _innermost_frame(exc)
        text = "%s: %s" % (name, exc) if exc.args else name
        return text + (" (%s)" % where if where else "")
    except MemoryError:
        return name


def _innermost_frame(exc):
    try:
        import io
        import sys

        out = io.StringIO()
        sys.print_exception(exc, out)  # MicroPython
        lines = out.getvalue().split("\n")
    except AttributeError:  # CPython
        import traceback

        tb = traceback.extract_tb(exc.__traceback__)
        if not tb:
            return ""
        f = tb[-1]
        return "%s:%d %s" % (f.filename.split("/")[-1], f.lineno, f.name)
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("File "):
            # File "/rom/till/drivers/printer.py", line 460, in _finish_job
            parts = line.split(", ")
            if len(parts) == 3:
                return "%s:%s %s" % (parts[0][6:-1].split("/")[-1], parts[1][5:], parts[2][3:])
    return ""


def _journal_message(exc):
    """A short display message for a refused or failed append."""
    if isinstance(exc, J.JournalFull):
        return "Memory full: sync the till"
    if isinstance(exc, J.JournalBroken):
        return "Journal damaged: call manager"
    if isinstance(exc, OSError):
        return "Flash error: call support"
    if isinstance(exc, MemoryError):
        return "Busy: TOTAL to retry"
    return "Journal error: call support"


def _not_saved(exc):
    """The two lines shown when a paid sale could not be journaled."""
    if isinstance(exc, J.JournalFull):
        return ("NOT SAVED: mem full", "Sync, then TOTAL")
    if isinstance(exc, J.JournalBroken):
        return ("NOT SAVED: damaged", "Mgr: REPORT, TOTAL")
    if isinstance(exc, MemoryError):
        return ("NOT SAVED: busy", "TOTAL to retry")
    return ("NOT SAVED: flash", "TOTAL to retry")


class Engine:
    """The till's selling logic. See the module comment and docs/engine.md."""

    def __init__(self, journal, snapshot, till_id, clock, display_cols=20, last_sync=None):
        self.journal = journal
        self.snap = snapshot
        self.till_id = till_id
        self.clock = clock
        self.cols = display_cols
        self.last_sync = last_sync
        self.cashier = None  # the signed-on cashier's dict (from the snapshot)
        self.role = None
        self.sale = None
        self.sale_training = False
        self.entry = ""
        self.qty = None  # pending quantity for the next item
        self.price = None  # pending keyed price for the next item
        self.subtotal_mode = False
        self.prompt = None
        self.message = None  # (line1, line2) until the next key
        self.training = False
        self.locked = False  # idle lock: the cashier stays signed on
        self.printer = "ok"
        self.link_up = False
        self._told_offline = True  # nothing to tell at boot: the screen shows why
        self.needs_sync = False
        self.pending_snapshot = None
        self.last_receipt = None
        self._refund_no = None  # the number of the receipt the refund in progress refunds
        self.error = None  # the last exception the engine caught
        self.crashes = 0  # engine errors and task crashes journaled this boot
        self.last_crash = None  # what and where, as journaled
        self.not_printed = 0  # receipts dropped from a full print queue this boot
        self._retry_seqs = [0] * _PRINT_RETRIES  # receipts to lay out again; 0: a free slot
        self._retry_tries = bytearray(_PRINT_RETRIES)
        self.append_error = None  # why the last append failed
        self._out = []
        self._cleared_at = None
        self._last_config = None
        self.config_hash = None  # content hash named by the last config record
        self.last_activity = None
        self._lockouts = {}
        self.totals = reports.recover(journal, self._observe)
        self.guard = auth.Guard.from_policies(self._policies())
        now = clock()
        for cid, until in self._lockouts.items():
            if now is None or until > now:
                self.guard.restore(cid, until)
        self._lockouts = None
        if self.last_sync is None:
            self.last_sync = self._last_config
        if self._cleared_at is not None and (self.last_sync is None
                                             or self.last_sync <= self._cleared_at):
            self.needs_sync = True
        self.last_input = now

    # ---- recovery ----------------------------------------------------------

    def _observe(self, seq, rec):
        # Sees every record on flash once, oldest first (reports.recover).
        kind = rec[J.K_KIND]
        body = rec[J.K_BODY]
        t = rec[J.K_TIME]
        flags = rec.get(J.K_FLAGS, 0)
        if kind in (J.KIND_SALE, J.KIND_STORNO):
            self.last_receipt = seq
        if kind == J.KIND_CONFIG:
            if isinstance(body, dict):
                self.config_hash = body.get(R.C_HASH)
                if body.get(R.C_AT_BOOT):
                    return  # recorded at a boot, not when HO's data arrived
            self._last_config = t
            return
        if kind == J.KIND_EVENT:
            ev = body.get(R.E_TYPE)
            if ev == R.EV_LOCKOUT:
                self._lockouts[body[R.E_CASHIER]] = body[R.E_DETAIL]
            elif ev == R.EV_SIGN_ON:
                self._lockouts.pop(body.get(R.E_CASHIER), None)
            elif ev == R.EV_CREDENTIALS_CLEARED:
                self._cleared_at = t
                return
            elif ev == R.EV_CHECKPOINT:
                return
        if kind != J.KIND_ACK and not flags & J.FLAG_CLOCK_NOT_SET:
            self.last_activity = t

    # ---- the protocol ------------------------------------------------------

    def start(self):
        """Actions for the first screen (and a retention check) after a boot."""
        return self.handle(("tick",))

    def handle(self, event):
        """Take one event, return the actions it causes (display always last)."""
        self._out = []
        try:
            self._dispatch(event)
        except Exception as exc:  # noqa: BLE001 - a cashier must never see a crash
            self.prompt = None
            self.entry = ""
            self._crashed("engine", event, exc)
            self._fail("Error: %s. Call support" % (exc.__class__.__name__,))
        try:
            lines = self.screen()
        except Exception as exc:  # noqa: BLE001
            self._crashed("screen", event, exc)
            lines = ("Error: display", "Call support")
        self._out.append(("display",) + lines)
        return self._out

    def _dispatch(self, event):
        what = event[0]
        if what == "key":
            self._input()
            self._key(event[1])
        elif what == "scan":
            self._input()
            self._scan(event[1])
        elif what == "tick":
            self._tick()
        elif what == "printer":
            self.printer = event[1]
        elif what == "link":
            self._link(event[1], event[2])
        elif what == "snapshot":
            self.pending_snapshot = event[1]
            self._apply_snapshot()
        elif what == "snapshot_lost":  # installed on flash, but not readable until a restart
            self.snap = self.pending_snapshot = None
            if self.cashier is not None:
                self._sign_off_now()
            self._info("HO data installed:", "restart the till")
        elif what == "config":
            self._config(event[1], event[2])
        elif what == "crash":
            self._crash_record(event[1], event[2])
        elif what == "clock_set":
            self._event(R.EV_CLOCK_SET, None, [event[1], event[2]], tolerate=True)
        elif what == "not_printed":
            self._not_printed(event[1])
        elif what == "print_failed":  # (seq, copy): the main loop could not lay it out
            if event[2]:
                self._copy_not_printed()
            else:
                self._print_later(event[1])
        elif what == "processed":
            self._processed(event[1])
        else:
            self._fail("Unknown event %s" % (what,))

    def _now(self):
        return self.clock()

    # ---- facts from the main loop -------------------------------------------

    def _config(self, info, at_boot):
        body = {R.C_VERSION: info["version"], R.C_HASH: info["hash"]}
        if info.get("base") is not None:
            body[R.C_BASE] = info["base"]
        if at_boot:
            body[R.C_AT_BOOT] = True
        # A refused append (journal full or damaged) is shown by the journal's
        # state; the snapshot stays in force and is recorded at the next boot.
        self._append(J.KIND_CONFIG, body, quiet=True)
        self.config_hash = info["hash"]

    def _crashed(self, where, event, exc):
        self.error = exc  # for a test or a debugger; the journal has the record
        self._crash_record(where, "%s: %s" % (event[0], describe_exception(exc)))

    def _crash_record(self, task, detail):
        self.crashes += 1
        self.last_crash = "%s: %s" % (task, detail)
        self._event(R.EV_CRASH, None, self.last_crash[:_MAX_CRASH_DETAIL], tolerate=True)

    def _not_printed(self, seq):
        """A receipt that could not wait for the printer: journaled (HO and the
        auditor see it) and told, with the way to reprint it. An X report
        (seq None) is not journaled: the cashier prints it again."""
        self.not_printed += 1
        if seq is None:
            self._fail_lines("Report not printed", "REPORT 1: again")
            return
        self._event(R.EV_NOT_PRINTED, None, seq, tolerate=True)
        # The cashier reprints a receipt by the number on it, not by seq.
        try:
            rec = self.journal.record(seq)
        except MemoryError:
            rec = None
        if rec is None:
            self._fail_lines("Not printed: %d"[:12], "REPORT 3: reprint")
            return
        ser = reports.series(rec[J.K_KIND], rec.get(J.K_FLAGS, 0))
        if ser is None:  # a Z or a no-sale slip: REPORT 3 reprints receipts only
            z = rec[J.K_BODY][R.P_Z] if rec[J.K_KIND] == J.KIND_CLOSING else None
            self._fail_lines(fit("Not printed:", "" if z is None else "Z %d" % z, self.cols), "")
            return
        self._fail_lines("Not printed: %d" % rec[J.K_BODY].get(R.S_NUMBER, seq),
                         "REPORT 3, REFUND" if ser & 1 else "REPORT 3: reprint")

    def _print_later(self, seq):
        """No room in the heap to lay out receipt seq now: try again from its
        record on the next ticks (a full retry list: not printed at once)."""
        if seq is not None:
            for i in range(_PRINT_RETRIES):
                if self._retry_seqs[i] == 0:
                    self._retry_seqs[i] = seq
                    self._retry_tries[i] = 0
                    return
        self._not_printed(seq)

    def _retry_print(self):
        """One waiting receipt, built again from its journal record."""
        for i in range(_PRINT_RETRIES):
            seq = self._retry_seqs[i]
            if seq:
                break
        else:
            return False
        try:
            rec = self.journal.record(seq)
            job = None if rec is None else self._job_of(rec)
        except MemoryError:
            self._retry_tries[i] += 1
            if self._retry_tries[i] < _PRINT_TRIES:
                return True
            job = None
        self._retry_seqs[i] = 0
        if job is None:
            self._not_printed(seq)
        else:
            self._out.append(("print", job))
        return True

    def _job_of(self, rec):
        """The print job of a journaled receipt, as when it was rung."""
        kind = rec[J.K_KIND]
        if kind == J.KIND_NO_SALE:
            return printjob.no_sale(rec, self.till_id, self.snap)
        if kind == J.KIND_CASH:
            return printjob.cash(rec, self.till_id, self.snap)
        if kind == J.KIND_CLOSING:
            body = rec[J.K_BODY]
            return printjob.period("z", body, self.till_id, self.snap, body[R.P_CASHIER],
                                   rec[J.K_TIME] or 0, rec[J.K_SEQ], rec.get(J.K_TAG))
        return self._receipt_job(rec)

    def _receipt_job(self, rec, copy=False):
        """A sale's or refund's job from its record; a refund names the
        number of the receipt it refunds, read from that record while the
        journal still holds it."""
        of = None
        refund_of = rec[J.K_BODY].get(R.S_REFUND_OF)  # None: a refund without a receipt
        if rec[J.K_KIND] == J.KIND_STORNO and refund_of is not None:
            orig = self.journal.record(refund_of)
            if orig is not None:
                of = orig[J.K_BODY].get(R.S_NUMBER, orig[J.K_SEQ])
        return printjob.receipt(rec, self.till_id, self.snap, copy, of)

    def _input(self):
        now = self._now()
        self.last_input = now
        if now is not None:
            self.last_activity = now

    def _fail(self, text, alt=None):
        self.message = wrap(text, self.cols, alt)
        self._out.append(("beep",))

    def _fail_lines(self, line1, line2):
        self.message = (line1[:self.cols], line2[:self.cols])
        self._out.append(("beep",))

    def _info(self, line1, line2=""):
        self.message = (line1[:self.cols], line2[:self.cols])

    def _money(self, minor):
        return format_money(minor, self.snap.currency.get("decimals", 2)
                            if self.snap is not None else 2)

    def _policies(self):
        return self.snap.policies if self.snap is not None else {}

    # ---- the screen --------------------------------------------------------

    def status_flags(self):
        flags = []
        if self.training:
            flags.append("TRAINING")
        if self.needs_sync:
            flags.append("SYNC")
        elif self.offline_reason() is not None:
            flags.append("OFFLINE")
        if self.printer not in ("ok", "paper_low"):
            flags.append("PRINTER")
        text = " ".join(flags)
        while len(text) > self.cols:  # a narrow display: the first flags, whole words
            text = text[:text.rfind(" ")]
        return text

    def screen(self):
        """The two display lines for the current state."""
        w = self.cols
        if self.message is not None:
            return self.message
        p = self.prompt
        if p is not None:
            shown = "*" * len(self.entry) if p["masked"] else self.entry
            return (p["title"][:w], fit(p["label"], shown, w))
        if self.cashier is None:
            return (fit("Kassa", self.status_flags(), w), fit("Cashier no.?", self.entry, w))
        if self.locked:
            return (named("Locked", self.cashier["name"], w),
                    fit("PIN?", "*" * len(self.entry), w))
        s = self.sale
        top = fit(self.cashier["name"], self.status_flags(), w)
        if s is not None and s.tenders:
            top = fit("Paid", self._money(s.paid), w)
        elif s is not None and s.active():
            c = s.totals()["lines"][len(s.active()) - 1]
            top = fit(s.line()["name"], self._money(c["total"]), w)
        if s is not None and s.refund_of is not None and not s.tenders:
            top = fit("Refund", self._money(-s.total), w)  # what goes back: CASH or CARD
            if not self.entry and self.qty is None:
                return (top, "CASH or CARD")
        if self.entry:
            return (top, fit("%d x" % self.qty if self.qty is not None else "", self.entry, w))
        if self.qty is not None:
            label = "Qty %d x" % self.qty
            value = ""
        elif self.price is not None:
            label = "Price"
            value = self._money(self.price)
        elif s is None:
            return (top, (self.offline_reason() or self._online_line())[:w])
        elif s.tenders:
            label = "Due"
            value = self._money(s.remaining())
        else:
            label = "Subtotal" if self.subtotal_mode else "Total"
            value = self._money(s.total)
        return (top, fit(label, value, w))

    # ---- status ------------------------------------------------------------

    def _online_line(self):
        if not self.link_up or self.last_sync is None:
            return ""
        t = dates.from_unix(self.last_sync)
        return "Online, synced %02d:%02d" % (t[3], t[4])

    def offline_reason(self):
        created = self.snap.meta.get("created") if self.snap is not None else None
        return offline.offline_reason(self._now(), self.last_sync, created, self._policies())

    def _rules(self):
        return offline.rules(self._policies(), self.offline_reason() is not None)

    def _tick(self):
        if self.sale is not None and self.sale.is_paid() \
                and isinstance(self.append_error, MemoryError):
            # A paid sale that found the heap busy (the printer spooling, a
            # receipt being laid out) is retried by itself once a second:
            # the memory comes back, and the cashier need not press TOTAL.
            self._commit()
            return
        if self.sale is None and self._retry_print():
            return
        now = self._now()
        pol = self._policies()
        since = self.last_activity
        if self._cleared_at is not None and (since is None or self._cleared_at > since):
            since = self._cleared_at
        if not self.needs_sync and self.sale is None and \
                offline.unused_too_long(now, since, pol):
            self._clear_credentials(now - since)
            return
        self._offline_notice()
        idle_s = policy.get(pol, "idle_lock_minutes") * 60
        if (self.cashier is not None and not self.locked and idle_s > 0 and now is not None
                and self.last_input is not None and now - self.last_input >= idle_s):
            self.locked = True
            self.prompt = None
            self.entry = ""
            self.message = None

    def _clear_credentials(self, unused_s):
        if self.cashier is not None:
            self._sign_off_now()
        self._event(R.EV_CREDENTIALS_CLEARED, None, unused_s, tolerate=True)
        self._out.append(("wipe_credentials",))
        self.needs_sync = True
        self._cleared_at = self._now()
        self.cashier = None
        self.role = None
        self.locked = False
        self.prompt = None
        self.entry = ""
        self._info("Unused too long:", "sync before sign-on")

    def _link(self, up, synced_at):
        self.link_up = bool(up)
        if synced_at is not None and (self.last_sync is None or synced_at > self.last_sync):
            self.last_sync = synced_at
            if self.needs_sync and (self._cleared_at is None or synced_at >= self._cleared_at):
                self.needs_sync = False
                # The retention period counts again from this sync.
                self._cleared_at = synced_at

    def _processed(self, seq):
        # The link (till/link/server.py) checked seq against the journal's
        # head; a refusal leaves the mark where it was, which the link reports.
        try:
            self.mark_processed(seq)
        except (J.JournalError, OSError, MemoryError) as exc:
            self.append_error = exc
            return
        # HO has our records: that is a sync (the offline rules count from it).
        self._link(True, self._now())

    def _offline_notice(self):
        # Told once, when HO has been out of reach long enough for the offline
        # rules (InnoPos's autonomous mode), between sales; again only after
        # the till was back online.
        reason = self.offline_reason()
        if reason is None:
            self._told_offline = False
        elif not self._told_offline and self.sale is None and self.prompt is None \
                and self.last_sync is not None and self.message is None:
            self._told_offline = True
            self._info("HO out of reach:", "working on its own")

    def _apply_snapshot(self):
        if self.sale is not None or self.pending_snapshot is None:
            return
        self.snap = self.pending_snapshot
        self.pending_snapshot = None
        g = auth.Guard.from_policies(self._policies())
        self.guard.max_tries = g.max_tries
        self.guard.lockout_s = g.lockout_s
        if self.cashier is not None:
            c = self.snap.cashier(self.cashier["id"])
            if c is None:
                self._sign_off_now()
                self._info("Cashier removed", "by head office")
                return
            self.cashier = c
            self.role = self.snap.role(c["role"]) or {}

    # ---- journal -----------------------------------------------------------

    def _append(self, kind, body, flags=0, quiet=False):
        """Append a record; on success report it and count it, on failure show
        why (unless quiet) and return None. Nothing after a failed append may
        print or open the drawer."""
        try:
            seq = self.journal.append(kind, body, flags)
        except (J.JournalError, OSError, MemoryError) as exc:
            # MemoryError too: the journal raises only before the record is
            # durable (journal._write), so it is "not saved", retried by TOTAL.
            self.append_error = exc
            if not quiet:
                self._fail(_journal_message(exc))
            return None
        self._out.append(("record", seq, kind, body, flags))
        self.totals.add(seq, kind, body, flags)
        return seq

    def _event(self, ev, cashier_id, detail=None, tolerate=False, flags=0, approver=None):
        """Journal an event. tolerate: a failure is not shown, and the caller
        goes on (sign-on while the journal is damaged is how a manager gets to
        acknowledge the damage)."""
        body = {R.E_TYPE: ev}
        if cashier_id is not None:
            body[R.E_CASHIER] = cashier_id
        if detail is not None:
            body[R.E_DETAIL] = detail
        if approver is not None:
            body[R.E_APPROVER] = approver
        return self._append(J.KIND_EVENT, body, flags, quiet=tolerate)

    def _record(self, seq, kind, body, flags):
        """The record just appended, as the journal holds it (for its receipt).
        Its time is this event's clock reading, which the journal also took."""
        now = self._now()
        if now is None:
            flags |= J.FLAG_CLOCK_NOT_SET
        return {J.K_SEQ: seq, J.K_TIME: now or 0, J.K_KIND: kind, J.K_BODY: body,
                J.K_FLAGS: flags, J.K_TAG: self.journal.last_tag}

    def _record_flags(self):
        return J.FLAG_TRAINING if self.training else 0

    def mark_processed(self, seq):
        """What the sync calls instead of journal.mark_processed(seq): first a
        checkpoint of the period's totals if the newest closing or checkpoint
        could be deleted with the processed segments, now or when the journal
        later reuses their room (reports.py explains)."""
        if self.totals.anchor_seq <= seq:
            body = {R.E_TYPE: R.EV_CHECKPOINT,
                    R.E_DETAIL: self.totals.body(self.journal.last_seq)}
            cp = self.journal.append(J.KIND_EVENT, body)
            self.totals.add(cp, J.KIND_EVENT, body)
            self.totals.anchor_seq = cp
        return self.journal.mark_processed(seq)

    # ---- prompts -----------------------------------------------------------

    def _ask(self, title, label, enter, abort=None, masked=False, keys=None, hint=None,
             scan=None):
        """A prompt. enter(keyed) for TOTAL (or SIGN); keys: other keys it
        takes. hint None: digits are keyed into it; else it takes no digits
        and hint is its answer to a key it does not take (a menu's enter
        is None: TOTAL is such a key too). scan(text): a barcode scanned
        while it is open (a prompt that takes one takes PLU as TOTAL)."""
        self.prompt = {"title": title, "label": label, "enter": enter, "abort": abort,
                       "masked": masked, "keys": keys or {}, "hint": hint, "scan": scan}
        self.entry = ""

    def _prompt_key(self, k):
        p = self.prompt
        if k in p["keys"]:
            self.prompt = None
            self.entry = ""
            p["keys"][k]()
        elif k in DIGIT_KEYS and p["hint"] is None:
            if len(self.entry) + len(k) <= _MAX_ENTRY:
                self.entry += k
        elif (k in ("TOTAL", "SIGN") or k == "PLU" and p["scan"]) and p["enter"] is not None:
            entry = self.entry
            self.prompt = None
            self.entry = ""
            p["enter"](entry)
        elif k == "CLEAR":
            if self.entry:
                self.entry = ""
            else:
                self.prompt = None
                if p["abort"] is not None:
                    p["abort"]()
        else:
            self._fail(p["hint"] or "TOTAL to confirm, CLEAR to go back")

    # ---- keys --------------------------------------------------------------

    def _key(self, k):
        if k not in KEYS:
            self._fail("Unknown key %s" % (k,))
            return
        if k == "FEED":
            return  # the printer task feeds paper; nothing changes here
        if self.message is not None:
            self.message = None
            if k == "CLEAR":
                # CLEAR after an error clears what was keyed as well.
                self.entry = ""
                return
        if self.prompt is not None:
            self._prompt_key(k)
            return
        if k in DIGIT_KEYS:
            if len(self.entry) + len(k) > _MAX_ENTRY:
                self._fail("Entry too long: CLEAR and key again")
            else:
                self.entry += k
            return
        if self.cashier is None:
            self._signed_off_key(k)
        elif self.locked:
            self._locked_key(k)
        elif self.sale is not None and self.sale.is_paid():
            # Paid, but the record could not be written: retry, cancel, or
            # acknowledge journal damage so that the retry can succeed.
            if k == "TOTAL":
                self._commit()
            elif k == "CLEAR":
                self._ask_cancel()
            elif k == "REPORT":
                self._menu_ack()
            else:
                self._fail("Not saved: TOTAL to retry")
        else:
            getattr(self, "_k_" + k.lower())()

    def _take_entry(self):
        e = self.entry
        self.entry = ""
        return e

    # ---- sign-on, lock, sign-off -------------------------------------------

    def _signed_off_key(self, k):
        if k == "CLEAR":
            self.entry = ""
            return
        if k not in ("SIGN", "TOTAL"):
            self._fail("Sign on first: key no., then SIGN")
            return
        entry = self._take_entry()
        if self.snap is None:
            self._fail("No HO data: sync the till")
            return
        if self.needs_sync:
            self._fail("Sync the till before sign-on")
            return
        if not entry or "." in entry:
            self._fail("Key your cashier no., then SIGN")
            return
        cid = int(entry)
        c = self.snap.cashier(cid)
        if c is None:
            self._fail("Cashier %d unknown" % cid)
            return
        if self._locked_out(cid):
            return
        self._ask_pin("Cashier", c, lambda: self._sign_on(c))

    def _ask_pin(self, title, c, then, abort=None):
        """Ask for c's PIN, then(): after nothing keyed, or a wrong PIN while
        tries are left, the same cashier is asked again; only a PIN keyed
        and wrong counts toward the lockout."""
        def enter(pin):
            if not pin:
                self._fail("Key your PIN, then TOTAL")
            elif self._check_pin(c, pin):
                then()
                return
            elif self.guard.locked_until(c["id"], self._now()) is not None:
                return  # locked out: back to the cashier no.
            self._ask_pin(title, c, then, abort)

        self._ask(named(title, c["name"], self.cols), "PIN?", enter, masked=True, abort=abort)

    def _locked_out(self, cid):
        until = self.guard.locked_until(cid, self._now())
        if until is None:
            return False
        now = self._now()
        mins = (until - now + 59) // 60 if now is not None else 0
        self._fail("Cashier %d locked for %d min" % (cid, mins))
        return True

    def _check_pin(self, c, pin):
        """Verify c's PIN; count a wrong one and journal a lockout."""
        cid = c["id"]
        if self._locked_out(cid):
            return False
        if auth.verify_pin(c.get("pin"), pin):
            self.guard.succeeded(cid)
            return True
        until = self.guard.failed(cid, self._now())
        if until is None:
            left = self.guard.tries_left(cid)
            self._fail("Wrong PIN: %d %s left" % (left, "try" if left == 1 else "tries"))
        else:
            self._event(R.EV_LOCKOUT, cid, until, tolerate=True)
            self._locked_out(cid)
        return False

    def _sign_on(self, c):
        self.cashier = c
        self.role = self.snap.role(c["role"]) or {}
        self.locked = False
        self.training = False
        seq = self._event(R.EV_SIGN_ON, c["id"], tolerate=True)
        if self.journal.broken:
            self._fail("Journal damaged: manager REPORT 5")
        elif seq is None:
            self._fail(_journal_message(self.append_error))
        self._apply_snapshot()

    def _locked_key(self, k):
        if k == "CLEAR":
            self.entry = ""
        elif k in ("SIGN", "TOTAL") and self.entry:
            if self._check_pin(self.cashier, self._take_entry()):
                self.locked = False
        elif k == "SIGN" and self.sale is None:
            self._sign_off_now()
        else:
            self._fail("Locked: key your PIN, then TOTAL")

    def _sign_off_now(self):
        cid = self.cashier["id"]
        if self.training:
            self._event(R.EV_TRAINING_OFF, cid, tolerate=True)
        self._event(R.EV_SIGN_OFF, cid, tolerate=True)
        self.cashier = None
        self.role = None
        self.locked = False
        self.training = False
        self.qty = None
        self.price = None

    def _k_sign(self):
        if self._between_sales():
            self._sign_off_now()

    def _between_sales(self):
        """Drop what was keyed; False (and say so) while a sale is open."""
        self._take_entry()
        if self.sale is not None:
            self._fail("Finish or cancel the sale first")
            return False
        return True

    # ---- authority ---------------------------------------------------------

    def _denied(self, role, spec):
        """Why role may not do spec (a tuple), or None if it may."""
        what = spec[0]
        if what in ("line_discount", "sale_discount"):
            limit = policy.get(role, "max_line_discount_bp" if what == "line_discount"
                               else "max_sale_discount_bp", policy.ROLE)
            if spec[1] > limit:
                return "Discount over %s" % _percent(limit)
            return None
        if what == "open_price":
            limit = policy.get(role, "max_open_price", policy.ROLE)
            if limit is not None and spec[1] > limit:
                return "Price over %s" % self._money(limit)
            return None
        if what == "refund":
            if not policy.may(role, "refund"):
                return _PERMISSION_TEXT["refund"]
            limit = policy.get(role, "max_refund", policy.ROLE)
            if spec[1] > limit:
                return "Refund over %s" % self._money(limit)
            return None
        # Only HO's roles grant a permission: no other permission implies it.
        if policy.may(role, spec[1]):
            return None
        return _PERMISSION_TEXT.get(spec[1], "Needs manager")

    def _authorize(self, spec, then):
        """Run then(approver) now if the cashier may do spec (approver None),
        else after a manager with the authority keys their number and PIN."""
        why = self._denied(self.role, spec)
        if why is None:
            then(None)
            return
        self._ask(why, "Manager no.?", lambda e: self._manager_id(e, spec, then),
                  abort=lambda: self._fail("Not approved"))

    def _manager_id(self, entry, spec, then):
        if not entry or "." in entry:
            self._fail("Not approved: no manager no.")
            return
        m = self.snap.cashier(int(entry))
        if m is None:
            self._fail("Cashier %s unknown: not approved" % entry)
            return
        if self._locked_out(m["id"]):
            return
        role = self.snap.role(m["role"]) or {}
        why = self._denied(role, spec)
        if why is None and not policy.may(role, "approve"):
            why = "approve"
        if why is not None:
            self._fail("%s may not: %s" % (m["name"], why))
            return
        self._ask_pin("Manager", m, lambda: then(m["id"]),
                      abort=lambda: self._fail("Not approved"))

    # ---- items -------------------------------------------------------------

    def _can_sell(self):
        if self.journal.broken:
            self._fail("Journal damaged: call manager")
            return False
        if self.journal.space_level() == J.SPACE_FULL:
            self._fail("Memory full: sync the till")
            return False
        return True

    def _k_plu(self):
        entry = self._take_entry()
        if not entry or "." in entry:
            self._fail("Key the item no., then PLU")
            return
        n = int(entry)
        item = self._lookup(lambda: self.snap.by_plu(n)) if n <= MAX_PLU else None
        if item is False:
            return
        if item is None and len(entry) in _BARCODE_LENGTHS:
            # A barcode keyed by hand: checked like a scan.
            self._scan(entry)
            return
        if item is None:
            self._unknown(entry, False)
            return
        self._start_line(item)

    def _unknown(self, code, by_plu):
        """An item the catalog does not have: its number (after "Item" when
        the display has room) and what to do next. by_plu: a barcode whose
        item may be in the catalog under its PLU (shelf label, PLU list)."""
        first = "Item " + code
        self._fail_lines(first if len(first) <= self.cols else code,
                         "Unknown: key PLU" if by_plu else "Unknown: ask mgr")

    def _lookup(self, fn):
        try:
            return fn()
        except (OSError, SnapshotError):  # damaged files, never a wrong item
            self._fail("Catalog damaged: call manager")
            return False

    def _scan(self, text):
        if self.cashier is None or self.locked:
            self._fail("Sign on first")
            return
        code = text.strip() if isinstance(text, str) else text.decode().strip()
        if self.prompt is not None and self.prompt["scan"] is not None:
            self.message = None  # a prompt that takes scans (a copy's QR code, a price check)
            self.prompt["scan"](text)
            return
        if "|" in code:  # a receipt's QR code (no barcode has a "|"): refund it
            self._refund_qr(code)
            return
        if self.prompt is not None:
            self.message = None
            self._fail("Finish this first: TOTAL or CLEAR")
            return
        for prefix in policy.get(self._policies(), "vouchers"):
            if code.startswith(prefix):
                self._voucher(code)
                return
        if self.sale is not None and self.sale.tenders:
            self._fail("Payment started: finish the payment")
            return
        self.message = None
        found = self._scanned(text)
        if found is None:
            return
        d, code, item = found
        if d[0] == "item":
            self._start_line(item, code=d[1])
            return
        if d[0] == "weight":
            if not item["weighed"]:
                self._fail("Item %d not sold by weight" % item["plu"])
                return
            self._start_line(item, code=code, grams=d[2], flags=R.LF_WEIGHT_FROM_CODE)
        else:
            self._start_line(item, code=code, price=d[2], flags=R.LF_PRICE_FROM_CODE)

    def _scanned(self, text):
        """(decoded barcode, code as scanned, item) for a scan, or None after
        saying why not (a misread, an unknown item, a damaged catalog)."""
        try:
            d = barcode.decode(text, self.snap.meta.get("barcode_rules") or (),
                               policy.get(self._policies(), "eight_digit"))
        except barcode.BarcodeError as exc:
            self._fail_lines("Misread: scan again", exc.code)
            return None
        except ValueError:
            self._fail("Barcode rules damaged: call manager")
            return None
        code = text.strip() if isinstance(text, str) else text.decode().strip()
        if d[0] == "item":
            item = self._lookup(lambda: self.snap.by_barcode(d[1]))
            if item is None:
                self._unknown(d[1], True)
        else:
            item = self._lookup(lambda: self.snap.by_plu(int(d[1])))
            if item is None:
                self._unknown(code, False)  # a scale or price label: its PLU is the label's
        return (d, code, item) if item else None

    def _start_line(self, item, code=None, grams=None, price=None, flags=0):
        if not self._can_sell():
            return
        qty = self.qty
        keyed = self.price
        self.qty = None
        self.price = None
        self.subtotal_mode = False
        if self.sale is not None and self.sale.left is not None:
            self._refund_pick(item["plu"], qty)
            return
        if qty is not None and (grams is not None or item["weighed"] or price is not None):
            self._fail("Quantity not allowed for this label")
            return
        if keyed is not None and (grams is not None or price is not None):
            self._fail("Price is on the label: no PRICE")
            return
        if item["weighed"] and grams is None and price is None:
            self._fail("Sold by weight: scan its label")
            return
        line = {"item": item, "qty": qty, "grams": grams, "price": price, "code": code,
                "flags": flags, "approver": None}
        if keyed is not None:
            line["price"] = keyed
            line["flags"] |= R.LF_OPEN_PRICE if item["open_price"] else R.LF_PRICE_OVERRIDE
            line["keyed"] = True
        self._continue_line(line)

    def _continue_line(self, line):
        item = line["item"]
        rules = self._rules()
        if item.get("min_age") and not line["flags"] & R.LF_AGE_CHECKED:
            def ok():
                line["flags"] |= R.LF_AGE_CHECKED
                self._continue_line(line)
            self._ask("Age %d+ checked?" % item["min_age"], "TOTAL=yes",
                      lambda e: ok(), abort=lambda: self._fail("Not sold: age not checked"),
                      hint=_YES_NO)
            return
        if item["open_price"] and line["price"] is None:
            if not rules["open_price"]:
                self._fail("Offline: no open prices")
                return
            self._ask(item["name"], "Price?", lambda e: self._open_price(line, e),
                      abort=lambda: self._fail("Item not added"))
            return
        if line.get("keyed"):
            line["keyed"] = False
            if item["open_price"]:
                if not rules["open_price"]:
                    self._fail("Offline: no open prices")
                    return
                spec = ("open_price", line["price"])
            else:
                if not rules["price_override"]:
                    self._fail("Offline: no price changes")
                    return
                spec = ("perm", "price_override")
            self._authorize(spec, lambda who: self._approved_line(line, who))
            return
        self._add_line(line)

    def _approved_line(self, line, who):
        line["approver"] = who
        self._add_line(line)

    def _open_price(self, line, entry):
        price = self._parse_money(entry)
        if price is None:
            return
        if price == 0:
            self._fail("Key a price above 0")
            return
        line["price"] = price
        line["flags"] |= R.LF_OPEN_PRICE
        line["keyed"] = True
        self._continue_line(line)

    def _new_sale(self):
        pol = self._policies()
        return Sale(self.snap.tax_rates(), bool(policy.get(pol, "prices_include_tax")),
                    bool(policy.get(pol, "round_per_line")), policy.get(pol, "cash_rounding"),
                    policy.get(pol, "max_lines"))

    def _add_line(self, line):
        if self.sale is None:
            self.sale = self._new_sale()
            self.sale_training = self.training
        if self.sale.refund_of == 0:  # a refund without a receipt: the items come back
            if line["grams"] is None:
                line["qty"] = -(line["qty"] or 1)
            else:
                line["grams"] = -line["grams"]
        try:
            self.sale.add_line(line["item"], qty=line["qty"], grams=line["grams"],
                               price=line["price"], code=line["code"], flags=line["flags"],
                               approver=line["approver"])
        except (SaleError, ValueError) as exc:
            self._fail(str(exc))

    def _parse_money(self, entry):
        try:
            return parse_keyed(entry, self.snap.currency.get("decimals", 2))
        except ValueError as exc:
            self._fail(str(exc))
            return None

    def _keyed_money(self):
        """The amount keyed before this key: None if nothing was keyed, False
        (after showing why) if it is not an amount."""
        entry = self._take_entry()
        if not entry:
            return None
        value = self._parse_money(entry)
        return False if value is None else value

    def _k_qty(self):
        entry = self._take_entry()
        if not entry or "." in entry or not 0 < int(entry) <= _MAX_QTY:
            self._fail("Key a quantity 1-%d, then QTY" % _MAX_QTY)
            return
        if self.sale is not None and self.sale.tenders:
            self._fail("Payment started: finish the payment")
            return
        self.qty = int(entry)

    def _k_price(self):
        entry = self._take_entry()
        if self._refunding():
            return
        if not entry:
            self._price_check("")  # PRICE alone: what does an item cost?
            return
        price = self._parse_money(entry)
        if price is not None:
            self.price = price

    def _price_check(self, entry, code=None):
        """The price-check prompt, and the item keyed into it (PLU or TOTAL)
        or scanned (code): its name and price are shown, nothing is sold, and
        the prompt stays for the next item until CLEAR. A price label shows
        its own price; a weighed item its price per kg."""
        self._ask("Price check", "Scan or PLU", self._price_check,
                  scan=lambda text: self._price_check("", text))
        found = None
        if code is None and entry:
            if "." in entry:
                self._fail("Key the item no., then PLU")
                return
            n = int(entry)
            item = self._lookup(lambda: self.snap.by_plu(n)) if n <= MAX_PLU else None
            if item is None and len(entry) in _BARCODE_LENGTHS:
                code = entry  # a barcode keyed by hand
            elif item is None:
                self._unknown(entry, False)
            elif item:
                found = (("item",), entry, item)
        if code is not None:
            found = self._scanned(code)
        if found is None:
            return
        d, _, item = found
        label = "Price"
        if d[0] == "price":
            price = d[2]
        else:
            price = item["price"]
            if item["weighed"]:
                label = "Price/kg"
        self._info(item["name"], fit(label, self._money(price), self.cols))

    def _k_void(self):
        entry = self._take_entry()
        s = self.sale
        if s is None:
            self._fail("No sale in progress")
            return
        if s.tenders:
            self._fail("Payment started: no void")
            return
        if "." in entry:
            self._fail("Key a line no., then VOID")
            return
        line = s.line(int(entry) if entry else None)
        if line is None:
            self._fail("No line %s to void" % entry if entry else "No line to void")
            return
        self._authorize(("perm", "void_line"), lambda who: self._void(line, who))

    def _void(self, line, who):
        s = self.sale
        s.void(line)
        if who is not None:
            line["voided_by"] = who
        self._info(named("VOID", line["name"], self.cols),
                   fit("Total", self._money(s.total), self.cols))

    def _k_clear(self):
        if self.entry or self.qty is not None or self.price is not None:
            self.entry = ""
            self.qty = None
            self.price = None
            return
        if self.sale is not None:
            if self.sale.refund_of is not None and not self.sale.tenders:
                self._refund_abort()  # nothing paid out yet: nothing to journal
            else:
                self._ask_cancel()

    def _ask_cancel(self):
        if any(t[0] != R.TENDER_CASH for t in self.sale.tenders):
            self._fail("Card paid: finish the sale")
            return
        if not self.sale.active():
            # Every line voided (each void allowed on its own), nothing paid:
            # nothing is left to lose, so it goes without a question or a
            # manager, and its cancel event keeps the voids for the audit.
            self._cancel(None)
            return
        self._ask("Cancel sale?", "TOTAL=yes",
                  lambda e: self._authorize(("perm", "void_sale"), self._cancel), hint=_YES_NO)

    def _cancel(self, who):
        s = self.sale
        body = s.body(self.cashier["id"], self.snap.version)
        flags = J.FLAG_TRAINING if self.sale_training else 0
        back = s.paid
        # Cash already taken goes back through the drawer, which opens only
        # for what the journal holds; a sale without payment can always go.
        seq = self._event(R.EV_CANCEL, self.cashier["id"], body, tolerate=not back, flags=flags,
                          approver=who)
        if seq is None and back:
            return
        self.sale = None
        self.subtotal_mode = False
        if seq is None:
            self._info("Cancelled", "(not journaled)")
        elif back:
            self._info("Cancelled:", fit("give back", self._money(back), self.cols))
        else:
            self._info("Sale cancelled")
        if back and not self.sale_training:
            self._out.append(("drawer",))
        self._apply_snapshot()

    # ---- discounts ---------------------------------------------------------

    def _k_discount(self):
        entry = self._take_entry()
        s = self.sale
        if self._refunding():
            return
        if s is None or not s.active():
            self._fail("No item to discount")
            return
        if s.tenders:
            self._fail("Payment started: no discount")
            return
        if not entry:
            self._fail("Key % or amount, then DISCOUNT")
            return
        on_sale = self.subtotal_mode
        tot = s.totals()
        if on_sale:
            base = tot["subtotal"]
        else:
            base = tot["lines"][len(s.active()) - 1]["amount"]
        if "." in entry:
            kind = R.DISC_AMOUNT
            value = self._parse_money(entry)
            if value is None:
                return
            if base <= 0 or value > base:
                self._fail("Discount bigger than the amount")
                return
            bp = (value * _BP + base - 1) // base
        else:
            kind = R.DISC_PERCENT
            pct = int(entry)
            if not 0 < pct <= 100:
                self._fail("Discount is 1-100 %")
                return
            value = bp = pct * 100
        if value == 0:
            self._fail("Key a discount above 0")
            return
        spec = ("sale_discount" if on_sale else "line_discount", bp)
        line = s.line()
        self._authorize(spec, lambda who: self._apply_discount(on_sale, line, kind, value, who))

    def _apply_discount(self, on_sale, line, kind, value, who):
        s = self.sale
        try:
            if on_sale:
                s.set_sale_discount(kind, value, who)
            else:
                s.set_line_discount(line, kind, value, who)
        except (SaleError, ValueError) as exc:
            self._fail(str(exc))
            return
        off = s.totals()["sale_discount"] if on_sale else \
            s.totals()["lines"][len(s.active()) - 1]["discount"]
        self._info(fit("Discount", "-" + self._money(off), self.cols),
                   fit("Total", self._money(s.total), self.cols))

    def _k_subtotal(self):
        self._take_entry()
        if self.sale is None:
            self._fail("No sale in progress")
            return
        self.subtotal_mode = True

    # ---- tenders -----------------------------------------------------------

    def _payable(self):
        s = self.sale
        if s is None:
            self._fail("No sale in progress")
            return None
        if not s.active():
            self._fail("No items in the sale")
            return None
        if s.refund_of is not None and not self._refund_allowed(-s.total, s.refund_of):
            return None
        limit = self._rules()["max_sale"]
        if s.refund_of is None and limit is not None and s.total > limit:
            self._fail("Offline: sales up to %s" % self._money(limit))
            return None
        return s

    def _k_total(self):
        if self.sale is None:
            self._take_entry()
            return
        self._k_cash()

    def _k_cash(self):
        given = self._keyed_money()
        s = self._payable()
        if s is None or given is False or not self._refund_approved(s, self._k_cash):
            return
        try:
            change = s.pay_cash(given)
        except SaleError as exc:
            self._fail(str(exc))
            return
        self.subtotal_mode = False
        if s.is_paid():
            self._commit()
        elif change == 0:
            self._info(fit("Cash", self._money(given), self.cols),
                       fit("Due", self._money(s.remaining()), self.cols))

    def _k_card(self):
        amount = self._keyed_money()
        s = self._payable()
        if s is None or amount is False or not self._refund_approved(s, self._k_card):
            return
        if amount is not None:
            rem = s.remaining()
            if not 0 < amount <= rem:
                self._fail("Card amount 0.01 to %s" % self._money(rem))
                return
        self._ask_card(amount)

    def _ask_card(self, amount):
        s = self.sale
        shown = s.remaining() if amount is None else amount
        self._ask(fit("Card", self._money(shown), self.cols), "Approval?",
                  lambda ref: self._card(amount, ref), abort=self._card_abort)

    def _card_abort(self):
        self._fail("Card payment not taken")

    def _card(self, amount, ref):
        if not ref or "." in ref or len(ref) > _MAX_REF:
            self._ask_card(amount)
            self._fail("Key the terminal's approval code")
            return
        s = self.sale
        try:
            s.pay_card(amount, ref)
        except SaleError as exc:
            self._fail(str(exc))
            return
        self.subtotal_mode = False
        if s.is_paid():
            self._commit()

    def _commit(self):
        """Journal the paid sale, then (only then) print and open the drawer."""
        s = self.sale
        kind = J.KIND_SALE if s.refund_of is None else J.KIND_STORNO
        flags = J.FLAG_TRAINING if self.sale_training else 0
        body = s.body(self.cashier["id"], self.snap.version)
        # Its document number, taken by this append: a failed or cut append
        # takes none (reports.py, "Document numbers").
        no = body[R.S_NUMBER] = self.totals.numbers[reports.series(kind, flags)] + 1
        seq = self._append(kind, body, flags)
        if seq is None:
            lines = _not_saved(self.append_error)
            self.message = (lines[0][:self.cols], lines[1][:self.cols])
            return
        # The sale is journaled: the engine's state follows first, so nothing
        # that fails from here (a full heap while the receipt is built) can
        # leave it paid and open, to be journaled a second time.
        self.sale = None
        self.subtotal_mode = False
        self.last_receipt = seq
        self._print(seq, printjob.receipt, self._record(seq, kind, body, flags), self.till_id,
                    self.snap, False, self._refund_no)
        cash = any(t[0] == R.TENDER_CASH for t in s.tenders)
        if cash and not flags:
            self._out.append(("drawer",))
        if s.refund_of is not None:
            self._info(fit("Refunded", self._money(-s.paid), self.cols),
                       fit("Refund", str(no), self.cols))
        elif s.change:
            self._info(fit("Change", self._money(s.change), self.cols),
                       fit("Total", self._money(s.total), self.cols))
        else:
            self._info(fit("Paid", self._money(s.paid), self.cols),
                       fit("Receipt", str(no), self.cols))
        if self.printer not in ("ok", "paper_low"):
            self.message = (self.message[0],
                            ("Printer: " + self.printer.replace("_", " "))[:self.cols])
        self._apply_snapshot()

    def _print(self, seq, build, *args):
        """Print the job build(*args) for record seq, which is journaled
        already: if the heap has no room to build it, the receipt is reported
        as not printed (journaled, REPORT 3 reprints it) instead of failing
        the event after its record."""
        try:
            self._out.append(("print", build(*args)))
        except MemoryError:
            self._print_later(seq)

    # ---- no sale, refund ---------------------------------------------------

    def _k_no_sale(self):
        if not self._between_sales():
            return
        self._authorize(("perm", "no_sale"), self._no_sale)

    def _no_sale(self, who):
        body = {R.N_CASHIER: self.cashier["id"]}
        if who is not None:
            body[R.N_APPROVER] = who
        self._drawer_record(J.KIND_NO_SALE, body, printjob.no_sale, "No sale")

    def _drawer_record(self, kind, body, job, line1):
        """Journal a record that opens the drawer (a no-sale, a cash
        movement), then print its slip and open the drawer (in training the
        drawer stays shut); line1 is the display's first line."""
        flags = self._record_flags()
        seq = self._append(kind, body, flags)
        if seq is None:
            return
        self._print(seq, job, self._record(seq, kind, body, flags), self.till_id, self.snap)
        if not flags:
            self._out.append(("drawer",))
        self._info(line1, "Drawer open" if not flags else "(training)")

    def _k_refund(self):
        if not self._between_sales():
            return
        self._ask("Refund", "Receipt no.?", self._refund_receipt)

    def find_record(self, seq):
        """The decoded journal record seq, or None if it is not on flash."""
        return self.journal.record(seq)

    def document_seq(self, number, refund=False):
        """The journal seq of the receipt (refund=True: the refund) printed
        with `number`, or None if the till holds no such receipt (never
        printed, or its room reused after HO processed it). In training mode
        the training receipts' own numbers. What a cashier keys to find an
        earlier receipt goes through here (refund, copy); docs/records.md,
        "Document numbers"."""
        ser = reports.series(J.KIND_STORNO if refund else J.KIND_SALE, self._record_flags())
        last = self.totals.numbers[ser]
        if 0 < number <= last:
            seq = reports.find_number(self.journal, ser, number, last)
            if seq is not None:
                return seq
        # A receipt of a firmware before document numbers was printed with
        # its journal seq, and its record has no number.
        rec = self.find_record(number)
        if rec is not None and R.S_NUMBER not in rec[J.K_BODY] and \
                reports.series(rec[J.K_KIND], rec.get(J.K_FLAGS, 0)) == ser:
            return number
        return None

    def _refund_receipt(self, entry):
        if not entry:
            self._refund_without_receipt()
            return
        if "." in entry:
            self._fail("Key the receipt no.")
            return
        self._refund_of(int(entry), None)

    def _refund_qr(self, text):
        # A receipt's QR code (till.pos.receipt.qr_payload), taken between
        # sales or for the refund's "Receipt no.?".
        if self.sale is not None:
            self._fail("Finish or cancel the sale first")
            return
        if self.prompt is not None and self.prompt["label"] != "Receipt no.?":
            self._fail("Finish this first: TOTAL or CLEAR")
            return
        self.prompt = None
        self.entry = ""
        code = receipt.parse_qr(text)
        if code is None:
            self._fail("Misread: scan again")
            return
        self._refund_of(code[1], code)

    def _qr_record(self, code):
        """The record a receipt's QR code names (code: parse_qr's (till id,
        seq, tag)), or None unless the code is this till's and carries the
        record's own chain tag: another till's receipt is never taken for one
        of ours."""
        if not code or code[0] != self.till_id:
            return None
        rec = self.find_record(code[1])
        return rec if rec is not None and rec.get(J.K_TAG) == code[2] else None

    def _refund_of(self, n, qr):
        """Refund receipt number n (keyed: its document number), or the receipt
        whose QR code was scanned (qr: parse_qr's (till id, seq, tag); n: the
        seq): what is left of
        it, the manager if needed, then the cashier picks items or pays it all back."""
        if qr is None:
            seq = self.document_seq(n)
            rec = None if seq is None else self.find_record(seq)
        else:
            seq = n
            rec = self._qr_record(qr)
            if rec is not None:
                n = rec[J.K_BODY].get(R.S_NUMBER, seq)  # the number on its paper
        if rec is None or rec[J.K_KIND] != J.KIND_SALE:
            self._fail("Receipt %d not found on this till" % n)
            return
        if bool(rec.get(J.K_FLAGS, 0) & J.FLAG_TRAINING) != self.training:
            self._fail("Receipt %d is %s training" % (n, "not" if self.training else "from"))
            return
        pol = self._policies()
        days = policy.get(pol, "refund_days")
        now = self._now()
        if days and now and rec[J.K_TIME] and now - rec[J.K_TIME] > days * _DAY_S:
            self._fail("Receipt %d too old to refund" % n)
            return
        if not self._can_sell():
            return
        from till.pos import refund  # loaded for the first refund: the heap pays per module

        try:
            left = refund.of(self.journal, rec, seq)
            rec = None
            if left.empty():
                self._fail("Receipt %d already refunded" % n)
                return
            storno = refund.storno(left, bool(policy.get(pol, "prices_include_tax")),
                                   bool(policy.get(pol, "round_per_line")),
                                   policy.get(pol, "cash_rounding"))
        except (SaleError, ValueError) as exc:
            self._fail(str(exc))
            return
        amount = -storno.total
        if self._refund_allowed(amount, seq):
            self._refund_no = n  # for its paper: the number the customer's receipt shows
            self._approve_refund(storno, amount)

    def _refund_without_receipt(self):
        # Only where HO's policy allows, up to its limit: the approval covers
        # any refund up to it, and the payout checks the amount.
        limit = policy.get(self._policies(), "max_refund_without_receipt")
        if not limit:
            self._fail("Key the receipt no.")
            return
        if not self._can_sell():
            return
        s = self._new_sale()
        s.refund_of = 0
        self._refund_no = None
        self._approve_refund(s, limit)

    def _approve_refund(self, storno, amount):
        # A cashier whose role may refund starts on her own right: what she
        # picks is held to her limit at the payout (_refund_approved), so a
        # line of a big receipt needs no manager. Without the permission, a
        # manager approves at once, up to amount (the whole receipt's).
        if policy.may(self.role, "refund"):
            storno.approver = None
            self.sale = storno
            self.sale_training = self.training
        else:
            self._authorize(("refund", amount), lambda who: self._refund_start(storno, who))

    def _refund_approved(self, s, retry):
        """True if s is not a refund waiting for approval; else its amount is
        held to the cashier's limit now, a manager approving beyond it, and
        retry() goes on with the payout once approved."""
        if s.refund_of is None or s.approver is not None:
            return True

        def approved(who):
            s.approver = self.cashier["id"] if who is None else who
            retry()

        self._authorize(("refund", -s.total), approved)
        return False

    def _refund_allowed(self, amount, refund_of):
        limit = self._rules()["max_refund"]
        if limit is not None and amount > limit:
            self._fail("Offline: refunds up to %s" % self._money(limit))
            return False
        limit = policy.get(self._policies(), "max_refund_without_receipt")
        if refund_of == 0 and amount > limit:
            self._fail("No receipt: up to %s" % self._money(limit))
            return False
        return True

    def _refund_start(self, storno, who):
        storno.approver = self.cashier["id"] if who is None else who
        self.sale = storno
        self.sale_training = self.training
        # The whole receipt is refunded as it stands (CASH, CARD, TOTAL);
        # scanning items, or keying their PLU, refunds those only.

    def _refund_pick(self, plu, qty):
        from till.pos import refund

        s = self.sale
        pol = self._policies()
        try:
            picks = s.left.pick(s, plu, qty)
            new = refund.storno(s.left, bool(policy.get(pol, "prices_include_tax")),
                                bool(policy.get(pol, "round_per_line")),
                                policy.get(pol, "cash_rounding"), picks)
        except (SaleError, ValueError) as exc:
            self._fail(str(exc))
            return
        new.approver = s.approver
        self.sale = new
        for ln in new.lines:
            if ln["plu"] == plu:
                self._info(fit(ln["name"], "%d x" % -ln["qty"] if "qty" in ln else "", self.cols),
                           fit("Refund", self._money(-new.total), self.cols))

    def _refunding(self):
        """True (and say so) while a refund is rung up: its prices and
        discounts are the receipt's, or the catalog's."""
        if self.sale is not None and self.sale.refund_of is not None:
            self._fail("Refund: no price or discount")
            return True
        return False

    def _refund_abort(self):
        self.sale = None
        self._info("Refund abandoned")

    def _voucher(self, code):
        """A voucher scanned while a sale is paid: it pays the amount keyed
        before it (nothing keyed: all that is due); its code is the tender's
        reference, for HO's voucher accounts."""
        amount = self._keyed_money()
        s = self._payable()
        if s is None or amount is False:
            return
        if s.refund_of is not None:
            self._fail("Pay back by CASH or CARD")
            return
        rem = s.remaining()
        if amount is not None and not 0 < amount <= rem:
            self._fail("Voucher 0.01 to %s" % self._money(rem))
            return
        if len(code) > _MAX_VOUCHER:
            self._fail("Misread: scan again")
            return
        s.pay_card(amount, code, R.TENDER_VOUCHER)
        self.subtotal_mode = False
        if s.is_paid():
            self._commit()
        else:
            self._info(fit("Voucher", self._money(s.tenders[-1][1]), self.cols),
                       fit("Due", self._money(s.remaining()), self.cols))

    # ---- reports and the REPORT menu -----------------------------------------

    def _k_report(self):
        if not self._between_sales():
            return
        self._ask("1X 2Z 3Copy 6In", "4Train 5Ack 7Out", None, hint="Key 1 to 7, or CLEAR",
                  keys={"1": self._menu_x, "2": self._menu_z, "3": self._ask_copy,
                        "4": self._menu_training, "5": self._menu_ack,
                        "6": lambda: self._cash_amount(1, None),
                        "7": lambda: self._cash_amount(-1, None)})

    def _menu_x(self):
        self._authorize(("perm", "x_report"), self._x_report)

    def _x_report(self, who):
        try:
            p = self.totals.body(self.journal.last_seq)
            job = printjob.period("x", p, self.till_id, self.snap, self.cashier["id"],
                                  self._now() or 0, flags=self._record_flags())
        except MemoryError:
            self._not_printed(None)  # not journaled: the cashier asks again
            return
        self._out.append(("print", job))
        self._info(fit("X", self._money(self.totals.sales + self.totals.refunds), self.cols),
                   fit("Sales", str(self.totals.count(R.C_SALES)), self.cols))

    def _menu_z(self):
        if self.training:
            self._fail("Leave training mode before Z")
            return
        self._authorize(("perm", "z_report"), lambda who: self._z_count(who, None))

    def _z_count(self, who, entry):
        """The cashier counts the drawer before the Z (blind: the expected
        cash is shown only on the Z, beside the count and the difference)."""
        if entry is not None:
            counted = self._parse_money(entry) if entry else None
            if counted is not None:
                self._z_closing(who, counted)
                return
        self._ask("Z closing", "Cash counted", lambda e: self._z_count(who, e))
        if entry == "":
            self._fail("Key an amount, then TOTAL")

    def _z_closing(self, who, counted):
        t = self.totals
        body = t.closing_body(self.journal.last_seq, self.cashier["id"], self.snap.version)
        if who is not None:
            body[R.P_APPROVER] = who
        body[R.P_COUNTED] = counted
        seq = self._append(J.KIND_CLOSING, body)
        if seq is None:
            return
        self.totals = t.next_period(seq)  # first: the closing is journaled
        self._print(seq, printjob.period, "z", body, self.till_id, self.snap,
                    self.cashier["id"], self._now() or 0, seq, self.journal.last_tag)
        diff = counted - body[R.P_EXPECTED]
        self._info(fit("Z %d" % body[R.P_Z], self._money(body[R.P_SALES] + body[R.P_REFUNDS]),
                       self.cols),
                   fit("Difference", self._money(diff), self.cols) if diff else "Day closed")

    def _ask_copy(self, refund=False):
        # Any receipt still in the journal, rebuilt from its record (never a
        # kept copy of the paper); TOTAL alone reprints the last one. Sales
        # and refunds have numbers of their own: REFUND asks for a refund's.
        # Or its QR code scanned: till id, seq and chain tag must be this
        # till's, so a receipt of another till is never taken for one of ours.
        self._ask("Reprint refund no." if refund else "Reprint receipt no.", "TOTAL=last",
                  lambda e: self._copy(e, refund),
                  keys=None if refund else {"REFUND": lambda: self._ask_copy(True)},
                  scan=lambda text: self._copy("", code=receipt.parse_qr(text) or ()))

    def _copy(self, entry, refund=False, code=None):
        """A copy of the receipt (or refund) keyed by its document number
        (nothing: the last one), or whose QR code was scanned (code:
        parse_qr's (till id, seq, tag), () for a code that is not a receipt's)."""
        if code is not None:
            self.prompt = None
            rec = self._qr_record(code)
            if rec is None:
                self._fail("Not a receipt of this till")
                return
            if rec[J.K_KIND] not in (J.KIND_SALE, J.KIND_STORNO):
                self._fail("No. %d is not a receipt" % code[1])  # a Z's QR code
                return
            seq = code[1]
        else:
            if entry and "." in entry:
                self._fail("Key the receipt no.")
                return
            n = int(entry) if entry else None
            seq = self.last_receipt if n is None else self.document_seq(n, refund)
            rec = None if seq is None else self.find_record(seq)
            if rec is None:  # document_seq finds only receipts; the last one is one
                if n is None:
                    self._fail("No receipt to copy")
                else:
                    self._fail("%s %d no longer on till" % ("Refund" if refund else "Receipt", n))
                return
        try:  # laid out before the copy is journaled: a copy that is not made is not recorded
            job = self._receipt_job(rec, True)
        except MemoryError:
            self._copy_not_printed()
            return
        if self._event(R.EV_COPY, self.cashier["id"], seq, flags=self._record_flags()) is None:
            return
        self._out.append(("print", job))
        self._info("Copy printed", fit("Refund" if job["kind"] == "storno" else "Receipt",
                                       str(job["number"]), self.cols))

    def _cash_amount(self, sign, entry, amount=None):
        """Cash in (sign 1: the float, change brought in) or out (sign -1: a
        paid-out, a pickup): the amount, then a reason no. (optional, a note:
        digits and points as keyed), then a manager if the cashier's role
        lacks cash_in_out; journaled before the drawer opens."""
        if not self._can_sell():
            return
        title = "Cash in" if sign > 0 else "Cash out"
        if amount is not None:
            if entry is None:
                self._ask(fit(title, self._money(amount), self.cols), "Reason no.?",
                          lambda e: self._cash_amount(sign, e, amount))
            else:
                self._authorize(("perm", "cash_in_out"),
                                lambda who: self._cash(amount, entry, who))
            return
        amount = self._parse_money(entry) if entry else None  # None: it said why
        if amount:
            self._cash_amount(sign, None, sign * amount)
            return
        self._ask(title, "Amount?", lambda e: self._cash_amount(sign, e))
        if entry == "" or amount == 0:
            self._fail("Key an amount, then TOTAL")

    def _cash(self, amount, reason, who):
        body = {R.N_CASHIER: self.cashier["id"], R.M_AMOUNT: amount}
        if reason:
            body[R.M_REASON] = reason
        if who is not None:
            body[R.N_APPROVER] = who
        self._drawer_record(J.KIND_CASH, body, printjob.cash,
                            fit("Cash in" if amount > 0 else "Cash out", self._money(amount),
                                self.cols))

    def _copy_not_printed(self):
        self._fail_lines("Copy not printed", "Busy: try again")

    def _menu_training(self):
        self._authorize(("perm", "training"), self._toggle_training)

    def _toggle_training(self, who):
        ev = R.EV_TRAINING_OFF if self.training else R.EV_TRAINING_ON
        if self._event(ev, self.cashier["id"], approver=who) is None:
            return
        self.training = not self.training
        self._info("Training mode", "ON" if self.training else "OFF")

    def _menu_ack(self):
        if not self.journal.broken:
            self._info("Journal is fine")
            return
        self._authorize(("perm", "ack_journal"), self._ack)

    def _ack(self, who):
        by = self.cashier["id"] if who is None else who
        try:
            seq = self.journal.acknowledge("cashier %d" % by, "at the till")
        except (J.JournalError, OSError) as exc:
            self._fail(_journal_message(exc))
            return
        if seq is not None:
            rec = self.find_record(seq)
            self._out.append(("record", seq, J.KIND_ACK, rec[J.K_BODY] if rec else None, 0))
            self.totals.add(seq, J.KIND_ACK, {}, 0)
        self._info("Journal damage", "acknowledged")
