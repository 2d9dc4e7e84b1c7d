# The till's side of the link: takes the gateway's requests from the channel
# and answers them, streaming records in the channel's window. Sans-I/O: the
# link task (till/app.py) moves bytes between this and the board's transport.
#
# What it needs from the till (`till`, the main loop's Till, or a test's fake):
#   journal                       records are read from it, never written
#   till_id                       packages for another till are refused
#   link_hello()                  dict: fw, snapshot, clock, printer (the rest is the journal's)
#   link_processed(seq)           through the engine: the journal's only writer
#   link_clock(epoch)             sets and journals the clock; returns the old value
#   link_busy()                   why a package must wait now (a sale), or None
#   link_apply(kind, path)        installs a verified package file: (applied, detail, version)
#   link_status()                 dict for STATUS
# Each request is answered in the step that received it, except the record
# stream, which fills at most the channel's window per step: bounded work, so
# the till's key presses never wait long behind a sync.
import hashlib
import os

from till.formats import cbor
from till.formats import journal as J
from till.formats.durable import free_bytes, replace_file, sync_file
from till.link import wire as F
from till.link import ops as O
from till.link.wire import Channel

PART_FILE = "link.part"  # a package being received (resumable)
OFFER_FILE = "link.offer"  # what it is: [kind, size, sha256]
# The last package applied, [sha256, True, detail, version]: a COMMIT or
# OFFER asked again (its reply was lost with the connection) gets the same
# answer and the package is not applied twice (like an idempotency key).
DONE_FILE = "link.done"
_SPARE_FLASH_BYTES = 32768  # left free beside a package: the journal must keep selling


class LinkServer:
    def __init__(self, till, spool_dir, read_buf=None, window=4, credit=1, rto_ms=400,
                 mem=None):
        self.till = till
        self.dir = spool_dir
        self.channel = Channel(self._on_message, window=window, credit=credit, rto_ms=rto_ms,
                               on_reset=self._on_reset, mem=mem)
        self._read_buf = read_buf  # the journal cursor's (see Cursor below)
        self._head = bytearray(O.RECORD_HEAD)
        self._reply = None  # a reply waiting for room in the window
        self._stream = None  # Cursor of the record stream in progress
        self._rec = None  # the record being streamed: (seq, raw)
        self._rec_at = 0  # bytes of it (head included) already sent
        self._count = 0
        self._offer = self._read_offer()
        self.requests = 0
        self.errors = 0  # error replies sent
        self.last_request_ms = None

    # ---- bytes in and out ----------------------------------------------------

    def feed(self, data, now_ms, n=None):
        self._now = now_ms
        self.channel.feed(data, now_ms, n)

    def next_output(self, now_ms):
        self.step()
        return self.channel.next_output(now_ms)

    def step(self):
        """Queue what fits in the window: a waiting reply, then the stream."""
        ch = self.channel
        if self._reply is not None and ch.room() > 0:
            ch.send(self._reply)
            self._reply = None
        while self._stream is not None and self._reply is None and ch.room() > 0:
            self._stream_frame()

    def busy(self):
        """A request is being answered (a stream, a reply not yet acknowledged)."""
        return self._stream is not None or self._reply is not None or not self.channel.idle()

    def _on_reset(self):
        self._stream = None
        self._rec = None
        self._reply = None

    def _send(self, body):
        if not self.channel.send(body):
            self._reply = body

    def _error(self, code, text, op):
        self.errors += 1
        self._send(O.error(code, text, op))

    # ---- requests ------------------------------------------------------------

    def _on_message(self, body):
        self.requests += 1
        op = body[0] if len(body) else 0
        # A new request ends a stream the gateway no longer reads.
        self._stream = None
        self._rec = None
        try:
            if op == O.OP_CHUNK:
                self._chunk(body)
                return
            args = O.args_of(body)
            if op == O.OP_HELLO:
                self._send(O.message(O.OP_HELLO | O.REPLY, self._hello()))
            elif op == O.OP_RECORDS:
                self._records(args)
            elif op == O.OP_PROCESSED:
                self._processed(args)
            elif op == O.OP_OFFER:
                self._offer_package(args)
            elif op == O.OP_COMMIT:
                self._commit(args)
            elif op == O.OP_CLOCK:
                self._clock(args)
            elif op == O.OP_STATUS:
                self._send(O.message(O.OP_STATUS | O.REPLY, self.till.link_status()))
            else:
                self._error(O.E_UNKNOWN_OP, "Unknown operation %d: update the till's "
                            "firmware or the gateway" % op, op)
        except O.Malformed as exc:
            self._error(O.E_MALFORMED, "Malformed request: %s" % exc, op)
        except MemoryError:
            self._error(O.E_BUSY, "The till has no memory free now: try again", op)

    def _hello(self):
        j = self.till.journal
        h = self.till.link_hello()
        h["till"] = self.till.till_id
        h["head"] = j.last_seq
        h["processed"] = j.processed_seq
        h["free"] = free_bytes(self.dir)
        h["freeable"] = j.freeable
        return h

    def _records(self, args):
        if not (isinstance(args, list) and len(args) == 2 and _uint(args[0])
                and _uint(args[1])):
            raise O.Malformed("RECORDS takes [after, limit]")
        after, limit = args
        j = self.till.journal
        limit = min(limit, O.MAX_RECORDS)
        last = min(j.last_seq, after + limit)
        self._stream = Cursor(j, after, last, self._read_buf)
        self._count = 0
        self._rec = None
        self.step()

    def _stream_frame(self):
        body = self.channel.body()
        body[0] = O.OP_RECORDS | O.REPLY
        at = 1
        cap = F.MAX_BODY
        try:
            while at < cap:
                if self._rec is None:
                    rec = self._stream.next()
                    if rec is None:
                        break
                    self._rec = rec
                    self._rec_at = 0
                    O.put_u32(self._head, 0, rec[0])
                    n = len(rec[1])
                    self._head[4] = n >> 8
                    self._head[5] = n & 0xFF
                at = self._copy(body, at, cap)
        except (OSError, cbor.CBORError) as exc:
            # Send what was read; the gateway asks again from its last record.
            print("link: journal read failed:", exc)
            self._stream.last = self._stream.seq
            self._rec = None
        if at > 1:
            self.channel.commit(at)
            return
        stream = self._stream
        self._stream = None
        self.channel.send(O.message(O.R_RECORDS_END, [self._count, stream.seq]))

    def _copy(self, body, at, cap):
        seq, raw = self._rec
        head = O.RECORD_HEAD
        total = head + len(raw)
        while at < cap and self._rec_at < total:
            i = self._rec_at
            if i < head:
                n = min(head - i, cap - at)
                body[at:at + n] = self._head[i:i + n]
            else:
                n = min(total - i, cap - at)
                body[at:at + n] = raw[i - head:i - head + n]
            at += n
            self._rec_at += n
        if self._rec_at >= total:
            self._rec = None
            self._count += 1
        return at

    def _processed(self, seq):
        if not _uint(seq):
            raise O.Malformed("PROCESSED takes a sequence number")
        j = self.till.journal
        if seq > j.last_seq:
            self._error(O.E_JOURNAL, "HO reports record %d processed, but this till's last "
                        "record is %d: is this the right till?" % (seq, j.last_seq),
                        O.OP_PROCESSED)
            return
        try:
            done = self.till.link_processed(seq)
        except (J.JournalError, OSError) as exc:
            self._error(O.E_JOURNAL, "The journal could not note it: %s" % exc, O.OP_PROCESSED)
            return
        self._send(O.message(O.OP_PROCESSED | O.REPLY, done))

    def _clock(self, epoch):
        if not _uint(epoch) or epoch < 1000000000 or epoch > 4102444800:
            self._error(O.E_CLOCK, "Clock value %r is not a time this till takes" % (epoch,),
                        O.OP_CLOCK)
            return
        old = self.till.link_clock(epoch)
        self._send(O.message(O.OP_CLOCK | O.REPLY, [old, epoch]))

    # ---- packages ------------------------------------------------------------

    def _p(self, name):
        return self.dir + "/" + name

    def _read_offer(self, name=OFFER_FILE, n=3):
        try:
            with open(self._p(name), "rb") as f:
                offer = cbor.loads(f.read())
        except (OSError, cbor.CBORError):
            return None
        if isinstance(offer, list) and len(offer) == n:
            return offer
        return None

    def _done(self, digest):
        done = self._read_offer(DONE_FILE, 4)
        return done if done is not None and done[0] == digest else None

    def _received(self):
        try:
            return os.stat(self._p(PART_FILE))[6]
        except OSError:
            return 0

    def _drop_package(self):
        for name in (PART_FILE, OFFER_FILE):
            try:
                os.remove(self._p(name))
            except OSError:
                pass
        self._offer = None

    def _offer_package(self, args):
        if not (isinstance(args, list) and len(args) == 4 and isinstance(args[0], str)
                and _uint(args[1]) and isinstance(args[2], bytes) and len(args[2]) == 32
                and isinstance(args[3], str)):
            raise O.Malformed("OFFER takes [kind, size, sha256 (32 bytes), till id]")
        kind, size, digest, target = args
        op = O.OP_OFFER
        if kind not in O.KINDS:
            self._error(O.E_KIND, "This till takes snapshot, delta or logo packages, not %r"
                        % kind, op)
            return
        if target != self.till.till_id:
            self._error(O.E_OTHER_TILL, "This package is for till %s; this is till %s"
                        % (target, self.till.till_id), op)
            return
        offer = [kind, size, digest]
        if self._done(digest) is not None:
            self._send(O.message(op | O.REPLY, size))  # done: COMMIT tells how it went
            return
        if self._offer == offer and self._received() <= size:
            self._send(O.message(op | O.REPLY, self._received()))  # resume
            return
        self._drop_package()
        if size + _SPARE_FLASH_BYTES > free_bytes(self.dir):
            # Processed journal segments kept for refunds are room too. If
            # removing them fails, the check below refuses, saying why.
            try:
                self.till.journal.free_processed(size + _SPARE_FLASH_BYTES)
            except OSError:
                pass
        if size + _SPARE_FLASH_BYTES > free_bytes(self.dir):
            self._error(O.E_TOO_BIG, "The package (%d bytes) does not fit the till's free "
                        "flash (%d bytes): sync the journal first" % (size, free_bytes(self.dir)),
                        op)
            return
        replace_file(self.dir, OFFER_FILE, cbor.dumps(offer))
        with open(self._p(PART_FILE), "wb"):
            pass
        self._offer = offer
        self._send(O.message(op | O.REPLY, 0))

    def _chunk(self, body):
        op = O.OP_CHUNK
        if len(body) < O.CHUNK_HEAD:
            raise O.Malformed("CHUNK takes an offset and bytes")
        if self._offer is None:
            self._error(O.E_NO_OFFER, "No package was offered", op)
            return
        offset = O.get_u32(body, 1)
        have = self._received()
        n = len(body) - O.CHUNK_HEAD
        if offset != have:
            self._error(O.E_OFFSET, "The till has %d bytes of the package, not %d"
                        % (have, offset), op)
            return
        if have + n > self._offer[1]:
            self._error(O.E_MALFORMED, "The package is longer than the %d bytes offered"
                        % self._offer[1], op)
            return
        with open(self._p(PART_FILE), "ab") as f:
            f.write(body[O.CHUNK_HEAD:])
            sync_file(f)
        self._send(O.message(op | O.REPLY, have + n))

    def _commit(self, digest):
        op = O.OP_COMMIT
        if not isinstance(digest, bytes):
            raise O.Malformed("COMMIT takes the package's sha256")
        offer = self._offer
        if offer is None or offer[2] != digest:
            done = self._done(digest)
            if done is None:
                self._error(O.E_NO_OFFER, "No package with that hash was offered", op)
            else:
                self._result(done[1], done[2], done[3])
            return
        have = self._received()
        if have != offer[1]:
            self._error(O.E_TRUNCATED, "The package is %d bytes, but %d arrived: send the "
                        "rest" % (offer[1], have), op)
            return
        reason = self.till.link_busy()
        if reason is not None:
            self._error(O.E_BUSY, reason, op)  # the package stays, for a later COMMIT
            return
        if self._hash_part() != digest:
            self._drop_package()
            self._error(O.E_HASH, "The package's bytes do not match its hash: it was not "
                        "applied; send it again", op)
            return
        applied, detail, version = self.till.link_apply(offer[0], self._p(PART_FILE))
        if applied:
            # A refusal changed nothing and may pass later (a restart's whole
            # heap): only what was applied must not be applied again.
            replace_file(self.dir, DONE_FILE, cbor.dumps([digest, applied, detail, version]))
        self._drop_package()
        self._result(applied, detail, version)

    def _result(self, applied, detail, version):
        if applied:
            self._send(O.message(O.OP_COMMIT | O.REPLY, [True, detail, version]))
        else:
            self._error(O.E_REFUSED, detail, O.OP_COMMIT)

    def _hash_part(self):
        h = hashlib.sha256()
        buf = self._read_buf if self._read_buf is not None else bytearray(512)
        mv = memoryview(buf)
        with open(self._p(PART_FILE), "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(mv[:n])
        return h.digest()


def _uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


# ---- reading the journal --------------------------------------------------
#
# Reads the journal's records in order for the link, a few at a time, exactly
# as they are on flash, remembering where it stopped (segment and byte offset):
# the link streams a day of records in small steps between key presses, and
# rescanning a 16 KB segment from its start for each step would cost the till
# more time than the sending. Journal.records_after (which the host tools and
# tests use) reads a whole request in one go instead.
#
# The segment format (a header item, then records) is the journal's
# (till/formats/journal.py); this reads the journal's list of segments and its
# file names, never writes. Records are read through a buffer given once (the
# journal's encode buffer, idle between appends: the link reads only between
# the engine's events), so streaming costs no heap beyond each record's copy.
_BATCH = 8


class Cursor:
    """Records after `after`, up to `last` (the journal's head when asked)."""

    def __init__(self, journal, after, last, buf=None):
        self.journal = journal
        self.last = last
        self.seq = after  # the last record handed out
        self._buf = buf
        self._segment = None  # first seq of the segment being read
        self._offset = 0  # where the next item starts in it
        self._ready = []  # read ahead, not yet handed out (at most _BATCH)

    def done(self):
        return self.seq >= self.last and not self._ready

    def next(self):
        """(seq, raw bytes) of the next record, or None when done. Raises
        OSError / CBORError when the journal cannot be read there."""
        if not self._ready:
            if self.seq >= self.last:
                return None
            self._fill()
            if not self._ready:
                # The journal has no record where it says it has (damage
                # recovery reports): end here rather than loop.
                self.last = self.seq
                return None
        item = self._ready.pop(0)
        self.seq = item[0]
        return item

    def _segments(self):
        return self.journal._segments  # ascending first seqs (read only)

    def _fill(self):
        segs = self._segments()
        want = self.seq + 1 + len(self._ready)
        if self._segment is None or self._segment not in segs:
            # The first read, or the segment was freed: find the one holding `want`.
            first = segs[0] if segs else None
            for s in segs:
                if s <= want:
                    first = s
            if first is None:
                return
            self._segment = first
            self._offset = 0
        while True:
            self._read_segment(want)
            if self._ready:
                return
            later = [s for s in self._segments() if s > self._segment]
            if not later:
                return
            self._segment = later[0]
            self._offset = 0

    def _read_segment(self, want):
        path = self.journal.path + "/" + J.segment_name(self._segment)
        with open(path, "rb") as f:
            if self._offset:
                f.seek(self._offset)
            # Records are not decoded: a sale's lines would need blocks a
            # day of sales may have cut the heap too small for. The seq is
            # the first key of a record's map (canonical order, the smallest).
            reader = cbor.SequenceReader(f, max_item_bytes=J.MAX_RECORD_BYTES,
                                         buffer=self._buf, decode=False)
            base = self._offset
            try:
                for off, _, size in reader:
                    self._offset = base + off + size
                    if base == 0 and off == 0:
                        continue  # the segment's header
                    raw = reader.last_raw_view()
                    if size < 3 or raw[0] & 0xE0 != 0xA0 or raw[1] != J.K_SEQ:
                        continue
                    s = cbor.decode_from(raw, 2)[0]
                    if not isinstance(s, int) or s < want:
                        continue
                    if s > self.last:
                        return
                    self._ready.append((s, reader.last_raw()))
                    want = s + 1
                    if len(self._ready) >= _BATCH:
                        return
            except cbor.CBORTruncated:
                pass  # a record being appended, or a torn tail: read it next time
