# micropython-heap: 512K
# Snapshot installs under power cuts: after every flash operation of a first
# install, a delta and a full install over an existing snapshot (and half-way
# through every page program), the till opens on the old or the new snapshot,
# never a mix, and the next install still works. The larger heap holds the two
# emulated chip images (test equipment); the install itself is tested at 192K in
# test_snapshot.py.
import io
import os

import support
from test_snapshot import Fixture, assert_v1, assert_v2
from till.formats.snapshot import SnapshotError, SnapshotStore


def _replay_until(flashsim, image, ops, n, block_bytes, partial=None):
    for op in ops[:n]:
        flashsim.replay(image, op, block_bytes)
    if partial is not None:
        flashsim.replay(image, ops[n], block_bytes, partial)


_CHECKS = {1: assert_v1, 2: assert_v2}


_BLOCKS = 40
_BLOCK_BYTES = 512  # small blocks keep the sweep fast


def _erase_all(image):
    ones = b"\xff" * _BLOCK_BYTES
    for b in range(_BLOCKS):  # erased NOR flash reads 0xFF
        image[b * _BLOCK_BYTES:(b + 1) * _BLOCK_BYTES] = ones


def _damage_items(root):
    # Worn flash in the snapshot in force: one bit of its item file.
    name = root + "/snap-1/items"
    with open(name, "rb") as f:
        data = bytearray(f.read())
    data[3] ^= 0x10
    with open(name, "wb") as f:
        f.write(data)


def _sweep(flashsim, chip, base, first, second, new_version, damage=None):
    """Install `second` over `first` (None: an empty store) on an emulated chip,
    then cut the power after each flash operation and halfway through each
    program; every cut must open on the old or the new snapshot only. With
    `damage`, the old snapshot is damaged first: each cut then opens on the new
    one or is refused as damaged (never a mix), and a later install works.

    chip and base are two preallocated image buffers (a fragmented 192K heap
    would not find two fresh 24K blocks)."""
    import gc

    mount = "/flash"
    _erase_all(chip)
    flash = flashsim.Flash(_BLOCKS, image=chip, block_bytes=_BLOCK_BYTES)
    flashsim.format_and_mount(flash, mount)
    store = SnapshotStore(mount + "/snap")
    store.open()
    if first is not None:
        store.install(io.BytesIO(first))
    store.close()
    if damage is not None:
        damage(mount + "/snap")
    flashsim.umount(mount)
    base[:] = chip
    flashsim.mount(flash, mount)
    flash.record()
    try:
        store.open()
    except SnapshotError:
        assert damage is not None
    store.install(io.BytesIO(second))
    store.close()
    flashsim.umount(mount)
    ops = flash.log
    flash.log = None
    flash = None
    gc.collect()
    first_version = None if first is None else 1
    seen = {}
    cuts = []
    for n in range(len(ops) + 1):
        cuts.append((n, None))
        if n < len(ops) and flashsim.is_program(ops[n]):
            cuts.append((n, len(ops[n][2]) // 2))
    for n, partial in cuts:
        chip[:] = base
        _replay_until(flashsim, chip, ops, n, _BLOCK_BYTES, partial)
        flashsim.mount(flashsim.Flash(_BLOCKS, image=chip, block_bytes=_BLOCK_BYTES), mount)
        try:
            st = SnapshotStore(mount + "/snap")
            try:
                snap = st.open()
            except SnapshotError:
                assert damage is not None  # the damaged one, still refused
                seen["damaged"] = seen.get("damaged", 0) + 1
                if n % 4 == 0:
                    st.install(io.BytesIO(second))
                    _CHECKS[new_version](st.current)
                    st.close()
                gc.collect()
                continue
            version = None if snap is None else snap.version
            # A damaged old snapshot never opens again, whatever the cut.
            allowed = (new_version,) if damage else (first_version, new_version)
            assert version in allowed, version
            if snap is not None:
                _CHECKS[version](snap)
            seen[version] = seen.get(version, 0) + 1
            names = sorted(os.listdir(st.root))
            assert names == ([] if version is None else ["current", "snap-%d" % version]), names
            if version == first_version and n % 4 == 0:
                # The till still takes the update after the cut.
                st.install(io.BytesIO(second))
                _CHECKS[new_version](st.current)
            st.close()
        finally:
            flashsim.umount(mount)
        gc.collect()
    # Both outcomes occurred: the sweep really crossed the switch.
    print("sweep: %d flash operations, %d cuts, outcomes %r" % (len(ops), len(cuts), seen))
    assert len(seen) == 2, seen
    return len(ops)


def test_power_cut_at_every_flash_operation_of_an_install():
    import flashsim

    if not flashsim.available():
        support.skip("needs littlefs (os.VfsLfs2): MicroPython only")
    import gc

    gc.collect()
    chip = bytearray(_BLOCKS * _BLOCK_BYTES)
    base = bytearray(_BLOCKS * _BLOCK_BYTES)
    fx = Fixture()
    full1, full2, delta12 = fx.full1, fx.full2, fx.delta12
    fx.remove()
    assert _sweep(flashsim, chip, base, None, full1, 1) > 5  # first install on an empty till
    assert _sweep(flashsim, chip, base, full1, delta12, 2) > 10
    assert _sweep(flashsim, chip, base, full1, full2, 2) > 10
    # Over a damaged snapshot (the till booted without HO data): HO's full package.
    assert _sweep(flashsim, chip, base, full1, full2, 2, damage=_damage_items) > 10


