"""Put Kassa on a till with mpremote: compiled firmware, the board file, main.py
and the till's identity (id and chain secret).

mpremote is the provisioning channel (it stops whatever runs, and copies a few KB
per second), never the sync channel. The firmware goes to `till.new/` first and is
switched in by one rename on the device (atomic on littlefs), so a cable pulled
mid-copy leaves the old firmware in force; main.py finishes a switch that a power
cut interrupted. The journal and snapshot directories are never touched.

A till keeps its identity for life: its journal is chained with its secret, so
`kassa flash` refuses to give a till that already has one a different identity.
The identity file's format and the till id rules live in till.formats.identity;
every file holding a secret is written with mode 0600.
"""
from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from host_tools.provision.mpy_build import ROOT, compile_tree
from till.formats import identity

BOARDS = ROOT / "boards"
IDENTITY_FILE = identity.IDENTITY_FILE
KEY_BYTES = identity.SECRET_BYTES


class FlashError(Exception):
    pass


def _other_till(have: str, wanted: str) -> FlashError:
    return FlashError(f"this till is {have!r}, not {wanted!r}; its journal is chained with "
                      "its own secret. Use --replace-identity only for a till whose journal "
                      "HO has processed completely.")


def check_till_id(till_id: str) -> str:
    """till_id, or FlashError saying what is wrong with it."""
    try:
        return str(identity.check_till_id(till_id))
    except identity.IdentityError as exc:
        raise FlashError(str(exc)) from exc


def _till_on_device(data: bytes, till_id: str, replace_identity: bool) -> str | None:
    """The id in the till's identity file; None if it is damaged and is being replaced."""
    try:
        have, _ = identity.decode(data)
    except identity.IdentityError as exc:
        if replace_identity:
            return None
        raise FlashError(f"the till's identity file is damaged ({exc}). Restore it with its "
                         f"secret from head office: --till-id {till_id} --key-file "
                         f"keys/{key_file_name(till_id)} --replace-identity") from exc
    return str(have)


def key_file_name(till_id: str) -> str:
    """The key file's name for a till id: S001/till-1 -> S001_till-1.key.

    '_' may be part of a name too, so it is written '+' there (a_b/c ->
    a+b_c.key, a/b_c -> a_b+c.key): two tills never share a key file."""
    site, till = check_till_id(till_id).split("/")
    return site.replace("_", "+") + "_" + till.replace("_", "+") + ".key"


def key_file_till(name: str) -> str | None:
    """The till whose key file `name` is (key_file_name's inverse), or None for
    a name key_file_name never writes."""
    stem = name[:-len(".key")] if name.endswith(".key") else ""
    if stem.count("_") != 1:
        return None
    site, till = (part.replace("+", "_") for part in stem.split("_"))
    candidate = f"{site}/{till}"
    return candidate if identity.till_id_error(candidate) is None else None


def check_key_owner(key_file: Path, till_id: str) -> None:
    """Refuse another till's key file: a key chains one till's journal only."""
    owner = key_file_till(key_file.name)
    if owner is not None and owner != till_id:
        raise FlashError(f"{key_file} is till {owner}'s key, not {till_id}'s: a key is never given "
                         f"to two tills. Use {till_id}'s own key file (keys/{key_file_name(till_id)}, "
                         f"written by `kassa ho till add {till_id}`)")


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS.glob("*.py") if not p.name.startswith("_"))


def stage(board: str, out: Path) -> Path:
    """Lay out what goes on the device: till/ (every compiled module, its
    sub-packages included), board.py, main.py."""
    src_board = BOARDS / f"{board}.py"
    if not src_board.exists():
        raise FlashError(f"no board {board!r}; boards: {', '.join(board_names())}")
    mpy = ROOT / "build" / "mpy"
    errors = compile_tree(mpy)
    if errors:
        raise FlashError("firmware does not compile:\n" + "\n".join(errors))
    if out.exists():
        shutil.rmtree(out)
    (out / "till.new").mkdir(parents=True)
    for rel in compiled_modules(mpy / "till"):
        (out / "till.new" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mpy / "till" / rel, out / "till.new" / rel)
    shutil.copy2(src_board, out / "board.py")
    main = ROOT / "firmware" / "main.py"
    if main.exists():
        shutil.copy2(main, out / "main.py")
    return out


def compiled_modules(tree: Path) -> list[str]:
    """The .mpy files under `tree` as sorted relative paths ("formats/cbor.mpy")."""
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.mpy"))


def load_or_make_key(till_id: str, key_file: Path | None, keys_dir: Path) -> tuple[bytes, Path]:
    """The till's secret: from key_file, or a new one saved for head office."""
    from host_tools.hodata.journal_reader import load_key

    path = key_file
    if path is not None:
        check_key_owner(path, till_id)
    if path is None:
        keys_dir.mkdir(parents=True, exist_ok=True)
        path = keys_dir / key_file_name(till_id)
        if not path.exists():
            key = secrets.token_bytes(KEY_BYTES)
            write_key_file(path, key)
            return key, path
    try:
        key = load_key(path)
    except (OSError, ValueError) as exc:  # load_key also refuses a key of the wrong size
        raise FlashError(f"cannot read the till's secret from {path}: {exc}") from exc
    return key, path


def write_key_file(path: Path, key: bytes) -> None:
    """A till's secret for head office: hex on one line, mode 0600."""
    identity.write_private(str(path), (key.hex() + "\n").encode())


def write_identity(path: Path, till_id: str, key: bytes) -> None:
    """The identity file (mode 0600), replaced whole."""
    identity.write(str(path), till_id, key)


class Device:
    """mpremote against one port; `resume` skips the soft reset (needed for a
    unix-port device, harmless to leave off for a board)."""

    def __init__(self, port: str, resume: bool = False, timeout_s: float = 300) -> None:
        self.port = port
        self.resume = resume
        self.timeout_s = timeout_s

    def run(self, *args: str) -> str:
        connect = self.port if ":" not in self.port or self.port.startswith("port:") \
            else f"port:{self.port}"
        cmd = [sys.executable, "-m", "mpremote", "connect", connect]
        if self.resume:
            cmd.append("resume")
        cmd.extend(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise FlashError(f"the till on {self.port} did not answer within {self.timeout_s:.0f} s") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FlashError(f"mpremote on {self.port} failed: {tail[0]}")
        return proc.stdout

    def exec(self, code: str) -> str:
        return self.run("exec", code)

    def read_file(self, name: str) -> bytes | None:
        out = self.exec(
            "import binascii\n"
            "try:\n"
            f" f=open({name!r},'rb'); d=f.read(); f.close(); print('HEX', binascii.hexlify(d).decode())\n"
            "except OSError:\n"
            " print('MISSING')\n")
        for line in out.splitlines():
            if line.startswith("HEX "):
                return bytes.fromhex(line[4:].strip())
        return None


# Runs on the device: remove a file or a directory tree.
_RM = """
import os
def _rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for n in os.listdir(p):
            _rm(p + '/' + n)
        os.rmdir(p)
    else:
        os.remove(p)
"""

# Runs on the device: switch till.new in by renames, then remove the old copy.
_SWITCH = _RM + """
_rm('till.old')
try:
    os.rename('till', 'till.old')
except OSError:
    pass
os.rename('till.new', 'till')
_rm('till.old')
print('SWITCHED', len(os.listdir('till')))
"""


@dataclass
class FlashResult:
    files: int
    identity_written: bool
    key_path: Path | None
    sent: int = 0  # modules that crossed the cable (the rest were unchanged)


def flash(port: str, board: str, till_id: str, key_file: Path | None = None,
          keys_dir: Path = Path("keys"), resume: bool = False,
          replace_identity: bool = False, romfs: bool = False,
          step: Callable[[str], None] = lambda text: None) -> FlashResult:
    """Install the firmware; `step` hears what is being done (for a progress line)."""
    check_till_id(till_id)
    with tempfile.TemporaryDirectory(prefix="kassa-flash-") as tmp:
        step("compiling the firmware with mpy-cross")
        staged = stage(board, Path(tmp) / board)
        dev = Device(port, resume=resume)
        step(f"reading the till's identity on {port}")
        if romfs:
            return _flash_romfs(dev, staged, till_id, key_file, keys_dir, replace_identity,
                                step)
        return _flash(dev, staged, till_id, key_file, keys_dir, replace_identity, step)


def _identity(dev: Device, staged: Path, till_id: str, key_file: Path | None, keys_dir: Path,
              replace_identity: bool) -> tuple[bool, Path | None]:
    """Stage the identity file if the till needs one; refuse to change an identity."""
    current = dev.read_file(IDENTITY_FILE)
    if current is not None:
        have = _till_on_device(current, till_id, replace_identity)
        if have is not None and have != till_id and not replace_identity:
            raise _other_till(have, till_id)
    if current is None or replace_identity:
        key, key_path = load_or_make_key(till_id, key_file, keys_dir)
        write_identity(staged / IDENTITY_FILE, till_id, key)
        return True, key_path
    return False, None


def _flash_romfs(dev: Device, staged: Path, till_id: str, key_file: Path | None,
                 keys_dir: Path, replace_identity: bool,
                 step: Callable[[str], None]) -> FlashResult:
    """Firmware and board file as a ROMFS image (runs in place from flash)."""
    from host_tools.provision.romfs import build_image

    written, key_path = _identity(dev, staged, till_id, key_file, keys_dir, replace_identity)
    image = staged / "firmware.romfs"
    image.write_bytes(build_image(staged / "board.py"))
    step(f"deploying a {image.stat().st_size // 1024} KiB ROMFS image")
    try:
        dev.run("romfs", "deploy", str(image))
    except FlashError as exc:
        raise FlashError(f"{exc}. This till's MicroPython has no ROMFS partition: flash a "
                         "MicroPython build with ROMFS enabled, or flash without --romfs") from exc
    copies: list[str] = []
    for name in ("main.py", IDENTITY_FILE):
        if (staged / name).exists():
            copies += ["fs", "cp", str(staged / name), f":{name}", "+"]
    dev.run(*copies[:-1])
    # Modules on the filesystem would shadow the image: remove old copies.
    dev.exec(_RM + "_rm('till')\n_rm('till.new')\n_rm('board.py')\n")
    modules = len(compiled_modules(staged / "till.new"))
    return FlashResult(modules, written, key_path, modules)


def _flash(dev: Device, staged: Path, till_id: str, key_file: Path | None, keys_dir: Path,
           replace_identity: bool, step: Callable[[str], None]) -> FlashResult:
    identity_written, key_path = _identity(dev, staged, till_id, key_file, keys_dir,
                                           replace_identity)
    # Modules the till already has byte for byte are copied on the device, which
    # is fast; only changed ones cross the cable (mpremote moves a few KB/s).
    on_device = device_hashes(dev)
    new = staged / "till.new"
    modules = compiled_modules(new)
    same = [rel for rel in modules
            if on_device.get(rel) == hashlib.sha256((new / rel).read_bytes()).hexdigest()]
    dirs = sorted({"/".join(rel.split("/")[:i]) for rel in modules
                   for i in range(1, rel.count("/") + 1)})  # parents before children
    dev.exec(_PREPARE % (dirs, same))
    copies: list[str] = []
    for rel in modules:
        if rel not in same:
            copies += ["fs", "cp", str(new / rel), f":till.new/{rel}", "+"]
    for name in ("board.py", "main.py", IDENTITY_FILE):
        if (staged / name).exists():
            copies += ["fs", "cp", str(staged / name), f":{name}", "+"]
    sent = sum(1 for c in copies if c == "cp")
    step(f"copying {sent} files ({len(same)} modules unchanged); mpremote moves a few KB/s")
    dev.run(*copies[:-1])
    step("switching the new firmware in")
    out = dev.exec(_SWITCH)
    if "SWITCHED" not in out:
        raise FlashError(f"could not switch the new firmware in: {out.strip()}")
    return FlashResult(len(modules), identity_written, key_path, len(modules) - len(same))


def device_hashes(dev: Device) -> dict[str, str]:
    """SHA-256 of each module in the till's current firmware directory, by its
    path below it ("formats/cbor.mpy")."""
    out = dev.exec(
        "import os, hashlib, binascii\n"
        "def walk(d, rel):\n"
        " try:\n  names = os.listdir(d)\n except OSError:\n  return\n"
        " for n in names:\n"
        "  p = d + '/' + n\n"
        "  if os.stat(p)[0] & 0x4000:\n"
        "   walk(p, rel + n + '/')\n"
        "   continue\n"
        "  h = hashlib.sha256()\n"
        "  with open(p, 'rb') as f:\n"
        "   while True:\n"
        "    b = f.read(512)\n"
        "    if not b: break\n"
        "    h.update(b)\n"
        "  print('H', rel + n, binascii.hexlify(h.digest()).decode())\n"
        "walk('till', '')\n")
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "H":
            found[parts[1]] = parts[2]
    return found


# Runs on the device: a fresh till.new (with its sub-package folders) holding
# copies of the unchanged modules.
_PREPARE = _RM + """
_rm('till.new')
os.mkdir('till.new')
for d in %r:
    os.mkdir('till.new/' + d)
buf = bytearray(512)
for n in %r:
    with open('till/' + n, 'rb') as src, open('till.new/' + n, 'wb') as dst:
        while True:
            k = src.readinto(buf)
            if not k:
                break
            dst.write(buf[:k])
"""


def provision_local(root: Path, till_id: str, key_file: Path | None = None,
                    keys_dir: Path = Path("keys"), replace_identity: bool = False) -> FlashResult:
    """A Raspberry Pi till runs the firmware from a checkout: give its data
    directory the identity only, by the same rules as a board."""
    check_till_id(till_id)
    root.mkdir(parents=True, exist_ok=True)
    path = root / IDENTITY_FILE
    if path.exists():
        have = _till_on_device(path.read_bytes(), till_id, replace_identity)
        if have is not None and have != till_id and not replace_identity:
            raise _other_till(have, till_id)
        if not replace_identity:
            return FlashResult(0, False, None)
    key, key_path = load_or_make_key(till_id, key_file, keys_dir)
    write_identity(path, till_id, key)
    return FlashResult(0, True, key_path)
