# Money, discounts, tax and cash rounding: worked examples from docs/money.md,
# on both interpreters. Every expected figure is worked out by hand in the doc.
from support import raises

from till.pos import money, tax

RATES_EU = {"A": 190000, "B": 70000}  # 19 % and 7 %, parts per million
RATES_US = {"T": 88750}  # 8.875 %: needs ppm, basis points cannot say it


def test_div_round_is_half_away_from_zero():
    assert [money.div_round(n, 10) for n in (4, 5, 15, 25, 14)] == [0, 1, 2, 3, 1]
    assert [money.div_round(n, 10) for n in (-4, -5, -15, -25, -14)] == [0, -1, -2, -3, -1]
    assert money.div_round(2, 3) == 1 and money.div_round(1, 3) == 0
    assert money.div_round(10 ** 30 + 1, 2) == 5 * 10 ** 29 + 1  # big ints stay exact
    raises(ValueError, money.div_round, 1, 0)


def test_floats_and_bools_are_refused_everywhere():
    raises(TypeError, money.format_money, 12.34)
    raises(TypeError, money.format_money, True)
    raises(TypeError, money.cash_round, 12.3, 5)
    raises(TypeError, money.cash_round, 1230, 5.0)
    raises(TypeError, money.spread, 10.0, [1, 1])
    raises(TypeError, money.spread, 10, [0.5, 0.5])
    raises(TypeError, money.parse_keyed, 12.5)
    raises(TypeError, tax.line_amount, 1.99, qty=1)
    raises(TypeError, tax.line_amount, 199, qty=1.5)
    raises(TypeError, tax.line_amount, 1290, grams=12.5)
    raises(TypeError, tax.discount_of, 1000, {"percent_bp": 10.0})
    raises(TypeError, tax.compute_totals, [{"price": 100, "qty": 1, "tax_class": "A"}],
           {"A": 0.19}, True, True)


def test_format_money():
    assert money.format_money(-1234, decimals=2, point=",") == "-12,34"
    assert money.format_money(5) == "0.05"
    assert money.format_money(-5) == "-0.05"
    assert money.format_money(0) == "0.00"
    assert money.format_money(100, 3) == "0.100"
    assert money.format_money(1234, 0) == "1234"
    assert money.format_money(123456, 0, thousands=" ") == "123 456"
    assert money.format_money(1234567, 2, ",", ".") == "12.345,67"
    assert money.format_money(-100000, 2, ".", ",") == "-1,000.00"
    assert money.format_money(99999, 2, ".", ",") == "999.99"


def test_parse_keyed_entry():
    assert money.parse_keyed("1250") == 1250  # implied point: 12.50
    assert money.parse_keyed("5") == 5  # 0.05
    assert money.parse_keyed("1" + "00") == 100  # the "00" key
    assert money.parse_keyed("12.5") == 1250
    assert money.parse_keyed("12,5", point=",") == 1250
    assert money.parse_keyed(".5") == 50
    assert money.parse_keyed("12.") == 1200
    assert money.parse_keyed("0") == 0
    assert money.parse_keyed("125", decimals=0) == 125
    assert money.parse_keyed("999999999") == 999999999
    for bad in ("", ".", "12.345", "1-2", "-5", " 5", "1.2.3", "1234567890"):
        raises(ValueError, money.parse_keyed, bad)
    raises(ValueError, money.parse_keyed, "12.5", decimals=0)
    assert "too long" in str(raises(ValueError, money.parse_keyed, "1234567890"))


def test_cash_rounding():
    assert money.cash_round(1232, 5) == (1230, -2)
    assert money.cash_round(1233, 5) == (1235, 2)
    assert money.cash_round(-1233, 5) == (-1235, -2)
    assert money.cash_round(1235, 10) == (1240, 5)  # half: away from zero
    assert money.cash_round(-1235, 10) == (-1240, -5)
    assert money.cash_round(1249, 100) == (1200, -49)  # whole kronor
    assert money.cash_round(1250, 100) == (1300, 50)
    assert money.cash_round(1237, 1) == (1237, 0)
    raises(ValueError, money.cash_round, 100, 0)


def test_spread_is_exact_and_proportional():
    assert money.spread(100, [1, 1, 1]) == [34, 33, 33]
    assert money.spread(-100, [1, 1, 1]) == [-34, -33, -33]
    assert money.spread(224, [398, 1841]) == [40, 184]
    assert money.spread(10, [0, 5]) == [0, 10]
    assert money.spread(1, [1, 2]) == [0, 1]  # larger remainder wins
    assert money.spread(1, [2, 2]) == [1, 0]  # tie: earlier part
    assert money.spread(0, [0, 0]) == [0, 0]
    raises(ValueError, money.spread, 5, [0, 0])
    raises(ValueError, money.spread, 5, [3, -1])


def test_line_amounts_pieces_and_weight():
    assert tax.line_amount(199, qty=3) == 597
    assert tax.line_amount(199, qty=-3) == -597
    assert tax.line_amount(1290, grams=1234) == 1592  # 15.9186 -> 15.92
    assert tax.line_amount(1290, grams=-1234) == -1592
    assert tax.line_amount(5, grams=100) == 1  # 0.5 minor units rounds up
    assert tax.line_amount(5, grams=-100) == -1
    raises(ValueError, tax.line_amount, 100)
    raises(ValueError, tax.line_amount, 100, qty=1, grams=5)


def test_discounts_follow_the_sign_of_the_line():
    assert tax.discount_of(1000, None) == 0
    assert tax.discount_of(1000, {"percent_bp": 1250}) == 125
    assert tax.discount_of(999, {"percent_bp": 5000}) == 500  # 499.5 -> 500
    assert tax.discount_of(-999, {"percent_bp": 5000}) == -500
    assert tax.discount_of(500, {"amount": 100}) == 100
    assert tax.discount_of(-500, {"amount": 100}) == -100
    assert tax.discount_of(500, {"amount": 500}) == 500
    raises(ValueError, tax.discount_of, 500, {"amount": 501})
    raises(ValueError, tax.discount_of, 500, {"amount": -1})
    raises(ValueError, tax.discount_of, 500, {"percent_bp": 10001})
    raises(ValueError, tax.discount_of, 500, {"percent": 10})


def test_tax_of_both_styles():
    assert tax.tax_of(1190, 190000, True) == 190  # gross 11.90 holds 1.90 VAT
    assert tax.tax_of(1000, 190000, False) == 190  # net 10.00 plus 1.90 tax
    assert tax.tax_of(3, 200000, True) == 1  # exactly 0.5 -> 1
    assert tax.tax_of(-3, 200000, True) == -1
    assert tax.tax_of(5, 100000, False) == 1  # 0.5 -> 1
    assert tax.tax_of(1000, 0, True) == 0


def _eu_lines():
    return [{"price": 199, "qty": 2, "tax_class": "A"},
            {"price": 249, "qty": 1, "tax_class": "B"},
            {"price": 1290, "grams": 1234, "tax_class": "B"}]


def _check_sums(t, prices_include_tax):
    # The invariants the sale engine and the receipt rely on.
    assert t["subtotal"] == sum(line["total"] for line in t["lines"])
    assert t["sale_discount"] == sum(c["discount"] for c in t["classes"])
    for c in t["classes"]:
        assert c["gross"] == c["net"] + c["tax"]
    assert t["net"] == sum(c["net"] for c in t["classes"])
    assert t["tax"] == sum(c["tax"] for c in t["classes"])
    assert t["total"] == t["net"] + t["tax"]
    if prices_include_tax:
        assert t["total"] == t["subtotal"] - t["sale_discount"]
    else:
        assert t["net"] == t["subtotal"] - t["sale_discount"]


def test_eu_prices_include_tax_per_receipt_with_sale_discount():
    t = tax.compute_totals(_eu_lines(), RATES_EU, True, False, {"percent_bp": 1000})
    _check_sums(t, True)
    assert [line["total"] for line in t["lines"]] == [398, 249, 1592]
    assert [line["tax"] for line in t["lines"]] == [None, None, None]
    assert t["subtotal"] == 2239 and t["sale_discount"] == 224
    a, b = t["classes"]
    assert (a["tax_class"], a["discount"], a["gross"], a["tax"], a["net"]) == ("A", 40, 358, 57, 301)
    assert (b["tax_class"], b["discount"], b["gross"], b["tax"], b["net"]) == ("B", 184, 1657, 108, 1549)
    assert (t["net"], t["tax"], t["total"]) == (1850, 165, 2015)


def test_eu_prices_include_tax_per_line_with_sale_discount():
    t = tax.compute_totals(_eu_lines(), RATES_EU, True, True, {"percent_bp": 1000})
    _check_sums(t, True)
    assert [line["tax"] for line in t["lines"]] == [64, 16, 104]
    a, b = t["classes"]
    assert (a["discount_tax"], a["tax"], a["net"]) == (-6, 58, 300)
    assert (b["discount_tax"], b["tax"], b["net"]) == (-12, 108, 1549)
    assert (t["net"], t["tax"], t["total"]) == (1849, 166, 2015)


def test_per_line_and_per_receipt_rounding_differ():
    lines = [{"price": 99, "qty": 1, "tax_class": "A"}] * 3
    per_line = tax.compute_totals(lines, RATES_EU, True, True)
    per_receipt = tax.compute_totals(lines, RATES_EU, True, False)
    assert per_line["tax"] == 48  # 3 x round(15.81)
    assert per_receipt["tax"] == 47  # round(47.42)
    assert per_line["total"] == per_receipt["total"] == 297


def test_us_tax_added_on_top():
    lines = [{"price": 50, "qty": 1, "tax_class": "T"}] * 3
    per_line = tax.compute_totals(lines, RATES_US, False, True)
    per_receipt = tax.compute_totals(lines, RATES_US, False, False)
    _check_sums(per_line, False)
    _check_sums(per_receipt, False)
    assert per_line["tax"] == 12 and per_line["total"] == 162  # 3 x round(4.4375)
    assert per_receipt["tax"] == 13 and per_receipt["total"] == 163  # round(13.3125)
    t = tax.compute_totals([{"price": 1999, "qty": 1, "tax_class": "T"}], RATES_US, False, False,
                           {"amount": 500})
    _check_sums(t, False)
    assert (t["net"], t["tax"], t["total"]) == (1499, 133, 1632)  # 14.99 * 8.875 % = 1.3304


def test_refund_is_the_mirror_of_the_sale():
    for per_line in (False, True):
        sale = tax.compute_totals(_eu_lines(), RATES_EU, True, per_line, {"percent_bp": 1000})
        refund_lines = []
        for line in _eu_lines():
            line = dict(line)
            if "qty" in line:
                line["qty"] = -line["qty"]
            else:
                line["grams"] = -line["grams"]
            refund_lines.append(line)
        refund = tax.compute_totals(refund_lines, RATES_EU, True, per_line, {"percent_bp": 1000})
        _check_sums(refund, True)
        for key in ("subtotal", "sale_discount", "net", "tax", "total"):
            assert refund[key] == -sale[key], key
        for c, d in zip(refund["classes"], sale["classes"]):
            for key in ("discount", "net", "tax", "gross"):
                assert c[key] == -d[key], key


def test_line_discounts_and_amount_sale_discount():
    lines = [{"price": 1000, "qty": 1, "tax_class": "A", "discount": {"percent_bp": 1500}},
             {"price": 500, "qty": 2, "tax_class": "B", "discount": {"amount": 100}}]
    t = tax.compute_totals(lines, RATES_EU, True, False, {"amount": 100})
    _check_sums(t, True)
    assert [(line["amount"], line["discount"], line["total"]) for line in t["lines"]] == \
        [(1000, 150, 850), (1000, 100, 900)]
    assert [c["discount"] for c in t["classes"]] == [49, 51]  # 48.57 / 51.43
    assert t["total"] == 1650


def test_mixed_sale_and_return_lines():
    lines = [{"price": 1000, "qty": 1, "tax_class": "A"},
             {"price": 400, "qty": -1, "tax_class": "B"}]
    t = tax.compute_totals(lines, RATES_EU, True, False)
    _check_sums(t, True)
    assert t["total"] == 600
    assert [c["tax"] for c in t["classes"]] == [160, -26]
    raises(ValueError, tax.compute_totals, lines, RATES_EU, True, False, {"percent_bp": 1000})


def test_unknown_tax_class_names_the_class():
    err = raises(ValueError, tax.compute_totals, [{"price": 1, "qty": 1, "tax_class": "Z"}],
                 RATES_EU, True, True)
    assert "'Z'" in str(err)


def test_empty_sale():
    t = tax.compute_totals([], RATES_EU, True, False, {"percent_bp": 1000})
    assert (t["subtotal"], t["sale_discount"], t["total"], t["classes"]) == (0, 0, 0, [])
