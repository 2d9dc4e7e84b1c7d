"""Fuzzing the till's snapshot readers (CPython, hypothesis): random damage to
the files of a real installed snapshot, and to the packages that install one.

Whatever the damage, the only exception is SnapshotError, and no lookup ever
gives an item other than the one head office built: opened through the store
(content hash checked) every answer is exact; read through the catalog alone
(no hash, as a delta merge reads the snapshot in force) a PLU lookup gives the
PLU asked for or SnapshotError. tests/device/test_snapshot_damage.py does the
systematic sweep on both interpreters."""
from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_catalog import sample_items, sample_meta
from test_snapshot_damage import ABSENT_PLUS, UNKNOWN_CODES, oracle

from till.formats.catalog import Catalog, SnapshotError
from till.formats.package_writer import build_dir, write_full_package
from till.formats.snapshot import SnapshotStore

FILES = ["snap-1/meta", "snap-1/items", "snap-1/plu.idx", "snap-1/gtin.idx", "snap-1/hash",
         "current"]
ORACLE = oracle()
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "built").mkdir()
    build_dir(str(tmp / "built"), sample_meta(1), sample_items())
    pkg = io.BytesIO()
    write_full_package(str(tmp / "built"), pkg)
    store = SnapshotStore(str(tmp / "store"))
    store.open()
    store.install(io.BytesIO(pkg.getvalue()))
    store.close()
    return {"store": tmp / "store", "package": pkg.getvalue()}


# One damage: (file index, kind, position as a fraction of the file, bytes).
damage = st.tuples(st.integers(0, len(FILES) - 1),
                   st.sampled_from(["flip", "cut", "insert", "overwrite", "delete"]),
                   st.floats(0, 1), st.binary(min_size=1, max_size=12))


def _damage(root: Path, damages: list[tuple[int, str, float, bytes]]) -> None:
    for index, kind, where, data in damages:
        path = root / FILES[index]
        if not path.exists():
            continue
        if kind == "delete":
            path.unlink()
            continue
        old = path.read_bytes()
        at = min(int(where * len(old)), max(len(old) - 1, 0))
        if kind == "flip" and old:
            new = bytearray(old)
            for i, b in enumerate(data):
                if at + i < len(new):
                    new[at + i] ^= b
            path.write_bytes(bytes(new))
        elif kind == "cut":
            path.write_bytes(old[:at])
        elif kind == "insert":
            path.write_bytes(old[:at] + data + old[at:])
        else:
            path.write_bytes(old[:at] + data + old[at + len(data):])


def _probe(lookup: Any, key: Any) -> Any:
    try:
        return lookup(key)
    except SnapshotError as exc:
        assert "sync the till" in str(exc)
        return SnapshotError


@SETTINGS
@given(st.lists(damage, min_size=1, max_size=4))
def test_damaged_files_never_raise_anything_else_nor_sell_another_item(
        pristine: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
        damages: list[tuple[int, str, float, bytes]]) -> None:
    root = tmp_path_factory.mktemp("case") / "store"
    shutil.copytree(pristine["store"], root)
    _damage(root, damages)
    by_plu, by_code = ORACLE
    store = SnapshotStore(str(root))
    try:
        snap = store.open()
    except SnapshotError:
        snap = None
    if snap is not None:  # then nothing that matters was damaged: every answer exact
        for plu in list(by_plu) + list(ABSENT_PLUS):
            assert snap.by_plu(plu) == by_plu.get(plu)
        for code, plu in by_code.items():
            assert snap.by_barcode(code) == by_plu[plu]
        for code in UNKNOWN_CODES:
            assert snap.by_barcode(code) is None
    store.close()
    # Past the hash: the catalog's own checks.
    if not (root / "snap-1").exists():
        return
    try:
        cat = Catalog(str(root / "snap-1"))
    except SnapshotError:
        return
    try:
        for plu in list(by_plu) + list(ABSENT_PLUS):
            got = _probe(cat.by_plu, plu)
            assert got in (None, SnapshotError) or got["plu"] == plu
        for code in list(by_code) + list(UNKNOWN_CODES):
            _probe(cat.by_barcode, code)
        for walk in (cat.items, cat.barcodes, cat.records):
            _probe(lambda _: [x for x in walk()], None)
    finally:
        cat.close()


@SETTINGS
@given(st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=3),
       st.booleans())
def test_damaged_packages_are_refused_or_install_exactly(
        pristine: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
        flips: list[tuple[float, bytes]], cut: bool) -> None:
    pkg = bytearray(pristine["package"])
    for where, data in flips:
        at = int(where * (len(pkg) - 1))
        for i, b in enumerate(data):
            if at + i < len(pkg):
                pkg[at + i] ^= b
    if cut:
        pkg = pkg[:int(flips[0][0] * len(pkg))]
    root = tmp_path_factory.mktemp("install") / "store"
    store = SnapshotStore(str(root))
    store.open()
    try:
        store.install(io.BytesIO(bytes(pkg)))
    except SnapshotError:
        assert sorted(p.name for p in root.iterdir()) == []  # nothing left behind
        return
    finally:
        store.close()
    # Installed: then it is exactly what head office built (the hash matched).
    snap = SnapshotStore(str(root)).open()
    assert snap is not None
    by_plu, by_code = ORACLE
    for plu in by_plu:
        assert snap.by_plu(plu) == by_plu[plu]
    for code, plu in by_code.items():
        assert snap.by_barcode(code) == by_plu[plu]
    snap.close()
