# The journal's boot checkpoint: a small file in which the till vouches, with its
# key, that the segment files it names were verified up to record `seq`, whose tag
# is `tag`. Boot then verifies only the segments after it (at most the open one)
# instead of every record on flash (a full Pico journal is 10,946 HMACs, tens of
# seconds on an RP2040). docs/journal.md says what this gives up and where the
# full check still happens.
#
#   {1: format, 2: till id, 3: seq, 4: tag, 5: oldest, 6: count, 7: mac}
#
# It covers the `count` segment files whose first record is in [oldest, seq], by
# first record and size, so a segment removed, added, cut short or grown no
# longer matches. mac = HMAC-SHA256(till key, domain || canonical map without 7
# || SHA-256 of "first:size;" for each covered segment): the sizes come from the
# directory when it is written and at boot, never from the file, so the file is
# about 90 bytes whatever the journal's length (inline in littlefs metadata: no
# block of its own) and checking it holds no list of segments in the heap.
#
# Written by tmp + rename (durable.replace_file; atomic on littlefs, fsynced on
# ext4): a power cut leaves the old checkpoint or the new one, never a mix. Both
# stay true: a checkpoint covers only sealed segments, which are never written
# again, and the rewrites after HO's processed marks only shrink what it covers.
import hashlib
import os

from till.formats import cbor
from till.formats.crypto import equal
from till.formats.durable import replace_file

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


FILE = "checkpoint"
_FORMAT = const(1)
# Keeps a checkpoint's MAC from ever equalling a record's tag: a record's HMAC
# input starts with a 16-byte tag or the till id, never with this.
_DOMAIN = b"kassa journal checkpoint\x00"
_MAX_FILE_BYTES = const(512)
_TAG_BYTES = const(16)
_MAC_BYTES = const(32)

C_FORMAT = const(1)
C_TILL = const(2)
C_SEQ = const(3)
C_TAG = const(4)
C_OLDEST = const(5)
C_COUNT = const(6)
C_MAC = const(7)


class Refused(Exception):
    """The checkpoint cannot be trusted for this journal; the reason, in words."""


class Checkpoint:
    def __init__(self, seq, tag, oldest, count, mac=None):
        self.seq = seq
        self.tag = tag
        self.oldest = oldest
        self.count = count
        self.mac = mac


def _fields(till_id, seq, tag, oldest, count):
    return {C_FORMAT: _FORMAT, C_TILL: till_id, C_SEQ: seq, C_TAG: tag,
            C_OLDEST: oldest, C_COUNT: count}


def _mac(key, fields, segments_digest):
    return key.digest(_DOMAIN, cbor.dumps(fields), segments_digest)


def _digest(segments):
    """(SHA-256 over the covered segments, how many there were); `segments`
    yields (first seq, size in bytes), oldest first."""
    h = hashlib.sha256()
    n = 0
    for first, size in segments:
        h.update(("%d:%d;" % (first, size)).encode())
        n += 1
    return h.digest(), n


def save(directory, key, till_id, seq, tag, oldest, segments):
    """Write the checkpoint for (seq, tag) covering `segments` (see _digest);
    returns the Checkpoint now on flash."""
    digest, count = _digest(segments)
    fields = _fields(till_id, seq, tag, oldest, count)
    fields[C_MAC] = _mac(key, fields, digest)
    replace_file(directory, FILE, cbor.dumps(fields))
    return Checkpoint(seq, tag, oldest, count)


def remove(directory):
    try:
        os.remove(directory + "/" + FILE)
    except OSError:
        pass  # not there: nothing vouches for anything, which is the aim


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def load(directory, till_id):
    """The checkpoint's fields, not yet authenticated (verify() does that against
    the segments on flash), or None when there is none. Raises Refused."""
    try:
        with open(directory + "/" + FILE, "rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > _MAX_FILE_BYTES:
        raise Refused("checkpoint file is %d bytes or more, too big to be one" % len(data))
    try:
        m = cbor.loads(data)
    except (cbor.CBORError, ValueError, TypeError, KeyError, IndexError):
        # Whatever a damaged file makes the decoder raise is one refusal.
        raise Refused("checkpoint file is unreadable")
    if not isinstance(m, dict) or len(m) != 7 or m.get(C_FORMAT) != _FORMAT:
        raise Refused("checkpoint file is not a checkpoint this firmware wrote")
    if m.get(C_TILL) != till_id:
        raise Refused("checkpoint belongs to till %r" % (m.get(C_TILL),))
    seq, tag, oldest, count, mac = (m.get(C_SEQ), m.get(C_TAG), m.get(C_OLDEST),
                                    m.get(C_COUNT), m.get(C_MAC))
    if not (_is_uint(seq) and _is_uint(oldest) and _is_uint(count) and seq >= 1
            and 1 <= oldest <= seq + 1 and isinstance(tag, bytes) and len(tag) == _TAG_BYTES
            and isinstance(mac, bytes) and len(mac) == _MAC_BYTES):
        raise Refused("checkpoint file has a field of the wrong type or range")
    return Checkpoint(seq, tag, oldest, count, mac)


def match(ck, firsts, processed_seq):
    """Where the checkpoint's segments lie among the segments on flash (`firsts`,
    ascending first seqs): returns (drop, end). firsts[:drop] are processed
    segments whose removal a power cut interrupted (the checkpoint was rewritten
    for their removal first), firsts[drop:end] are the covered ones, firsts[end:]
    must still be verified. Raises Refused when the checkpoint is stale."""
    n = len(firsts)
    drop = 0
    while drop < n and firsts[drop] < ck.oldest:
        # The journal frees a segment only when the next one starts at or
        # before processed + 1; any other segment before the checkpoint is not
        # one it was freeing.
        if drop + 1 >= n or firsts[drop + 1] - 1 > processed_seq:
            raise Refused("stale checkpoint: segment %d before it is not all processed"
                          % firsts[drop])
        drop += 1
    end = drop
    while end < n and firsts[end] <= ck.seq:
        end += 1
    if end - drop != ck.count:
        raise Refused("stale checkpoint: it covers %d segments, %d are on flash"
                      % (ck.count, end - drop))
    if drop == n:
        raise Refused("stale checkpoint: no segment on flash")
    if firsts[drop] - 1 > processed_seq:
        # What the full scan reports as missing records: let it.
        raise Refused("stale checkpoint: records %d to %d are not on flash"
                      % (processed_seq + 1, firsts[drop] - 1))
    if end < n and firsts[end] != ck.seq + 1:
        raise Refused("stale checkpoint: it ends at record %d, the next segment starts at %d"
                      % (ck.seq, firsts[end]))
    return drop, end


def verify(ck, key, till_id, segments):
    """Raise Refused unless the checkpoint's MAC verifies over `segments`, the
    (first seq, size) of the covered segments as they are on flash now."""
    digest, count = _digest(segments)
    if count != ck.count or not equal(
            _mac(key, _fields(till_id, ck.seq, ck.tag, ck.oldest, ck.count), digest), ck.mac):
        raise Refused("checkpoint does not verify: damaged, edited, or its segments changed")
