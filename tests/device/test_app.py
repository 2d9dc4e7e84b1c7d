# micropython-romfs
# The main loop (till.app) with recording fakes for the devices: a sale goes
# keypad -> engine -> journal -> printer and drawer; a crashing task is journaled
# and restarted; the watchdog is fed; the logo streams from flash; a printer
# problem reaches the display. It loads nearly all the firmware, so under
# MicroPython it runs from ROMFS with a Pico W's 192K of heap beside the image
# (tests/conftest.py).
import asyncio
import io

import support
from engine_fixture import KEY, PINS, T0, TILL, items, meta
from till import app, reserve
from till.formats import cbor, rasterfile
from till.formats import journal as J
from till.formats import records as R
from till.formats.catalog_writer import build_dir, write_full_package
from till.formats.snapshot import SnapshotStore


# Reserved once, as main.py does at boot: each test's till reuses them.
BUFFERS = reserve.buffers()


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


class FakePrinter:
    def __init__(self):
        self.jobs = []
        self.events = []  # print and drawer, in order
        self.state = "ok"
        self.lines = None
        self.fed = 0

    def print_job(self, job):
        self.jobs.append(job)
        self.events.append("print")

    def open_drawer(self):
        self.events.append("drawer")

    def feed(self, lines=3):
        self.fed += 1

    def busy(self):
        return False

    async def run(self):
        while True:
            await app.sleep_ms(5)


class FakeDisplay:
    def __init__(self):
        self.shown = []
        self.cashier = self
        self.cols = 20

    def show(self, lines, customer_lines=None):
        self.shown.append(tuple(lines))


class FakeClock:
    def now(self):
        return T0


class FakeWdt:
    feeds = 0

    def feed(self):
        FakeWdt.feeds += 1


def till_root(logo=False):
    root = support.tmpdir()
    with open(root + "/identity", "wb") as f:
        f.write(cbor.dumps({1: TILL, 2: KEY}))
    built = root + "/built"
    import os

    os.mkdir(built)
    build_dir(built, meta(), items())
    pkg = io.BytesIO()
    write_full_package(built, pkg)
    store = SnapshotStore(root + "/snapshot")
    store.open()
    pkg.seek(0)
    store.install(pkg)
    store.close()
    if logo:
        support.write_file(root + "/snapshot/" + app.LOGO_FILE,
                           rasterfile.header(1, 2) + b"\xff\x81")
    return root


def devices(root, keys, scanner=None, watchdog=None):
    return {"printer": FakePrinter(), "display": FakeDisplay(), "keypad": FakeKeypad(keys),
            "scanner": scanner or FakeScanner(), "clock": FakeClock(),
            "profile": {"columns": {"a": 42}, "cut": {"partial": True}, "qr_native": True},
            "journal": {"dir": root + "/journal"}, "snapshot_dir": root + "/snapshot",
            "watchdog": watchdog}


SALE_KEYS = ["1", "SIGN"] + list(PINS[1]) + ["TOTAL", "7", "PLU", "5", "0", "0", "CASH"]


def run(till, until, limit_ms=5000):
    state = {"waited": 0}

    def done():
        state["waited"] += 10
        return until() or state["waited"] > limit_ms

    asyncio.run(till.run(done))
    till.close()


def records(root, kind=None):
    j = J.Journal(root + "/journal", TILL, KEY)
    out = [cbor.loads(raw) for _, raw in j.records_after(0)]
    j.close()
    return [r for r in out if kind is None or r[J.K_KIND] == kind]


def test_a_sale_goes_to_the_journal_then_printer_then_drawer():
    root = till_root()
    dev = devices(root, SALE_KEYS)
    till = app.Till(dev, root, BUFFERS)
    run(till, lambda: dev["printer"].events)
    sales = records(root, J.KIND_SALE)
    assert len(sales) == 1 and sales[0][J.K_BODY][R.S_TOTAL] == 289
    assert dev["printer"].events == ["print", "drawer"], dev["printer"].events
    job = dev["printer"].jobs[0]
    assert isinstance(job, (bytes, bytearray)) and b"Brot 500 g" in job
    assert b"KASSA1|" + TILL.encode() + b"|%d|" % sales[0][J.K_SEQ] in job
    # 5.00 given for 2.89, cash rounded to 0.05: change 2.10
    assert ("Change          2.10", "Total           2.89") in dev["display"].shown


def test_a_crashing_task_is_journaled_and_restarted():
    root = till_root()
    scanner = FakeScanner(["4006381333931"], fail_first=True)
    dev = devices(root, SALE_KEYS[:7], scanner=scanner)
    till = app.Till(dev, root, BUFFERS)
    run(till, lambda: till.crashes and not scanner.codes and till.engine.sale is not None)
    assert till.crashes == 1
    events = [r[J.K_BODY] for r in records(root, J.KIND_EVENT)]
    crash = [e for e in events if e[R.E_TYPE] == R.EV_CRASH]
    assert crash and "inputs: RuntimeError: UART framing error" in crash[0][R.E_DETAIL]
    # After the restart the scan was taken: the sale in progress holds the item.
    assert till.engine.sale is not None


def test_the_watchdog_is_fed():
    root = till_root()
    FakeWdt.feeds = 0
    dev = devices(root, [], watchdog=lambda: FakeWdt())
    till = app.Till(dev, root, BUFFERS)
    run(till, lambda: FakeWdt.feeds >= 2, limit_ms=4000)
    assert FakeWdt.feeds >= 2


def test_the_logo_streams_from_flash_and_feed_goes_to_the_printer():
    root = till_root(logo=True)
    dev = devices(root, ["FEED"] + SALE_KEYS)
    till = app.Till(dev, root, BUFFERS)
    run(till, lambda: dev["printer"].events)
    job = dev["printer"].jobs[0]
    assert isinstance(job, list) and job[1] == ("raster", root + "/snapshot/" + app.LOGO_FILE)
    assert dev["printer"].fed == 1


def test_a_printer_problem_is_shown_to_the_cashier():
    root = till_root()
    dev = devices(root, [])
    till = app.Till(dev, root, BUFFERS)
    dev["printer"].state = "paper_out"
    dev["printer"].lines = ("Paper out", "Replace the roll")
    till.watch_printer()
    assert dev["display"].shown[-1] == ("Paper out", "Replace the roll")
    assert till.engine.printer == "paper_out"
    till.close()


def test_unprovisioned_till_is_refused_clearly():
    root = support.tmpdir()
    err = support.raises(app.NotProvisioned, app.Till, devices(root, []), root)
    assert "kassa flash" in str(err)
