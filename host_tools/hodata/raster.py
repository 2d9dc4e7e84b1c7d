"""Turn logos and product pictures into the till's printer-ready raster files.

All image work happens here with Pillow and python-escpos's EscposImage (the same
bit packing python-escpos sends to printers), so the till only streams bits
(firmware/till/formats/rasterfile.py documents the file).
"""
from __future__ import annotations

from pathlib import Path

from escpos.image import EscposImage
from PIL import Image, ImageOps

from till.formats import rasterfile  # the file format is the device's


class ImageConvertError(ValueError):
    pass


def to_raster(source: Path | Image.Image, width_dots: int, center: bool = True,
              dither: bool = True, threshold: int = 128) -> bytes:
    """An image scaled to fit `width_dots`, as a raster file (header + rows)."""
    if width_dots < 8 or width_dots > rasterfile.MAX_WIDTH_BYTES * 8:
        raise ImageConvertError(f"paper width {width_dots} dots is out of range (8 to 576)")
    try:
        img = source if isinstance(source, Image.Image) else Image.open(source)
        img.load()
    except (OSError, ValueError) as exc:
        raise ImageConvertError(f"{source}: not an image Pillow can read ({exc})") from exc
    if img.mode in ("RGBA", "LA", "P"):
        # Transparent areas print as paper, not as black.
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, "white")
        img = Image.alpha_composite(background, img)
    gray = img.convert("L")
    if gray.width > width_dots:
        height = max(1, round(gray.height * width_dots / gray.width))
        gray = gray.resize((width_dots, height), Image.Resampling.LANCZOS)
    if dither:
        mono = gray.convert("1")  # Floyd-Steinberg
    else:
        mono = gray.point(lambda v: 255 if v >= threshold else 0, mode="1")
    if center and mono.width < width_dots:
        pad = (width_dots - mono.width) // 2
        mono = ImageOps.expand(mono, border=(pad, 0, width_dots - mono.width - pad, 0), fill=1)
    if mono.height > 0xFFFF:
        raise ImageConvertError(f"image is {mono.height} rows tall; at most 65535")
    esc = EscposImage(mono)
    return rasterfile.header(esc.width_bytes, esc.height) + esc.to_raster_format()
