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


class Script:
    """The day, run once on a fresh chip; records which flash operations wrote
    the checkpoint or removed segments."""

    def __init__(self):
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
        real_save, real_drop = JC.vouch, J.Journal._drop_processed_segments
        spans, kinds = self.spans, self.kinds
        depth = [0]  # a removal rewrites the checkpoint inside its own span

        def watch(kind, fn):
            def wrapped(*args):
                start = len(flash.log)
                depth[0] += 1
                try:
                    result = fn(*args)
                finally:
                    depth[0] -= 1
                if len(flash.log) > start:
                    kinds[kind] = kinds.get(kind, 0) + 1
                    if not depth[0]:
                        spans.append((start, len(flash.log)))
                return result
            return wrapped

        JC.vouch = watch("checkpoint", real_save)
        J.Journal._drop_processed_segments = watch("removal", real_drop)
        try:
            j = open_journal()
            for i in range(1, APPENDS + 1):
                assert j.append(kind_of(i), body(i)) == i
                self.returns.append((len(flash.log), i))
                if i in MARKS:
                    j.mark_processed(MARKS[i])
                    self.marks.append((len(flash.log), MARKS[i]))
                if i == REBOOT_AT:
                    j.close()
                    os.remove(MOUNT + "/journal/" + JC.FILE)
                    j = open_journal()
                    assert j.notices == ["no journal checkpoint: verifying every record"]
            j.close()
        finally:
            JC.vouch, J.Journal._drop_processed_segments = real_save, real_drop
            flashsim.umount(MOUNT)
        self.ops = flash.log
        # A checkpoint at every roll, two more in the removals, one at the reboot.
        assert kinds.get("checkpoint", 0) >= APPENDS * 120 // SEGMENT_BYTES + len(MARKS) \
            and kinds.get("removal", 0) == len(MARKS), kinds

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
            j = open_journal()
            assert j.problems == [], "%s: %s" % (where, [str(p) for p in j.problems])
            assert not [x for x in j.notices if "not used" in x], "%s: %s" % (where, j.notices)
            assert durable <= j.last_seq <= durable + 1, "%s: last_seq %d" % (where, j.last_seq)
            assert j.processed_seq in may_be, "%s: processed %d" % (where, j.processed_seq)
            assert_records(j, where)
            last = (j.last_seq, j.last_tag)
            j.close()
            full = open_journal(full_scan=True)
            assert full.problems == [] and (full.last_seq, full.last_tag) == last, where
            full.close()
            j = open_journal()
            nxt = j.append(J.KIND_SALE, body(last[0] + 1))
            assert nxt == last[0] + 1, where
            j.close()
            j = open_journal()
            assert j.problems == [] and j.last_seq == nxt, where
            j.close()
        finally:
            flashsim.umount(MOUNT)


def test_power_cut_while_the_checkpoint_is_written():
    if not flashsim.available():
        support.skip("littlefs (os.VfsLfs2) exists only under MicroPython")
    s = Script()
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
