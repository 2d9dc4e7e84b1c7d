# Printer-ready raster images (store logo, product pictures) as files on the till.
#
# The host (`kassa image convert`) does all image work with Pillow; the till only
# streams the bits to the printer with GS v 0 and never decodes an image. A file
# is an 8-byte header then the rows, 1 = black, most significant bit leftmost:
#   b"KR" | version (1) | reserved (0) | width in bytes (u16 BE) | height (u16 BE)
_MAGIC = b"KR"
_VERSION = 1
HEADER_BYTES = 8
MAX_WIDTH_BYTES = 72  # 576 dots: the widest 80 mm printers


class RasterFileError(ValueError):
    pass


def header(width_bytes, height):
    if not (1 <= width_bytes <= MAX_WIDTH_BYTES and 1 <= height <= 0xFFFF):
        raise RasterFileError("image of %d x %d bytes/rows is out of range" % (width_bytes, height))
    return _MAGIC + bytes((_VERSION, 0, width_bytes >> 8, width_bytes & 0xFF,
                           height >> 8, height & 0xFF))


def read_header(f, name="image"):
    """Read and check the header; returns (width_bytes, height)."""
    h = f.read(HEADER_BYTES)
    if len(h) < HEADER_BYTES or h[:2] != _MAGIC:
        raise RasterFileError("%s is not a Kassa raster file: convert it with `kassa image convert`" % name)
    if h[2] != _VERSION:
        raise RasterFileError("%s has raster format %d; this till reads %d" % (name, h[2], _VERSION))
    width_bytes = (h[4] << 8) | h[5]
    height = (h[6] << 8) | h[7]
    if not (1 <= width_bytes <= MAX_WIDTH_BYTES and height >= 1):
        raise RasterFileError("%s has a bad size (%d bytes x %d rows)" % (name, width_bytes, height))
    return width_bytes, height


def print_file(printer, path, max_width_bytes=MAX_WIDTH_BYTES):
    """Stream a raster file to an EscPos builder; refuse one wider than the paper."""
    with open(path, "rb") as f:
        width_bytes, height = read_header(f, path)
        if width_bytes > max_width_bytes:
            raise RasterFileError("%s is %d dots wide; the printer takes %d"
                                  % (path, width_bytes * 8, max_width_bytes * 8))
        printer.raster(width_bytes, height, f)
    return width_bytes, height
