# The journal's boot checkpoint on both interpreters: boot verifies only the
# segments after it; a checkpoint that is missing, damaged, forged, of another
# till or stale is refused, the refusal is said (notices, status), and a full
# scan finds whatever the journal holds; processed marks and segment removal keep
# it true; what it no longer catches at boot, the full scan still does.
import os

import support
from till.formats import cbor
from till.formats import journal as J
from till.formats import journal_checkpoint as JC
from test_journal import KEY, TIGHT, TILL, fill, open_journal, record_offsets, sale_body, segment_files

SEG = 1024  # about 8 sales a segment: many segments from few records


def ckpt_path(d):
    return d + "/" + JC.FILE


def refused(j):
    return [n for n in j.notices if "checkpoint not used" in n]


def from_checkpoint(j):
    return j.recovery.startswith("verified from the checkpoint")


def records_in(d, name):
    return len(record_offsets(d, name))


def flip(d, name, index, at, mask):
    """Flip bits in record `index` of segment `name`, `at` bytes into it
    (from its end if negative); the segment keeps its size."""
    path = d + "/" + name
    data = bytearray(support.read_file(path))
    off, size = record_offsets(d, name)[index]
    data[off + (at if at >= 0 else size + at)] ^= mask
    support.write_file(path, data)


def assert_fast_boot(d):
    j = open_journal(d, segment_bytes=SEG)
    assert from_checkpoint(j) and j.notices == [], (j.recovery, j.notices)
    j.close()


def assert_full_scan_agrees(d, j):
    """The checkpointed boot saw what a full scan sees (on an undamaged journal)."""
    full = open_journal(d, segment_bytes=SEG, full_scan=True)
    assert full.problems == [] and full.last_seq == j.last_seq and full.last_tag == j.last_tag
    full.close()


def test_boot_verifies_only_the_segment_after_the_checkpoint():
    d = support.tmpdir()
    fill(d, 60, segment_bytes=SEG)
    names = segment_files(d)
    assert len(names) >= 6
    j = open_journal(d, segment_bytes=SEG)
    assert j.problems == [] and j.notices == [] and j.last_seq == 60
    assert from_checkpoint(j), j.recovery
    assert j.verified_records == records_in(d, names[-1])
    assert j.status()["recovery"] == j.recovery
    assert j.append(J.KIND_SALE, sale_body(61)) == 61
    assert [s for s, _ in j.records_after(0)] == list(range(1, 62))
    j.close()
    j = open_journal(d, segment_bytes=SEG, full_scan=True)
    assert j.verified_records == 61 and j.recovery.startswith("full scan")
    assert j.problems == [] and j.last_seq == 61
    j.close()


def test_every_bit_flip_or_cut_in_the_checkpoint_is_refused_said_and_repaired():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    good = support.read_file(ckpt_path(d))
    assert len(good) < 128  # stays inline in littlefs metadata
    for pos in range(len(good)):
        damaged = bytearray(good)
        damaged[pos] ^= 1 << (pos % 8)
        support.write_file(ckpt_path(d), damaged)
        j = open_journal(d, segment_bytes=SEG)
        assert len(refused(j)) == 1, "flip at byte %d: %r" % (pos, j.notices)
        assert j.recovery.startswith("full scan") and j.verified_records == 30, pos
        assert j.problems == [] and j.last_seq == 30, pos
        j.close()
        # The full scan vouched again: the same checkpoint, byte for byte.
        assert support.read_file(ckpt_path(d)) == good, pos
    for cut in range(len(good)):  # cut short, as no rename ever leaves it
        support.write_file(ckpt_path(d), good[:cut])
        j = open_journal(d, segment_bytes=SEG)
        assert len(refused(j)) == 1 and j.problems == [] and j.last_seq == 30, cut
        j.close()
    assert_fast_boot(d)


def test_forged_checkpoint_cannot_hide_damage():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    flip(d, segment_files(d)[0], 1, 40, 0x04)  # same size: only the tags can tell
    j = open_journal(d, segment_bytes=SEG, full_scan=True)
    expected = [str(p) for p in j.problems]
    assert expected and j.broken
    j.close()
    # Whoever edits the flash lacks the key: a checkpoint vouching for every
    # segment as it now is, MAC'd with any other key, is refused.
    from till.formats.crypto import HmacKey

    sizes = [(int(name[3:13]), os.stat(d + "/" + name)[6]) for name in segment_files(d)[:-1]]

    def forge(key, till, seq, tag):
        fields = {1: 1, 2: till, 3: seq, 4: tag, 5: 1, 6: len(sizes)}
        fields[7] = JC.mac(HmacKey(key), fields, sizes)
        support.write_file(ckpt_path(d), cbor.dumps(fields))

    last_sealed = segment_files(d)[-1]
    j = open_journal(d, segment_bytes=SEG)
    seq, tag = int(last_sealed[3:13]) - 1, b"\x00" * 16
    j.close()
    for key, till in ((b"not the till's key", TILL), (KEY, "store-12/till-8")):
        forge(key, till, seq, tag)
        j = open_journal(d, segment_bytes=SEG)
        assert len(refused(j)) == 1 and [str(p) for p in j.problems] == expected, j.notices
        assert j.broken
        j.close()


def test_a_sealed_segment_changed_in_size_or_removed_is_caught_at_boot():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=SEG)
    names = segment_files(d)
    victim = d + "/" + names[2]
    original = support.read_file(victim)
    off, _ = record_offsets(d, names[2])[-1]
    ckpt = support.read_file(ckpt_path(d))
    for changed in (original[:off], original + original[-20:]):
        support.write_file(victim, changed)
        j = open_journal(d, segment_bytes=SEG)
        assert len(refused(j)) == 1 and "does not verify" in refused(j)[0], j.notices
        assert j.broken, "a changed sealed segment passed"
        j.close()
        # The damage found, the checkpoint is removed: the next boot scans too.
        assert JC.FILE not in os.listdir(d)
        support.write_file(ckpt_path(d), ckpt)
    support.write_file(victim, original)
    os.remove(victim)
    j = open_journal(d, segment_bytes=SEG)
    assert len(refused(j)) == 1 and "stale" in refused(j)[0], j.notices
    assert j.broken and "missing" in str(j.problems[0])
    j.close()


def test_a_bit_flip_in_a_sealed_segment_is_left_to_the_full_scan():
    # What the checkpoint gives up (docs/journal.md): a flip that keeps a
    # sealed segment's size is not read at boot; the full scan (and HO's
    # verifier) still finds it.
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    flip(d, segment_files(d)[0], 0, -3, 0x01)  # inside record 1's tag
    j = open_journal(d, segment_bytes=SEG)
    assert from_checkpoint(j) and not j.broken
    j.close()
    j = open_journal(d, segment_bytes=SEG, full_scan=True)
    assert j.broken and j.problems[0].seq == 1 and "tag" in j.problems[0].what
    j.close()
    # Once found, never forgotten: the checkpoint that vouched for it is gone.
    j = open_journal(d, segment_bytes=SEG)
    assert j.notices == ["no journal checkpoint: verifying every record"]
    assert j.broken and j.problems[0].seq == 1
    j.close()


def test_an_older_checkpoint_is_still_true_and_a_stale_one_is_refused():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    old = support.read_file(ckpt_path(d))
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    for i in range(31, 61):
        j.append(J.KIND_SALE, sale_body(i))
    j.close()
    support.write_file(ckpt_path(d), old)  # from 30 records ago: a prefix, still true
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert from_checkpoint(j) and j.problems == [] and j.last_seq == 60
    assert j.verified_records > records_in(d, segment_files(d)[-1])
    # HO's mark frees the segments the old checkpoint names: it is stale now.
    j.mark_processed(int(segment_files(d)[2][3:13]) - 1)
    j.close()
    support.write_file(ckpt_path(d), old)
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert len(refused(j)) == 1 and "stale" in refused(j)[0], j.notices
    assert j.problems == [] and j.last_seq == 60
    j.close()
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)  # the full scan vouched again
    assert from_checkpoint(j) and j.notices == []
    assert_full_scan_agrees(d, j)
    j.close()


def test_processed_marks_keep_the_checkpoint_true_down_to_the_open_segment():
    d = support.tmpdir()
    fill(d, 60, segment_bytes=SEG)
    firsts = [int(n[3:13]) for n in segment_files(d)]
    for mark in (5, firsts[1] - 1, firsts[3], firsts[-1] - 1, 60):
        j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
        j.mark_processed(mark)
        j.close()
        j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
        assert from_checkpoint(j) and j.notices == [], (mark, j.recovery, j.notices)
        assert j.problems == [] and j.processed_seq == mark and j.last_seq == 60
        assert [s for s, _ in j.records_after(mark)] == list(range(mark + 1, 61))
        assert_full_scan_agrees(d, j)
        j.close()
    assert segment_files(d) == ["seg%010d.cbs" % firsts[-1]]
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    for i in range(61, 81):  # rolls again from a checkpoint that covered nothing
        assert j.append(J.KIND_SALE, sale_body(i)) == i
    j.close()
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert from_checkpoint(j) and j.problems == [] and j.last_seq == 80
    j.close()


def test_a_removal_cut_short_by_the_power_is_finished_at_boot():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=SEG)
    names = segment_files(d)
    kept = [(n, support.read_file(d + "/" + n)) for n in names[:3]]
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert j.mark_processed(int(names[3][3:13]) - 1) == 3
    j.close()
    for n, data in kept:  # as if the power failed after the checkpoint's rewrite
        support.write_file(d + "/" + n, data)
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert from_checkpoint(j) and j.problems == [] and j.notices == []
    assert segment_files(d) == names[3:]
    j.close()
    # The same files back, but the processed mark lost: they are not the
    # checkpoint's to remove, so the full scan decides (and finds them whole).
    for n, data in kept:
        support.write_file(d + "/" + n, data)
    os.remove(d + "/processed")
    j = open_journal(d, segment_bytes=SEG, low_free_bytes=TIGHT)
    assert len(refused(j)) == 1 and "not all processed" in refused(j)[0], j.notices
    assert j.problems == [] and j.last_seq == 40 and segment_files(d) == names
    j.close()


def test_no_checkpoint_when_damage_is_not_acknowledged():
    d = support.tmpdir()
    fill(d, 20, segment_bytes=SEG)
    name = segment_files(d)[-1]
    path = d + "/" + name
    data = bytearray(support.read_file(path))
    off, size = record_offsets(d, name)[0]
    data[off] = 0xFF  # unreadable: appends go on in a new segment, after the ack
    support.write_file(path, data)
    before = support.read_file(ckpt_path(d))
    j = open_journal(d, segment_bytes=SEG)
    assert j.broken and from_checkpoint(j)  # the damage is after the checkpoint
    segments = len(segment_files(d))
    j.acknowledge("manager 1", "junk at a record")
    assert len(segment_files(d)) == segments + 1  # a roll, and no checkpoint at it
    assert support.read_file(ckpt_path(d)) == before
    n = j.last_seq
    while len(segment_files(d)) < segments + 2:
        n += 1
        j.append(J.KIND_SALE, sale_body(n))
    assert support.read_file(ckpt_path(d)) != before  # vouches for the acknowledged damage
    j.close()
    j = open_journal(d, segment_bytes=SEG)
    assert from_checkpoint(j) and not j.broken and j.last_seq == n
    j.close()
    j = open_journal(d, segment_bytes=SEG, full_scan=True)
    assert not j.broken and j.problems  # still there, and acknowledged
    j.close()


def test_a_journal_without_checkpoint_is_scanned_once_then_vouched_for():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    os.remove(ckpt_path(d))  # as the firmware before checkpoints left it
    j = open_journal(d, segment_bytes=SEG)
    assert j.notices == ["no journal checkpoint: verifying every record"]
    assert j.recovery.startswith("full scan") and j.problems == []
    j.close()
    assert_fast_boot(d)


def test_a_checkpoint_that_cannot_be_written_never_fails_an_append():
    d = support.tmpdir()
    fill(d, 12, segment_bytes=SEG)
    real = JC.save
    for exc in (OSError(28, "no space"), MemoryError("memory allocation failed")):
        def fails(*args):
            raise exc

        JC.save = fails
        try:
            j = open_journal(d, segment_bytes=SEG)
            n = j.last_seq
            for i in range(n + 1, n + 20):  # rolls at least twice
                assert j.append(J.KIND_SALE, sale_body(i)) == i
            j.close()
        finally:
            JC.save = real
        assert JC.FILE not in os.listdir(d)  # one it could not replace is not trusted
        j = open_journal(d, segment_bytes=SEG)
        assert j.notices == ["no journal checkpoint: verifying every record"]
        assert j.problems == [] and j.last_seq == n + 19
        j.close()


def test_the_open_segment_must_chain_to_the_checkpoint():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=SEG)
    path = d + "/" + segment_files(d)[-1]
    data = support.read_file(path)
    with open(path, "rb") as f:
        _, header, size = next(iter(cbor.SequenceReader(f)))
    header[J.H_PREV] = bytes(16)  # same length: only the chain can tell
    support.write_file(path, cbor.dumps(header) + data[size:])
    j = open_journal(d, segment_bytes=SEG)
    assert from_checkpoint(j) and j.broken, j.recovery
    name = segment_files(d)[-1]
    # The header, and the first record, whose tag was made over the true tag.
    assert [str(p) for p in j.problems][0] == \
        "%s at byte 0: segment does not chain to the one before" % name
    assert [p.seq for p in j.problems[1:]] == [int(name[3:13])]
    j.close()
