# Period totals for the X report and the Z closing, and their recovery from the
# journal after a restart.
#
# A period runs from one Z closing to the next. Its totals are never stored on
# their own: they are the sum of the period's records, so a power cut cannot
# make them disagree with the journal. On start the engine rebuilds them with
# recover(): the newest closing (or checkpoint, see below) on flash anchors the
# sum and every record after it is added.
#
# Checkpoints: once head office has processed records, the journal may delete
# whole segments of them (when it needs their room: at the mark or any later
# append), possibly records of the open period. At the mark a checkpoint event
# carrying the totals so far is appended (Engine.mark_processed), so the newest
# anchor is always after the processed mark, still on flash, and covers what
# was deleted.
#
# Document numbers (docs/records.md, "Document numbers") live here too: like
# the grand total they run on across periods, each sale or refund record
# carries its own, and closings and checkpoints carry the last one of each
# series, so recover() finds them where it finds the totals.
from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x


_SERIES = const(4)  # sales, refunds, training sales, training refunds


def series(kind, flags):
    """The document-number series of a record: 0 sales, 1 refunds, 2 and 3
    the same in training mode (their own numbers, so that practice takes no
    number from the real receipts); None for a kind that has no number."""
    if kind != J.KIND_SALE and kind != J.KIND_STORNO:
        return None
    return (kind == J.KIND_STORNO) + (2 if flags & J.FLAG_TRAINING else 0)


class Totals:
    """Running totals of one period (docs/records.md, "Period totals"), and
    the last document number of each series."""

    def __init__(self, z=1, first=1, grand_start=0, numbers=None):
        self.z = z
        self.first = first
        self.last = first - 1
        self.taxes = {}  # (class, rate_ppm) -> [net, tax, gross]
        self.tenders = {}  # tender type -> amount
        self.counts = {}
        self.sales = 0
        self.refunds = 0
        self.rounding = 0
        self.discounts = 0
        self.cash_in = 0  # cash movements (KIND_CASH) into the drawer ...
        self.cash_out = 0  # ... and out of it (negative)
        self.grand_start = grand_start
        self.incomplete = False
        self.anchor_seq = 0  # seq of the closing or checkpoint the totals start from
        self.numbers = list(numbers) if numbers else [0] * _SERIES

    @property
    def grand_total(self):
        return self.grand_start + self.sales + self.refunds

    def expected(self):
        """The cash the drawer should hold: cash taken in sales and paid back
        in refunds, plus the cash put in and taken out outside sales."""
        return self.tenders.get(R.TENDER_CASH, 0) + self.cash_in + self.cash_out

    def count(self, what):
        return self.counts.get(what, 0)

    def _bump(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    def add(self, seq, kind, body, flags=0):
        """Count one journal record of this period."""
        self.last = seq
        self._number(kind, body, flags)
        if flags & J.FLAG_TRAINING:
            if kind in (J.KIND_SALE, J.KIND_STORNO, J.KIND_NO_SALE, J.KIND_CASH):
                self._bump(R.C_TRAINING)
            return
        if kind in (J.KIND_SALE, J.KIND_STORNO):
            # Every field is read before anything is counted, so a body this
            # firmware did not write changes nothing (reports.recover).
            total = body[R.S_TOTAL]
            parts = (body[R.S_TAXES], body[R.S_TENDERS], body[R.S_LINES])
            if kind == J.KIND_SALE:
                self._bump(R.C_SALES)
                self.sales += total
            else:
                self._bump(R.C_STORNOS)
                self.refunds += total
            self._money(body, parts)
        elif kind == J.KIND_NO_SALE:
            self._bump(R.C_NO_SALES)
        elif kind == J.KIND_CASH:
            amount = body[R.M_AMOUNT]
            if amount > 0:
                self._bump(R.C_CASH_INS)
                self.cash_in += amount
            else:
                self._bump(R.C_CASH_OUTS)
                self.cash_out += amount
        elif kind == J.KIND_EVENT and body.get(R.E_TYPE) == R.EV_CANCEL:
            self._bump(R.C_CANCELLED)

    def _number(self, kind, body, flags):
        s = series(kind, flags)
        if s is not None:
            n = body.get(R.S_NUMBER)
            if isinstance(n, int) and n > self.numbers[s]:
                self.numbers[s] = n

    def _money(self, body, parts):
        taxes, tenders, lines = parts
        for e in taxes:
            key = (e[0], e[1])
            t = self.taxes.get(key)
            if t is None:
                t = self.taxes[key] = [0, 0, 0]
            t[0] += e[2]
            t[1] += e[3]
            t[2] += e[4]
        for t in tenders:
            self.tenders[t[0]] = self.tenders.get(t[0], 0) + t[1]
        self.rounding += body.get(R.S_ROUNDING, 0)
        d = body.get(R.S_DISCOUNT)
        if d:
            self.discounts += d[2]
        for ln in lines:
            if ln.get(R.L_FLAGS, 0) & R.LF_VOIDED:
                self._bump(R.C_VOIDED_LINES)
            else:
                d = ln.get(R.L_DISCOUNT)
                if d:
                    self.discounts += d[2]

    def body(self, last_seq):
        """The period totals map (P_* keys) for the records up to last_seq, as a
        closing or checkpoint carries it."""
        self.last = last_seq
        taxes = [[k[0], k[1], v[0], v[1], v[2]] for k, v in self.taxes.items()]
        taxes.sort(key=lambda e: (e[0], e[1]))
        tenders = [[k, v] for k, v in self.tenders.items()]
        tenders.sort(key=lambda e: e[0])
        out = {R.P_Z: self.z, R.P_FIRST: self.first, R.P_LAST: self.last,
               R.P_TAXES: taxes, R.P_TENDERS: tenders, R.P_COUNTS: dict(self.counts),
               R.P_SALES: self.sales, R.P_REFUNDS: self.refunds,
               R.P_ROUNDING: self.rounding, R.P_DISCOUNTS: self.discounts,
               R.P_GRAND_TOTAL: self.grand_total, R.P_CASH_IN: self.cash_in,
               R.P_CASH_OUT: self.cash_out, R.P_EXPECTED: self.expected()}
        for i in range(_SERIES):
            out[R.P_NUMBERS + i] = self.numbers[i]
        if self.incomplete:
            out[R.P_INCOMPLETE] = True
        return out

    @classmethod
    def from_body(cls, p):
        """Totals resumed from a checkpoint's period map."""
        t = cls(p[R.P_Z], p[R.P_FIRST], p[R.P_GRAND_TOTAL] - p[R.P_SALES] - p[R.P_REFUNDS],
                numbers_of(p))
        t.last = p[R.P_LAST]
        for e in p[R.P_TAXES]:
            t.taxes[(e[0], e[1])] = [e[2], e[3], e[4]]
        for e in p[R.P_TENDERS]:
            t.tenders[e[0]] = e[1]
        t.counts = dict(p[R.P_COUNTS])
        t.sales = p[R.P_SALES]
        t.refunds = p[R.P_REFUNDS]
        t.rounding = p[R.P_ROUNDING]
        t.discounts = p[R.P_DISCOUNTS]
        t.cash_in = p.get(R.P_CASH_IN, 0)  # absent from a checkpoint older firmware wrote
        t.cash_out = p.get(R.P_CASH_OUT, 0)
        t.incomplete = bool(p.get(R.P_INCOMPLETE))
        return t

    def closing_body(self, last_seq, cashier_id, snapshot_version):
        b = self.body(last_seq)
        b[R.P_CASHIER] = cashier_id
        b[R.P_SNAPSHOT] = snapshot_version
        return b

    def next_period(self, closing_seq):
        """The totals of the period a closing at closing_seq starts."""
        t = Totals(self.z + 1, closing_seq + 1, self.grand_total, self.numbers)
        t.anchor_seq = closing_seq
        return t


def numbers_of(p):
    """The last document numbers a closing or checkpoint carries (zeros from
    a firmware before document numbers)."""
    return [p.get(R.P_NUMBERS + i, 0) for i in range(_SERIES)]


def after_closing(body, seq):
    """Totals of the period that starts after the closing record (seq, body)."""
    return Totals(body[R.P_Z] + 1, seq + 1, body[R.P_GRAND_TOTAL], numbers_of(body))


def recover(journal, observe=None):
    """Rebuild the open period's totals from the journal on flash.

    Reads one record at a time (bounded memory). observe(seq, rec), if given,
    sees every decoded record, so the engine learns what else it needs in the
    same pass. Returns the Totals; .incomplete is set when records of the period
    were deleted with no checkpoint covering them, or could not be read."""
    totals = None
    for seq, raw in journal.records_after(0):
        try:
            totals = _recover_one(totals, seq, cbor.loads(raw), observe)
        except (cbor.CBORError, KeyError, IndexError, TypeError, AttributeError, ValueError):
            # Not a body this firmware wrote (or damage the journal reported):
            # the till must still start, and its totals say they miss something.
            if totals is None:
                totals = Totals(1, 1, 0)
            totals.last = seq
            totals.incomplete = True
    if totals is None:
        totals = Totals(1, journal.last_seq + 1, 0)
        totals.incomplete = journal.last_seq > 0
    return totals


def _recover_one(totals, seq, rec, observe):
    if observe is not None:
        observe(seq, rec)
    kind = rec[J.K_KIND]
    body = rec[J.K_BODY]
    flags = rec.get(J.K_FLAGS, 0)
    if kind == J.KIND_CLOSING and not flags & J.FLAG_TRAINING:
        totals = after_closing(body, seq)
        totals.anchor_seq = seq
        return totals
    if kind == J.KIND_EVENT and body.get(R.E_TYPE) == R.EV_CHECKPOINT:
        totals = Totals.from_body(body[R.E_DETAIL])
        totals.anchor_seq = seq
        return totals
    if totals is None:
        totals = Totals(1, 1, 0)
        # The first record on flash is not the first ever and nothing
        # anchors it: what came before is gone from this till.
        totals.incomplete = seq > 1
    totals.add(seq, kind, body, flags)
    return totals


def recompute(records, after_seq, upto_seq, z, grand_start, numbers=None):
    """Totals of the records with after_seq < seq <= upto_seq, from (seq, record
    dict) pairs: what head office (or a test) checks a closing against.
    numbers: the last document numbers before the period (the previous
    closing's); records before the period count for the numbers too."""
    t = Totals(z, after_seq + 1, grand_start, numbers)
    for seq, rec in records:
        if after_seq < seq <= upto_seq:
            t.add(seq, rec[J.K_KIND], rec[J.K_BODY], rec.get(J.K_FLAGS, 0))
        elif seq <= after_seq:
            t._number(rec[J.K_KIND], rec[J.K_BODY], rec.get(J.K_FLAGS, 0))
    t.last = upto_seq
    return t


def find_number(journal, ser, number, last=None):
    """The journal sequence number of document `number` of series `ser`
    (series()), or None when no record on flash carries it (never taken, or
    its room reused after HO processed it). last: the series' last number
    taken, if known (Totals.numbers).

    Numbers grow with the sequence, one per record of the series, so the
    journal is searched like a sorted list: a probe at seq `at` reads forward
    to the first record of the series, and its number n at seq s bounds the
    answer (n < number: it is at s + number - n or later; n > number: before
    at, and at s - (n - number) or earlier). With `last`, the number is at
    most last - number records before the newest, and the probes first step
    down from there by doubling distances (the receipts asked for are mostly
    the day's); then, or without it, a bisection. About log2(records) probes,
    each reading part of one segment; nothing is kept between lookups, so
    nothing grows with the day (docs/benchmarks.md has the times)."""
    lo = 1
    hi = journal.last_seq
    step = 0
    if last is not None:
        if number > last:
            return None
        hi -= last - number
        step = 1
    while lo <= hi:
        at = max(lo, hi - step + 1) if step else (lo + hi) // 2
        found = _probe(journal, ser, at, hi)
        if found is None:
            hi = at - 1
        else:
            seq, n = found
            if n == number:
                return seq
            if n < number:
                lo = seq + (number - n)
                step = 0  # bracketed: bisect
                continue
            hi = min(at - 1, seq - (n - number))
        step *= 2
    return None


def _probe(journal, ser, at, hi):
    """(seq, number) of the first record of series ser at seq at..hi."""
    records = journal.records_after(at - 1)
    try:
        for seq, raw in records:
            if seq > hi:
                return None
            try:
                rec = cbor.loads(raw)
                if series(rec[J.K_KIND], rec.get(J.K_FLAGS, 0)) == ser:
                    n = rec[J.K_BODY].get(R.S_NUMBER)
                    if isinstance(n, int):
                        return seq, n
            except (cbor.CBORError, KeyError, TypeError, AttributeError, ValueError):
                pass  # not a record this firmware wrote: it holds no number
    finally:
        records.close()  # its segment file now, not at the next collection
    return None
