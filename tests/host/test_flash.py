"""`kassa flash` with the real mpremote against a MicroPython unix-port "board"
reached over socket:// (tests/tools/mp_device.py)."""
from __future__ import annotations

import os
from pathlib import Path

import cbor2
import pytest
from conftest import ROOT
from mp_device import UnixDevice

from host_tools.provision import flash as fl
from host_tools.cli import main
from till.formats import identity


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
                   "--till-id", "store-1/till-1", "--keys-dir", str(keys), "--no-restart"])
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
    result = fl.flash(device.url, "testboard", "store-1/till-1", keys_dir=keys, resume=True,
                      restart=False)
    assert not result.identity_written and result.sent == 0  # nothing changed: nothing sent
    assert result.switched == () and result.verified == len(fl.compiled_modules(
        device.root / "till")) + 3  # every file checked: the modules, board, boot and main
    assert (device.root / "identity").read_bytes() == ident
    assert (device.root / "journal" / "seg0000000001.cbs").read_bytes() == segment
    with pytest.raises(fl.FlashError, match="this till is 'store-1/till-1'"):
        fl.flash(device.url, "testboard", "store-1/till-2", keys_dir=keys, resume=True,
                 restart=False)
    (device.root / "till" / "pos" / "money.mpy").write_bytes(b"stale")  # one module differs
    result = fl.flash(device.url, "testboard", "store-1/till-2", keys_dir=keys, resume=True,
                      replace_identity=True, restart=False)
    assert result.identity_written and result.sent == 1
    assert result.switched == ("till", "identity")
    assert (device.root / "till" / "pos" / "money.mpy").read_bytes()[:1] == b"M"
    assert cbor2.loads((device.root / "identity").read_bytes())[1] == "store-1/till-2"


def test_stage_holds_exactly_what_the_build_compiled(boards: Path, tmp_path: Path) -> None:
    staged = fl.stage("testboard", tmp_path / "stage")
    built = fl.ROOT / "build" / "mpy" / "till"
    sources = sorted(p.relative_to(fl.ROOT / "firmware" / "till").with_suffix(".mpy").as_posix()
                     for p in (fl.ROOT / "firmware" / "till").rglob("*.py"))
    assert fl.compiled_modules(staged / "till") == fl.compiled_modules(built) == sources
    assert any("/" in rel for rel in sources)  # the sub-packages are there
    for rel in sources:
        assert (staged / "till" / rel).read_bytes() == (built / rel).read_bytes()


def test_romfs_flash_on_firmware_without_romfs_says_what_to_do(flashed) -> None:
    device, keys, _ = flashed
    till_id = cbor2.loads((device.root / "identity").read_bytes())[1]
    with pytest.raises(fl.FlashError, match="no ROMFS partition"):
        fl.flash(device.url, "testboard", till_id, keys_dir=keys, resume=True, romfs=True,
                 restart=False)
    assert (device.root / "till" / "formats" / "journal.mpy").exists()  # the old firmware still stands


def test_romfs_image_holds_the_firmware_and_board() -> None:
    from mpremote.romfs import VfsRomWriter

    from host_tools.provision.romfs import build_image

    image = build_image(ROOT / "boards" / "sim.py")
    assert image.startswith(VfsRomWriter.ROMFS_HEADER)
    assert b"journal.mpy" in image and b"board.mpy" in image


def test_flash_errors_are_clear(boards: Path, tmp_path: Path, capsys) -> None:
    assert main(["flash", "--port", "socket://127.0.0.1:9", "--board", "nosuch",
                 "--till-id", "S1/t1"]) == 1
    assert "no board 'nosuch'" in capsys.readouterr().err
    assert main(["flash", "--port", "socket://127.0.0.1:9", "--board", "testboard",
                 "--till-id", "S1/t1"]) == 1
    assert "mpremote on socket://127.0.0.1:9 failed" in capsys.readouterr().err


BAD_IDS = [("", "it is empty"), ("till-1", "exactly one '/'"), ("S001/till 1", "contains ' '"),
           ("S001/till-1/2", "exactly one '/'"), ("S001/", "till name is empty")]


@pytest.mark.parametrize("command", [
    ["flash", "--port", "socket://127.0.0.1:9", "--board", "testboard"],
    ["flash", "--local", "{tmp}/data"],
    ["sim", "init", "{tmp}/sim"],
])
def test_invalid_till_ids_are_refused_in_one_line(boards: Path, tmp_path: Path, capsys,
                                                  command: list[str]) -> None:
    for till_id, words in BAD_IDS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in command]
        assert main(args + ["--till-id", till_id, "--keys-dir", str(tmp_path / "keys")]
                    if args[0] == "flash" else args + ["--till-id", till_id]) == 1
        out = capsys.readouterr()
        lines = out.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.err + out.out, out.err
        prefix = "kassa flash" if args[0] == "flash" else "kassa sim init"
        assert lines[0].startswith(f"{prefix}: till id {till_id!r} is not valid: ")
        assert words in lines[0] and "e.g. S001/till-1" in lines[0]
    # Nothing was written for a refused id.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_every_secret_is_written_mode_600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys) -> None:
    monkeypatch.setattr(os, "umask", os.umask)  # restored even if the test fails
    os.umask(0)  # a permissive umask must not widen a secret's file
    keys = tmp_path / "keys"
    # A Pi till: its identity and the key file for head office.
    assert main(["flash", "--local", str(tmp_path / "pi"), "--till-id", "S001/till-9",
                 "--keys-dir", str(keys)]) == 0
    assert _mode(tmp_path / "pi" / "identity") == 0o600
    assert _mode(keys / "S001_till-9.key") == 0o600
    # Replaced: still owner-only (written beside it and renamed over).
    (tmp_path / "pi" / "identity").chmod(0o644)
    assert main(["flash", "--local", str(tmp_path / "pi"), "--till-id", "S001/till-8",
                 "--keys-dir", str(keys), "--replace-identity"]) == 0
    assert _mode(tmp_path / "pi" / "identity") == 0o600
    assert _mode(keys / "S001_till-8.key") == 0o600
    # The sim till: its identity and till.key.
    assert main(["sim", "init", str(tmp_path / "sim")]) == 0
    assert _mode(tmp_path / "sim" / "identity") == 0o600
    assert _mode(tmp_path / "sim" / "till.key") == 0o600
    ident = identity.read(str(tmp_path / "sim" / "identity"))
    assert ident == ("S001/till-1", bytes.fromhex((tmp_path / "sim" / "till.key").read_text()))
    # A board: the identity file staged for mpremote.
    staged = tmp_path / "stage"
    staged.mkdir()

    _, written, key_path, _ = fl._identity(None, staged, "S001/till-7", None, keys, False, "", None)
    assert written and key_path == keys / "S001_till-7.key"
    assert _mode(staged / "identity") == 0o600 and _mode(key_path) == 0o600
    capsys.readouterr()


def test_key_files_of_two_tills_never_collide() -> None:
    assert fl.key_file_name("S001/till-1") == "S001_till-1.key"  # as README says
    names = {fl.key_file_name(t) for t in ("a_b/c", "a/b_c", "a/b", "a_/b", "a/_b")}
    assert len(names) == 5


def test_a_damaged_identity_is_reported_and_restored_with_its_secret(tmp_path: Path,
                                                                     capsys) -> None:
    keys = tmp_path / "keys"
    data = tmp_path / "pi"
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--keys-dir", str(keys)]) == 0
    good = (data / "identity").read_bytes()
    (data / "identity").write_bytes(good[:-5])  # torn or worn
    capsys.readouterr()
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--keys-dir", str(keys)]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err
    assert "identity file is damaged" in lines[0]
    assert "--key-file keys/S001_till-9.key --replace-identity" in lines[0]
    # The boot reports it too, and says what to do.
    from till import app

    with pytest.raises(app.NotProvisioned, match="identity file .* is damaged: it is not CBOR"):
        app.read_identity(str(data))
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--key-file", str(keys / "S001_till-9.key"), "--replace-identity", "--keys-dir", str(keys)]) == 0
    assert (data / "identity").read_bytes() == good  # same id, same secret: the chain goes on
    assert _mode(data / "identity") == 0o600
    # A key file that is not a till secret is refused, not flashed.
    (tmp_path / "short.key").write_text("00ff\n")
    assert main(["flash", "--local", str(data), "--till-id", "S001/till-9",
                 "--key-file", str(tmp_path / "short.key"), "--replace-identity", "--keys-dir", str(keys)]) == 1
    assert "a till's secret is 32 bytes (64 hex digits)" in capsys.readouterr().err
    assert (data / "identity").read_bytes() == good


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


def test_make_flash_updates_a_till_keeping_its_own_id(flashed) -> None:
    """`make flash BOARD=... PORT=...` (no TILL: an update keeps the till's id)."""
    import subprocess

    device, keys, _ = flashed
    till_id = cbor2.loads((device.root / "identity").read_bytes())[1]
    proc = subprocess.run(["make", "--no-print-directory", "flash", "BOARD=sim",
                           f"PORT={device.url}",
                           f"FLASH_ARGS=--resume --no-restart --keys-dir {keys}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{till_id} (site store-1):" in proc.stdout and ", 0 sent," in proc.stdout
    assert "switched in: board.py;" in proc.stdout and "identity kept" in proc.stdout
    assert (device.root / "board.py").read_bytes() == (ROOT / "boards" / "sim.py").read_bytes()
    proc = subprocess.run(["make", "--no-print-directory", "flash", "BOARD=sim"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "usage: make flash BOARD=NAME PORT=PORT" in proc.stdout
    assert "pico_w" in proc.stdout


def test_romfs_flash_switches_main_and_provisioning_and_removes_shadowing_modules(
        flashed, monkeypatch: pytest.MonkeyPatch) -> None:
    """--romfs on a board with a ROMFS partition (the unix port has none: the
    deploy is recorded here, the rest runs on the device). Last in this file:
    the device is left without /till."""
    from host_tools.provision import device as dv

    device, keys, _ = flashed
    deployed: list[bytes] = []
    real_run = dv.Device.run

    def run(self: dv.Device, *args: str) -> str:
        if args[:2] == ("romfs", "deploy"):
            deployed.append(Path(args[2]).read_bytes())
            return ""
        return real_run(self, *args)

    monkeypatch.setattr(dv.Device, "run", run)
    journal = (device.root / "journal" / "seg0000000001.cbs").read_bytes()
    result = fl.flash(device.url, "testboard", None, keys_dir=keys, resume=True, romfs=True,
                      printer="TM-T88V", restart=False)
    assert len(deployed) == 1 and b"journal.mpy" in deployed[0]
    assert result.switched == ("provision",)  # main.py was there already, unchanged
    assert not (device.root / "till").exists() and not (device.root / "board.py").exists()
    assert (device.root / "main.py").read_bytes() == (ROOT / "firmware" / "main.py").read_bytes()
    assert fl.provision.read(str(device.root / "provision"))["printer_model"] == "TM-T88V"
    assert (device.root / "journal" / "seg0000000001.cbs").read_bytes() == journal
    assert not [p for p in os.listdir(device.root) if p.endswith(".new") or p == "switch"]
