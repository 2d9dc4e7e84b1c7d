# micropython-romfs
# micropython-heap: +256K
# The main loop and HO's data: a snapshot found in force at boot is journaled
# once; an installed package is journaled and handed to the engine; a bad one
# leaves the old snapshot in force. The heap is the ROMFS image plus 256K: the
# test builds HO's packages in-process (test equipment a till does not carry).
import io
import os

import support
from test_app import BUFFERS, devices, records, till_root
from engine_fixture import PINS, items, meta
from till import app
from till.formats import identity
from till.formats import journal as J
from till.formats import records as R
from till.formats.package_writer import build_dir, write_full_package


def test_a_snapshot_found_at_boot_is_journaled_once():
    root = till_root()  # installed without a record, as after a power cut
    till = app.Till(devices(root, []), root, BUFFERS)
    till.close()
    till = app.Till(devices(root, []), root, BUFFERS)  # second boot: already recorded
    till.close()
    configs = [r[J.K_BODY] for r in records(root, J.KIND_CONFIG)]
    assert len(configs) == 1
    assert configs[0][R.C_VERSION] == 1 and configs[0][R.C_AT_BOOT] is True
    assert len(configs[0][R.C_HASH]) == 32


def test_applying_a_package_journals_it_and_the_engine_switches():
    root = till_root()
    built = root + "/built2"
    os.mkdir(built)
    build_dir(built, meta(version=2), items())
    pkg = io.BytesIO()
    write_full_package(built, pkg)
    pkg.seek(0)
    till = app.Till(devices(root, []), root, BUFFERS)
    info = till.apply_snapshot(pkg)
    assert info["version"] == 2 and till.engine.snap.version == 2
    # A bad package is refused and leaves version 2 in force.
    err = support.raises(ValueError, till.apply_snapshot, io.BytesIO(b"\xa1\x01\x02junk"))
    assert till.store.current.version == 2 and str(err)
    till.close()
    configs = [r[J.K_BODY] for r in records(root, J.KIND_CONFIG)]
    assert [c[R.C_VERSION] for c in configs] == [1, 2]
    assert R.C_AT_BOOT not in configs[1]


def test_wiping_credentials_removes_the_snapshot_but_no_sale():
    root = till_root()
    till = app.Till(devices(root, []), root, BUFFERS)
    till.journal.append(J.KIND_SALE, {1: 1})  # an unprocessed sale
    till.execute([("wipe_credentials",)])
    assert till.store.current is None and os.listdir(root + "/snapshot") == []
    till.close()
    assert len(records(root, J.KIND_SALE)) == 1
    # The next boot has no cashiers to sign on until HO's data comes again.
    till = app.Till(devices(root, []), root, BUFFERS)
    assert till.engine.snap is None
    till.close()


def _damage(path, offset, bit=0x01):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ bit]))


def _keys(till, keys):
    for k in keys:
        till.handle(("key", k))
    return till.display.shown[-1]


SIGN_ON = ["1", "SIGN"] + list(PINS[1]) + ["TOTAL"]


def test_a_damaged_snapshot_at_boot_means_no_ho_data_and_says_why():
    root = till_root()
    _damage(root + "/snapshot/snap-1/items", 5)  # worn flash inside a record
    till = app.Till(devices(root, []), root, BUFFERS)  # boots all the same
    try:
        assert till.engine.snap is None
        assert "do not match their content hash" in till._boot_problem
        assert "sync the till with head office" in till._boot_problem
        assert _keys(till, SIGN_ON[:2]) == ("No HO data: sync the", "till")
        # HO sends the snapshot again (full): installed over the damaged one.
        built = root + "/built"
        os.mkdir(built)
        build_dir(built, meta(), items())
        pkg = io.BytesIO()
        write_full_package(built, pkg)
        pkg.seek(0)
        info = till.apply_snapshot(pkg)
        assert info["version"] == 1 and till.engine.snap.by_plu(12)["name"] == "Milch 1 l"
        assert _keys(till, SIGN_ON + ["1", "2", "PLU"])[0].startswith("Milch 1 l")
    finally:
        till.close()


def test_damage_found_while_selling_is_reported_not_sold():
    root = till_root()
    till = app.Till(devices(root, []), root, BUFFERS)
    try:
        _keys(till, SIGN_ON)
        # PLU 12's index entry now leads to PLU 99's record (whisky, age check).
        idx = root + "/snapshot/snap-1/plu.idx"
        with open(idx, "rb") as f:
            entries = bytearray(f.read())
        entries[2 * 8 + 4:2 * 8 + 8], entries[4 * 8 + 4:4 * 8 + 8] = \
            entries[4 * 8 + 4:4 * 8 + 8], entries[2 * 8 + 4:2 * 8 + 8]
        support.write_file(idx, bytes(entries))
        assert _keys(till, ["1", "2", "PLU"]) == ("Catalog damaged:", "call manager")
        assert till.engine.sale is None or not till.engine.sale.lines
    finally:
        till.close()
    # The next boot sees it by the content hash and sells nothing from it.
    till = app.Till(devices(root, []), root, BUFFERS)
    assert till.engine.snap is None and "content hash" in till._boot_problem
    till.close()


def test_a_damaged_identity_is_reported_with_what_to_do():
    root = till_root()
    path = root + "/" + identity.IDENTITY_FILE
    support.write_file(path, support.read_file(path)[:20])  # torn
    err = support.raises(app.NotProvisioned, app.Till, devices(root, []), root, BUFFERS)
    assert "identity file" in str(err) and "is damaged: it is not CBOR" in str(err)
    assert "--replace-identity" in str(err)
