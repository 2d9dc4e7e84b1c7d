"""A sim till with its link on a loopback TCP port, running under MicroPython
(ROMFS, the sim's heap beside the image) while a test or make bench talks to it; and a
snapshot package of the example store for it (tests/host/test_link_*.py,
bench/bench_link.py)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from host_tools.hodata import journal_reader as jr
from host_tools.hodata import snapshot_builder as sb
from host_tools.provision import sim

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningTill:
    """firmware/main.py on the sim board, script lines through stdin (kept
    open: the till runs until stop()), the console in root/console.txt."""

    def __init__(self, root: Path, image: Path | None, port: int | None = None,
                 heap_beside_kib: int = sim.SIM_HEAP_KIB) -> None:
        """image None: the till under CPython (as on a Raspberry Pi)."""
        self.root = root
        self.port = port or free_port()
        env = dict(os.environ, KASSA_LINK_PORT=str(self.port))
        if image is None:
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "firmware"), str(ROOT)])
            env["KASSA_BOARD"] = "sim"
            cmd = [sys.executable, str(ROOT / "firmware" / "main.py")]
        else:
            heap_kib = heap_beside_kib + (image.stat().st_size + 1023) // 1024
            env["MICROPYPATH"] = ".frozen"  # nothing from the host: /rom is added at boot
            cmd = [str(Path(sys.executable).with_name("micropython")), "-X", f"heapsize={heap_kib}K",
                   str(ROOT / "host_tools" / "provision" / "romfs_boot.py"), str(image),
                   str(ROOT / "firmware" / "main.py")]
        self.console_path = root / "console.txt"
        self._console: IO[str] = open(self.console_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self._console,
                                     stderr=subprocess.STDOUT, text=True, cwd=root, env=env)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def send(self, script: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(script.strip() + "\n")
        self.proc.stdin.flush()

    def wait_listening(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("the till stopped: " + self.console())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the till's link never listened: " + self.console())

    def console(self) -> str:
        self._console.flush()
        return self.console_path.read_text()

    def heap(self) -> list[tuple[str, int, int]]:
        """The HEAP lines printed so far: (label, free bytes, largest block)."""
        out = []
        for line in self.console().splitlines():
            if line.startswith("HEAP "):
                _, label, free, largest = line.split()
                out.append((label, int(free), int(largest)))
        return out

    def wait_for(self, text: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.console():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never came: " + self.console()[-3000:])
            time.sleep(0.05)

    def stop(self, timeout_s: float = 60) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._console.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._console.close()


def snapshot_package(version: int, created: int) -> bytes:
    """A full snapshot package of the example store, as HO publishes it."""
    cfg = sb.load_config(sim.EXAMPLE_STORE / "store.json")
    items = sb.load_items(sim.EXAMPLE_STORE / "items.csv", cfg)
    with tempfile.TemporaryDirectory(prefix="kassa-link-") as tmp:
        sb.build(items, cfg, version, Path(tmp) / "snap", created=created)
        sb.write_full_package(Path(tmp) / "snap", Path(tmp) / "snap.pkg")
        return (Path(tmp) / "snap.pkg").read_bytes()


def verify_chain(records: list[tuple[int, bytes]], key: bytes, till_id: str,
                 prev_tag: bytes | None = None) -> list[str]:
    """Every problem the host verifier finds in records streamed from seq 1
    (prev_tag None) or after a record whose tag is prev_tag."""
    import cbor2

    problems = []
    prev = prev_tag if prev_tag is not None else jr.chain_anchor(till_id)
    for seq, raw in records:
        rec = cbor2.loads(raw)
        problems += [f"{seq}: {p}" for p in jr.verify_record(rec, key, prev, till_id, seq, raw=raw)]
        prev = rec.get(6, b"") if isinstance(rec, dict) else b""
    return problems
