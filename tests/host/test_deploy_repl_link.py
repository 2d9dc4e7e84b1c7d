"""`mpremote` reaches a running sim till whose link shares its REPL port and
deploys to it (issue 9 §3), as on an ESP32 whose gateway link is the USB
bridge on UART0 (LINK "usb_serial", drivers/linkserial.py StdioLink).

The sim till runs under the MicroPython unix port on a pty bridged to
socket:// (tests/tools/mp_device.py) with KASSA_LINK_PORT=stdio: its link is
the process's stdin/stdout, the pty passes Ctrl-C through as data, its display
goes to a console file and its keys and scans come from the file `script` in
its root. `kassa flash` installs it; `kassa gateway sync` reaches it over the
bridge's URL (HO's snapshot down; the till journals it and the clock the
gateway set). A sale is rung up and left unpaid, and a gateway is killed
halfway through writing a frame. Then `kassa flash` of a new firmware (real
mpremote) breaks in on the same URL while the till runs: the till takes
mpremote's \\r\\x03 between frames, tells the cashier to finish the sale, and
hands the port to the REPL once the sale is paid; the update is deployed and
the till restarted. It boots the new firmware and syncs again over the same
port: HO gets the sale and every record the old firmware made, each once, and
the journal's chain verifies."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from ho_site import KASSA, TILL_ID, ho_site, kassa
from mp_device import UnixDevice
from test_deploy_e2e import NEW_VERSION, SALE, _new_firmware

import till
from host_tools.cli import main
from host_tools.hodata import journal_reader as jr
from host_tools.provision import device
from host_tools.provision import flash as fl
from host_tools.provision import sim
from till.link import ops as O
from till.link import wire as F


SALE_OPEN = SALE[:SALE.rindex("key CASH")]  # all but the payment


def _running(dev: UnixDevice, boots: int, console: Path, shown: int, timeout_s: float = 60) -> None:
    """Wait for the device's boot number `boots` and its till's display
    drawn after the first `shown` characters of console (the till is up)."""
    end = time.monotonic() + timeout_s
    while dev.boots < boots or len(console.read_text()[shown:].strip()) == 0:
        assert time.monotonic() < end, "the till did not start: " + console.read_text()[-2000:]
        time.sleep(0.05)
    time.sleep(0.5)  # from the first screen to the link's task


def _hello_frame() -> bytes:
    """A gateway's HELLO request as it crosses the line."""
    raw, out = bytearray(F.MAX_RAW), bytearray(F.MAX_WIRE)
    body = O.message(O.OP_HELLO)
    n = F.to_wire(raw, F.pack(raw, F.T_DATA, 9, 0, 0, 1, body, len(body)), out)
    return bytes(out[:n])


def _half_a_frame() -> bytes:
    frame = _hello_frame()
    return frame[:len(frame) // 2]


def _append(script: Path, lines: str) -> None:
    with script.open("a") as f:
        f.write(lines.strip() + "\n")


def _wait(console: Path, shown: int, text: str, timeout_s: float = 30) -> None:
    end = time.monotonic() + timeout_s
    while text not in console.read_text()[shown:]:
        assert time.monotonic() < end, f"{text!r} never shown: " + console.read_text()[-2000:]
        time.sleep(0.05)


def _journal_seqs(root: Path, key: bytes) -> list[int]:
    assert jr.verify(root / "journal", key, TILL_ID).errors == []
    return [i.value[jr.K_SEQ] for p in jr.segment_paths(root / "journal")
            for i in list(jr.read_segment(p))[1:]]


def test_kassa_flash_breaks_in_between_frames_and_the_till_syncs_again(tmp_path: Path) -> None:
    keys, root, console = tmp_path / "keys", tmp_path / "till", tmp_path / "console.txt"
    new_firmware = _new_firmware(tmp_path)
    (new_firmware / "till" / "e2e_pad.py").unlink()  # its ballast is for cutting a copy short
    fl.stage("sim", tmp_path / "sizing")  # the firmware's size sets the heap
    heap = f"{sim.loaded_heap_kib(tmp_path / 'sizing')}K"
    with ho_site(tmp_path) as ho, \
            UnixDevice(root, heap=heap, reboot=True, env={"KASSA_LINK_PORT": "stdio"},
                       repl_link=True, console=console, port=ho.link_port) as dev:
        script = root / "script"  # the till's keys and scans, read as they are appended
        script.touch()
        kassa("flash", "--port", dev.url, "--resume", "--board", "sim", "--till-id", TILL_ID,
              "--keys-dir", keys)
        key_file = keys / fl.key_file_name(TILL_ID)
        ho.register(key_file)
        key = bytes.fromhex(key_file.read_text())
        _running(dev, 2, console, 0)
        # The gateway on the port the REPL shares: HO's snapshot down, records up.
        seen = ho.sync()
        assert seen["till_id"] == TILL_ID and seen["firmware"] == till.FIRMWARE
        assert seen["head_seq"] == 0  # what it journaled (the snapshot, the clock) goes up next
        made = _journal_seqs(root, key)
        assert made == list(range(1, len(made) + 1)) and len(made) >= 2

        # A sale rung up, not yet paid; a gateway killed while it wrote a
        # frame: half of one stays on the line.
        _append(script, SALE_OPEN)
        _wait(console, 0, "20.00")
        with socket.create_connection(("127.0.0.1", dev.port)) as gw:
            gw.sendall(_half_a_frame())
        time.sleep(1.2)  # the line quiet for a second: that frame is over

        # The update, while the till runs: mpremote breaks in between frames,
        # and the till hands over once the cashier has finished the sale.
        boots, shown = dev.boots, len(console.read_text())
        flasher = subprocess.Popen(KASSA + ["flash", "--port", dev.url, "--resume", "--board",
                                            "sim", "--keys-dir", str(keys), "--firmware",
                                            str(new_firmware)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait(console, shown, "finish the sale")
            _append(script, "key CASH")
            _wait(console, shown, "Change")
            script.write_text("")  # read: the next boot must not ring it again
            out = flasher.communicate(timeout=120)[0]
        finally:
            if flasher.poll() is None:
                flasher.kill()
                flasher.communicate()
        assert flasher.returncode == 0 and "switched in:" in out, out
        shown_then = console.read_text()[shown:]
        last = shown_then.index("restart the till")  # the old till's last screen
        assert shown_then.index("Change") < last, shown_then
        _running(dev, boots + 1, console, shown + last + len("restart the till"))
        seen = ho.sync()
        assert seen["firmware"] == NEW_VERSION
        assert seen["head_seq"] > len(made)  # the old firmware's records and sale came up
        held = ho.at_ho(1)
        assert [r["seq"] for r in held] == list(range(1, seen["head_seq"] + 1))
    # The till's journal: its chain verifies, each record once, and HO holds
    # all of it but what the last sync itself journaled.
    seqs = _journal_seqs(root, key)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= seen["head_seq"]


def test_a_till_that_keeps_its_port_gets_a_flash_that_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sale open on an ESP32 till: mpremote gives up after 10 s with its
    own words; kassa flash says what they mean for the person at the till."""
    compile_run = subprocess.run

    def refused(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if "mpremote" not in cmd:
            return compile_run(cmd, **kw)  # mpy-cross
        return subprocess.CompletedProcess(
            cmd, 1, "", "Traceback (most recent call last):\n"
            "mpremote.transport.TransportError: could not enter raw repl\n")

    monkeypatch.setattr(device.subprocess, "run", refused)
    rc = main(["flash", "--port", "socket://127.0.0.1:9", "--resume", "--board", "sim",
               "--till-id", TILL_ID, "--keys-dir", str(tmp_path / "keys")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "could not enter raw repl: the till did not let mpremote in" in err
    assert "'Maintenance: finish the sale', finish the sale and flash again" in err


@pytest.mark.parametrize("interpreter", ["micropython", "python"])
def test_the_stdio_link_on_a_real_stdin_leaves_the_repl_its_bytes(interpreter: str) -> None:
    """StdioLink as a board builds it (sys.stdin, select.poll): CPython's
    buffered stdin must not swallow what follows the break-in."""
    exe = str(Path(sys.executable).with_name(interpreter))
    code = ("import sys, time\nfrom till.drivers.linkserial import StdioLink\n"
            "link = StdioLink()\ntime.sleep(0.2)\nbuf = bytearray(64)\ngot = b''\n"
            "while not link.handoff:\n    n = link.readinto(buf)\n    got += bytes(buf[:n])\n"
            "link.close()\nprint(len(got), got[-1], sys.stdin.buffer.read())\n")
    frame, repl = _hello_frame(), b"\r\x01print(1)\r\x04"
    env = dict(os.environ, MICROPYPATH=str(ROOT / "firmware"),
               PYTHONPATH=str(ROOT / "firmware"))
    out = subprocess.run([exe, "-c", code], input=frame + b"\r\x03" + repl,
                         capture_output=True, timeout=30, env=env).stdout
    assert out.decode().strip() == f"{len(frame)} 0 {repl!r}", out
