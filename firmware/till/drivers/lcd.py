# The cashier's character display: an HD44780 (16x2, 20x2, 20x4) behind a
# PCF8574 I2C backpack, driven in 4-bit mode.
#
# The driver only calls `i2c.writeto(addr, buf)` (machine.I2C, or smbus2 through
# a small adapter on a Pi) and an injected `delay_ms` for the few waits the
# datasheet demands. The PCF8574 copies each byte it receives to its pins
# P0-P7; the common backpack wiring (and the one assumed here) is
#   P0 RS, P1 R/W, P2 E, P3 backlight transistor, P4-P7 D4-D7.
# The HD44780 latches a nibble on the falling edge of E, so each nibble goes out
# as two bytes: with E high, then with E low. Several bytes travel in one I2C
# write; at 100 kHz a byte takes 90 us, which covers the 450 ns E pulse and the
# 37 us a command or character needs, so only clear (1.52 ms) and the power-on
# sequence need explicit waits.
#
# Datasheet: Hitachi HD44780U (ADE-207-272), table 6 (instructions), figure 24
# (initializing by instruction, 4-bit interface).
from till.drivers import periph
from till.drivers.linedisplay import LineDisplay
from till.formats.text import fold_ascii

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_RS = const(0x01)  # register select: 1 = data (DDRAM/CGRAM), 0 = instruction
_E = const(0x04)  # enable: nibble latched on its falling edge
_BL = const(0x08)  # backlight on

_CLEAR = const(0x01)
_ENTRY_INCREMENT = const(0x06)  # entry mode set: cursor moves right, no shift
_DISPLAY_OFF = const(0x08)
_DISPLAY_ON = const(0x0C)  # display on, cursor off, blink off
_FUNCTION_4BIT_2LINE = const(0x28)  # DL=0 (4-bit), N=1 (2 lines), F=0 (5x8 dots)
_SET_CGRAM = const(0x40)
_SET_DDRAM = const(0x80)

_EURO_CODE = const(0x08)  # CGRAM character 0 (codes 0x00 and 0x08 both show it)
# 5x8 dots, one byte per row, bit 4 leftmost.
EURO_GLYPH = b"\x06\x09\x1e\x08\x1e\x09\x06\x00"

# What the usual character ROM (A00, Japanese) has beyond ASCII; 0x5C is a yen
# sign and 0x7E/0x7F arrows there, so backslash and tilde are replaced.
_ROM_A00 = {"€": _EURO_CODE, "ä": 0xE1, "ß": 0xE2, "µ": 0xE4, "ö": 0xEF,
            "ü": 0xF5, "°": 0xDF, "\\": 0x2F, "~": 0x2D}


def lcd_fold(text):
    """`text` as HD44780 (ROM A00) character codes, each a str of one char < 256."""
    out = []
    for ch in text:
        code = _ROM_A00.get(ch)
        if code is not None:
            out.append(chr(code))
        else:
            out.append(fold_ascii(ch))
    return "".join(out)


class Lcd(LineDisplay):
    """show(lines) puts the engine's lines on the display; only changed rows are
    sent. An I2C error (display unplugged) is kept in `.error`; the next change
    initializes the display again and redraws it."""

    _fold = staticmethod(lcd_fold)

    def __init__(self, i2c, addr=0x27, cols=16, rows=2, delay_ms=None, backlight=True):
        LineDisplay.__init__(self, cols, rows)
        self._i2c = i2c
        self.addr = addr
        self._delay_ms = delay_ms or periph.delay_ms
        self._bl = _BL if backlight else 0
        self._initialized = False
        # DDRAM address of each row's first character: rows 2 and 3 of a 4-row
        # display continue rows 0 and 1 (datasheet, "Display Data RAM").
        self._row_addr = (0x00, 0x40, cols, 0x40 + cols)[:rows]

    def _nibbles(self, out, value, flags):
        for nib in (value & 0xF0, (value << 4) & 0xF0):
            out.append(nib | flags | _E)
            out.append(nib | flags)

    def _write(self, value, flags=0):
        out = bytearray()
        self._nibbles(out, value, flags | self._bl)
        self._i2c.writeto(self.addr, out)

    def _half(self, nibble):
        # One nibble of an 8-bit-interface instruction, during initialization.
        b = (nibble << 4) | self._bl
        self._i2c.writeto(self.addr, bytes((b | _E, b)))

    def init(self, power_on=True):
        """Initialize by instruction (datasheet figure 24, 4-bit interface)."""
        d = self._delay_ms
        if power_on:
            d(50)  # more than 40 ms after Vcc rises to 2.7 V
        self._i2c.writeto(self.addr, bytes((self._bl,)))  # E, RS low
        self._half(0x3)  # function set, 8-bit: the display may be in any mode
        d(5)  # more than 4.1 ms
        self._half(0x3)
        d(1)  # more than 100 us
        self._half(0x3)
        d(1)
        self._half(0x2)  # function set, 4-bit: from here every byte is 2 nibbles
        d(1)
        self._write(_FUNCTION_4BIT_2LINE)
        self._write(_DISPLAY_OFF)
        self._write(_CLEAR)
        d(2)  # clear takes 1.52 ms
        self._write(_ENTRY_INCREMENT)
        out = bytearray()
        self._nibbles(out, _SET_CGRAM | 0, self._bl)  # CGRAM character 0
        for row in EURO_GLYPH:
            self._nibbles(out, row, _RS | self._bl)
        self._i2c.writeto(self.addr, out)
        self._write(_DISPLAY_ON)
        self._initialized = True
        self.lines = [" " * self.cols] * self.rows  # blank after clear

    def set_backlight(self, on):
        self._bl = _BL if on else 0
        self._i2c.writeto(self.addr, bytes((self._bl,)))

    def _send(self, fitted):
        try:
            if not self._initialized:
                self.init(power_on=False)
            for r, text in enumerate(fitted):
                if self.lines is not None and self.lines[r] == text:
                    continue
                out = bytearray()
                self._nibbles(out, _SET_DDRAM | self._row_addr[r], self._bl)
                for ch in text:
                    self._nibbles(out, ord(ch), _RS | self._bl)
                self._i2c.writeto(self.addr, out)
        except OSError:
            self._initialized = False
            raise
