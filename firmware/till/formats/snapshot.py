# The head-office snapshot on the till: what it sells (the catalog), who may sell
# (cashiers, roles) and by which rules (tax classes, policies, barcode rules,
# receipt text). docs/snapshot.md describes the directory, the content hash and
# the package format.
#
# On flash:   ROOT/current      names the directory in force, e.g. "snap-12"
#             ROOT/snap-12/     meta, items, plu.idx, gtin.idx, hash
#
# Installing writes a whole new directory beside the one in force, checks its
# content hash against the one head office computed, and only then switches by
# renaming current.tmp over current (atomic on littlefs; fsynced on a Pi). A power
# cut at any point leaves the old or the new snapshot in force, never a mix;
# whatever a cut left half-written is removed the next time the store opens.
#
# Opening checks the content hash again: flash wears, and a damaged byte in an
# index or a price must not sell the wrong item or at the wrong price. Whatever
# is damaged (pointer, hash, meta, records, indexes, a missing file), open()
# and the lookups raise SnapshotError with the reason and nothing else; the till
# then boots without HO's data and says why, and a full package replaces the
# damaged snapshot.
import gc
import os

from till.formats import cbor
from till.formats.catalog import READ_ERRORS, Catalog, SnapshotError, damaged, exc_text
from till.formats.durable import exists, is_dir, rmtree, sync_dir
from till.formats.snapshot_files import HASH_FILE, META_FILE, content_hash, read_hash, write_file

CURRENT_FILE = "current"
_CURRENT_TMP = "current.tmp"
DIR_PREFIX = "snap-"
_PAD = b"\0" * 64  # grows the scratch buffer to its room without a new object


class PackageError(SnapshotError):
    """The package is damaged, truncated or not a snapshot package."""


class WrongBaseError(SnapshotError):
    """A delta made for another snapshot than the one in force."""


class HashMismatchError(SnapshotError):
    """What the package produced differs from what head office built."""


def _replace(src, dst):
    # POSIX and littlefs rename over an existing file atomically. FAT refuses an
    # existing target: remove it first, and open() finishes the rename if a cut
    # falls between the two steps (see _read_pointer).
    try:
        os.rename(src, dst)
    except OSError:
        if not exists(dst):
            raise
        os.remove(dst)
        os.rename(src, dst)


def _read_meta(path, scratch):
    with open(path + "/" + META_FILE, "rb") as f:
        # Through the caller's scratch buffer when it has one: the file's
        # bytes (a few KB) would need one block of their size, which the
        # fragmented heap of a boot may no longer have.
        if scratch is not None:
            n = f.readinto(scratch)
            if n < len(scratch):
                return cbor.loads(memoryview(scratch)[:n])
            f.seek(0)
        return cbor.loads(f.read())


class Snapshot:
    """One installed snapshot: its meta (a dict) and its catalog on flash.

    Opening reads every file once to check the content hash (a 7,000-item Pico
    W catalog is about 400 KB), unless the caller has just computed it
    (`verified_hash`, after an install). SnapshotError if anything is damaged.
    Open files stay open until close(); SnapshotStore closes a replaced one."""

    def __init__(self, path, verified_hash=None, scratch=None):
        self.path = path
        self.catalog = None
        try:
            self._open(verified_hash, scratch)
        except SnapshotError:
            self.close()
            raise
        except READ_ERRORS as exc:
            self.close()
            raise damaged(path, exc_text(exc))

    def _open(self, verified_hash, scratch):
        path = self.path
        self.hash = read_hash(path)
        # Meta is decoded first, while the heap still has its biggest blocks:
        # it is one dict of a few dozen keys (a 1.8 KB table on a 64-bit port)
        # that lives as long as the snapshot. It is trusted only once the
        # content hash below matches (the decoder is safe on any bytes).
        meta = _read_meta(path, scratch)
        self.catalog = Catalog(path)
        digest = verified_hash
        if digest is None:
            # Read into the catalog's record buffer, which lives as long as the
            # snapshot: the boot's fragmented heap gets no new hole from this.
            digest = content_hash(path, self.catalog.scratch())
            if hasattr(gc, "mem_free"):
                # A fixed heap (MicroPython): the hash's garbage (file objects,
                # stat tuples, slices) is collected before the long-lived
                # engine objects are placed, so it leaves no holes between
                # them in the boot's heap.
                gc.collect()
        if digest != self.hash:
            raise damaged(path, "its files do not match their content hash")
        # The hash covers meta: from here on damage is ruled out, and what is
        # checked is that the data has the shape the engine indexes into.
        err = meta_error(meta)
        if err is not None:
            raise damaged(path, "its meta " + err)
        self.meta = meta
        self.version = meta["version"]
        self.base = meta.get("base")
        if meta.get("items", len(self.catalog)) != len(self.catalog) or \
                meta.get("gtins", self.catalog.barcode_count) != self.catalog.barcode_count:
            raise damaged(path, "its meta counts %r items and %r barcodes, its indexes %d and "
                          "%d" % (meta.get("items"), meta.get("gtins"), len(self.catalog),
                                  self.catalog.barcode_count))

    def close(self):
        if self.catalog is not None:
            self.catalog.close()

    def by_plu(self, plu):
        return self.catalog.by_plu(plu)

    def by_barcode(self, code):
        return self.catalog.by_barcode(code)

    @property
    def tax_classes(self):
        """{class: {"name": str, "rate_ppm": int}}"""
        return self.meta["tax_classes"]

    def tax_rates(self):
        """{class: rate_ppm}, the shape tax.compute_totals takes."""
        rates = {}
        for k, v in self.meta["tax_classes"].items():
            rates[k] = v["rate_ppm"]
        return rates

    @property
    def policies(self):
        return self.meta["policies"]

    @property
    def roles(self):
        return self.meta["roles"]

    @property
    def barcode_rules(self):
        return self.meta["barcode_rules"]

    @property
    def receipt(self):
        """{"header": [lines], "footer": [lines]}"""
        return self.meta["receipt"]

    @property
    def store(self):
        return self.meta["store"]

    @property
    def currency(self):
        """{"code": "EUR", "decimals": 2}"""
        return self.meta["currency"]

    def cashier(self, cashier_id):
        """The cashier dict (with "id" added), or None if there is no such cashier."""
        c = self.meta["cashiers"].get(cashier_id)
        if c is None:
            return None
        c = dict(c)
        c["id"] = cashier_id
        return c

    def role(self, name):
        return self.meta["roles"].get(name)

    def journal_info(self):
        """{"version", "base", "hash"}: what the caller journals as "configuration
        applied". base is meta's: the version head office derived this one from."""
        return {"version": self.version, "base": self.base, "hash": self.hash}


class SnapshotStore:
    """The snapshots under one root directory; .current is the one in force."""

    def __init__(self, root, scratch=None, scratch_bytes=None):
        """scratch: a bytearray the store may read meta files and packages
        through while it opens or installs a snapshot (the till's record
        buffer, free at those moments), with room for scratch_bytes (default:
        its length now). The journal and the receipt layout use the till's as
        a growable buffer, emptied but still holding its room, so its length
        says nothing of that room."""
        self.root = root
        self.scratch = scratch
        self.scratch_bytes = len(scratch) if scratch_bytes is None and scratch is not None \
            else scratch_bytes
        self.current = None

    def scratch_view(self):
        """The scratch buffer at its full room (grown in place, never beyond
        what it holds allocated), or None."""
        buf = self.scratch
        if buf is None:
            return None
        n = self.scratch_bytes
        while len(buf) < n:
            buf.extend(memoryview(_PAD)[:n - len(buf)])
        return memoryview(buf)[:n]

    def _p(self, name):
        return self.root + "/" + name

    def open(self):
        """Open the snapshot in force (None if the till has none yet).

        Removes whatever an interrupted install or cleanup left behind.
        SnapshotError (with the reason) if the snapshot in force is damaged; it
        is left on flash until install() replaces it with a full package."""
        self.close()
        try:
            if not exists(self.root):
                os.mkdir(self.root)
            name = self._read_pointer()
            self._cleanup(name)
        except OSError as exc:
            raise SnapshotError("The HO data in %s cannot be read (%s): restart the till; "
                                "if this stays, sync it with head office"
                                % (self.root, exc_text(exc)))
        if name is not None:
            self.current = Snapshot(self._p(name), scratch=self.scratch_view())
        return self.current

    def close(self):
        if self.current is not None:
            self.current.close()
            self.current = None

    def discard(self):
        """Remove the snapshot in force, cashier credentials with it (the data
        retention policy of a till unused too long). open() then finds none,
        and the till needs HO's data again before anyone signs on."""
        self.close()
        keep = self._read_pointer_or_none()
        self._cleanup(keep)  # current.tmp first: it could bring the pointer back
        try:
            os.remove(self._p(CURRENT_FILE))
        except OSError:
            pass
        sync_dir(self.root)
        self._cleanup(None)

    def _read_pointer_or_none(self):
        try:
            return self._read_pointer()
        except SnapshotError:
            return None

    def _valid_dir_name(self, name):
        if not name.startswith(DIR_PREFIX):
            return False
        digits = name[len(DIR_PREFIX):]
        return digits.isdigit() and exists(self._p(name) + "/" + HASH_FILE)

    def _read_pointer(self):
        try:
            with open(self._p(CURRENT_FILE), "rb") as f:
                raw = f.read(64)
        except OSError:
            raw = None
        if raw is not None:
            try:
                name = raw.decode().strip()
            except UnicodeError:
                name = raw
            if type(name) is not str or not self._valid_dir_name(name):
                raise SnapshotError("The snapshot pointer %s names %r, which is not a complete "
                                    "snapshot: reinstall the snapshot from head office"
                                    % (self._p(CURRENT_FILE), name))
            return name
        # No pointer: a first install cut before its rename, or a FAT rename cut
        # between its remove and its rename. current.tmp is written and synced
        # before either, so if it names a complete directory, that one was verified.
        try:
            with open(self._p(_CURRENT_TMP), "rb") as f:
                name = f.read(64).decode().strip()
        except (OSError, UnicodeError):
            return None
        if not self._valid_dir_name(name):
            return None
        _replace(self._p(_CURRENT_TMP), self._p(CURRENT_FILE))
        sync_dir(self.root)
        return name

    def _cleanup(self, keep):
        removed = False
        for name in os.listdir(self.root):
            if name == keep or name == CURRENT_FILE:
                continue
            if name.startswith(DIR_PREFIX) or name == _CURRENT_TMP:
                full = self._p(name)
                if is_dir(full):
                    rmtree(full)
                else:
                    os.remove(full)
                removed = True
        if removed:
            sync_dir(self.root)

    def install(self, stream, allow_older=False):
        """Install a snapshot package (full or delta) read from stream.

        On success the new snapshot is in force and open as .current (the old
        Snapshot object is closed); returns {"version", "base", "hash"} for the
        journal, base being the version a delta was applied to (None for a full
        package). A refused package raises SnapshotError and changes nothing.
        A damaged snapshot in force counts as none: only a full package
        replaces it, and its directory is removed before the new one is written."""
        # The installer and the catalog writer are code a till that never
        # installs (the host's tools reading a snapshot) does not load.
        from till.formats import snapshot_install

        return snapshot_install.install(self, stream, allow_older)

    def _in_force_name(self):
        if self.current is None:
            return None
        return self.current.path[len(self.root) + 1:]

    def _switch(self, name, digest):
        tmp = self._p(_CURRENT_TMP)
        write_file(tmp, name.encode())
        old = self.current
        _replace(tmp, self._p(CURRENT_FILE))
        sync_dir(self.root)
        # From here the new snapshot is in force; the old one only takes space.
        self.current = None
        if old is not None:
            old.close()
            # Its tables go before the new ones are decoded, into the holes
            # they leave: a till that has sold all day may have no room for
            # two metas at once. Whoever held it is handed the new one next.
            old.meta = None
            rmtree(old.path)
            sync_dir(self.root)
        self.current = Snapshot(self._p(name), digest, self.scratch_view())


def meta_error(meta):
    """What is wrong with the shape of a meta (a str), or None: the maps the
    engine looks into must be maps, their entries too (docs/snapshot.md)."""
    if type(meta) is not dict:
        return "is not a map"
    if type(meta.get("version")) is not int or meta["version"] < 0:
        return "has no version number"
    for key in ("items", "gtins"):
        v = meta.get(key, 0)
        if type(v) is not int or v < 0:
            return "has a %s that is not a count" % key
    for key in ("tax_classes", "cashiers", "roles", "policies"):
        if type(meta.get(key)) is not dict:
            return "has no %s" % key
    for key in ("store", "currency", "receipt"):
        if type(meta.get(key)) is not dict:
            return "has no %s map" % key
    if type(meta.get("barcode_rules")) is not list:
        return "has no list of barcode rules"
    for key in ("tax_classes", "cashiers", "roles"):
        for k, v in meta[key].items():
            if type(v) is not dict:
                return "has an entry %r in %s that is not a map" % (k, key)
    for k, v in meta["tax_classes"].items():
        if type(v.get("rate_ppm")) is not int:
            return "has tax class %r without a rate" % (k,)
    for k in meta["cashiers"]:
        if type(k) is not int:
            return "has a cashier number %r that is not a number" % (k,)
    return None
