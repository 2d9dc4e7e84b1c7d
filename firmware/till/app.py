# The till's main loop: the board's devices, the journal, the HO snapshot and the
# sale engine, run as asyncio tasks that never block one another.
#
#   inputs   keypad and scanner -> engine events -> actions (print, drawer,
#            display); printer state changes -> engine and display
#   printer  the printer driver's own task: status checks, queue, paced writes
#   ticks    once a second: engine tick (idle lock, offline state, retention),
#            the hardware watchdog fed
#   link     the gateway's link (till/link, docs/link.md): bytes between the
#            board's transport and the link server, a few frames per pass;
#            what it changes (PROCESSED, the clock, HO's data) goes to the
#            engine as events, and HO's data only between sales
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
import os
import sys

import till
from till import reserve
from till.drivers import periph
from till.formats import escpos
from till.formats import journal as J
from till.formats.durable import exists
from till.formats.snapshot import SnapshotError, SnapshotStore
from till.pos import receipt
from till.pos.engine import Engine, describe_exception
# The link's code and the snapshot installer's are loaded here with the rest
# of the till's, into a heap not yet cut up by the snapshot's tables, the
# journal's recovery and the engine's replay: loaded after those, their
# classes found no block of 600-750 bytes at some boots at 192K.
from till.link.server import LinkServer
from till.formats import snapshot_install  # noqa: F401 - kept loaded (Till.__init__)

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

LOGO_FILE = "logo.ras"  # in the snapshot root: HO's logo, printer-ready
_INPUT_MS = 10
_TICK_MS = 1000
_RESTART_MS = 500
_LINK_BUSY_MS = 2  # between passes while frames flow
_LINK_IDLE_MS = 20  # between passes while the line is quiet
_LINK_WAIT_MS = 250  # between looks for a gateway while none is connected
_LINK_READS = 4  # reads per pass (of the reserved read buffer): bounded work
_ONLINE_MS = 60000  # the gateway is "online" while it asked within this
_LINK_WINDOW = 4  # frames in flight: what reserve.LINK_BYTES holds
_LOGO_PREFIX = b"\x1b@\x1ba\x01"  # ESC @ (reset), ESC a 1 (centre) before the logo
# After mpremote broke in on an ESP32, its watchdog (which cannot be stopped)
# waits this long before it restarts the till: time for a deploy, and a till
# left at the REPL sells again within the hour.
_MAINTENANCE_MS = const(3600000)


class NotProvisioned(Exception):
    pass


async def sleep_ms(ms):
    if hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(ms)
    else:
        await asyncio.sleep(ms / 1000)


def read_identity(root):
    # Written by `kassa flash`; its format is in identity.py (let go after the
    # boot: reserve.BOOT_ONLY).
    from till.formats import identity

    try:
        return identity.read(root + "/" + identity.IDENTITY_FILE)
    except identity.IdentityError as exc:  # missing or damaged: the message says which
        raise NotProvisioned(str(exc))


class Till:
    """One till: build with the board's device dict, then `await till.run()`."""

    def __init__(self, dev, root=".", buffers=None, link_buffer=None):
        self.dev = dev
        self.root = root
        self.printer = dev["printer"]
        self.display = dev["display"]
        self.profile = dev.get("profile") or {}
        self.stopping = False
        self._later = []  # events for the engine found while carrying out actions
        till_id, key = read_identity(root)
        # What only the boot needed is let go before the till's long-lived
        # objects are placed, so they take its holes (till/reserve.py).
        reserve.unload(reserve.BOOT_ONLY)
        gc.collect()
        self.till_id = till_id
        clock = dev["clock"]
        jc = dev["journal"]
        # The record buffer also lays out receipts (till/reserve.py says why
        # that is safe); the job buffer is the printer's.
        record_buf, job_buf = buffers or reserve.buffers()
        self._link_port = None
        self._link_pending = None
        self._link_seen_ms = None
        self.link_pass_max_ms = 0
        self._link_conns = 0
        # The record buffer is free while a snapshot opens: its meta is read
        # through it.
        self.store = SnapshotStore(dev["snapshot_dir"], scratch=record_buf,
                                   scratch_bytes=reserve.RECORD_BYTES)
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
        # What the recovery did that a person should know (a refused boot
        # checkpoint, a torn record cut): on the console/log, never silent.
        for notice in self.journal.notices:
            print("JOURNAL", notice)
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
        # The link to the store's gateway: its frame buffers are one block
        # main.py reserved first thing, and its code and state are loaded
        # now and kept all day. Loaded only when a gateway connected, it
        # found no room after a day of sales had cut the heap into small
        # holes (an object of 30 attributes needs 592 bytes in one piece),
        # and a till that cannot sync loses nothing but reaches HO never.
        self.link = None
        self._record_buf = record_buf
        if dev.get("link"):
            try:
                # HO's packages come over the link: the snapshot installer is
                # kept loaded with it (imported above), for the same reason.
                # The journal is read through the record buffer, between the
                # engine's events (till/link/server.py).
                self.link = LinkServer(self, root, read_buf=record_buf, window=_LINK_WINDOW,
                                       mem=link_buffer or reserve.link_buffer())
            except MemoryError:
                self.link = None
                print("LINK no memory for the link: this till cannot sync until it restarts")
        if snapshot is not None and self.engine.config_hash != snapshot.hash:
            # A power cut between an install and its record left a snapshot
            # in force that the journal does not name: the engine records it.
            self.engine.handle(("config", snapshot.journal_info(), True))
        reserve.keep_spare()

    # ---- actions -----------------------------------------------------------

    @property
    def crashes(self):
        return self.engine.crashes

    def handle(self, event):
        self.execute(self.engine.handle(event))
        while self._later:
            self.execute(self.engine.handle(self._later.pop(0)))

    def execute(self, actions):
        recorded = False
        for action in actions:
            kind = action[0]
            if kind == "record":
                recorded = True
            elif kind == "print":
                self.print_job(action[1])
            elif kind == "drawer":
                self.printer.open_drawer()
            elif kind == "display":
                self.display.show([action[1], action[2]])
            elif kind == "wipe_credentials":
                self.store.discard()
            # "beep" (no buzzer wired) needs nothing here.
        if recorded:
            # A record ends a step (a sale, a sign-on): its garbage goes now,
            # so what lives on after it (the receipt in the printer's buffer,
            # the engine's state) is placed low in the heap beside the rest
            # instead of among the step's dead objects, which would leave the
            # free space in holes too small for a dict's table by the end of
            # a day (measured on the 64-bit port after 30 sales: 20 KB free,
            # no 272-byte block).
            gc.collect()

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
            logo = self.dev["snapshot_dir"] + "/" + LOGO_FILE
            if self.profile.get("raster_image", True) and exists(logo):
                # The logo streams from flash in the printer task, never whole in RAM.
                parts = [_LOGO_PREFIX, ("raster", logo), body]
            else:
                parts = [body]
            # copy=True: the layout buffer is reused for the next receipt; the
            # printer keeps this one in its job buffer or its flash queue, or
            # reports it dropped (taken up by the input loop); None: no room.
            taken = self.printer.print_job(parts, copy=True, ref=ref) is not None
        except MemoryError:
            taken = False
        if not taken:
            # The sale is already in the journal; only its paper is at stake:
            # the engine lays it out again from its record a moment later.
            self._later.append(("print_failed", ref, bool(job.get("copy"))))

    # ---- HO data ------------------------------------------------------------

    def apply_snapshot(self, stream):
        """Install an HO snapshot or delta package, journal it, and hand it to
        the engine (which switches after the sale in progress). A bad package
        raises SnapshotError and leaves the old snapshot in force."""
        reserve.use_spare()
        gc.collect()
        try:
            info = self.store.install(stream)
        except MemoryError:
            if self.store.current is not None:
                # The old snapshot stays in force (installs are atomic); a
                # restart, with its whole heap, installs the package.
                raise SnapshotError("Not enough memory to install HO's data now: "
                                    "restart the till, then sync again")
            # The new snapshot is in force on flash but could not be read
            # into memory: the till sells nothing from the old one (its files
            # are gone) and asks for the restart that opens the new one.
            self.handle(("snapshot_lost",))
            raise SnapshotError("HO's data was installed but the till needs a restart "
                                "to use it: restart the till")
        self.handle(("config", info, False))
        self.handle(("snapshot", self.store.current))
        return info

    def set_clock(self, unix):
        """Set the till's clock (the gateway does at every sync); journaled."""
        old = self.clock.now()
        self.clock.set(unix)
        self.handle(("clock_set", old, unix))

    # ---- the link's requests (till/link/server.py) --------------------------

    def link_hello(self):
        snap = self.engine.snap
        return {"fw": till.FIRMWARE, "snapshot": snap.version if snap is not None else None,
                "clock": self.clock.now(), "printer": self.printer.state}

    def link_processed(self, seq):
        self.handle(("processed", seq))  # the engine writes the journal
        return self.journal.processed_seq

    def link_clock(self, epoch):
        old = self.clock.now()
        self.set_clock(epoch)
        return old

    def link_busy(self):
        if self.engine.sale is not None:
            return "A sale is in progress on the till: HO's data applies after it"
        return None

    def link_apply(self, kind, path):
        """Install a received package file whose hash the link checked."""
        if kind == "logo":
            from till.formats import rasterfile

            try:
                with open(path, "rb") as f:
                    rasterfile.read_header(f, "The logo")
            except ValueError as exc:  # RasterFileError
                return False, str(exc), None
            # One rename: the old logo or the new one, whole, at a power cut.
            os.rename(path, self.dev["snapshot_dir"] + "/" + LOGO_FILE)
            snap = self.engine.snap
            return True, "Logo in force", snap.version if snap is not None else None
        try:
            with open(path, "rb") as f:
                info = self.apply_snapshot(f)
        except SnapshotError as exc:
            return False, str(exc), None
        return True, "Snapshot %d in force" % info["version"], info["version"]

    def link_status(self):
        e = self.engine
        j = self.journal.status()
        ch = self.link.channel
        return {"online": e.link_up, "last_sync": e.last_sync, "sale": e.sale is not None,
                "offline": e.offline_reason(), "printer": self.printer.state,
                "head": j["last_seq"], "processed": j["processed_seq"],
                "free": j["free_bytes"], "freeable": j["freeable"], "space": j["space"], "problems": len(j["problems"]),
                "crashes": e.crashes, "retransmits": ch.retransmits,
                "bad_frames": ch.decoder.bad_frames, "pass_max_ms": self.link_pass_max_ms}

    # ---- tasks -------------------------------------------------------------

    async def inputs(self):
        keypad = self.dev["keypad"]
        scanner = self.dev["scanner"]
        sim = self.dev.get("sim_input")
        while not self.stopping:
            # mpremote broke in and no sale is open: the port goes to the REPL
            # once the printer is done (_hand_over); a new sale would hold it up.
            closing = getattr(self._link_port, "handoff", False) and self.engine.sale is None
            for key in keypad.poll():
                if key == "FEED":  # paper feed is the printer's, not a sale's
                    self.printer.feed()
                elif closing:
                    self.display.show(["Maintenance:", "restart the till"])
                else:
                    self.handle(("key", key))
            for kind, value in scanner.poll():
                if closing:
                    self.display.show(["Maintenance:", "restart the till"])
                elif kind == "code":
                    self.handle(("scan", value))
                else:
                    self.display.show(["Scanner:", value])
            self.printer_events()
            if sim is not None:
                sim.settle()  # the sim's measurements, after what came before them
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
        reserve.keep_spare()  # after an install, once there is room again

    async def link_task(self):
        """Bytes between the transport and the link server, a bounded amount
        per pass, so a key press waits at most one pass behind a sync."""
        while self._link_port is None and not self.stopping:
            try:
                self._link_port = _open_link(self.dev["link"])
            except OSError as exc:
                # A port another program holds is not a crash to journal
                # every half second: the till sells on, and tries again.
                print("LINK cannot open (%s): trying again in a minute" % (exc,))
                await sleep_ms(_ONLINE_MS)
                continue
            port = getattr(self._link_port, "port", None)
            if port is not None:
                print("LINK listening on port %d" % port)
        while not self.stopping:
            t0 = periph.ticks_ms()
            busy = self.link_pass()
            # The longest pass is the longest a key press waited behind the link.
            took = periph.ticks_diff(periph.ticks_ms(), t0)
            if took > self.link_pass_max_ms:
                self.link_pass_max_ms = took
            await sleep_ms(_LINK_BUSY_MS if busy else
                           _LINK_IDLE_MS if self._link_port.connected() else _LINK_WAIT_MS)

    def link_pass(self):
        """One pass of the link; True while frames flow."""
        port = self._link_port
        if getattr(port, "handoff", False):
            self._hand_over(False)
            return False
        now = periph.ticks_ms()
        if not port.connected():
            self._link_pending = None  # for a gateway that left
            self._link_state(now)
            return False
        server = self.link
        conns = getattr(port, "connections", 0)
        if conns != self._link_conns:
            # A new connection is a new gateway: its RESET starts afresh even
            # if it happens to pick the session byte the last one had.
            self._link_conns = conns
            server.channel.session = 0
        rx = server.channel.spare
        asked = server.requests
        moved = False
        for _ in range(_LINK_READS):
            n = port.readinto(rx)
            if not n:
                break
            server.feed(rx, now, n)
            moved = True
        if getattr(port, "handoff", False):
            self._hand_over(True)
            return False
        pending = self._link_pending
        for _ in range(server.channel.window + 2):
            if pending is None:
                pending = server.next_output(now)
                if pending is None:
                    break
            k = port.write(pending)
            moved = True
            if k < len(pending):
                # The transport is full: the rest goes next pass (the channel
                # does not reuse its wire buffer until this is out).
                pending = pending[k:]
                break
            pending = None
        self._link_pending = pending
        if server.requests != asked:
            self._link_seen_ms = now
        self._link_state(now)
        return moved or pending is not None or server.busy()

    def _hand_over(self, first):
        """mpremote broke in on the port the link shares with the REPL
        (drivers/linkserial.py StdioLink). Every journal write has completed
        (the engine appends within handle(), never across a pass); the REPL
        gets the port once no sale is open and the printer has sent what it
        was sending: the run ends, close() gives Ctrl-C back, main() returns
        to the REPL. An open sale is never journaled, so the handover waits
        for the cashier to finish it (mpremote may give up meanwhile: run it
        again). Until then the link reads nothing: the rest is the REPL's."""
        if self.engine.sale is not None:
            if first:
                # The engine's message, shown until the cashier's next key: a
                # redraw (the next second's tick) would hide a bare show().
                self.engine.message = ("Maintenance:", "finish the sale")
                self.display.show(list(self.engine.message))
            return
        if self.printer.busy() and self.printer.problem is None:
            return  # a receipt on its way; one held by a problem waits on flash
        self.display.show(["Maintenance:", "restart the till"])
        watchdog = self.dev.get("watchdog")
        if watchdog:
            try:
                watchdog(_MAINTENANCE_MS)
            except (ValueError, OSError):  # a watchdog that cannot wait so long
                pass
        self.stopping = True

    def _link_state(self, now):
        seen = self._link_seen_ms
        up = seen is not None and periph.ticks_diff(now, seen) < _ONLINE_MS
        if up != self.engine.link_up:
            self.handle(("link", up, None))

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
        """Run until `until()` is true (a test or demo), else for ever or
        until the link hands its port to the REPL (_hand_over)."""
        self.execute(self.engine.start())
        if self._boot_problem:
            self.display.show(["Snapshot damaged", "Sync with HO"])
        tasks = [asyncio.create_task(self.supervise("inputs", self.inputs)),
                 asyncio.create_task(self.supervise("printer", self.printer.run)),
                 asyncio.create_task(self.supervise("ticks", self.ticks))]
        if self.link is not None:
            tasks.append(asyncio.create_task(self.supervise("link", self.link_task)))
        # A board runs until its link hands the port to the REPL (stopping).
        while not (self.stopping or (until is not None and until())):
            await sleep_ms(_INPUT_MS if until is not None else _LINK_WAIT_MS)
        self.stopping = True
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass

    def close(self):
        if self._link_port is not None:
            self._link_port.close()
            self._link_port = None
        self.journal.close()
        self.store.close()


def _open_link(desc):
    # Only the transport this board uses is imported: the heap pays for each module.
    if desc.get("kind") == "tcp":
        from till.drivers.linktcp import TcpLink

        return TcpLink(desc.get("host", "0.0.0.0"), desc["port"])
    from till.drivers.linkserial import open_serial

    return open_serial(desc)


def _job(parts):
    # A receipt without a logo goes to the printer as plain bytes.
    return parts[0] if len(parts) == 1 else parts


def _log_exception(exc):
    try:
        sys.print_exception(exc)  # MicroPython
    except AttributeError:
        import traceback

        traceback.print_exception(exc)


def main(board, root=".", buffers=None, link_buffer=None):
    """Boot: build the board's devices, open the till, run. A board runs for
    ever, or returns to the REPL when mpremote broke in on the link's port;
    the sim board stops when its script (or terminal input) is over."""
    from till.formats import provision

    try:
        provision.apply(board, root)  # the printer chosen at `kassa flash --printer`
    except provision.ProvisionError as exc:
        print(exc)  # the board file's printer profile stands; selling goes on
    provision = None
    dev = board.build()
    try:
        till = Till(dev, root, buffers, link_buffer)
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
