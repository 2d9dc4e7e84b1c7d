"""The firmware's layers, checked from its imports: a lower layer never imports
a higher one, and a driver never imports another driver.

    till.app, till.reserve      the main loop (top): may import anything
    till.pos                    sale logic: formats and itself
    till.link                   the gateway link's protocol (sans-I/O): formats and itself
    till.drivers.devices,       build a board's devices, or adapt Linux devices and
      .linux, .sim              the sim's virtual hardware: drivers and formats
    till.drivers.*              one piece of hardware each: the driver base
                                (periph, linedisplay) and formats only
    till.formats                bytes on flash and on the wire: itself only
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TILL = Path(__file__).resolve().parents[2] / "firmware" / "till"
DRIVER_BASE = {"till.drivers.periph", "till.drivers.linedisplay"}
ASSEMBLERS = {"till.drivers.devices", "till.drivers.linux", "till.drivers.sim"}


def module_name(path: Path) -> str:
    rel = path.relative_to(TILL.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every till module `path` imports (`from till.x import y` counts y when
    y is a module, else till.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("till")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("till"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (TILL.parent / (sub.replace(".", "/") + ".py")).exists() or \
                    (TILL.parent / sub.replace(".", "/")).is_dir()
                found.add(sub if is_module else node.module)
    return found


def allowed(importer: str, imported: str) -> bool:
    if imported in ("till", "till.formats", "till.drivers", "till.pos", "till.link"):
        return True  # package __init__ files hold nothing
    if importer in ("till.app", "till.reserve"):
        return True
    if importer.startswith("till.formats"):
        return imported.startswith("till.formats")
    if importer.startswith("till.pos"):
        return imported.startswith(("till.formats", "till.pos"))
    if importer.startswith("till.link"):
        return imported.startswith(("till.formats", "till.link"))
    if importer in ASSEMBLERS:
        return imported.startswith(("till.formats", "till.drivers"))
    if importer.startswith("till.drivers"):
        return imported.startswith("till.formats") or imported in DRIVER_BASE
    raise AssertionError(f"{importer}: a module outside the known layers; add it to the map")


MODULES = sorted(TILL.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    me = module_name(path)
    wrong = sorted(m for m in imports(path) if not allowed(me, m))
    assert not wrong, f"{me} imports {wrong}: a lower layer must not depend on a higher one"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    assert not allowed("till.formats.journal", "till.pos.engine")
    assert not allowed("till.drivers.lcd", "till.drivers.display")
    assert not allowed("till.pos.receipt", "till.drivers.rtc")
    assert allowed("till.drivers.lcd", "till.drivers.linedisplay")
    assert module_name(TILL / "formats" / "cbor.py") == "till.formats.cbor"
    probe = tmp_path / "probe.py"
    probe.write_text("from till.pos import engine\nfrom till.formats.cbor import loads\n")
    assert imports(probe) == {"till.pos.engine", "till.formats.cbor"}
