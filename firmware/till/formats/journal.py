# The till's system of record: an append-only, hash-chained journal on flash.
#
# Every sale (and every other fact HO must know) is a record in a segment file.
# A segment is an RFC 8742 CBOR sequence: one header item, then records. Records
# are deterministic CBOR maps with small integer keys (see docs/journal.cddl):
#
#   {1: seq, 2: time, 3: kind, 4: body, ?5: flags, 6: tag}
#
# tag = HMAC-SHA256(till secret, previous tag || canonical record without key 6),
# cut to 16 bytes. The first record chains to the till id. A segment header
# carries the first sequence number and the previous tag, so the chain can be
# checked from the oldest segment still on flash after older ones were deleted.
#
# Durability: append() returns only when the record is on flash. On littlefs
# that is one write and one flush (lfs_file_sync commits data and size at once);
# on CPython flush + os.fsync, and a directory fsync after creating or renaming.
#
# Recovery on open: a torn final record (power cut inside append) is cut off.
# Anything else (bad tag, gap, garbage, a missing segment) is a problem with its
# position; the journal then refuses appends until a person acknowledges the
# problems, which is itself a record (KIND_ACK) naming them.
#
# HO's processed mark does not delete: processed segments stay as a ring for
# refunds and copies of earlier receipts, and go oldest first only when free
# flash is under the low-water mark (free_processed). They count as room, so
# they never cost a sale.
#
# Boot verifies from the checkpoint (journal_checkpoint.py), written at every
# segment roll: only the segments after it are re-read, so boot time no longer
# grows with the journal. A checkpoint that is missing, damaged, forged or stale
# means a full scan, and the journal says so (notices, status()["recovery"]).
import os

from till.formats import cbor
from till.formats.durable import free_bytes as _free_bytes
from till.formats.durable import replace_file, sync_dir as _fsync_dir, sync_file as _sync_file
from till.formats.crypto import HmacKey

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


FORMAT_VERSION = const(1)
TAG_BYTES = const(16)

# Record map keys.
K_SEQ = const(1)
K_TIME = const(2)
K_KIND = const(3)
K_BODY = const(4)
K_FLAGS = const(5)
K_TAG = const(6)
# Segment header map keys (distinct from record keys so the two never mix).
H_FORMAT = const(20)
H_TILL = const(21)
H_FIRST = const(22)
H_PREV = const(23)

# Record kinds.
KIND_SALE = const(1)
KIND_STORNO = const(2)
KIND_NO_SALE = const(3)
KIND_CLOSING = const(4)
KIND_CONFIG = const(5)
KIND_EVENT = const(6)
KIND_ACK = const(7)
KIND_CASH = const(8)  # cash put into or taken out of the drawer outside a sale
KIND_NAMES = {
    KIND_SALE: "sale",
    KIND_STORNO: "storno",
    KIND_NO_SALE: "no-sale",
    KIND_CLOSING: "closing",
    KIND_CONFIG: "config",
    KIND_EVENT: "event",
    KIND_ACK: "ack",
    KIND_CASH: "cash",
}
# Kinds refused first when the flash fills: they are what a cashier can postpone.
_SALES_KINDS = (KIND_SALE, KIND_STORNO, KIND_NO_SALE, KIND_CASH)

# Record flags.
FLAG_CLOCK_NOT_SET = const(1)
FLAG_TRAINING = const(2)

SEGMENT_PREFIX = "seg"
SEGMENT_SUFFIX = ".cbs"
_ACKED_FILE = "processed"
_MAX_RECORD_BYTES = const(8192)
MAX_RECORD_BYTES = _MAX_RECORD_BYTES  # for readers beside the journal (the link's cursor)

# Space levels reported by status()["space"].
SPACE_OK = "ok"
SPACE_LOW = "low"
SPACE_FULL = "full"


class JournalError(Exception):
    pass


class JournalBroken(JournalError):
    """Damage was found and no person has acknowledged it yet."""


class JournalFull(JournalError):
    """Too little flash left to take this record without risking older ones."""


def segment_name(first_seq):
    return "%s%010d%s" % (SEGMENT_PREFIX, first_seq, SEGMENT_SUFFIX)


def _segment_first_seq(name):
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)):
        return None
    digits = name[len(SEGMENT_PREFIX):-len(SEGMENT_SUFFIX)]
    if len(digits) != 10 or not digits.isdigit():
        return None
    return int(digits)


def record_signing_bytes(record):
    """The canonical bytes the tag covers: the record without its tag."""
    unsigned = {}
    for k in record:
        if k != K_TAG:
            unsigned[k] = record[k]
    return cbor.dumps(unsigned)


def chain_anchor(till_id):
    """What the first record chains to: the till id's UTF-8 bytes."""
    return till_id.encode()


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _record_shape_error(rec):
    """Return why rec is not a well-formed record, or None."""
    if not isinstance(rec, dict):
        return "not a record map"
    for k in rec:
        if k not in (K_SEQ, K_TIME, K_KIND, K_BODY, K_FLAGS, K_TAG):
            return "unknown record field %r" % (k,)
    for k in (K_SEQ, K_TIME, K_KIND, K_BODY, K_TAG):
        if k not in rec:
            return "record field %d missing" % k
    if not _is_int(rec[K_SEQ]) or rec[K_SEQ] < 1:
        return "bad sequence number"
    if not _is_int(rec[K_TIME]) or rec[K_TIME] < 0:
        return "bad time"
    if not _is_int(rec[K_KIND]) or rec[K_KIND] < 1:
        return "bad kind"
    if K_FLAGS in rec and (not _is_int(rec[K_FLAGS]) or rec[K_FLAGS] < 0):
        return "bad flags"
    tag = rec[K_TAG]
    if not isinstance(tag, bytes) or len(tag) != TAG_BYTES:
        return "bad tag field"
    return None


def _header_shape_error(h):
    if not isinstance(h, dict) or H_FIRST not in h or H_PREV not in h:
        return "segment header missing"
    if h.get(H_FORMAT) != FORMAT_VERSION:
        return "unknown journal format %r" % (h.get(H_FORMAT),)
    if not _is_int(h[H_FIRST]) or h[H_FIRST] < 1 or not isinstance(h[H_PREV], bytes):
        return "bad segment header"
    return None


class _RemoveSegment(Exception):
    pass


class Problem:
    """One piece of damage found in the journal, with where it is."""

    def __init__(self, segment, offset, seq, what):
        self.segment = segment
        self.offset = offset
        self.seq = seq
        self.what = what

    def key(self):
        # Stable identity, stored in the acknowledgement record.
        return "%s@%d:%s" % (self.segment, self.offset, self.what)

    def __str__(self):
        where = "%s at byte %d" % (self.segment, self.offset)
        if self.seq is not None:
            return "record %d (%s): %s" % (self.seq, where, self.what)
        return "%s: %s" % (where, self.what)


def _checkpoints():
    # Imported when a journal first recovers, not with this module: what only
    # needs the journal's constants (the sale engine's records and reports, host
    # tools) does not carry its code in the till's heap. It works on the
    # Journal's state, as a part of this class kept in another file.
    from till.formats import journal_checkpoint

    return journal_checkpoint


class Journal:
    """Open (and recover) the journal in directory `path`.

    key: the till's secret (bytes). clock: callable returning Unix seconds, or
    None while the till's clock has never been set. segment_bytes: roll over to
    a new segment file beyond this size (see docs/benchmarks.md for the choice).
    low_free_bytes / full_free_bytes: free flash below which status() warns, and
    below which sales are refused (closings, events and acks may still use the
    remaining reserve so a day can be closed). Segments HO has processed stay
    on flash for refunds and copies, as a ring: they count as room, and go,
    oldest first, only when free flash is below low_free_bytes (at open, at
    HO's processed mark and before an append). full_scan: verify every record
    on flash, not only those after the checkpoint.
    """

    def __init__(self, path, till_id, key, clock=None, segment_bytes=16384,
                 low_free_bytes=262144, full_free_bytes=24576, encode_buffer=None,
                 full_scan=False):
        self.path = path
        self.till_id = till_id
        self._key = HmacKey(key)
        self._clock = clock
        self.segment_bytes = segment_bytes
        self.low_free_bytes = low_free_bytes
        self.full_free_bytes = full_free_bytes
        self.problems = []
        self.notices = []
        self._acknowledged = set()
        self._file = None
        self._segments = []  # first seqs of segment files, ascending
        # Records are encoded into one buffer for the journal's life (see
        # cbor.dumps_into); main.py reserves it before the heap fragments.
        self._enc = encode_buffer if encode_buffer is not None else bytearray()
        self._needs_recover = False  # a failed write could not be recovered for want of heap
        self._full_scan = full_scan
        self._ckpt = None  # (seq, tag) of the checkpoint on flash, once verified or written
        self.recovery = ""  # how the last recovery verified the journal, in words
        self.verified_records = 0  # records whose tag the last recovery checked
        self._ensure_dir()
        self.processed_seq = self._read_processed()
        self._recover()
        self._free = _free_bytes(path)
        self.freeable = 0  # bytes of processed segments kept while there is room
        self._counted = 0  # the oldest segments whose sizes freeable holds
        self.free_processed()

    # ---- opening -----------------------------------------------------------

    def _ensure_dir(self):
        try:
            os.stat(self.path)
        except OSError:
            os.mkdir(self.path)

    def _p(self, name):
        return self.path + "/" + name

    def _read_processed(self):
        try:
            with open(self._p(_ACKED_FILE), "rb") as f:
                value = cbor.loads(f.read())
        except OSError:
            return 0
        except cbor.CBORError:
            # Written by tmp+rename, so this is damage, not a torn write. Treat
            # nothing as processed: HO drops duplicates, but never misses a sale.
            self.notices.append("processed mark unreadable; every record will be offered again")
            return 0
        return value if _is_int(value) and value >= 0 else 0

    def _list_segments(self):
        firsts = []
        for name in os.listdir(self.path):
            first = _segment_first_seq(name)
            if first is not None:
                firsts.append(first)
            elif name.endswith(".tmp"):
                # A replacement never renamed into place: the original stands.
                os.remove(self._p(name))
        firsts.sort()
        return firsts

    def _recover(self):
        """Verify the chain from the checkpoint (or from the start), cut a torn
        tail, list damage."""
        self._segments = self._list_segments()
        self.last_seq = 0
        self.last_tag = chain_anchor(self.till_id)
        self._active_size = 0
        self._active_ok = False
        self.verified_records = 0
        expected = None
        i = None if self._full_scan else _checkpoints().resume(self)
        if i is None:
            i = 0
            self._ckpt = None
        else:
            expected = self.last_seq + 1
        checked_from = i
        boundary = None  # (first seq, seq and tag before it) of the segment scanned last
        count = len(self._segments)
        while i < count:
            first = self._segments[i]
            is_last = i == count - 1
            name = segment_name(first)
            boundary = (first, expected - 1 if expected else None, self.last_tag)
            result = self._scan_segment(name, first, expected, is_last)
            if result is None:  # an empty last segment was removed
                self._segments.pop(i)
                count -= 1
                boundary = None
                continue
            expected, end_ok, size = result
            if is_last:
                self._active_ok = end_ok
                self._active_size = size
            i += 1
        if expected is None and self.processed_seq:
            # The active segment is never deleted, so no segment at all after
            # records were processed means files were removed behind our back.
            self._problem(None, 0, None, "no journal segments on flash, though records up"
                          " to %d were processed" % self.processed_seq)
            self.last_seq = self.processed_seq
        elif self.last_seq < self.processed_seq:
            self._problem(None, 0, None,
                          "records up to %d were processed but only %d are on flash"
                          % (self.processed_seq, self.last_seq))
        _checkpoints().settle(self, count - checked_from, boundary)

    def _problem(self, segment, offset, seq, what):
        self.problems.append(Problem(segment or "(journal)", offset, seq, what))

    def _scan_segment(self, name, first, expected, is_last):
        """Verify one segment. Returns (next expected seq, usable for appends,
        size), or None when an empty or header-torn last segment was removed."""
        f = open(self._p(name), "rb")
        try:
            return self._scan_open_segment(f, name, first, expected, is_last)
        except _RemoveSegment as exc:
            f.close()  # littlefs must not remove a file that is still open
            os.remove(self._p(name))
            _fsync_dir(self.path)
            self.notices.append(str(exc))
            return None
        finally:
            f.close()

    def _scan_open_segment(self, f, name, first, expected, is_last):
        header = None
        prev = None  # None: the previous tag is unknown (after damage)
        base = 0
        end = 0
        clean = True
        while True:
            f.seek(base)
            reader = cbor.SequenceReader(f, max_item_bytes=_MAX_RECORD_BYTES)
            try:
                for offset, item, size in reader:
                    offset += base
                    end = offset + size
                    if header is None and offset == 0:
                        header = item
                        expected, prev = self._check_header(name, first, item, expected)
                        continue
                    prev, expected = self._check_record(name, offset, item, prev, expected)
                if header is None:  # not even a header: created, never written
                    if is_last:
                        raise _RemoveSegment("removed empty segment %s" % name)
                    self._problem(name, 0, None, "segment is empty")
                    return expected, False, 0
                return expected, clean, end
            except cbor.CBORError as exc:
                at = base + getattr(exc, "offset", 0)
                resume = self._find_record(f, at + 1)
                torn = isinstance(exc, cbor.CBORTruncated) and resume is None
                if torn and is_last and at == 0:
                    raise _RemoveSegment("removed segment %s with a torn header" % name)
                if torn and is_last:
                    f.close()
                    self._cut_tail(name, at)
                    self.notices.append("cut a torn record at %s byte %d" % (name, at))
                    return expected, clean, at
                if resume is None:
                    self._problem(name, at, None, "unreadable data to the end of the segment")
                    return expected, False, at
                self._problem(name, at, None, "unreadable bytes %d to %d" % (at, resume))
                if header is None and at == 0:
                    header = {}  # the header itself is gone; records carry on
                clean = False
                prev = None
                base = resume

    def _check_header(self, name, first, header, expected):
        """Check a segment header; returns (expected seq, previous tag)."""
        why = _header_shape_error(header)
        if why is None and header[H_FIRST] != first:
            why = "header says first record %d, file name says %d" % (header[H_FIRST], first)
        if why is None and header.get(H_TILL) != self.till_id:
            why = "segment belongs to till %r" % (header.get(H_TILL),)
        if why is not None:
            self._problem(name, 0, None, why)
            return expected, None
        if expected is None:
            if first > self.processed_seq + 1:
                self._problem(name, 0, None, "records %d to %d are missing"
                              % (self.processed_seq + 1, first - 1))
        elif first > expected:
            self._problem(name, 0, None, "records %d to %d are missing" % (expected, first - 1))
        elif first < expected:
            self._problem(name, 0, None, "segment repeats records from %d" % first)
        elif header[H_PREV] != self.last_tag:
            self._problem(name, 0, None, "segment does not chain to the one before")
        # Resynchronise on the header so one bad spot does not condemn every
        # later record.
        return first, header[H_PREV]

    def _find_record(self, f, start):
        """Offset of the next well-formed record at or after `start`, or None.

        Tells a torn tail (nothing whole after it) from damage in the middle
        (whole records follow), and lets the scan carry on after damage. Reads
        small chunks and decodes each candidate with a SequenceReader, so it
        needs no large contiguous buffer even on a fragmented heap.
        """
        chunk = bytearray(256)
        pos = start
        while True:
            f.seek(pos)
            n = f.readinto(chunk)
            if not n:
                return None
            for i in range(n):
                # Records are maps of 5 or 6 pairs starting with key 1 (seq).
                if chunk[i] not in (0xA5, 0xA6):
                    continue
                at = pos + i
                if self._record_at(f, at):
                    return at
                f.seek(pos + n)  # _record_at moved the file: restore for the loop
            pos += n

    def _record_at(self, f, at):
        f.seek(at)
        reader = cbor.SequenceReader(f, max_item_bytes=_MAX_RECORD_BYTES, chunk_bytes=64)
        try:
            for _, item, _ in reader:
                return _record_shape_error(item) is None
        except cbor.CBORError:
            return False
        return False

    def _check_record(self, name, offset, rec, prev, expected):
        why = _record_shape_error(rec)
        if why is not None:
            self._problem(name, offset, None, why)
            return prev, expected
        seq = rec[K_SEQ]
        if expected is None:
            expected = seq
        if seq != expected:
            if seq > expected:
                self._problem(name, offset, seq, "records %d to %d are missing" % (expected, seq - 1))
            else:
                self._problem(name, offset, seq, "sequence goes back (expected %d)" % expected)
        tag = rec[K_TAG]
        self.verified_records += 1
        if prev is None:
            # First record after damaged bytes: its link cannot be checked, but
            # the damage is already a problem someone must acknowledge.
            pass
        elif self._key.digest(prev, record_signing_bytes(rec))[:TAG_BYTES] != tag:
            self._problem(name, offset, seq, "chain tag does not verify")
        elif rec[K_KIND] == KIND_ACK:
            body = rec[K_BODY]
            if isinstance(body, dict) and isinstance(body.get(1), list):
                for k in body[1]:
                    self._acknowledged.add(k)
        if seq > self.last_seq:
            self.last_seq = seq
        self.last_tag = tag
        return tag, seq + 1

    def _cut_tail(self, name, at):
        full = self._p(name)
        if hasattr(os, "truncate"):
            os.truncate(full, at)
            fd = os.open(full, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return
        # MicroPython files have no truncate: copy the good prefix beside it and
        # rename over (atomic on littlefs).
        tmp = full + ".tmp"
        buf = bytearray(512)
        left = at
        with open(full, "rb") as src, open(tmp, "wb") as dst:
            while left > 0:
                n = src.readinto(buf)
                if not n:
                    break
                n = min(n, left)
                dst.write(buf[:n] if n < len(buf) else buf)
                left -= n
        os.rename(tmp, full)

    # ---- state -------------------------------------------------------------

    def unacknowledged(self):
        return [p for p in self.problems if p.key() not in self._acknowledged]

    @property
    def broken(self):
        return bool(self.unacknowledged())

    def space_level(self):
        # Processed segments are room: append frees them before it would
        # refuse, so they never make the cashier wait for a sync.
        free = self._free + self.freeable
        if free < self.full_free_bytes:
            return SPACE_FULL
        if free < self.low_free_bytes:
            return SPACE_LOW
        return SPACE_OK

    def status(self):
        return {
            "last_seq": self.last_seq,
            "processed_seq": self.processed_seq,
            "unprocessed": self.last_seq - self.processed_seq,
            "free_bytes": self._free,
            "freeable": self.freeable,  # processed segments kept: room too
            "space": self.space_level(),
            "problems": [str(p) for p in self.unacknowledged()],
            "segments": len(self._segments),
            "recovery": self.recovery,
        }

    # ---- appending ---------------------------------------------------------

    def append(self, kind, body, flags=0):
        """Append one record; return its sequence number once it is durable."""
        if kind != KIND_ACK and self.broken:
            raise JournalBroken(
                "Journal damaged (%s). Call the manager to acknowledge before selling."
                % self.unacknowledged()[0])
        if self._free < self.low_free_bytes and self.freeable:
            # The ring turns: the oldest processed segments make the room
            # (checkpoint first, as at a processed mark).
            self.free_processed()
        if kind in _SALES_KINDS and self._free < self.full_free_bytes:
            raise JournalFull(
                "Till memory full: %d records wait for head office. Sync the till, then sell."
                % (self.last_seq - self.processed_seq))
        if self._needs_recover:
            # A failed write whose recovery ran out of heap: learn what is on
            # flash before the next sequence number is given.
            if not self._recover_after_failure(None):
                raise MemoryError("journal: no heap to recover after a failed write")
        now = self._clock() if self._clock else None
        if now is None:
            now = 0
            flags |= FLAG_CLOCK_NOT_SET
        seq = self.last_seq + 1
        rec = {K_SEQ: seq, K_TIME: int(now), K_KIND: kind, K_BODY: body}
        if flags:
            rec[K_FLAGS] = flags
        tag = self._key.digest(self.last_tag, cbor.dumps_into(self._enc, rec))[:TAG_BYTES]
        rec[K_TAG] = tag
        data = cbor.dumps_into(self._enc, rec)
        if len(data) > _MAX_RECORD_BYTES:
            raise JournalError("record of %d bytes is over the %d-byte limit"
                               % (len(data), _MAX_RECORD_BYTES))
        self._write(seq, tag, data)
        self.last_seq = seq
        self.last_tag = tag
        return seq

    def _write(self, seq, tag, data):
        new_segment = (not self._segments or not self._active_ok
                       or (self._active_size > 0
                           and self._active_size + len(data) > self.segment_bytes))
        # A new segment after a wholly processed one makes that one freeable.
        sealed = self._active_size if new_segment and seq - 1 <= self.processed_seq else 0
        try:
            if new_segment:
                self._close_file()
                header = cbor.dumps({H_FORMAT: FORMAT_VERSION, H_TILL: self.till_id,
                                     H_FIRST: seq, H_PREV: self.last_tag})
                name = segment_name(seq)
                for first in [x for x in self._segments if x >= seq]:
                    # A damaged segment named at or past the new one: keep it
                    # for inspection, never overwrite or append after it.
                    old = self._p(segment_name(first))
                    os.rename(old, old + ".damaged")
                    self._segments.remove(first)
                if self._segments and not self._needs_recover and not self.broken:
                    # Before the new segment exists, vouch for every one on
                    # flash: all verified at boot or written since. Never over
                    # damage not yet acknowledged: it would hide it.
                    _checkpoints().vouch(self, self.last_seq, self.last_tag, 0,
                                         len(self._segments))
                # Listed before the file exists: growing the list may need
                # memory, and once the record is durable nothing may fail.
                self._segments.append(seq)
                self._file = open(self._p(name), "wb")
                # Header and first record before one flush: littlefs commits a
                # file's data only there, so a segment never exists without its
                # first record. Two writes, not header + data: no copy of the
                # record in a heap that may have no block that big.
                self._file.write(header)
                self._file.write(data)
                _sync_file(self._file)
                _fsync_dir(self.path)
                self._active_ok = True
                self._active_size = len(header) + len(data)
                self._free -= len(header) + len(data)
            else:
                if self._file is None:
                    self._file = open(self._p(segment_name(self._segments[-1])), "ab")
                self._file.write(data)
                _sync_file(self._file)
                self._active_size += len(data)
                self._free -= len(data)
        except (OSError, MemoryError) as exc:
            # The write failed part way (ENOSPC, an I/O error, the heap out
            # inside open, write or sync): part or all of the record may be in
            # the file. What is on flash decides, as at a boot: recovery cuts a
            # torn record, and finds a whole one, which is then this append's.
            self._unwrite(seq, new_segment)
            if not self._recover_after_failure(exc) or self.last_seq != seq \
                    or self.last_tag != tag:
                raise
            self._sync_active()
            return
        # Durable from here. Nothing below may raise: the caller would think
        # the record unsaved, and its retry would journal the sale twice.
        if sealed:
            self.freeable += sealed
            self._counted += 1
        try:
            self._refresh_free()
        except MemoryError:
            pass  # the estimate above stands until the next refresh

    def _recover_after_failure(self, exc):
        """Recover from flash after a failed write; False if that too failed
        for want of heap (then the next append recovers first)."""
        try:
            self.problems = []
            self._recover()
            self._refresh_free()
        except MemoryError:
            self._needs_recover = True
            return False
        self._needs_recover = False
        return True

    def _sync_active(self):
        # A record found whole after a failed sync: make it durable now.
        with open(self._p(segment_name(self._segments[-1])), "ab") as f:
            _sync_file(f)

    def _unwrite(self, seq, new_segment):
        # After a failed write: forget the file, and the segment if it was
        # this record's own (recovery finds what is on flash).
        self._close_file()
        if new_segment and self._segments and self._segments[-1] == seq:
            self._segments.pop()
        self._active_ok = False

    def _refresh_free(self):
        self._free = _free_bytes(self.path)

    def _close_file(self):
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def close(self):
        self._close_file()

    def acknowledge(self, who, note=""):
        """A person accepts the damage found; recorded, then sales may go on."""
        problems = self.unacknowledged()
        if not problems:
            return None
        seq = self.append(KIND_ACK, {1: [p.key() for p in problems], 2: who, 3: note,
                                     4: [str(p) for p in problems]})
        for p in problems:
            self._acknowledged.add(p.key())
        return seq

    # ---- sync --------------------------------------------------------------

    def _first_segment_for(self, seq):
        start = 0
        for i in range(len(self._segments)):
            if self._segments[i] <= seq:
                start = i
        return start

    def record(self, seq):
        """The decoded record `seq`, or None if it is not on flash (a reprint,
        a refund's original). Read through the encode buffer, which is idle
        between appends: after a long run the heap may have no block for a
        reader's own, and a reprint must still work."""
        if seq < 1 or seq > self.last_seq:
            return None
        for first in self._segments[self._first_segment_for(seq):]:
            if first > seq:
                return None
            with open(self._p(segment_name(first)), "rb") as f:
                reader = cbor.SequenceReader(f, max_item_bytes=_MAX_RECORD_BYTES,
                                             buffer=self._enc)
                header = True
                try:
                    for _, rec, _ in reader:
                        if header:  # a segment starts with its header
                            header = False
                        elif isinstance(rec, dict) and rec.get(K_SEQ) == seq:
                            return rec
                except cbor.CBORError:
                    pass  # damage is recovery's to report; the record is not readable
        return None

    def records_after(self, seq, limit=None):
        """Yield (seq, raw record bytes) for records after `seq`, oldest first."""
        start = self._first_segment_for(seq + 1)
        sent = 0
        for first in self._segments[start:]:
            with open(self._p(segment_name(first)), "rb") as f:
                reader = cbor.SequenceReader(f, max_item_bytes=_MAX_RECORD_BYTES)
                header_seen = False
                try:
                    for _, rec, _ in reader:
                        if not header_seen:
                            header_seen = True
                            continue
                        if not isinstance(rec, dict):
                            continue
                        s = rec.get(K_SEQ)
                        if _is_int(s) and s > seq:
                            yield s, reader.last_raw()
                            sent += 1
                            if limit is not None and sent >= limit:
                                return
                except cbor.CBORError:
                    # Damage is reported by recovery; sync sends what is readable.
                    pass

    def mark_processed(self, seq):
        """HO has processed every record up to `seq`: its whole segments become
        freeable, and go now only if free flash is below the low-water mark.
        Returns how many went."""
        if seq > self.last_seq:
            raise JournalError("HO acknowledged record %d but the last record is %d"
                               % (seq, self.last_seq))
        if seq <= self.processed_seq:
            return 0
        replace_file(self.path, _ACKED_FILE, cbor.dumps(seq))
        self.processed_seq = seq
        return self.free_processed()

    def free_processed(self, need=0):
        """Remove the oldest processed segments while free flash is under
        the low-water mark (or `need` bytes, for a package the link takes);
        returns how many went."""
        # A segment is freeable when the next one starts at or before
        # processed+1, i.e. all of its records are processed; the active one
        # always stays. The oldest go while free flash is under the low-water
        # mark; the rest are counted as freeable. Sizes from the directory
        # undercount what littlefs frees (whole blocks), so this errs towards
        # removing one more, never towards too little room. Sizes already
        # counted are not read again: a till keeping a ring of many segments
        # reads at each sync only those it newly processed.
        segs = self._segments
        n = 0
        while n < len(segs) - 1 and segs[n + 1] - 1 <= self.processed_seq:
            n += 1
        self._refresh_free()  # a package, say, may have taken flash since
        room = self._free
        count = 0
        while count < n and (room < self.low_free_bytes or room < need):
            size = os.stat(self._p(segment_name(segs[count])))[6]
            room += size
            if count < self._counted:
                self.freeable -= size
            count += 1
        for i in range(max(count, self._counted), n):
            self.freeable += os.stat(self._p(segment_name(segs[i])))[6]
        self._counted = n - count
        if not self._counted:
            self.freeable = 0
        n = count
        if not n:
            return 0
        if self._ckpt is not None:
            # The checkpoint first, for what remains: a power cut before the
            # removals leaves segments it no longer covers, and the next boot
            # finishes removing them (they are processed).
            _checkpoints().shrink(self, n)
        for _ in range(n):
            os.remove(self._p(segment_name(segs[0])))
            segs.pop(0)
        _fsync_dir(self.path)
        self._refresh_free()
        return n
