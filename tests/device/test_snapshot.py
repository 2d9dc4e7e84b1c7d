# Installing head-office snapshots on the till: full packages, deltas on the right
# and the wrong base, damaged packages, leftovers of interrupted installs, and a
# power cut at every flash operation of an install (littlefs on an emulated chip,
# MicroPython only). Runs under CPython and MicroPython (-X heapsize=192K).
import io
import os

import support
from test_catalog import sample_items, sample_meta
from till.formats import cbor
from till.formats.snapshot_files import read_hash
from till.formats.package_writer import (PackageWriter, build_dir, write_delta_package,
                                         write_full_package)
from till.formats.snapshot import (HashMismatchError, PackageError, SnapshotError, SnapshotStore,
                           WrongBaseError)


def v2_items():
    """Version 2: a price change, an item gone, an item added, a barcode moved."""
    items = []
    for it in sample_items():
        if it["plu"] == 40:
            continue  # removed
        if it["plu"] == 7:
            it = dict(it, price=299)
        if it["plu"] == 12:
            it = dict(it, barcodes=["4008400402222"])
        items.append(it)
    items.append({"plu": 55, "name": "Eggs 10", "price": 279, "tax": "B",
                  "barcodes": ["4008400402239", "4311501000007"]})
    return items


def v2_meta(version=2):
    meta = sample_meta(version)
    meta["cashiers"][2] = {"name": "Ben", "role": "cashier",
                           "pin": {"alg": "pbkdf2-sha256", "salt": b"fedcba9876543210",
                                   "iterations": 1000, "hash": bytes(range(32))}}
    meta["policies"]["cash_rounding"] = 10
    return meta


def built(meta, items):
    path = support.tmpdir()
    build_dir(path, meta, items)
    return path


def full_package(path):
    out = io.BytesIO()
    write_full_package(path, out)
    return out.getvalue()


def delta_package(old, new):
    out = io.BytesIO()
    write_delta_package(old, new, out)
    return out.getvalue()


class Fixture:
    """Snapshot directories v1, v2 (and v3) as head office builds them, and packages."""

    def __init__(self, with_v3=False):
        self.v1 = built(sample_meta(1), sample_items())
        self.v2 = built(v2_meta(), v2_items())
        self.full1 = full_package(self.v1)
        self.full2 = full_package(self.v2)
        self.delta12 = delta_package(self.v1, self.v2)
        self.v3 = None
        if with_v3:
            items = v2_items()
            items[0] = dict(items[0], price=149)
            self.v3 = built(sample_meta(3), items)
            self.delta23 = delta_package(self.v2, self.v3)

    def remove(self):
        for p in (self.v1, self.v2, self.v3):
            if p is not None:
                support.rmtree(p)


def store_with(pkg):
    root = support.tmpdir() + "/snap"
    store = SnapshotStore(root)
    assert store.open() is None
    store.install(io.BytesIO(pkg))
    return store


def entries(root):
    return sorted(os.listdir(root))


def assert_v1(snap):
    assert snap.version == 1
    assert snap.by_plu(7)["price"] == 289
    assert snap.by_plu(40)["open_price"]
    assert snap.by_plu(55) is None
    assert snap.by_barcode("4008400402239")["plu"] == 12
    assert snap.cashier(2) is None


def assert_v2(snap):
    assert snap.version == 2
    assert snap.by_plu(7)["price"] == 299
    assert snap.by_plu(40) is None
    assert snap.by_plu(55)["name"] == "Eggs 10"
    assert snap.by_barcode("4008400402239")["plu"] == 55
    assert snap.by_barcode("4008400402222")["plu"] == 12
    assert snap.by_barcode("4311501000007")["plu"] == 55
    assert snap.by_plu(4000000)["weighed"]
    assert snap.cashier(2)["name"] == "Ben"
    assert snap.policies["cash_rounding"] == 10


def test_full_install_and_reopen():
    fx = Fixture()
    store = store_with(fx.full1)
    info = store.current.journal_info()
    assert info == {"version": 1, "base": None, "hash": read_hash(fx.v1)}
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    # The till restarts: a new store object finds the same snapshot.
    store.close()
    again = SnapshotStore(store.root)
    snap = again.open()
    assert_v1(snap)
    assert snap.hash == read_hash(fx.v1)
    # The installed files are byte for byte what head office built.
    for name in ("meta", "items", "plu.idx", "gtin.idx", "hash"):
        assert support.read_file(snap.path + "/" + name) == support.read_file(fx.v1 + "/" + name)
    again.close()
    fx.remove()


def test_meta_accessors():
    fx = Fixture()
    store = store_with(fx.full2)
    snap = store.current
    assert snap.tax_classes["A"] == {"name": "VAT 19%", "rate_ppm": 190000}
    assert snap.tax_rates() == {"A": 190000, "B": 70000}
    anna = snap.cashier(1)
    assert anna["id"] == 1 and anna["name"] == "Anna" and anna["role"] == "cashier"
    assert anna["pin"]["salt"] == b"0123456789abcdef" and anna["pin"]["iterations"] == 1000
    assert snap.cashier(99) is None
    assert snap.role("cashier")["max_line_discount_bp"] == 1000
    assert snap.role("owner") is None
    assert snap.policies["prices_include_tax"] is True
    assert snap.barcode_rules[0]["prefix"] == "23"
    assert snap.receipt["footer"] == ["Thank you"]
    assert snap.store["name"] == "Corner Shop"
    assert snap.currency == {"code": "EUR", "decimals": 2}
    assert snap.meta["created"] == 1700000002
    assert snap.meta["items"] == 7 and snap.meta["gtins"] == 7
    store.close()
    fx.remove()


def test_delta_on_the_right_base():
    fx = Fixture()
    store = store_with(fx.full1)
    info = store.install(io.BytesIO(fx.delta12))
    assert info["version"] == 2 and info["base"] == 1
    assert_v2(store.current)
    assert entries(store.root) == ["current", "snap-2"]
    # The till now has exactly what head office built as version 2: same files,
    # same hash as a full install of it would give.
    for name in ("meta", "items", "plu.idx", "gtin.idx", "hash"):
        assert support.read_file(store.current.path + "/" + name) == \
            support.read_file(fx.v2 + "/" + name)
    assert info["hash"] == read_hash(fx.v2)
    store.close()
    fx.remove()


def test_delta_entries_are_only_the_changes():
    fx = Fixture()
    seq = [x for _, x, _ in cbor.SequenceReader(io.BytesIO(fx.delta12))]
    header, meta, rest = seq[0], seq[1], seq[2:]
    assert header["kind"] == "delta" and header["base"] == 1
    assert header["base_hash"] == read_hash(fx.v1)
    assert meta["version"] == 2 and header["hash"] == read_hash(fx.v2)
    items = rest[:header["items"]]
    # 7 changed price, 12 lost a barcode only (its record is unchanged), 40 removed, 55 added.
    assert [r[0] for r in items] == [7, 40, 55]
    assert items[1] == [40]
    gtins = rest[header["items"]:]
    assert gtins == [[4008400402239, 55], [4311501000007, 55]]
    fx.remove()


def test_delta_on_the_wrong_base_is_refused():
    fx = Fixture(with_v3=True)
    store = store_with(fx.full1)
    exc = support.raises(WrongBaseError, store.install, io.BytesIO(fx.delta23))
    assert "snapshot 2" in str(exc) and "snapshot 1" in str(exc)
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    # A delta needs a snapshot in force.
    empty = SnapshotStore(support.tmpdir() + "/snap")
    empty.open()
    support.raises(WrongBaseError, empty.install, io.BytesIO(fx.delta12))
    assert entries(empty.root) == []
    store.close()
    fx.remove()


def test_delta_for_same_version_other_content_is_refused():
    # Same base version number, different content: the base hash tells them apart.
    fx = Fixture()
    other1 = built(sample_meta(1), sample_items()[:-1])
    store = store_with(full_package(other1))
    support.raises(WrongBaseError, store.install, io.BytesIO(fx.delta12))
    assert store.current.version == 1 and store.current.by_plu(4000000) is None
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    support.rmtree(other1)
    fx.remove()


def _flip(pkg, old, new):
    i = pkg.find(old)
    assert i > 0
    return pkg[:i] + new + pkg[i + len(old):]


def test_bad_hash_leaves_the_old_snapshot():
    fx = Fixture()
    store = store_with(fx.full1)
    # A record changed on the way but still well-formed CBOR: only the hash can tell.
    bad = _flip(fx.delta12, b"Eggs 10", b"Eggs 12")
    exc = support.raises(HashMismatchError, store.install, io.BytesIO(bad))
    assert "does not match" in str(exc)
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    bad_full = _flip(fx.full2, b"Bananas", b"Bananaz")
    support.raises(HashMismatchError, store.install, io.BytesIO(bad_full))
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    fx.remove()


def test_damaged_packages_give_clear_errors():
    fx = Fixture()
    store = store_with(fx.full1)
    cases = [
        (fx.full2[:len(fx.full2) - 3], "damaged"),  # torn inside the last entry
        (fx.full2 + b"\x00", "after its last entry"),
        (b"", "ends before its header"),
        (b"PK\x03\x04 not cbor", "not a snapshot package"),
        (cbor.dumps({"kassa": "kassa-snapshot", "format": 9}), "update the till's firmware"),
    ]
    for pkg, words in cases:
        exc = support.raises(PackageError, store.install, io.BytesIO(pkg))
        assert words in str(exc), (words, str(exc))
        assert_v1(store.current)
        assert entries(store.root) == ["current", "snap-1"]
    # Cut exactly between entries: the header's counts catch it.
    seq_end = fx.full2.rfind(cbor.dumps([96385074, 4000000]))
    exc = support.raises(PackageError, store.install, io.BytesIO(fx.full2[:seq_end]))
    assert "ends before" in str(exc)
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    fx.remove()


def _hand_made_delta(store, items, gtins):
    # A delta written entry by entry, for cases head office's builder never makes.
    cur = store.current
    out = io.BytesIO()
    pw = PackageWriter(out)
    pw.header("delta", 2, bytes(32), len(items), len(gtins), cur.version, cur.hash)
    meta = dict(cur.meta, version=2)
    pw.meta(cbor.dumps(meta))
    for e in items:
        out.write(cbor.dumps(e))
    for e in gtins:
        out.write(cbor.dumps(e))
    return out.getvalue()


def test_delta_that_does_not_fit_its_base_is_refused():
    fx = Fixture()
    store = store_with(fx.full1)
    exc = support.raises(WrongBaseError, store.install,
                         io.BytesIO(_hand_made_delta(store, [[41]], [])))
    assert "removes item 41" in str(exc)
    exc = support.raises(WrongBaseError, store.install,
                         io.BytesIO(_hand_made_delta(store, [], [[4006381333930]])))
    assert "removes barcode" in str(exc)
    exc = support.raises(PackageError, store.install,
                         io.BytesIO(_hand_made_delta(store, [[40], [12]], [])))
    assert "not above" in str(exc)
    exc = support.raises(PackageError, store.install,
                         io.BytesIO(_hand_made_delta(store, [[5, "x", -1, "A"]], [])))
    assert "item entry 0" in str(exc)
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    fx.remove()


def test_versions_only_go_forward():
    fx = Fixture()
    store = store_with(fx.full2)
    exc = support.raises(SnapshotError, store.install, io.BytesIO(fx.full1))
    assert "older" in str(exc)
    exc = support.raises(SnapshotError, store.install, io.BytesIO(fx.full2))
    assert "already in force" in str(exc)
    # Head office may roll back on purpose.
    info = store.install(io.BytesIO(fx.full1), allow_older=True)
    assert info["version"] == 1
    assert_v1(store.current)
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    fx.remove()


def test_leftovers_of_an_interrupted_install_are_removed_on_open():
    fx = Fixture()
    store = store_with(fx.full1)
    store.close()
    root = store.root
    # A new directory written halfway, a pointer never renamed, an old directory
    # half deleted: all that a cut can leave.
    os.mkdir(root + "/snap-2")
    support.write_file(root + "/snap-2/items", b"\x84\x01")
    support.write_file(root + "/current.tmp", b"snap-2")
    os.mkdir(root + "/snap-0")
    os.mkdir(root + "/snap-0/deeper")
    support.write_file(root + "/unrelated.txt", b"not ours")
    snap = store.open()
    assert_v1(snap)
    assert entries(root) == ["current", "snap-1", "unrelated.txt"]
    # And an install after the cleanup works.
    store.install(io.BytesIO(fx.delta12))
    assert_v2(store.current)
    store.close()
    fx.remove()


def test_pointer_missing_but_tmp_complete_is_promoted():
    # FAT cannot rename over a file: the switch removes current, then renames.
    # A cut between the two leaves only current.tmp, which names a verified dir.
    fx = Fixture()
    store = store_with(fx.full1)
    store.close()
    os.rename(store.root + "/current", store.root + "/current.tmp")
    assert_v1(store.open())
    assert entries(store.root) == ["current", "snap-1"]
    store.close()
    # A first install cut while writing current.tmp: nothing is in force.
    os.remove(store.root + "/current")
    support.write_file(store.root + "/current.tmp", b"sna")
    assert store.open() is None
    assert entries(store.root) == []
    fx.remove()


def test_damaged_pointer_is_reported_not_guessed():
    fx = Fixture()
    store = store_with(fx.full1)
    store.close()
    support.write_file(store.root + "/current", b"snap-7")
    exc = support.raises(SnapshotError, store.open)
    assert "reinstall" in str(exc)
    # Nothing was deleted on a guess.
    assert entries(store.root) == ["current", "snap-1"]
    fx.remove()


def test_discard_removes_the_snapshot_and_its_credentials():
    root = support.tmpdir()
    store = SnapshotStore(root)
    store.open()
    store.install(io.BytesIO(full_package(built(sample_meta(1), sample_items()))))
    assert store.current is not None and store.current.cashier(1) is not None
    store.discard()
    assert store.current is None and os.listdir(root) == []
    assert SnapshotStore(root).open() is None
