# The sales journal on both interpreters: append, reopen, sync reads, processed
# marks, torn tails (cut at every byte), bit flips (always reported), gaps,
# acknowledgement, and a full flash.
import os

import support
from till.formats import cbor
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"


def sale_body(n):
    """A realistic 3-line sale as the sale engine writes it."""
    return {
        1: n,  # receipt number
        2: 3,  # cashier id
        3: [
            [4006381333931, 1000, 249, 249, 1],
            [20012345, 1000, 1299, 1299, 2],
            [7310865004703, 2000, 115, 230, 1],
        ],
        4: 1778,  # total
        5: [[1, 2000, 222]],  # cash tendered 20.00, change 2.22
        6: {1: [1, 479, 31], 2: [2, 1299, 85]},
    }


def open_journal(path, **kw):
    return J.Journal(path, TILL, KEY, clock=lambda: 1795000000, **kw)

TIGHT = support.TIGHT


def fill(path, count, **kw):
    j = open_journal(path, **kw)
    seqs = [j.append(J.KIND_SALE, sale_body(i)) for i in range(1, count + 1)]
    j.close()
    return seqs


def segment_files(path):
    return sorted(n for n in os.listdir(path) if n.endswith(J.SEGMENT_SUFFIX))


def record_offsets(path, name):
    """(offset, size) of every record (not the header) in a segment file."""
    with open(path + "/" + name, "rb") as f:
        items = [(o, s) for o, _, s in cbor.SequenceReader(f)]
    return items[1:]


def test_append_returns_gap_free_sequence_and_reopen_verifies():
    d = support.tmpdir()
    assert fill(d, 5) == [1, 2, 3, 4, 5]
    j = open_journal(d)
    assert j.problems == [] and not j.broken
    assert j.last_seq == 5
    assert j.append(J.KIND_EVENT, {1: "test"}) == 6
    got = [(s, cbor.loads(raw)) for s, raw in j.records_after(0)]
    assert [s for s, _ in got] == [1, 2, 3, 4, 5, 6]
    assert got[0][1][J.K_BODY] == sale_body(1)
    assert got[5][1][J.K_KIND] == J.KIND_EVENT
    j.close()


def test_first_record_chains_to_till_id_and_each_to_the_one_before():
    d = support.tmpdir()
    fill(d, 3)
    j = open_journal(d)
    prev = J.chain_anchor(TILL)
    from till.formats.crypto import HmacKey

    key = HmacKey(KEY)
    for _, raw in j.records_after(0):
        rec = cbor.loads(raw)
        assert len(rec[J.K_TAG]) == J.TAG_BYTES
        assert key.digest(prev, J.record_signing_bytes(rec))[:J.TAG_BYTES] == rec[J.K_TAG]
        assert cbor.dumps(rec) == bytes(raw)  # stored canonically
        prev = rec[J.K_TAG]
    j.close()


def test_segments_roll_over_and_records_after_spans_them():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=1024)
    assert len(segment_files(d)) > 3
    j = open_journal(d, segment_bytes=1024)
    assert not j.problems
    assert [s for s, _ in j.records_after(17)] == list(range(18, 41))
    assert [s for s, _ in j.records_after(17, limit=5)] == [18, 19, 20, 21, 22]
    assert list(j.records_after(40)) == []
    j.close()


def test_record_finds_any_record_on_flash_through_the_encode_buffer():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=1024)
    buf = bytearray(8192)
    j = open_journal(d, segment_bytes=1024, encode_buffer=buf)
    for seq in (1, 17, 18, 40):  # first, segment ends and starts, last
        rec = j.record(seq)
        assert rec[J.K_SEQ] == seq and rec[J.K_BODY][1] == seq
    assert j.record(0) is None and j.record(41) is None
    first_of_second = int(segment_files(d)[1][3:13])
    j.mark_processed(first_of_second - 1)  # processed, kept while the flash has room
    assert j.record(1)[J.K_SEQ] == 1 and j.status()["freeable"] > 0
    j.close()
    j = open_journal(d, segment_bytes=1024, encode_buffer=buf, low_free_bytes=TIGHT)
    # No room: the boot frees the processed segment, and its records are gone.
    assert j.record(1) is None and j.record(first_of_second)[J.K_SEQ] == first_of_second
    assert j.status()["freeable"] == 0 and j.problems == []
    j.close()


def test_mark_processed_frees_whole_segments_only():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=1024)
    before = segment_files(d)
    j = open_journal(d, segment_bytes=1024, low_free_bytes=TIGHT)
    second_first = int(before[1][3:13])
    j.mark_processed(second_first - 2)  # first segment not wholly processed
    assert segment_files(d) == before
    j.mark_processed(second_first - 1)
    assert segment_files(d) == before[1:]
    j.mark_processed(40)  # the active segment always stays
    assert segment_files(d) == before[-1:]
    assert j.status()["unprocessed"] == 0
    support.raises(J.JournalError, j.mark_processed, 41)
    j.close()
    j = open_journal(d, segment_bytes=1024)
    assert j.problems == [] and j.processed_seq == 40 and j.last_seq == 40
    assert j.append(J.KIND_SALE, sale_body(41)) == 41
    assert [s for s, _ in j.records_after(40)] == [41]
    j.close()


def test_torn_tail_at_every_byte_is_cut_silently():
    d = support.tmpdir()
    fill(d, 6)
    name = segment_files(d)[-1]
    full = support.read_file(d + "/" + name)
    last_off, last_size = record_offsets(d, name)[-1]
    for cut in range(last_off, last_off + last_size):
        support.write_file(d + "/" + name, full[:cut])
        j = open_journal(d)
        assert j.problems == [], (cut, [str(p) for p in j.problems])
        assert j.last_seq == 5, cut
        assert j.append(J.KIND_SALE, sale_body(6)) == 6
        j.close()
        j = open_journal(d)
        assert j.problems == [] and j.last_seq == 6
        j.close()


def test_bit_flips_in_earlier_records_are_always_reported():
    d = support.tmpdir()
    fill(d, 4)
    name = segment_files(d)[-1]
    path = d + "/" + name
    full = support.read_file(path)
    last_off = record_offsets(d, name)[-1][0]
    flips = 0
    for pos in range(last_off):  # the header and every record before the last
        damaged = bytearray(full)
        damaged[pos] ^= 1 << (pos % 8)
        support.write_file(path, damaged)
        j = open_journal(d)
        assert j.broken, "flip at byte %d passed as valid" % pos
        assert support.raises(J.JournalBroken, j.append, J.KIND_SALE, sale_body(9))
        j.close()
        flips += 1
    assert flips == last_off
    support.write_file(path, full)


def test_damage_needs_acknowledgement_which_is_a_record():
    d = support.tmpdir()
    fill(d, 5)
    name = segment_files(d)[-1]
    path = d + "/" + name
    data = bytearray(support.read_file(path))
    off, size = record_offsets(d, name)[1]  # record 2
    data[off + size // 2] ^= 0x10
    support.write_file(path, data)
    j = open_journal(d)
    assert j.broken
    assert [p.seq for p in j.unacknowledged()] == [2]
    err = support.raises(J.JournalBroken, j.append, J.KIND_SALE, sale_body(6))
    assert "record 2" in str(err) and "manager" in str(err)
    ack_seq = j.acknowledge("manager 1", "bit flip after power surge")
    assert ack_seq == 6 and not j.broken
    assert j.append(J.KIND_SALE, sale_body(7)) == 7
    j.close()
    j = open_journal(d)  # the acknowledgement survives a restart
    assert not j.broken and len(j.problems) == 1 and j.last_seq == 7
    ack = cbor.loads(list(j.records_after(5, limit=1))[0][1])
    assert ack[J.K_KIND] == J.KIND_ACK and ack[J.K_BODY][2] == "manager 1"
    j.close()


def test_garbage_in_the_middle_is_reported_and_later_records_still_read():
    d = support.tmpdir()
    fill(d, 6)
    name = segment_files(d)[-1]
    path = d + "/" + name
    data = support.read_file(path)
    off, size = record_offsets(d, name)[2]  # record 3 replaced by junk
    junk = b"\xff" * size
    support.write_file(path, data[:off] + junk + data[off + size:])
    j = open_journal(d)
    assert j.broken
    assert any("unreadable" in str(p) for p in j.problems)
    assert j.last_seq == 6  # records 4-6 were found again after the junk
    j.acknowledge("manager 1")
    # Appends go to a fresh segment, never after damaged bytes.
    assert j.append(J.KIND_SALE, sale_body(8)) == 8
    j.close()
    assert len(segment_files(d)) == 2
    j = open_journal(d)
    assert not j.broken and j.last_seq == 8
    j.close()


def test_missing_segment_is_a_gap():
    d = support.tmpdir()
    fill(d, 30, segment_bytes=1024)
    names = segment_files(d)
    os.remove(d + "/" + names[1])
    j = open_journal(d, segment_bytes=1024)
    assert j.broken
    assert "missing" in str(j.unacknowledged()[0])
    j.close()


def test_segment_of_another_till_is_reported():
    d = support.tmpdir()
    fill(d, 2)
    j = J.Journal(d, "store-12/till-8", KEY)
    assert j.broken and "belongs to till" in str(j.problems[0])
    j.close()


def test_wrong_key_fails_every_record():
    d = support.tmpdir()
    fill(d, 3)
    j = J.Journal(d, TILL, b"another key")
    assert len(j.problems) == 3
    j.close()


def test_clock_not_set_is_flagged():
    d = support.tmpdir()
    j = J.Journal(d, TILL, KEY, clock=lambda: None)
    j.append(J.KIND_SALE, sale_body(1), flags=J.FLAG_TRAINING)
    rec = cbor.loads(list(j.records_after(0))[0][1])
    assert rec[J.K_FLAGS] == J.FLAG_CLOCK_NOT_SET | J.FLAG_TRAINING
    assert rec[J.K_TIME] == 0
    j.close()


def test_empty_and_torn_header_segments_are_removed():
    d = support.tmpdir()
    fill(d, 2, segment_bytes=200)
    support.write_file(d + "/" + J.segment_name(3), b"")
    j = open_journal(d)
    assert not j.problems and j.last_seq == 2
    j.close()
    support.write_file(d + "/" + J.segment_name(3), b"\xa4\x14")
    j = open_journal(d)
    assert not j.problems and j.last_seq == 2
    assert j.append(J.KIND_SALE, sale_body(3)) == 3
    j.close()


def test_low_and_full_space_levels_refuse_sales_but_not_closings():
    d = support.tmpdir()
    j = open_journal(d)
    free = j.status()["free_bytes"]
    j.close()
    j = open_journal(d, low_free_bytes=free + 10 ** 6, full_free_bytes=free - 10 ** 6)
    assert j.status()["space"] == J.SPACE_LOW
    j.append(J.KIND_SALE, sale_body(1))
    j.close()
    j = open_journal(d, low_free_bytes=free + 10 ** 7, full_free_bytes=free + 10 ** 6)
    assert j.status()["space"] == J.SPACE_FULL
    err = support.raises(J.JournalFull, j.append, J.KIND_SALE, sale_body(2))
    assert "Sync the till" in str(err)
    assert j.append(J.KIND_CLOSING, {1: "Z"}) == 2  # a day can still be closed
    j.close()


def freeable_on_disk(d, processed):
    """Bytes of the segments all of whose records are processed (not the last)."""
    names = segment_files(d)
    return sum(os.stat(d + "/" + names[i])[6] for i in range(len(names) - 1)
               if int(names[i + 1][3:13]) - 1 <= processed)


def test_processed_segments_stay_as_a_ring_until_their_room_is_needed():
    d = support.tmpdir()
    cap = [1 << 30]
    real = J._free_bytes
    J._free_bytes = support.chip_free(cap)
    try:
        fill(d, 40, segment_bytes=1024)
        kw = {"segment_bytes": 1024, "low_free_bytes": 4096, "full_free_bytes": 1024}
        j = open_journal(d, **kw)
        before = segment_files(d)
        sizes = [os.stat(d + "/" + n)[6] for n in before]
        assert j.mark_processed(40) == 0  # room enough: all stay, freeable
        st = j.status()
        assert segment_files(d) == before and st["freeable"] == sum(sizes[:-1])
        assert st["space"] == J.SPACE_OK and j.record(1)[J.K_SEQ] == 1
        # The chip fills: 500 bytes over the low-water mark. Sales go on, the
        # ring frees the oldest processed segments first, and the till never
        # says it is low while they are room.
        cap[0] -= J._free_bytes(d) - 4096 - 500
        j.close()
        j = open_journal(d, **kw)
        seq = 40
        while seq < 60:
            seq = j.append(J.KIND_SALE, sale_body(seq + 1))
            kept = [n for n in segment_files(d) if n in before]
            assert kept == before[len(before) - len(kept):], kept  # the oldest go first
            assert j.status()["freeable"] == freeable_on_disk(d, 40)
            assert j.status()["space"] == J.SPACE_OK, (seq, j.status())
        assert segment_files(d)[0] != before[0]
        assert j.record(1) is None and j.status()["freeable"] < sum(sizes[:-1])
        # Records HO has not processed are never reused: once the processed
        # segments are gone, the till fills and refuses sales as before.
        while j.status()["freeable"] or j.status()["space"] != J.SPACE_FULL:
            seq = j.append(J.KIND_SALE, sale_body(seq + 1))
            assert j.status()["freeable"] == freeable_on_disk(d, 40)
        support.raises(J.JournalFull, j.append, J.KIND_SALE, sale_body(seq + 1))
        assert [s for s, _ in j.records_after(40)] == list(range(41, seq + 1))
        j.close()
    finally:
        J._free_bytes = real


def test_a_roll_after_a_wholly_processed_segment_makes_it_freeable():
    d = support.tmpdir()
    fill(d, 40, segment_bytes=1024)
    j = open_journal(d, segment_bytes=1024)
    j.mark_processed(40)  # the active segment too: it stays, being active
    before = segment_files(d)
    freeable = j.status()["freeable"]
    seq = 40
    while len(segment_files(d)) == len(before):
        seq = j.append(J.KIND_SALE, sale_body(seq + 1))
    assert j.status()["freeable"] == freeable + os.stat(d + "/" + before[-1])[6]
    assert j.status()["freeable"] == freeable_on_disk(d, 40)
    j.mark_processed(seq)  # counts only what it newly made freeable
    assert j.status()["freeable"] == freeable_on_disk(d, seq)
    j.close()
    j = open_journal(d, segment_bytes=1024)  # the boot counts the same
    assert j.status()["freeable"] == freeable_on_disk(d, seq)
    j.close()


def test_records_too_big_are_refused_before_writing():
    d = support.tmpdir()
    j = open_journal(d)
    support.raises(J.JournalError, j.append, J.KIND_EVENT, {1: "x" * 9000})
    assert j.last_seq == 0
    assert j.append(J.KIND_EVENT, {1: "ok"}) == 1
    j.close()


def test_out_of_memory_after_a_record_is_durable_still_counts_it_once():
    # The heap running out in the bookkeeping after the write (the free-space
    # query) must not make the caller retry a record that is already on
    # flash: the retry would journal the sale twice.
    d = support.tmpdir()
    j = open_journal(d, segment_bytes=1024)
    real = J._free_bytes

    def no_heap(path):
        raise MemoryError("memory allocation failed")

    try:
        J._free_bytes = no_heap
        seqs = [j.append(J.KIND_SALE, sale_body(i)) for i in range(1, 12)]  # rolls segments
    finally:
        J._free_bytes = real
    assert seqs == list(range(1, 12))
    j.close()
    j = open_journal(d, segment_bytes=1024)
    assert j.problems == [] and j.last_seq == 11
    assert [s for s, _ in j.records_after(0)] == seqs
    j.close()


def test_out_of_memory_inside_a_write_counts_the_record_once_whatever_reached_flash():
    # The heap running out inside the write: what is on flash decides. Bytes
    # written but not synced are found whole by the recovery and the append
    # succeeds; a failure before any byte is "not saved", and the retry
    # journals the record once.
    d = support.tmpdir()
    j = open_journal(d, segment_bytes=1024)
    for i in range(1, 4):
        j.append(J.KIND_SALE, sale_body(i))
    real_sync = J._sync_file
    calls = {"sync": 0, "open": 0}

    def sync_fails_once(f):
        calls["sync"] += 1
        if calls["sync"] == 1:
            raise MemoryError("memory allocation failed")
        real_sync(f)

    J._sync_file = sync_fails_once
    try:
        assert j.append(J.KIND_SALE, sale_body(4)) == 4  # the bytes reached the file
    finally:
        J._sync_file = real_sync

    def open_fails(*args):
        calls["open"] += 1
        raise MemoryError("memory allocation failed")

    j.segment_bytes = 1  # the next record starts a segment: open() first
    J.open = open_fails
    try:
        support.raises(MemoryError, j.append, J.KIND_SALE, sale_body(5))
    finally:
        del J.open
    assert j.append(J.KIND_SALE, sale_body(5)) == 5  # the cashier's retry
    j.close()
    j = open_journal(d, segment_bytes=1024)
    seqs = [s for s, _ in j.records_after(0)]
    assert seqs == [1, 2, 3, 4, 5] and j.problems == [] and calls["open"] >= 1, \
        (seqs, [str(p) for p in j.problems], calls)
    j.close()
