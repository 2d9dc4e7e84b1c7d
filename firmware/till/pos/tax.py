# Sale totals and tax: line amounts (pieces or weight), discounts, tax per
# class, per-line or per-receipt rounding. Pure integer arithmetic in minor
# units; the exact rules and their error bounds are in docs/money.md.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from till.pos.money import div_round, require_int, spread

# Tax rates are parts per million: 190000 is 19 %, 88750 is 8.875 % (a rate
# basis points cannot express). Percent discounts are basis points: 1000 is 10 %.
_PPM = const(1000000)
_BP = const(10000)
_GRAMS_PER_KG = const(1000)


def line_amount(price, qty=None, grams=None):
    """Amount of one line before discounts: price * qty, or price per kg * grams / 1000.

    Exactly one of qty (pieces) and grams (weighed goods, price is per kg) is
    given. Weighed amounts round half away from zero, so the amount is within
    half a minor unit of the exact product. A negative qty or weight (a return)
    gives exactly the negated amount.
    """
    require_int(price, "price")
    if (qty is None) == (grams is None):
        raise ValueError("a line has either a quantity or a weight")
    if grams is None:
        return price * require_int(qty, "qty")
    return div_round(price * require_int(grams, "grams"), _GRAMS_PER_KG)


def discount_of(amount, discount):
    """The discount taken off amount, with amount's sign (0 for no discount).

    discount is None, {"amount": m} (m >= 0 minor units, at most |amount|) or
    {"percent_bp": p} (0..10000 basis points; rounded half away from zero).
    The discount follows the sign of the amount it reduces, so negating a
    line's quantity (a return) negates its discount too.
    """
    if not discount:
        return 0
    require_int(amount)
    if "percent_bp" in discount:
        bp = require_int(discount["percent_bp"], "percent_bp")
        if not 0 <= bp <= _BP:
            raise ValueError("a percent discount is between 0 and 100 %")
        return div_round(amount * bp, _BP)
    if "amount" in discount:
        off = require_int(discount["amount"], "discount amount")
        if off < 0:
            raise ValueError("a discount amount is not negative; returns negate the quantity")
        if off > (amount if amount >= 0 else -amount):
            raise ValueError("The discount is bigger than the amount it reduces")
        return off if amount >= 0 else -off
    raise ValueError("a discount is {'amount': ...} or {'percent_bp': ...}")


def tax_of(base, rate_ppm, prices_include_tax):
    """Tax on base, rounded half away from zero.

    prices_include_tax (EU style): base is gross, tax = base * r / (1 + r).
    Otherwise (US style): base is net, tax = base * r.
    """
    require_int(base)
    if prices_include_tax:
        return div_round(base * rate_ppm, _PPM + rate_ppm)
    return div_round(base * rate_ppm, _PPM)


def _rate(tax_classes, name):
    if name not in tax_classes:
        raise ValueError("Tax class %r is not set up on this till: ask the store manager" % (name,))
    rate = require_int(tax_classes[name], "rate_ppm")
    if rate < 0:
        raise ValueError("tax rate of class %r is negative" % (name,))
    return rate


def compute_totals(lines, tax_classes, prices_include_tax, round_per_line, sale_discount=None):
    """Totals of a sale. See docs/money.md for the result's shape and invariants.

    lines: dicts {"price", "qty" or "grams", "tax_class", optional "discount"}.
    tax_classes: {class: rate_ppm}. sale_discount: None, {"amount": m} or
    {"percent_bp": p} off the subtotal, spread over the tax classes by
    largest remainder. round_per_line rounds tax on every line (and on each
    class's share of the sale discount); otherwise once per class.
    """
    out_lines = []
    classes = []  # in order of first appearance, so receipts are stable
    by_name = {}
    for line in lines:
        name = line["tax_class"]
        rate = _rate(tax_classes, name)
        amount = line_amount(line["price"], line.get("qty"), line.get("grams"))
        off = discount_of(amount, line.get("discount"))
        total = amount - off
        tax = tax_of(total, rate, prices_include_tax) if round_per_line else None
        out_lines.append({"tax_class": name, "amount": amount, "discount": off,
                          "total": total, "tax": tax})
        cls = by_name.get(name)
        if cls is None:
            cls = {"tax_class": name, "rate_ppm": rate, "subtotal": 0, "discount": 0,
                   "discount_tax": 0 if round_per_line else None, "net": 0, "tax": 0, "gross": 0}
            by_name[name] = cls
            classes.append(cls)
        cls["subtotal"] += total
        if round_per_line:
            cls["tax"] += tax
    subtotal = sum(c["subtotal"] for c in classes)
    off = discount_of(subtotal, sale_discount)
    if off:
        for c in classes:
            if c["subtotal"] * subtotal < 0:
                raise ValueError("A sale discount cannot go on a sale that mixes sales and returns")
        parts = spread(off, [abs(c["subtotal"]) for c in classes])
        for c, part in zip(classes, parts):
            c["discount"] = part
    net = tax = gross = 0
    for c in classes:
        base = c["subtotal"] - c["discount"]
        if round_per_line:
            # The class's share of the sale discount is one more line (negative),
            # its tax rounded on its own like every other line.
            c["discount_tax"] = tax_of(-c["discount"], c["rate_ppm"], prices_include_tax)
            c["tax"] += c["discount_tax"]
        else:
            c["tax"] = tax_of(base, c["rate_ppm"], prices_include_tax)
        if prices_include_tax:
            c["gross"] = base
            c["net"] = base - c["tax"]
        else:
            c["net"] = base
            c["gross"] = base + c["tax"]
        net += c["net"]
        tax += c["tax"]
        gross += c["gross"]
    return {"lines": out_lines, "classes": classes, "subtotal": subtotal,
            "sale_discount": off, "net": net, "tax": tax, "total": gross}
