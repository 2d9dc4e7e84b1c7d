# Hand-written CBOR (RFC 8949) codec for the till journal, because micropython-lib's
# cbor2 1.0 cannot serve it: it has no deterministic encoding (records are hashed,
# so equal records must give equal bytes), no nesting limit (hostile input recurses
# until the stack overflows), tuples raise KeyError, and it reports a clean end of
# a CBOR sequence and a torn tail the same way (recovery must tell them apart).
#
# Only the subset records use: integers (-2**64 .. 2**64-1), byte and text strings,
# arrays, maps, false/true/null. Floats, tags, undefined, other simple values and
# indefinite lengths are refused, so money can only travel as integer minor units.
# The same source runs on MicroPython and CPython; cbor2 6.x is the test oracle.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_DEFAULT_DEPTH = const(16)
_MT_UINT = const(0x00)
_MT_NINT = const(0x20)
_MT_BYTES = const(0x40)
_MT_TEXT = const(0x60)
_MT_ARRAY = const(0x80)
_MT_MAP = const(0xA0)
_FALSE = const(0xF4)
_TRUE = const(0xF5)
_NULL = const(0xF6)


class CBORError(ValueError):
    """Malformed or unsupported CBOR, or a value that cannot be encoded.

    .what is the problem without position; .offset is the byte offset the error
    refers to (for SequenceReader errors: where the offending item starts)."""

    def __init__(self, what, offset=None, at=None):
        if at is None:
            at = offset
        super().__init__(what if at is None else "%s at byte offset %d" % (what, at))
        self.what = what
        self.offset = offset


class CBORTruncated(CBORError):
    """The input ended inside an item: a torn tail, not corruption."""


def _utf8_strict(b, i, end):
    # RFC 3629 well-formedness. MicroPython's str(b, 'utf-8') accepts overlong
    # forms, surrogates (ED A0..BF) and code points above U+10FFFF, which CPython
    # and cbor2 reject; both interpreters must agree on what a valid record is.
    while i < end:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            n, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            n = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            n = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return False
        if i + n >= end:
            return False
        c = b[i + 1]
        if c < lo or c > hi:
            return False
        for j in range(i + 2, i + n + 1):
            if b[j] & 0xC0 != 0x80:
                return False
        i += n + 1
    return True


def _lenient_utf8():
    try:
        str(b"\xed\xa0\x80", "utf-8")
    except UnicodeError:
        return False
    return True


# Checked once at import: only an interpreter whose decoder lets surrogates through
# pays for the Python-level check, and only for text that is not pure ASCII.
_LENIENT_UTF8 = _lenient_utf8()


# ---- encoding -------------------------------------------------------------

def _head(out, mt, n):
    # Shortest form of the argument (RFC 8949 §4.2.1).
    if n < 24:
        out.append(mt | n)
    elif n < 0x100:
        out.append(mt | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(mt | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(mt | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(mt | 27)
        out += n.to_bytes(8, "big")


def _enc_int(out, n):
    if n >= 0:
        if n > 0xFFFFFFFFFFFFFFFF:
            raise CBORError("integer %d is above 2**64-1 (bignums are not supported)" % n)
        _head(out, _MT_UINT, n)
    else:
        n = -1 - n
        if n > 0xFFFFFFFFFFFFFFFF:
            raise CBORError("integer %d is below -2**64 (bignums are not supported)" % (-1 - n))
        _head(out, _MT_NINT, n)


def _enc_text(out, s):
    try:
        b = s.encode("utf-8")
    except UnicodeError:  # CPython: lone surrogates
        raise CBORError("text is not valid Unicode (lone surrogate)")
    if _LENIENT_UTF8 and len(b) != len(s) and not _utf8_strict(b, 0, len(b)):
        raise CBORError("text is not valid Unicode (lone surrogate)")
    _head(out, _MT_TEXT, len(b))
    out += b


def _enc(out, obj, depth):
    # depth: how many more containers may be opened below this point. Exact type
    # checks come first because they are the cheap path on MicroPython; the
    # isinstance() fallbacks take subclasses (OrderedDict, IntEnum on CPython).
    t = type(obj)
    if t is int:
        if 0 <= obj < 24:
            out.append(obj)
        else:
            _enc_int(out, obj)
    elif t is str:
        _enc_text(out, obj)
    elif t is dict:
        _enc_map(out, obj, depth)
    elif t is list or t is tuple:
        _enc_array(out, obj, depth)
    elif t is bytes or t is bytearray:
        _head(out, _MT_BYTES, len(obj))
        out += obj
    elif obj is None:
        out.append(_NULL)
    elif obj is True:
        out.append(_TRUE)
    elif obj is False:
        out.append(_FALSE)
    elif isinstance(obj, int):
        _enc_int(out, obj)
    elif isinstance(obj, str):
        _enc_text(out, obj)
    elif isinstance(obj, dict):
        _enc_map(out, obj, depth)
    elif isinstance(obj, (list, tuple)):
        _enc_array(out, obj, depth)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        obj = bytes(obj)  # len() of a memoryview counts items, not bytes
        _head(out, _MT_BYTES, len(obj))
        out += obj
    elif isinstance(obj, float):
        raise CBORError("cannot encode float %r: records carry money as integer minor units" % obj)
    else:
        raise CBORError("cannot encode %s (supported: int, str, bytes, list, tuple, dict, "
                        "bool, None)" % type(obj).__name__)


def _enc_array(out, a, depth):
    if depth <= 0:
        raise CBORError("nesting deeper than max_depth")
    _head(out, _MT_ARRAY, len(a))
    depth -= 1
    for x in a:
        _enc(out, x, depth)


# Records repeat the same few keys, and encoding a key cost a third of dumps()
# on MicroPython; a small bounded memo of their encodings removes that. Only
# exact int and str go in: True == 1 would otherwise find 1's encoding.
_KEY_CACHE = {}
_KEY_CACHE_SIZE = const(48)


def _key_bytes(k):
    t = type(k)
    if t is str or t is int:
        kb = _KEY_CACHE.get(k)
        if kb is None:
            out = bytearray()
            _enc(out, k, 0)
            kb = bytes(out)
            if len(kb) <= 24 and len(_KEY_CACHE) < _KEY_CACHE_SIZE:
                _KEY_CACHE[k] = kb
        return kb
    # Keys are limited to what the decoder accepts back, so a journal never
    # writes a record it cannot read. bool is refused before the isinstance()
    # test because in CPython it is an int.
    if k is True or k is False or not isinstance(k, (int, str, bytes)):
        raise CBORError("map key must be int, str or bytes, not %s" % type(k).__name__)
    out = bytearray()
    _enc(out, k, 0)
    return out


def _enc_map(out, d, depth):
    if depth <= 0:
        raise CBORError("nesting deeper than max_depth")
    depth -= 1
    _head(out, _MT_MAP, len(d))
    if len(d) == 1:
        for k, v in d.items():
            out += _key_bytes(k)
            _enc(out, v, depth)
        return
    # Records use small integer keys (0-23): each encodes as the one byte equal
    # to its value, so numeric order is the canonical order, and nothing but the
    # sorted key list needs allocating (this path halves a record's garbage).
    small = True
    for k in d:
        if type(k) is not int or not 0 <= k < 24:
            small = False
            break
    if small:
        for k in sorted(d):
            out.append(k)
            _enc(out, d[k], depth)
        return
    # RFC 8949 §4.2.3 order (what cbor2 canonical=True emits): shorter encoded key
    # first, then bytewise. Distinct dict keys never encode alike, so the sort
    # never falls through to comparing values.
    pairs = []
    for k, v in d.items():
        kb = _key_bytes(k)
        pairs.append((len(kb), kb, v))
    pairs.sort()
    for _, kb, v in pairs:
        out += kb
        _enc(out, v, depth)


def dumps(obj, max_depth=_DEFAULT_DEPTH):
    """Deterministic encoding (RFC 8949 §4.2) of obj as bytes."""
    out = bytearray()
    _enc(out, obj, max_depth)
    return bytes(out)


def dumps_into(out, obj, max_depth=_DEFAULT_DEPTH):
    """Encode obj into the bytearray `out` (emptied first) and return it.

    A till reserves `out` at boot and reuses it for every record: a growing
    buffer would need ever larger free blocks from a heap that a day of small
    allocations has fragmented."""
    out[:] = b""  # empty, but its allocated room stays
    _enc(out, obj, max_depth)
    return out


# ---- decoding -------------------------------------------------------------

def _dec(buf, pos, end, depth):
    if pos >= end:
        raise CBORTruncated("input ends where an item should start", pos)
    ib = buf[pos]
    mt = ib & 0xE0
    ai = ib & 0x1F
    if mt == 0xC0:
        raise CBORError("tag (major type 6) is not supported", pos)
    if mt == 0xE0:
        if ai == 20:
            return False, pos + 1
        if ai == 21:
            return True, pos + 1
        if ai == 22:
            return None, pos + 1
        if 25 <= ai <= 27:
            raise CBORError("float is not supported", pos)
        if ai == 31:
            raise CBORError("unexpected break (0xff)", pos)
        raise CBORError("simple value 0x%02x is not supported" % ib, pos)
    p = pos + 1
    if ai < 24:
        n = ai
    elif ai < 28:
        w = 1 << (ai - 24)
        if p + w > end:
            raise CBORTruncated("input ends inside an item head", pos)
        if w == 1:
            n = buf[p]
        else:
            n = int.from_bytes(buf[p:p + w], "big")
        p += w
    elif ai == 31:
        raise CBORError("indefinite length is not supported", pos)
    else:
        raise CBORError("reserved additional information %d" % ai, pos)

    if mt == 0x00:
        return n, p
    if mt == 0x20:
        return -1 - n, p
    if mt == 0x40 or mt == 0x60:
        # Compare before slicing: a hostile length must never reach an allocation.
        if n > end - p:
            raise CBORTruncated("string declares %d bytes but %d remain" % (n, end - p), pos)
        q = p + n
        if mt == 0x40:
            return bytes(buf[p:q]), q
        try:
            s = str(buf[p:q], "utf-8")
        except UnicodeError:
            s = None
        if s is None or (_LENIENT_UTF8 and len(s) != n and not _utf8_strict(buf, p, q)):
            raise CBORError("text string is not valid UTF-8", pos)
        return s, q
    if depth <= 0:
        raise CBORError("nesting deeper than max_depth", pos)
    if mt == 0x80:
        # Every element takes at least one byte, so a count above the bytes left
        # is a short input; checking first keeps the list from growing on trust.
        if n > end - p:
            raise CBORTruncated("array declares %d items but %d bytes remain" % (n, end - p), pos)
        items = []
        for _ in range(n):
            x, p = _dec(buf, p, end, depth - 1)
            items.append(x)
        return items, p
    # mt == 0xA0: map
    if 2 * n > end - p:
        raise CBORTruncated("map declares %d pairs but %d bytes remain" % (n, end - p), pos)
    d = {}
    for _ in range(n):
        kpos = p
        k, p = _dec(buf, p, end, depth - 1)
        tk = type(k)
        if tk is not int and tk is not str and tk is not bytes:
            raise CBORError("map key must be int, text or bytes", kpos)
        if k in d:
            raise CBORError("duplicate map key", kpos)
        d[k], p = _dec(buf, p, end, depth - 1)
    return d, p


def _skip(buf, pos, end, depth):
    # Where the item at buf[pos] ends, building nothing: the link finds the
    # bounds of a day's records in a heap too cut up to decode a sale's lines
    # (HO decodes and checks them). Heads and lengths are checked as _dec
    # checks them; text is not checked for UTF-8.
    if pos >= end:
        raise CBORTruncated("input ends where an item should start", pos)
    mt = buf[pos] & 0xE0
    ai = buf[pos] & 0x1F
    if mt >= 0xC0 or ai > 27:
        return _dec(buf, pos, end, depth)[1]  # a simple value, or _dec's error
    p = pos + 1
    n = ai
    if ai >= 24:
        w = 1 << (ai - 24)
        if p + w > end:
            raise CBORTruncated("input ends inside an item head", pos)
        n = int.from_bytes(buf[p:p + w], "big")
        p += w
    if mt <= 0x20:
        return p
    if mt <= 0x60:
        if n > end - p:
            raise CBORTruncated("string declares %d bytes but %d remain" % (n, end - p), pos)
        return p + n
    if depth <= 0:
        raise CBORError("nesting deeper than max_depth", pos)
    if mt == 0xA0:
        n *= 2
    if n > end - p:
        raise CBORTruncated("array declares %d items but %d bytes remain" % (n, end - p), pos)
    for _ in range(n):
        p = _skip(buf, p, end, depth - 1)
    return p


def decode_from(buf, pos=0, end=None, max_depth=_DEFAULT_DEPTH):
    """Decode the item starting at buf[pos]; return (obj, position after it).

    CBORTruncated if the item does not finish before end (default len(buf))."""
    n = len(buf)
    if end is None or end > n:
        end = n
    return _dec(buf, pos, end, max_depth)


def loads(data, max_depth=_DEFAULT_DEPTH):
    """Decode exactly one item; anything after it is an error."""
    obj, p = _dec(data, 0, len(data), max_depth)
    if p != len(data):
        raise CBORError("trailing bytes", p)
    return obj


# ---- CBOR sequences (RFC 8742) ---------------------------------------------

class SequenceReader:
    """Iterate (offset, item, size_bytes) over a CBOR sequence read from stream.

    Memory stays bounded: one buffer of chunk_bytes that grows (doubling) only
    while a single item does not fit, and never beyond max_item_bytes. The end of
    the stream between items stops iteration; inside an item it raises
    CBORTruncated (a torn tail). Every CBORError raised here has .offset set to the
    stream offset where the offending item starts; offsets count from the stream's
    position when the reader got it. buffer: a bytearray to read through
    instead of allocating one (a fixed heap may have no free block of its
    size); it is overwritten, and replaced only if an item outgrows it.
    decode=False: each item is None, its bytes (last_raw) found without
    building it."""

    def __init__(self, stream, max_item_bytes=16384, chunk_bytes=512, max_depth=_DEFAULT_DEPTH,
                 buffer=None, decode=True):
        if max_item_bytes < 1 or chunk_bytes < 1:
            raise ValueError("max_item_bytes and chunk_bytes must be positive")
        self._stream = stream
        self._readinto = getattr(stream, "readinto", None)
        self._max = max_item_bytes
        self._depth = max_depth
        self._decode = decode  # False: items come as None, only their bytes are found
        self._buf = buffer if buffer else bytearray(min(chunk_bytes, max_item_bytes))
        self._mv = memoryview(self._buf)
        self._base = 0  # stream offset of _buf[0]
        self._start = 0  # first byte not yet decoded
        self._fill = 0  # end of valid data in _buf
        self._eof = False
        self._done = False
        self._last = None  # (start, end) in _buf of the last item yielded

    def __iter__(self):
        return self

    def last_raw(self):
        """Bytes of the item just yielded (valid until the reader advances), else None."""
        if self._last is None:
            return None
        return bytes(self._mv[self._last[0]:self._last[1]])

    def last_raw_view(self):
        """The same bytes as a memoryview into the reader's buffer, without a
        copy; valid only until the reader advances (write it out at once)."""
        if self._last is None:
            return None
        return self._mv[self._last[0]:self._last[1]]

    def __next__(self):
        # The buffer may move below, so the span of the previous item dies here.
        self._last = None
        if self._done:
            raise StopIteration
        while True:
            start = self._start
            if start < self._fill:
                try:
                    if self._decode:
                        item, end = _dec(self._mv, start, self._fill, self._depth)
                    else:
                        item, end = None, _skip(self._mv, start, self._fill, self._depth)
                except CBORTruncated:
                    if not self._eof:
                        self._more()
                        continue
                    self._fail(CBORTruncated(
                        "torn tail: stream ends at byte %d inside the item starting"
                        % (self._base + self._fill), self._base + start))
                except CBORError as exc:
                    self._fail(type(exc)("item starting at offset %d: %s" % (self._base + start, exc.what),
                                         self._base + start, self._base + exc.offset))
                self._start = end
                self._last = (start, end)
                return self._base + start, item, end - start
            if self._eof:
                self._done = True
                raise StopIteration
            self._more()

    def _fail(self, exc):
        self._done = True
        raise exc

    def _more(self):
        # Move the unfinished item to the front, grow if it alone fills the buffer,
        # then read once into the free space.
        start, fill = self._start, self._fill
        have = fill - start
        cap = len(self._buf)
        if have == cap:
            if cap >= self._max:
                self._fail(CBORError("item larger than max_item_bytes=%d" % self._max,
                                     self._base + start))
            buf = bytearray(min(cap * 2, self._max))
            buf[:have] = self._mv[start:fill]
            self._buf = buf
            self._mv = memoryview(buf)
        elif start:
            self._mv[:have] = self._mv[start:fill]
        self._base += start
        self._start = 0
        self._fill = have
        room = self._mv[have:]
        if self._readinto is not None:
            got = self._readinto(room)
        else:
            data = self._stream.read(len(room))
            got = len(data) if data else 0
            if got:
                room[:got] = data
        if not got:
            self._eof = True
        else:
            self._fill = have + got
