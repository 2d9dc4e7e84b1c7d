# HD44780 through a PCF8574 backpack: the exact I2C bytes of the datasheet's
# 4-bit initialization and of writing lines, with the waits in between.
#
# Backpack pins: P0 RS, P1 R/W, P2 E, P3 backlight, P4-P7 D4-D7. A nibble is
# two bytes, E high then E low; a byte is its high nibble then its low one.
import support
from till.drivers import lcd
from till.drivers.lcd import Lcd


class Bus:
    """Records every I2C write and every delay, in order."""

    def __init__(self, fail=False):
        self.log = []
        self.fail = fail

    def writeto(self, addr, buf):
        if self.fail:
            raise OSError(19)  # ENODEV: nothing answers at that address
        self.log.append(("w", addr, bytes(buf)))

    def delay_ms(self, ms):
        self.log.append(("d", ms))

    def writes(self):
        return b"".join(e[2] for e in self.log if e[0] == "w")


def data_byte(value):
    # RS=1 (0x01), backlight (0x08), E (0x04) pulsed per nibble.
    hi = (value & 0xF0) | 0x09
    lo = ((value << 4) & 0xF0) | 0x09
    return bytes((hi | 0x04, hi, lo | 0x04, lo))


def test_data_byte_helper_matches_the_wiring():
    # "A" = 0x41: D7-D4 = 0100 then 0001, RS and backlight on.
    assert data_byte(0x41) == b"\x4d\x49\x1d\x19"


INIT = [
    ("d", 50),
    ("w", 0x27, b"\x08"),  # all control lines low, backlight on
    ("w", 0x27, b"\x3c\x38"), ("d", 5),  # 0x3 (8-bit function set), >4.1 ms
    ("w", 0x27, b"\x3c\x38"), ("d", 1),  # 0x3, >100 us
    ("w", 0x27, b"\x3c\x38"), ("d", 1),  # 0x3
    ("w", 0x27, b"\x2c\x28"), ("d", 1),  # 0x2: 4-bit interface
    ("w", 0x27, b"\x2c\x28\x8c\x88"),  # 0x28 function set: 2 lines, 5x8
    ("w", 0x27, b"\x0c\x08\x8c\x88"),  # 0x08 display off
    ("w", 0x27, b"\x0c\x08\x1c\x18"), ("d", 2),  # 0x01 clear, 1.52 ms
    ("w", 0x27, b"\x0c\x08\x6c\x68"),  # 0x06 entry mode: increment
    ("w", 0x27, b"\x4c\x48\x0c\x08" + b"".join(data_byte(b) for b in lcd.EURO_GLYPH)),
    ("w", 0x27, b"\x0c\x08\xcc\xc8"),  # 0x0C display on, cursor off
]


def make(**kw):
    bus = Bus()
    d = Lcd(bus, delay_ms=bus.delay_ms, **kw)
    return bus, d


def test_init_sequence_exact_bytes_and_waits():
    bus, d = make()
    assert bus.log == []  # constructing touches nothing
    d.init()
    assert bus.log == INIT


def test_show_writes_both_lines_at_their_ddram_addresses():
    bus, d = make()
    d.init()
    bus.log = []
    d.show(["TOTAL", ("Milk", "1.29")])
    assert bus.log == [
        ("w", 0x27, b"\x8c\x88\x0c\x08" + b"".join(data_byte(c) for c in b"TOTAL" + b" " * 11)),
        ("w", 0x27, b"\xcc\xc8\x0c\x08" + b"".join(data_byte(c) for c in b"Milk        1.29")),
    ]
    assert d.lines == ["TOTAL           ", "Milk        1.29"]


def test_only_changed_rows_are_sent():
    bus, d = make()
    d.init()
    d.show(["Welcome", "Sign on"])
    bus.log = []
    d.show(["Welcome", "Sign on"])
    assert bus.log == []
    d.show(["Welcome", "PIN:"])
    assert len(bus.log) == 1 and bus.log[0][2][:4] == b"\xcc\xc8\x0c\x08"
    # After init the display is blank, so blank rows need no write.
    bus2, d2 = make()
    d2.init()
    bus2.log = []
    d2.show(["Hi"])
    assert len(bus2.log) == 1


def test_lines_fitted_to_width_never_wrap():
    bus, d = make(cols=16)
    d.init()
    d.show(["A very long product name indeed", ("Extraordinarily long name", "12.50")])
    assert d.lines == ["A very long prod", "Extraordin 12.50"]


def test_four_row_display_addresses():
    bus, d = make(cols=20, rows=4)
    d.init()
    bus.log = []
    d.show(["a", "b", "c", "d"])
    # Rows start at DDRAM 0x00, 0x40, 0x14, 0x54 on a 20x4 module.
    cmds = [e[2][:4] for e in bus.log]
    assert cmds == [b"\x8c\x88\x0c\x08", b"\xcc\xc8\x0c\x08",
                    b"\x9c\x98\x4c\x48", b"\xdc\xd8\x4c\x48"]


def test_character_rom_mapping():
    assert lcd.lcd_fold("€ äöüß 5°") == "\x08 \xe1\xef\xf5\xe2 5\xdf"
    assert lcd.lcd_fold("Crème brûlée") == "Creme brulee"
    assert lcd.lcd_fold("a\\b~") == "a/b-"  # ROM A00 has a yen sign at 0x5C
    bus, d = make(cols=8, rows=1)
    d.init()
    bus.log = []
    d.show([("Tee", "€2")])
    assert bus.log[0][2][4:] == b"".join(data_byte(c) for c in b"Tee   \x082")


def test_backlight_off_clears_bit3_everywhere():
    bus, d = make(backlight=False)
    d.init()
    assert all(b & 0x08 == 0 for b in bus.writes())
    bus.log = []
    d.set_backlight(True)
    assert bus.log == [("w", 0x27, b"\x08")]


def test_other_address():
    bus, d = make(addr=0x3F)
    d.init()
    assert {e[1] for e in bus.log if e[0] == "w"} == {0x3F}


def test_unplugged_display_reports_and_recovers():
    bus, d = make()
    d.init()
    d.show(["one", "two"])
    bus.fail = True
    d.show(["three", "four"])  # must not raise into the main loop
    assert isinstance(d.error, OSError)
    bus.fail = False
    bus.log = []
    d.show(["three", "four"])
    assert d.error is None
    # Re-initialized without the power-on wait, then both rows redrawn.
    assert bus.log[0] == ("w", 0x27, b"\x08")
    assert ("d", 50) not in bus.log
    assert bus.log[-2][2][:4] == b"\x8c\x88\x0c\x08"
    assert bus.log[-1][2][:4] == b"\xcc\xc8\x0c\x08"
    assert d.lines == ["three           ", "four            "]


def test_show_before_init_initializes():
    bus, d = make()
    d.show(["x"])
    assert bus.log[0] == ("w", 0x27, b"\x08")
    assert d.lines[0] == "x" + " " * 15
