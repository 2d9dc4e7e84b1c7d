# Writes the files of a snapshot directory and snapshot packages, in streaming
# order, with bounded memory. The till uses it to install a package; the host
# builder (host_tools/hodata/snapshot_builder.py) uses the same code, so a snapshot built
# at head office and one installed on the till are the same bytes and hash alike.
# Formats: docs/snapshot.md.
import binascii
import hashlib
import os

from till.formats import cbor
from till.formats.catalog import (GTIN_BYTES, GTIN_INDEX_FILE, ITEMS_FILE, MAX_GTIN_DIGITS,
                          MAX_PLU, MAX_RECORD_BYTES, OFFSET_BYTES, PLU_BYTES,
                          PLU_INDEX_FILE, READ_ERRORS, Catalog, damaged, encode_item,
                          gtin_key, next_or_none)
from till.formats.durable import sync_dir, sync_file

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

META_FILE = "meta"
HASH_FILE = "hash"
# The content hash covers these files, in this order (docs/snapshot.md).
HASHED_FILES = (META_FILE, ITEMS_FILE, PLU_INDEX_FILE, GTIN_INDEX_FILE)
PACKAGE_FORMAT = const(1)
PACKAGE_MAGIC = "kassa-snapshot"
_OUT_BUFFER_BYTES = const(512)
_HASH_CHUNK_BYTES = const(512)


def write_file(path, data):
    """Write a whole small file and make it durable."""
    with open(path, "wb") as f:
        f.write(data)
        sync_file(f)


class _Out:
    # MicroPython files are unbuffered: 50,000 eight-byte index writes would
    # each be a call into the filesystem.
    def __init__(self, path):
        self.f = open(path, "wb")
        self.buf = bytearray(_OUT_BUFFER_BYTES)
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
    for the binary search). close() makes the files durable."""

    def __init__(self, path):
        self.path = path
        self._outs = []
        self._items = self._open(ITEMS_FILE)
        self._plu = self._open(PLU_INDEX_FILE)
        self._gtin = self._open(GTIN_INDEX_FILE)
        self._last_plu = -1
        self._last_gtin = -1
        self.items = 0
        self.gtins = 0

    def _open(self, name):
        try:
            out = _Out(self.path + "/" + name)
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


def content_hash(path, mv=None):
    """SHA-256 of a snapshot directory (docs/snapshot.md, "Content hash").

    For each of meta, items, plu.idx, gtin.idx in that order: its length as 4
    bytes big-endian, then its bytes. mv: a scratch buffer (memoryview) to read
    into; the till passes one it already holds, so that hashing at boot leaves
    no new hole in its heap."""
    h = hashlib.sha256()
    if mv is None:
        mv = memoryview(bytearray(_HASH_CHUNK_BYTES))
    for name in HASHED_FILES:
        full = path + "/" + name
        h.update(os.stat(full)[6].to_bytes(4, "big"))
        with open(full, "rb") as f:
            while True:
                n = f.readinto(mv)
                if not n:
                    break
                h.update(mv[:n])
    return h.digest()


def hex_hash(digest):
    return binascii.hexlify(digest).decode()


def read_hash(path):
    """The content hash recorded in a snapshot directory (bytes), from its hash
    file; SnapshotError if the file is missing or is not 64 hex digits."""
    try:
        with open(path + "/" + HASH_FILE, "rb") as f:
            text = f.read(80).strip()
        if len(text) == 64:
            return binascii.unhexlify(text)
    except READ_ERRORS:  # missing, unreadable, or not hex (binascii.Error)
        pass
    raise damaged(path, "its hash file is missing or is not 64 hex digits")


def build_dir(path, meta, items, encode_meta=cbor.dumps):
    """Write a complete snapshot directory from a meta dict and item dicts.

    Memory grows with the item count (barcodes are sorted here), so this is for
    the host and for small test catalogs; a till installs packages instead.
    Each item may carry "barcodes": a list of digit strings. Returns the hash."""
    items = sorted(items, key=lambda it: it["plu"])
    gtins = []
    for it in items:
        for code in it.get("barcodes", ()):
            key = gtin_key(code)
            if key is None:
                raise ValueError("item %d: %r is not a barcode of 1..14 digits" % (it["plu"], code))
            gtins.append((key, it["plu"]))
    gtins.sort()
    meta = dict(meta)
    meta["items"] = len(items)
    meta["gtins"] = len(gtins)
    meta_raw = encode_meta(meta)
    write_file(path + "/" + META_FILE, meta_raw)
    w = CatalogWriter(path)
    try:
        for it in items:
            w.add_item(it)
        last = -1
        for key, plu in gtins:
            if key == last:
                raise ValueError("barcode %d is on more than one item" % key)
            w.add_gtin(key, plu)
            last = key
    except BaseException:
        w.abort()
        raise
    w.close()
    digest = content_hash(path)
    write_file(path + "/" + HASH_FILE, hex_hash(digest).encode())
    sync_dir(path)
    return digest


class PackageWriter:
    """Writes a snapshot package: a CBOR sequence (RFC 8742), docs/snapshot.md.

    header() first, then meta(), then exactly header["items"] item entries
    (record / remove_item) and header["gtins"] barcode entries (gtin / remove_gtin),
    each group in ascending key order."""

    def __init__(self, out, encode=cbor.dumps):
        self._out = out
        self._encode = encode

    def header(self, kind, version, content_hash_, items, gtins, base=None, base_hash=None):
        self._out.write(self._encode({
            "kassa": PACKAGE_MAGIC, "format": PACKAGE_FORMAT, "kind": kind,
            "version": version, "base": base, "base_hash": base_hash,
            "hash": content_hash_, "items": items, "gtins": gtins,
        }))

    def meta(self, meta_raw):
        """The meta file's bytes (one CBOR map), written as they are."""
        self._out.write(meta_raw)

    def record(self, raw):
        self._out.write(raw)

    def remove_item(self, plu):
        self._out.write(self._encode([plu]))

    def gtin(self, gtin, plu):
        self._out.write(self._encode([gtin, plu]))

    def remove_gtin(self, gtin):
        self._out.write(self._encode([gtin]))


def write_full_package(path, out, encode=cbor.dumps):
    """A full package of the snapshot directory at path, written to out."""
    with open(path + "/" + META_FILE, "rb") as f:
        meta_raw = f.read()
    meta = cbor.loads(meta_raw)
    digest = read_hash(path)
    cat = Catalog(path)
    try:
        pw = PackageWriter(out, encode)
        pw.header("full", meta["version"], digest, len(cat), cat.barcode_count)
        pw.meta(meta_raw)
        for _, raw in cat.records():
            pw.record(raw)
        for gtin, plu in cat.barcodes():
            pw.gtin(gtin, plu)
    finally:
        cat.close()


def _diff(old_iter, new_iter, same, on_set, on_remove):
    # Walk two sequences sorted by key; report keys set (new or changed) and
    # removed. Returns how many were reported.
    n = 0
    a = next_or_none(old_iter)
    b = next_or_none(new_iter)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            on_remove(a[0])
            a = next_or_none(old_iter)
        elif a is None or b[0] < a[0]:
            on_set(b)
            b = next_or_none(new_iter)
        else:
            if not same(a[1], b[1]):
                on_set(b)
            else:
                n -= 1
            a = next_or_none(old_iter)
            b = next_or_none(new_iter)
        n += 1
    return n


def write_delta_package(old_path, new_path, out, encode=cbor.dumps):
    """A delta package that turns snapshot old_path into new_path, written to out.

    Streams both directories twice (once to count, once to write), so memory
    stays bounded. It carries new_path's meta as it is, so the till ends up
    with exactly new_path: same files, same content hash as a full install.
    Returns (items, gtins) entry counts."""
    with open(old_path + "/" + META_FILE, "rb") as f:
        old_version = cbor.loads(f.read())["version"]
    with open(new_path + "/" + META_FILE, "rb") as f:
        meta_raw = f.read()
    version = cbor.loads(meta_raw)["version"]
    if version <= old_version:
        raise ValueError("new snapshot version %d is not above the base version %d"
                         % (version, old_version))
    old = Catalog(old_path)
    new = Catalog(new_path)
    try:
        def same_raw(a, b):
            return bytes(a) == bytes(b)

        def same_plu(a, b):
            return a == b

        def nothing(_):
            pass

        n_items = _diff(old.records(), new.records(), same_raw, nothing, nothing)
        n_gtins = _diff(old.barcodes(), new.barcodes(), same_plu, nothing, nothing)
        pw = PackageWriter(out, encode)
        pw.header("delta", version, read_hash(new_path), n_items, n_gtins,
                  old_version, read_hash(old_path))
        pw.meta(meta_raw)
        _diff(old.records(), new.records(), same_raw,
              lambda e: pw.record(e[1]), pw.remove_item)
        _diff(old.barcodes(), new.barcodes(), same_plu,
              lambda e: pw.gtin(e[0], e[1]), pw.remove_gtin)
    finally:
        old.close()
        new.close()
    return n_items, n_gtins
