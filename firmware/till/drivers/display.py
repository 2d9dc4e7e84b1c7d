# Character displays: fitting the engine's lines to a display, the optional
# customer pole display on a serial stream, and the sim board's text display.
#
# The engine says what to show as a list of lines; a line is a string or a
# (left, right) pair such as ("Milk 1l", "1.29") whose right part is kept
# flush right. Every display here shows exactly `rows` lines of exactly `cols`
# characters: text is cut, never wrapped, so a long product name can never push
# the price off the display.
from till.drivers.linedisplay import LineDisplay


class PoleDisplay(LineDisplay):
    """A customer pole display on a serial stream (anything with `write`).

    protocol "escpos": the Epson DM-D command set most pole displays emulate:
    ESC @ (1B 40) initializes and clears once, then each line is placed with
    US $ x y (1F 24 x y, x and y from 1) and written in full, so no line
    scrolls. protocol "lines": each update is the lines ended by CR LF, for
    displays that show the last lines received.
    """

    def __init__(self, stream, cols=20, rows=2, protocol="escpos"):
        if protocol not in ("escpos", "lines"):
            raise ValueError("pole display protocol must be 'escpos' or 'lines'")
        LineDisplay.__init__(self, cols, rows)
        self._stream = stream
        self._protocol = protocol
        self._initialized = False

    def _send(self, fitted):
        out = bytearray()
        if self._protocol == "lines":
            for text in fitted:
                out += text.encode() + b"\r\n"
        else:
            if not self._initialized:
                out += b"\x1b\x40"
            for r, text in enumerate(fitted):
                if self.lines is None or self.lines[r] != text:
                    out += bytes((0x1F, 0x24, 1, r + 1)) + text.encode()
        self._stream.write(bytes(out))
        self._initialized = True


class TextDisplay(LineDisplay):
    """The sim board's display: each change is written to a text stream (stdout
    or a file) as its lines between bars, then a blank line."""

    def __init__(self, stream, cols=16, rows=2):
        LineDisplay.__init__(self, cols, rows)
        self._stream = stream
        # Text is written as it will look on an HD44780: ASCII only.

    def _send(self, fitted):
        self._stream.write("".join("|" + t + "|\n" for t in fitted) + "\n")
        if hasattr(self._stream, "flush"):
            self._stream.flush()


class Displays:
    """The cashier's display and, optionally, the customer's: one show() call.

    customer_lines default to the cashier's lines; the engine passes its own
    (e.g. just the last item and the total) when the two should differ.
    """

    def __init__(self, cashier, customer=None):
        self.cashier = cashier
        self.customer = customer

    def show(self, lines, customer_lines=None):
        self.cashier.show(lines)
        if self.customer is not None:
            self.customer.show(lines if customer_lines is None else customer_lines)
