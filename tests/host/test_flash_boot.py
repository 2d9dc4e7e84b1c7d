"""`kassa flash` end to end on a MicroPython unix-port "board" behind a TCP bridge
(tests/tools/mp_device.py) that reboots as a board does: the firmware, the board
file, a micropython-lib package from a mip index served on loopback, the printer
chosen by name; everything checked by hash; the till restarted, booting what
was deployed and selling with the chosen printer's layout. Then an update is
flashed while the till runs: mpremote breaks in, only what changed is switched,
the journal goes on, and the restarted till sells again.

The till here loads its modules from the filesystem into RAM (a board flashed
without --romfs), so the device's heap is sim.loaded_heap_kib: the sim till's
heap beside the firmware's bytes (from ROMFS the sim till gets SIM_HEAP_KIB
beside its image).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from http_dir import serve_dir
from mp_device import UnixDevice
from simtill import KEY, SALE_SCRIPT, TILL_ID, make_till_root

from host_tools.cli import main
from host_tools.hodata import journal_reader as jr
from host_tools.hodata import receipt_render as rr
from host_tools.provision import flash as fl
from host_tools.provision import registry, sim
from till.formats import provision

PACKAGE = "kassa-test-pkg"
PACKAGE_FILE = b"# a micropython-lib package made by the test\nVALUE = 42\n"


@pytest.fixture(scope="module")
def mip_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A micropython-lib index as micropython.org/pi/v2 lays it out (what a
    local mirror holds), with one package, served on 127.0.0.1."""
    d = tmp_path_factory.mktemp("index")
    mpy = subprocess.run([str(Path(sys.executable).with_name("micropython")), "-c",
                          "import sys; print(sys.implementation._mpy & 0xff)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    short = hashlib.sha256(PACKAGE_FILE).hexdigest()[:8]
    (d / "file" / short[:2]).mkdir(parents=True)
    (d / "file" / short[:2] / short).write_bytes(PACKAGE_FILE)
    pkg = d / "package" / mpy / PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "latest.json").write_text(json.dumps(
        {"hashes": [["kassa_test_pkg.py", short]], "deps": [], "version": "1.0"}))
    with serve_dir(d) as url:
        yield url


@pytest.fixture(scope="module")
def till(tmp_path_factory: pytest.TempPathFactory, mip_index: str) -> Iterator[dict[str, Any]]:
    """A till with its identity and HO's snapshot (as the sim makes one), but
    no firmware; flashed with the sim board plus a mip package it declares."""
    tmp = tmp_path_factory.mktemp("boot")
    boards = tmp / "boards"
    boards.mkdir()
    (boards / "simlib.py").write_text((ROOT / "boards" / "sim.py").read_text() +
                                      f"\nMIP_PACKAGES = ({PACKAGE!r},)\n")
    root = make_till_root(tmp)
    keys = tmp / "keys"
    keys.mkdir()
    (keys / fl.key_file_name(TILL_ID)).write_text(KEY.hex() + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fl, "BOARDS", boards)
        heap_kib = sim.loaded_heap_kib(fl.stage("simlib", tmp / "sizing"))
        with UnixDevice(root, heap=f"{heap_kib}K", reboot=True) as dev:
            yield {"dev": dev, "root": root, "keys": keys, "index": mip_index}


def _flash(t: dict[str, Any], printer: str, capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(["flash", "--port", t["dev"].url, "--resume", "--board", "simlib",
               "--till-id", TILL_ID, "--keys-dir", str(t["keys"]), "--printer", printer,
               "--index", t["index"]])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out


def _sell(dev: UnixDevice, boots: int, timeout_s: float = 90) -> str:
    """Wait for the till's boot number `boots`, then type the README sale at
    its terminal; what the display showed."""
    end = time.monotonic() + timeout_s
    while dev.boots < boots:
        assert time.monotonic() < end, "the till did not restart"
        time.sleep(0.1)
    return dev.type_lines(SALE_SCRIPT, b"Change", end - time.monotonic())


def _sales(root: Path) -> list[Any]:
    recs = [i.value for p in jr.segment_paths(root / "journal")
            for i in list(jr.read_segment(p))[1:]]
    return [r for r in recs if r[3] == 1]


def _printed(path: Path, after: int = 0, timeout_s: float = 60) -> bytes:
    """The printer's bytes after `after`, once a receipt has been cut (the
    display shows the change before the paced printer is done)."""
    end = time.monotonic() + timeout_s
    # No file yet is no receipt yet: a receipt with no room in the heap to be
    # laid out is built again from its record a moment later (docs/printer.md).
    while not (path.exists() and
               path.read_bytes()[after:].endswith((b"\x1dV\x00", b"\x1dV\x01"))):  # GS V
        assert time.monotonic() < end, "the receipt was not printed"
        time.sleep(0.1)
    return path.read_bytes()[after:]


def _receipt_ok(data: bytes, columns: int, dots: int) -> str:
    """The receipt's text; its rules span exactly `columns` (the printer's)."""
    paper = rr.parse(data, columns=columns, width_dots=dots)
    assert not paper.issues, paper.issues
    text = rr.to_text(paper)
    rules = {len(line) for line in text.splitlines() if line and set(line) == {"-"}}
    assert rules == {columns}, rules
    return text


def test_flash_installs_verifies_restarts_and_the_till_sells(till: dict[str, Any], capsys) -> None:
    root = till["root"]
    out = _flash(till, "TM-T88V", capsys)
    assert "switched in: till lib boot.py board.py provision main.py" in out
    assert f"micropython-lib packages: {PACKAGE}" in out and "printer profile: TM-T88V" in out
    # mip put the package where a board's sys.path has it.
    assert (root / "lib" / "kassa_test_pkg.py").read_bytes() == PACKAGE_FILE
    assert provision.read(str(root / "provision"))["printer_model"] == "TM-T88V"
    assert [e.till_id for e in registry.load(till["keys"])] == [TILL_ID]
    shown = _sell(till["dev"], boots=2)
    assert "Change" in shown and "13.55" in shown
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []
    assert len(_sales(root)) == 1
    # The receipt is laid out for the printer chosen at flash time: 42 columns.
    text = _receipt_ok(_printed(root / "printer.bin"), 42, 512)
    assert "Rye bread 750 g" in text and "13.55" in text


def test_an_update_flashed_while_the_till_runs(till: dict[str, Any], capsys) -> None:
    root = till["root"]
    before = (root / "printer.bin").read_bytes()
    segments = {p.name: p.read_bytes() for p in jr.segment_paths(root / "journal")}
    out = _flash(till, "TM-T20II", capsys)  # mpremote breaks into the running till
    # mip found the package as it was: lib/ is not switched, only the provisioning.
    assert "0 sent" in out and "switched in: provision;" in out, out
    assert (root / "lib" / "kassa_test_pkg.py").read_bytes() == PACKAGE_FILE
    shown = _sell(till["dev"], boots=3)
    assert "Change" in shown
    # The journal went on from where it was: nothing rewritten, one more sale.
    for name, data in segments.items():
        assert (root / "journal" / name).read_bytes()[:len(data)] == data
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []
    assert len(_sales(root)) == 2
    text = _receipt_ok(_printed(root / "printer.bin", len(before)), 48, 576)
    assert "Whole milk 1 l" in text


def test_a_package_the_index_has_not_is_refused_and_the_till_keeps_its_firmware(
        till: dict[str, Any], capsys) -> None:
    root = till["root"]
    before = {p.relative_to(root).as_posix(): p.read_bytes()
              for d in ("till", "lib") for p in (root / d).rglob("*") if p.is_file()}
    (fl.BOARDS / "nosuchpkg.py").write_text((ROOT / "boards" / "sim.py").read_text() +
                                            "\nMIP_PACKAGES = ('kassa-no-such-pkg',)\n")
    rc = main(["flash", "--port", till["dev"].url, "--resume", "--board", "nosuchpkg",
               "--keys-dir", str(till["keys"]), "--index", till["index"], "--no-restart"])
    out = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out.err
    assert out.err.startswith("kassa flash: mpremote on socket://") and "not found" in out.err
    after = {p.relative_to(root).as_posix(): p.read_bytes()
             for d in ("till", "lib") for p in (root / d).rglob("*") if p.is_file()}
    assert after == before and not (root / "switch").exists()
    assert (root / "board.py").read_bytes() != (fl.BOARDS / "nosuchpkg.py").read_bytes()
