# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# The cashier's display and keys (issue 11, section 3): PIN entry, long names
# beside their prefixes, leaving a sale whose lines were all voided, what a
# menu or a prompt answers to a key it does not take, and what an unknown item
# tells the cashier to do. On the 20-column display and the narrowest one.
from engine_fixture import PINS, Till, display, items, meta, of
from till.formats import barcode
from till.formats import journal as J
from till.formats import records as R

LONG_NAME = "Schokolade Vollmilch Haselnuss 100 g"


def catalog():
    return items() + [{"plu": 77, "name": LONG_NAME, "price": 9999999, "tax": "A",
                       "barcodes": ["4000417025005"]}]


def long_named(cashier_id, name):
    m = meta()
    m["cashiers"][cashier_id]["name"] = name
    return m


def events(till, ev):
    return [r for r in till.records(J.KIND_EVENT) if r[J.K_BODY][R.E_TYPE] == ev]


def test_an_empty_pin_is_no_try_and_a_wrong_one_asks_the_same_cashier_again():
    till = Till()
    try:
        till.keys("2 SIGN")
        for _ in range(5):  # more than pin_max_tries: none of them counts
            acts = till.keys("TOTAL")
            assert display(acts) == ("Key your PIN, then", "TOTAL") and of(acts, "beep")
            till.keys("CLEAR")
            assert till.display() == ("Cashier          Ben", "PIN?")
        assert till.engine.guard.tries_left(2) == 3
        acts = till.keys("1234 TOTAL")
        assert display(acts) == ("Wrong PIN: 2 tries", "left")
        # The next key goes into Ben's PIN, not into a cashier number.
        acts = till.keys("2")
        assert display(acts) == ("Cashier          Ben", "PIN?               *")
        till.keys("222 TOTAL")
        assert till.engine.cashier["id"] == 2 and till.engine.guard.tries_left(2) == 3
        assert not events(till, R.EV_LOCKOUT)
        # CLEAR twice at a re-asked PIN goes back to the cashier no.
        till.keys("SIGN 2 SIGN 0000 TOTAL CLEAR CLEAR")
        assert till.display() == ("Kassa", "Cashier no.?")
    finally:
        till.close()


def test_the_last_wrong_pin_locks_out_and_asks_no_more():
    till = Till()
    try:
        till.keys("2 SIGN 0000 TOTAL 0001 TOTAL TOTAL")
        acts = till.keys("0002 TOTAL")
        assert display(acts) == ("Cashier 2 locked for", "15 min")
        assert till.engine.prompt is None and len(events(till, R.EV_LOCKOUT)) == 1
        acts = till.keys("CLEAR")
        assert display(acts) == ("Kassa", "Cashier no.?")
    finally:
        till.close()


def test_a_manager_pin_left_empty_is_no_try():
    till = Till()
    try:
        till.sign_on(2)
        till.scan("4006381333931")
        till.keys("50 DISCOUNT 9 TOTAL")
        assert till.display() == ("Manager        Maria", "PIN?")
        for _ in range(4):
            acts = till.keys("TOTAL")
            assert display(acts) == ("Key your PIN, then", "TOTAL")
            till.keys("CLEAR")
        assert till.engine.guard.tries_left(9) == 3
        acts = till.keys("1234 TOTAL")
        assert display(acts) == ("Wrong PIN: 2 tries", "left")
        acts = till.keys("%s TOTAL" % PINS[9])
        assert display(acts) == ("Discount       -1.45", "Total           1.44")
        assert till.engine.sale.line()["discount"][2] == 9
    finally:
        till.close()


def test_the_lock_screen_counts_no_empty_pin():
    till = Till()
    try:
        till.sign_on()
        till.tick(300)
        for _ in range(4):
            acts = till.keys("TOTAL")
            assert display(acts) == ("Locked: key your", "PIN, then TOTAL")
            till.keys("CLEAR")
        assert till.engine.guard.tries_left(1) == 3 and till.engine.locked
    finally:
        till.close()


def check_prefixes_stay(cols):
    name = "Alexandra-Katharina Schmidt"
    till = Till(long_named(9, name), cols=cols, catalog=catalog())
    try:
        acts = till.keys("9 SIGN")
        line1 = display(acts)[0]
        assert line1.startswith("Cashier ") and name.startswith(line1[8:].strip())
        till.keys("9999 TOTAL")
        acts = till.scan("4000417025005")
        # The price is never cut; the name gives way.
        line1 = display(acts)[0]
        assert line1.endswith(" 99999.99") and LONG_NAME.startswith(line1[:-9].strip())
        acts = till.keys("VOID")
        line1 = display(acts)[0]
        assert len(line1) == cols and line1.startswith("VOID ")
        assert LONG_NAME.startswith(line1[5:].strip()) and line1[-1] != " "
        till.keys("CLEAR")  # the message; the sale was empty: CLEAR leaves it
        assert till.keys("CLEAR") and till.engine.sale is None
        acts = till.tick(300)
        line1 = display(acts)[0]
        assert line1.startswith("Locked ") and name.startswith(line1[7:].strip())
    finally:
        till.close()


def test_prefixes_stay_before_long_names_on_20_columns():
    check_prefixes_stay(20)


def test_prefixes_stay_before_long_names_on_16_columns():
    check_prefixes_stay(16)


def test_a_manager_prompt_keeps_its_prefix():
    till = Till(long_named(9, "Maximiliane von Hohenzollern"), catalog=catalog())
    try:
        till.sign_on(2)
        acts = till.keys("NO_SALE 9 TOTAL")
        assert display(acts) == ("Manager  Maximiliane", "PIN?")
    finally:
        till.close()


def test_a_sale_whose_lines_were_all_voided_is_left_without_a_manager():
    till = Till()
    try:
        till.sign_on(2)  # Ben: may void a line, may not cancel a sale
        till.scan("4006381333931")
        till.scan("4008400402222")
        till.keys("VOID VOID CLEAR")
        acts = till.keys("CLEAR")
        assert display(acts) == ("Sale cancelled", "") and till.engine.sale is None
        rec = [a for a in acts if a[0] == "record"]
        assert len(rec) == 1 and rec[0][3][R.E_TYPE] == R.EV_CANCEL
        assert R.E_APPROVER not in rec[0][3]
        lines = rec[0][3][R.E_DETAIL][R.S_LINES]
        assert [ln[R.L_FLAGS] & R.LF_VOIDED for ln in lines] == [R.LF_VOIDED, R.LF_VOIDED]
        assert not of(acts, "drawer") and till.engine.totals.count(R.C_CANCELLED) == 1
        # A line still in the sale: cancelling it needs a manager, as before.
        till.keys("CLEAR")
        till.scan("4006381333931")
        till.scan("4008400402222")
        till.keys("VOID")
        acts = till.keys("CLEAR CLEAR TOTAL")
        assert display(acts) == ("Cancel: manager", "Manager no.?")
    finally:
        till.close()


def test_menus_and_prompts_answer_in_their_own_words():
    till = Till()
    try:
        till.sign_on(9)
        for keys in ("REPORT 9", "TOTAL", "CASH"):
            acts = till.keys(keys if keys.startswith("REPORT") else "CLEAR " + keys)
            assert display(acts) == ("Key 1 to 7, or CLEAR", ""), keys
        assert till.engine.prompt is not None
        till.keys("CLEAR CLEAR")
        assert till.engine.prompt is None and till.display() == ("Maria", "")
        # A yes/no question, digits or another key.
        till.scan("5000267024608")
        for key in ("1", "CASH"):
            acts = till.keys(key)
            assert display(acts) == ("TOTAL = yes, CLEAR =", "no"), key
            till.keys("CLEAR")
        till.keys("TOTAL CASH")  # age checked, paid
        no = till.records(J.KIND_SALE)[-1][J.K_BODY][R.S_NUMBER]
        # A refund says what it pays back and how; a key it does not take says why.
        acts = till.keys("CLEAR REFUND %d TOTAL" % no)
        assert display(acts)[1] == "CASH or CARD"
        for key in ("DISCOUNT", "5 PRICE"):
            acts = till.keys(key)
            assert display(acts) == ("Refund: no price or", "discount"), key
            till.keys("CLEAR")
        acts = till.keys("CASH")
        assert display(acts)[0].startswith("Refunded")
        # A prompt that takes a number.
        acts = till.keys("CLEAR REFUND VOID")
        assert display(acts) == ("TOTAL to confirm,", "CLEAR to go back")
    finally:
        till.close()


def test_an_unknown_item_says_what_to_do_next():
    till = Till()
    try:
        till.sign_on()
        acts = till.scan("4012345678901")
        assert display(acts) == ("Item 4012345678901", "Unknown: key PLU") and of(acts, "beep")
        acts = till.keys("CLEAR 4012345678901 PLU")  # a barcode keyed by hand
        assert display(acts) == ("Item 4012345678901", "Unknown: key PLU")
        acts = till.keys("CLEAR 555 PLU")
        assert display(acts) == ("Item 555", "Unknown: ask mgr")
        # A scale label naming a PLU the catalog lacks: only a manager helps.
        body = "239999901234"
        code = body + str(barcode.check_digit(body))
        acts = till.keys("CLEAR") + till.scan(code)
        assert display(acts) == ("Item " + code, "Unknown: ask mgr")
        assert till.engine.sale is None
    finally:
        till.close()
    till = Till(cols=16)
    try:
        till.sign_on()
        acts = till.scan("4012345678901")
        assert display(acts) == ("4012345678901", "Unknown: key PLU")
        acts = till.keys("CLEAR 555 PLU")
        assert display(acts) == ("Item 555", "Unknown: ask mgr")
    finally:
        till.close()


def test_status_flags_keep_whole_words_on_a_narrow_display():
    # TRAINING OFFLINE PRINTER is 24 characters: the last flag gives way whole
    # (it used to show the tail: "NING OFFLINE PRINTER").
    for cols in (20, 16):
        till = Till(cols=cols, last_sync=None)  # never synced: OFFLINE
        try:
            till.sign_on(9)
            till.keys("REPORT 4 CLEAR")
            acts = till.send(("printer", "paper_out"))
            assert till.engine.status_flags() == "TRAINING OFFLINE"
            line1 = display(acts)[0]
            assert line1.endswith("TRAINING OFFLINE") and len(line1) == cols
        finally:
            till.close()
