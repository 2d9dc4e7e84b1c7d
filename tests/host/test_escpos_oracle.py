"""The till's ESC/POS builder against python-escpos 3.x, the reference host driver.

For each operation the device builder (firmware/till/formats/escpos.py) must send exactly
what `escpos.printer.Dummy().output` records for the same call. Where the two
differ on purpose the test says so and compares what is meant to be equal.
"""
from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest
from escpos import printer
from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q
from escpos.image import EscposImage
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from till.formats import codepages, escpos
from till.formats.escpos import EscPos


def ours(fn: Callable[[EscPos], object]) -> bytes:
    p = EscPos()
    fn(p)
    return p.output()


def theirs(fn: Callable[[printer.Dummy], object], profile: str | None = None) -> bytes:
    d = printer.Dummy(profile=profile)
    fn(d)
    return d.output


def test_init_align_bold_underline_size() -> None:
    assert ours(lambda p: p.init()) == theirs(lambda d: d.hw("INIT"))
    for name, n in (("left", escpos.LEFT), ("center", escpos.CENTER), ("right", escpos.RIGHT)):
        assert ours(lambda p: p.align(n)) == theirs(lambda d: d.set(align=name))
    for on in (True, False):
        assert ours(lambda p: p.bold(on)) == theirs(lambda d: d.set(bold=on))
    for n in (0, 1, 2):
        assert ours(lambda p: p.underline(n)) == theirs(lambda d: d.set(underline=n))
    for w in range(1, 9):
        for h in range(1, 9):
            assert ours(lambda p: p.size(w, h)) == theirs(
                lambda d: d.set(custom_size=True, width=w, height=h))


def test_double_size_uses_gs_bang_not_esc_bang() -> None:
    # python-escpos's set(double_width=True, double_height=True) sends
    # ESC ! 0 ESC ! 0 ESC ! 0x30 (print mode, which also clears bold and
    # underline). The builder uses GS ! (character size), which leaves them
    # alone -- python-escpos's custom_size path, compared above. The printed size
    # is the same: both double width and height.
    assert theirs(lambda d: d.set(double_width=True, double_height=True)) == \
        b"\x1b!\x00\x1b!\x00\x1b!\x30"
    assert ours(lambda p: p.size(2, 2)) == theirs(
        lambda d: d.set(custom_size=True, width=2, height=2))


def test_feed_cut_drawer() -> None:
    for n in (0, 1, 6, 255):
        assert ours(lambda p: p.feed(n)) == theirs(lambda d: d.print_and_feed(n))
    assert ours(lambda p: p.cut()) == theirs(lambda d: d.cut())
    assert ours(lambda p: p.cut(partial=True)) == theirs(lambda d: d.cut(mode="PART"))
    assert ours(lambda p: p.drawer(2)) == theirs(lambda d: d.cashdraw(2))
    assert ours(lambda p: p.drawer(5)) == theirs(lambda d: d.cashdraw(5))
    assert ours(lambda p: p.drawer(5, 40, 300)) == theirs(lambda d: d.cashdraw([27, 112, 1, 20, 150]))


def test_text_in_cp858_matches_forced_charcode() -> None:
    text = "Grüße €5, Ñandú, café — Ω 漢 ½ ±\n"

    def d_fn(d: printer.Dummy) -> None:
        d.charcode("CP858")  # emits ESC t 19 and fixes the encoding
        d.text(text)

    def p_fn(p: EscPos) -> None:
        p.codepage(19, codepages.CP858)
        p.text(text)

    assert ours(p_fn) == theirs(d_fn, profile="TM-T88V")
    assert ours(p_fn).endswith(text.encode("cp858", errors="replace"))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FFF,
                                      exclude_categories=("Cs",)), max_size=40))
def test_any_text_encodes_like_python_escpos(text: str) -> None:
    # "\x7f" is the one printable-range byte the builder replaces on purpose (a
    # DEL in a product name); python-escpos passes it through.
    text = text.replace("\x7f", "")
    for name, table, index in (("CP858", codepages.CP858, 19), ("CP437", codepages.CP437, 0)):
        def d_fn(d: printer.Dummy, name: str = name) -> None:
            d.charcode(name)
            d.text(text)

        def p_fn(p: EscPos, table: str = table, index: int = index) -> None:
            p.codepage(index, table)
            p.text(text)

        assert ours(p_fn) == theirs(d_fn, profile="TM-T88V")


def test_control_characters_differ_on_purpose() -> None:
    # python-escpos passes ESC through inside text; the builder sends '?' so a
    # product name can never switch the printer into a command.
    assert theirs(lambda d: (d.charcode("CP858"), d.text("a\x1bb"))).endswith(b"a\x1bb")
    assert ours(lambda p: (p.codepage(19, codepages.CP858), p.text("a\x1bb"))).endswith(b"a?b")


def test_ean13(capsys: pytest.CaptureFixture[str]) -> None:
    for code in ("400638133393", "4006381333931", "590123412345"):
        assert ours(lambda p: p.ean13(code)) == theirs(lambda d: d.barcode(code, "EAN13"))
        assert ours(lambda p: p.ean13(code, function_b=True)) == theirs(
            lambda d: d.barcode(code, "EAN13", function_type="B"))
    assert ours(lambda p: p.ean13("400638133393", 100, 2, escpos.HRI_BOTH, False)) == theirs(
        lambda d: d.barcode("400638133393", "EAN13", height=100, width=2, pos="BOTH",
                            align_ct=False))
    assert ours(lambda p: p.ean13("400638133393", hri=escpos.HRI_NONE)) == theirs(
        lambda d: d.barcode("400638133393", "EAN13", pos="OFF"))
    assert ours(lambda p: p.ean13("400638133393", hri=escpos.HRI_ABOVE)) == theirs(
        lambda d: d.barcode("400638133393", "EAN13", pos="ABOVE"))
    capsys.readouterr()  # python-escpos prints "Using hardware barcode renderer"


def test_code128(capsys: pytest.CaptureFixture[str]) -> None:
    # python-escpos wants the caller to write the "{B" code-set prefix.
    for data in ("KASSA-123", "R 0042 / 2026-11-21", "x"):
        assert ours(lambda p: p.code128(data)) == theirs(
            lambda d: d.barcode("{B" + data, "CODE128", function_type="B"))
    # A "{" in the data: python-escpos sends the caller's string as it is, so the
    # caller must write "{{" (ESC/POS: "{{" encodes one "{"); the builder does it.
    assert ours(lambda p: p.code128("a{b")) == theirs(
        lambda d: d.barcode("{Ba{{b", "CODE128", function_type="B"))
    capsys.readouterr()


def test_qr_native() -> None:
    levels = ((escpos.QR_EC_L, QR_ECLEVEL_L), (escpos.QR_EC_M, QR_ECLEVEL_M),
              (escpos.QR_EC_Q, QR_ECLEVEL_Q), (escpos.QR_EC_H, QR_ECLEVEL_H))
    for data in ("https://kassa.example/r/42", "€" * 120, "x"):
        for ours_ec, their_ec in levels:
            for size in (1, 3, 16):
                assert ours(lambda p: p.qr(data, size, ours_ec)) == theirs(
                    lambda d: d.qr(data, ec=their_ec, size=size, native=True))
    assert ours(lambda p: p.qr("m1", model=1)) == theirs(lambda d: d.qr("m1", model=1, native=True))
    assert ours(lambda p: p.qr("")) == theirs(lambda d: d.qr("", native=True)) == b""


def logo(width: int, height: int) -> Image.Image:
    """Black-and-white noise (every bit pattern occurs) with a drawing on top.

    Only pure black and white: python-escpos dithers grey (Floyd-Steinberg) and, for
    an image taller than 960 dots, dithers each fragment on its own, so grey pixels
    near a fragment edge come out differently from the whole-image raster the host
    makes for the till. That is python-escpos's rounding, not the framing compared here.
    """
    rng = random.Random(width * 100003 + height)
    pixels = bytes(rng.choice((0, 255)) for _ in range(width * height))
    img = Image.frombytes("L", (width, height), pixels)
    if width > 16 and height > 16:
        draw = ImageDraw.Draw(img)
        draw.fontmode = "1"  # no anti-aliasing: no grey
        draw.ellipse((2, 2, width - 3, height - 3), outline=0, width=3)
        draw.text((width // 4, height // 3), "KASSA", fill=255, font_size=10)
    return img


@pytest.mark.parametrize("size", [(512, 120), (13, 5), (8, 1), (40, 2000)])
def test_raster_image(size: tuple[int, int]) -> None:
    # The host turns the logo into raster bytes once (python-escpos's own
    # EscposImage conversion); the till streams them. Heights above 960 dots are
    # split into several GS v 0 commands by both.
    img = logo(*size)
    im = EscposImage(img)
    raster = im.to_raster_format()
    expected = theirs(lambda d: d.image(img, impl="bitImageRaster"))
    assert ours(lambda p: p.raster(im.width_bytes, im.height, raster)) == expected
    assert ours(lambda p: p.raster(im.width_bytes, im.height, io.BytesIO(raster))) == expected


class ReplyDummy(printer.Dummy):
    """A Dummy printer that answers a status request with one given byte."""

    def __init__(self, reply: int) -> None:
        super().__init__()
        self.reply = reply

    def _read(self) -> bytes:
        return bytes((self.reply,))


def test_status_requests_and_replies() -> None:
    from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER

    assert escpos.STATUS_PAPER == RT_STATUS_PAPER
    assert escpos.STATUS_PRINTER == RT_STATUS_ONLINE
    # Every reply byte that has the fixed bits of a status and sets each sensor
    # pair whole, as Epson printers do: both agree.
    for pairs in (0x00, 0x0C, 0x60, 0x6C):
        byte = 0x12 | pairs
        d = ReplyDummy(byte)
        assert escpos.parse_paper_status(byte) == d.paper_status()
        assert d.output == escpos.STATUS_PAPER
    for byte in range(256):
        if escpos.parse_printer_status(byte) is not None:
            assert escpos.parse_printer_status(byte)["online"] == ReplyDummy(byte).is_online()


def test_a_whole_receipt(capsys: pytest.CaptureFixture[str]) -> None:
    img = logo(64, 24)
    im = EscposImage(img)

    def d_fn(d: printer.Dummy) -> None:
        d.hw("INIT")
        d.charcode("CP858")
        d.image(img, impl="bitImageRaster")
        d.set(align="center", bold=True, custom_size=True, width=2, height=2)
        d.textln("Café Kassa")
        d.set(custom_size=True, width=1, height=1, bold=False, align="left")
        d.textln("Brötchen        €0,45")
        d.barcode("400638133393", "EAN13")
        d.qr("https://kassa.example/r/1", native=True, size=4)
        d.cut()
        d.cashdraw(2)

    def p_fn(p: EscPos) -> None:
        p.init()
        p.codepage(19, codepages.CP858)
        p.raster(im.width_bytes, im.height, im.to_raster_format())
        # python-escpos's set() sends size, then bold, then align
        p.size(2, 2)
        p.bold()
        p.align(escpos.CENTER)
        p.textln("Café Kassa")
        p.size()
        p.bold(False)
        p.align(escpos.LEFT)
        p.textln("Brötchen        €0,45")
        p.ean13("400638133393")
        p.qr("https://kassa.example/r/1", 4)
        p.cut()
        p.drawer(2)

    assert ours(p_fn) == theirs(d_fn, profile="TM-T88V")
    capsys.readouterr()
