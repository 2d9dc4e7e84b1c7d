# micropython-romfs
# micropython-isolated
# The main loop (till.app) with fakes for the devices and the real printer
# driver on a fake serial printer: a sale goes keypad -> engine -> journal ->
# printer and drawer; a crashing task is journaled and restarted; the watchdog
# is fed; the logo streams from flash; a printer problem reaches the display;
# receipts the printer cannot keep are journaled and reprinted from the journal. It loads nearly all the firmware, so under
# MicroPython it runs from ROMFS with a Pico W's 192K of heap beside the image
# (tests/conftest.py).
import asyncio
import gc

# Reserved first, as main.py does at boot (each test's till reuses them): after
# the imports below the heap is in pieces, and an 8 KB buffer found room there
# or not depending on a few bytes of code anywhere in the firmware.
from till import reserve

BUFFERS = reserve.buffers()

import prebuilt  # noqa: E402 - after the reservation, as on a till
import support
from engine_fixture import KEY, PINS, T0, TILL, meta
from fakes import PAPER_END, PAPER_OK, Clock, SerialPrinter
from till import app  # noqa: E402
from till.drivers import periph
from till.drivers.printer import Printer
from till.formats import cbor, identity, rasterfile
from till.formats import journal as J
from till.formats import records as R


# HO's data, built on the host before the run (test equipment: prebuilt.py);
# each test's till gets a copy.
SNAPSHOT = prebuilt.path("app_snapshot") + "/snapshot"


class FakeKeypad:
    def __init__(self, keys):
        self.keys = list(keys)

    def poll(self):
        out, self.keys = self.keys, []
        return out


class FakeScanner:
    def __init__(self, codes=(), fail_first=False):
        self.codes = list(codes)
        self.fail = fail_first

    def poll(self):
        if self.fail:
            self.fail = False
            raise RuntimeError("UART framing error")
        out, self.codes = [("code", c) for c in self.codes], []
        return out


class RecordingPort(SerialPrinter):
    """The serial printer, also noting each write as "print" or "drawer" (an
    ESC p pulse), so a test sees the order the bytes left in."""

    def __init__(self, paper_file):
        SerialPrinter.__init__(self, paper_file)
        self.events = []
        self.cuts = 0  # receipts finished (GS V), counted as the bytes pass
        self._last = b""

    def write(self, data):
        n = SerialPrinter.write(self, data)
        if n > 3:
            seen = self._last + bytes(data[:n])
            self.cuts += seen.count(b"\x1dV")
            self._last = seen[-1:]
        kind = "drawer" if bytes(data[:2]) == b"\x1bp" else "print"
        if len(data) > 3 and (not self.events or self.events[-1] != kind) and len(self.events) < 8:
            self.events.append(kind)
        return n


class FakeDisplay:
    # The last 64 screens (what a test looks at) in a ring allocated once: a
    # list that grows would need a bigger block from the till's fixed heap in
    # the middle of a sale, and fail there when the heap is fragmented.
    _KEEP = 64

    def __init__(self):
        self._ring = [None] * self._KEEP
        self._count = 0
        self.cashier = self
        self.cols = 20

    def show(self, lines, customer_lines=None):
        self._ring[self._count % self._KEEP] = tuple(lines)
        self._count += 1

    @property
    def shown(self):
        start = max(0, self._count - self._KEEP)
        return [self._ring[i % self._KEEP] for i in range(start, self._count)]


class FakeWdt:
    feeds = 0

    def feed(self):
        FakeWdt.feeds += 1


def till_root(logo=False):
    root = support.tmpdir()
    identity.write(root + "/" + identity.IDENTITY_FILE, TILL, KEY)
    support.copy_tree(SNAPSHOT, root + "/snapshot")
    if logo:
        support.write_file(root + "/snapshot/" + app.LOGO_FILE,
                           rasterfile.header(1, 2) + b"\xff\x81")
    return root


def devices(root, keys, scanner=None, watchdog=None, queue=True):
    port = RecordingPort(root + "/paper.bin")
    printer = Printer(port, queue_dir=root + "/printq" if queue else None, retry_ms=200)
    printer.port = port  # for the tests' eyes only
    return {"printer": printer, "display": FakeDisplay(), "keypad": FakeKeypad(keys),
            "scanner": scanner or FakeScanner(), "clock": Clock(T0),
            "profile": {"columns": {"a": 42}, "cut": {"partial": True}, "qr_native": True},
            "journal": {"dir": root + "/journal"}, "snapshot_dir": root + "/snapshot",
            "watchdog": watchdog}


SALE_KEYS = ["1", "SIGN"] + list(PINS[1]) + ["TOTAL", "7", "PLU", "5", "0", "0", "CASH"]


def run(dev, root, until, limit_ms=5000):
    """Boot a till on `dev`, run it until until(till) (or limit_ms of loop
    time), close it; return what the tests look at afterwards. The till itself
    is let go before the test reads the journal: under MicroPython the test
    shares the till's 192K."""
    gc.collect()
    reserve.hold()  # as main.py does before the till is built
    till = app.Till(dev, root, BUFFERS)
    start = periph.ticks_ms()

    def done():  # limit_ms of real time: the printer's retries are timed too
        return until(till) or periph.ticks_diff(periph.ticks_ms(), start) > limit_ms

    asyncio.run(till.run(done))
    till.close()
    e = till.engine
    seen = {"crashes": till.crashes, "sale": e.sale is not None, "printer": e.printer,
            "last_receipt": e.last_receipt}
    del till, e
    gc.collect()
    return seen


def records(root, kind=None):
    j = J.Journal(root + "/journal", TILL, KEY)
    out = [cbor.loads(raw) for _, raw in j.records_after(0)]
    j.close()
    return [r for r in out if kind is None or r[J.K_KIND] == kind]


def test_a_sale_goes_to_the_journal_then_to_drawer_and_printer():
    root = till_root()
    dev = devices(root, SALE_KEYS)
    port = dev["printer"].port
    run(dev, root, lambda till: "drawer" in port.events and not dev["printer"].busy())
    sales = records(root, J.KIND_SALE)
    assert len(sales) == 1 and sales[0][J.K_BODY][R.S_TOTAL] == 289
    # Both only after the record (the engine's protocol, engine_fixture); the
    # driver pulses the drawer first, so change is given while the paper prints.
    assert port.events == ["drawer", "print"], port.events
    job = bytes(port.printed)
    assert b"Brot 500 g" in job
    assert b"KASSA1|" + TILL.encode() + b"|%d|" % sales[0][J.K_SEQ] in job
    # 5.00 given for 2.89, cash rounded to 0.05: change 2.10
    assert ("Change          2.10", "Total           2.89") in dev["display"].shown


def test_a_crashing_task_is_journaled_and_restarted():
    root = till_root()
    scanner = FakeScanner(["4006381333931"], fail_first=True)
    dev = devices(root, SALE_KEYS[:7], scanner=scanner)
    seen = run(dev, root, lambda till: till.crashes and not scanner.codes
               and till.engine.sale is not None)
    assert seen["crashes"] == 1
    events = [r[J.K_BODY] for r in records(root, J.KIND_EVENT)]
    crash = [e for e in events if e[R.E_TYPE] == R.EV_CRASH]
    assert crash and "inputs: RuntimeError: UART framing error" in crash[0][R.E_DETAIL]
    # ... and where: the file, line and function that raised.
    assert "(test_app.py:" in crash[0][R.E_DETAIL] and " poll)" in crash[0][R.E_DETAIL]
    # After the restart the scan was taken: the sale in progress holds the item.
    assert seen["sale"]


def test_the_watchdog_is_fed():
    root = till_root()
    FakeWdt.feeds = 0
    dev = devices(root, [], watchdog=lambda: FakeWdt())
    run(dev, root, lambda till: FakeWdt.feeds >= 2, limit_ms=4000)
    assert FakeWdt.feeds >= 2


def test_the_logo_streams_from_flash_and_feed_goes_to_the_printer():
    root = till_root(logo=True)
    dev = devices(root, ["FEED"] + SALE_KEYS)
    port = dev["printer"].port
    run(dev, root, lambda till: "drawer" in port.events and not dev["printer"].busy())
    # The feed (ESC d 3), then the logo as GS v 0 from its file, then the receipt.
    printed = bytes(port.printed)
    assert printed.startswith(b"\x1bd\x03")
    assert b"\x1d\x76\x30\x00\x01\x00\x02\x00\xff\x81" in printed
    assert printed.index(b"\x1d\x76\x30") < printed.index(b"Brot 500 g")


def test_a_printer_problem_is_shown_to_the_cashier():
    root = till_root()
    dev = devices(root, [])
    dev["printer"].port.paper = PAPER_END
    dev["printer"].print_job(b"x")
    seen = run(dev, root, lambda till: till.engine.printer != "ok", limit_ms=1000)
    assert dev["display"].shown[-1] == ("PRINTER: NO PAPER", "Replace the roll")
    assert seen["printer"] == "paper_out"


def paper_receipts(path, needles):
    """Which needles each receipt on the paper file holds (receipts end at a
    cut, GS V), read in small pieces: the test shares MicroPython's heap."""
    out, cur, tail = [], set(), b""
    width = max(len(n) for n in needles)
    with open(path, "rb") as f:
        while True:
            piece = f.read(256)
            if not piece:
                break
            window = tail + piece
            while True:
                cut = window.find(b"\x1dV")
                part = window if cut < 0 else window[:cut]
                for n in needles:
                    if n in part:
                        cur.add(n)
                if cut < 0:
                    break
                out.append(cur)
                cur = set()
                window = window[cut + 2:]
            tail = window[-width:]
    return [r for r in out if r]


def sale_keys(n):
    keys = ["1", "SIGN"] + list(PINS[1]) + ["TOTAL"]
    for _ in range(n):
        keys += ["7", "PLU", "5", "0", "0", "CASH"]
    return keys


def test_receipts_the_printer_cannot_keep_are_journaled_and_reprinted_from_the_journal():
    # No flash queue and the paper out: the first receipt waits in the job
    # buffer, the next two have nowhere to wait. Each is journaled as not
    # printed, the cashier is told, and REPORT 3 reprints it from its record.
    root = till_root()
    dev = devices(root, sale_keys(3), queue=False)
    port = dev["printer"].port
    port.paper = PAPER_END
    state = {"reprint": None}

    def reprint_then_done(till):
        # Both lost: paper in. The first printed: REPORT 3 for the first lost one.
        printed = port.cuts
        if till.engine.not_printed == 2 and port.paper == PAPER_END:
            port.paper = PAPER_OK
        elif printed == 1 and state["reprint"] is None and not dev["printer"].busy():
            # The second sale, by the number the display gave ("Not printed: 2").
            state["reprint"] = 2
            dev["keypad"].keys = ["REPORT", "3"] + list(str(state["reprint"])) + ["TOTAL"]
        return printed == 2 and not dev["printer"].busy()

    run(dev, root, reprint_then_done)
    sales = [r[J.K_SEQ] for r in records(root, J.KIND_SALE)]
    assert len(sales) == 3 and state["reprint"] == 2
    events = [r[J.K_BODY] for r in records(root, J.KIND_EVENT)]
    lost = [e[R.E_DETAIL] for e in events if e[R.E_TYPE] == R.EV_NOT_PRINTED]
    assert lost == sales[1:], (lost, sales, dev["display"].shown[-8:])
    # Told by the receipts' numbers (1, 2, 3), not their journal seqs.
    assert ("Not printed: 2", "REPORT 3: reprint") in dev["display"].shown
    assert ("Not printed: 3", "REPORT 3: reprint") in dev["display"].shown
    # The paper, receipt by receipt: the first sale's, then the copy of the second.
    first = b"KASSA1|%s|%d|" % (TILL.encode(), sales[0])
    second = b"KASSA1|%s|%d|" % (TILL.encode(), sales[1])
    found = paper_receipts(root + "/paper.bin", (first, second, b"*** COPY ***"))
    assert found == [{first}, {second, b"*** COPY ***"}], (found, dev["display"].shown[-6:])
    copies = [e for e in (r[J.K_BODY] for r in records(root, J.KIND_EVENT))
              if e[R.E_TYPE] == R.EV_COPY]
    assert copies and copies[0][R.E_DETAIL] == sales[1]


def test_setting_the_clock_is_journaled():
    root = till_root()
    dev = devices(root, [])
    reserve.hold()
    till = app.Till(dev, root, BUFFERS)
    till.set_clock(T0 + 90)
    till.close()
    del till
    assert dev["clock"].now() == T0 + 90
    ev = [r[J.K_BODY] for r in records(root, J.KIND_EVENT)]
    assert {R.E_TYPE: R.EV_CLOCK_SET, R.E_DETAIL: [T0, T0 + 90]} in ev


def test_unprovisioned_till_is_refused_clearly():
    root = support.tmpdir()
    err = support.raises(app.NotProvisioned, app.Till, devices(root, []), root)
    assert "kassa flash" in str(err)
