"""Test harness: every test in tests/device/ runs under CPython *and* MicroPython.

pytest collects a device test file as usual (CPython). This plugin collects the
same file a second time as MicroPython items named ``test_x[micropython]``: the
firmware is compiled with mpy-cross into build/mpy, and the module runs in the
MicroPython unix port with ``-X heapsize=192K`` (a Pico W's free heap) through
tests/device/mp_runner.py. Adding a device test therefore runs it on both
interpreters with no extra work.

A device test file may ask for a bigger heap with a line ``# micropython-heap: 4M``
(or ``+256K``: that much beside the ROMFS image) when the extra memory is test
equipment (an emulated flash chip, HO packages built in-process), not the till.

A file that loads most of the firmware at once (the engine, the main loop) says
``# micropython-romfs``: the firmware and the tests then run from a ROMFS image
(host_tools/provision/romfs_boot.py), executed in place as on a board with a ROMFS
partition, and the heap is 192K plus the image's size, so the tests still get a
Pico W's 192K for everything that is not code. Loaded as .mpy files instead, the
whole firmware's bytecode alone takes over 200K of the 64-bit unix port's heap.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEVICE_TESTS = ROOT / "tests" / "device"
MPY_DIR = ROOT / "build" / "mpy"
DEFAULT_HEAP = "192K"
MARK = "\x1eKASSA "

sys.path[:0] = [str(FIRMWARE), str(DEVICE_TESTS), str(ROOT / "tests" / "tools")]

_session_tmp = Path(tempfile.mkdtemp(prefix="kassa-tests-"))
os.environ["KASSA_TEST_TMP"] = str(_session_tmp)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_session_tmp, ignore_errors=True)


def micropython_binary() -> str:
    candidate = Path(sys.executable).with_name("micropython")
    return str(candidate) if candidate.exists() else "micropython"


@lru_cache(maxsize=None)
def compiled_firmware() -> tuple[str, ...]:
    from host_tools.provision.mpy_build import compile_tree

    return tuple(compile_tree(MPY_DIR))


@lru_cache(maxsize=None)
def romfs_image() -> bytes:
    """firmware/till, the device tests and their data as one ROMFS image, built
    once per session with mpremote's builder (build/romfs/tests.romfs)."""
    from host_tools.provision.mpy_build import compile_file
    from host_tools.provision.romfs import pack

    compiled_firmware()
    with tempfile.TemporaryDirectory(prefix="kassa-romfs-tests-") as tmp:
        stage = Path(tmp) / "rom"
        shutil.copytree(MPY_DIR / "till", stage / "till")
        # The tests and their helpers, compiled as the firmware is (short
        # source names, which stay in the heap); their data files as they are.
        for src in sorted(DEVICE_TESTS.rglob("*")):
            rel = src.relative_to(DEVICE_TESTS)
            if "__pycache__" in rel.parts or src.is_dir() or src.suffix == ".pyc":
                continue
            if src.suffix == ".py":
                error = compile_file(src, stage / rel.with_suffix(".mpy"), str(rel))
                if error is not None:
                    raise RuntimeError("mpy-cross failed:\n" + error)
            else:
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, stage / rel)
        image = pack(stage)
    out = ROOT / "build" / "romfs" / "tests.romfs"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(f".{os.getpid()}.tmp")
    tmp_out.write_bytes(image)
    tmp_out.replace(out)  # atomic: concurrent runs never read half an image
    return image


@lru_cache(maxsize=None)
def prebuilt_data() -> str:
    """tests/device/prebuilt.py's test data, built once a session on CPython;
    device tests find it through KASSA_PREBUILT on both interpreters."""
    import prebuilt

    base = _session_tmp / "prebuilt"
    base.mkdir(exist_ok=True)
    prebuilt.build_all(str(base))
    return str(base)


def pytest_sessionstart(session):
    os.environ["KASSA_PREBUILT"] = prebuilt_data()


def micropython_env() -> dict[str, str]:
    env = dict(os.environ)
    # .frozen keeps the port's frozen modules (asyncio); build/mpy is the compiled
    # firmware; tests/device holds the tests and their helpers.
    env["MICROPYPATH"] = os.pathsep.join([".frozen", str(MPY_DIR), str(DEVICE_TESTS)])
    return env


class MicroPythonFailure(Exception):
    pass


class MicroPythonFile(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), str(self.path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MicroPythonItem.from_parent(self, name=f"{node.name}[micropython]",
                                                  test_name=node.name)

    def heap(self) -> str:
        m = re.search(r"^# micropython-heap: (\+?)(\d+)([KM])$", self.path.read_text(), re.M)
        image_kib = (len(romfs_image()) + 1023) // 1024 if self.romfs() else 0
        if m:
            # "+256K": that much beside the ROMFS image, however the image grows.
            kib = int(m.group(2)) * (1024 if m.group(3) == "M" else 1)
            return f"{kib + (image_kib if m.group(1) else 0)}K"
        if self.romfs():
            return f"{192 + image_kib}K"
        return DEFAULT_HEAP

    def romfs(self) -> bool:
        return re.search(r"^# micropython-romfs$", self.path.read_text(), re.M) is not None

    def isolated(self) -> bool:
        """`# micropython-isolated`: each test boots its own interpreter, as a
        till boots once, instead of sharing one heap with the tests before it
        (a whole till in 192K is at the edge of what their leftovers allow)."""
        return re.search(r"^# micropython-isolated$", self.path.read_text(), re.M) is not None

    def printed(self) -> str:
        """What the module's tests printed under MicroPython (shown with pytest -rP)."""
        return self._printed

    _printed = ""

    @lru_cache(maxsize=None)
    def results(self, test_name: str | None = None) -> tuple[dict[str, dict], str]:
        errors = compiled_firmware()
        if errors:
            return {}, "mpy-cross failed:\n" + "\n".join(errors)
        if self.romfs():
            romfs_image()  # built (once a session) from the sources as they are now
            image = ROOT / "build" / "romfs" / "tests.romfs"
            cmd = [micropython_binary(), "-X", f"heapsize={self.heap()}",
                   str(ROOT / "host_tools" / "provision" / "romfs_boot.py"), str(image),
                   "-m", "mp_runner", self.path.stem]
        else:
            cmd = [micropython_binary(), "-X", f"heapsize={self.heap()}",
                   str(DEVICE_TESTS / "mp_runner.py"), self.path.stem]
        if test_name is not None:
            cmd.append(test_name)
        timeout_s = float(os.environ.get("KASSA_MP_TIMEOUT", "900"))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                  env=micropython_env(), timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            return {}, f"MicroPython run timed out after {timeout_s:.0f} s:\n{exc.stdout}"
        found: dict[str, dict] = {}
        other: list[str] = []
        for line in proc.stdout.split("\n"):
            if line.startswith(MARK):
                rec = json.loads(line[len(MARK):])
                found[rec["name"]] = rec
            else:
                other.append(line)
        self._printed = "\n".join(line for line in other if line)
        log = "\n".join(other[-60:]) + f"\n--- stderr (exit {proc.returncode}) ---\n" + proc.stderr[-4000:]
        return found, log


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test_name: str, **kwargs):
        super().__init__(**kwargs)
        self.test_name = test_name
        self.add_marker(pytest.mark.micropython)

    def runtest(self):
        parent = self.parent
        found, log = parent.results(self.test_name if parent.isolated() else None)
        rec = found.get(self.test_name)
        if rec is None:
            raise MicroPythonFailure(f"{self.test_name} did not report under MicroPython\n{log}")
        printed = self.parent.printed()
        if printed:
            self.add_report_section("call", "stdout (MicroPython)", printed)
        if rec["outcome"] == "skipped":
            pytest.skip(rec["detail"])
        if rec["outcome"] != "passed":
            raise MicroPythonFailure(rec["detail"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"under MicroPython (-X heapsize={self.parent.heap()}):\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.test_name} [micropython]"


def pytest_collect_file(file_path: Path, parent):
    if (file_path.parent == DEVICE_TESTS and file_path.suffix == ".py"
            and file_path.name.startswith("test_")):
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


def run_micropython(source: str, heap: str = DEFAULT_HEAP, timeout_s: float = 300,
                    args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run a snippet of device code under MicroPython with the compiled firmware."""
    errors = compiled_firmware()
    if errors:
        raise RuntimeError("mpy-cross failed:\n" + "\n".join(errors))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    try:
        return subprocess.run([micropython_binary(), "-X", f"heapsize={heap}", f.name, *args],
                              capture_output=True, text=True, cwd=ROOT,
                              env=micropython_env(), timeout=timeout_s)
    finally:
        os.unlink(f.name)
