# The device CBOR codec (firmware/till/formats/cbor.py), on CPython and MicroPython.
# Vectors are RFC 8949 Appendix A (the subset records use) plus the deterministic
# ordering and failure cases the journal relies on. The cbor2 cross-checks live in
# tests/host/test_cbor_peer.py.
import io

import support
from support import raises
from till.formats import cbor
from till.formats.cbor import CBORError, CBORTruncated, SequenceReader, decode_from, dumps, loads

h = bytes.fromhex

# RFC 8949 Appendix A, values this codec supports (encoding is the shortest form).
RFC_VECTORS = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"),
    (100, "1864"), (1000, "1903e8"), (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"),
    ("\u00fc", "62c3bc"), ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),  # the RFC's "\ud800\udd51": one 4-byte code point
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)),
     "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
     "a56161614161626142616361436164614461656145"),
]

# Appendix A items outside the subset: bignum tags, floats, undefined, simple
# values, other tags, indefinite lengths. All must be refused, not misread.
RFC_REFUSED = [
    "c249010000000000000000", "c349010000000000000000", "f90000", "f98000",
    "f93c00", "fb3ff199999999999a", "f93e00", "f97bff", "fa47c35000",
    "fa7f7fffff", "fb7e37e43c8800759c", "f90001", "f90400", "f9c400",
    "fbc010666666666666", "f97c00", "f97e00", "f9fc00", "fa7f800000",
    "fb7ff0000000000000", "f7", "f0", "f8ff", "c074323031332d30332d32315432303a30343a30305a",
    "c11a514b67b0", "c1fb41d452d9ec200000", "d74401020304", "d818456449455446",
    "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
    "5f42010243030405ff", "7f657374726561646d696e67ff", "9fff",
    "9f018202039f0405ffff", "9f01820203820405ff", "83018202039f0405ff",
    "bf61610161629f0203ffff", "826161bf61626163ff", "bf6346756ef563416d7421ff",
]


def test_rfc_vectors_encode_and_decode():
    for value, hexed in RFC_VECTORS:
        assert dumps(value) == h(hexed), (value, dumps(value))
        assert loads(h(hexed)) == value, hexed


def test_rfc_items_outside_the_subset_are_refused():
    for hexed in RFC_REFUSED:
        exc = raises(CBORError, loads, h(hexed))
        assert not isinstance(exc, CBORTruncated), hexed


def test_tuple_bytearray_memoryview_encode_as_array_and_bytes():
    assert dumps((1, (2, 3))) == h("8201820203")
    assert dumps(bytearray(b"\x01\x02")) == h("420102")
    assert dumps(memoryview(b"abc")[1:]) == h("426263")
    assert loads(dumps((1, 2))) == [1, 2]


def test_deterministic_map_order_is_length_first_then_bytewise():
    # -1 (0x20) is shorter than 24 (0x18 0x18) and so comes first (RFC 8949 §4.2.3).
    assert dumps({24: 0, -1: 0}) == h("a220001818" + "00")
    d = {"aa": 1, b"a": 2, "a": 3, 100: 4, 0: 5, -1: 6, 24: 7}
    expected = "a7" + "0005" + "2006" + "181807" + "186404" + "416102" + "616103" + "62616101"
    assert dumps(d) == h(expected)
    # Insertion order does not matter.
    rev = {}
    for k in reversed(list(d)):
        rev[k] = d[k]
    assert dumps(rev) == h(expected)
    assert loads(h(expected)) == d


def test_shortest_form_boundaries():
    cases = [(23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (65535, "19ffff"),
             (65536, "1a00010000"), (4294967295, "1affffffff"),
             (4294967296, "1b0000000100000000"), (-24, "37"), (-25, "3818"),
             (-256, "38ff"), (-257, "390100")]
    for value, hexed in cases:
        assert dumps(value) == h(hexed), value
        assert loads(h(hexed)) == value
    assert dumps(b"x" * 24)[:2] == h("5818")
    assert dumps("y" * 256)[:3] == h("790100")
    assert dumps([0] * 24)[:2] == h("9818")
    big = {}
    for i in range(24):
        big[i] = i
    assert dumps(big)[:2] == h("b818")


def test_non_shortest_forms_are_accepted_on_decode():
    for hexed in ("1801", "190001", "1a00000001", "1b0000000000000001"):
        assert loads(h(hexed)) == 1
    assert loads(h("5801" + "61")) == b"a"
    assert loads(h("790001" + "61")) == "a"
    assert loads(h("9a00000001" + "00")) == [0]


def test_encode_refuses_unsupported_values():
    for value in (1.5, 0.0, 2 ** 64, -(2 ** 64) - 1, object(), {1: 1.5}, [set()]):
        raises(CBORError, dumps, value)
    msg = str(raises(CBORError, dumps, {"total": 1.5}))
    assert "float" in msg, msg
    msg = str(raises(CBORError, dumps, [object()]))
    assert "object" in msg, msg
    for key in (True, None, (1, 2), 1.0):
        msg = str(raises(CBORError, dumps, {key: 1}))
        assert "key" in msg, msg
    # A lone surrogate is not Unicode: it must not reach a record as CESU bytes.
    raises(CBORError, dumps, "a\ud800b")


def test_many_and_repeated_map_keys():
    # Text keys are memoised up to a bound; past it they are still encoded right.
    d = {}
    for i in range(120):
        d["k%03d" % (119 - i)] = i
    data = dumps(d)
    assert data[:2] == h("b878") and data[2:9] == h("646b303030" + "1877")
    assert loads(data) == d
    assert dumps(d) == data
    assert len(cbor._KEY_CACHE) <= 48
    for _ in range(2):  # a refused key must not be remembered as good
        raises(CBORError, dumps, {"x\ud800": 1, "y": 2})
    assert dumps({"\u00fc": 1, "u": 2}) == h("a2" + "617502" + "62c3bc01")
    # 1 and True are equal dict keys; a memoised 1 must not let True through.
    assert dumps({1: 0, 0: 1}) == h("a200010100")
    raises(CBORError, dumps, {True: 0})
    raises(CBORError, dumps, {False: 0, 2: 0})


def test_encode_depth_limit():
    v = 0
    for _ in range(16):
        v = [v]
    assert loads(dumps(v)) == v
    raises(CBORError, dumps, [v])
    assert dumps([v], max_depth=17) == b"\x81" * 17 + b"\x00"
    m = 0
    for _ in range(17):
        m = {"k": m}
    raises(CBORError, dumps, m)
    cyclic = []
    cyclic.append(cyclic)
    raises(CBORError, dumps, cyclic)


def test_every_prefix_is_truncated():
    items = [
        {"op": "sale", "lines": [[b"\x01\x02", 3, -1250], [b"", 0, 18446744073709551615]],
         "who": "J\u00fcrgen \U00010151", 7: None, b"k": [True, False]},
        -18446744073709551616, "x" * 300, b"\xff" * 70000 if not support.IS_MICROPYTHON else b"\xff" * 3000,
        [[[[]]]], {1: {2: {3: "\u6c34"}}},
    ]
    for item in items:
        data = dumps(item)
        assert loads(data) == item
        for cut in range(len(data)):
            if len(data) > 400 and 10 < cut < len(data) - 10:
                continue  # the middle of a long string adds nothing new
            exc = raises(CBORTruncated, loads, data[:cut])
            assert exc.offset is not None and exc.offset <= cut, (cut, exc.offset)


def test_malformed_inputs():
    cases = [
        "1c", "1d", "1e", "3c", "5c", "7c", "9c", "bc",  # reserved additional info
        "1f", "3f", "5f4100ff", "7f6161ff", "9f00ff", "bf0000ff",  # indefinite
        "ff",  # break outside an indefinite item
        "c000", "d8ff00", "f7", "e0", "f820",  # tag, undefined, simple values
        "f93c00", "fa3f800000", "fb3ff0000000000000",  # floats
        "61ff", "6180", "62c080", "63e08080", "63eda080", "64f4908080",
        "64f0808080", "62e6b0", "65f888808080", "62c341",  # invalid UTF-8
        "a201000100", "a2616100616100", "a201001801" + "00",  # duplicate keys
        "a18000", "a1a000", "a1f500", "a1f600",  # unusable keys
        "0000", "8000", "a0f6",  # trailing bytes
    ]
    for hexed in cases:
        exc = raises(CBORError, loads, h(hexed))
        assert not isinstance(exc, CBORTruncated), (hexed, exc)
        assert "offset" in str(exc), str(exc)
    exc = raises(CBORError, loads, h("0000"))
    assert exc.offset == 1 and "trailing bytes" in str(exc), str(exc)
    exc = raises(CBORError, loads, h("8201c0"))
    assert exc.offset == 2 and "tag" in str(exc), str(exc)
    exc = raises(CBORError, loads, h("a2616100616100"))
    assert exc.offset == 4 and "duplicate" in str(exc), str(exc)
    exc = raises(CBORError, loads, h("826178" + "62eda0"))
    assert exc.offset == 3 and "UTF-8" in str(exc), str(exc)


def test_deep_nesting_is_an_error_not_a_crash():
    assert loads(b"\x81" * 16 + b"\x00") is not None
    for depth in (17, 1000):
        exc = raises(CBORError, loads, b"\x81" * depth + b"\x00")
        assert not isinstance(exc, CBORTruncated)
        assert "max_depth" in str(exc)
    raises(CBORError, loads, b"\xa1\x00" * 17 + b"\x00")
    assert loads(b"\x00", max_depth=0) == 0
    raises(CBORError, loads, b"\x80", max_depth=0)
    assert loads(b"\x81" * 40 + b"\x00", max_depth=40) is not None


def test_huge_declared_lengths_do_not_allocate():
    before = support.mem_free()
    cases = [
        "5bffffffffffffffff00", "7bffffffffffffffff61", "5a7fffffff000000",
        "9b00000000ffffffff000000", "9bffffffffffffffff00", "bbffffffffffffffff0000",
        "ba0000ffff0000", "99ffff00", "81" * 10 + "5a00100000",
    ]
    for hexed in cases:
        exc = raises(CBORTruncated, loads, h(hexed))
        assert "remain" in str(exc), str(exc)
    after = support.mem_free()
    if before is not None:
        assert before - after < 4096, (before, after)


def test_decode_from_walks_a_sequence():
    data = h("01" + "8301" + "0203" + "6161" + "a0")
    pos, got = 0, []
    while pos < len(data):
        obj, pos = decode_from(data, pos)
        got.append(obj)
    assert got == [1, [1, 2, 3], "a", {}]
    assert decode_from(data, 1) == ([1, 2, 3], 5)
    assert decode_from(memoryview(data), 5, 7) == ("a", 7)
    exc = raises(CBORTruncated, decode_from, data, 1, 4)
    assert exc.offset == 1, exc.offset  # the array that cannot fit
    exc = raises(CBORError, decode_from, b"\x00\x00\x1c", 2)
    assert exc.offset == 2 and "offset 2" in str(exc)
    raises(CBORTruncated, decode_from, data, len(data))


# ---- SequenceReader ---------------------------------------------------------

SEQ_ITEMS = [
    {"n": 1, "op": "open", "z": b"\x00" * 20},
    0,
    [1, -2, "drei"],
    {"n": 2, "lines": [["EAN4006381333931", 2, 129]], "who": "\u00fcber"},
    "y" * 40,
    None,
    {"n": 3, "total": -18446744073709551616},
]


def _seq():
    encoded = [dumps(x) for x in SEQ_ITEMS]
    starts, pos = [], 0
    for e in encoded:
        starts.append(pos)
        pos += len(e)
    return b"".join(encoded), encoded, starts


class ReadOnly:
    """A stream with read() only, like some UART drivers."""

    def __init__(self, data, step):
        self._data = data
        self._pos = 0
        self._step = step

    def read(self, n):
        n = min(n, self._step)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


def _collect(reader):
    got = []
    for offset, item, size in reader:
        got.append((offset, item, size, reader.last_raw()))
    return got


def test_sequence_reader_offsets_sizes_and_raw():
    data, encoded, starts = _seq()
    for chunk in (1, 5, 16, 512):
        reader = SequenceReader(io.BytesIO(data), chunk_bytes=chunk)
        assert reader.last_raw() is None
        got = _collect(reader)
        assert [g[0] for g in got] == starts, chunk
        assert [g[1] for g in got] == SEQ_ITEMS
        assert [g[2] for g in got] == [len(e) for e in encoded]
        assert [g[3] for g in got] == encoded
        assert reader.last_raw() is None  # the reader advanced past the end
        assert list(reader) == []


def test_sequence_reader_read_only_stream_and_empty_stream():
    data, encoded, starts = _seq()
    got = _collect(SequenceReader(ReadOnly(data, 3), chunk_bytes=8))
    assert [(g[0], g[1], g[3]) for g in got] == list(zip(starts, SEQ_ITEMS, encoded))
    assert list(SequenceReader(io.BytesIO(b""))) == []
    assert list(SequenceReader(ReadOnly(b"", 3))) == []


def test_sequence_reader_on_a_real_file():
    data, encoded, starts = _seq()
    d = support.tmpdir()
    path = d + "/seg.cbor"
    support.write_file(path, data)
    with open(path, "rb") as f:
        got = _collect(SequenceReader(f, chunk_bytes=32))
    assert [(g[0], g[1], g[3]) for g in got] == list(zip(starts, SEQ_ITEMS, encoded))
    support.write_file(path, data[:-3])
    with open(path, "rb") as f:
        reader = SequenceReader(f)
        seen = []
        exc = raises(CBORTruncated, lambda: [seen.append(x) for x in reader])
    assert len(seen) == len(SEQ_ITEMS) - 1
    assert exc.offset == starts[-1], exc.offset
    support.rmtree(d)


def test_sequence_reader_clean_end_vs_torn_tail_at_every_cut():
    data, encoded, starts = _seq()
    boundaries = starts + [len(data)]
    for chunk in (1, 7, 512):
        for cut in range(len(data) + 1):
            reader = SequenceReader(io.BytesIO(data[:cut]), chunk_bytes=chunk)
            seen = []
            try:
                for offset, item, size in reader:
                    seen.append(offset)
            except CBORTruncated as exc:
                assert cut not in boundaries, (chunk, cut)
                complete = [s for i, s in enumerate(starts) if s + len(encoded[i]) <= cut]
                assert seen == complete, (chunk, cut, seen)
                assert exc.offset == boundaries[len(complete)], (chunk, cut, exc.offset)
                assert "torn tail" in str(exc)
            else:
                assert cut in boundaries, (chunk, cut)
                assert seen == starts[:boundaries.index(cut)], (chunk, cut)


def test_sequence_reader_without_decoding_finds_the_same_items():
    # decode=False (the link streams records so): the same offsets, sizes and
    # bytes, each item None; a cut inside an item is still a torn tail; a
    # malformed head is still an error at its offset.
    data, encoded, starts = _seq()
    for chunk in (1, 5, 512):
        got = _collect(SequenceReader(io.BytesIO(data), chunk_bytes=chunk, decode=False))
        assert [g[0] for g in got] == starts, chunk
        assert [g[1] for g in got] == [None] * len(SEQ_ITEMS)
        assert [g[2] for g in got] == [len(e) for e in encoded]
        assert [g[3] for g in got] == encoded
    boundaries = starts + [len(data)]
    for cut in range(len(data) + 1):
        reader = SequenceReader(io.BytesIO(data[:cut]), chunk_bytes=7, decode=False)
        seen = []
        try:
            for offset, item, size in reader:
                seen.append(offset)
        except CBORTruncated as exc:
            assert cut not in boundaries, cut
            assert exc.offset == boundaries[len(seen)], (cut, exc.offset)
        else:
            assert cut in boundaries, cut
    for hexed, at in (("00" + "1c", 1), ("00" + "9f00ff", 1), ("8201c0", 0), ("00" + "f820", 1),
                      ("00" + "82" * 40 + "00", 1)):
        exc = raises(CBORError, list, SequenceReader(io.BytesIO(h(hexed)), decode=False,
                                                     max_depth=16))
        assert not isinstance(exc, CBORTruncated) and exc.offset == at, (hexed, exc)
    # A length beyond the data is a torn tail, never an allocation.
    exc = raises(CBORTruncated, list, SequenceReader(io.BytesIO(h("5bffffffffffffffff00")),
                                                     decode=False))
    assert exc.offset == 0


def test_sequence_reader_item_size_limit():
    big = dumps(b"x" * 100)  # 102 bytes
    data = b"\x00" + big + b"\x01"
    got = list(SequenceReader(io.BytesIO(data), max_item_bytes=102, chunk_bytes=8))
    assert got == [(0, 0, 1), (1, b"x" * 100, 102), (103, 1, 1)]
    reader = SequenceReader(io.BytesIO(data), max_item_bytes=101, chunk_bytes=8)
    assert next(reader) == (0, 0, 1)
    exc = raises(CBORError, next, reader)
    assert not isinstance(exc, CBORTruncated)
    assert exc.offset == 1 and "max_item_bytes" in str(exc), str(exc)
    assert len(reader._buf) <= 101  # the buffer never outgrew the limit
    raises(StopIteration, next, reader)
    # A torn tail that declares a huge length is still a torn tail at the end.
    exc = raises(CBORTruncated, list, SequenceReader(io.BytesIO(b"\x00\x5b\xff\xff\xff\xff\xff\xff\xff\xff\x00")))
    assert exc.offset == 1


def test_sequence_reader_malformed_item_reports_its_offset():
    data = dumps([1, 2]) + dumps({"a": 1}) + h("8201c0") + dumps(5)
    reader = SequenceReader(io.BytesIO(data), chunk_bytes=4)
    assert next(reader) == (0, [1, 2], 3)
    assert next(reader) == (3, {"a": 1}, 4)
    exc = raises(CBORError, next, reader)
    assert not isinstance(exc, CBORTruncated)
    assert exc.offset == 7, exc.offset
    assert "offset 7" in str(exc) and "offset 9" in str(exc) and "tag" in str(exc), str(exc)
    # Duplicate keys and bad UTF-8 inside a sequence are corruption, not a torn tail.
    for bad in (h("a2010001000a"), h("62c0800a")):
        exc = raises(CBORError, list, SequenceReader(io.BytesIO(b"\x00" + bad)))
        assert not isinstance(exc, CBORTruncated) and exc.offset == 1


def test_module_exposes_only_the_journal_api():
    for name in ("CBORError", "CBORTruncated", "dumps", "loads", "decode_from", "SequenceReader"):
        assert hasattr(cbor, name), name
    assert issubclass(CBORTruncated, CBORError) and issubclass(CBORError, ValueError)
