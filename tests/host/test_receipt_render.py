"""`kassa receipt render` and `kassa printer profile`: receipts built with the till's
own builder, read back as text and as an image (decoded by zxing-cpp, a barcode
reader that shares no code with the renderer)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import zxingcpp
from escpos.capabilities import get_profile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from host_tools import cli
from host_tools.cli import printer as printer_cmd
from host_tools.hodata import printer_profile
from host_tools.cli import receipt as receipt_cmd
from host_tools.hodata import receipt_render as rr
from till.formats import codepages, escpos
from till.formats.escpos import EscPos

RASTER = bytes((0b10101010, 0b11110000, 0xFF, 0x00, 0b00001111, 0b01010101))  # 16 x 3 dots


def sample_receipt(columns: int = 32) -> bytes:
    p = EscPos(columns=columns)
    p.init()
    p.codepage(19, codepages.CP858)
    p.align(escpos.CENTER)
    p.raster(2, 3, RASTER)
    p.size(2, 2)
    p.bold()
    p.textln("KASSA")
    p.size()
    p.bold(False)
    p.textln("Grüße €5")
    p.align(escpos.LEFT)
    p.text_columns("Brötchen", "€0,45")
    p.text_columns("Very long product name that is cut", "€12,00")
    p.bold()
    p.text_columns("TOTAL", "€12,45")
    p.bold(False)
    p.text_columns("TOTAL", "€12,45")
    p.textln()
    p.align(escpos.RIGHT)
    p.textln("Danke!")
    p.ean13("400638133393")
    p.qr("https://k.example/1", 4)
    p.align(escpos.LEFT)
    p.code128("R-42/2026", center=False)
    p.cut()
    p.drawer()
    return p.output()


EXPECTED_TEXT = """\
          [IMAGE 16x3]
           K A S S A
            Grüße €5
Brötchen                   €0,45
Very long product name th €12,00
TOTAL                     €12,45
TOTAL                     €12,45

                          Danke!
 |||| EAN13 4006381333931 ||||
   [QR: https://k.example/1]
|||| CODE128 R-42/2026 ||||






----- cut -----
"""


def test_receipt_as_text() -> None:
    receipt = rr.parse(sample_receipt(), columns=32, width_dots=384)
    assert rr.to_text(receipt) == EXPECTED_TEXT
    assert receipt.issues == []
    assert [str(e) for e in receipt.events] == [
        f"byte {len(sample_receipt()) - 5}: drawer pulse on pin 2: 100 ms on, 100 ms off"]


def test_receipt_as_png_scans() -> None:
    receipt = rr.parse(sample_receipt(), columns=32, width_dots=384)
    paper = rr.draw_paper(receipt)
    img = paper.image
    assert img.width == 384
    assert 600 < img.height < 1200
    found = {(str(b.format), b.text) for b in zxingcpp.read_barcodes(img)}
    assert found == {("EAN-13", "4006381333931"), ("QR Code", "https://k.example/1"),
                     ("Code 128", "R-42/2026")}


def test_png_details() -> None:
    receipt = rr.parse(sample_receipt(), columns=32, width_dots=384)
    paper = rr.draw_paper(receipt)
    boxes = {id(block): box for block, box in paper.boxes}
    img = paper.image
    # The raster image: its bits, 1 = black, at the centred position.
    raster = next(b for b in receipt.blocks if isinstance(b, rr.Raster))
    x0, y0, x1, y1 = boxes[id(raster)]
    assert (x0, x1 - x0, y1 - y0) == ((384 - 16) // 2, 16, 3)
    for r in range(3):
        for c in range(16):
            bit = RASTER[r * 2 + c // 8] >> (7 - c % 8) & 1
            assert img.getpixel((x0 + c, y0 + r)) == (0 if bit else 255)
    lines = [b for b in receipt.blocks if isinstance(b, rr.TextLine)]
    # Double size: twice as tall, each character twice as wide.
    kassa = boxes[id(lines[0])]
    normal = boxes[id(lines[1])]
    assert kassa[3] - kassa[1] == 2 * (normal[3] - normal[1])
    assert kassa[2] - kassa[0] == 10 * (384 // 32)
    # Bold ink is heavier than the same line without bold.
    bold_box, plain_box = boxes[id(lines[4])], boxes[id(lines[5])]
    assert ink(img, bold_box) > 1.2 * ink(img, plain_box) > 0
    # Blank line: nothing printed.
    assert ink(img, boxes[id(lines[6])]) == 0


def ink(img: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(255 - v for v in img.crop(box).tobytes())


def test_wrapping_and_double_width() -> None:
    p = EscPos()
    p.textln("abcdefghijklmno")
    p.size(2, 1)
    p.textln("abcdefg")
    receipt = rr.parse(p.output(), columns=10, width_dots=120)
    assert rr.to_text(receipt) == "abcdefghij\nklmno\na b c d e\nf g\n"


def test_print_mode_tabs_and_mid_line_alignment() -> None:
    data = (b"\x1b!\x38BIG\n"  # ESC ! 0x38: bold, double height and width
            b"\x1b!\x00a\tb\n"  # tab to column 8
            b"ab\x1ba\x02cd\n"  # ESC a in mid-line: ignored by printers
            b"\x1ba\x02ef\n")
    receipt = rr.parse(data, columns=16, width_dots=192)
    assert rr.to_text(receipt) == "B I G\na       b\nabcd\n              ef\n"
    assert receipt.blocks[0].cells[0][1] == rr.Style(bold=True, width=2, height=2)
    assert [i.message for i in receipt.issues] == [
        "ESC a in the middle of a line is ignored by the printer"]


def test_code_pages_follow_the_profile() -> None:
    # 0xD5 is the euro sign in CP858 (ESC t 19) and a box-drawing character in
    # CP437 (ESC t 0); 0x80 is the euro sign in CP1252 (ESC t 16).
    data = b"\xd5\n\x1bt\x13\xd5\n\x1bt\x10\x80\n\x1b@\xd5\n"
    assert rr.to_text(rr.parse(data)) == "╒\n€\n€\n╒\n"
    receipt = rr.parse(b"\x1bt\x13\xd5\n", profile="TM-T88II")  # it has no CP858
    assert rr.to_text(receipt) == "╒\n"
    assert "code page 19 is unknown" in receipt.issues[0].message


def test_unknown_and_broken_commands_are_reported_not_fatal() -> None:
    data = (b"ok\n"
            b"\x1b\x99x\n"  # unknown ESC command
            b"\x07"  # BEL: a control byte nobody sends
            b"\x1d\xfe"  # unknown GS command
            b"\x1dk\x02\x34\x30\x00"  # EAN13 with 2 digits
            b"\x1d(k\x03\x001Q0"  # QR print with nothing stored
            b"\x1d\x56\x07"  # no such cut
            b"tail"  # no final line feed: stays in the buffer
            b"\x1dv0\x00\x02\x00\x03\x00\x01")  # raster cut off
    receipt = rr.parse(data)
    assert rr.to_text(receipt) == "ok\nx\n"
    messages = [str(i) for i in receipt.issues]
    assert messages == [
        "byte 3: unknown command ESC 0x99 (1B 99); skipped, its parameters may print as text",
        "byte 7: control byte 07 is not understood; skipped",
        "byte 8: unknown command GS 0xFE (1D FE); skipped, its parameters may print as text",
        "byte 10: EAN13 needs 12 or 13 digits, got '40': not printed",
        "byte 16: QR print with no data stored",
        "byte 24: GS V 7: no such cut",
        "byte 31: the stream ends inside a command (1D 76 30 00 02 00 03 00 ...)",
        "byte 40: text without a final line feed stays in the printer's buffer and is not printed",
    ]


def test_wrong_ean_check_digit_and_too_wide_barcode() -> None:
    receipt = rr.parse(b"\x1dw\x06\x1dk\x024006381333932\x00", width_dots=384)
    assert rr.to_text(receipt).strip() == "|||| EAN13 4006381333931 ||||"
    assert [i.message for i in receipt.issues] == [
        "EAN13 4006381333932: wrong check digit, 1 expected",
        "EAN13 4006381333931 is 570 dots wide, wider than the paper: a printer does not print it"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_without_error(data: bytes) -> None:
    receipt = rr.parse(data, columns=32, width_dots=384)
    rr.to_text(receipt)


# Commands with their parameters drawn at random: reaches deep into the parser.
_COMMAND = st.one_of(
    st.binary(max_size=8),
    st.builds(lambda c, p: b"\x1b" + bytes([c]) + p, st.sampled_from(b"@aE-!tdpM23c{B*$D"),
              st.binary(max_size=6)),
    st.builds(lambda c, p: b"\x1d" + bytes([c]) + p, st.sampled_from(b"!VhwHfkv(8BL"),
              st.binary(max_size=12)),
    st.builds(lambda d: b"\x1d(k" + bytes([len(d) + 3, 0, 49, 80, 48]) + d + b"\x1d(k\x03\x001Q0",
              st.binary(max_size=40)),
    st.builds(lambda s: b"\x1dk\x49" + bytes([len(s)]) + s, st.binary(max_size=20)),
    st.builds(lambda m, w, h, d: b"\x1dv0" + bytes([m, w, 0, h, 0]) + d,
              st.integers(0, 255), st.integers(0, 8), st.integers(0, 8), st.binary(max_size=64)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_COMMAND, max_size=12))
def test_command_soup_renders_without_error(parts: list[bytes]) -> None:
    receipt = rr.parse(b"".join(parts), columns=32, width_dots=384)
    rr.to_text(receipt)
    paper = rr.draw_paper(receipt)
    assert paper.image.width == 384


# -- the commands -----------------------------------------------------------------

def run(module: object, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kassa")
    sub = parser.add_subparsers(dest="command")
    module.register(sub)  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_commands_are_registered() -> None:
    assert "host_tools.cli.receipt" in cli.COMMAND_MODULES
    assert "host_tools.cli.printer" in cli.COMMAND_MODULES


def test_render_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "job.bin"
    job.write_bytes(sample_receipt())
    png = tmp_path / "out.png"
    assert run(receipt_cmd, ["receipt", "render", str(job), "--png", str(png),
                             "--width-dots", "384", "--columns", "32"]) == 0
    out, err = capsys.readouterr()
    assert out == EXPECTED_TEXT
    assert "note: byte" in err and "drawer pulse on pin 2" in err
    with Image.open(png) as img:
        assert img.width == 384
        assert {b.text for b in zxingcpp.read_barcodes(img)} == {
            "4006381333931", "https://k.example/1", "R-42/2026"}

    job.write_bytes(b"a\n\x1b\x99")
    assert run(receipt_cmd, ["receipt", "render", str(job)]) == 0
    assert run(receipt_cmd, ["receipt", "render", str(job), "--strict"]) == 1
    out, err = capsys.readouterr()
    assert out == "a\na\n" and "warning: byte 2: unknown command ESC 0x99" in err
    assert run(receipt_cmd, ["receipt", "render", str(tmp_path / "missing.bin")]) == 2
    assert run(receipt_cmd, ["receipt", "render", str(job), "--profile", "nope"]) == 2
    assert "no printer profile 'nope'" in capsys.readouterr().err


def test_profile_tm_t88v() -> None:
    prof = printer_profile.build_profile("TM-T88V")
    assert {k: v for k, v in prof.items() if k != "code_pages"} == {
        "format": 1, "model": "TM-T88V", "vendor": "Epson", "name": "TM-T88V",
        "media_width_mm": 80, "paper_width_dots": 512, "dpi": 180,
        "columns": {"a": 42, "b": 56},
        "cut": {"full": True, "partial": True}, "qr_native": True,
        "barcode_functions": ["A", "B"], "raster_image": True, "drawer_pulse": True,
        "cp858_index": 19, "text_code_page": {"name": "CP858", "index": 19},
    }
    assert prof["code_pages"]["CP437"] == 0 and prof["code_pages"]["CP1252"] == 16
    assert "Unknown" not in prof["code_pages"]


@pytest.mark.parametrize("model", printer_profile.models())
def test_profiles_agree_with_python_escpos(model: str) -> None:
    prof = printer_profile.build_profile(model)
    theirs = get_profile(model)
    assert prof["columns"]["a"] == theirs.get_columns("a")
    # Same pages; where a page has two slots the profile names the lower one.
    assert set(prof["code_pages"]) == set(theirs.get_code_pages()) - {"Unknown"}
    for name, index in prof["code_pages"].items():
        assert theirs.codePages[str(index)] == name
        assert index <= int(theirs.get_code_pages()[name])
    assert prof["cut"]["partial"] == bool(theirs.supports("paperPartCut"))
    json.dumps(prof)  # plain JSON types only


def test_profile_fallbacks_and_names() -> None:
    old = printer_profile.build_profile("TM-T88II")  # no CP858 in its table
    assert old["cp858_index"] is None
    assert old["text_code_page"] == {"name": "CP437", "index": 0}
    assert printer_profile.build_profile("ZJ-5870")["cut"] == {"full": False, "partial": False}
    t20 = printer_profile.build_profile("tm-t20ii")
    assert (t20["model"], t20["paper_width_dots"], t20["columns"]) == (
        "TM-T20II", 576, {"a": 48, "b": 64})
    assert printer_profile.build_profile("default")["paper_width_dots"] is None
    with pytest.raises(printer_profile.UnknownModel) as exc:
        printer_profile.build_profile("TM-T88X")
    assert "TM-T88V" in exc.value.close


def test_profile_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "printer.json"
    assert run(printer_cmd, ["printer", "profile", "TM-T20II", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == printer_profile.build_profile("TM-T20II")
    assert run(printer_cmd, ["printer", "profile", "TM-T88V"]) == 0
    assert json.loads(capsys.readouterr().out)["cp858_index"] == 19
    assert run(printer_cmd, ["printer", "profile", "TM-T88X"]) == 2
    err = capsys.readouterr().err
    assert "no printer profile for 'TM-T88X'" in err and "TM-T88V" in err
    assert run(printer_cmd, ["printer", "models"]) == 0
    assert "TM-T88V" in capsys.readouterr().out.split()
