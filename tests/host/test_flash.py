"""`kassa flash` with the real mpremote against a MicroPython unix-port "board"
reached over socket:// (tests/tools/mp_device.py)."""
from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from conftest import ROOT
from mp_device import UnixDevice

from host_tools.provision import flash as fl
from host_tools.cli import main


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("boards")
    (d / "testboard.py").write_text("NAME = 'testboard'\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fl, "BOARDS", d)
        yield d


@pytest.fixture(scope="module")
def flashed(boards: Path, tmp_path_factory: pytest.TempPathFactory):
    """One device, flashed once through the CLI (a full copy takes ~40 s)."""
    tmp = tmp_path_factory.mktemp("flash")
    with UnixDevice(tmp / "flash") as dev:
        keys = tmp / "keys"
        rc = main(["flash", "--port", dev.url, "--resume", "--board", "testboard",
                   "--till-id", "store-1/till-1", "--keys-dir", str(keys)])
        yield dev, keys, rc


def test_flash_installs_firmware_board_and_identity(flashed, capsys) -> None:
    device, keys, rc = flashed
    assert rc == 0
    root = device.root
    mpys = fl.compiled_modules(root / "till")
    assert "formats/journal.mpy" in mpys and "pos/engine.mpy" in mpys
    assert not (root / "till.new").exists()
    # Every module the build compiled landed, sub-packages included.
    assert mpys == fl.compiled_modules(fl.ROOT / "build" / "mpy" / "till")
    assert (root / "board.py").read_text() == "NAME = 'testboard'\n"
    key_file = keys / "store-1_till-1.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    ident = cbor2.loads((root / "identity").read_bytes())
    assert ident == {1: "store-1/till-1", 2: bytes.fromhex(key_file.read_text().strip())}
    # The flashed (compiled) firmware runs on the device.
    got = fl.Device(device.url, resume=True).exec(
        "from till.formats import journal as J\n"
        "j = J.Journal('journal', 'store-1/till-1', b'k')\n"
        "print('SEQ', j.append(J.KIND_EVENT, {1: 'hello'}))\n")
    assert "SEQ 1" in got


def test_reflash_keeps_identity_and_journal_and_refuses_another_id(flashed) -> None:
    device, keys, _ = flashed
    ident = (device.root / "identity").read_bytes()
    segment = (device.root / "journal" / "seg0000000001.cbs").read_bytes()
    result = fl.flash(device.url, "testboard", "store-1/till-1", keys_dir=keys, resume=True)
    assert not result.identity_written and result.sent == 0  # nothing changed: nothing sent
    assert (device.root / "identity").read_bytes() == ident
    assert (device.root / "journal" / "seg0000000001.cbs").read_bytes() == segment
    with pytest.raises(fl.FlashError, match="this till is 'store-1/till-1'"):
        fl.flash(device.url, "testboard", "store-1/till-2", keys_dir=keys, resume=True)
    (device.root / "till" / "pos" / "money.mpy").write_bytes(b"stale")  # one module differs
    result = fl.flash(device.url, "testboard", "store-1/till-2", keys_dir=keys, resume=True,
                      replace_identity=True)
    assert result.identity_written and result.sent == 1
    assert (device.root / "till" / "pos" / "money.mpy").read_bytes()[:1] == b"M"
    assert cbor2.loads((device.root / "identity").read_bytes())[1] == "store-1/till-2"


def test_stage_holds_exactly_what_the_build_compiled(boards: Path, tmp_path: Path) -> None:
    staged = fl.stage("testboard", tmp_path / "stage")
    built = fl.ROOT / "build" / "mpy" / "till"
    sources = sorted(p.relative_to(fl.ROOT / "firmware" / "till").with_suffix(".mpy").as_posix()
                     for p in (fl.ROOT / "firmware" / "till").rglob("*.py"))
    assert fl.compiled_modules(staged / "till.new") == fl.compiled_modules(built) == sources
    assert any("/" in rel for rel in sources)  # the sub-packages are there
    for rel in sources:
        assert (staged / "till.new" / rel).read_bytes() == (built / rel).read_bytes()


def test_romfs_flash_on_firmware_without_romfs_says_what_to_do(flashed) -> None:
    device, keys, _ = flashed
    till_id = cbor2.loads((device.root / "identity").read_bytes())[1]
    with pytest.raises(fl.FlashError, match="no ROMFS partition"):
        fl.flash(device.url, "testboard", till_id, keys_dir=keys, resume=True, romfs=True)
    assert (device.root / "till" / "formats" / "journal.mpy").exists()  # the old firmware still stands


def test_romfs_image_holds_the_firmware_and_board() -> None:
    from mpremote.romfs import VfsRomWriter

    from host_tools.provision.romfs import build_image

    image = build_image(ROOT / "boards" / "sim.py")
    assert image.startswith(VfsRomWriter.ROMFS_HEADER)
    assert b"journal.mpy" in image and b"board.mpy" in image


def test_flash_errors_are_clear(boards: Path, tmp_path: Path, capsys) -> None:
    assert main(["flash", "--port", "socket://127.0.0.1:9", "--board", "nosuch",
                 "--till-id", "x"]) == 1
    assert "no board 'nosuch'" in capsys.readouterr().err
    assert main(["flash", "--port", "socket://127.0.0.1:9", "--board", "testboard",
                 "--till-id", "x"]) == 1
    assert "mpremote on socket://127.0.0.1:9 failed" in capsys.readouterr().err


def test_local_provisioning_of_a_pi_till(tmp_path: Path, capsys) -> None:
    keys = tmp_path / "keys"
    data = tmp_path / "var-lib-kassa"
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--keys-dir", str(keys)]) == 0
    ident = cbor2.loads((data / "identity").read_bytes())
    assert ident[1] == "S001/till-9" and len(ident[2]) == 32
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--keys-dir", str(keys)]) == 0
    assert "identity kept" in capsys.readouterr().out
    assert (data / "identity").read_bytes() == cbor2.dumps(ident, canonical=True)
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-8",
                 "--keys-dir", str(keys)]) == 1
    assert "this till is 'S001/till-9'" in capsys.readouterr().err
    assert main(["flash", "--port", "/dev/null", "--till-id", "x"]) == 2
    assert "--port needs --board" in capsys.readouterr().err
