"""A till cut off mid-update boots the old firmware or the new one, never a mix.

The flasher's own steps (host_tools.provision.flash.install: the same code
strings it sends through mpremote, the same copies) run against a directory
that plays the till's flash, with the power cut after any write: a file
created, a chunk written (torn in half), a directory made, a rename, a
removal. Then firmware/boot.py's switch boots from what is left (and is itself
cut once more at every step of its own, then boots again). Whatever the
cut, the till holds one whole firmware version, old or new, and its journal and
snapshot are untouched; a re-flash then brings it to the new one.
"""
from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from host_tools.provision import flash as fl
from host_tools.provision.device import switch_code

TILL_ID = "S001/till-1"
FIRMWARE = ("till", "boot.py", "board.py", "main.py", "provision", "identity")


class PowerCut(Exception):
    pass


class Power:
    """Counts the writes to the till's flash and cuts the power at write `cut_at`."""

    def __init__(self, cut_at: int | None = None) -> None:
        self.cut_at = cut_at
        self.done = 0
        self.log: list[str] = []

    def write(self, what: str) -> None:
        if self.cut_at is not None and self.done >= self.cut_at:
            raise PowerCut(what)
        self.done += 1
        self.log.append(what)


class CutFile:
    def __init__(self, f: Any, power: Power, name: str) -> None:
        self._f, self._power, self._name = f, power, name

    def write(self, data: Any) -> int:
        try:
            self._power.write("write " + self._name)
        except PowerCut:
            self._f.write(data[:len(data) // 2])  # a torn write
            self._f.close()
            raise
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> CutFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


class CutOs:
    """The `os` the till's code sees: every change of the filesystem is a write."""

    def __init__(self, power: Power) -> None:
        self._power = power

    def listdir(self, path: str = ".") -> list[str]:
        return os.listdir(path)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def _change(self, what: str, func: Any, *args: str) -> None:
        self._power.write(what + " " + " ".join(args))
        func(*args)

    def mkdir(self, path: str) -> None:
        self._change("mkdir", os.mkdir, path)

    def rmdir(self, path: str) -> None:
        self._change("rmdir", os.rmdir, path)

    def remove(self, path: str) -> None:
        self._change("remove", os.remove, path)

    def rename(self, a: str, b: str) -> None:
        self._change("rename", os.rename, a, b)


class DirTill:
    """flash's Target (exec and put_many) over a directory, under a Power."""

    def __init__(self, root: Path, power: Power) -> None:
        self.root, self.power = root, power

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        here = os.getcwd()
        os.chdir(self.root)
        try:
            yield
        finally:
            os.chdir(here)

    def _builtins(self) -> dict[str, Any]:
        cut_os = CutOs(self.power)
        power = self.power

        def imp(name: str, *args: Any, **kw: Any) -> Any:
            return cut_os if name == "os" else builtins.__import__(name, *args, **kw)

        def opener(path: str, mode: str = "r", *args: Any, **kw: Any) -> Any:
            if "w" in mode:
                power.write("create " + path)
                return CutFile(builtins.open(path, mode, *args, **kw), power, path)
            return builtins.open(path, mode, *args, **kw)

        return dict(vars(builtins), __import__=imp, open=opener)

    def exec(self, code: str) -> str:
        out = io.StringIO()
        with self._inside(), contextlib.redirect_stdout(out):
            exec(code, {"__builtins__": self._builtins(), "__name__": "__main__"})
        return out.getvalue()

    def put_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        # As mpremote's cp: the file written in place, in chunks.
        for local, remote in pairs:
            data = Path(local).read_bytes()
            with self._inside():
                f = self._builtins()["open"](remote, "wb")
                with f:
                    for i in range(0, len(data), 256):
                        f.write(data[i:i + 256])

    def boot(self) -> None:
        """What the till's boot.py does before main.py runs."""
        self.exec(switch_code((self.root / "boot.py").read_text()) +
                  "_finish_firmware_switch()\n")


def firmware(root: Path) -> dict[str, str]:
    """SHA-256 of every file of the firmware and provisioning on the till."""
    found = {}
    for name in FIRMWARE:
        path = root / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []
        for f in files:
            if f.is_file():
                found[f.relative_to(root).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return found


def data(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for d in ("journal", "snapshot") for p in sorted((root / d).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An old firmware on a till with a journal and a snapshot, and a new one
    that changes modules, drops one, changes board.py and main.py and adds the
    printer provisioning."""
    tmp = tmp_path_factory.mktemp("atomic")
    new = fl.stage("sim", tmp / "new")
    (new / "provision").write_bytes(fl.printer_provision("TM-T88V"))
    old = fl.stage("sim", tmp / "old")
    for rel in ("pos/engine.mpy", "formats/journal.mpy", "app.mpy"):
        with (old / "till" / rel).open("ab") as f:
            f.write(b"old")
    (old / "till" / "formats" / "gone.mpy").write_bytes(b"M" * 700)
    with (old / "board.py").open("a") as f:
        f.write("# old board file\n")
    for name in ("main.py", "boot.py"):
        with (old / name).open("a") as f:
            f.write(f"# old {name}\n")
    keys = tmp / "keys"
    root = tmp / "till"
    root.mkdir()
    fl.install(DirTill(root, Power()), old, TILL_ID, keys_dir=keys)
    for d, name, body in (("journal", "seg0000000001.cbs", b"J" * 3000),
                          ("snapshot", "meta.cbor", b"S" * 500)):
        (root / d).mkdir()
        (root / d / name).write_bytes(body)
    old_fw = firmware(root)
    done = tmp / "done"
    shutil.copytree(root, done)
    power = Power()
    fl.install(DirTill(done, power), new, TILL_ID, keys_dir=keys)
    new_fw = firmware(done)
    assert old_fw != new_fw and old_fw["identity"] == new_fw["identity"]
    assert "till/formats/gone.mpy" in old_fw and "till/formats/gone.mpy" not in new_fw
    assert "provision" in new_fw and "provision" not in old_fw
    return {"tmp": tmp, "root": root, "new": new, "keys": keys, "old_fw": old_fw,
            "new_fw": new_fw, "writes": power.log, "data": data(root)}


def _cut_points(log: list[str], dense: tuple[int, int], stride: int = 13) -> list[int]:
    """Every write in `dense` (the commit and the renames), and every few
    writes elsewhere (module copies and removals: hundreds of writes of one kind)."""
    return sorted(set(range(0, len(log), stride)) | set(range(*dense)))


def _first(log: list[str], prefix: str) -> int:
    return next(i for i, w in enumerate(log) if w.startswith(prefix))


def test_a_cut_anywhere_boots_the_old_or_the_new_firmware(versions: dict[str, Any]) -> None:
    v = versions
    seen = {"old": 0, "new": 0}
    log = v["writes"]
    dense = (_first(log, "create boot.py.new") - 3, _first(log, "remove till.old/") + 3)
    for n, cut in enumerate(_cut_points(log, dense)):
        root = v["tmp"] / f"cut{n}"
        shutil.copytree(v["root"], root)
        with pytest.raises(PowerCut):
            fl.install(DirTill(root, Power(cut)), v["new"], TILL_ID, keys_dir=v["keys"])
        DirTill(root, Power()).boot()
        got = firmware(root)
        assert got in (v["old_fw"], v["new_fw"]), (cut, v["writes"][cut])
        seen["old" if got == v["old_fw"] else "new"] += 1
        assert data(root) == v["data"] and "switch" not in os.listdir(root)
        if got == v["new_fw"]:  # what was not committed stays until the next flash drops it
            assert not [p for p in os.listdir(root) if p.endswith((".new", ".old"))]
        shutil.rmtree(root)
    assert seen["old"] and seen["new"]  # the sweep crossed the commit


def test_a_cut_during_the_boots_own_switch_is_finished_at_the_next_boot(
        versions: dict[str, Any]) -> None:
    v = versions
    # The till cut just after the update was committed, before anything moved.
    commit = next(i for i, w in enumerate(v["writes"]) if w.startswith("rename switch.tmp"))
    base = v["tmp"] / "committed"
    shutil.copytree(v["root"], base)
    with pytest.raises(PowerCut):
        fl.install(DirTill(base, Power(commit + 1)), v["new"], TILL_ID, keys_dir=v["keys"])
    assert (base / "switch").exists()
    boot = Power()
    probe = v["tmp"] / "probe"
    shutil.copytree(base, probe)
    DirTill(probe, boot).boot()
    assert firmware(probe) == v["new_fw"]
    for cut in _cut_points(boot.log, (0, _first(boot.log, "remove till.old/") + 3), 9):
        root = v["tmp"] / f"boot{cut}"
        shutil.copytree(base, root)
        with pytest.raises(PowerCut):
            DirTill(root, Power(cut)).boot()
        DirTill(root, Power()).boot()
        assert firmware(root) == v["new_fw"], (cut, boot.log[cut])
        assert data(root) == v["data"]
        shutil.rmtree(root)


def test_reflashing_after_a_cut_brings_the_new_firmware(versions: dict[str, Any]) -> None:
    v = versions
    root = v["tmp"] / "reflash"
    shutil.copytree(v["root"], root)
    with pytest.raises(PowerCut):  # cut while the modules are copied: not committed
        fl.install(DirTill(root, Power(len(v["writes"]) // 3)), v["new"], TILL_ID,
                   keys_dir=v["keys"])
    power = Power()
    result = fl.install(DirTill(root, power), v["new"], TILL_ID, keys_dir=v["keys"])
    assert firmware(root) == v["new_fw"] and data(root) == v["data"]
    assert result.switched == ("till", "boot.py", "board.py", "provision", "main.py")
    assert not [p for p in os.listdir(root) if p.endswith((".new", ".old", ".tmp"))]
    assert result.verified == len(v["new_fw"]) - 1  # all but the identity, which was kept
    # Re-flashing the same firmware writes nothing at all.
    power = Power()
    result = fl.install(DirTill(root, power), v["new"], TILL_ID, keys_dir=v["keys"])
    assert power.log == [] and result.switched == () and result.sent == 0
    # Only what changed crosses the cable, and the journal is never touched.
    module = v["tmp"] / "one"
    shutil.copytree(v["new"], module)
    with (module / "till" / "pos" / "money.mpy").open("ab") as f:
        f.write(b"!")
    power = Power()
    result = fl.install(DirTill(root, power), module, TILL_ID, keys_dir=v["keys"])
    assert result.sent == 1 and result.switched == ("till",)
    assert [w for w in power.log if w.startswith("create ") and not w.startswith("create till.new/")
            ] == ["create switch.tmp"]
    assert not [w for w in power.log if w.split()[1].startswith(("journal", "snapshot"))]
    assert data(root) == v["data"]


@pytest.mark.parametrize("interpreter", ["cpython", "micropython"])
def test_boot_py_finishes_a_committed_update_and_leaves_an_uncommitted_one(
        tmp_path: Path, interpreter: str) -> None:
    """firmware/boot.py itself, as the till runs it at reset (a soft reset in the
    middle of a flash runs it too: it must not drop what is being staged)."""
    import subprocess
    import sys

    boot = (fl.ROOT / "firmware" / "boot.py").read_text()
    exe = sys.executable if interpreter == "cpython" else \
        str(Path(sys.executable).with_name("micropython"))

    def lay_out(root: Path, committed: bool) -> None:
        (root / "till").mkdir(parents=True)
        (root / "till" / "old.mpy").write_bytes(b"old")
        (root / "till.new" / "sub").mkdir(parents=True)
        (root / "till.new" / "sub" / "new.mpy").write_bytes(b"new")
        (root / "journal").mkdir()
        (root / "journal" / "seg0000000001.cbs").write_bytes(b"J")
        for name in ("boot.py", "main.py"):
            (root / name).write_text(boot if name == "boot.py" else "print('old')\n")
            (root / (name + ".new")).write_text(boot + "# new\n" if name == "boot.py"
                                               else "print('new')\n")
        if committed:
            (root / "switch").write_text("till boot.py main.py")

    def run(root: Path) -> dict[str, bytes]:
        proc = subprocess.run([exe, "boot.py"], cwd=root, capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    lay_out(tmp_path / "c", committed=True)
    assert run(tmp_path / "c") == {
        "boot.py": (boot + "# new\n").encode(), "main.py": b"print('new')\n",
        "till/sub/new.mpy": b"new", "journal/seg0000000001.cbs": b"J"}
    lay_out(tmp_path / "u", committed=False)
    run(tmp_path / "u")
    got = run(tmp_path / "u")  # reset twice: the old firmware stands, the staged files too
    assert got["main.py"] == b"print('old')\n" and got["till/old.mpy"] == b"old"
    assert got["till.new/sub/new.mpy"] == b"new" and got["main.py.new"] == b"print('new')\n"
