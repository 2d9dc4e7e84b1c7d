# Builds snapshot directories and writes snapshot packages (full and delta):
# head office's side of the format, run by the host builder
# (host_tools/hodata/snapshot_builder.py) and by the device tests, under
# CPython and MicroPython alike. The till only reads packages (snapshot.py) and
# never imports this module: every name a module defines costs heap on a
# board, even from ROMFS. Formats: docs/snapshot.md.
from till.formats import cbor
from till.formats.catalog import Catalog, gtin_key, next_or_none
from till.formats.catalog_writer import CatalogWriter
from till.formats.durable import sync_dir
from till.formats.snapshot_files import (HASH_FILE, META_FILE, PACKAGE_FORMAT, PACKAGE_MAGIC,
                                         content_hash, hex_hash, read_hash, write_file)


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
