# The link's frames with no I/O, on both interpreters: COBS round trips, the
# CRC-32 (zlib's), and a decoder that drops garbage, bad CRCs and overlong
# frames and finds the next frame at the next 0x00.
from linkpair import Rng
from till.link import wire as F


def encode(ftype, body, session=1, seq=0, ack=0, credit=1):
    raw = bytearray(F.MAX_RAW)
    n = F.pack(raw, ftype, session, seq, ack, credit, body, len(body))
    out = bytearray(F.MAX_WIRE)
    m = F.to_wire(raw, n, out)
    return bytes(out[:m])


def test_crc32_is_zlibs():
    assert F.crc32(b"123456789") == 0xCBF43926


def test_cobs_round_trips_and_never_emits_zero():
    r = Rng(3)
    for n in list(range(0, 600, 1)) + [253, 254, 255, 508, 509, 510, F.MAX_RAW]:
        data = bytes(r.choice((0, 0, 1, 255, r.randrange(256))) for _ in range(n))
        out = bytearray(n + n // 254 + 2)
        m = F.cobs_encode(data, n, out)
        assert m <= n + n // 254 + 1
        assert not [b for b in out[:m] if b == 0]
        buf = bytearray(out[:m])
        k = F.cobs_decode(buf, m)
        assert bytes(buf[:k]) == data


def test_known_cobs_vectors():
    # From the COBS paper / Wikipedia's examples.
    for data, enc in ((b"\x00", b"\x01\x01"), (b"\x00\x00", b"\x01\x01\x01"),
                      (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
                      (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01")):
        out = bytearray(8)
        m = F.cobs_encode(data, len(data), out)
        assert bytes(out[:m]) == enc


def test_not_cobs_is_refused():
    for bad in (b"\x05\x01\x02", b"\x03\x01\x00", b"\x00"):
        assert F.cobs_decode(bytearray(bad), len(bad)) == -1


def test_decoder_finds_frames_among_garbage():
    got = []
    d = F.Decoder(lambda buf, n: got.append((buf[0], bytes(buf[F.HEADER_BYTES:F.HEADER_BYTES + n]))))
    good = encode(F.T_DATA, b"hello\x00world")
    bad_crc = bytearray(encode(F.T_DATA, b"x" * 20))
    bad_crc[5] ^= 0x40
    overlong = bytes([0x55]) * (F.MAX_WIRE + 50) + b"\x00"
    stream = b"\x00\x00noise\x00" + good + bytes(bad_crc) + overlong + b"\x07\x00" + good
    for i in range(0, len(stream), 7):  # in pieces, as a UART delivers them
        d.feed(stream[i:i + 7])
    assert got == [(F.T_DATA, b"hello\x00world")] * 2
    assert d.bad_frames == 3  # "noise", the flipped bit, a lone byte
    assert d.long_frames == 1
    # A frame cut at its start (the receiver joined late) is one bad frame, not two.
    d.feed(good[3:] + good)
    assert len(got) == 3 and d.bad_frames == 4


def test_the_largest_body_fits_the_reserved_buffers():
    body = bytes(range(256)) * 2
    assert len(body) == F.MAX_BODY
    wire = encode(F.T_DATA, body)
    assert len(wire) <= F.MAX_WIRE
    got = []
    F.Decoder(lambda buf, n: got.append(bytes(buf[F.HEADER_BYTES:F.HEADER_BYTES + n]))).feed(wire)
    assert got == [body]
    raw = bytearray(F.MAX_RAW)
    try:
        F.pack(raw, F.T_DATA, 1, 0, 0, 1, body + b"!", F.MAX_BODY + 1)
    except F.FrameError:
        pass
    else:
        raise AssertionError("an oversized body was packed")
