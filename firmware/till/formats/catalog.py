# The item catalog of a snapshot, looked up on flash without loading it.
#
# A Pico W has about 190 KB of heap and a store may carry 50,000 items: a dict of
# them would need megabytes. So the catalog stays in three files sorted for binary
# search, and a lookup reads a dozen small pieces with seek/readinto into buffers
# allocated once. docs/snapshot.md gives the byte format; catalog_writer.py
# writes it.
#
#   items     item records, CBOR arrays, concatenated in ascending PLU order
#   plu.idx   8-byte entries sorted by PLU: PLU (u32 BE), record offset (u32 BE)
#   gtin.idx  10-byte entries sorted by GTIN: GTIN as integer (u48 BE), PLU (u32 BE)
#
# The barcode index names the PLU, not the record offset, so that a delta that
# changes one record leaves every other barcode entry as it was: the device can
# merge it in one streaming pass instead of sorting 50,000 entries anew.
#
# Flash wears and files get damaged. Whatever a damaged file holds, a reader here
# raises SnapshotError with the reason, never another error and never another
# item: a record found through an index must carry the PLU that was asked for,
# and the entries a binary search passes must be in order. (What these checks
# cannot see, a changed price in a well-formed record, the content hash checked
# when the snapshot is opened does: see snapshot.py.)
import os

from till.formats import cbor

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

ITEMS_FILE = "items"
PLU_INDEX_FILE = "plu.idx"
GTIN_INDEX_FILE = "gtin.idx"

PLU_BYTES = const(4)
OFFSET_BYTES = const(4)
GTIN_BYTES = const(6)  # 2**48 > 10**14: every GTIN-14 fits
PLU_ENTRY_BYTES = const(8)
GTIN_ENTRY_BYTES = const(10)
MAX_PLU = const(0xFFFFFFFF)
MAX_GTIN_DIGITS = const(14)
MAX_RECORD_BYTES = const(256)  # the writer refuses longer records

# Record layout: [plu, name, price, tax, flags, min_age, dept]; trailing elements
# that are 0 are left out (a record has at least the first four).
_F_WEIGHED = const(1)
_F_OPEN_PRICE = const(2)
_MIN_FIELDS = const(4)

# A binary search probes single entries until the range left fits this window,
# then reads the window once; 256 bytes is one littlefs program page.
_WINDOW_BYTES = const(256)


class SnapshotError(ValueError):
    """A snapshot or package the till refuses or cannot read; the reason is the
    message. Defined here, the lowest of the snapshot modules, so that catalog
    lookups raise it too; till.formats.snapshot exports it."""


# What reading damaged files raises besides SnapshotError: a short or missing
# file (OSError), bytes that are not CBOR (cbor.CBORError), text that is not
# UTF-8 (UnicodeError) and hex that is not hex (binascii) -- all ValueErrors --,
# and a map without its key or a value of the wrong shape (KeyError, TypeError,
# IndexError). MemoryError is not damage and passes through.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError)


def damaged(path, what):
    """The SnapshotError for damaged files of the snapshot at path."""
    return SnapshotError("The HO data in %s is damaged (%s): sync the till with head "
                         "office to reinstall it" % (path, what))


def exc_text(exc):
    # An OSError's str() on MicroPython is its errno alone; name the class too.
    return "%s: %s" % (exc.__class__.__name__, exc)


def gtin_key(code):
    """The index key of a barcode: its digits as an integer, else None.

    As an integer a UPC-A (12 digits), its EAN-13 form with a leading 0 and its
    GTIN-14 form with 00 are the same key, which is how GS1 defines them to be
    the same product. Anything but 1..14 ASCII digits is no key (None)."""
    if isinstance(code, int) and not isinstance(code, bool):
        return code if 0 <= code < 10 ** MAX_GTIN_DIGITS else None
    if not isinstance(code, str) or not 0 < len(code) <= MAX_GTIN_DIGITS:
        return None
    for c in code:
        if c < "0" or c > "9":
            return None
    return int(code)


def encode_item(item):
    """CBOR bytes of the record for an item dict (keys as item_from_record gives)."""
    flags = 0
    if item.get("weighed"):
        flags |= _F_WEIGHED
    if item.get("open_price"):
        flags |= _F_OPEN_PRICE
    rec = [item["plu"], item["name"], item["price"], item["tax"], flags,
           item.get("min_age", 0), item.get("dept", 0)]
    while len(rec) > _MIN_FIELDS and rec[-1] == 0:
        rec.pop()
    return cbor.dumps(rec)


def record_error(rec):
    """What is wrong with a decoded record (a str), or None if it is well formed."""
    if type(rec) is not list or len(rec) < _MIN_FIELDS:
        return "an item record is an array of at least 4 fields"
    for i in (0, 2):
        if type(rec[i]) is not int or rec[i] < 0:
            return "item field %d is not a non-negative integer" % i
    if rec[0] > MAX_PLU:
        return "PLU %d is above %d" % (rec[0], MAX_PLU)
    if type(rec[1]) is not str or type(rec[3]) is not str:
        return "item name and tax class are text"
    for i in range(4, min(len(rec), 7)):
        if type(rec[i]) is not int or rec[i] < 0:
            return "item field %d is not a non-negative integer" % i
    return None


def item_from_record(rec):
    """The item dict the sale engine gets, from a decoded record.

    Fields after the seventh are ignored so that newer records still read."""
    n = len(rec)
    flags = rec[4] if n > 4 else 0
    return {
        "plu": rec[0],
        "name": rec[1],
        "price": rec[2],  # minor units; per kg when weighed
        "tax": rec[3],
        "weighed": bool(flags & _F_WEIGHED),
        "open_price": bool(flags & _F_OPEN_PRICE),
        "min_age": rec[5] if n > 5 else 0,
        "dept": rec[6] if n > 6 else 0,
    }


def next_or_none(it):
    """The next element of an iterator, or None at its end."""
    for x in it:
        return x
    return None


def file_size(path):
    return os.stat(path)[6]


def read_exact(f, mv):
    """Fill the memoryview mv from f; OSError if the file ends first."""
    n = len(mv)
    got = f.readinto(mv)
    while got < n:  # rare: the first read normally fills it, without a slice
        k = f.readinto(mv[got:])
        if not k:
            raise OSError("catalog file ends early (damaged snapshot)")
        got += k
    return n


def _uint(buf, p, q):
    # Big-endian integer from buf[p:q] without slicing: a lookup runs two dozen
    # of these and each slice would be a heap object on the till.
    n = 0
    while p < q:
        n = (n << 8) | buf[p]
        p += 1
    return n


class SortedIndex:
    """Fixed-width entries (key, value), big-endian, sorted by key, in a file.

    Raises OSError when the file cannot be read, SnapshotError when its entries
    are not in order or the file is not a whole number of entries."""

    def __init__(self, path, key_bytes, value_bytes):
        self._kb = key_bytes
        self._eb = key_bytes + value_bytes
        size = file_size(path)
        if size % self._eb:
            raise SnapshotError("%s is %d bytes, not a whole number of %d-byte entries"
                                % (path, size, self._eb))
        self.path = path
        self.count = size // self._eb
        self._f = open(path, "rb")
        self._per_window = _WINDOW_BYTES // self._eb
        self._buf = bytearray(self._per_window * self._eb)
        self._mv = memoryview(self._buf)
        self._probe = self._mv[:self._eb]

    def close(self):
        self._f.close()

    def _key(self, i):
        p = i * self._eb
        return _uint(self._buf, p, p + self._kb)

    def _value(self, i):
        p = i * self._eb
        return _uint(self._buf, p + self._kb, p + self._eb)

    def find(self, key):
        """The value stored under key, or None."""
        f = self._f
        eb = self._eb
        lo = 0
        hi = self.count
        # Keys of the entries just below lo and at hi (-1: none yet). In a sorted
        # file every probed key lies strictly between them; a key outside means
        # entries moved, and the search could otherwise end on a wrong entry.
        lo_key = hi_key = -1
        while hi - lo > self._per_window:
            mid = (lo + hi) >> 1
            f.seek(mid * eb)
            read_exact(f, self._probe)
            k = self._key(0)
            if k <= lo_key or (hi_key >= 0 and k >= hi_key):
                raise self._disorder(mid)
            if k < key:
                lo = mid + 1
                lo_key = k
            elif k > key:
                hi = mid
                hi_key = k
            else:
                return self._value(0)
        if hi <= lo:
            return None
        f.seek(lo * eb)
        read_exact(f, self._mv[:(hi - lo) * eb])
        a = 0
        b = hi - lo
        while a < b:
            mid = (a + b) >> 1
            k = self._key(mid)
            if k <= lo_key or (hi_key >= 0 and k >= hi_key):
                raise self._disorder(lo + mid)
            if k < key:
                a = mid + 1
                lo_key = k
            elif k > key:
                b = mid
                hi_key = k
            else:
                return self._value(mid)
        return None

    def _disorder(self, i):
        return SnapshotError("entry %d of %s is out of order" % (i, self.path))

    def entries(self):
        """Every (key, value) in order, read a window at a time."""
        f = self._f
        f.seek(0)
        left = self.count
        last = -1
        while left:
            n = min(left, self._per_window)
            read_exact(f, self._mv[:n * self._eb])
            for i in range(n):
                k = self._key(i)
                if k <= last:
                    raise self._disorder(self.count - left + i)
                last = k
                yield k, self._value(i)
            left -= n


class Catalog:
    """Items of one snapshot directory, found by PLU or barcode on flash.

    Holds three open files and about 800 bytes of buffers; call close(). Every
    method raises SnapshotError (and only that) when the files are damaged."""

    def __init__(self, path):
        self.path = path
        self._plu = self._gtin = self._items = None
        try:
            self._plu = SortedIndex(path + "/" + PLU_INDEX_FILE, PLU_BYTES, OFFSET_BYTES)
            self._gtin = SortedIndex(path + "/" + GTIN_INDEX_FILE, GTIN_BYTES, PLU_BYTES)
            self._items_bytes = file_size(path + "/" + ITEMS_FILE)
            self._items = open(path + "/" + ITEMS_FILE, "rb")
        except SnapshotError as exc:
            self.close()
            raise damaged(path, str(exc))
        except READ_ERRORS as exc:
            self.close()
            raise damaged(path, "a catalog file cannot be read: " + exc_text(exc))
        if self._plu.count and not self._items_bytes:
            self.close()
            raise damaged(path, "the item file is empty")
        self._rec = bytearray(MAX_RECORD_BYTES)
        self._rec_mv = memoryview(self._rec)

    def scratch(self):
        """The record buffer (a memoryview) for a caller's own reads between
        lookups, such as hashing the files at open."""
        return self._rec_mv

    def __len__(self):
        return self._plu.count

    @property
    def barcode_count(self):
        return self._gtin.count

    def close(self):
        for f in (self._plu, self._gtin, self._items):
            if f is not None:
                f.close()

    def by_plu(self, plu):
        """The item dict for a PLU, or None if the catalog has no such item."""
        if type(plu) is not int or not 0 <= plu <= MAX_PLU:
            return None
        try:
            return self._by_plu(plu)
        except SnapshotError as exc:
            raise damaged(self.path, str(exc))
        except READ_ERRORS as exc:
            raise damaged(self.path, "PLU %d: %s" % (plu, exc_text(exc)))

    def _by_plu(self, plu):
        off = self._plu.find(plu)
        if off is None:
            return None
        rec = self._record_at(off)
        err = record_error(rec)
        if err is not None:
            raise SnapshotError("the record of PLU %d at byte %d: %s" % (plu, off, err))
        if rec[0] != plu:
            # A moved or changed index entry: selling this would sell another item.
            raise SnapshotError("the index entry of PLU %d leads to the record of PLU %d"
                                % (plu, rec[0]))
        return item_from_record(rec)

    def by_barcode(self, code):
        """The item dict for a barcode (a string of digits), or None if unknown."""
        key = gtin_key(code)
        if key is None:
            return None
        try:
            plu = self._gtin.find(key)
        except SnapshotError as exc:
            raise damaged(self.path, str(exc))
        except READ_ERRORS as exc:
            raise damaged(self.path, "barcode %d: %s" % (key, exc_text(exc)))
        if plu is None:
            return None
        item = self.by_plu(plu)
        if item is None:
            # HO's builder only indexes barcodes of items it lists.
            raise damaged(self.path, "barcode %d names PLU %d, which the catalog does not have"
                          % (key, plu))
        return item

    def _record_at(self, off):
        n = min(MAX_RECORD_BYTES, self._items_bytes - off)
        if n <= 0:
            raise SnapshotError("an index entry points past the item file (byte %d of %d)"
                                % (off, self._items_bytes))
        self._items.seek(off)
        read_exact(self._items, self._rec_mv[:n])
        try:
            rec, _ = cbor.decode_from(self._rec_mv, 0, n)
        except cbor.CBORError as exc:
            raise SnapshotError("item record at byte %d: %s" % (off, exc))
        return rec

    def records(self):
        """(plu, raw record bytes as a memoryview) in PLU order, read sequentially.

        The memoryview is only valid until the next step of the iteration."""
        try:
            for x in self._records():
                yield x
        except SnapshotError as exc:
            raise damaged(self.path, str(exc))
        except READ_ERRORS as exc:
            raise damaged(self.path, "reading the items: " + exc_text(exc))

    def _records(self):
        f = self._items
        f.seek(0)
        prev = None
        for plu, off in self._plu.entries():
            if prev is None:
                if off != 0:
                    raise SnapshotError("the first record starts at byte %d, not 0" % off)
            else:
                yield prev[0], self._read_seq(f, off - prev[1])
            prev = (plu, off)
        if prev is not None:
            yield prev[0], self._read_seq(f, self._items_bytes - prev[1])

    def _read_seq(self, f, n):
        if not 0 < n <= MAX_RECORD_BYTES:
            raise SnapshotError("an item record of %d bytes" % n)
        mv = self._rec_mv[:n]
        read_exact(f, mv)
        return mv

    def items(self):
        """Every item dict in PLU order (for reports; reads the whole file)."""
        for plu, raw in self.records():
            try:
                rec = cbor.decode_from(raw, 0, len(raw))[0]
            except cbor.CBORError as exc:
                raise damaged(self.path, "the record of PLU %d: %s" % (plu, exc))
            err = record_error(rec)
            if err is None and rec[0] != plu:
                err = "the index names PLU %d, the record PLU %d" % (plu, rec[0])
            if err is not None:
                raise damaged(self.path, "the record of PLU %d: %s" % (plu, err))
            yield item_from_record(rec)

    def barcodes(self):
        """(gtin as int, plu) in barcode order."""
        try:
            for x in self._gtin.entries():
                yield x
        except SnapshotError as exc:
            raise damaged(self.path, str(exc))
        except READ_ERRORS as exc:
            raise damaged(self.path, "reading the barcodes: " + exc_text(exc))
