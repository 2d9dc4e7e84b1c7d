# Period totals for the X report and the Z closing, and their recovery from the
# journal after a restart.
#
# A period runs from one Z closing to the next. Its totals are never stored on
# their own: they are the sum of the period's records, so a power cut cannot
# make them disagree with the journal. On start the engine rebuilds them with
# recover(): the newest closing (or checkpoint, see below) on flash anchors the
# sum and every record after it is added.
#
# Checkpoints: once head office has processed records, the journal deletes whole
# segments of them, possibly records of the open period. Before that happens a
# checkpoint event carrying the totals so far is appended (Engine.mark_processed),
# so the newest anchor is always still on flash and covers what was deleted.
from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R


class Totals:
    """Running totals of one period (docs/records.md, "Period totals")."""

    def __init__(self, z=1, first=1, grand_start=0):
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
        if self.incomplete:
            out[R.P_INCOMPLETE] = True
        return out

    @classmethod
    def from_body(cls, p):
        """Totals resumed from a checkpoint's period map."""
        t = cls(p[R.P_Z], p[R.P_FIRST], p[R.P_GRAND_TOTAL] - p[R.P_SALES] - p[R.P_REFUNDS])
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
        t = Totals(self.z + 1, closing_seq + 1, self.grand_total)
        t.anchor_seq = closing_seq
        return t


def after_closing(body, seq):
    """Totals of the period that starts after the closing record (seq, body)."""
    return Totals(body[R.P_Z] + 1, seq + 1, body[R.P_GRAND_TOTAL])


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


def recompute(records, after_seq, upto_seq, z, grand_start):
    """Totals of the records with after_seq < seq <= upto_seq, from (seq, record
    dict) pairs: what head office (or a test) checks a closing against."""
    t = Totals(z, after_seq + 1, grand_start)
    for seq, rec in records:
        if after_seq < seq <= upto_seq:
            t.add(seq, rec[J.K_KIND], rec[J.K_BODY], rec.get(J.K_FLAGS, 0))
    t.last = upto_seq
    return t
