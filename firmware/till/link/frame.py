# Frames on the link: COBS-encoded (0x00 delimiter), each with a CRC-32.
#
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
    raw[2] = seq
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
