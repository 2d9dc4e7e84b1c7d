# The till's ESC/POS builder: exact bytes for each command, written out from the
# Epson ESC/POS reference (not from the builder), under CPython and MicroPython.
# tests/host/test_escpos_oracle.py checks the same operations against python-escpos.
import io

import support
from till.formats import codepages, escpos, text
from till.formats.escpos import EscPos


def built(fn):
    p = EscPos()
    fn(p)
    return p.output()


def test_setup_and_style_commands():
    assert built(lambda p: p.init()) == b"\x1b\x40"
    assert built(lambda p: p.align(escpos.LEFT)) == b"\x1b\x61\x00"
    assert built(lambda p: p.align(escpos.CENTER)) == b"\x1b\x61\x01"
    assert built(lambda p: p.align(escpos.RIGHT)) == b"\x1b\x61\x02"
    assert built(lambda p: p.bold()) == b"\x1b\x45\x01"
    assert built(lambda p: p.bold(False)) == b"\x1b\x45\x00"
    assert built(lambda p: p.underline(2)) == b"\x1b\x2d\x02"
    assert built(lambda p: p.size(2, 2)) == b"\x1d\x21\x11"
    assert built(lambda p: p.size(2, 1)) == b"\x1d\x21\x10"
    assert built(lambda p: p.size(1, 3)) == b"\x1d\x21\x02"
    assert built(lambda p: p.size()) == b"\x1d\x21\x00"
    assert built(lambda p: p.size(8, 8)) == b"\x1d\x21\x77"
    assert built(lambda p: p.codepage(19, codepages.CP858)) == b"\x1b\x74\x13"


def test_bad_arguments_raise_before_anything_is_sent():
    p = EscPos()
    for fn, args in ((p.align, (3,)), (p.size, (0, 1)), (p.size, (1, 9)),
                     (p.underline, (3,)), (p.feed, (256,)), (p.drawer, (3,)),
                     (p.drawer, (2, 1000)), (p.codepage, (256, codepages.CP858)),
                     (p.qr, ("x", 17)), (p.qr, ("x", 3, 4)), (p.qr, ("x", 3, 0, 3)),
                     (p.ean13, ("12345678901",)), (p.ean13, ("12345678901a",)),
                     (p.ean13, ("4006381333932",)), (p.ean13, ("400638133393", 0)),
                     (p.ean13, ("400638133393", 64, 7)), (p.code128, ("caf\u00e9",)),
                     (p.code128, ("a\tb",)), (p.code128, ("x" * 254,)),
                     (p.raster, (0, 1, b""))):
        support.raises(ValueError, fn, *args)
    assert p.output() == b""


def test_feed_cut_drawer():
    assert built(lambda p: p.feed(3)) == b"\x1b\x64\x03"
    # python-escpos cut(): ESC d 6 (bring the last line past the blade), GS V 0
    assert built(lambda p: p.cut()) == b"\x1b\x64\x06\x1d\x56\x00"
    assert built(lambda p: p.cut(partial=True)) == b"\x1b\x64\x06\x1d\x56\x01"
    assert built(lambda p: p.cut(feed_lines=0)) == b"\x1d\x56\x00"
    # ESC p m t1 t2: 50 x 2 ms on, 50 x 2 ms off
    assert built(lambda p: p.drawer()) == b"\x1b\x70\x00\x32\x32"
    assert built(lambda p: p.drawer(5)) == b"\x1b\x70\x01\x32\x32"
    assert built(lambda p: p.drawer(2, 200, 500)) == b"\x1b\x70\x00\x64\xfa"


def test_text_cp858():
    p = EscPos()
    p.codepage(19, codepages.CP858)
    p.textln("Grüße €5, Ñandú, café")
    assert p.output() == (b"\x1b\x74\x13" + b"Gr\x81\xe1e \xd55, \xa5and\xa3, caf\x82\n")


def test_unmappable_and_control_characters_become_question_marks():
    p = EscPos()
    p.codepage(19, codepages.CP858)
    # Ω is not in CP858, 漢 in no single-byte page; ESC inside a name must not
    # reach the printer as a command, nor TAB, CR or DEL.
    p.text("Ω漢\x1b@\t\r\x7f\n")
    assert p.output() == b"\x1b\x74\x13??" + b"?@???\n"


def test_default_table_is_cp437_and_init_returns_to_it():
    p = EscPos()
    p.text("€é")  # CP437 has é (0x82) but no euro sign
    p.codepage(19, codepages.CP858)
    p.text("€")
    p.init()
    p.text("€")
    assert p.output() == b"?\x82" + b"\x1b\x74\x13\xd5" + b"\x1b\x40?"


def test_codepage_tables_match_cpython_codecs():
    if support.IS_MICROPYTHON:
        support.skip("MicroPython has no cp437/cp858 codecs: checked under CPython")
    every = bytes(range(0x80, 0x100))
    assert codepages.CP437 == every.decode("cp437")
    assert codepages.CP858 == every.decode("cp858")
    text = "".join(chr(c) for c in range(0x20, 0x7F)) + every.decode("cp858")
    assert bytes(codepages.encode(text, codepages.CP858)) == text.encode("cp858")


def test_decode_inverts_encode():
    data = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
    for table in (codepages.CP437, codepages.CP858):
        assert len(table) == 128
        assert bytes(codepages.encode(codepages.decode(data, table), table)) == data


def test_text_columns_never_overflow():
    assert text.fit_columns("Milk", "1.20", 12) == "Milk    1.20"
    assert text.fit_columns("Organic whole milk", "1.20", 12) == "Organic 1.20"
    assert text.fit_columns("", "1.20", 6) == "  1.20"
    assert text.fit_columns("ab", "12345", 6) == " 12345"
    assert text.fit_columns("ab", "1234567", 6) == "123456"
    for n in range(30):
        line = text.fit_columns("x" * n, "9.99", 16)
        assert len(line) == 16 and line.endswith(" 9.99"), line
    p = EscPos(columns=16)
    p.codepage(19, codepages.CP858)
    p.text_columns("Bread, sourdough loaf", "€3.40")
    p.size(2, 2)
    p.text_columns("TOTAL", "€3.40")  # double width: 8 columns left
    p.size()
    p.text_columns("Tea", "€1", 8)
    assert p.output() == (b"\x1b\x74\x13" + b"Bread, sou \xd53.40\n"
                          + b"\x1d\x21\x11" + b"TO \xd53.40\n"
                          + b"\x1d\x21\x00" + b"Tea   \xd51\n")


def test_ean13():
    setup = (b"\x1b\x61\x01"  # ESC a 1: centre
             b"\x1d\x68\x40"  # GS h 64: height
             b"\x1d\x77\x03"  # GS w 3: module width
             b"\x1d\x66\x00"  # GS f 0: HRI font A
             b"\x1d\x48\x02")  # GS H 2: HRI below
    assert built(lambda p: p.ean13("400638133393")) == (
        setup + b"\x1d\x6b\x02" + b"400638133393" + b"\x00")
    assert built(lambda p: p.ean13("4006381333931")) == (
        setup + b"\x1d\x6b\x02" + b"4006381333931" + b"\x00")
    assert built(lambda p: p.ean13("400638133393", function_b=True)) == (
        setup + b"\x1d\x6b\x43\x0c" + b"400638133393")
    for good in ("5901234123457", "0000000000000"):
        assert built(lambda p: p.ean13(good)).endswith(b"\x1d\x6b\x02" + good.encode() + b"\x00")
    assert built(lambda p: p.ean13("400638133393", 100, 2, escpos.HRI_NONE, False)) == (
        b"\x1d\x68\x64\x1d\x77\x02\x1d\x66\x00\x1d\x48\x00\x1d\x6b\x02400638133393\x00")


def test_code128_selects_set_b_and_escapes_braces():
    out = built(lambda p: p.code128("KASSA-123", center=False))
    assert out == (b"\x1d\x68\x40\x1d\x77\x03\x1d\x66\x00\x1d\x48\x02"
                   b"\x1d\x6b\x49\x0b{BKASSA-123")
    out = built(lambda p: p.code128("a{b", center=False))
    assert out.endswith(b"\x1d\x6b\x49\x06{Ba{{b")


def test_qr_native():
    out = built(lambda p: p.qr("https://kassa.example/r/42", 4, escpos.QR_EC_M))
    data = b"https://kassa.example/r/42"
    n = len(data) + 3
    assert out == (b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"  # model 2
                   b"\x1d\x28\x6b\x03\x00\x31\x43\x04"  # module size 4
                   b"\x1d\x28\x6b\x03\x00\x31\x45\x31"  # error correction M
                   + b"\x1d\x28\x6b" + bytes((n, 0)) + b"\x31\x50\x30" + data  # store
                   + b"\x1d\x28\x6b\x03\x00\x31\x51\x30")  # print
    assert built(lambda p: p.qr("")) == b""
    # UTF-8, and a length above 255 uses pH
    out = built(lambda p: p.qr("€" * 100))
    assert b"\x1d\x28\x6b\x2f\x01\x31\x50\x30" + "€".encode() in out


def test_raster_from_bytes_and_stream():
    rows = bytes(range(6))  # 2 bytes x 3 rows
    header = b"\x1d\x76\x30\x00\x02\x00\x03\x00"
    assert built(lambda p: p.raster(2, 3, rows)) == header + rows
    assert built(lambda p: p.raster(2, 3, io.BytesIO(rows))) == header + rows
    # Taller than a fragment: several GS v 0 commands, as python-escpos sends.
    out = built(lambda p: p.raster(2, 3, io.BytesIO(rows), fragment_rows=2))
    assert out == (b"\x1d\x76\x30\x00\x02\x00\x02\x00" + rows[:4]
                   + b"\x1d\x76\x30\x00\x02\x00\x01\x00" + rows[4:])


def test_raster_streams_a_large_logo_in_small_writes():
    class Sink:
        def __init__(self):
            self.sizes = []
            self.data = bytearray()

        def write(self, b):
            self.sizes.append(len(b))
            self.data.extend(b)

    logo = bytes((i * 7) & 0xFF for i in range(64 * 120))  # 512 x 120 dots
    sink = Sink()
    EscPos(sink).raster(64, 120, io.BytesIO(logo))
    assert bytes(sink.data) == b"\x1d\x76\x30\x00\x40\x00\x78\x00" + logo
    assert max(sink.sizes) <= 256


def test_raster_short_stream_is_padded_then_reported():
    p = EscPos()
    err = support.raises(ValueError, p.raster, 2, 3, io.BytesIO(b"\xff\xff\xff"))
    assert "3 bytes early" in str(err)
    # The printer still gets the 6 bytes it waits for.
    assert p.output() == b"\x1d\x76\x30\x00\x02\x00\x03\x00\xff\xff\xff\x00\x00\x00"


def test_writes_go_to_the_stream():
    s = io.BytesIO()
    p = EscPos(s)
    p.init()
    p.textln("hi")
    p.cut()
    assert s.getvalue() == b"\x1b\x40hi\n\x1b\x64\x06\x1d\x56\x00"


def test_clear():
    p = EscPos()
    p.text("x")
    p.clear()
    p.text("y")
    assert p.output() == b"y"


def test_status_queries_and_replies():
    assert escpos.STATUS_PRINTER == b"\x10\x04\x01"
    assert escpos.STATUS_OFFLINE == b"\x10\x04\x02"
    assert escpos.STATUS_ERROR == b"\x10\x04\x03"
    assert escpos.STATUS_PAPER == b"\x10\x04\x04"
    assert built(lambda p: p.request_status(escpos.STATUS_PAPER)) == b"\x10\x04\x04"

    assert escpos.parse_paper_status(0x12) == escpos.PAPER_OK
    assert escpos.parse_paper_status(0x12 | 0x0C) == escpos.PAPER_NEAR_END
    assert escpos.parse_paper_status(0x12 | 0x60) == escpos.PAPER_OUT
    assert escpos.parse_paper_status(0x12 | 0x6C) == escpos.PAPER_OUT
    assert escpos.parse_paper_status(0x12 | 0x04) == escpos.PAPER_NEAR_END
    assert escpos.parse_paper_status(0x12 | 0x40) == escpos.PAPER_OUT
    for junk in (0x00, 0xFF, 0x0C, 0x13, 0x92, ord("x")):
        assert escpos.parse_paper_status(junk) is None

    assert escpos.parse_printer_status(0x12) == {
        "online": True, "drawer_pin3_high": False, "waiting_recovery": False,
        "feed_button": False}
    st = escpos.parse_printer_status(0x12 | 0x08 | 0x04)
    assert not st["online"] and st["drawer_pin3_high"]
    assert escpos.parse_offline_cause(0x16)["cover_open"]
    assert escpos.parse_offline_cause(0x32)["paper_end_stop"]
    assert not escpos.parse_offline_cause(0x12)["cover_open"]
    assert escpos.parse_error_cause(0x1A)["cutter_error"]
    assert escpos.parse_error_cause(0x52)["auto_recoverable"]
    assert escpos.parse_error_cause(0x32)["unrecoverable"]
    assert escpos.parse_printer_status(0x00) is None
