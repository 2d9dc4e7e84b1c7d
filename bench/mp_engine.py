# Sale-engine benchmarks; the same file runs under the MicroPython unix port and
# under CPython (started by bench/bench_engine.py):
#   sale SNAPSHOT JOURNAL_DIR CODES SALES   ten-item cash sales through the engine
#       -> "RESULT sale <µs per sale> <µs per scan> <µs per commit>"
#   setup SNAPSHOT JOURNAL_DIR CODES 0      the same without selling (heap baseline)
#   imports                                 only load the modules a sale needs
#   pin ITERATIONS REPEAT                   PBKDF2-HMAC-SHA256 of a 4-digit PIN
#       -> "RESULT pin <µs per verification>"
# CODES is a file with one barcode per line; the first ten are sold.
import sys
import time

try:
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def sale(snapshot_dir, journal_dir, codes_path, sales):
    from till.pos.engine import Engine
    from till.formats.journal import Journal
    from till.formats.snapshot import Snapshot

    with open(codes_path) as f:
        codes = [line.strip() for line in f if line.strip()][:10]
    snap = Snapshot(snapshot_dir)
    now = [snap.meta["created"] + 3600]  # synced, fresh snapshot: not offline

    def clock():
        return now[0]

    journal = Journal(journal_dir, "bench/till-1", b"k" * 32, clock=clock)
    engine = Engine(journal, snap, "bench/till-1", clock, 20, last_sync=now[0])
    for k in ("1", "SIGN", "1", "1", "1", "1", "TOTAL"):
        engine.handle(("key", k))
    assert engine.cashier is not None, engine.screen()
    scan_us = 0
    commit_us = 0
    total_us = 0
    for _ in range(sales):
        t0 = ticks_us()
        for code in codes:
            engine.handle(("scan", code))
        t1 = ticks_us()
        acts = engine.handle(("key", "CASH"))
        t2 = ticks_us()
        assert acts[0][0] == "record" and acts[1][0] == "print", acts
        scan_us += ticks_diff(t1, t0)
        commit_us += ticks_diff(t2, t1)
        total_us += ticks_diff(t2, t0)
        now[0] += 30
    journal.close()
    snap.close()
    if sales:
        print("RESULT sale", total_us // sales, scan_us // (sales * len(codes)),
              commit_us // sales)
    else:
        print("RESULT setup ok")


def pin(iterations, repeat):
    from till.pos.auth import make_pin_record, verify_pin

    rec = make_pin_record("4711", b"0123456789abcdef", iterations)
    t0 = ticks_us()
    for _ in range(repeat):
        assert verify_pin(rec, "4711")
    print("RESULT pin", ticks_diff(ticks_us(), t0) // repeat)


if sys.argv[1] == "imports":
    from till.pos import engine
    from till.formats import journal, snapshot  # noqa: F401
    print("RESULT imports ok")
elif sys.argv[1] in ("sale", "setup"):
    sale(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
elif sys.argv[1] == "pin":
    pin(int(sys.argv[2]), int(sys.argv[3]))
