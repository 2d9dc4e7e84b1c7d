# Fitting the engine's lines to a display, the customer pole display's bytes,
# the sim board's text display, and showing on both displays at once.
import io

from till.formats import text
from till.drivers.display import Displays, PoleDisplay, TextDisplay


class Port:
    def __init__(self, fail=False):
        self.data = b""
        self.fail = fail

    def write(self, b):
        if self.fail:
            raise OSError(5)
        self.data += bytes(b)
        return len(b)


def test_fit_pads_cuts_and_keeps_prices_right():
    assert text.fit("Hello", 8) == "Hello   "
    assert text.fit("Hello, world", 8) == "Hello, w"
    assert text.fit(("Milk", "1.29"), 12) == "Milk    1.29"
    assert text.fit(("Chocolate biscuits", "12.99"), 16) == "Chocolate  12.99"
    assert text.fit_lines(["one"], 4, 2) == ["one ", "    "]
    assert text.fit_lines(["a", "b", "c"], 2, 2) == ["a ", "b "]
    for line in ("", "x" * 50, ("y" * 30, "1,234.56"), ("", "")):
        assert len(text.fit(line, 20)) == 20


def test_fold_ascii():
    assert text.fold_ascii("plain text 123") == "plain text 123"
    assert text.fold_ascii("Crème brûlée à 4€") == "Creme brulee a 4EUR"
    assert text.fold_ascii("Straße Œuvre") == "Strasse OEuvre"
    assert text.fold_ascii("tab\there\x1b") == "tab?here?"
    assert text.fold_ascii("日本") == "??"


def test_pole_display_escpos_protocol_bytes():
    port = Port()
    pole = PoleDisplay(port, cols=20, rows=2)
    pole.show([("Milk 1l", "1.29"), ("TOTAL", "1.29")])
    # ESC @ once, then US $ x y before each line (x, y from 1).
    assert port.data == (b"\x1b\x40"
                         + b"\x1f\x24\x01\x01" + b"Milk 1l         1.29"
                         + b"\x1f\x24\x01\x02" + b"TOTAL           1.29")
    port.data = b""
    pole.show([("Bread", "2.10"), ("TOTAL", "1.29")])  # only row 1 changed
    assert port.data == b"\x1f\x24\x01\x01" + b"Bread           2.10"
    port.data = b""
    pole.show([("Bread", "2.10"), ("TOTAL", "1.29")])
    assert port.data == b""


def test_pole_display_euro_and_accents_fold_before_fitting():
    port = Port()
    pole = PoleDisplay(port, cols=20)
    pole.show([("Café crème", "€ 3.20")])
    assert b"Cafe creme  EUR 3.20" in port.data


def test_pole_display_lines_protocol():
    port = Port()
    pole = PoleDisplay(port, cols=10, rows=2, protocol="lines")
    pole.show(["Hello", "World"])
    assert port.data == b"Hello     \r\nWorld     \r\n"


def test_pole_display_unplugged_does_not_raise():
    port = Port(fail=True)
    pole = PoleDisplay(port)
    pole.show(["x"])
    assert isinstance(pole.error, OSError)
    port.fail = False
    pole.show(["x"])
    assert pole.error is None
    assert port.data.startswith(b"\x1b\x40")


def test_text_display_for_the_sim_board():
    out = io.StringIO()
    d = TextDisplay(out, cols=8, rows=2)
    d.show(["Total", ("Cash", "5.00")])
    d.show(["Total", ("Cash", "5.00")])  # unchanged: nothing written
    # The name gives way so the amount stays whole.
    assert out.getvalue() == "|Total   |\n|Cas 5.00|\n\n"
    assert d.lines == ["Total   ", "Cas 5.00"]


def test_both_displays():
    cashier = TextDisplay(io.StringIO(), cols=16)
    port = Port()
    both = Displays(cashier, PoleDisplay(port, cols=20))
    both.show(["Milk", "Sub 1.29"])
    assert cashier.lines[0].startswith("Milk")
    assert b"Milk" in port.data
    both.show(["PIN: ****", "Manager"], customer_lines=["Welcome", ""])
    assert cashier.lines[0].startswith("PIN")
    assert b"Welcome" in port.data and b"PIN" not in port.data
    alone = Displays(cashier)
    alone.show(["x"])
    assert cashier.lines[0].startswith("x")
