# Writes the catalog files of a snapshot directory in streaming order, with
# bounded memory (their names and the content hash: snapshot_files.py). The till
# uses it to install a package; the host
# builder (host_tools/hodata/snapshot_builder.py) uses the same code, so a
# snapshot built at head office and one installed on the till are the same
# bytes and hash alike. Writing packages is HO's side (package_writer.py): the
# till never imports it, which keeps its names out of the till's fixed heap.
# Formats: docs/snapshot.md.
from till.formats.catalog import (GTIN_BYTES, GTIN_INDEX_FILE, ITEMS_FILE, MAX_GTIN_DIGITS,
                                  MAX_PLU, MAX_RECORD_BYTES, OFFSET_BYTES, PLU_BYTES,
                                  PLU_INDEX_FILE, encode_item)
from till.formats.durable import sync_file

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_OUT_BUFFER_BYTES = const(512)
SCRATCH_BYTES = 3 * _OUT_BUFFER_BYTES  # items, plu.idx, gtin.idx


class _Out:
    # MicroPython files are unbuffered: 50,000 eight-byte index writes would
    # each be a call into the filesystem.
    def __init__(self, path, buf=None):
        self.f = open(path, "wb")
        self.buf = buf if buf is not None else bytearray(_OUT_BUFFER_BYTES)
        self.n = 0
        self.size = 0

    def write(self, data):
        k = len(data)
        if self.n + k > _OUT_BUFFER_BYTES:
            self._drain()
        if k > _OUT_BUFFER_BYTES:
            self.f.write(data)
        else:
            self.buf[self.n:self.n + k] = data
            self.n += k
        self.size += k

    def _drain(self):
        if self.n:
            self.f.write(memoryview(self.buf)[:self.n])
            self.n = 0

    def close(self, sync=True):
        try:
            if sync:
                self._drain()
                sync_file(self.f)
        finally:
            self.f.close()


class CatalogWriter:
    """Writes items, plu.idx and gtin.idx into an existing directory.

    Records come in strictly ascending PLU order, then barcodes in strictly
    ascending order; anything else is a ValueError (the files must stay sorted
    for the binary search). close() makes the files durable. scratch: a
    buffer of at least SCRATCH_BYTES to write through instead of allocating
    (the till passes a part of its record buffer: a long day leaves its heap
    in holes too small for three new buffers)."""

    def __init__(self, path, scratch=None):
        self.path = path
        self._scratch = scratch
        self._outs = []
        self._items = self._open(ITEMS_FILE)
        self._plu = self._open(PLU_INDEX_FILE)
        self._gtin = self._open(GTIN_INDEX_FILE)
        self._last_plu = -1
        self._last_gtin = -1
        self.items = 0
        self.gtins = 0

    def _open(self, name):
        buf = None
        if self._scratch is not None:
            at = len(self._outs) * _OUT_BUFFER_BYTES
            buf = memoryview(self._scratch)[at:at + _OUT_BUFFER_BYTES]
        try:
            out = _Out(self.path + "/" + name, buf)
        except OSError:
            self.abort()
            raise
        self._outs.append(out)
        return out

    def add_record(self, plu, raw):
        """Append one encoded item record (bytes of a CBOR array) for plu."""
        if not self._last_plu < plu <= MAX_PLU:
            raise ValueError("PLU %d is not above the previous %d" % (plu, self._last_plu))
        if not 0 < len(raw) <= MAX_RECORD_BYTES:
            raise ValueError("item %d: record of %d bytes (at most %d)"
                             % (plu, len(raw), MAX_RECORD_BYTES))
        if self._items.size > 0xFFFFFFFF - len(raw):
            raise ValueError("item file would pass 4 GiB")
        self._plu.write(plu.to_bytes(PLU_BYTES, "big"))
        self._plu.write(self._items.size.to_bytes(OFFSET_BYTES, "big"))
        self._items.write(raw)
        self._last_plu = plu
        self.items += 1

    def add_item(self, item):
        self.add_record(item["plu"], encode_item(item))

    def add_gtin(self, gtin, plu):
        """Append one barcode entry: gtin (int, see catalog.gtin_key) -> plu."""
        if not self._last_gtin < gtin < 10 ** MAX_GTIN_DIGITS:
            raise ValueError("barcode %d is not above the previous %d" % (gtin, self._last_gtin))
        if not 0 <= plu <= MAX_PLU:
            raise ValueError("barcode %d names PLU %d, outside 0..%d" % (gtin, plu, MAX_PLU))
        self._gtin.write(gtin.to_bytes(GTIN_BYTES, "big"))
        self._gtin.write(plu.to_bytes(PLU_BYTES, "big"))
        self._last_gtin = gtin
        self.gtins += 1

    def close(self):
        outs = self._outs
        self._outs = []
        for out in outs:
            out.close()

    def abort(self):
        """Close without making anything durable (the directory is thrown away)."""
        outs = self._outs
        self._outs = []
        for out in outs:
            try:
                out.close(sync=False)
            except OSError:
                pass
