# micropython-heap: 16M
# Power cuts while the journal's checkpoint is written: at every segment roll,
# at every removal of processed segments (checkpoint first, then the files), and
# when a boot that found no checkpoint writes one after its full scan.
#
# As tests/device/test_powercut.py does, a scripted day runs once on an emulated
# Pico flash chip (littlefs v2, 4096-byte blocks, 256-byte pages) recording every
# erase and program; here only the operations made while a checkpoint is
# written or processed segments are removed are cut (after each one, and half-way
# through each page program). After every cut the journal must open with no
# problem and without refusing its checkpoint (the old or the new one is whole),
# hold every append that returned, agree with a full scan, and continue the
# sequence. The extra heap holds the emulated chip: test equipment.
import flashsim
import support
from till.formats import journal as J
from till.formats import journal_checkpoint as JC
from test_powercut import KEY, TILL, assert_records, body, kind_of

MOUNT = "/ckcut"
BLOCKS = 40
SEGMENT_BYTES = 2048  # about 15 sales a segment: a roll every few appends
APPENDS = 240
# After append N, HO acknowledges up to M (frees segments).
MARKS = {40: 20, 75: 60, 120: 100, 160: 150, 200: 199, 230: 230}
REBOOT_AT = 55  # the checkpoint is lost here, and the next boot writes a new one


def open_journal(**kw):
    return J.Journal(MOUNT + "/journal", TILL, KEY, clock=lambda: 1795000000 + 7,
                     segment_bytes=SEGMENT_BYTES, **kw)


# A journal that keeps processed segments while the chip has room: its
# low-water mark is this far below the empty chip's free flash, so the day
# (about 30 KB of records) fills that room and appends reuse processed segments.
RING_BYTES = 40 * 1024


class Script:
    """The day, run once on a fresh chip; records which flash operations wrote
    the checkpoint or removed segments."""

    def __init__(self, ring_bytes=None):
        self.ring = ring_bytes
        self.low = 262144  # over the chip's size: processed segments go at once
        self.returns = []  # (flash ops when append returned, seq)
        self.marks = []  # (flash ops when mark_processed returned, processed seq)
        self.spans = []  # (first op, last op) of each checkpoint write / removal
        self.kinds = {}

    def run(self):
        import os
        import vfs

        flash = flashsim.Flash(BLOCKS)
        vfs.VfsLfs2.mkfs(flash, progsize=flashsim.PROG_BYTES)
        self.image0 = bytes(flash.data)
        flash.record()
        flashsim.mount(flash, MOUNT)
        if self.ring is not None:
            self.low = J._free_bytes(MOUNT) - self.ring
        real_save, real_drop = JC.vouch, J.Journal.free_processed
        spans, kinds = self.spans, self.kinds
        depth = [0]  # a removal rewrites the checkpoint inside its own span
        where = [" at an append"]  # or at a processed mark

        def watch(kind, fn):
            def wrapped(*args):
                start = len(flash.log)
                depth[0] += 1
                try:
                    result = fn(*args)
                finally:
                    depth[0] -= 1
                if len(flash.log) > start:
                    name = kind + where[0] if kind == "removal" else kind
                    kinds[name] = kinds.get(name, 0) + 1
                    if not depth[0]:
                        spans.append((start, len(flash.log)))
                return result
            return wrapped

        JC.vouch = watch("checkpoint", real_save)
        J.Journal.free_processed = watch("removal", real_drop)
        try:
            j = open_journal(low_free_bytes=self.low)
            for i in range(1, APPENDS + 1):
                assert j.append(kind_of(i), body(i)) == i
                self.returns.append((len(flash.log), i))
                if i in MARKS:
                    where[0] = " at a mark"
                    j.mark_processed(MARKS[i])
                    where[0] = " at an append"
                    self.marks.append((len(flash.log), MARKS[i]))
                if i == REBOOT_AT:
                    j.close()
                    os.remove(MOUNT + "/journal/" + JC.FILE)
                    j = open_journal(low_free_bytes=self.low)
                    assert j.notices == ["no journal checkpoint: verifying every record"]
            j.close()
        finally:
            JC.vouch, J.Journal.free_processed = real_save, real_drop
            flashsim.umount(MOUNT)
        self.ops = flash.log
        # A checkpoint at every roll, two more in the removals, one at the reboot.
        removals = kinds.get("removal at a mark", 0) + kinds.get("removal at an append", 0)
        assert kinds.get("checkpoint", 0) >= APPENDS * 120 // SEGMENT_BYTES + removals \
            and removals >= len(MARKS) // 2, kinds

    def check(self, image, n):
        durable = 0
        for ops, seq in self.returns:
            if ops <= n:
                durable = seq
        processed = 0
        for ops, seq in self.marks:
            if ops <= n:
                processed = seq
        may_be = [processed] + [seq for ops, seq in self.marks if ops > n][:1]
        where = "cut after flash op %d (last durable record %d)" % (n, durable)
        flash = flashsim.Flash(BLOCKS, image=image)
        flashsim.mount(flash, MOUNT)
        try:
            j = open_journal(low_free_bytes=self.low)
            assert j.problems == [], "%s: %s" % (where, [str(p) for p in j.problems])
            assert not [x for x in j.notices if "not used" in x], "%s: %s" % (where, j.notices)
            assert durable <= j.last_seq <= durable + 1, "%s: last_seq %d" % (where, j.last_seq)
            assert j.processed_seq in may_be, "%s: processed %d" % (where, j.processed_seq)
            assert_records(j, where)
            last = (j.last_seq, j.last_tag)
            j.close()
            full = open_journal(full_scan=True, low_free_bytes=self.low)
            assert full.problems == [] and (full.last_seq, full.last_tag) == last, where
            full.close()
            j = open_journal(low_free_bytes=self.low)
            nxt = j.append(J.KIND_SALE, body(last[0] + 1))
            assert nxt == last[0] + 1, where
            j.close()
            j = open_journal(low_free_bytes=self.low)
            assert j.problems == [] and j.last_seq == nxt, where
            j.close()
        finally:
            flashsim.umount(MOUNT)


def test_power_cut_while_the_checkpoint_is_written():
    cut_everywhere(Script())  # no room to keep: every removal at HO's mark


def test_power_cut_while_an_append_reuses_processed_segments():
    s = Script(RING_BYTES)
    cut_everywhere(s)
    assert s.kinds.get("removal at an append", 0) >= 1, s.kinds


def cut_everywhere(s):
    if not flashsim.available():
        support.skip("littlefs (os.VfsLfs2) exists only under MicroPython")
    s.run()
    image = bytearray(s.image0)
    work = bytearray(len(image))  # reused: a fresh chip per cut fragments the heap
    applied = 0
    cuts = torn = erases = 0
    for start, end in s.spans:
        while applied < start:
            flashsim.replay(image, s.ops[applied])
            applied += 1
        work[:] = image
        s.check(work, applied)  # just before the write began
        cuts += 1
        while applied < end:
            op = s.ops[applied]
            erases += not flashsim.is_program(op)
            if flashsim.is_program(op) and len(op[2]) > 16:
                work[:] = image
                flashsim.replay(work, op, partial=len(op[2]) // 2)
                s.check(work, applied)
                torn += 1
            flashsim.replay(image, op)
            applied += 1
            work[:] = image
            s.check(work, applied)
            cuts += 1
    in_spans = sum(end - start for start, end in s.spans)
    print("checkpoint power cuts: %d writes/removals (%r), %d flash operations in them"
          " (%d erases), %d clean cuts, %d torn programs"
          % (len(s.spans), s.kinds, in_spans, erases, cuts, torn))
    # Every operation inside a span was cut after, plus once before each span;
    # littlefs compacted its metadata (an erase) inside at least one of them.
    assert cuts == in_spans + len(s.spans) and in_spans >= 2 * len(s.spans)
    assert torn > 0 and erases > 0
