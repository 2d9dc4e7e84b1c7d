# The till's main loop: the board's devices, the journal, the HO snapshot and the
# sale engine, run as asyncio tasks that never block one another.
#
#   inputs   keypad and scanner -> engine events -> actions (print, drawer,
#            display); printer state changes -> engine and display
#   printer  the printer driver's own task: status checks, queue, paced writes
#   ticks    once a second: engine tick (idle lock, offline state, retention),
#            the hardware watchdog fed
#
# The engine is the journal's only writer: it appends every record itself and
# returns print and drawer actions only after the append returned, so whatever
# this loop does afterwards (a crash, a dead printer, a power cut) a sale is
# either in the journal or was never made. What this loop learns -- HO's data
# installed, a task crashed, the clock set, a receipt the printer queue could
# not keep -- it hands to the engine as an event, which journals it.
# A task that raises is journaled and restarted; if the loop itself hangs, the
# watchdog resets the board and the journal recovers at boot.
#
# Memory: a till runs for days in a fixed heap, so nothing here grows with the
# sales. Receipts are laid out in one buffer reserved at boot and handed to the
# printer, which copies them into its own reserved job buffer or its flash
# queue (till/drivers/printer.py); events are drained on every pass.
import asyncio
import gc
import sys

from till import reserve
from till.drivers import periph
from till.formats import escpos, identity, provision
from till.formats import journal as J
from till.formats.durable import exists
from till.formats.snapshot import SnapshotError, SnapshotStore
from till.pos import receipt
from till.pos.engine import Engine, describe_exception

IDENTITY_FILE = identity.IDENTITY_FILE  # written by `kassa flash`; format in identity.py
LOGO_FILE = "logo.ras"  # in the snapshot root: HO's logo, printer-ready
_INPUT_MS = 10
_TICK_MS = 1000
_RESTART_MS = 500
_LOGO_PREFIX = b"\x1b@\x1ba\x01"  # ESC @ (reset), ESC a 1 (centre) before the logo


class NotProvisioned(Exception):
    pass


async def sleep_ms(ms):
    if hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(ms)
    else:
        await asyncio.sleep(ms / 1000)


def read_identity(path):
    try:
        return identity.read(path)
    except identity.IdentityError as exc:  # missing or damaged: the message says which
        raise NotProvisioned(str(exc))


class Till:
    """One till: build with the board's device dict, then `await till.run()`."""

    def __init__(self, dev, root=".", buffers=None):
        self.dev = dev
        self.printer = dev["printer"]
        self.display = dev["display"]
        self.profile = dev.get("profile") or {}
        self.stopping = False
        self._later = []  # events for the engine found while carrying out actions
        till_id, key = read_identity(root + "/" + IDENTITY_FILE)
        self.till_id = till_id
        clock = dev["clock"]
        jc = dev["journal"]
        # The record buffer also lays out receipts (till/reserve.py says why
        # that is safe); the job buffer is the printer's.
        record_buf, job_buf = buffers or reserve.buffers()
        # The record buffer is free while a snapshot opens: its meta is read
        # through it.
        self.store = SnapshotStore(dev["snapshot_dir"], scratch=record_buf)
        try:
            snapshot = self.store.open()
        except SnapshotError as exc:
            # A damaged snapshot must not stop the till from booting: it shows
            # why and waits for HO's data (the journal is untouched).
            self._boot_problem = str(exc)
            print("No HO data:", exc)  # the reason, on the console/log
            snapshot = None
        else:
            self._boot_problem = None
        # The journal after the snapshot: its recovery leaves the heap in
        # small holes, and the snapshot's long-lived tables (its meta is one
        # dict of a few dozen keys) need whole blocks.
        self.journal = J.Journal(jc["dir"], till_id, key, clock=clock.now,
                                 segment_bytes=jc.get("segment_bytes", 16384),
                                 low_free_bytes=jc.get("low_free_bytes", 262144),
                                 full_free_bytes=jc.get("full_free_bytes", 24576),
                                 encode_buffer=record_buf)
        cols = getattr(self.display.cashier, "cols", 20)
        self.clock = clock
        # Booted but for the engine, whose state (dozens of attributes, the
        # sets its replay of the journal fills) needs blocks that the holes
        # left by the imports and the recovery may not have: the held room is
        # given back now, and what the engine does not keep of it stays one
        # block for the sales (till/reserve.py).
        reserve.release()
        self.engine = Engine(self.journal, snapshot, till_id, clock.now, display_cols=cols)
        self._receipt_buf = escpos.EscPos(buffer=record_buf)
        self.printer.use_buffer(job_buf)
        if snapshot is not None and self.engine.config_hash != snapshot.hash:
            # A power cut between an install and its record left a snapshot
            # in force that the journal does not name: the engine records it.
            self.engine.handle(("config", snapshot.journal_info(), True))

    # ---- actions -----------------------------------------------------------

    @property
    def crashes(self):
        return self.engine.crashes

    def handle(self, event):
        self.execute(self.engine.handle(event))
        while self._later:
            self.execute(self.engine.handle(self._later.pop(0)))

    def execute(self, actions):
        for action in actions:
            kind = action[0]
            if kind == "print":
                self.print_job(action[1])
            elif kind == "drawer":
                self.printer.open_drawer()
            elif kind == "display":
                self.display.show([action[1], action[2]])
            elif kind == "wipe_credentials":
                self.store.discard()
            # "record" (already durable) and "beep" (no buzzer wired) need nothing here.

    def _render(self, job):
        """The receipt's bytes, in the buffer reserved at boot (reused; the
        journal's encode buffer, free between appends)."""
        out = self._receipt_buf
        out.clear()
        receipt.render(job, out, self.profile)
        return out.collected()

    def print_job(self, job):
        ref = job.get("receipt")
        try:
            body = self._render(job)
        except MemoryError:
            # The sale is already in the journal; only its paper is at stake.
            self._later.append(("not_printed", ref))
            return
        logo = self.dev["snapshot_dir"] + "/" + LOGO_FILE
        if self.profile.get("raster_image", True) and exists(logo):
            # The logo streams from flash in the printer task, never whole in RAM.
            parts = [_LOGO_PREFIX, ("raster", logo), body]
        else:
            parts = [body]
        # copy=True: the layout buffer is reused for the next receipt; the
        # printer keeps this one in its job buffer or its flash queue, or
        # reports it dropped (taken up by the input loop).
        self.printer.print_job(parts, copy=True, ref=ref)

    # ---- HO data ------------------------------------------------------------

    def apply_snapshot(self, stream):
        """Install an HO snapshot or delta package, journal it, and hand it to
        the engine (which switches after the sale in progress). A bad package
        raises SnapshotError and leaves the old snapshot in force."""
        try:
            info = self.store.install(stream)
        except MemoryError:
            # The old snapshot stays in force (installs are atomic); a restart,
            # with its whole heap, installs the package.
            gc.collect()
            raise SnapshotError("Not enough memory to install HO's data now: "
                                "restart the till, then sync again")
        self.handle(("config", info, False))
        self.handle(("snapshot", self.store.current))
        return info

    def set_clock(self, unix):
        """Set the till's clock (the gateway does at every sync); journaled."""
        old = self.clock.now()
        self.clock.set(unix)
        self.handle(("clock_set", old, unix))

    # ---- tasks -------------------------------------------------------------

    async def inputs(self):
        keypad = self.dev["keypad"]
        scanner = self.dev["scanner"]
        while not self.stopping:
            for key in keypad.poll():
                if key == "FEED":  # paper feed is the printer's, not a sale's
                    self.printer.feed()
                else:
                    self.handle(("key", key))
            for kind, value in scanner.poll():
                if kind == "code":
                    self.handle(("scan", value))
                else:
                    self.display.show(["Scanner:", value])
            self.printer_events()
            await sleep_ms(_INPUT_MS)

    def printer_events(self):
        """What the printer reported since the last pass: a change of state
        goes to the engine, and on a problem the display says what to do (the
        sale is already safe in the journal); a receipt the queue could not
        keep is journaled by the engine and the cashier told how to reprint."""
        changed = False
        for kind, arg in self.printer.take_events():
            if kind == "dropped":
                self.handle(("not_printed", arg[1]))
            elif kind != "printed":
                changed = True
        if changed:
            self.handle(("printer", self.printer.state))
            lines = self.printer.lines
            if lines:
                self.display.show(list(lines))

    async def ticks(self):
        wdt = None
        if self.dev.get("watchdog"):
            wdt = self.dev["watchdog"]()
        while not self.stopping:
            if wdt is not None:
                wdt.feed()
            self.tick()
            await sleep_ms(_TICK_MS)

    def tick(self):
        self.handle(("tick",))

    async def supervise(self, name, task):
        """Run a task for ever; a crash is journaled and the task restarted."""
        while not self.stopping:
            try:
                await task()
                return
            except Exception as exc:  # noqa: BLE001 - the till must keep selling
                _log_exception(exc)
                self.handle(("crash", name, describe_exception(exc)))
                await sleep_ms(_RESTART_MS)

    async def run(self, until=None):
        """Run until `until()` is true (a test or demo), else for ever."""
        self.execute(self.engine.start())
        if self._boot_problem:
            self.display.show(["Snapshot damaged", "Sync with HO"])
        tasks = [asyncio.create_task(self.supervise("inputs", self.inputs)),
                 asyncio.create_task(self.supervise("printer", self.printer.run)),
                 asyncio.create_task(self.supervise("ticks", self.ticks))]
        if until is None:
            await asyncio.gather(*tasks)
            return
        while not until():
            await sleep_ms(_INPUT_MS)
        self.stopping = True
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass

    def close(self):
        self.journal.close()
        self.store.close()


def _job(parts):
    # A receipt without a logo goes to the printer as plain bytes.
    return parts[0] if len(parts) == 1 else parts


def _log_exception(exc):
    try:
        sys.print_exception(exc)  # MicroPython
    except AttributeError:
        import traceback

        traceback.print_exception(exc)


def main(board, root=".", buffers=None):
    """Boot: build the board's devices, open the till, run. A board runs for
    ever; the sim board stops when its script (or terminal input) is over."""
    try:
        provision.apply(board, root)  # the printer chosen at `kassa flash --printer`
    except provision.ProvisionError as exc:
        print(exc)  # the board file's printer profile stands; selling goes on
    dev = board.build()
    try:
        till = Till(dev, root, buffers)
    except NotProvisioned as exc:
        dev["display"].show(["Not provisioned", "Run kassa flash"])
        print(exc)
        return
    sim = dev.get("sim_input")
    if sim is not None:
        sim.on_clock = till.set_clock  # the script's `clock`: what a sync does

    printer = till.printer
    ended_at = []  # when input ended with the printer in trouble

    def sim_over():
        if not sim.finished:
            return False
        if not printer.busy():
            return True
        if printer.problem is None:
            return False  # printing: let it finish
        # Input is over and the printer is out of paper, off or open: nobody
        # will fix it now. Give it one more retry, then stop; the flash queue
        # keeps the receipts for the next run (before, the sim waited forever).
        if not ended_at:
            ended_at.append(periph.ticks_ms())
        return periph.ticks_diff(periph.ticks_ms(), ended_at[0]) > printer.retry_ms + 500

    until = sim_over if sim is not None else None
    try:
        asyncio.run(till.run(until))
    except KeyboardInterrupt:
        # Ctrl-C (a person at the sim, or mpremote breaking in on a board):
        # every sale is durable in the journal before its receipt, so stopping
        # here loses nothing; say so instead of a traceback.
        print("Stopped (Ctrl-C). Every sale is in the journal.")
    finally:
        till.close()
    if sim is not None and printer.busy():
        print("Input ended: %d receipt(s) wait in the print queue. %s. They print at the "
              "next run once the printer is fixed." % (printer.queued(),
                                                      printer.message or "Printer busy"))
