# Raster files on the till: header checks and streaming to the printer builder.
import io

import support
from till.formats import escpos, rasterfile


def test_header_round_trip_and_streaming():
    data = rasterfile.header(2, 3) + bytes([0xFF, 0x00, 0x81, 0x42, 0x00, 0xFF])
    d = support.tmpdir()
    support.write_file(d + "/logo.ras", data)
    p = escpos.EscPos()
    assert rasterfile.print_file(p, d + "/logo.ras") == (2, 3)
    assert p.output() == b"\x1dv0\x00\x02\x00\x03\x00" + data[8:]


def test_bad_files_are_refused_with_a_clear_message():
    err = support.raises(rasterfile.RasterFileError, rasterfile.read_header, io.BytesIO(b"\x89PNG...."))
    assert "kassa image convert" in str(err)
    err = support.raises(rasterfile.RasterFileError, rasterfile.read_header,
                         io.BytesIO(b"KR\x09\x00\x00\x02\x00\x01"))
    assert "format 9" in str(err)
    support.raises(rasterfile.RasterFileError, rasterfile.read_header, io.BytesIO(b"KR\x01\x00\x00\x00\x00\x01"))
    support.raises(rasterfile.RasterFileError, rasterfile.header, 73, 10)


def test_too_wide_for_the_paper_is_refused_before_printing():
    d = support.tmpdir()
    support.write_file(d + "/wide.ras", rasterfile.header(72, 1) + bytes(72))
    p = escpos.EscPos()
    err = support.raises(rasterfile.RasterFileError, rasterfile.print_file, p, d + "/wide.ras", 48)
    assert "576 dots wide" in str(err) and p.output() == b""


def test_short_file_pads_white_then_reports():
    d = support.tmpdir()
    support.write_file(d + "/short.ras", rasterfile.header(2, 2) + b"\xff")
    p = escpos.EscPos()
    support.raises(ValueError, rasterfile.print_file, p, d + "/short.ras")
    assert p.output().endswith(b"\xff\x00\x00\x00")
