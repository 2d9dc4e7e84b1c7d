"""Properties of till.money, till.tax and till.barcode against exact Fraction
arithmetic (CPython only; the bounds are the ones docs/money.md promises)."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from till.formats import barcode
from till.pos import money, tax

HALF = Fraction(1, 2)
PPM = 1_000_000

amounts = st.integers(-10**9, 10**9)


def round_half_away(x: Fraction) -> int:
    """The reference rounding, written independently of money.div_round."""
    n = int(abs(x) + HALF)  # int() of a non-negative Fraction floors
    return n if x >= 0 else -n


@given(amounts, st.integers(1, 10**7))
def test_div_round_matches_exact_rounding(n, d):
    assert money.div_round(n, d) == round_half_away(Fraction(n, d))


@given(amounts, st.sampled_from([1, 2, 5, 10, 20, 25, 50, 100]))
def test_cash_round_within_half_an_increment(amount, increment):
    rounded, diff = money.cash_round(amount, increment)
    assert rounded == amount + diff
    assert rounded % increment == 0
    assert 2 * abs(diff) <= increment
    if 2 * abs(diff) == increment:  # a tie goes away from zero
        assert abs(rounded) > abs(amount)
    assert money.cash_round(-amount, increment) == (-rounded, -diff)


@given(amounts, st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_spread_sums_exactly_and_stays_within_one(total, weights):
    if sum(weights) == 0:
        weights[0] = 1
    parts = money.spread(total, weights)
    assert sum(parts) == total
    w = sum(weights)
    for part, weight in zip(parts, weights):
        assert abs(part - Fraction(total * weight, w)) < 1
        assert part * total >= 0  # no part has the wrong sign
    assert money.spread(-total, weights) == [-p for p in parts]
    # Largest remainder: a part rounded up never has a smaller remainder than
    # a part rounded down.
    rems = [Fraction(abs(total) * wt, w) % 1 for wt in weights]
    up = [r for r, p, wt in zip(rems, parts, weights) if abs(p) > abs(total) * wt // w]
    down = [r for r, p, wt in zip(rems, parts, weights) if abs(p) == abs(total) * wt // w]
    if up and down:
        assert min(up) >= max(down)


@given(st.integers(0, 10**12), st.integers(0, 4), st.sampled_from([".", ","]))
def test_format_then_parse_is_identity(minor, decimals, point):
    text = money.format_money(minor, decimals, point)
    assert money.parse_keyed(text, decimals, point, max_digits=20) == minor
    assert Fraction(text.replace(point, ".")) == Fraction(minor, 10**decimals)


# --- sale totals -----------------------------------------------------------

RATES = {"A": 190000, "B": 70000, "C": 0, "D": 88750, "E": 255000}

discounts = st.one_of(
    st.none(),
    st.builds(lambda p: {"percent_bp": p}, st.integers(0, 10000)),
    st.builds(lambda m: {"amount": m}, st.integers(0, 500)),
)


@st.composite
def sale_lines(draw, sign=1):
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        line = {"price": draw(st.integers(0, 100_000)), "tax_class": draw(st.sampled_from(sorted(RATES)))}
        if draw(st.booleans()):
            line["qty"] = sign * draw(st.integers(1, 20))
        else:
            line["grams"] = sign * draw(st.integers(1, 5000))
        disc = draw(discounts)
        amount = tax.line_amount(line["price"], line.get("qty"), line.get("grams"))
        if disc and "amount" in disc and disc["amount"] > abs(amount):
            disc = {"amount": abs(amount)}
        if disc:
            line["discount"] = disc
        lines.append(line)
    return lines


@st.composite
def sales(draw):
    sign = draw(st.sampled_from([1, -1]))
    lines = draw(sale_lines(sign))
    subtotal = 0
    for line in lines:
        a = tax.line_amount(line["price"], line.get("qty"), line.get("grams"))
        subtotal += a - tax.discount_of(a, line.get("discount"))
    disc = draw(discounts)
    if disc and "amount" in disc and disc["amount"] > abs(subtotal):
        disc = {"amount": abs(subtotal)}
    return lines, disc, draw(st.booleans()), draw(st.booleans())


def exact_tax(base: int, rate: int, include: bool) -> Fraction:
    r = Fraction(rate, PPM)
    return base * r / (1 + r) if include else base * r


@settings(max_examples=300, deadline=None)
@given(sales())
def test_totals_equal_the_sum_of_their_parts(sale):
    lines, disc, include, per_line = sale
    t = tax.compute_totals(lines, RATES, include, per_line, disc)
    assert t["subtotal"] == sum(line["total"] for line in t["lines"])
    assert t["sale_discount"] == sum(c["discount"] for c in t["classes"])
    for line, out in zip(lines, t["lines"]):
        assert out["total"] == out["amount"] - out["discount"]
    for c in t["classes"]:
        assert c["gross"] == c["net"] + c["tax"]
        assert c["subtotal"] == sum(o["total"] for o in t["lines"] if o["tax_class"] == c["tax_class"])
        base = c["subtotal"] - c["discount"]
        assert (c["gross"] if include else c["net"]) == base
        if per_line:
            line_tax = sum(o["tax"] for o in t["lines"] if o["tax_class"] == c["tax_class"])
            assert c["tax"] == line_tax + c["discount_tax"]
    assert t["net"] == sum(c["net"] for c in t["classes"])
    assert t["tax"] == sum(c["tax"] for c in t["classes"])
    assert t["total"] == sum(c["gross"] for c in t["classes"]) == t["net"] + t["tax"]
    if include:
        assert t["total"] == t["subtotal"] - t["sale_discount"]
    else:
        assert t["net"] == t["subtotal"] - t["sale_discount"]


@settings(max_examples=300, deadline=None)
@given(sales())
def test_tax_within_documented_bound_of_exact(sale):
    lines, disc, include, per_line = sale
    t = tax.compute_totals(lines, RATES, include, per_line, disc)
    for c in t["classes"]:
        base = c["subtotal"] - c["discount"]
        err = abs(c["tax"] - exact_tax(base, c["rate_ppm"], include))
        if per_line:
            # One rounding per line of the class plus one for its discount share.
            terms = sum(1 for o in t["lines"] if o["tax_class"] == c["tax_class"]) + 1
            assert err <= terms * HALF
        else:
            assert err <= HALF
    for line, out in zip(lines, t["lines"]):
        if "grams" in line:
            assert abs(out["amount"] - Fraction(line["price"] * line["grams"], 1000)) <= HALF
        else:
            assert out["amount"] == line["price"] * line["qty"]
        d = line.get("discount")
        if d and "percent_bp" in d:
            assert abs(out["discount"] - Fraction(out["amount"] * d["percent_bp"], 10000)) <= HALF
    if disc and "percent_bp" in disc:
        assert abs(t["sale_discount"] - Fraction(t["subtotal"] * disc["percent_bp"], 10000)) <= HALF
    if t["sale_discount"]:
        for c in t["classes"]:
            exact = Fraction(t["sale_discount"] * c["subtotal"], t["subtotal"])
            assert abs(c["discount"] - exact) < 1


@settings(max_examples=200, deadline=None)
@given(sales())
def test_refund_mirrors_sale(sale):
    lines, disc, include, per_line = sale
    mirrored = []
    for line in lines:
        line = dict(line)
        key = "qty" if "qty" in line else "grams"
        line[key] = -line[key]
        mirrored.append(line)
    a = tax.compute_totals(lines, RATES, include, per_line, disc)
    b = tax.compute_totals(mirrored, RATES, include, per_line, disc)
    for key in ("subtotal", "sale_discount", "net", "tax", "total"):
        assert b[key] == -a[key]
    for ca, cb in zip(a["classes"], b["classes"]):
        for key in ("discount", "net", "tax", "gross"):
            assert cb[key] == -ca[key]


# --- barcodes ----------------------------------------------------------------

def with_check(body: str) -> str:
    return body + str(barcode.check_digit(body))


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def changed(draw, code: str) -> str:
    i = draw(st.integers(0, len(code) - 1))
    new = draw(digits.filter(lambda c: c != code[i]))
    return code[:i] + new + code[i + 1:]


@given(st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)), st.data())
def test_any_single_digit_change_is_caught(body, data):
    code = with_check(body)
    assert barcode.decode(code)[0] in ("item", "price", "weight")
    bad = data.draw(changed(code))
    with pytest.raises(barcode.BarcodeError):
        barcode.decode(bad)


@given(st.sampled_from([4, 5]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)), st.data())
def test_price_check_digit_catches_any_single_digit_change(value, data):
    bad = data.draw(changed(value))
    assert barcode.price_check_digit(bad) != barcode.price_check_digit(value)


RULE = {"prefix": "28", "kind": "price", "item_digits": (2, 6), "value_digits": (7, 12), "value_check": 6}


@given(st.text(alphabet="0123456789", min_size=4, max_size=4),
       st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_price_label_round_trip_and_tamper(item, price):
    code = with_check("28" + item + str(barcode.price_check_digit(price)) + price)
    assert barcode.decode(code, [RULE]) == ("price", item, int(price))
    # A wrong price with a recomputed EAN check digit (a relabel, or a scanner
    # that fixed up the check digit) is still caught by the price check digit.
    other = str((int(price[-1]) + 1) % 10)
    forged = with_check(code[:11] + other)
    with pytest.raises(barcode.BarcodeError):
        barcode.decode(forged, [RULE])


def canonical_upce(body: str) -> bool:
    # A UPC-E form is used only where a shorter-suppression form does not fit:
    # ending 3 needs d3 of 3-9, ending 4 needs d4 != 0, ending 5-9 needs d5 != 0.
    last = body[5]
    if last == "3":
        return body[2] in "3456789"
    if last == "4":
        return body[3] != "0"
    if last in "56789":
        return body[4] != "0"
    return True


@given(st.sampled_from("01"),
       st.text(alphabet="0123456789", min_size=6, max_size=6).filter(canonical_upce))
def test_upce_expansion_inverts_compression(ns, body):
    upca_body = barcode.upce_to_upca(ns + body + "0")[:11]
    upce = ns + body + str(barcode.check_digit(upca_body))
    kind, gtin = barcode.decode(upce, eight_digit="upce")
    expected = "0" + with_check(upca_body)
    if expected.startswith("00000"):  # GS1 keeps 00000 for GTIN-8s: shown as 8 digits
        expected = expected[5:]
    assert kind == "item" and gtin == expected
    # Compressing back by the UPC-E rule gives the same six digits.
    m, p = upca_body[1:6], upca_body[6:11]
    if m[2] in "012" and m[3:] == "00" and p[:2] == "00":
        six = m[:2] + p[2:] + m[2]
    elif m[3:] == "00" and p[:3] == "000":
        six = m[:3] + p[3:] + "3"
    elif m[4] == "0" and p[:4] == "0000":
        six = m[:4] + p[4] + "4"
    else:
        six = m + p[4]
    assert six == body
