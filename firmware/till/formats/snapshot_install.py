# Installing a snapshot package on the till (docs/snapshot.md): a full package
# written out, or a delta merged with the snapshot in force, checked against
# head office's content hash before the switch. Apart from snapshot.py so that
# what only reads a snapshot (a till without a link, the host's tools) does
# not load it; a till with a link loads it at boot (till/app.py says why).
# It works on the store's state, as a part of SnapshotStore kept in another file.
import os

from till.formats import cbor
from till.formats.catalog import SnapshotError, next_or_none, record_error
from till.formats.catalog_writer import SCRATCH_BYTES, CatalogWriter
from till.formats.durable import rmtree, sync_dir
from till.formats.snapshot import (DIR_PREFIX, HashMismatchError, PackageError, WrongBaseError,
                                   meta_error)
from till.formats.snapshot_files import (HASH_FILE, META_FILE, PACKAGE_FORMAT, PACKAGE_MAGIC,
                                         content_hash, hex_hash, write_file)

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_HASH_BYTES = const(32)
# The meta item (cashiers, policies, receipt text) is the largest item of a
# package; records are at most 256 bytes. The buffer grows only as far as needed.
_MAX_ITEM_BYTES = const(32768)


def install(store, stream, allow_older=False):
    """SnapshotStore.install() for `store`: what it says, done here."""
    if store.current is None:
        try:
            store.open()
        except SnapshotError:
            pass  # damaged: unusable, so nothing is lost by replacing it
    store._cleanup(store._in_force_name())
    # Through the store's scratch buffer (the till's record buffer, free
    # during an install) when it has one: the package's items are read into
    # its front, the catalog files written from its tail, and the heap of a
    # till that has sold all day needs no block of its own for either.
    read_buf = write_buf = None
    mv = store.scratch_view()
    if mv is not None and len(mv) >= 2 * SCRATCH_BYTES:
        read_buf, write_buf = mv[:len(mv) - SCRATCH_BYTES], mv[len(mv) - SCRATCH_BYTES:]
    rd = cbor.SequenceReader(stream, max_item_bytes=_MAX_ITEM_BYTES, buffer=read_buf)
    try:
        header = _next(rd, "header")
    except cbor.CBORError as exc:
        raise PackageError("This is not a snapshot package (%s)" % exc)
    _check_header(store, header, allow_older)
    name = DIR_PREFIX + str(header["version"])
    path = store._p(name)
    os.mkdir(path)
    writer = None
    try:
        meta = _next(rd, "meta")
        _check_meta(meta, header)
        write_file(path + "/" + META_FILE, rd.last_raw_view())
        # Only its counts are needed from here: the decoded meta (a few KB of
        # small objects) is let go before the catalog is written.
        counts = meta.get("items"), meta.get("gtins")
        meta = None
        writer = CatalogWriter(path, write_buf)
        if header["kind"] == "full":
            _copy_items(writer, rd, header["items"])
            _copy_gtins(writer, rd, header["gtins"])
        else:
            # The catalog in force is read sequentially here; nothing looks
            # items up meanwhile, and a second set of open files would cost
            # a littlefs file cache (about 1 KB) each.
            old = store.current.catalog
            _merge_items(writer, old, rd, header["items"])
            _merge_gtins(writer, old, rd, header["gtins"])
        if _next(rd, None) is not None:
            raise PackageError("The snapshot package has data after its last entry")
        writer.close()
        if counts[0] not in (None, writer.items) or counts[1] not in (None, writer.gtins):
            raise PackageError("The snapshot has %d items and %d barcodes but its meta "
                               "says %r and %r" % (writer.items, writer.gtins,
                                                   counts[0], counts[1]))
        digest = content_hash(path, write_buf)
        if digest != header["hash"]:
            raise HashMismatchError(
                "Snapshot %d does not match what head office built (content hash %s, "
                "expected %s): the update was not applied"
                % (header["version"], hex_hash(digest)[:16], hex_hash(header["hash"])[:16]))
        write_file(path + "/" + HASH_FILE, hex_hash(digest).encode())
        sync_dir(path)
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # SnapshotError too
        # A refused package: drop what was written. Other errors (a full
        # flash, a power cut) leave it for the next open()/install() to remove.
        if writer is not None:
            writer.abort()
        rmtree(path)
        if isinstance(exc, SnapshotError):
            raise
        raise PackageError("The snapshot package is damaged: %s" % exc)
    store._switch(name, digest)
    info = store.current.journal_info()
    info["base"] = header.get("base") if header["kind"] == "delta" else None
    return info

def _check_header(store, h, allow_older):
    if type(h) is not dict or h.get("kassa") != PACKAGE_MAGIC:
        raise PackageError("This is not a snapshot package")
    if h.get("format") != PACKAGE_FORMAT:
        raise PackageError("Snapshot package format %r is newer than this till "
                           "understands (%d): update the till's firmware"
                           % (h.get("format"), PACKAGE_FORMAT))
    for key in ("version", "items", "gtins"):
        if type(h.get(key)) is not int or h[key] < 0:
            raise PackageError("Snapshot package header: %s is not a count" % key)
    if type(h.get("hash")) is not bytes or len(h["hash"]) != _HASH_BYTES:
        raise PackageError("Snapshot package header: no content hash")
    kind = h.get("kind")
    cur = store.current
    if kind == "delta":
        if cur is None:
            raise WrongBaseError("This update changes snapshot %r, but the till has no "
                                 "snapshot yet: send a full snapshot" % (h.get("base"),))
        if h.get("base") != cur.version or h.get("base_hash") != cur.hash:
            raise WrongBaseError(
                "This update changes snapshot %r, but the till has snapshot %d "
                "(%s): send a full snapshot or the update for snapshot %d"
                % (h.get("base"), cur.version, hex_hash(cur.hash)[:16], cur.version))
    elif kind != "full":
        raise PackageError("Snapshot package kind %r is neither full nor delta" % (kind,))
    if cur is not None:
        if h["version"] == cur.version:
            raise SnapshotError("Snapshot %d is already in force" % cur.version)
        if h["version"] < cur.version and not allow_older:
            raise SnapshotError("Snapshot %d is older than snapshot %d in force: not "
                                "installed" % (h["version"], cur.version))


def _next(rd, what):
    # The next item of the package; at its end None if what is None, else an error.
    for _, item, _ in rd:
        return item
    if what is None:
        return None
    raise PackageError("The snapshot package ends before its %s" % what)


def _check_meta(meta, header):
    err = meta_error(meta)
    if err is not None:
        raise PackageError("The snapshot meta " + err)
    if meta.get("version") != header["version"]:
        raise PackageError("The snapshot meta says version %r, the header %d"
                           % (meta.get("version"), header["version"]))


def _record(rd, i):
    rec = _next(rd, "item entries")
    if type(rec) is list and len(rec) == 1:
        if type(rec[0]) is not int:
            raise PackageError("item entry %d: a removal names no PLU" % i)
        return rec, None
    err = record_error(rec)
    if err is not None:
        raise PackageError("item entry %d: %s" % (i, err))
    return rec, rd.last_raw()


def _gtin_entry(rd, i):
    e = _next(rd, "barcode entries")
    if type(e) is not list or not 1 <= len(e) <= 2:
        raise PackageError("barcode entry %d is not [gtin, plu] or [gtin]" % i)
    for x in e:
        if type(x) is not int or x < 0:
            raise PackageError("barcode entry %d holds a value that is not a number" % i)
    return e


def _copy_items(writer, rd, count):
    for i in range(count):
        rec, raw = _record(rd, i)
        if raw is None:
            raise PackageError("item entry %d removes an item, but this is a full snapshot" % i)
        writer.add_record(rec[0], raw)


def _copy_gtins(writer, rd, count):
    for i in range(count):
        e = _gtin_entry(rd, i)
        if len(e) != 2:
            raise PackageError("barcode entry %d removes a barcode, but this is a full "
                               "snapshot" % i)
        writer.add_gtin(e[0], e[1])


def _merge_items(writer, old, rd, count):
    # One pass over the old records and the delta's entries, both in PLU order:
    # memory stays at a record or two whatever the catalog's size.
    olds = old.records()
    cur = next_or_none(olds)
    last = -1
    for i in range(count):
        rec, raw = _record(rd, i)
        plu = rec[0]
        if plu <= last:
            raise PackageError("item entry %d: PLU %d is not above the previous %d" % (i, plu, last))
        last = plu
        while cur is not None and cur[0] < plu:
            writer.add_record(cur[0], cur[1])
            cur = next_or_none(olds)
        present = cur is not None and cur[0] == plu
        if present:
            cur = next_or_none(olds)  # replaced or removed
        if raw is not None:
            writer.add_record(plu, raw)
        elif not present:
            raise WrongBaseError("The update removes item %d, which snapshot %s does not have"
                                 % (plu, old.path))
    while cur is not None:
        writer.add_record(cur[0], cur[1])
        cur = next_or_none(olds)


def _merge_gtins(writer, old, rd, count):
    olds = old.barcodes()
    cur = next_or_none(olds)
    last = -1
    for i in range(count):
        e = _gtin_entry(rd, i)
        gtin = e[0]
        if gtin <= last:
            raise PackageError("barcode entry %d: %d is not above the previous %d" % (i, gtin, last))
        last = gtin
        while cur is not None and cur[0] < gtin:
            writer.add_gtin(cur[0], cur[1])
            cur = next_or_none(olds)
        present = cur is not None and cur[0] == gtin
        if present:
            cur = next_or_none(olds)
        if len(e) == 2:
            writer.add_gtin(gtin, e[1])
        elif not present:
            raise WrongBaseError("The update removes barcode %d, which snapshot %s does not have"
                                 % (gtin, old.path))
    while cur is not None:
        writer.add_gtin(cur[0], cur[1])
        cur = next_or_none(olds)
