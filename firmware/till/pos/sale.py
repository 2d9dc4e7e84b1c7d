# The sale in progress: its lines, discounts and tenders, its totals (by
# till.tax), and the journal body it becomes. Also the storno that mirrors an
# earlier sale. No I/O and no prompts: the engine (till.engine) decides who may
# do what; this module only keeps the figures right.
from till.formats import records as R
from till.pos import policy
from till.pos.money import cash_round
from till.pos.tax import compute_totals, line_amount

# The default is HO's (till.pos.policy); the engine passes the policy in force.
DEFAULT_MAX_LINES = policy.POLICIES["max_lines"]


class SaleError(ValueError):
    """Something the cashier asked that this sale cannot do; str() says why."""


def discount_spec(kind, value):
    """The till.tax discount dict for a [kind, value] pair."""
    if kind == R.DISC_PERCENT:
        return {"percent_bp": value}
    return {"amount": value}


class Sale:
    """A sale (or, with refund_of, a storno) being rung up.

    Lines are dicts: plu, name, price, qty or grams, tax_class, flags, and
    optionally code, discount ([kind, value, approver]), approver. Voided lines
    stay in the list (and in the record) with LF_VOIDED set."""

    def __init__(self, tax_rates, prices_include_tax, round_per_line, cash_increment=1,
                 max_lines=DEFAULT_MAX_LINES):
        self.tax_rates = tax_rates
        self.prices_include_tax = prices_include_tax
        self.round_per_line = round_per_line
        self.cash_increment = cash_increment
        self.max_lines = max_lines
        self.lines = []
        self.discount = None  # sale discount [kind, value, approver]
        self.tenders = []
        self.rounding = 0
        self.refund_of = None  # a storno: the receipt (journal seq) it refunds; 0 none
        self.picks = None  # a storno of lines picked: each line's index in the receipt
        self.left = None  # a storno: what of its receipt is left to refund (till.pos.refund)
        self.approver = None
        self._totals = None

    # ---- lines -------------------------------------------------------------

    def add_line(self, item, qty=None, grams=None, price=None, code=None, flags=0,
                 approver=None):
        """Add an item (a catalog item dict). Returns the new line."""
        self._no_tenders()
        if len(self.lines) >= self.max_lines:
            # Messages here are shown on a 2x20 display: at most 40 characters.
            raise SaleError("Sale full (%d lines): pay, then go on" % self.max_lines)
        if item["tax"] not in self.tax_rates:
            raise SaleError("Tax class %s not set up: call manager" % item["tax"])
        line = {"plu": item["plu"], "name": item["name"], "tax_class": item["tax"],
                "price": item["price"] if price is None else price, "flags": flags}
        if grams is None:
            line["qty"] = 1 if qty is None else qty
        else:
            line["grams"] = grams
        if code is not None:
            line["code"] = code
        if approver is not None:
            line["approver"] = approver
        self.lines.append(line)
        self._totals = None
        return line

    def active(self):
        """Lines not voided, in order."""
        return [ln for ln in self.lines if not ln["flags"] & R.LF_VOIDED]

    def line(self, number=None):
        """Active line number (1-based), or the last active line; None if none."""
        act = self.active()
        if not act:
            return None
        if number is None:
            return act[-1]
        if 1 <= number <= len(act):
            return act[number - 1]
        return None

    def void(self, line):
        self._no_tenders()
        line["flags"] |= R.LF_VOIDED
        self._totals = None

    def set_line_discount(self, line, kind, value, approver=None):
        self._no_tenders()
        old = line.get("discount")
        line["discount"] = [kind, value, approver]
        self._totals = None
        try:
            self.totals()
        except ValueError:
            if old is None:
                del line["discount"]
            else:
                line["discount"] = old
            self._totals = None
            raise

    def set_sale_discount(self, kind, value, approver=None):
        self._no_tenders()
        old = self.discount
        self.discount = [kind, value, approver]
        self._totals = None
        try:
            self.totals()
        except ValueError:
            self.discount = old
            self._totals = None
            raise

    def _no_tenders(self):
        if self.tenders:
            raise SaleError("Payment started: finish or cancel")

    # ---- totals ------------------------------------------------------------

    def totals(self):
        """till.pos.tax.compute_totals of the active lines (cached)."""
        if self._totals is None:
            lines = []
            for ln in self.active():
                d = ln.get("discount")
                t = {"price": ln["price"], "tax_class": ln["tax_class"],
                     "discount": discount_spec(d[0], d[1]) if d else None}
                if "grams" in ln:
                    t["grams"] = ln["grams"]
                else:
                    t["qty"] = ln["qty"]
                lines.append(t)
            sd = discount_spec(self.discount[0], self.discount[1]) if self.discount else None
            self._totals = compute_totals(lines, self.tax_rates, self.prices_include_tax,
                                          self.round_per_line, sd)
        return self._totals

    @property
    def total(self):
        return self.totals()["total"]

    @property
    def paid(self):
        return sum(t[1] for t in self.tenders)

    def remaining(self):
        """What is still owed (negative: still to pay out, in a storno)."""
        return self.total + self.rounding - self.paid

    def cash_due(self):
        """The remaining amount as cash can pay it (rounded to the smallest coin)."""
        return cash_round(self.remaining(), self.cash_increment)[0]

    def is_paid(self):
        return bool(self.tenders) and self.remaining() == 0

    @property
    def change(self):
        return sum(t[2] - t[1] for t in self.tenders if t[0] == R.TENDER_CASH)

    # ---- tenders -----------------------------------------------------------

    def pay_cash(self, given=None):
        """Cash given by the customer (None: exactly what is due). Cash rounding
        applies when this cash settles the sale; returns the change."""
        if not self.active():
            raise SaleError("No items in the sale")
        rem = self.remaining()
        rounded, diff = cash_round(rem, self.cash_increment)
        if rem < 0:
            # A storno pays out exactly what is due, rounded to coins.
            self.rounding += diff
            self.tenders.append([R.TENDER_CASH, rounded, rounded])
            return 0
        if given is None:
            given = rounded
        if given >= rounded:
            self.rounding += diff
            self.tenders.append([R.TENDER_CASH, rounded, given])
            return given - rounded
        if given == 0:
            raise SaleError("Key the cash given, or CASH alone")
        # Part payment: no rounding until the last part.
        self.tenders.append([R.TENDER_CASH, given, given])
        return 0

    def pay_card(self, amount, ref, tender=R.TENDER_CARD):
        """Card payment (None: all that remains) approved by the terminal's ref;
        or, with tender TENDER_VOUCHER, a voucher and its code."""
        if not self.active():
            raise SaleError("No items in the sale")
        rem = self.remaining()
        if amount is None:
            amount = rem
        if rem >= 0 and not 0 < amount <= rem:
            raise SaleError("Card amount: 0.01 up to the amount due")
        if rem < 0:
            amount = rem
        self.tenders.append([tender, amount, ref])

    # ---- the record --------------------------------------------------------

    def body(self, cashier_id, snapshot_version):
        """The journal body of this sale or storno (docs/records.md)."""
        tot = self.totals()
        lines = []
        k = 0
        calc = tot["lines"]
        for ln in self.lines:
            out = {R.L_PLU: ln["plu"], R.L_NAME: ln["name"], R.L_PRICE: ln["price"],
                   R.L_TAX: ln["tax_class"]}
            if "grams" in ln:
                out[R.L_GRAMS] = ln["grams"]
            else:
                out[R.L_QTY] = ln["qty"]
            if "code" in ln:
                out[R.L_CODE] = ln["code"]
            if ln["flags"]:
                out[R.L_FLAGS] = ln["flags"]
            if ln.get("approver") is not None:
                out[R.L_APPROVER] = ln["approver"]
            if ln.get("voided_by") is not None:
                out[R.L_VOIDED_BY] = ln["voided_by"]
            if ln["flags"] & R.LF_VOIDED:
                out[R.L_AMOUNT] = _amount_of(ln)
            else:
                c = calc[k]
                k += 1
                out[R.L_AMOUNT] = c["amount"]
                d = ln.get("discount")
                if d:
                    out[R.L_DISCOUNT] = _discount_entry(d, c["discount"])
            lines.append(out)
        body = {R.S_CASHIER: cashier_id, R.S_LINES: lines,
                R.S_TENDERS: [list(t) for t in self.tenders],
                R.S_TAXES: tax_entries(tot), R.S_TOTAL: tot["total"],
                R.S_SNAPSHOT: snapshot_version}
        if self.discount:
            body[R.S_DISCOUNT] = _discount_entry(self.discount, tot["sale_discount"])
        if self.rounding:
            body[R.S_ROUNDING] = self.rounding
        if self.refund_of is not None:
            if self.refund_of:
                body[R.S_REFUND_OF] = self.refund_of
            else:
                body[R.S_NO_RECEIPT] = True
            body[R.S_APPROVER] = self.approver
            if self.picks is not None:
                body[R.S_PICKS] = list(self.picks)
        return body


def _amount_of(ln):
    return line_amount(ln["price"], ln.get("qty"), ln.get("grams"))


def _discount_entry(d, amount):
    e = [d[0], d[1], amount]
    if d[2] is not None:
        e.append(d[2])
    return e


def tax_entries(tot):
    """[[class, rate_ppm, net, tax, gross], ...] sorted by class name."""
    out = [[c["tax_class"], c["rate_ppm"], c["net"], c["tax"], c["gross"]]
           for c in tot["classes"]]
    out.sort(key=lambda e: e[0])
    return out


def storno_of(body, seq, prices_include_tax, round_per_line, cash_increment):
    """A Sale refunding the sale record body `body` (journal seq `seq`) in full.

    Every quantity is negated; tax rates come from the original record, so the
    storno mirrors the sale to the cent even if rates changed since. Raises
    SaleError if the mirror does not come out exact (settings changed)."""
    rates = {}
    for e in body[R.S_TAXES]:
        rates[e[0]] = e[1]
    s = Sale(rates, prices_include_tax, round_per_line, cash_increment,
             max_lines=len(body[R.S_LINES]) + 1)
    for ln in body[R.S_LINES]:
        flags = ln.get(R.L_FLAGS, 0)
        if flags & R.LF_VOIDED:
            continue
        item = {"plu": ln[R.L_PLU], "name": ln.get(R.L_NAME, ""), "price": ln[R.L_PRICE],
                "tax": ln[R.L_TAX]}
        if R.L_GRAMS in ln:
            new = s.add_line(item, grams=-ln[R.L_GRAMS], flags=flags)
        else:
            new = s.add_line(item, qty=-ln[R.L_QTY], flags=flags)
        if R.L_CODE in ln:
            new["code"] = ln[R.L_CODE]
        if R.L_APPROVER in ln:
            new["approver"] = ln[R.L_APPROVER]
        d = ln.get(R.L_DISCOUNT)
        if d:
            new["discount"] = [d[0], d[1], d[3] if len(d) > 3 else None]
    d = body.get(R.S_DISCOUNT)
    if d:
        s.discount = [d[0], d[1], d[3] if len(d) > 3 else None]
    s.refund_of = seq
    if s.total != -body[R.S_TOTAL]:
        # Made with other tax settings: only head office can refund it exactly.
        raise SaleError("Receipt %d: ask head office" % body.get(R.S_NUMBER, seq))
    return s
