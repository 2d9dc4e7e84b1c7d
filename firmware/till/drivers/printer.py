# The receipt printer driver: print jobs, paper status, a queue that outlives a
# restart, and the drawer pulse -- without ever holding up the main loop.
#
# The driver calls `write(bytes)` (which must return how many bytes it took) and
# `readinto(buf)`/`read(n)` for status replies on the stream it is given: a
# machine.UART (timeout=0), a serial.Serial (timeout=0), the Pi's python-escpos
# USB adapter, the sim board's printer file. It is a state machine advanced by
# step(), which does at most one small piece of work (one chunk written, one
# status byte looked for, one queue file written) and says how long the caller
# may wait before the next step; run() is that loop as an asyncio task.
#
# A receipt job is checked first: DLE EOT 4 (paper sensors) then DLE EOT 2
# (offline cause: cover open, paper end, error), each answered by one byte within
# status_timeout_ms or the printer counts as not answering. On any problem the
# receipt stays queued -- the sale itself is already in the journal -- and is
# written to the queue directory so a restart does not lose it; the problem is
# offered to the display in the cashier's words; the check is repeated every
# retry_ms (or at once on retry()), and the job prints when the printer is back.
# A job leaves the queue (and its file is removed) only after its last byte was
# written: it prints once. A power cut while it prints makes it print again
# after the restart -- a duplicate receipt, never a lost one.
#
# Memory stays fixed however far the printer falls behind: a receipt is kept in
# RAM only in the one job buffer given at boot (use_buffer(); the heap is too
# fragmented later for a receipt-sized block); a receipt that arrives while
# that buffer is taken goes straight to the flash queue, and a receipt waiting
# in RAM behind a printer problem is moved to flash too. A receipt on flash
# costs RAM only its job id and reference, in two arrays of max_queued slots
# made at start (a Job object with its parts and path is ~500 bytes of heap on
# a 64-bit port: twenty of them were half of what a till has free); its Job is
# made again when it is sent. Beyond max_queued
# waiting receipts the oldest is dropped with a "dropped" event naming its
# reference (the journal sequence of its sale): the till tells the cashier and
# journals it, and the receipt is reprinted from its journal record.
#
# What happened reaches the main loop as events (take_events(), drained on
# every pass of its input loop); at most _MAX_EVENTS wait, the oldest go first,
# so a loop that stops reading cannot make the driver grow.
#
# Drawer pulses and paper feeds are control jobs: sent when asked, before any
# waiting receipt, without a status check (a drawer opens with the paper out),
# never written to flash (a drawer must not spring open after a restart). They
# never cut into a job being sent: a pulse in the middle of raster data would be
# printed as dots.
import os
from array import array

from till.formats import durable, escpos, rasterfile
from till.drivers import periph
from till.drivers.periph import read_available, ticks_add, ticks_diff

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Problems (status()["problem"]).
PAPER_OUT = "paper_out"
COVER_OPEN = "cover_open"
NO_ANSWER = "no_answer"
PRINTER_ERROR = "error"

# What the display shows: a sentence for wide displays, two 16-character lines
# for the cashier's LCD.
MESSAGES = {
    PAPER_OUT: ("Printer: paper out - replace the roll; the receipt will print",
                "PRINTER: NO PAPER", "Replace the roll"),
    COVER_OPEN: ("Printer: cover open - close it; the receipt will print",
                 "PRINTER COVER", "Close the cover"),
    NO_ANSWER: ("Printer not answering - check power and cable; the receipt will print",
                "PRINTER OFF?", "Check power/cable"),
    PRINTER_ERROR: ("Printer error - switch it off and on; the receipt will print",
                    "PRINTER ERROR", "Switch off and on"),
}
PAPER_LOW_MESSAGE = "Printer: paper low - change the roll soon"

# Job kinds.
RECEIPT = "receipt"
CONTROL = "control"

_IDLE = const(0)
_QUERYING = const(1)
_SENDING = const(2)

# A queued receipt is a file "<job id>-<ref>.job": its parts, each a 2-byte
# big-endian length and that many bytes of printer data, or the length 0xFFFF,
# one length byte and the path of a raster file (the logo), which is streamed
# from its own file when the job prints: a waiting receipt costs flash for its
# text only, not another copy of a 7 KB logo.
_QUEUE_SUFFIX = ".job"
_QUEUE_TMP = "tmp.job"
_RASTER_REF = const(0xFFFF)
_IDLE_WAIT_MS = const(50)
_REPLY_POLL_MS = const(5)
_DRAIN_READS = const(16)
_EAGAIN = const(11)
_RASTER_FRAGMENT_ROWS = const(960)  # as python-escpos and escpos.EscPos.raster
_MAX_EVENTS = const(16)


class Job:
    """One print job. parts: bytes; ("raster", path) for a raster file made by
    `kassa image convert` (till.rasterfile: a header, then the rows), sent as
    GS v 0 with its rows streamed from flash; ("file", path) for a file of
    printer-ready bytes sent as it is; ("job", path) for a receipt in the
    flash queue (see _QUEUE_SUFFIX)."""

    def __init__(self, job_id, parts, kind=RECEIPT, path=None, ref=None):
        self.id = job_id
        self.parts = parts
        self.kind = kind
        self.path = path  # its queue file, once written to flash
        self.ref = ref  # what the caller knows it by (a receipt's journal sequence)
        self.in_buffer = False  # its bytes are in the printer's job buffer


class _FlashQueue:
    """The receipts on flash, oldest first: job ids and references (0: none)
    in two fixed arrays, so the queue never allocates however long it grows."""

    def __init__(self, capacity):
        self.ids = array("i", bytes(4 * capacity))
        self.refs = array("i", bytes(4 * capacity))
        self.n = 0

    def insert(self, job_id, ref):
        # In id order: a receipt moved to flash after newer ones went straight
        # there still prints before them. The caller keeps n < capacity.
        i = self.n
        while i > 0 and self.ids[i - 1] > job_id:
            self.ids[i] = self.ids[i - 1]
            self.refs[i] = self.refs[i - 1]
            i -= 1
        self.ids[i] = job_id
        self.refs[i] = ref or 0
        self.n += 1

    def index(self, job_id):
        for i in range(self.n):
            if self.ids[i] == job_id:
                return i
        return -1

    def pop(self, i):
        """(id, ref) of entry i, removed."""
        job_id, ref = self.ids[i], self.refs[i]
        for k in range(i, self.n - 1):
            self.ids[k] = self.ids[k + 1]
            self.refs[k] = self.refs[k + 1]
        self.n -= 1
        return job_id, ref or None


def _chunks(parts, buf, max_width_bytes):
    # The bytes of a job, piece by piece, each at most len(buf) bytes. File
    # parts are read through `buf`; a piece the caller gets must be used before
    # asking for the next. A file that is missing or not a raster file is left
    # out: a logo must never cost the receipt.
    for part in parts:
        if not isinstance(part, tuple):
            mv = memoryview(part)
            for i in range(0, len(mv), len(buf)):
                yield mv[i:i + len(buf)]
        elif part[0] == "raster":
            for piece in _raster_pieces(part[1], buf, max_width_bytes):
                yield piece
        elif part[0] == "file":
            try:
                f = open(part[1], "rb")
            except OSError:
                continue
            try:
                for piece in _file_pieces(f, buf, -1):
                    yield piece
            finally:
                f.close()
        else:
            for piece in _job_file_pieces(part[1], buf, max_width_bytes):
                yield piece


def _raster_pieces(path, buf, max_width_bytes):
    try:
        f = open(path, "rb")
    except OSError:
        return
    try:
        try:
            width_bytes, height = rasterfile.read_header(f, path)
        except (OSError, ValueError):
            return
        if width_bytes > max_width_bytes:
            return  # wider than the paper: it would print as garbage
        row = 0
        while row < height:
            rows = min(_RASTER_FRAGMENT_ROWS, height - row)
            # GS v 0 m xL xH yL yH: the same command and the same
            # fragments as escpos.EscPos.raster (the tests compare).
            yield bytes((0x1D, 0x76, 0x30, 0, width_bytes & 0xFF, width_bytes >> 8,
                         rows & 0xFF, rows >> 8))
            for piece in _file_pieces(f, buf, width_bytes * rows):
                yield piece
            row += rows
    finally:
        f.close()


def _job_file_pieces(path, buf, max_width_bytes):
    # A queue file's parts (see _QUEUE_SUFFIX); a file cut short ends the job.
    try:
        f = open(path, "rb")
    except OSError:
        return
    try:
        while True:
            head = f.read(2)
            if len(head) < 2:
                return
            n = (head[0] << 8) | head[1]
            if n != _RASTER_REF:
                for piece in _file_pieces(f, buf, n, pad=False):
                    yield piece
                continue
            k = f.read(1)
            raster = f.read(k[0]) if k else b""
            if not k or len(raster) < k[0]:
                return
            for piece in _raster_pieces(raster.decode(), buf, max_width_bytes):
                yield piece
    finally:
        f.close()


def _file_pieces(f, buf, n, pad=True):
    # n bytes of `f` (all of it when n < 0) through `buf`. A raster file cut
    # short is padded with white rows: the printer counts the bytes it was
    # promised and would swallow the next commands as dots.
    mv = memoryview(buf)
    while n != 0:
        got = f.readinto(mv if n < 0 else mv[:min(n, len(mv))])
        if not got:
            break
        yield mv[:got]
        n -= got
    while pad and n > 0:
        k = min(n, len(buf))
        yield bytes(k)
        n -= k


class Printer:
    """The receipt printer on `stream`.

    queue_dir: where queued receipts are kept as files (created if missing);
    None keeps them in RAM only. check_status: ask the printer before each
    receipt; False for a link without a way back (a write-only file, a printer
    whose replies are not wired). status_timeout_ms: how long
    one status reply may take. retry_ms: how often a printer with a problem is
    asked again. chunk_bytes: the most written in one step. bytes_per_s: the
    link's speed (baud / 10 on a UART): the next chunk is written only when the
    previous one has had time to leave, so write() never waits for a full UART
    buffer. stall_ms: a stream that takes no bytes for this long counts as a
    printer not answering. max_queued: beyond this many waiting receipts the
    oldest is dropped (it can be reprinted from the journal). max_width_bytes:
    the paper's width in dots / 8 (profile paper_width_dots); a raster part
    wider than that is left out. drawer_pin: the drawer kick connector pin
    (2 or 5) open_drawer() pulses unless told otherwise.
    """

    def __init__(self, stream, queue_dir=None, ticks_ms=None, check_status=True,
                 status_timeout_ms=500, retry_ms=3000, chunk_bytes=128, bytes_per_s=None,
                 stall_ms=5000, max_queued=20, max_width_bytes=rasterfile.MAX_WIDTH_BYTES,
                 drawer_pin=2):
        self._stream = stream
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self.check_status = check_status
        self.status_timeout_ms = status_timeout_ms
        self.retry_ms = retry_ms
        self.bytes_per_s = bytes_per_s
        self.stall_ms = stall_ms
        self.max_queued = max_queued
        self.max_width_bytes = max_width_bytes
        self.drawer_pin = drawer_pin
        self._pulse = escpos.drawer_pulse(drawer_pin)
        self.queue_dir = queue_dir
        self._buf = bytearray(chunk_bytes)
        self._spool_buf = bytearray(chunk_bytes)  # a second one: spooling while sending
        self._head = bytearray(3)  # a queue file's part header
        self._rbuf = bytearray(16)
        self._job_buf = None  # use_buffer(): where one receipt waits in RAM
        self._job_buf_user = None  # the job whose bytes it holds
        self._control = []  # control jobs, sent first
        self._queue = []  # receipt jobs in RAM, oldest first
        self._flash = _FlashQueue(max_queued + 1)  # receipt jobs on flash (+1: before a drop)
        self._next_id = 1
        self._state = _IDLE
        self._job = None  # the job being sent
        self._confirming = None  # a receipt sent, printed once the printer answers
        self._answered = False  # the printer answered since the last receipt started
        self._chunks = None
        self._pending = None  # unsent rest of the current chunk
        self._ready_at = None  # pacing: when the link can take the next chunk
        self._progress_at = 0
        self._queries = None  # status requests still to ask
        self._asked_at = 0
        self.problem = None
        self.paper_low = False
        self._retry_at = None
        self._events = []
        self.events_lost = 0  # dropped from a full event list (nobody read them)
        self.bytes_sent = 0
        if queue_dir is not None:
            self._load_queue()

    # -- what the main loop calls ---------------------------------------------

    def use_buffer(self, buf):
        """Give the printer the buffer (reserved at boot) in which one receipt
        waits in RAM; without one, print_job(copy=True) copies onto the heap."""
        self._job_buf = buf

    def print_job(self, data, copy=False, ref=None):
        """Queue a receipt: bytes, or a list of parts (see Job). Returns the job
        id that the "printed" and "dropped" events carry (with `ref`).

        copy=True: the bytes parts sit in a buffer the caller reuses (the
        till's receipt layout buffer), so they are copied before this returns:
        into the job buffer when it is free and fits, else to a file in the
        flash queue. When neither is possible the receipt is dropped at once
        (a "dropped" event; the caller reprints it from the journal).
        None: the heap had no room to take the job (MemoryError); nothing of it
        is kept, and the caller may hand it over again later."""
        try:
            parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
            job = Job(self._new_id(), parts, ref=ref)
            if copy and not self._into_job_buffer(job):
                if not self._spool(job):
                    self._event("dropped", (job.id, ref))
                self._drop_excess()
                return job.id
        except MemoryError:
            # Before the job joined the queue (the job buffer is claimed last,
            # a spooled file is listed only after its rename): nothing to undo.
            return None
        self._queue.append(job)
        self._drop_excess()
        return job.id

    def _into_job_buffer(self, job):
        buf = self._job_buf
        if buf is None:
            try:  # no reserved buffer (a Pi, a test): the heap holds the copy
                job.parts = [p if isinstance(p, tuple) else bytes(p) for p in job.parts]
            except MemoryError:
                return False
            return True
        if self._job_buf_user is not None:
            return False
        size = 0
        for part in job.parts:
            if not isinstance(part, tuple):
                size += len(part)
        if size > len(buf):
            return False
        mv = memoryview(buf)
        at = 0
        parts = []
        for part in job.parts:
            if isinstance(part, tuple):
                parts.append(part)
                continue
            n = len(part)
            mv[at:at + n] = part
            parts.append(mv[at:at + n])
            at += n
        job.parts = parts
        job.in_buffer = True
        self._job_buf_user = job
        return True

    def _release(self, job):
        if job.in_buffer:
            job.in_buffer = False
            self._job_buf_user = None

    def open_drawer(self, pin=None, on_ms=100, off_ms=100):
        """Pulse the cash drawer (ESC p) as soon as no other job is being sent.
        The engine asks for this only after the sale is in the journal."""
        pin = self.drawer_pin if pin is None else pin
        if pin == self.drawer_pin and on_ms == 100 and off_ms == 100:
            pulse = self._pulse  # made at start: a pulse on each sale allocates little
        else:
            pulse = escpos.drawer_pulse(pin, on_ms, off_ms)
        self._add_control(pulse)

    def feed(self, lines=3):
        self._add_control(escpos.feed_lines(lines))

    def _add_control(self, command):
        # One waiting copy of a command is enough: a drawer pulse still queued
        # opens the drawer for every sale that asked meanwhile (it is already
        # open for the later ones), and a feed key pressed again while the
        # printer is busy feeds once. A busy till would otherwise queue one
        # pulse per cash sale behind a slow receipt, a list without bound.
        for job in self._control:
            if job.parts[0] == command:
                return
        self._control.append(Job(self._new_id(), [command], CONTROL))

    def retry(self):
        """Ask the printer again now (the cashier fixed it, or asked for a reprint)."""
        self._retry_at = self._ticks_ms()

    def busy(self):
        """Whether anything is being sent, asked or waiting to print."""
        return (self._state != _IDLE or bool(self._control) or bool(self._queue)
                or self._flash.n > 0)

    def queued(self):
        """Receipts waiting (including one being sent)."""
        return len(self._queue) + self._flash.n

    def take_events(self):
        """Events since the last call, oldest first: ("printed", (job_id, ref)),
        ("problem", PAPER_OUT...), ("recovered", None), ("paper_low", None),
        ("dropped", (job_id, ref))."""
        events = self._events
        if not events:
            return events
        self._events = []
        return events

    def _event(self, kind, arg):
        if len(self._events) >= _MAX_EVENTS:
            self._events.pop(0)
            self.events_lost += 1
        self._events.append((kind, arg))

    @property
    def state(self):
        """One word for the engine's ("printer", state) event: "ok",
        "paper_low", or the problem (PAPER_OUT, COVER_OPEN, NO_ANSWER,
        PRINTER_ERROR)."""
        if self.problem is not None:
            return self.problem
        return "paper_low" if self.paper_low else "ok"

    @property
    def message(self):
        """What to tell the cashier, or None when all is well."""
        if self.problem is not None:
            return MESSAGES[self.problem][0]
        if self.paper_low:
            return PAPER_LOW_MESSAGE
        return None

    @property
    def lines(self):
        """The problem as two short display lines, or None."""
        if self.problem is None:
            return None
        return MESSAGES[self.problem][1:]

    def status(self):
        return {"problem": self.problem, "message": self.message,
                "paper_low": self.paper_low, "queued": self.queued(),
                "sending": self._job.id if self._job is not None else None}

    async def run(self):
        """The printer task: step() forever."""
        while True:
            await periph.sleep_ms(self.step())

    # -- the state machine ----------------------------------------------------

    def step(self):
        """Do one small piece of work; return the ms the caller may wait."""
        now = self._ticks_ms()
        if self._state == _SENDING:
            return self._send_some(now)
        if self._state == _QUERYING:
            return self._read_reply(now)
        if self._control:
            self._start_job(self._control.pop(0), now)
            return 0
        if self.problem is not None:
            if self._persist_one():
                return 0
            wait = ticks_diff(self._retry_at, now)
            if wait > 0:
                return min(wait, _IDLE_WAIT_MS)  # a drawer pulse may come meanwhile
            if self.check_status:
                # Asked even with nothing to print, so the message goes away
                # as soon as the cashier has fixed the printer.
                self._ask(now)
                return _REPLY_POLL_MS
            # Without a status channel the next job is the test.
        elif self.queued() and self.check_status and not self._answered:
            self._ask(now)
            return _REPLY_POLL_MS
        if self.queued():
            self._start_job(self._next_receipt(), now)
            return 0
        return _IDLE_WAIT_MS

    def _next_receipt(self):
        # The oldest waiting receipt, in RAM or on flash (ids grow with time).
        fq = self._flash
        if fq.n and (not self._queue or fq.ids[0] < self._queue[0].id):
            job_id, ref = fq.ids[0], fq.refs[0] or None
            path = self._queue_path(job_id, ref)
            return Job(job_id, [("job", path)], RECEIPT, path, ref)
        return self._queue[0]

    def _new_id(self):
        self._next_id += 1
        return self._next_id - 1

    # status ----------------------------------------------------------------

    def _ask(self, now):
        # Stale bytes (a late reply, automatic status) would be taken for the
        # answer: read them away first.
        for _ in range(_DRAIN_READS):
            if not self._read(self._rbuf):
                break
        # Both questions at once, so that both answers tell the printer's
        # state at one moment (right after a receipt's last byte), and
        # answered in this order: the replies are read one byte each.
        self._queries = [escpos.STATUS_PAPER, escpos.STATUS_OFFLINE]
        self._state = _QUERYING
        self._asked_at = now
        try:
            for query in self._queries:
                self._stream.write(query)
        except OSError:
            self._set_problem(NO_ANSWER, now)

    def _read(self, buf):
        try:
            return read_available(self._stream, buf)
        except OSError:
            return 0

    def _read_reply(self, now):
        n = self._read(self._rbuf)
        for i in range(n):
            if self._state != _QUERYING:
                break
            self._reply(self._rbuf[i], now)
        if self._state != _QUERYING:
            return 0
        if ticks_diff(now, self._asked_at) >= self.status_timeout_ms:
            self._set_problem(NO_ANSWER, now)
            return 0
        return _REPLY_POLL_MS

    def _reply(self, b, now):
        query = self._queries[0]
        if query == escpos.STATUS_PAPER:
            paper = escpos.parse_paper_status(b)
            if paper is None:
                return  # not a status byte: keep waiting for the answer
            if paper == escpos.PAPER_OUT:
                self._set_problem(PAPER_OUT, now)
                return
            low = paper == escpos.PAPER_NEAR_END
            if low and not self.paper_low:
                self._event("paper_low", None)
            self.paper_low = low
        else:
            cause = escpos.parse_offline_cause(b)
            if cause is None:
                return
            if cause["cover_open"]:
                self._set_problem(COVER_OPEN, now)
                return
            if cause["paper_end_stop"]:
                self._set_problem(PAPER_OUT, now)
                return
            if cause["error"]:
                self._set_problem(PRINTER_ERROR, now)
                return
        self._queries.pop(0)
        if self._queries:
            return  # the next answer is on its way
        self._state = _IDLE
        if self.problem is not None:
            self.problem = None
            self._event("recovered", None)
        # The answer holds for the next receipt even when a drawer pulse goes
        # first: asking again after each pulse would starve the receipts of a
        # busy till (one pulse per cash sale).
        self._answered = True
        if self._confirming is not None:
            job = self._confirming
            self._confirming = None
            self._printed(job)
        if self.queued() and not self._control:  # a drawer pulse goes first
            self._start_job(self._next_receipt(), now)

    def _set_problem(self, problem, now):
        self._state = _IDLE
        self._queries = None
        self._confirming = None  # not confirmed: it stays in the queue
        self._answered = False
        if problem != self.problem:
            self._event("problem", problem)
        self.problem = problem
        self._retry_at = ticks_add(now, self.retry_ms)

    # sending ---------------------------------------------------------------

    def _start_job(self, job, now):
        if job.kind == RECEIPT:
            self._answered = False  # the next receipt is checked again
        self._job = job
        self._chunks = _chunks(job.parts, self._buf, self.max_width_bytes)
        self._pending = None
        self._state = _SENDING
        self._progress_at = now

    def _send_some(self, now):
        if self._ready_at is not None:
            wait = ticks_diff(self._ready_at, now)
            if wait > 0:
                return wait
            self._ready_at = None
        if not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                self._finish_job(now)
                return 0
        try:
            n = self._stream.write(self._pending) or 0
        except OSError as exc:
            # rp2's UART.write raises EAGAIN when its buffer has no room before
            # the timeout: that is a printer slow to take bytes, not a fault.
            if not (exc.args and exc.args[0] == _EAGAIN):
                self._abort_job(now)
                return 0
            n = 0
        if n:
            self._pending = self._pending[n:]
            self.bytes_sent += n
            self._progress_at = now
            if self.bytes_per_s:
                self._ready_at = ticks_add(now, n * 1000 // self.bytes_per_s)
            if not self._pending:
                # The printer is asked in the same step as its last byte: a
                # cover opened between the two would otherwise fail a receipt
                # already on paper, which the queue then sends again (twice on
                # paper) or drops (journaled as not printed, yet printed).
                try:
                    self._pending = next(self._chunks)
                except StopIteration:
                    self._finish_job(now)
            return 0
        if ticks_diff(now, self._progress_at) >= self.stall_ms:
            self._abort_job(now)
            return 0
        return _REPLY_POLL_MS

    def _finish_job(self, now):
        job = self._job
        self._state = _IDLE
        self._job = None
        self._chunks = None
        self._pending = None
        if self.problem is not None and not self.check_status:
            self.problem = None  # the printer took a whole job: it is back
            self._event("recovered", None)
        if job.kind != RECEIPT:
            return
        if self.check_status:
            # Printed only once the printer answers after the last byte: one
            # switched off, out of paper or opened meanwhile took the bytes
            # into nowhere. Then the receipt stays first in the queue and is
            # sent again in full when the printer is back.
            self._confirming = job
            self._ask(now)
            return
        self._printed(job)

    def _printed(self, job):
        self._unqueue(job)
        self._event("printed", (job.id, job.ref))

    def _unqueue(self, job):
        # Out of the queue, RAM or flash, with its buffer and its file.
        if job.path:
            i = self._flash.index(job.id)
            if i >= 0:
                self._flash.pop(i)
            _remove(job.path)
        elif job in self._queue:
            self._queue.remove(job)
        self._release(job)

    def _abort_job(self, now):
        # The printer stopped taking bytes: the receipt goes back to the head
        # of the queue and is sent in full when the printer is back (the part
        # already printed shows above it). A control job is not retried.
        if self._chunks is not None:
            self._chunks.close()
        self._job = None
        self._chunks = None
        self._pending = None
        self._ready_at = None
        self._set_problem(NO_ANSWER, now)

    # the queue on flash ---------------------------------------------------------

    def _p(self, name):
        return self.queue_dir + "/" + name

    def _queue_path(self, job_id, ref):
        return self._p("%08d-%d%s" % (job_id, ref or 0, _QUEUE_SUFFIX))

    def _load_queue(self):
        try:
            names = os.listdir(self.queue_dir)
        except OSError:
            os.mkdir(self.queue_dir)
            names = []
        found = []
        for name in names:
            if name == _QUEUE_TMP:
                _remove(self._p(name))  # torn by a power cut while written
            elif name.endswith(_QUEUE_SUFFIX):
                job_id, _, ref = name[:-len(_QUEUE_SUFFIX)].partition("-")
                try:
                    found.append((int(job_id), int(ref or 0) or None, name))  # 0: no reference
                except ValueError:
                    pass  # not a name this driver writes: left alone
        found.sort()
        for job_id, ref, name in found:
            self._flash.insert(job_id, ref)
            self._next_id = job_id + 1
            if self._flash.n > self.max_queued:  # kept by a till with a longer queue
                self._drop_excess()

    def _persist_one(self):
        # Write one waiting receipt to flash (one per step: a write to flash
        # takes tens of ms on a board); returns whether there was one.
        if self.queue_dir is None:
            return False
        for job in self._queue:
            if job.path is None:
                break
        else:
            return False
        if not self._spool(job):
            job.path = ""  # do not try again every step (not a flash job either)
        self._drop_excess()
        return True

    def _spool(self, job):
        # The job's bytes to a queue file; its parts then point at the file.
        if self.queue_dir is None:
            return False
        path = self._queue_path(job.id, job.ref)
        tmp = self._p(_QUEUE_TMP)
        head = self._head
        try:
            # Written part by part, not with durable.replace_file(): no copy of
            # the job in RAM. Same rules: sync, rename, sync the directory.
            with open(tmp, "wb") as f:
                for part in job.parts:
                    if isinstance(part, tuple) and part[0] == "raster":
                        name = part[1].encode()
                        head[0] = head[1] = 0xFF
                        head[2] = len(name)
                        f.write(head)
                        f.write(name)
                        continue
                    if not isinstance(part, tuple):
                        # Bytes: written in place, in pieces of at most
                        # chunk_bytes with their lengths. No generator and
                        # no copy: this runs when the heap is tightest.
                        mv = memoryview(part)
                        for i in range(0, len(mv), len(self._spool_buf)):
                            self._spool_part(f, mv[i:i + len(self._spool_buf)])
                        continue
                    # A file of printer data. Closed at once even on an error:
                    # its view of the buffer must not outlive this call.
                    pieces = _chunks([part], self._spool_buf, self.max_width_bytes)
                    try:
                        for piece in pieces:
                            self._spool_part(f, piece)
                    finally:
                        pieces.close()
                durable.sync_file(f)
            os.rename(tmp, path)
            durable.sync_dir(self.queue_dir)
        except OSError:
            # Flash full or failing: the job stays in RAM and still prints
            # when the printer is back; only a restart would lose it.
            _remove(tmp)
            return False
        # The bytes now live on flash: RAM keeps only its id and reference.
        if job in self._queue:
            self._queue.remove(job)
        self._release(job)
        self._flash.insert(job.id, job.ref)
        return True

    def _spool_part(self, f, piece):
        head = self._head
        head[0] = len(piece) >> 8
        head[1] = len(piece) & 0xFF
        f.write(memoryview(head)[:2])
        f.write(piece)

    def _drop_excess(self):
        # The oldest waiting receipt goes, never the one being sent or the
        # one waiting for the printer's answer after it.
        a = self._job.id if self._job is not None else -1
        b = self._confirming.id if self._confirming is not None else -1
        fq = self._flash
        while self.queued() > self.max_queued:
            fi = 0
            while fi < fq.n and (fq.ids[fi] == a or fq.ids[fi] == b):
                fi += 1
            ri = 0
            while ri < len(self._queue) and (self._queue[ri].id == a or self._queue[ri].id == b):
                ri += 1
            if fi < fq.n and (ri >= len(self._queue) or fq.ids[fi] < self._queue[ri].id):
                job_id, ref = fq.pop(fi)
                _remove(self._queue_path(job_id, ref))
            elif ri < len(self._queue):
                job = self._queue.pop(ri)
                self._release(job)
                job_id, ref = job.id, job.ref
            else:
                return
            self._event("dropped", (job_id, ref))


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
