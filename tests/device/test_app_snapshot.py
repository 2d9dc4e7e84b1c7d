# micropython-romfs
# micropython-heap: 560K
# The main loop and HO's data: a snapshot found in force at boot is journaled
# once; an installed package is journaled and handed to the engine; a bad one
# leaves the old snapshot in force. The heap is the ROMFS image plus 256K: the
# test builds HO's packages in-process (test equipment a till does not carry).
import io
import os

import support
from test_app import BUFFERS, devices, records, till_root
from engine_fixture import items, meta
from till import app
from till.formats import journal as J
from till.formats import records as R
from till.formats.catalog_writer import build_dir, write_full_package


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
