# The journal's boot checkpoint: a small file in which the till vouches, with its
# key, that the segment files it names were verified up to record `seq`, whose tag
# is `tag`. Boot then verifies only the segments after it (at most the open one)
# instead of every record on flash (a full Pico journal is 10,944 HMACs, tens of
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
#
# The functions taking `j` are part of journal.Journal, kept here so that the
# journal loads this code only when it opens (see journal._checkpoints).
import hashlib
import os

from till.formats import cbor
from till.formats.crypto import equal
from till.formats.durable import replace_file, sync_dir
from till.formats.journal import segment_name

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


FILE = "checkpoint"
# Keeps a checkpoint's MAC from ever equalling a record's tag: a record's HMAC
# input starts with a 16-byte tag or the till id, never with this.
_DOMAIN = b"kassa journal checkpoint\x00"
_MAX_BYTES = const(512)
# The checkpoint's map keys; 7 is the MAC, over the others.
_K_SEQ = const(3)
_K_TAG = const(4)
_K_OLDEST = const(5)
_K_COUNT = const(6)
_K_MAC = const(7)


def mac(key, fields, segments):
    """MAC of the checkpoint's fields (keys 1-6) and of `segments`, which
    yields the (first seq, size in bytes) of each covered segment, oldest first."""
    h = hashlib.sha256()
    for first, size in segments:
        h.update(b"%d:%d;" % (first, size))
    return key.digest(_DOMAIN, cbor.dumps(fields), h.digest())


def save(directory, key, till_id, seq, tag, oldest, count, segments):
    """Write the checkpoint for record (seq, tag) covering the `count`
    segments that `segments` yields (see mac)."""
    fields = {1: 1, 2: till_id, _K_SEQ: seq, _K_TAG: tag, _K_OLDEST: oldest, _K_COUNT: count}
    fields[_K_MAC] = mac(key, fields, segments)
    replace_file(directory, FILE, cbor.dumps(fields))


def load(directory, till_id, key, firsts, processed_seq, sizes):
    """Check the checkpoint against the segments on flash (`firsts`, ascending
    first seqs; sizes(lo, hi) yields (first, size) of firsts[lo:hi]).
    Returns None when there is none, else (seq, tag, drop, end): firsts[:drop]
    are processed segments whose removal a power cut interrupted (the
    checkpoint was rewritten for their removal first), firsts[drop:end] the
    covered ones, firsts[end:] must still be verified. Raises ValueError
    with the reason it cannot be trusted."""
    try:
        with open(directory + "/" + FILE, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
    except OSError:
        return None
    try:
        m = cbor.loads(data)
        till, seq, tag, oldest, count, claimed = (m[2], m[_K_SEQ], m[_K_TAG], m[_K_OLDEST],
                                                  m[_K_COUNT], m[_K_MAC])
        ok = (len(data) <= _MAX_BYTES and len(m) == 7 and m[1] == 1
              and type(seq) is int and type(oldest) is int and type(count) is int
              and 1 <= oldest <= seq + 1 and count >= 0
              and type(tag) is bytes and len(tag) == 16 and type(claimed) is bytes)
    except (ValueError, TypeError, KeyError, IndexError):
        # Whatever a damaged file makes the decoder raise (CBORError is a
        # ValueError) is one refusal.
        ok = False
    if not ok:
        raise ValueError("checkpoint file is unreadable")
    if till != till_id:
        raise ValueError("checkpoint belongs to till %r" % (till,))
    n = len(firsts)
    drop = 0
    while drop < n and firsts[drop] < oldest:
        # The journal frees a segment only when the next one starts at or
        # before processed + 1; any other segment before the checkpoint
        # is not one it was freeing.
        if drop + 1 >= n or firsts[drop + 1] - 1 > processed_seq:
            raise ValueError("stale checkpoint: segment %d before it is not all processed"
                             % firsts[drop])
        drop += 1
    end = drop
    while end < n and firsts[end] <= seq:
        end += 1
    if end - drop != count or drop == n:
        raise ValueError("stale checkpoint: it covers %d segments, %d are on flash"
                         % (count, end - drop))
    if firsts[drop] - 1 > processed_seq:
        # What the full scan reports as missing records: let it.
        raise ValueError("stale checkpoint: records %d to %d are not on flash"
                         % (processed_seq + 1, firsts[drop] - 1))
    if end < n and firsts[end] != seq + 1:
        raise ValueError("stale checkpoint: it ends at record %d, the next segment"
                         " starts at %d" % (seq, firsts[end]))
    del m[_K_MAC]
    if not equal(mac(key, m, sizes(drop, end)), claimed):
        raise ValueError("checkpoint does not verify: damaged, edited, or its segments"
                         " changed")
    return seq, tag, drop, end


def _sizes(j, lo, hi):
    # One at a time: the MAC never needs a list of them.
    for i in range(lo, hi):
        first = j._segments[i]
        yield first, os.stat(j._p(segment_name(first)))[6]


def resume(j):
    """Take j's chain from the checkpoint: returns the index in j._segments of
    the first segment still to verify, or None (full scan), noting why."""
    segs = j._segments
    try:
        got = load(j.path, j.till_id, j._key, segs, j.processed_seq,
                   lambda lo, hi: _sizes(j, lo, hi))
        if got is None and len(segs) > 1:
            # Written before checkpoints, or one was lost: say why this boot is slow.
            got = "no journal checkpoint"
    except (ValueError, OSError) as exc:
        # OSError: a segment vanished between listing and stat; the full scan
        # reports it.
        got = "journal checkpoint not used (%s)" % exc
    if got is None or isinstance(got, str):
        if got and got + ": verifying every record" not in j.notices:
            # Recovery runs again after a failed write: say it once.
            j.notices.append(got + ": verifying every record")
        return None
    seq, tag, drop, end = got
    if drop:
        # Processed segments whose removal a power cut interrupted: the
        # checkpoint, rewritten before they were removed, says they go.
        for _ in range(drop):
            os.remove(j._p(segment_name(segs.pop(0))))
        sync_dir(j.path)
        end -= drop
    j._ckpt = (seq, tag)
    j.last_seq = seq
    j.last_tag = tag
    if end == len(segs):
        # The power failed between the checkpoint and the first record of the
        # next segment: the covered one stays sealed.
        j._active_size = os.stat(j._p(segment_name(segs[-1])))[6]
    return end


def settle(j, read, boundary):
    """After j's recovery read `read` segments; boundary: (first seq, the seq
    and tag before it) of the last segment read, or None."""
    count = len(j._segments)
    if j._ckpt is not None:
        j.recovery = "verified from the checkpoint at record %d: %d of %d segments read" \
            % (j._ckpt[0], read, count)
        return
    j.recovery = "full scan: %d segments read" % count
    if j.broken:
        # Damage found (full_scan=True, say) where a checkpoint may still vouch
        # for it: without one the next boot finds it again.
        forget(j)
    elif boundary is not None and count > 1 and boundary[0] == j._segments[-1] \
            and boundary[1] == boundary[0] - 1:
        # Vouch for the sealed segments so the next boot is fast again: the
        # chain ran straight into the open segment.
        vouch(j, boundary[1], boundary[2], 0, count - 1)


def vouch(j, seq, tag, lo, hi):
    """Write the checkpoint for j._segments[lo:hi], which end with record (seq,
    tag). Only a shortcut: failing to write one never fails the operation under
    way, and the one it leaves is not trusted but removed (the next boot does a
    full scan and writes a new one)."""
    segs = j._segments
    try:
        save(j.path, j._key, j.till_id, seq, tag, segs[lo] if lo < len(segs) else seq + 1,
             hi - lo, _sizes(j, lo, hi))
        j._ckpt = (seq, tag)
    except (OSError, MemoryError):
        forget(j)


def forget(j):
    j._ckpt = None
    try:
        os.remove(j._p(FILE))
    except OSError:
        pass  # not there: nothing vouches for anything, which is the aim


def shrink(j, n):
    """Before j removes its first n segments (all processed): the checkpoint
    for what remains of it."""
    segs = j._segments
    seq, tag = j._ckpt
    end = n
    while end < len(segs) and segs[end] <= seq:
        end += 1
    if end == n and segs[n] != seq + 1:
        forget(j)  # nothing left that its tag anchors
    else:
        vouch(j, seq, tag, n, end)
