# The sale in progress (till.sale): lines, voids, discounts, tenders, cash
# rounding, the record body and the storno that mirrors a sale.
# Runs under CPython and MicroPython.
import support
from till.formats import records as R
from till.pos.sale import Sale, SaleError, storno_of

RATES = {"A": 190000, "B": 70000}
BREAD = {"plu": 7, "name": "Brot", "price": 289, "tax": "B"}
COLA = {"plu": 150, "name": "Cola", "price": 129, "tax": "A"}
GOUDA = {"plu": 12345, "name": "Gouda", "price": 1390, "tax": "B"}


def new(increment=5, **kw):
    return Sale(RATES, True, False, increment, **kw)


def test_lines_totals_and_voids():
    s = new()
    s.add_line(BREAD, qty=3)
    cola = s.add_line(COLA)
    s.add_line(GOUDA, grams=1234, code="2312345012340", flags=R.LF_WEIGHT_FROM_CODE)
    assert s.total == 867 + 129 + 1715
    assert s.line() is s.lines[-1] and s.line(2) is cola and s.line(4) is None
    s.void(cola)
    assert s.total == 867 + 1715 and len(s.active()) == 2 and s.line(2)["plu"] == 12345
    body = s.body(1, 3)
    assert [ln[R.L_PLU] for ln in body[R.S_LINES]] == [7, 150, 12345]
    assert body[R.S_LINES][1] == {R.L_PLU: 150, R.L_NAME: "Cola", R.L_PRICE: 129, R.L_TAX: "A",
                                  R.L_QTY: 1, R.L_FLAGS: R.LF_VOIDED, R.L_AMOUNT: 129}
    assert body[R.S_LINES][2][R.L_GRAMS] == 1234 and R.L_QTY not in body[R.S_LINES][2]
    assert body[R.S_TAXES] == [["B", 70000, 2413, 169, 2582]]  # 2582 x 7/107 = 168.9
    assert body[R.S_TOTAL] == 2582 and body[R.S_SNAPSHOT] == 3 and body[R.S_CASHIER] == 1


def test_unknown_tax_class_and_full_sale():
    s = new(max_lines=2)
    e = support.raises(SaleError, s.add_line, dict(BREAD, tax="Z"))
    assert str(e) == "Tax class Z not set up: call manager"
    s.add_line(BREAD)
    s.add_line(BREAD)
    assert str(support.raises(SaleError, s.add_line, BREAD)) == "Sale full (2 lines): pay, then go on"


def test_discounts_and_their_record_entries():
    s = new()
    b = s.add_line(BREAD, qty=2)  # 5.78
    s.set_line_discount(b, R.DISC_PERCENT, 1000)  # 0.58 off
    s.add_line(COLA)
    s.set_sale_discount(R.DISC_AMOUNT, 100, approver=9)
    t = s.totals()
    assert t["lines"][0]["discount"] == 58 and t["sale_discount"] == 100
    assert s.total == 578 - 58 + 129 - 100
    body = s.body(1, 1)
    assert body[R.S_LINES][0][R.L_DISCOUNT] == [R.DISC_PERCENT, 1000, 58]
    assert body[R.S_DISCOUNT] == [R.DISC_AMOUNT, 100, 100, 9]
    # An impossible discount leaves the sale as it was.
    support.raises(ValueError, s.set_sale_discount, R.DISC_AMOUNT, 10000)
    assert s.discount == [R.DISC_AMOUNT, 100, 9] and s.total == 549
    support.raises(ValueError, s.set_line_discount, b, R.DISC_AMOUNT, 579)
    assert b["discount"] == [R.DISC_PERCENT, 1000, None] and s.total == 549


def test_cash_part_payments_round_only_at_the_end():
    s = new()
    s.add_line(BREAD, qty=3)  # 8.67
    assert s.cash_due() == 865
    assert s.pay_cash(500) == 0  # part payment: exact, no rounding
    assert s.remaining() == 367 and s.rounding == 0 and not s.is_paid()
    support.raises(SaleError, s.pay_cash, 0)
    assert s.pay_cash(1000) == 1000 - 365  # 3.67 rounds to 3.65 in cash
    assert s.is_paid() and s.rounding == -2 and s.change == 635
    assert s.body(1, 1)[R.S_ROUNDING] == -2
    support.raises(SaleError, s.add_line, BREAD)


def test_card_then_exact_cash_and_card_limits():
    s = new()
    s.add_line(BREAD)  # 2.89
    support.raises(SaleError, s.pay_card, 290, "1")
    support.raises(SaleError, s.pay_card, 0, "1")
    s.pay_card(200, "778899")
    assert s.remaining() == 89 and s.cash_due() == 90
    assert s.pay_cash() == 0
    assert s.is_paid() and s.tenders == [[R.TENDER_CARD, 200, "778899"], [R.TENDER_CASH, 90, 90]]
    assert s.paid == 290 and s.rounding == 1


def test_small_rest_rounds_to_nothing_in_cash():
    s = new()
    s.add_line(BREAD)
    s.pay_card(287, "1")  # 0.02 left: cash rounds it away
    assert s.pay_cash() == 0 and s.is_paid() and s.rounding == -2
    assert s.tenders[-1] == [R.TENDER_CASH, 0, 0]


def test_nothing_to_pay_for():
    s = new()
    support.raises(SaleError, s.pay_cash)
    s.void(s.add_line(BREAD))
    support.raises(SaleError, s.pay_card, None, "1")


def test_storno_mirrors_the_sale_to_the_cent():
    s = new()
    b = s.add_line(BREAD, qty=2, code="4006381333931")
    s.set_line_discount(b, R.DISC_PERCENT, 1000, approver=9)
    s.add_line(GOUDA, grams=777, flags=R.LF_WEIGHT_FROM_CODE)
    s.void(s.add_line(COLA))
    s.add_line(COLA, price=99, flags=R.LF_PRICE_OVERRIDE, approver=9)
    s.set_sale_discount(R.DISC_PERCENT, 500)
    s.pay_cash(5000)
    sale = s.body(1, 2)
    st = storno_of(sale, 42, True, False, 5)
    assert st.refund_of == 42 and st.total == -sale[R.S_TOTAL]
    st.approver = 9
    assert st.pay_cash() == 0 and st.is_paid()
    body = st.body(1, 3)
    assert body[R.S_REFUND_OF] == 42 and body[R.S_APPROVER] == 9
    assert [[e[0], e[1], -e[2], -e[3], -e[4]] for e in body[R.S_TAXES]] == sale[R.S_TAXES]
    sold = [ln for ln in sale[R.S_LINES] if not ln.get(R.L_FLAGS, 0) & R.LF_VOIDED]
    assert len(body[R.S_LINES]) == len(sold) == 3
    for a, b in zip(sold, body[R.S_LINES]):
        assert b[R.L_AMOUNT] == -a[R.L_AMOUNT] and b[R.L_PRICE] == a[R.L_PRICE]
        assert b.get(R.L_QTY, 0) == -a.get(R.L_QTY, 0)
        assert b.get(R.L_GRAMS, 0) == -a.get(R.L_GRAMS, 0)
        if R.L_DISCOUNT in a:
            assert b[R.L_DISCOUNT][2] == -a[R.L_DISCOUNT][2]
    assert body[R.S_DISCOUNT][2] == -sale[R.S_DISCOUNT][2]
    # Paid out in cash, rounded to coins: what leaves the drawer is a multiple of 5.
    assert body[R.S_TENDERS][0][1] % 5 == 0
    assert body[R.S_TENDERS][0][1] == body[R.S_TOTAL] + body.get(R.S_ROUNDING, 0)


def test_storno_keeps_the_original_rates_and_refuses_other_settings():
    s = Sale({"A": 190000}, True, False, 1)
    s.add_line(COLA)
    s.pay_cash()
    sale = s.body(1, 1)
    # Head office has changed VAT since: the storno still uses 19 %.
    st = storno_of(sale, 5, True, False, 1)
    assert st.body(1, 2)[R.S_TAXES] == [["A", 190000, -108, -21, -129]]
    # Taxes added on top now (US style): the mirror would not come out exact.
    e = support.raises(SaleError, storno_of, sale, 5, False, False, 1)
    assert str(e) == "Receipt 5: ask head office"


def test_storno_by_card():
    s = new()
    s.add_line(COLA)
    s.pay_card(None, "1")
    st = storno_of(s.body(1, 1), 9, True, False, 5)
    st.pay_card(None, "2")
    assert st.tenders == [[R.TENDER_CARD, -129, "2"]] and st.is_paid() and st.rounding == 0
