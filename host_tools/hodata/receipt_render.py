"""Render an ESC/POS byte stream as the paper a receipt printer would produce.

`parse()` reads the stream the way an Epson-compatible printer does (the commands
the till's builder, firmware/till/formats/escpos.py, sends, and the common ones it does
not) into blocks: text lines, barcodes, QR codes, raster images and cuts. From the
blocks, `to_text()` makes a plain-text picture of the paper and `draw_paper()` a
PNG-ready image. Nothing in the stream can make parsing fail: an unknown or cut-off
command is recorded as an Issue and skipped.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import barcode as python_barcode
import qrcode
from escpos.capabilities import CAPABILITIES
from PIL import Image, ImageDraw, ImageFont

LEFT, CENTER, RIGHT = 0, 1, 2
HRI_ABOVE, HRI_BELOW = 1, 2

DEFAULT_WIDTH_DOTS = 576
DEFAULT_COLUMNS = 48

_ESC, _GS, _DLE, _FS = 0x1B, 0x1D, 0x10, 0x1C

# GS k m: barcode system names, function A (m 0-6) and B (m 65-78).
_BARCODE_NAMES = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF",
    71: "CODABAR", 72: "CODE93", 73: "CODE128", 74: "GS1-128",
    75: "GS1 DATABAR OMNIDIRECTIONAL", 76: "GS1 DATABAR TRUNCATED",
    77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED",
}
# python-barcode classes that draw the same symbol as the printer would.
_SOFTWARE_BARCODES = {"UPC-A": "upca", "EAN13": "ean13", "EAN8": "ean8",
                      "CODE39": "code39", "ITF": "itf", "CODABAR": "codabar",
                      "CODE128": "code128", "GS1-128": "gs1_128"}
_QR_EC = {0: qrcode.constants.ERROR_CORRECT_L, 1: qrcode.constants.ERROR_CORRECT_M,
          2: qrcode.constants.ERROR_CORRECT_Q, 3: qrcode.constants.ERROR_CORRECT_H}
_STATUS_NAMES = {1: "printer", 2: "offline cause", 3: "error cause", 4: "paper"}


@dataclass(frozen=True)
class Style:
    bold: bool = False
    underline: int = 0
    width: int = 1
    height: int = 1


@dataclass
class TextLine:
    cells: list[tuple[str, Style]]
    align: int

    @property
    def height(self) -> int:
        return max((s.height for _, s in self.cells), default=1)

    @property
    def columns(self) -> int:
        return sum(s.width for _, s in self.cells)


@dataclass
class Barcode:
    symbology: str
    data: str  # what the symbol holds, as its human-readable digits show it
    height: int
    module_width: int
    hri: int
    align: int
    modules: str | None  # "1010..." bars, None when it cannot be drawn here


@dataclass
class QrCode:
    data: bytes
    module_size: int
    ec: int
    model: int
    align: int


@dataclass
class Raster:
    width_dots: int
    height: int
    data: bytes  # rows of width_dots / 8 bytes, 1 = black, MSB leftmost
    scale_x: int
    scale_y: int
    align: int


@dataclass
class Cut:
    partial: bool


Block = TextLine | Barcode | QrCode | Raster | Cut


@dataclass
class Issue:
    offset: int
    message: str

    def __str__(self) -> str:
        return f"byte {self.offset}: {self.message}"


@dataclass
class Receipt:
    blocks: list[Block]
    issues: list[Issue]  # unknown, cut-off or not rendered commands
    events: list[Issue]  # sent to the printer but not on the paper (drawer, status)
    columns: int
    width_dots: int


class _Truncated(Exception):
    pass


def code_page_table(index: int, profile: str = "default") -> tuple[str, str] | None:
    """(name, 128 characters for bytes 0x80-0xFF) of ESC t `index` in a profile."""
    pages = CAPABILITIES["profiles"][profile]["codePages"]
    name = pages.get(str(index))
    enc = CAPABILITIES["encodings"].get(name or "", {})
    if "python_encode" in enc:
        upper = bytes(range(0x80, 0x100)).decode(enc["python_encode"], errors="replace")
        return name, upper
    if "data" in enc:
        return name, "".join(enc["data"])
    return None


def ean13_full(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return digits[:12] + str((10 - total % 10) % 10)


def code128_text(body: bytes) -> str:
    """The characters a GS k 73 body encodes ("{B" code-set prefixes removed)."""
    out: list[str] = []
    code_set = "B"
    i = 0
    while i < len(body):
        b = body[i]
        if b == 0x7B and i + 1 < len(body):  # "{x": a code-set command
            nxt = chr(body[i + 1])
            i += 2
            if nxt in "ABC":
                code_set = nxt
            elif nxt == "{":
                out.append("{")
            # {S shift and {1-{4 FNC1-4 print nothing readable
            continue
        out.append(f"{b:02d}" if code_set == "C" else chr(b))
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, data: bytes, columns: int, width_dots: int, profile: str) -> None:
        self.data = data
        self.i = 0
        self.columns = columns
        self.width_dots = width_dots
        self.profile = profile
        self.blocks: list[Block] = []
        self.issues: list[Issue] = []
        self.events: list[Issue] = []
        self.cmd_start = 0
        self.line: list[tuple[str, Style]] = []
        self.reset()

    def reset(self) -> None:
        # ESC @ and power-on: Epson defaults.
        self.style = Style()
        self.align = LEFT
        self.line_align = LEFT
        self.table = code_page_table(0, self.profile) or ("CP437", _CP437_UPPER)
        self.bc_height = 162
        self.bc_width = 3
        self.bc_hri = 0
        self.qr_model = 2
        self.qr_size = 3
        self.qr_ec = 0
        self.qr_data: bytes | None = None

    # -- reading ------------------------------------------------------------------

    def take(self, n: int) -> bytes:
        if self.i + n > len(self.data):
            raise _Truncated
        chunk = self.data[self.i:self.i + n]
        self.i += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        lo, hi = self.take(2)
        return lo | hi << 8

    def issue(self, message: str) -> None:
        self.issues.append(Issue(self.cmd_start, message))

    def event(self, message: str) -> None:
        self.events.append(Issue(self.cmd_start, message))

    # -- lines --------------------------------------------------------------------

    def end_line(self) -> None:
        self.blocks.append(TextLine(self.line, self.line_align))
        self.line = []

    def flush(self) -> None:
        """Print what is in the buffer, as a printer does before a barcode or cut."""
        if self.line:
            self.end_line()

    def put_char(self, ch: str) -> None:
        used = sum(s.width for _, s in self.line)
        if used + self.style.width > self.columns and self.line:
            self.end_line()  # the printer wraps a full line by itself
        if not self.line:
            self.line_align = self.align
        self.line.append((ch, self.style))

    # -- main loop ----------------------------------------------------------------

    def run(self) -> Receipt:
        while self.i < len(self.data):
            self.cmd_start = self.i
            b = self.byte()
            try:
                if b >= 0x20:
                    upper = self.table[1]
                    self.put_char(chr(b) if b < 0x80 else upper[b - 0x80])
                elif b == 0x0A:
                    self.end_line()
                elif b == 0x09:
                    self.tab()
                elif b in (0x0D, 0x00):
                    pass  # CR is ignored with auto line feed off; NUL is padding
                elif b == _ESC:
                    self.esc(self.byte())
                elif b == _GS:
                    self.gs(self.byte())
                elif b == _DLE:
                    self.dle(self.byte())
                elif b == _FS:
                    self.fs(self.byte())
                else:
                    self.issue(f"control byte {b:02X} is not understood; skipped")
            except _Truncated:
                self.issue(f"the stream ends inside a command ({_hex(self.data[self.cmd_start:])})")
                self.i = len(self.data)
        if self.line:
            self.issues.append(Issue(len(self.data), "text without a final line feed "
                                     "stays in the printer's buffer and is not printed"))
        return Receipt(self.blocks, self.issues, self.events, self.columns, self.width_dots)

    def tab(self) -> None:
        # Default tab stops every 8 characters (ESC D not tracked).
        used = sum(s.width for _, s in self.line)
        for _ in range(8 - used % 8):
            if sum(s.width for _, s in self.line) >= self.columns:
                break
            self.put_char(" ")

    def feed_lines(self, n: int) -> None:
        if n == 0:
            self.flush()
        for _ in range(n):
            self.end_line()

    def skip(self, n: int, what: str, quiet: bool = False) -> None:
        self.take(n)
        if not quiet:
            self.issue(f"{what} is not rendered")

    def unknown(self, prefix: str, cmd: int) -> None:
        shown = chr(cmd) if 0x20 < cmd < 0x7F else f"0x{cmd:02X}"
        self.issue(f"unknown command {prefix} {shown} ({_hex(self.data[self.cmd_start:self.i])}); "
                   "skipped, its parameters may print as text")

    # -- ESC ----------------------------------------------------------------------

    def esc(self, c: int) -> None:
        ch = chr(c)
        if ch == "@":
            self.flush()
            self.reset()
        elif ch == "a":
            n = self.byte() & 0x0F
            if n > 2:
                self.issue(f"ESC a {n}: no such alignment")
            elif self.line:
                self.issue("ESC a in the middle of a line is ignored by the printer")
            else:
                self.align = n
        elif ch == "E":
            self.style = _replace(self.style, bold=bool(self.byte() & 1))
        elif ch == "G":
            self.byte()  # double-strike: looks like bold on thermal paper
        elif ch == "-":
            self.style = _replace(self.style, underline=min(self.byte() & 0x0F, 2))
        elif ch == "!":
            n = self.byte()
            # ESC ! n print mode: bit 3 bold, 4 double height, 5 double width, 7 underline
            self.style = Style(bold=bool(n & 0x08), underline=1 if n & 0x80 else 0,
                               width=2 if n & 0x20 else 1, height=2 if n & 0x10 else 1)
            if n & 0x01:
                self.issue("font B (ESC ! bit 0) is drawn as font A")
        elif ch == "t":
            n = self.byte()
            table = code_page_table(n, self.profile)
            if table is None:
                self.issue(f"code page {n} is unknown for profile {self.profile!r}; "
                           f"keeping {self.table[0]}")
            else:
                self.table = table
        elif ch == "d":
            self.feed_lines(self.byte())
        elif ch == "J":
            self.byte()
            self.flush()  # print and feed n dots: ends the line
        elif ch == "p":
            m, t1, t2 = self.take(3)
            pin = 5 if m & 1 else 2
            self.event(f"drawer pulse on pin {pin}: {t1 * 2} ms on, {t2 * 2} ms off")
        elif ch == "M":
            if self.byte() & 0x0F:
                self.issue("font B (ESC M) is drawn as font A")
        elif ch in "23":
            self.take(0 if ch == "2" else 1)  # line spacing: kept fixed here
        elif ch in " %=R{rVU":
            n = self.byte()
            if ch in "{V" and n & 1:
                self.issue(f"ESC {ch} (upside-down / rotated printing) is not rendered")
        elif ch == "c":
            self.take(2)  # ESC c 3/4/5 n: sensors and panel buttons
        elif ch == "B":
            times, length = self.take(2)
            self.event(f"buzzer: {times} beeps")
        elif ch == "D":
            while self.byte() != 0:  # ESC D n1..nk NUL: tab stops (not tracked)
                pass
        elif ch == "$":
            self.skip(2, "ESC $ (absolute position)")
        elif ch == "*":
            m = self.byte()
            n = self.u16()
            self.skip(n * (3 if m >= 32 else 1), "ESC * column-format image")
        elif ch == "e":
            self.skip(1, "ESC e (reverse feed)")
        elif ch in "LS":
            self.issue(f"ESC {ch} (page mode) is not rendered")
        else:
            self.unknown("ESC", c)

    # -- GS -----------------------------------------------------------------------

    def gs(self, c: int) -> None:
        ch = chr(c)
        if ch == "!":
            n = self.byte()
            self.style = _replace(self.style, width=(n >> 4 & 7) + 1, height=(n & 7) + 1)
        elif ch == "V":
            m = self.byte()
            if m in (65, 66, 97, 98, 103, 104):
                self.byte()  # feed amount before the cut
            if m not in (0, 1, 48, 49, 65, 66, 97, 98, 103, 104):
                self.issue(f"GS V {m}: no such cut")
                return
            self.flush()
            self.blocks.append(Cut(partial=bool(m & 1) if m < 60 else m in (66, 98, 104)))
        elif ch == "h":
            n = self.byte()
            if n:
                self.bc_height = n
            else:
                self.issue("GS h 0: barcode height must be 1-255; ignored")
        elif ch == "w":
            n = self.byte()
            if 1 <= n <= 6:
                self.bc_width = n
            else:
                self.issue(f"GS w {n}: barcode module width must be 1-6; ignored")
        elif ch == "H":
            self.bc_hri = self.byte() & 3
        elif ch == "f":
            if self.byte() & 0x0F:
                self.issue("HRI font B (GS f) is drawn as font A")
        elif ch == "k":
            self.barcode()
        elif ch == "v":
            self.raster()
        elif ch == "(":
            fn = chr(self.byte())
            size = self.u16()
            body = self.take(size)
            if fn == "k":
                self.symbol_2d(body)
            else:
                self.issue(f"GS ( {fn} is not rendered")
        elif ch == "8":
            fn = chr(self.byte())
            size = int.from_bytes(self.take(4), "little")
            self.skip(size, f"GS 8 {fn} (graphics)")
        elif ch in "BbT|":
            n = self.byte()
            if ch == "B" and n & 1:
                self.issue("GS B (white on black) is not rendered")
        elif ch in "LWP$\\":
            self.skip(2, f"GS {ch}", quiet=ch == "P")
        elif ch in "Iar":
            n = self.byte()
            self.event(f"GS {ch} {n}: the printer is asked to send information")
        else:
            self.unknown("GS", c)

    def barcode(self) -> None:
        m = self.byte()
        if m <= 6:
            end = self.data.find(b"\x00", self.i)
            if end < 0:
                raise _Truncated
            body = self.take(end - self.i)
            self.take(1)
        elif 65 <= m <= 78:
            body = self.take(self.byte())
        else:
            self.issue(f"GS k {m}: no such barcode system")
            return
        name = _BARCODE_NAMES[m]
        text = body.decode("ascii", errors="replace")
        if name == "EAN13":
            if len(body) not in (12, 13) or not text.isdigit():
                self.issue(f"EAN13 needs 12 or 13 digits, got {text!r}: not printed")
                return
            full = ean13_full(text)
            if len(text) == 13 and full != text:
                self.issue(f"EAN13 {text}: wrong check digit, {full[-1]} expected")
            text = full
        elif name in ("CODE128", "GS1-128"):
            text = code128_text(body)
        text = "".join(c if c.isprintable() else "?" for c in text)
        modules = _barcode_modules(name, text)
        if modules is None:
            self.issue(f"{name} bars are not drawn (shown as a box)")
        elif len(modules) * self.bc_width > self.width_dots:
            self.issue(f"{name} {text} is {len(modules) * self.bc_width} dots wide, "
                       f"wider than the paper: a printer does not print it")
        self.flush()
        self.blocks.append(Barcode(name, text, self.bc_height, self.bc_width,
                                   self.bc_hri, self.align, modules))

    def symbol_2d(self, body: bytes) -> None:
        if len(body) < 2:
            self.issue("GS ( k with no function")
            return
        cn, fn, params = body[0], body[1], body[2:]
        if cn != 49:
            self.issue(f"GS ( k cn={cn} (a 2D symbol other than QR) is not rendered")
            return
        if fn == 65 and params:
            self.qr_model = params[0] - 48
        elif fn == 67 and params:
            if 1 <= params[0] <= 16:
                self.qr_size = params[0]
            else:
                self.issue(f"QR module size {params[0]} is not 1-16; ignored")
        elif fn == 69 and params:
            self.qr_ec = (params[0] - 48) & 3
        elif fn == 80 and params:
            self.qr_data = bytes(params[1:])
        elif fn == 81:
            if not self.qr_data:
                self.issue("QR print with no data stored")
                return
            if _qr_matrix(self.qr_data, self.qr_ec) is None:
                self.issue(f"QR data of {len(self.qr_data)} bytes does not fit a QR symbol")
                return
            self.flush()
            self.blocks.append(QrCode(self.qr_data, self.qr_size, self.qr_ec,
                                      self.qr_model, self.align))
        elif fn == 82:
            self.event("QR symbol size requested")
        else:
            self.issue(f"GS ( k QR function {fn} is not understood")

    def raster(self) -> None:
        if self.byte() != 0x30:
            self.issue("GS v other than GS v 0 is not understood")
            return
        m = self.byte()
        width_bytes = self.u16()
        height = self.u16()
        data = self.take(width_bytes * height)
        if not (width_bytes and height) or m & 0x0F > 3 or m & 0xF0 not in (0, 0x30):
            self.issue(f"GS v 0 {m} with {width_bytes} x {height} bytes: out of range, not printed")
            return
        self.flush()
        self.blocks.append(Raster(width_bytes * 8, height, data, 2 if m & 1 else 1,
                                  2 if m & 2 else 1, self.align))

    # -- DLE, FS ------------------------------------------------------------------

    def dle(self, c: int) -> None:
        if c == 0x04:
            n = self.byte()
            self.event(f"status request DLE EOT {n} ({_STATUS_NAMES.get(n, 'unknown')})")
        elif c == 0x05:
            self.event(f"real-time request DLE ENQ {self.byte()}")
        elif c == 0x14:
            fn = self.byte()
            params = self.take(7 if fn == 8 else 2)
            if fn == 1:
                self.event(f"drawer pulse (DLE DC4) on pin {5 if params[0] & 1 else 2}: "
                           f"{params[1] * 100} ms")
            else:
                self.event(f"DLE DC4 {fn}")
        else:
            self.unknown("DLE", c)

    def fs(self, c: int) -> None:
        ch = chr(c)
        if ch in ".&":
            pass  # Kanji mode off/on: single-byte text stays as it is
        elif ch in "!-CW":
            self.byte()
        elif ch == "S":
            self.take(2)
        elif ch == "p":
            self.skip(2, "FS p (stored NV image)")
        else:
            self.unknown("FS", c)


_CP437_UPPER = bytes(range(0x80, 0x100)).decode("cp437")


def _replace(style: Style, **changes: object) -> Style:
    values: dict[str, object] = {"bold": style.bold, "underline": style.underline,
                                 "width": style.width, "height": style.height}
    values.update(changes)
    return Style(**values)  # type: ignore[arg-type]


def _hex(data: bytes, limit: int = 8) -> str:
    shown = " ".join(f"{b:02X}" for b in data[:limit])
    return shown + (" ..." if len(data) > limit else "")


def _barcode_modules(name: str, text: str) -> str | None:
    kind = _SOFTWARE_BARCODES.get(name)
    if kind is None:
        return None
    try:
        symbol = python_barcode.get(kind, text)
        return "".join(symbol.build())
    except Exception:  # noqa: BLE001 - any data python-barcode refuses is drawn as a box
        return None


@lru_cache(maxsize=64)
def _qr_matrix(data: bytes, ec: int) -> tuple[tuple[bool, ...], ...] | None:
    """The modules qrcode draws for `data` (smallest version, like the printer)."""
    code = qrcode.QRCode(version=None, error_correction=_QR_EC[ec], border=0)
    code.add_data(data)
    try:
        code.make(fit=True)
    except Exception:  # noqa: BLE001 - qrcode's DataOverflowError and ValueError
        return None
    return tuple(tuple(row) for row in code.get_matrix())


def parse(data: bytes, columns: int = DEFAULT_COLUMNS, width_dots: int = DEFAULT_WIDTH_DOTS,
          profile: str = "default") -> Receipt:
    """Read an ESC/POS stream into blocks; never raises for bad input."""
    if profile not in CAPABILITIES["profiles"]:
        raise KeyError(f"unknown printer profile {profile!r}")
    return _Parser(bytes(data), columns, width_dots, profile).run()


# -- plain text -------------------------------------------------------------------

def _aligned(text: str, align: int, columns: int) -> str:
    pad = max(columns - len(text), 0)
    if align == CENTER:
        text = " " * (pad // 2) + text
    elif align == RIGHT:
        text = " " * pad + text
    return text.rstrip()


def block_text(block: Block, columns: int) -> str:
    if isinstance(block, TextLine):
        # A double-width character takes two columns: shown as the letter and a space.
        shown = "".join(ch + " " * (s.width - 1) for ch, s in block.cells)
        pad = max(columns - block.columns, 0)
        lead = {LEFT: 0, CENTER: pad // 2, RIGHT: pad}[block.align]
        return (" " * lead + shown).rstrip()
    if isinstance(block, Barcode):
        return _aligned(f"|||| {block.symbology} {block.data} ||||", block.align, columns)
    if isinstance(block, QrCode):
        return _aligned(f"[QR: {block.data.decode('utf-8', errors='replace')}]",
                        block.align, columns)
    if isinstance(block, Raster):
        return _aligned(f"[IMAGE {block.width_dots * block.scale_x}x"
                        f"{block.height * block.scale_y}]", block.align, columns)
    return "----- partial cut -----" if block.partial else "----- cut -----"


def to_text(receipt: Receipt) -> str:
    """The paper as text, one line per printed line, alignment applied by padding."""
    return "".join(block_text(b, receipt.columns) + "\n" for b in receipt.blocks)


# -- image ------------------------------------------------------------------------

@dataclass
class Paper:
    image: Image.Image
    boxes: list[tuple[Block, tuple[int, int, int, int]]] = field(default_factory=list)


class _Glyphs:
    """Character cells drawn once each with a monospace font, then reused."""

    def __init__(self, cell_w: int, cell_h: int) -> None:
        self.w, self.h = cell_w, cell_h
        size = max(int(cell_w / 0.61), 6)  # DejaVu Sans Mono advance is 0.602 em
        self.regular: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = \
            _font("DejaVuSansMono.ttf", size)
        self.bold: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = \
            _font("DejaVuSansMono-Bold.ttf", size)
        self.fake_bold = self.bold is None
        self.regular = self.regular or ImageFont.load_default(size)
        self.bold = self.bold or self.regular

    @lru_cache(maxsize=2048)  # noqa: B019 - one cache per render, freed with it
    def cell(self, ch: str, style: Style) -> Image.Image:
        img = Image.new("L", (self.w, self.h), 255)
        draw = ImageDraw.Draw(img)
        font = self.bold if style.bold else self.regular
        left, top, right, bottom = draw.textbbox((0, 0), "M", font=font)
        x = (self.w - (right - left)) // 2 - left
        y = (self.h - (bottom - top)) // 2 - top
        stroke = 1 if style.bold and self.fake_bold else 0
        if ch.isprintable():  # no-break space, soft hyphen, DEL: a blank cell
            draw.text((x, y), ch, fill=0, font=font, stroke_width=stroke, stroke_fill=0)
        if style.underline:
            draw.rectangle((0, self.h - style.underline, self.w - 1, self.h - 1), fill=0)
        if style.width != 1 or style.height != 1:
            img = img.resize((self.w * style.width, self.h * style.height), Image.Resampling.NEAREST)
        return img


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.truetype(name, size)
    except OSError:
        return None


def _x_for(align: int, width: int, paper: int) -> int:
    return {LEFT: 0, CENTER: (paper - width) // 2, RIGHT: paper - width}[align]


def draw_paper(receipt: Receipt) -> Paper:
    """Draw the receipt: 1 printer dot = 1 pixel, white paper, black print."""
    paper_w = receipt.width_dots
    cw = max(paper_w // receipt.columns, 4)
    ch = cw * 2  # font A cells are 12 x 24 dots on 80 mm printers
    gap = ch // 4  # default line spacing: 30 dots for a 24-dot line
    glyphs = _Glyphs(cw, ch)
    hri_h = ch + gap

    steps: list[tuple[Block, int, Callable[[Image.Image, int], tuple[int, int, int, int]]]] = []

    def text_line(block: TextLine) -> None:
        def draw(page: Image.Image, y: int) -> tuple[int, int, int, int]:
            x0 = x = _x_for(block.align, block.columns * cw, paper_w) if block.columns <= receipt.columns else 0
            base = y + block.height * ch
            for c, style in block.cells:
                cell = glyphs.cell(c, style)
                page.paste(cell, (x, base - cell.height))
                x += cell.width
            return (x0, y, x, base)
        steps.append((block, block.height * ch + gap, draw))

    def hri_text(page: Image.Image, text: str, centre_x: int, y: int) -> None:
        x = centre_x - len(text) * cw // 2
        for c in text:
            page.paste(glyphs.cell(c, Style()), (x, y))
            x += cw

    def barcode(block: Barcode) -> None:
        mods = block.modules or ""
        bar_w = len(mods) * block.module_width if mods else 20 * cw
        above = hri_h if block.hri & HRI_ABOVE else 0
        below = hri_h if block.hri & HRI_BELOW else 0

        def draw(page: Image.Image, y: int) -> tuple[int, int, int, int]:
            d = ImageDraw.Draw(page)
            x0 = max(_x_for(block.align, bar_w, paper_w), 0)
            top = y + above
            if mods:
                for k, bit in enumerate(mods):
                    if bit == "1":
                        xs = x0 + k * block.module_width
                        d.rectangle((xs, top, xs + block.module_width - 1,
                                     top + block.height - 1), fill=0)
            else:
                d.rectangle((x0, top, x0 + bar_w - 1, top + block.height - 1), outline=0)
            label = block.data if mods else f"{block.symbology} {block.data}"
            if above:
                hri_text(page, label, x0 + bar_w // 2, y)
            if below or not mods:
                hri_text(page, label, x0 + bar_w // 2, top + block.height + gap // 2)
            return (x0, top, x0 + bar_w, top + block.height)
        steps.append((block, above + block.height + below + gap, draw))

    def qr(block: QrCode) -> None:
        matrix = _qr_matrix(block.data, block.ec) or ()
        side = len(matrix) * block.module_size
        quiet = 2 * block.module_size  # a little white above and below for scanners

        def draw(page: Image.Image, y: int) -> tuple[int, int, int, int]:
            d = ImageDraw.Draw(page)
            x0 = max(_x_for(block.align, side, paper_w), 0)
            top = y + quiet
            s = block.module_size
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        d.rectangle((x0 + c * s, top + r * s, x0 + c * s + s - 1,
                                     top + r * s + s - 1), fill=0)
            return (x0, top, x0 + side, top + side)
        steps.append((block, side + 2 * quiet + gap, draw))

    def raster(block: Raster) -> None:
        w = block.width_dots * block.scale_x
        h = block.height * block.scale_y

        def draw(page: Image.Image, y: int) -> tuple[int, int, int, int]:
            # In PIL's mode "1" a set bit is white; in ESC/POS it is black.
            bits = bytes(b ^ 0xFF for b in block.data)
            img = Image.frombytes("1", (block.width_dots, block.height), bits).convert("L")
            if (w, h) != img.size:
                img = img.resize((w, h), Image.Resampling.NEAREST)
            x0 = max(_x_for(block.align, w, paper_w), 0)
            page.paste(img, (x0, y))
            return (x0, y, x0 + w, y + h)
        steps.append((block, h + gap, draw))

    def cut(block: Cut) -> None:
        def draw(page: Image.Image, y: int) -> tuple[int, int, int, int]:
            d = ImageDraw.Draw(page)
            mid = y + ch // 2
            hole = (paper_w // 2 - 2 * cw, paper_w // 2 + 2 * cw) if block.partial else (0, 0)
            for x in range(0, paper_w, 2 * cw):
                if not hole[0] <= x < hole[1]:
                    d.line((x, mid, min(x + cw, paper_w) - 1, mid), fill=0, width=2)
            return (0, mid - 1, paper_w, mid + 1)
        steps.append((block, ch, draw))

    for block in receipt.blocks:
        if isinstance(block, TextLine):
            text_line(block)
        elif isinstance(block, Barcode):
            barcode(block)
        elif isinstance(block, QrCode):
            qr(block)
        elif isinstance(block, Raster):
            raster(block)
        else:
            cut(block)

    margin = ch
    page = Image.new("L", (paper_w, margin * 2 + sum(h for _, h, _ in steps)), 255)
    paper = Paper(page)
    y = margin
    for block, height, draw in steps:
        paper.boxes.append((block, draw(page, y)))
        y += height
    return paper
