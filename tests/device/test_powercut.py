# micropython-heap: 16M
# The heart of the journal's promise: cut the power after every single flash
# operation of a scripted day and check that nothing that was acknowledged is lost.
#
# Under MicroPython, littlefs v2 (os.VfsLfs2) runs on an emulated flash chip with
# the Pico's geometry (4096-byte blocks, 256-byte program pages). The script's
# erases and programs are recorded once; for every N from 1 to the total, the chip
# is rebuilt as it stood after operation N (a power cut: later operations never
# happened), remounted and recovered. Then every append that had returned must be
# there and verify, the chain must be intact, and the next append must continue
# the sequence. Programs are also cut half-way (a torn page).
#
# The extra heap (see the first line) holds the emulated chip: test equipment,
# not the till's RAM.
import os

import flashsim
import support
from till.formats import cbor
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"
MOUNT = "/pcut"
BLOCKS = 40  # 160 KiB of flash is plenty for the run; same block and page size
APPENDS = 210
PROCESSED_AT = 120  # after this append HO acknowledges ...
PROCESSED_SEQ = 80  # ... everything up to here, which frees a segment
SEGMENT_BYTES = 8192


def body(seq):
    return {
        1: seq,
        2: 3,
        3: [
            [4006381333931, 1000, 249, 249, 1],
            [20012345, 1000 + seq, 1299, 1299, 2],
            [7310865004703, 2000, 115, 230, 1],
        ],
        4: 1778 + seq,
        5: [[1, 2000, 222]],
        6: {1: [1, 479, 31], 2: [2, 1299, 85]},
    }


def kind_of(seq):
    return J.KIND_CLOSING if seq % 50 == 0 else J.KIND_SALE


def open_journal():
    return J.Journal(MOUNT + "/journal", TILL, KEY, clock=lambda: 1795000000 + 7,
                     segment_bytes=SEGMENT_BYTES)


def record_script():
    """Run the day once on a fresh chip; return (image0, ops, returns, processed_at)."""
    flash = flashsim.Flash(BLOCKS)
    import vfs

    vfs.VfsLfs2.mkfs(flash, progsize=flashsim.PROG_BYTES)
    image0 = bytes(flash.data)
    flash.record()
    flashsim.mount(flash, MOUNT)
    returns = []  # (number of flash ops when append returned, seq)
    processed_at = None
    try:
        j = open_journal()
        for i in range(1, APPENDS + 1):
            seq = j.append(kind_of(i), body(i))
            assert seq == i
            returns.append((len(flash.log), seq))
            if i == PROCESSED_AT:
                j.mark_processed(PROCESSED_SEQ)
                processed_at = len(flash.log)
        j.close()
    finally:
        flashsim.umount(MOUNT)
    return image0, flash.log, returns, processed_at


def assert_records(j, where):
    """Every record after the processed mark is there, in order, as written;
    returns the next sequence number."""
    expect = j.processed_seq + 1
    for seq, raw in j.records_after(j.processed_seq):
        assert seq == expect, "%s: record %d where %d was due" % (where, seq, expect)
        rec = cbor.loads(raw)
        assert rec[J.K_BODY] == body(seq) and rec[J.K_KIND] == kind_of(seq), where
        expect += 1
    assert expect == j.last_seq + 1, "%s: records end at %d" % (where, expect - 1)
    return expect


def check_cut(image, n, returns, processed_at):
    flash = flashsim.Flash(BLOCKS, image=image)
    flashsim.mount(flash, MOUNT)
    try:
        j = open_journal()
        durable = 0
        for ops, seq in returns:
            if ops <= n:
                durable = seq
        where = "cut after flash op %d (last durable record %d)" % (n, durable)
        assert j.problems == [], "%s: %s" % (where, [str(p) for p in j.problems])
        # The append under way at the cut may have landed or not; nothing else.
        assert durable <= j.last_seq <= durable + 1, "%s: last_seq %d" % (where, j.last_seq)
        if processed_at is not None and n >= processed_at:
            assert j.processed_seq == PROCESSED_SEQ, where
        else:
            assert j.processed_seq in (0, PROCESSED_SEQ), where
        expect = assert_records(j, where)
        nxt = j.append(J.KIND_SALE, body(j.last_seq + 1))
        assert nxt == j.last_seq and nxt == expect, where
        j.close()
    finally:
        flashsim.umount(MOUNT)


def test_power_cut_after_every_flash_operation():
    if not flashsim.available():
        support.skip("littlefs (os.VfsLfs2) exists only under MicroPython")
    image0, ops, returns, processed_at = record_script()
    image = bytearray(image0)
    work = bytearray(len(image))  # reused: a fresh 160 KiB per cut fragments the heap
    cuts = 0
    torn = 0
    for n in range(1, len(ops) + 1):
        op = ops[n - 1]
        if flashsim.is_program(op) and len(op[2]) > 16:
            # Power fails half-way through programming this page.
            work[:] = image
            flashsim.replay(work, op, partial=len(op[2]) // 2)
            check_cut(work, n - 1, returns, processed_at)
            torn += 1
        flashsim.replay(image, op)
        work[:] = image
        check_cut(work, n, returns, processed_at)
        cuts += 1
    print("power-cut sweep: %d appends, %d flash operations, %d clean cuts, %d torn programs"
          % (APPENDS, len(ops), cuts, torn))
    assert cuts == len(ops) and cuts > APPENDS
    os.listdir("/")  # still alive
