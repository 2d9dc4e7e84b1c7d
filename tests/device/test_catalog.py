# The catalog on flash: records, sorted indexes and lookups by PLU and barcode.
# Runs under CPython and MicroPython (-X heapsize=192K).
import io

import support
from till.formats import catalog, cbor
from till.formats.catalog import Catalog, SnapshotError, encode_item, gtin_key, item_from_record
from till.formats.catalog_writer import CatalogWriter
from till.formats.snapshot_files import content_hash, read_hash
from till.formats.package_writer import build_dir


def sample_items():
    """A small store: pieces, weighed, open-price and age-checked items."""
    return [
        {"plu": 1, "name": "Bananas", "price": 199, "tax": "B", "weighed": True,
         "barcodes": []},
        {"plu": 7, "name": "Brot 500 g", "price": 289, "tax": "B",
         "barcodes": ["4006381333931"]},
        {"plu": 12, "name": "Milch 1 l", "price": 119, "tax": "B",
         "barcodes": ["4008400402222", "04008400402239"]},
        {"plu": 40, "name": "Gift wrap", "price": 0, "tax": "A", "open_price": True},
        {"plu": 99, "name": "Whisky 0,7 l", "price": 2499, "tax": "A", "min_age": 18,
         "dept": 3, "barcodes": ["5000267024608"]},
        {"plu": 150, "name": "Cola", "price": 129, "tax": "A",
         "barcodes": ["036000291452"]},  # UPC-A: also found as 0036000291452
        {"plu": 4000000, "name": "Käse (Gouda) ½ kg", "price": 1390, "tax": "B",
         "weighed": True, "dept": 2, "barcodes": ["96385074"]},
    ]


def sample_meta(version, base=None):
    return {
        "format": 1, "version": version, "base": base, "created": 1700000000 + version,
        "store": {"id": "S1", "name": "Corner Shop"},
        "currency": {"code": "EUR", "decimals": 2},
        "tax_classes": {"A": {"name": "VAT 19%", "rate_ppm": 190000},
                        "B": {"name": "VAT 7%", "rate_ppm": 70000}},
        "cashiers": {1: {"name": "Anna", "role": "cashier",
                         "pin": {"alg": "pbkdf2-sha256", "salt": b"0123456789abcdef",
                                 "iterations": 1000, "hash": bytes(32)}}},
        "roles": {"cashier": {"rank": 1, "max_line_discount_bp": 1000,
                              "max_sale_discount_bp": 500, "max_refund": 0, "may": []}},
        "policies": {"prices_include_tax": True, "round_per_line": False,
                     "cash_rounding": 5, "retention_days": 90, "max_offline_hours": 72,
                     "max_snapshot_age_hours": 168},
        "barcode_rules": [{"prefix": "23", "kind": "weight", "item_digits": [2, 7],
                           "value_digits": [7, 12]}],
        "receipt": {"header": ["Corner Shop", "Main St 1"], "footer": ["Thank you"]},
    }


def make_catalog(items=None, version=1):
    path = support.tmpdir()
    build_dir(path, sample_meta(version), sample_items() if items is None else items)
    return path


def test_lookup_by_plu_present_absent_first_last():
    path = make_catalog()
    cat = Catalog(path)
    try:
        assert len(cat) == 7
        first = cat.by_plu(1)
        assert first == {"plu": 1, "name": "Bananas", "price": 199, "tax": "B",
                         "weighed": True, "open_price": False, "min_age": 0, "dept": 0}
        last = cat.by_plu(4000000)
        assert last["name"] == "Käse (Gouda) ½ kg" and last["weighed"] and last["dept"] == 2
        assert cat.by_plu(40)["open_price"] is True
        whisky = cat.by_plu(99)
        assert whisky["min_age"] == 18 and whisky["dept"] == 3 and whisky["price"] == 2499
        for missing in (0, 2, 13, 98, 100, 3999999, 4000001, 2 ** 32 - 1):
            assert cat.by_plu(missing) is None, missing
        for bad in (-1, 2 ** 32, "7", None, 7.0):
            assert cat.by_plu(bad) is None
    finally:
        cat.close()
    support.rmtree(path)


def test_lookup_by_barcode_normalises_gtin_lengths():
    path = make_catalog()
    cat = Catalog(path)
    try:
        assert cat.barcode_count == 6
        assert cat.by_barcode("4006381333931")["plu"] == 7
        assert cat.by_barcode("04006381333931")["plu"] == 7  # GTIN-14 form
        assert cat.by_barcode("4008400402239")["plu"] == 12  # second barcode of an item
        assert cat.by_barcode("036000291452")["plu"] == 150  # UPC-A as stored
        assert cat.by_barcode("0036000291452")["plu"] == 150  # UPC-A as EAN-13
        assert cat.by_barcode("96385074")["plu"] == 4000000  # EAN-8, the last entry
        assert cat.by_barcode("5000267024608")["name"] == "Whisky 0,7 l"
        # The first entry in barcode order (smallest number).
        assert cat.by_barcode("00000096385074")["plu"] == 4000000
        for unknown in ("4006381333938", "1", "99999999999999", "0"):
            assert cat.by_barcode(unknown) is None, unknown
        for bad in ("", "40063813339311", "123456789012345", "4006 381", "abc", None, b"123"):
            assert cat.by_barcode(bad) is None, bad
    finally:
        cat.close()
    support.rmtree(path)


def test_gtin_key():
    assert gtin_key("0000012345") == 12345
    assert gtin_key("99999999999999") == 99999999999999
    assert gtin_key("999999999999999") is None
    assert gtin_key("12a") is None
    assert gtin_key("") is None
    assert gtin_key(5) == 5
    assert gtin_key(True) is None


def test_record_round_trip_and_trailing_defaults():
    item = {"plu": 5, "name": "Äpfel", "price": 349, "tax": "B", "weighed": False,
            "open_price": False, "min_age": 0, "dept": 0}
    raw = encode_item(item)
    # [5, "Äpfel", 349, "B"]: defaults after the fourth field are left out.
    assert raw == bytes([0x84, 0x05, 0x66]) + "Äpfel".encode() + bytes([0x19, 0x01, 0x5D, 0x61, 0x42])
    assert item_from_record(cbor.loads(raw)) == item
    full = dict(item, weighed=True, open_price=True, min_age=16, dept=300)
    rec = cbor.loads(encode_item(full))
    assert rec == [5, "Äpfel", 349, "B", 3, 16, 300]
    assert item_from_record(rec) == full
    # Fields a newer head office adds after the seventh are ignored.
    assert item_from_record(rec + ["future"]) == full
    assert catalog.record_error(rec) is None
    assert catalog.record_error([5, "x", 1]) is not None
    assert catalog.record_error([5, "x", -1, "A"]) is not None
    assert catalog.record_error([5, 3, 1, "A"]) is not None
    assert catalog.record_error({"plu": 5}) is not None


def test_items_and_barcodes_iterate_in_order():
    path = make_catalog()
    cat = Catalog(path)
    try:
        plus = [it["plu"] for it in cat.items()]
        assert plus == [1, 7, 12, 40, 99, 150, 4000000]
        codes = list(cat.barcodes())
        assert [c for c, _ in codes] == sorted(c for c, _ in codes)
        assert (96385074, 4000000) in codes and (36000291452, 150) in codes
    finally:
        cat.close()
    support.rmtree(path)


def test_writer_refuses_unsorted_and_oversized():
    path = support.tmpdir()
    w = CatalogWriter(path)
    w.add_record(5, encode_item({"plu": 5, "name": "a", "price": 1, "tax": "A"}))
    support.raises(ValueError, w.add_record, 5, b"\x84\x05\x61a\x01\x61A")
    support.raises(ValueError, w.add_record, 4, b"\x84\x04\x61a\x01\x61A")
    support.raises(ValueError, w.add_record, 2 ** 32, b"\x80")
    support.raises(ValueError, w.add_record, 6, bytes(257))
    w.add_gtin(10, 5)
    support.raises(ValueError, w.add_gtin, 10, 5)
    support.raises(ValueError, w.add_gtin, 10 ** 14, 5)
    w.close()
    support.rmtree(path)
    items = sample_items()
    items[1]["barcodes"] = ["4006381333931"]
    items[2]["barcodes"] = ["04006381333931"]  # same GTIN on two items
    path = support.tmpdir()
    exc = support.raises(ValueError, build_dir, path, sample_meta(1), items)
    assert "more than one item" in str(exc)
    support.rmtree(path)


def test_content_hash_covers_every_file():
    path = make_catalog()
    digest = content_hash(path)
    assert read_hash(path) == digest and len(digest) == 32
    with open(path + "/plu.idx", "r+b") as f:
        f.seek(3)
        b = f.read(1)
        f.seek(3)
        f.write(bytes([b[0] ^ 1]))
    assert content_hash(path) != digest
    support.rmtree(path)


def test_empty_catalog():
    path = make_catalog(items=[])
    cat = Catalog(path)
    assert len(cat) == 0 and cat.by_plu(1) is None and cat.by_barcode("4006381333931") is None
    assert list(cat.items()) == []
    cat.close()
    support.rmtree(path)


def test_larger_catalog_every_item_found_with_little_heap():
    # 3000 items, written streaming (both keys rise with i), so the test itself
    # fits the heap; enough for the binary search to probe before its window read.
    path = support.tmpdir()
    w = CatalogWriter(path)
    for i in range(3000):
        plu = 3 * i + 2
        w.add_item({"plu": plu, "name": "Item %d" % plu, "price": 100 + i, "tax": "A"})
    for i in range(3000):
        w.add_gtin(2000000000000 + 7919 * i, 3 * i + 2)
    w.close()
    cat = Catalog(path)
    try:
        assert len(cat) == 3000 and cat.barcode_count == 3000
        for i in list(range(0, 3000, 37)) + [2999]:
            plu = 3 * i + 2
            assert cat.by_plu(plu)["name"] == "Item %d" % plu
            assert cat.by_plu(plu + 1) is None
            assert cat.by_barcode("%013d" % (2000000000000 + 7919 * i))["plu"] == plu
            assert cat.by_barcode("%013d" % (2000000000001 + 7919 * i)) is None
        if support.IS_MICROPYTHON:
            import gc

            gc.collect()
            gc.disable()
            try:
                before = gc.mem_free()
                for i in range(20):
                    cat.by_barcode("%013d" % (2000000000000 + 7919 * 149 * i))
                used = before - gc.mem_free()
            finally:
                gc.enable()
            # No dict or list grows with the catalog: a lookup allocates a few
            # small objects (ints, memoryview slices, the result dict).
            # (about 730 bytes per lookup measured on the unix port)
            assert used < 20 * 1500, used
    finally:
        cat.close()
    support.rmtree(path)


def test_damaged_record_is_an_error_not_a_wrong_item():
    path = make_catalog()
    with open(path + "/items", "r+b") as f:
        f.write(b"\xff")
    cat = Catalog(path)
    try:
        exc = support.raises(SnapshotError, cat.by_plu, 1)
        assert "item record at byte 0" in str(exc) and "sync the till" in str(exc)
        assert cat.by_plu(7)["name"] == "Brot 500 g"
    finally:
        cat.close()
    support.rmtree(path)


def test_package_round_trip_through_bytes():
    # write_full_package streams a directory out; the bytes are a CBOR sequence.
    from till.formats.package_writer import write_full_package

    path = make_catalog()
    out = io.BytesIO()
    write_full_package(path, out)
    seq = [x for _, x, _ in cbor.SequenceReader(io.BytesIO(out.getvalue()))]
    header = seq[0]
    assert header["kassa"] == "kassa-snapshot" and header["kind"] == "full"
    assert header["items"] == 7 and header["gtins"] == 6 and header["hash"] == read_hash(path)
    assert seq[1]["version"] == 1
    assert [r[0] for r in seq[2:9]] == [1, 7, 12, 40, 99, 150, 4000000]
    assert seq[9:] == sorted(seq[9:]) and len(seq) == 15
    support.rmtree(path)
