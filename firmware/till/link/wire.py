# The link's wire protocol, in one module (each module costs the till about
# 700 bytes of heap): frames, then the reliable channel built on them.
#
# Frames: COBS-encoded (0x00 delimiter), each with a CRC-32.
# Written by hand rather than taken from a package: the till needs encoding and
# decoding into buffers reserved at boot (a till runs for days in a fixed heap,
# so no per-frame allocation), on MicroPython as on CPython; the gateway imports
# this same module so the format lives in one place.
#
# A frame before COBS:  type(1) session(1) seq(1) ack(1) credit(1) body(0..MAX_BODY)
#                       crc32(4, little-endian, over everything before it)
# On the wire: COBS(frame) 0x00. COBS (Cheshire & Baker 1999) removes every
# zero byte, so a 0x00 always ends a frame and a receiver that lost bytes
# (a UART during a flash erase) finds the next frame at the next 0x00.
import binascii

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

T_DATA = const(1)  # carries a body, numbered, acknowledged
T_ACK = const(2)  # acknowledgement and credit only
T_RESET = const(3)  # gateway -> till: start a session (session byte chosen by the gateway)
T_RESET_OK = const(4)  # till -> gateway: the session is started
T_PROBE = const(5)  # "tell me your ack and credit" (a lost credit update)
T_STALE = const(6)  # till -> gateway: no such session (the till restarted): reset

HEADER_BYTES = const(5)
CRC_BYTES = const(4)
MAX_BODY = const(512)  # fits the buffers the till reserves at boot (reserve.py)
MAX_RAW = const(HEADER_BYTES + MAX_BODY + CRC_BYTES)
# COBS adds one byte per 254 (and one), the delimiter one more.
MAX_WIRE = const(MAX_RAW + MAX_RAW // 254 + 2)


class FrameError(Exception):
    pass


def crc32(mv):
    return binascii.crc32(mv) & 0xFFFFFFFF


def cobs_encode(src, n, out):
    """Encode src[:n] into out (a bytearray of at least n + n // 254 + 1 bytes);
    return the encoded length (no delimiter)."""
    code_at = 0
    o = 1
    code = 1
    for i in range(n):
        b = src[i]
        if b:
            out[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = o
                o += 1
                code = 1
        else:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
    out[code_at] = code
    return o


def cobs_decode(buf, n):
    """Decode buf[:n] in place (the output is never longer than the input);
    return the decoded length, or -1 if buf[:n] is not COBS."""
    i = 0
    o = 0
    while i < n:
        code = buf[i]
        end = i + code  # the block's data is buf[i + 1:end]
        if code == 0 or end > n:
            return -1
        i += 1
        while i < end:
            b = buf[i]
            if b == 0:
                return -1
            buf[o] = b
            o += 1
            i += 1
        if code != 0xFF and i < n:
            buf[o] = 0
            o += 1
    return o


def pack(raw, ftype, session, seq, ack, credit, body=None, body_len=0):
    """Write a frame's header, body and CRC into raw (a bytearray of MAX_RAW);
    return its length. body may be None when the body is already in place at
    raw[HEADER_BYTES:]."""
    if body_len > MAX_BODY:
        raise FrameError("frame body of %d bytes is over %d" % (body_len, MAX_BODY))
    raw[0] = ftype
    raw[1] = session
    # A RESET's seq byte is 0, so its COBS code byte (1 + the bytes before the
    # first zero) is at most 3; only a RESET has 3 for its type, the byte after
    # the code byte. So no frame on the wire begins with 0x0D 0x03: mpremote's
    # \r and Ctrl-C, which a till whose link shares the REPL's port takes, where
    # a frame would begin, for its break-in (drivers/linkserial.py StdioLink).
    raw[2] = 0 if ftype == T_RESET else seq
    raw[3] = ack
    raw[4] = credit
    if body is not None and body_len:
        raw[HEADER_BYTES:HEADER_BYTES + body_len] = body[:body_len]
    n = HEADER_BYTES + body_len
    c = crc32(memoryview(raw)[:n])
    raw[n] = c & 0xFF
    raw[n + 1] = (c >> 8) & 0xFF
    raw[n + 2] = (c >> 16) & 0xFF
    raw[n + 3] = c >> 24
    return n + CRC_BYTES


def to_wire(raw, n, out):
    """COBS-encode raw[:n] into out (MAX_WIRE bytes) with the delimiter; return the length."""
    m = cobs_encode(raw, n, out)
    out[m] = 0
    return m + 1


def check(buf, n):
    """buf[:n] is a decoded frame: the body length if its CRC holds and it has a
    whole header, else -1."""
    if n < HEADER_BYTES + CRC_BYTES:
        return -1
    end = n - CRC_BYTES
    c = buf[end] | (buf[end + 1] << 8) | (buf[end + 2] << 16) | (buf[end + 3] << 24)
    if crc32(memoryview(buf)[:end]) != c:
        return -1
    return end - HEADER_BYTES


class Decoder:
    """Collects wire bytes into one buffer reserved here, and calls
    on_frame(buf, body_len) for every frame whose COBS and CRC hold (the body is
    buf[HEADER_BYTES:HEADER_BYTES + body_len], valid during the call).
    Garbage, frames over MAX_WIRE and bad CRCs are counted and dropped."""

    def __init__(self, on_frame, buf=None):
        self.on_frame = on_frame
        self.buf = buf if buf is not None else memoryview(bytearray(MAX_WIRE))
        self.fill = 0
        self.overflow = False
        self.bad_frames = 0  # bad COBS, bad CRC or too short
        self.long_frames = 0  # over MAX_WIRE: dropped to the next delimiter

    def feed(self, data, n=None):
        buf = self.buf
        cap = len(buf)
        if n is None:
            n = len(data)
        for i in range(n):
            b = data[i]
            if b:
                if self.fill < cap:
                    buf[self.fill] = b
                    self.fill += 1
                else:
                    self.overflow = True
                continue
            # a delimiter: the end of a frame (or of line noise)
            if self.overflow:
                self.long_frames += 1
            elif self.fill:
                m = cobs_decode(buf, self.fill)
                body_len = check(buf, m) if m >= 0 else -1
                if body_len < 0:
                    self.bad_frames += 1
                else:
                    self.fill = 0
                    self.on_frame(buf, body_len)
            self.fill = 0
            self.overflow = False


# ---- the reliable channel --------------------------------------------------
#
# The reliable channel under the link's operations: numbered frames, cumulative
# acknowledgements, retransmission on timeout (go-back-N), duplicates dropped,
# and a credit window: a side sends only the frames the other has room for.
#
# Sans-I/O (like h11): feed() takes received bytes, next_output() gives the
# next frame to write, time is passed in (ms, from time.ticks_ms on a board);
# the same class runs on the till, in the gateway and in the tests' lossy
# in-memory channel. Every buffer is allocated once here, at construction:
# `window` frame slots for what is sent but not yet acknowledged, one
# receive buffer, one wire buffer. Nothing grows with the frames.
#
# Sequence numbers are one byte: a side never has more than `window` (<= 16)
# frames unacknowledged, so an old duplicate is always 128 or more behind.
# A session starts with RESET from the gateway, which picks the session byte;
# a frame of another session (a till that restarted, a cable that was cut and
# plugged back) is answered with STALE, and the gateway resets.
_MAX_WINDOW = const(16)
_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)


def ticks_diff(end, start):
    # time.ticks_diff's definition (ticks wrap at 2**30 ms on a board): the
    # same answers for a host's monotonic milliseconds, which never wrap.
    return ((end - start + _HALF) & _MASK) - _HALF


def bytes_needed(window):
    '''The memory a Channel of this window takes from `mem` (reserve.py).'''
    return window * MAX_RAW + 2 * MAX_WIRE + HEADER_BYTES + CRC_BYTES


class Channel:
    """One side of a link session. on_message(body) is called, with a
    memoryview valid during the call, for each DATA frame in order, once.
    gateway=True: this side starts sessions (reset()). mem: a buffer reserved
    at boot to carve every buffer from (bytes_needed(window) of it; the rest is
    .spare, for the transport's reads), else they are allocated here."""

    def __init__(self, on_message, window=4, credit=1, rto_ms=400, gateway=False,
                 on_reset=None, mem=None):
        if not 1 <= window <= _MAX_WINDOW:
            raise ValueError("window must be 1..%d" % _MAX_WINDOW)
        need = bytes_needed(window)
        mv = memoryview(mem if mem is not None else bytearray(need))
        if len(mv) < need:
            raise ValueError("the link needs %d bytes reserved, not %d" % (need, len(mv)))
        self.on_message = on_message
        self.on_reset = on_reset
        self.window = window
        self.rto_ms = rto_ms
        self.gateway = gateway
        r = MAX_RAW
        self._slots = [mv[i * r:(i + 1) * r] for i in range(window)]
        self._slot_len = [0] * window
        at = window * r
        self._wire = mv[at:at + MAX_WIRE]
        at += MAX_WIRE
        self.decoder = Decoder(self._on_frame, mv[at:at + MAX_WIRE])
        at += MAX_WIRE
        self._ctl = mv[at:at + HEADER_BYTES + CRC_BYTES]
        self.spare = mv[need:]
        self.session = 0  # 0: none yet
        self.ready = False  # gateway: the till answered RESET
        self.stale = False  # gateway: the till knows no such session
        self.credit = credit  # frames this side grants the other
        self.retransmits = 0
        self.duplicates = 0
        self._clear()
        self._reset_due = False
        self._reset_sent_ms = None
        self._reset_ok_due = False
        self._stale_for = 0
        self._now = 0

    def _clear(self):
        self.tx_next = 0  # the seq the next queued frame gets
        self.peer_ack = 0  # the oldest of ours not yet acknowledged
        self.peer_credit = 1
        self._send_from = 0  # the next of ours to (re)transmit
        self._sent_ms = None  # when the oldest unacknowledged frame left
        self._probe_ms = None
        self.rx_expected = 0
        self._ack_due = False

    # ---- state --------------------------------------------------------------

    def unacked(self):
        return (self.tx_next - self.peer_ack) & 0xFF

    def room(self):
        """Frames that can be queued now."""
        return self.window - self.unacked() if (self.ready or not self.gateway) else 0

    def idle(self):
        """Everything queued has been acknowledged."""
        return self.unacked() == 0

    def set_credit(self, n):
        """How many frames this side can take; a rise is announced at once."""
        if n > self.credit:
            self._ack_due = True
        self.credit = n

    # ---- sending ------------------------------------------------------------

    def reset(self, session, now_ms):
        """Gateway: start a new session (session: 1..255, differing from the last)."""
        self._clear()
        self.session = session
        self.ready = False
        self.stale = False
        self._reset_due = True
        self._reset_sent_ms = None
        self._now = now_ms

    def body(self):
        """The next free slot's body, to write a message into (then commit(n)),
        or None when the window is full."""
        if self.room() <= 0:
            return None
        return self._slots[self.tx_next % self.window][HEADER_BYTES:
                                                       HEADER_BYTES + MAX_BODY]

    def commit(self, n):
        if n > MAX_BODY:
            raise FrameError("message of %d bytes is over %d" % (n, MAX_BODY))
        i = self.tx_next % self.window
        self._slot_len[i] = n
        self.tx_next = (self.tx_next + 1) & 0xFF

    def send(self, data):
        """Queue one message (bytes); False when the window is full."""
        b = self.body()
        if b is None:
            return False
        n = len(data)
        b[:n] = data
        self.commit(n)
        return True

    def next_output(self, now_ms):
        """The next frame to write (a memoryview into a buffer reused by the
        next call), or None when there is nothing to send now."""
        self._now = now_ms
        if self.gateway and not self.ready:
            if self._reset_due and (self._reset_sent_ms is None or
                                    ticks_diff(now_ms, self._reset_sent_ms) >= self.rto_ms):
                self._reset_sent_ms = now_ms
                return self._control(T_RESET, self.session)
            return None
        if self._reset_ok_due:
            self._reset_ok_due = False
            return self._control(T_RESET_OK, self.session)
        if self._stale_for:
            s = self._stale_for
            self._stale_for = 0
            return self._control(T_STALE, s)
        unacked = self.unacked()
        if unacked and self._sent_ms is not None and \
                ticks_diff(now_ms, self._sent_ms) >= self.rto_ms:
            # Nothing acknowledged in time: send again from the oldest.
            self._send_from = self.peer_ack
            self._sent_ms = None
            self.retransmits += 1
        ahead = (self._send_from - self.peer_ack) & 0xFF
        if ahead < unacked:
            if ahead < self.peer_credit:
                seq = self._send_from
                i = seq % self.window
                raw = self._slots[i]
                n = pack(raw, T_DATA, self.session, seq, self.rx_expected, self.credit,
                           None, self._slot_len[i])
                self._send_from = (seq + 1) & 0xFF
                if self._sent_ms is None:
                    self._sent_ms = now_ms
                self._ack_due = False
                self._probe_ms = None
                m = to_wire(raw, n, self._wire)
                return self._wire[:m]
            # No credit: ask again now and then, in case its update was lost.
            if self._probe_ms is None:
                self._probe_ms = now_ms
            elif ticks_diff(now_ms, self._probe_ms) >= self.rto_ms:
                self._probe_ms = now_ms
                return self._control(T_PROBE, self.session)
        if self._ack_due:
            self._ack_due = False
            return self._control(T_ACK, self.session)
        return None

    def _control(self, ftype, session):
        n = pack(self._ctl, ftype, session, 0, self.rx_expected, self.credit)
        m = to_wire(self._ctl, n, self._wire)
        return self._wire[:m]

    # ---- receiving ----------------------------------------------------------

    def feed(self, data, now_ms, n=None):
        self._now = now_ms
        self.decoder.feed(data, n)

    def _on_frame(self, buf, body_len):
        ftype = buf[0]
        s = buf[1]
        if self.gateway:
            if s != self.session:
                return  # an old session's frame
            if ftype == T_RESET_OK:
                if not self.ready:
                    self.ready = True
                    self._reset_due = False
                return
            if ftype == T_STALE:
                self.stale = True
                return
            if not self.ready:
                return
        else:
            if ftype == T_RESET:
                if s == 0:
                    return
                if s == self.session:
                    # A repeated RESET (its RESET_OK was lost, or the line
                    # doubled it): answer again, keep the session's state.
                    self._reset_ok_due = True
                    return
                self._clear()
                self.session = s
                self._reset_ok_due = True
                if self.on_reset is not None:
                    self.on_reset()
                return
            if s == 0 or s != self.session:
                self._stale_for = s or 0xFF
                return
        self._take_ack(buf[3], buf[4])
        if ftype == T_DATA:
            seq = buf[2]
            if seq != self.rx_expected:
                self.duplicates += 1  # a repeat, or one after a lost frame
                self._ack_due = True
                return
            if self.credit <= 0:
                self._ack_due = True  # sent beyond our credit: again later
                return
            self.rx_expected = (seq + 1) & 0xFF
            self._ack_due = True
            self.on_message(buf[HEADER_BYTES:HEADER_BYTES + body_len])
        elif ftype == T_PROBE:
            self._ack_due = True

    def _take_ack(self, ack, credit):
        unacked = self.unacked()
        advance = (ack - self.peer_ack) & 0xFF
        if advance > unacked:
            return  # from before frames we have since had acknowledged
        if advance:
            self.peer_ack = ack
            if ((self._send_from - ack) & 0xFF) > self.unacked():
                self._send_from = ack
            # The next oldest gets its own full timeout, if it has left.
            self._sent_ms = self._now if self._send_from != ack else None
        self.peer_credit = credit
