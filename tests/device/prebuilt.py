# Test data that device tests need but a till never builds: HO's snapshot,
# built and installed on the host before the tests run (tests/conftest.py
# calls build_all under CPython and passes the folder in KASSA_PREBUILT).
# Under MicroPython a test then only copies files, so the heap it measures is
# the till's, not its test equipment's. Under CPython without the variable
# (a single test file run by hand) the data is built on first use.
import os

import support


def _app_snapshot(d):
    from engine_fixture import items, meta
    from till.formats.package_writer import build_dir, write_full_package
    from till.formats.snapshot import SnapshotStore
    import io

    os.mkdir(d + "/built")
    build_dir(d + "/built", meta(), items())
    pkg = io.BytesIO()
    write_full_package(d + "/built", pkg)
    pkg.seek(0)
    store = SnapshotStore(d + "/snapshot")
    store.open()
    store.install(pkg)
    store.close()


_BUILDERS = {"app_snapshot": _app_snapshot}


def build_all(base):
    for name, build in _BUILDERS.items():
        d = base + "/" + name
        if not _exists(d + "/snapshot"):
            try:
                os.mkdir(d)
            except OSError:
                pass
            build(d)


def path(name):
    """The folder of the prebuilt data `name` (its snapshot in name/snapshot)."""
    base = os.getenv("KASSA_PREBUILT")
    if base is None:
        if support.IS_MICROPYTHON:
            raise RuntimeError("KASSA_PREBUILT is not set: run the tests through pytest")
        base = support.tmpdir()
        build_all(base)
    return base + "/" + name


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False
