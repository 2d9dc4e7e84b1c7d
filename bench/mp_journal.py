# Journal benchmarks that run under the MicroPython unix port (started by
# bench/run.py with tests/device and the compiled firmware on MICROPYPATH).
#   wear SEGMENT_BYTES RECORDS  erases/programs per record on Pico flash geometry
#   speed RECORDS               appends per second on emulated littlefs (RAM)
#   fill DIR RECORDS            write a journal into a host directory
#   recover DIR                 open (recover) a journal by a full scan, the worst
#                               case; print time and free heap
#   fill_flash BLOCKS [SEGMENT] append on emulated flash until sales are refused
#   append_run DIR RECORDS      append to a fresh journal (a heap-requirement probe)
#   boot DIR FULL               open a journal from its checkpoint (FULL 0) or by a
#                               full scan (1); time, records checked, free heap
#   replay DIR                  read and decode every record (the engine's replay)
#   boot_flash BLOCKS           fill emulated Pico flash, then time both boots on it
#   checkpoint_wear SEG RECORDS flash erases/programs spent writing checkpoints
import gc
import sys
import time

from mp_sale import sale
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"
PICO_BLOCKS = 352  # Pico: 1408 KiB littlefs, 4096-byte blocks, progsize 256


def clock():
    return 1795000000


def on_pico_flash(blocks=PICO_BLOCKS):
    import flashsim

    flash = flashsim.Flash(blocks)
    flashsim.format_and_mount(flash, "/flash")
    return flash


def wear(segment_bytes, records):
    flash = on_pico_flash()
    j = J.Journal("/flash/journal", TILL, KEY, clock=clock, segment_bytes=segment_bytes)
    warm = 100
    for i in range(1, warm + 1):
        j.append(J.KIND_SALE, sale(i))
    e0, p0 = flash.erases, flash.programs
    blocks0 = list(flash.erase_per_block)
    for i in range(warm + 1, warm + records + 1):
        j.append(J.KIND_SALE, sale(i))
        if i % 250 == 0:  # the gateway syncs; HO acknowledges all but the last 100
            j.mark_processed(i - 100)
    j.close()
    per_block = [a - b for a, b in zip(flash.erase_per_block, blocks0)]
    print("RESULT wear", segment_bytes, records, flash.erases - e0, flash.programs - p0,
          max(per_block), sum(1 for x in per_block if x))


def speed(records):
    on_pico_flash()
    j = J.Journal("/flash/journal", TILL, KEY, clock=clock, segment_bytes=16384)
    t0 = time.ticks_us()
    for i in range(1, records + 1):
        j.append(J.KIND_SALE, sale(i))
        if i % 250 == 0:
            j.mark_processed(i - 100)
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("RESULT speed", records, dt)


def fill(path, records):
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    for i in range(1, records + 1):
        j.append(J.KIND_SALE, sale(i))
    j.close()
    print("RESULT fill", j.last_seq)


def recover(path):
    gc.collect()
    t0 = time.ticks_us()
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384, full_scan=True)
    dt = time.ticks_diff(time.ticks_us(), t0)
    gc.collect()
    print("RESULT recover", j.last_seq, len(j.problems), dt, gc.mem_free())


def _until_full(j):
    n = 0
    while True:
        try:
            j.append(J.KIND_SALE, sale(n + 1))
        except J.JournalFull:
            return n
        n += 1


def fill_flash(blocks, segment_bytes=16384):
    """Append sales on an emulated Pico-geometry littlefs until the journal
    refuses them; print how many fitted."""
    on_pico_flash(blocks)
    j = J.Journal("/flash/journal", TILL, KEY, clock=clock, segment_bytes=segment_bytes)
    n = _until_full(j)
    print("RESULT fill_flash", n, j.status()["free_bytes"])


def append_run(path, records):
    """Append `records` sales to a fresh journal (heap-requirement probe)."""
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    for i in range(records):
        j.append(J.KIND_SALE, sale(i + 1))
    print("RESULT append_run", j.last_seq)


def _timed_open(path, full):
    gc.collect()
    t0 = time.ticks_us()
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384, full_scan=bool(full))
    dt = time.ticks_diff(time.ticks_us(), t0)
    j.close()
    return j, dt


def boot(path, full):
    j, dt = _timed_open(path, full)
    gc.collect()
    print("RESULT boot", full, j.last_seq, len(j.problems), j.verified_records, dt,
          gc.mem_free(), j.status()["segments"], len(j.notices))


def replay(path):
    from till.formats import cbor

    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    gc.collect()
    t0 = time.ticks_us()
    n = 0
    for _, raw in j.records_after(0):
        cbor.loads(raw)
        n += 1
    print("RESULT replay", n, time.ticks_diff(time.ticks_us(), t0))


def boot_flash(blocks):
    on_pico_flash(blocks)
    j = J.Journal("/flash/journal", TILL, KEY, clock=clock, segment_bytes=16384)
    n = _until_full(j)
    j.close()
    ck, ck_us = _timed_open("/flash/journal", 0)
    full, full_us = _timed_open("/flash/journal", 1)
    assert not ck.problems and not full.problems and ck.last_tag == full.last_tag
    print("RESULT boot_flash", n, ck.verified_records, ck_us, full.verified_records, full_us)


def checkpoint_wear(segment_bytes, records):
    flash = on_pico_flash()
    from till.formats import journal_checkpoint as JC

    real = JC.vouch
    spent = [0, 0, 0]  # checkpoint writes, erases, programs

    def counted(*args):
        e, p = flash.erases, flash.programs
        try:
            return real(*args)
        finally:
            spent[0] += 1
            spent[1] += flash.erases - e
            spent[2] += flash.programs - p

    JC.vouch = counted
    j = J.Journal("/flash/journal", TILL, KEY, clock=clock, segment_bytes=segment_bytes)
    for i in range(1, records + 1):
        j.append(J.KIND_SALE, sale(i))
        if i % 250 == 0:  # as in wear: HO acknowledges all but the last 100
            j.mark_processed(i - 100)
    j.close()
    print("RESULT checkpoint_wear", records, spent[0], spent[1], spent[2], flash.erases,
          flash.programs)


MODES = {"wear": wear, "speed": speed, "fill": fill, "recover": recover,
         "fill_flash": fill_flash, "append_run": append_run, "boot": boot,
         "replay": replay, "boot_flash": boot_flash, "checkpoint_wear": checkpoint_wear}
# Arguments are numbers except paths (anything starting with "/").
args = [a if a.startswith("/") else int(a) for a in sys.argv[2:]]
MODES[sys.argv[1]](*args)
