# Printer profiles of the receipt printers the board files name: what
# `kassa printer profile MODEL` writes, without the long code page list (the till
# needs only the page it selects). tests/device/test_boards.py checks each one
# against python-escpos's capability database.
TM_T20II = {
    "format": 1, "model": "TM-T20II", "vendor": "Epson", "name": "TM-T20II",
    "media_width_mm": 72, "paper_width_dots": 576, "dpi": 203,
    "columns": {"a": 48, "b": 64}, "cut": {"full": True, "partial": True},
    "qr_native": True, "barcode_functions": ["A", "B"], "raster_image": True,
    "drawer_pulse": True, "cp858_index": 19,
    "text_code_page": {"name": "CP858", "index": 19},
}

TM_T88V = {
    "format": 1, "model": "TM-T88V", "vendor": "Epson", "name": "TM-T88V",
    "media_width_mm": 80, "paper_width_dots": 512, "dpi": 180,
    "columns": {"a": 42, "b": 56}, "cut": {"full": True, "partial": True},
    "qr_native": True, "barcode_functions": ["A", "B"], "raster_image": True,
    "drawer_pulse": True, "cp858_index": 19,
    "text_code_page": {"name": "CP858", "index": 19},
}
