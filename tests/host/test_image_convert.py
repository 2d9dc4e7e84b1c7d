"""`kassa image convert`: Pillow on the host, bits on the till, python-escpos as oracle."""
from __future__ import annotations

from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from host_tools.cli import main
from host_tools.hodata.raster import ImageConvertError, to_raster
from till.formats import escpos as tescpos
from till.formats import rasterfile


def logo(path: Path, size: tuple[int, int] = (800, 200)) -> Path:
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.rectangle((20, 20, size[0] - 20, size[1] - 20), outline="black", width=12)
    d.ellipse((60, 40, 200, 160), fill="black")
    img.save(path)
    return path


def test_convert_scales_to_the_paper_and_till_streams_it(tmp_path: Path, capsys) -> None:
    src = logo(tmp_path / "logo.png")
    out = tmp_path / "logo.ras"
    assert main(["image", "convert", str(src), "--out", str(out), "--width-dots", "512"]) == 0
    assert "512 x 128 dots" in capsys.readouterr().out
    data = out.read_bytes()
    assert data[:2] == b"KR" and len(data) == 8 + 64 * 128
    p = tescpos.EscPos()
    assert rasterfile.print_file(p, str(out)) == (64, 128)
    # Same bits as python-escpos sends for the same (already 1-bit) image.
    mono = Image.frombytes("1", (512, 128), bytes(b ^ 0xFF for b in data[8:]))
    dummy = Dummy()
    dummy.image(mono, impl="bitImageRaster", center=False)
    assert p.output() in dummy.output


def test_transparent_background_prints_as_paper(tmp_path: Path) -> None:
    img = Image.new("RGBA", (64, 8), (0, 0, 0, 0))
    data = to_raster(img, 64, dither=False)
    assert data[8:] == bytes(8 * 8)  # all white


def test_narrow_image_is_centred(tmp_path: Path) -> None:
    img = Image.new("L", (16, 1), 0)  # 16 black dots
    data = to_raster(img, 64, dither=False)
    assert data[8:] == b"\x00\x00\x00\xff\xff\x00\x00\x00"


def test_profile_width_and_errors(tmp_path: Path, capsys) -> None:
    src = logo(tmp_path / "l.png")
    prof = tmp_path / "p.json"
    prof.write_text('{"paper_width_dots": 384}')
    assert main(["image", "convert", str(src), "--out", str(tmp_path / "o"), "--profile", str(prof)]) == 0
    assert "384 x 96 dots" in capsys.readouterr().out
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["image", "convert", str(tmp_path / "bad.png"), "--out", str(tmp_path / "o2")]) == 2
    assert "not an image" in capsys.readouterr().err
    with pytest.raises(ImageConvertError):
        to_raster(Image.new("L", (8, 8)), 1000)
