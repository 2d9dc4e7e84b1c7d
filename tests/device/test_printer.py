# The printer driver against a fake serial printer that answers DLE EOT status
# requests from its state: jobs in chunks, paper out -> queued (on flash) ->
# recovered -> printed exactly once, a queue that survives a restart, a dead
# printer that never holds the loop longer than the timeout, the drawer pulse.
import io
import os

import support
from fakes import (OFFLINE_COVER, OFFLINE_ERROR, OFFLINE_NONE, PAPER_END, PAPER_NEAR_END,
                   PAPER_OK, Ticks)
from fakes import SerialPrinter as FakePrinter
from till.formats import escpos
from till.drivers import printer
from till.drivers.printer import Printer

DRAWER = b"\x1b\x70\x00\x32\x32"  # ESC p 0 50 50: pin 2, 100 ms on, 100 ms off


def run(p, ticks, steps=1000):
    """Step the printer, letting the fake time run by what step() asks for,
    until it has nothing to do (or `steps` steps)."""
    for _ in range(steps):
        wait = p.step()
        if not p.busy() and p.problem is None:
            return
        ticks.t += wait


def run_for(p, ticks, ms):
    end = ticks.t + ms
    while ticks.t < end:
        ticks.t += max(1, min(p.step(), end - ticks.t))


def receipt(n=300, tag=b"R"):
    return b"\x1b\x40" + tag + bytes(0x30 + i % 10 for i in range(n)) + b"\n\x1dV\x00"


def make(queue_dir=None, **kw):
    fake = FakePrinter()
    ticks = Ticks(1000)
    kw.setdefault("status_timeout_ms", 200)
    kw.setdefault("retry_ms", 2000)
    p = Printer(fake, queue_dir=queue_dir, ticks_ms=ticks, **kw)
    return fake, ticks, p


def test_healthy_printer_checks_status_then_prints_in_chunks():
    fake, ticks, p = make(chunk_bytes=64)
    job = receipt(1000)
    jid = p.print_job(job)
    assert p.queued() == 1
    run(p, ticks)
    assert bytes(fake.printed) == job
    # Paper sensors, then offline cause: before the job and after its last
    # byte (printed only when the printer is still there).
    assert fake.queries == [4, 2, 4, 2]
    assert max(fake.writes) <= 64 and len(fake.writes) == (len(job) + 63) // 64
    assert p.take_events() == [("printed", (jid, None))]
    assert p.take_events() == []
    assert p.queued() == 0 and p.problem is None and p.message is None
    assert p.state == "ok"


def test_a_receipt_counts_as_printed_only_when_the_printer_answers_after_it():
    # Switched off while the last bytes went out: a UART takes them into
    # nowhere. The answer after the job is missing, so the receipt stays
    # queued and is sent again in full once the printer is back.
    fake, ticks, p = make(chunk_bytes=64)
    job = receipt(200)
    jid = p.print_job(job)
    while len(fake.printed) + 64 < len(job):
        ticks.t += p.step()
    fake.answering = False  # off before the last chunk: it goes into nowhere
    run_for(p, ticks, 300)
    assert p.problem == printer.NO_ANSWER and p.queued() == 1
    assert [e for e in p.take_events() if e[0] == "printed"] == []
    fake.answering = True
    fake.inbox = bytearray()
    run_for(p, ticks, 2500)
    run(p, ticks)
    assert bytes(fake.printed) == job + job
    assert [e for e in p.take_events() if e[0] == "printed"] == [("printed", (jid, None))]
    assert p.queued() == 0 and p.problem is None


def test_the_printer_is_asked_in_the_same_step_as_the_last_byte():
    # The cashier opens the cover right after a receipt's last byte reached
    # the printer (between two steps of the printer task). The receipt is on
    # paper: asking only on the next step would find the cover open, keep the
    # receipt and send it again once the cover is closed (twice on paper), or
    # drop it from a full queue (journaled as not printed, yet printed).
    fake, ticks, p = make(chunk_bytes=64)
    job = receipt(200)
    jid = p.print_job(job)
    while len(fake.printed) < len(job):
        ticks.t += p.step()
    fake.offline = OFFLINE_COVER
    run_for(p, ticks, 300)
    fake.offline = OFFLINE_NONE
    run_for(p, ticks, 2500)
    assert bytes(fake.printed) == job  # once
    assert ("printed", (jid, None)) in p.take_events()
    assert p.queued() == 0


def test_each_step_writes_at_most_one_chunk():
    fake, ticks, p = make(chunk_bytes=100)
    p.print_job(receipt(2000))
    sizes = []
    for _ in range(200):
        before = len(fake.printed)
        p.step()
        sizes.append(len(fake.printed) - before)
    assert max(sizes) == 100


def test_every_receipt_is_checked():
    fake, ticks, p = make()
    p.print_job(receipt(10, b"A"))
    p.print_job(receipt(10, b"B"))
    run(p, ticks)
    # Before A; after A, which is also before B; after B.
    assert fake.queries == [4, 2, 4, 2, 4, 2]
    assert bytes(fake.printed) == receipt(10, b"A") + receipt(10, b"B")


def test_paper_out_queues_then_prints_exactly_once_on_recovery():
    qdir = support.tmpdir() + "/printq"
    fake, ticks, p = make(qdir)
    fake.paper = PAPER_END
    jid = p.print_job(receipt(500))
    run_for(p, ticks, 100)
    assert fake.printed == b""
    assert p.problem == printer.PAPER_OUT
    assert p.message == "Printer: paper out - replace the roll; the receipt will print"
    assert p.lines == ("PRINTER: NO PAPER", "Replace the roll")
    assert p.state == "paper_out"  # the word the engine's printer event takes
    assert p.take_events() == [("problem", printer.PAPER_OUT)]
    # The waiting receipt is on flash, so a restart cannot lose it.
    assert os.listdir(qdir) == ["%08d-0.job" % jid]
    assert queue_file_data(support.read_file(qdir + "/%08d-0.job" % jid)) == receipt(500)
    # Asked again every retry_ms while the paper is out; still nothing printed.
    n = len(fake.queries)
    run_for(p, ticks, 6500)
    assert len(fake.queries) == n + 2 * 3  # both questions, three times
    assert fake.printed == b"" and p.take_events() == []
    # The cashier puts in a new roll: the next check finds it and prints.
    fake.paper = PAPER_OK
    run_for(p, ticks, 2500)
    assert bytes(fake.printed) == receipt(500)
    assert p.take_events() == [("recovered", None), ("printed", (jid, None))]
    assert os.listdir(qdir) == []
    assert p.message is None and p.status()["queued"] == 0
    run_for(p, ticks, 10000)
    assert bytes(fake.printed) == receipt(500)  # once


def test_retry_checks_at_once():
    fake, ticks, p = make(retry_ms=60000)
    fake.paper = PAPER_END
    p.print_job(receipt(20))
    run_for(p, ticks, 50)
    fake.paper = PAPER_OK
    run_for(p, ticks, 1000)
    assert fake.printed == b""  # next check is a minute away
    p.retry()
    run_for(p, ticks, 50)
    assert bytes(fake.printed) == receipt(20)


def test_queue_survives_restart():
    qdir = support.tmpdir() + "/printq"
    fake, ticks, p = make(qdir)
    fake.answering = False
    a = p.print_job(receipt(100, b"A"))
    b = p.print_job([receipt(50, b"B"), b"tail"])
    run_for(p, ticks, 1000)
    assert p.problem == printer.NO_ANSWER
    assert sorted(os.listdir(qdir)) == ["%08d-0.job" % a, "%08d-0.job" % b]
    # Power cut while a third receipt was being written to the queue.
    support.write_file(qdir + "/tmp.job", b"torn")
    del p
    fake2, ticks2, p2 = make(qdir)
    assert p2.queued() == 2
    c = p2.print_job(receipt(10, b"C"))
    assert c > b  # ids go on after the queued ones
    run(p2, ticks2)
    assert bytes(fake2.printed) == receipt(100, b"A") + receipt(50, b"B") + b"tail" + receipt(10, b"C")
    assert [e for e in p2.take_events()] == [("printed", (a, None)), ("printed", (b, None)), ("printed", (c, None))]
    assert os.listdir(qdir) == []


def queue_file_data(raw):
    """The printer data in a queue file: parts of a 2-byte length and the bytes
    (printer.py, _QUEUE_SUFFIX); a logo reference would be 0xFFFF."""
    out, i = b"", 0
    while i < len(raw):
        n = (raw[i] << 8) | raw[i + 1]
        assert n != 0xFFFF
        out += raw[i + 2:i + 2 + n]
        i += 2 + n
    return out


def test_copied_receipts_use_the_job_buffer_then_the_flash_queue():
    # The till builds every receipt in one reused buffer (copy=True): the
    # first waits in the printer's job buffer, the next ones go to the flash
    # queue while it is taken; the caller's buffer is free at once.
    qdir = support.tmpdir() + "/printq"
    fake, ticks, p = make(qdir)
    p.use_buffer(bytearray(600))
    fake.paper = PAPER_END
    layout = bytearray(500)
    jobs = []
    for i, ch in enumerate(b"STU"):
        layout[:] = bytes((ch,)) * 500
        jobs.append(p.print_job(memoryview(layout)[:100 + i], copy=True, ref=40 + i))
    # The job buffer holds S; T and U are files; then S moves to flash too
    # (a printer problem: nothing waits in RAM behind it).
    assert sorted(os.listdir(qdir)) == ["%08d-41.job" % jobs[1], "%08d-42.job" % jobs[2]]
    run_for(p, ticks, 100)
    assert len(os.listdir(qdir)) == 3
    layout[:] = b"X" * 500
    fake.paper = PAPER_OK
    run_for(p, ticks, 3000)
    assert bytes(fake.printed) == b"S" * 100 + b"T" * 101 + b"U" * 102
    assert [e for e in p.take_events() if e[0] == "printed"] == [
        ("printed", (jobs[0], 40)), ("printed", (jobs[1], 41)), ("printed", (jobs[2], 42))]
    assert os.listdir(qdir) == []


def test_a_receipt_with_nowhere_to_wait_is_dropped_with_its_reference():
    fake, ticks, p = make(None)
    p.use_buffer(bytearray(64))
    fake.answering = False
    first = p.print_job(b"A" * 60, copy=True, ref=7)
    lost = p.print_job(b"B" * 60, copy=True, ref=8)  # buffer taken, no flash queue
    too_big = p.print_job(b"C" * 65, copy=True, ref=9)
    assert p.queued() == 1
    assert p.take_events() == [("dropped", (lost, 8)), ("dropped", (too_big, 9))]
    assert first < lost


def test_a_receipt_the_heap_has_no_room_for_is_handed_back_with_nothing_kept():
    qdir = support.tmpdir() + "/printq"
    fake, ticks, p = make(qdir)
    p.use_buffer(bytearray(64))
    fake.paper = PAPER_END
    assert p.print_job(b"A" * 60, copy=True, ref=7) is not None  # the job buffer

    def no_room(job):
        raise MemoryError("memory allocation failed")

    p._spool = no_room  # the flash queue's file cannot be opened: no heap
    assert p.print_job(b"B" * 60, copy=True, ref=8) is None
    assert p.queued() == 1 and p.take_events() == [] and os.listdir(qdir) == []
    del p._spool
    assert p.print_job(b"B" * 60, copy=True, ref=8) is not None  # handed over again: kept
    assert p.queued() == 2


def test_events_nobody_reads_stay_bounded():
    fake, ticks, p = make(check_status=False)
    for i in range(40):
        p.print_job(b"x", ref=i)
        run(p, ticks)
    events = p.take_events()
    assert len(events) == 16 and p.events_lost == 24
    assert events[-1] == ("printed", (40, 39))


def test_queued_receipt_keeps_its_reference_across_a_restart():
    qdir = support.tmpdir() + "/printq"
    fake, ticks, p = make(qdir)
    fake.paper = PAPER_END
    jid = p.print_job(b"receipt 12\n", ref=12)
    run_for(p, ticks, 100)
    fake2, ticks2, p2 = make(qdir)
    run(p2, ticks2)
    assert bytes(fake2.printed) == b"receipt 12\n"
    assert p2.take_events() == [("printed", (jid, 12))]


def test_dead_printer_never_blocks_longer_than_the_timeout():
    # Real clock: a printer that never answers. Every step returns at once;
    # the problem is known once the status timeout has passed.
    import time

    fake = FakePrinter()
    fake.answering = False
    p = Printer(fake, status_timeout_ms=100, retry_ms=1000)
    p.print_job(receipt(100))
    start = time.time()
    longest = 0
    while p.problem is None and time.time() - start < 2:
        t0 = time.time()
        wait = p.step()
        longest = max(longest, time.time() - t0)
        time.sleep(wait / 1000)
    elapsed = time.time() - start
    assert p.problem == printer.NO_ANSWER
    assert 0.09 <= elapsed < 0.5, elapsed
    assert longest < 0.05, longest
    assert p.message.startswith("Printer not answering")
    assert fake.printed == b"" and p.queued() == 1


def test_cover_open_and_printer_error():
    for state, problem, line1 in ((OFFLINE_COVER, printer.COVER_OPEN, "PRINTER COVER"),
                                  (OFFLINE_ERROR, printer.PRINTER_ERROR, "PRINTER ERROR"),
                                  (0x32, printer.PAPER_OUT, "PRINTER: NO PAPER")):
        fake, ticks, p = make()
        fake.offline = state
        p.print_job(receipt(10))
        run_for(p, ticks, 100)
        assert p.problem == problem and p.lines[0] == line1
        assert fake.printed == b""
        fake.offline = OFFLINE_NONE
        run_for(p, ticks, 2500)
        assert bytes(fake.printed) == receipt(10)


def test_paper_near_end_prints_and_warns():
    fake, ticks, p = make()
    fake.paper = PAPER_NEAR_END
    jid = p.print_job(receipt(10))
    run(p, ticks)
    assert bytes(fake.printed) == receipt(10)
    assert p.take_events() == [("paper_low", None), ("printed", (jid, None))]
    assert p.problem is None and p.paper_low
    assert p.message == printer.PAPER_LOW_MESSAGE and p.state == "paper_low"
    fake.paper = PAPER_OK
    p.print_job(receipt(5))
    run(p, ticks)
    assert not p.paper_low and p.message is None


def test_stale_and_foreign_bytes_are_not_taken_for_the_answer():
    fake, ticks, p = make()
    fake.inbox += bytes((PAPER_END,))  # a late reply from before: drained first
    p.print_job(receipt(10))
    p.step()  # asks
    fake.inbox[0:0] = b"\x13\x00"  # XOFF and a NUL arrive before the reply
    run(p, ticks)
    assert bytes(fake.printed) == receipt(10) and p.problem is None


def test_drawer_pulse_only_when_asked_and_even_with_paper_out():
    fake, ticks, p = make()
    p.print_job(receipt(10))
    run(p, ticks)
    assert DRAWER not in fake.printed  # printing never opens the drawer
    fake.paper = PAPER_END
    fake.printed = bytearray()
    p.open_drawer()
    run_for(p, ticks, 20)
    assert bytes(fake.printed) == DRAWER
    assert fake.queries[-2:] == [4, 2]  # no status check for the pulse
    p.open_drawer(pin=5, on_ms=60, off_ms=240)
    run_for(p, ticks, 20)
    assert bytes(fake.printed) == DRAWER + b"\x1b\x70\x01\x1e\x78"


def test_pulses_asked_behind_a_slow_receipt_wait_as_one():
    # A busy till asks for a pulse on every cash sale; behind a receipt that
    # takes seconds they are one waiting pulse (the drawer opens once, for all
    # of them), not a list that grows with the rush. A different pulse or a
    # feed still waits beside it, and after it went out the next one is new.
    fake, ticks, p = make(chunk_bytes=32)
    job = receipt(300, b"A")
    p.print_job(job)
    for _ in range(6):
        ticks.t += p.step()
    for _ in range(50):
        p.open_drawer()
        p.feed(2)
    p.open_drawer(pin=5, on_ms=60, off_ms=240)
    assert len(p._control) == 3
    run(p, ticks)
    pin5 = b"\x1b\x70\x01\x1e\x78"
    assert bytes(fake.printed) == job + DRAWER + b"\x1b\x64\x02" + pin5
    p.open_drawer()
    run_for(p, ticks, 20)
    assert bytes(fake.printed).endswith(pin5 + DRAWER)


def test_drawer_waits_for_the_job_being_sent_then_goes_first():
    fake, ticks, p = make(chunk_bytes=32)
    job = receipt(300, b"A")
    p.print_job(job)
    for _ in range(6):  # status check, then part of the job
        ticks.t += p.step()
    assert 0 < len(fake.printed) < len(job)
    p.open_drawer()
    p.print_job(receipt(10, b"B"))
    run(p, ticks)
    # Never inside the job's bytes; before the next waiting receipt.
    assert bytes(fake.printed) == job + DRAWER + receipt(10, b"B")


def test_feed():
    fake, ticks, p = make()
    p.feed(4)
    run(p, ticks)
    assert bytes(fake.printed) == b"\x1b\x64\x04"


def test_partial_writes_keep_every_byte_in_order():
    fake, ticks, p = make(chunk_bytes=64)
    fake.take = 7
    job = receipt(900)
    p.print_job(job)
    run(p, ticks, steps=5000)
    assert bytes(fake.printed) == job


def test_uart_buffer_full_eagain_is_waited_out():
    fake, ticks, p = make(chunk_bytes=32)
    fake.eagain = 20
    job = receipt(300)
    p.print_job(job)
    run(p, ticks)
    assert bytes(fake.printed) == job and p.problem is None and fake.eagain == 0


def test_stalled_printer_becomes_a_problem_and_the_job_is_sent_again():
    fake, ticks, p = make(chunk_bytes=32, stall_ms=1000)
    job = receipt(200)
    jid = p.print_job(job)
    for _ in range(5):
        ticks.t += p.step()
    sent = len(fake.printed)
    assert sent > 0
    fake.take = 0  # the printer's buffer is full and it stopped taking bytes
    run_for(p, ticks, 1100)
    assert p.problem == printer.NO_ANSWER
    fake.take = None
    run_for(p, ticks, 2500)
    assert bytes(fake.printed) == job[:sent] + job
    assert ("printed", (jid, None)) in p.take_events()


def test_write_error_keeps_the_job():
    fake, ticks, p = make()
    p.print_job(receipt(50))
    p.step()  # asks
    fake.raise_on_write = True
    run_for(p, ticks, 100)
    assert p.problem == printer.NO_ANSWER and p.queued() == 1
    fake.raise_on_write = False
    run_for(p, ticks, 2500)
    assert bytes(fake.printed) == receipt(50)


def raster_bytes(width_bytes, height, rows):
    ref = escpos.EscPos()
    ref.raster(width_bytes, height, rows)
    return ref.output()


def test_logo_streamed_from_a_raster_file_in_chunks():
    from till.formats import rasterfile

    d = support.tmpdir()
    rows = bytes(range(256)) * 10  # 64 bytes x 40 rows
    support.write_file(d + "/logo.kr", rasterfile.header(64, 40) + rows)
    fake, ticks, p = make(chunk_bytes=128)
    p.print_job([b"\x1b\x40", ("raster", d + "/logo.kr"), b"Shop\n",
                 ("raster", d + "/gone.kr"), b"end\n"])
    run(p, ticks)
    # The same bytes as the builder's GS v 0, never more than a chunk per write.
    assert bytes(fake.printed) == b"\x1b\x40" + raster_bytes(64, 40, rows) + b"Shop\nend\n"
    assert max(fake.writes) <= 128


def test_tall_short_wide_and_foreign_raster_files():
    from till.formats import rasterfile

    d = support.tmpdir()
    tall = bytes((i * 7) & 0xFF for i in range(2 * 1000))
    support.write_file(d + "/tall.kr", rasterfile.header(2, 1000) + tall)
    support.write_file(d + "/short.kr", rasterfile.header(4, 10) + b"\xff" * 25)
    support.write_file(d + "/wide.kr", rasterfile.header(72, 2) + bytes(144))
    support.write_file(d + "/photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    fake, ticks, p = make(max_width_bytes=64)
    p.print_job([("raster", d + "/tall.kr"), b"|", ("raster", d + "/short.kr"), b"|",
                 ("raster", d + "/wide.kr"), ("raster", d + "/photo.png"), b"|"])
    run(p, ticks, steps=5000)
    # Split at 960 rows like python-escpos; a short file is padded with white
    # (the printer waits for every promised byte); too wide or not a raster
    # file: left out.
    short = raster_bytes(4, 10, b"\xff" * 40)[:8] + b"\xff" * 25 + bytes(15)
    assert bytes(fake.printed) == raster_bytes(2, 1000, tall) + b"|" + short + b"||"


def test_printer_ready_file_sent_as_it_is():
    d = support.tmpdir()
    support.write_file(d + "/job.bin", b"\x1b\x40hello\n" * 50)
    fake, ticks, p = make(chunk_bytes=32)
    p.print_job([("file", d + "/job.bin")])
    run(p, ticks)
    assert bytes(fake.printed) == b"\x1b\x40hello\n" * 50


def test_raster_part_survives_the_queue_on_flash():
    from till.formats import rasterfile

    d = support.tmpdir()
    rows = bytes(range(200))
    support.write_file(d + "/logo.kr", rasterfile.header(10, 20) + rows)
    fake, ticks, p = make(d + "/q")
    fake.paper = PAPER_END
    p.print_job([b"A", ("raster", d + "/logo.kr"), b"B"])
    run_for(p, ticks, 100)
    # The queue file names the logo instead of holding a copy of it.
    queued = support.read_file(d + "/q/" + os.listdir(d + "/q")[0])
    assert rows not in queued and (d + "/logo.kr").encode() in queued
    fake.paper = PAPER_OK
    run_for(p, ticks, 2500)
    assert bytes(fake.printed) == b"A" + raster_bytes(10, 20, rows) + b"B"


def test_status_check_off_for_a_write_only_link():
    out = io.BytesIO()
    ticks = Ticks()
    p = Printer(out, ticks_ms=ticks, check_status=False)
    jid = p.print_job(receipt(40))
    run(p, ticks)
    assert out.getvalue() == receipt(40)
    assert p.take_events() == [("printed", (jid, None))]


def test_pacing_to_the_link_speed():
    fake, ticks, p = make(chunk_bytes=96, bytes_per_s=960, check_status=False)
    p.print_job(bytes(960))
    start = ticks.t
    run(p, ticks)
    # 960 bytes at 960 B/s: about a second, never written faster than the link.
    assert 900 <= ticks.t - start <= 1100, ticks.t - start


def test_too_many_waiting_receipts_drop_the_oldest():
    qdir = support.tmpdir() + "/q"
    fake, ticks, p = make(qdir, max_queued=3)
    fake.paper = PAPER_END
    ids = [p.print_job(receipt(5, bytes((0x41 + i,)))) for i in range(5)]
    run_for(p, ticks, 200)
    assert p.queued() == 3
    assert len(os.listdir(qdir)) == 3
    dropped = [e[1][0] for e in p.take_events() if e[0] == "dropped"]
    assert dropped == ids[:2]
    fake.paper = PAPER_OK
    run_for(p, ticks, 3000)
    assert bytes(fake.printed) == b"".join(receipt(5, bytes((0x41 + i,))) for i in (2, 3, 4))


def test_problem_clears_without_a_job():
    # A drawer pulse to a printer that takes no bytes: the pulse is given up
    # (never replayed later), the problem shows, and the periodic checks clear
    # it once the printer answers, though nothing waits to print.
    fake, ticks, p = make(stall_ms=500)
    fake.take = 0
    fake.answering = False
    p.open_drawer()
    run_for(p, ticks, 600)
    assert p.problem == printer.NO_ANSWER and p.queued() == 0
    fake.take = None
    run_for(p, ticks, 1000)
    assert p.problem == printer.NO_ANSWER  # still silent
    fake.answering = True
    run_for(p, ticks, 2500)
    assert p.problem is None and p.message is None
    assert p.take_events() == [("problem", printer.NO_ANSWER), ("recovered", None)]
    assert fake.printed == b""


def test_run_task():
    import asyncio

    fake = FakePrinter()
    p = Printer(fake, status_timeout_ms=100)
    jid = p.print_job(receipt(300))

    async def main():
        task = asyncio.create_task(p.run())
        for _ in range(100):
            await asyncio.sleep(0.005)
            if not p.queued():
                break
        task.cancel()

    asyncio.run(main())
    assert bytes(fake.printed) == receipt(300)
    assert p.take_events() == [("printed", (jid, None))]
