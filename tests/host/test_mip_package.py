"""The firmware as a mip package and as a frozen-in manifest.

package.json (repository root, where mip looks) is installed for real by
MicroPython's own `mip` on the unix port from this checkout served on loopback;
the installed till then boots on the sim board and sells. The install is .py
source that the till compiles as it imports, so that boot runs with a 1M heap
(from ROMFS a Pico W's 192K is enough: test_sim_till.py).

manifest.py is run the way MicroPython's build runs a manifest (its directory
as the current one, include/package/require/metadata as functions), by a
stand-in that records what would be frozen: every module of the till, and the
board's micropython-lib packages.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from http_dir import serve_dir
from simtill import KEY, SALE_SCRIPT, TILL_ID, make_till_root

from host_tools.hodata import journal_reader as jr
from host_tools.provision import flash as fl
from host_tools.provision import mip_package

MICROPYTHON = str(Path(sys.executable).with_name("micropython"))


def test_package_json_is_current() -> None:
    assert (ROOT / "package.json").read_text() == mip_package.render(), \
        "package.json is stale: run `python -m host_tools.provision.mip_package`"


def test_package_json_names_every_module_the_boards_and_main() -> None:
    pkg = json.loads((ROOT / "package.json").read_text())
    installed = {path for path, _ in pkg["urls"]}
    for src in (ROOT / "firmware" / "till").rglob("*.py"):
        assert src.relative_to(ROOT / "firmware").as_posix() in installed
    for board in fl.board_names():
        assert f"boards/{board}.py" in installed
    assert {"boot.py", "main.py", "boards/__init__.py"} <= installed
    for _, url in pkg["urls"]:
        assert (ROOT / url).is_file(), url
    assert len(installed) == len(pkg["urls"])


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """This checkout over HTTP on 127.0.0.1, as a mirror of the repository."""
    with serve_dir(ROOT) as url:
        yield url


def test_micropythons_mip_installs_the_firmware_which_boots_and_sells(
        served: str, tmp_path: Path) -> None:
    root = make_till_root(tmp_path)  # the till's identity and HO's snapshot
    env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
    proc = subprocess.run([MICROPYTHON, "-c", "import mip; mip.install("
                           f"'{served}/package.json', target='.')"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Done" in proc.stdout, proc.stdout + proc.stderr
    pkg = json.loads((ROOT / "package.json").read_text())
    for path, url in pkg["urls"]:
        assert (root / path).read_bytes() == (ROOT / url).read_bytes(), path
    # Boot what mip installed: main.py from the till's root, the sim board.
    env["KASSA_BOARD"] = "sim"
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=1M", "main.py"], cwd=root, env=env,
                          input=SALE_SCRIPT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Change" in proc.stdout and "13.55" in proc.stdout
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []
    recs = [i.value for p in jr.segment_paths(root / "journal")
            for i in list(jr.read_segment(p))[1:]]
    assert len([r for r in recs if r[3] == 1]) == 1
    assert b"Rye bread 750 g" in (root / "printer.bin").read_bytes()


class Manifest:
    """What MicroPython's tools/manifestfile.py does with a manifest in freeze
    mode, for the functions manifest.py uses: paths relative to the manifest's
    directory, package() takes every .py below base_path/package."""

    def __init__(self) -> None:
        self.frozen: dict[str, Path] = {}  # frozen module path -> source
        self.includes: list[str] = []
        self.requires: list[str] = []
        self.meta: dict[str, str] = {}

    def run(self, path: Path) -> None:
        here = os.getcwd()
        os.chdir(path.parent)
        try:
            exec(path.read_text(), {
                "metadata": self.meta.update, "include": self.includes.append,
                "require": lambda name, **kw: self.requires.append(name),
                "package": self.package, "module": self.module})
        finally:
            os.chdir(here)

    def package(self, package_path: str, files: list[str] | None = None,
                base_path: str = ".", opt: int | None = None) -> None:
        base = Path(base_path).resolve()
        found = files if files is not None else [
            p.relative_to(base / package_path).as_posix()
            for p in (base / package_path).rglob("*.py")]
        for f in found:
            self.frozen[f"{package_path}/{f}"] = base / package_path / f

    def module(self, module_path: str, base_path: str = ".", opt: int | None = None) -> None:
        self.frozen[module_path] = Path(base_path).resolve() / module_path


def _manifest(monkeypatch: pytest.MonkeyPatch, board: str | None) -> Manifest:
    if board is None:
        monkeypatch.delenv("KASSA_BOARD", raising=False)
    else:
        monkeypatch.setenv("KASSA_BOARD", board)
    m = Manifest()
    m.run(ROOT / "manifest.py")
    return m


def test_manifest_freezes_every_module_and_the_boards_mip_packages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for board in fl.board_names():
        m = _manifest(monkeypatch, board)
        assert m.includes == ["$(PORT_DIR)/boards/manifest.py"]
        assert tuple(m.requires) == fl.mip_packages(board), board
        modules = {p.relative_to(ROOT / "firmware").as_posix(): p
                   for p in (ROOT / "firmware" / "till").rglob("*.py")}
        assert set(m.frozen) == set(modules)
        assert all(src.is_file() for src in m.frozen.values())
    assert _manifest(monkeypatch, None).requires == ["usb-device-cdc"]  # pico_w, the default
    tomllib = __import__("tomllib")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert m.meta["version"] == version
    with pytest.raises(ValueError, match="KASSA_BOARD=nosuch: no such board; boards: esp32"):
        _manifest(monkeypatch, "nosuch")
