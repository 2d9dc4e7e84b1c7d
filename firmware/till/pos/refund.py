# Refunds of single lines and quantities of an earlier sale: what of a receipt
# is left to refund, and the storno of what the cashier picks (docs/engine.md,
# "Refunds"). Figures only; the engine asks who may, and journals.
#
# Where the refunded quantities live: in the stornos themselves. A storno names
# the receipt it refunds (key 9) and, for each of its lines, the line of the
# receipt it refunds (key 12). A storno is always journaled after its sale, and
# the journal frees processed segments oldest first (as a ring, when it needs
# their room), so while a sale's record is on flash every storno of it is
# too: what is left is the sale minus those
# stornos, read again from flash at each refund (one record at a time). Nothing
# is kept in memory between refunds, nothing grows per refund, and a reboot or
# a deleted segment cannot make a line refundable twice. A receipt whose record
# is gone cannot be refunded by receipt; HO's refund_days bounds how old one
# may be (till.pos.policy).
from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R
from till.pos.money import div_round, spread
from till.pos.sale import Sale, SaleError, storno_of
from till.pos.tax import line_amount


def _units(ln):
    return ln[R.L_GRAMS] if R.L_GRAMS in ln else ln[R.L_QTY]


def _paid(ln):
    d = ln.get(R.L_DISCOUNT)
    return ln[R.L_AMOUNT] - (d[2] if d else 0)


class Left:
    """What of sale `seq` (its record body) is left to refund: for each line of
    the body, the pieces (or grams) and the value the customer paid for them
    (after the line's discount and its share of the sale discount, in the
    lines' own terms: before tax where prices exclude it)."""

    def __init__(self, body, seq):
        self.body = body
        self.seq = seq
        lines = body[R.S_LINES]
        self.units = [0] * len(lines)
        self.value = [0] * len(lines)
        self.active = []  # the lines not voided: a whole storno mirrors them in order
        for i in range(len(lines)):
            ln = lines[i]
            if not ln.get(R.L_FLAGS, 0) & R.LF_VOIDED:
                self.units[i] = _units(ln)
                self.value[i] = _paid(ln)
                self.active.append(i)
        d = body.get(R.S_DISCOUNT)
        if d and d[2]:
            shares = spread(d[2], [self.value[i] for i in self.active])
            for k in range(len(self.active)):
                self.value[self.active[k]] -= shares[k]
        self.untouched = True  # nothing refunded yet: a whole refund mirrors the sale
        self.chosen = False  # the storno rung up is of lines picked, not all that is left

    def add(self, storno):
        """Take off what a storno of this sale (its body) refunded. A storno
        without key 12 is a whole refund (every storno of a firmware before
        partial refunds): its lines mirror the sale's active lines in order."""
        self.untouched = False
        picks = storno.get(R.S_PICKS) or self.active
        lines = storno[R.S_LINES]
        for j in range(len(lines)):
            ln = lines[j]
            if not ln.get(R.L_FLAGS, 0) & R.LF_VOIDED:
                i = picks[j]
                self.units[i] += _units(ln)  # negative in a storno
                self.value[i] += _paid(ln)

    def empty(self):
        return not any(self.units)

    def picked(self, s):
        """[(line index, units)] that storno s (being rung up) refunds."""
        picks = self.active if s.picks is None else s.picks
        out = []
        for j in range(len(s.lines)):
            ln = s.lines[j]
            if not ln["flags"] & R.LF_VOIDED:
                out.append((picks[j], -ln.get("qty", ln.get("grams"))))
        return out

    def pick(self, s, plu, qty):
        """The picks of storno s with qty pieces (None: one, or a weighed
        line's whole weight left) of item plu added, from the first line of
        the receipt that has them left. SaleError says why not."""
        picks = self.picked(s) if self.chosen else []
        lines = self.body[R.S_LINES]
        most = 0
        for i in range(len(lines)):
            if lines[i][R.L_PLU] != plu or not self.units[i]:
                continue
            k = 0
            while k < len(picks) and picks[k][0] != i:
                k += 1
            taken = picks[k][1] if k < len(picks) else 0
            rest = self.units[i] - taken
            want = rest if R.L_GRAMS in lines[i] else (qty or 1)
            if 0 < want <= rest:
                if k < len(picks):
                    picks[k] = (i, taken + want)
                else:
                    picks.append((i, want))
                return picks
            most = max(most, rest)
        if not most and not any(ln[R.L_PLU] == plu for ln in lines):
            raise SaleError("Item %d not on receipt %d"
                            % (plu, self.body.get(R.S_NUMBER, self.seq)))  # as printed
        raise SaleError("Item %d: %d left to refund" % (plu, most))


def of(journal, rec, seq):
    """Left of sale record rec (journal seq): the stornos of it are read from
    the journal after it, one record at a time."""
    left = Left(rec[J.K_BODY], seq)
    # A storno of seq holds, in its canonical encoding, kind 2 (03 02) and
    # key 9 with seq (09 <seq>): only records that hold both are decoded
    # (docs/benchmarks.md, "Refunds": half the time of decoding them all).
    key9 = b"\x09" + cbor.dumps(seq)
    for _, raw in journal.records_after(seq):
        if b"\x03\x02" not in raw or key9 not in raw:
            continue
        r = cbor.loads(raw)
        if r[J.K_KIND] == J.KIND_STORNO and r[J.K_BODY].get(R.S_REFUND_OF) == seq:
            left.add(r[J.K_BODY])
    return left


def storno(left, include_tax, per_line, increment, picks=None):
    """The storno (a Sale) of picks [(line index, units)]; None: all that is
    left. A whole refund of an untouched sale is its exact mirror (storno_of);
    otherwise each line refunds its share of what was paid for it, pro rata to
    the units, and the last units of a line exactly what is left of it (the
    discounts it had become one amount off, so the pieces add up to the sale)."""
    body = left.body
    left.chosen = picks is not None
    if picks is None:
        if left.untouched:
            s = storno_of(body, left.seq, include_tax, per_line, increment)
            s.left = left
            return s
        picks = [(i, left.units[i]) for i in left.active if left.units[i]]
    rates = {}
    for e in body[R.S_TAXES]:
        rates[e[0]] = e[1]
    lines = body[R.S_LINES]
    s = Sale(rates, include_tax, per_line, increment, max_lines=len(lines) + 1)
    s.refund_of = left.seq
    s.picks = []
    s.left = left
    for i, units in picks:
        ln = lines[i]
        item = {"plu": ln[R.L_PLU], "name": ln.get(R.L_NAME, ""), "price": ln[R.L_PRICE],
                "tax": ln[R.L_TAX]}
        flags = ln.get(R.L_FLAGS, 0)
        if units == left.units[i]:
            value = left.value[i]
        else:
            value = div_round(left.value[i] * units, left.units[i])
        if R.L_GRAMS in ln:
            new = s.add_line(item, grams=-units, flags=flags)
            off = line_amount(ln[R.L_PRICE], grams=units) - value
        else:
            new = s.add_line(item, qty=-units, flags=flags)
            off = ln[R.L_PRICE] * units - value
        if off > 0:
            new["discount"] = [R.DISC_AMOUNT, off, None]
        if R.L_CODE in ln:
            new["code"] = ln[R.L_CODE]
        if R.L_APPROVER in ln:
            new["approver"] = ln[R.L_APPROVER]
        s.picks.append(i)
    return s
