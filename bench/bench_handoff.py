"""mpremote breaking in on a running till, under `make bench`: the real mpremote
runs one `exec` on a MicroPython unix-port "board" behind a TCP bridge
(tests/tools/mp_device.py) whose till (the sim board, firmware loaded from .mpy
files, HO's snapshot in place) is running, and on the same board at its plain
REPL. With its link on the REPL's port (KASSA_LINK_PORT=stdio: the ESP32's
StdioLink) the till itself recognises mpremote's \\r\\x03 between frames and
hands over (docs/link.md); with its link on TCP the pty turns Ctrl-C into
SIGINT (a KeyboardInterrupt, as on a Pico W's REPL port)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ho_site import wait_port
from linktill import free_port
from mp_device import UnixDevice

from host_tools.provision import flash as fl
from host_tools.provision import sim

ROOT = Path(__file__).resolve().parent.parent
TILL_ID = "S001/till-1"
RUNS = 3


def _till_root(root: Path, staged: Path) -> None:
    sim.init(root, TILL_ID, b"k" * 32)  # identity and HO's snapshot, as after a first sync
    shutil.copytree(staged, root, dirs_exist_ok=True)


def _mpremote_exec(url: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mpremote", "connect", f"port:{url}", "resume",
                    "exec", "print(1)"], check=True, capture_output=True, timeout=60)
    return time.perf_counter() - t0


def _boot(dev: UnixDevice, console: Path, link: str) -> None:
    """Restart the device into its till (boot.py, main.py) and wait until the
    till has opened its link (TCP) or drawn its display (stdio: on stderr)."""
    boots, shown = dev.boots, console.stat().st_size if console.exists() else 0
    subprocess.run([sys.executable, "-m", "mpremote", "connect", f"port:{dev.url}", "resume",
                    "exec", "--no-follow", "import machine; machine.soft_reset()"],
                   check=True, capture_output=True, timeout=60)
    end = time.monotonic() + 60
    while dev.boots <= boots:
        time.sleep(0.05)
    if link == "stdio":
        while console.stat().st_size <= shown:
            if time.monotonic() > end:
                raise RuntimeError("the till did not start: " + console.read_text()[-2000:])
            time.sleep(0.05)
    else:
        wait_port(int(link), "the till", lambda: dev.proc.poll() is None)
    time.sleep(1.0)  # its tasks running


def bench_handoff() -> str:
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        staged = fl.stage("sim", tmp / "stage")
        heap = f"{sim.loaded_heap_kib(staged)}K"
        cases = (("its plain REPL, no till running", None),
                 ("a running till, link on TCP: Ctrl-C is SIGINT", str(free_port())),
                 ("a running till, link on the REPL's port (StdioLink)", "stdio"))
        for i, (what, link) in enumerate(cases):
            root, console = tmp / f"till{i}", tmp / f"console{i}.txt"
            _till_root(root, staged)
            with UnixDevice(root, heap=heap, reboot=True,
                            env={"KASSA_LINK_PORT": link or "0"}, repl_link=link == "stdio",
                            console=console) as dev:
                times = []
                for _ in range(RUNS):
                    if link is not None:
                        _boot(dev, console, link)
                    times.append(_mpremote_exec(dev.url))
            rows.append(f"| {what} | {min(times):.2f} s | {max(times):.2f} s |")
    return (
        "## mpremote breaking in on a running till\n\n"
        "The real mpremote (`mpremote connect URL resume exec 'print(1)'`) on a MicroPython "
        "unix-port board behind a TCP bridge (tests/tools/mp_device.py): the sim till, its "
        "firmware loaded from .mpy files, HO's snapshot in place, idle; "
        f"fastest and slowest of {RUNS} runs, the till restarted before each.\n\n"
        "| mpremote reaches | fastest | slowest |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        "With its link on the REPL's port the till reads mpremote's `\\r\\x03` in its link "
        "task (a pass every 20 ms), hands over once no sale is open and its printer is idle, "
        "and its main loop notices within 250 ms (docs/link.md); mpremote gives up after "
        "10 s. With a sale open the handover waits for the sale's end.\n")
