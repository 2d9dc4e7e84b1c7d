"""The sim screen with `--repl-port`: one local URL for the gateway and for
mpremote, as an ESP32 till's one UART (host_tools/simui/serialtill.py).

Driven through tmux as a person would: the screen opens, the cashier signs
on; a gateway's HELLO on the port is answered by the till; a sale is rung up
and left open while a real `mpremote connect socket://... exec` breaks in: the
till asks for the sale to be finished (the break-in seen), the cashier pays,
the till hands its port over and mpremote's command runs in the REPL (after
its soft reset, which the screen plays as a board does); the screen says so.
F3 boots the till again; a second mpremote finds the REPL at once, and Ctrl-D
at its prompt boots the till too. F10 quits and leaves nothing running: the
port is free, no process runs in the till's directory."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linktill import free_port
from simtill import KEY, TILL_ID, make_till_root
from test_sim_ui import Terminal, pytestmark  # noqa: F401 - tmux needed, as there

from host_tools.cli import main
from host_tools.gateway.link_client import open_till
from host_tools.hodata import journal_reader as jr
from host_tools.provision.ptyline import RAW_BANNER, PortTaken, PtyLine

MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


def _processes_in(root: Path) -> list[int]:
    """Processes whose current directory is `root` (the till's and its REPL's)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.readlink(f"/proc/{pid}/cwd") == str(root):
                found.append(int(pid))
        except OSError:
            pass  # gone, or not ours to look at
    return found


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Path]:
    root = make_till_root(tmp_path).resolve()
    yield root
    for pid in _processes_in(root):  # a failed test's till: it is not left running
        os.kill(pid, signal.SIGKILL)


def _hello(url: str) -> None:
    link = open_till(url)
    try:
        assert link.hello().till_id == TILL_ID
    finally:
        link.close()


def test_gateway_and_mpremote_share_the_screens_till_port(till: Path) -> None:
    port = free_port()
    url = f"socket://127.0.0.1:{port}"
    kassa = Path(sys.executable).with_name("kassa")
    term = Terminal(f"{kassa} sim run {till} --repl-port {port}; echo EXIT=$?; sleep 60",
                    cols=80, rows=24)
    try:
        s = term.wait_for(r"Cashier no\.\?", timeout_s=30)
        assert f"link+REPL 127.0.0.1:{port}" in s and "F3 restart the till" in s, s
        term.keys("1", "s", "1", "1", "1", "1", "Enter")
        term.wait_for(r"│Anna ")

        _hello(url)  # the gateway on that port: the till answers

        # A sale open when mpremote breaks in: the till asks for it to be finished.
        term.paste("4006381333931")
        term.wait_for(r"│Total +3\.49│")
        mpremote = subprocess.Popen(
            [MPREMOTE, "connect", url, "exec", "import os; print(sorted(os.listdir()))"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            term.wait_for(r"│Maintenance: +│\s+│.*\n│finish the sale")
            term.keys("5", "0", "0", "c")
            term.wait_for(r"│Change +1\.51│")
            out = mpremote.communicate(timeout=30)[0]
        finally:
            if mpremote.poll() is None:
                mpremote.kill()
                mpremote.communicate()
        assert mpremote.returncode == 0 and "'identity'" in out and "'journal'" in out, out
        s = term.wait_for("The till handed its port to mpremote")
        assert "The port is MicroPython's REPL" in s and "restart the till" in s, s
        term.keys("F9")
        term.wait_for("Drawer closed")
        term.keys("1")  # keys reach nobody now: said so
        term.wait_for("handed its port to mpremote")

        term.keys("F3")  # the reset button: the till boots again, its link back on the port
        term.wait_for("The till boots again")
        term.wait_for(r"│Cashier no\.\?", timeout_s=30)
        _hello(url)

        # No sale open: mpremote (told `resume`: no soft reset) gets the REPL
        # at once; then Ctrl-D at the REPL's prompt, a soft reset that runs
        # main.py on a board, boots the till.
        out = subprocess.run([MPREMOTE, "connect", url, "resume", "exec", "print(6 * 7)"],
                             capture_output=True, text=True, timeout=30).stdout
        assert out.strip() == "42", out
        term.wait_for("The till handed its port to mpremote")
        with socket.create_connection(("127.0.0.1", port)) as repl:
            repl.sendall(b"\x04")
            term.wait_for("The till boots again")
        term.wait_for(r"│Cashier no\.\?", timeout_s=30)
        _hello(url)
        term.keys("F10")
        s = term.wait_for("EXIT=0", timeout_s=30)
        assert "Traceback" not in s, s
    finally:
        term.close()
    # Nothing of the run is left: the port is free, no process in the till's directory.
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    assert _processes_in(till) == []
    assert not (till / "script").exists()
    report = jr.verify(till / "journal", KEY, TILL_ID)
    assert report.errors == []
    kinds = [i.value[3] for p in jr.segment_paths(till / "journal")
             for i in list(jr.read_segment(p))[1:]]
    assert kinds.count(1) == 1  # the sale paid before the hand-over


def test_f10_with_a_sale_open_waits_for_it_and_f10_again_switches_off(till: Path) -> None:
    kassa = Path(sys.executable).with_name("kassa")
    for pay in (True, False):
        term = Terminal(f"{kassa} sim run {till} --repl-port {free_port()}; echo EXIT=$?; "
                        "sleep 60", cols=80, rows=24)
        try:
            term.wait_for(r"Cashier no\.\?", timeout_s=30)
            term.keys("1", "s", "1", "1", "1", "1", "Enter")
            term.wait_for(r"│Anna ")
            term.paste("4006381333931")
            term.wait_for(r"│Total +3\.49│")
            term.keys("F10")  # breaks in: the till waits for the sale
            term.wait_for(r"finish the sale")
            term.wait_for("Stopping: finish an open sale, or F10 again switches the till off")
            if pay:
                term.keys("5", "0", "0", "c")
                s = term.wait_for("EXIT=0", timeout_s=30)
                assert "Receipts of this run" in s and "switched off" not in s, s
            else:
                term.keys("F10")
                s = term.wait_for("EXIT=0", timeout_s=30)
                assert "The till was switched off: every paid sale is in its journal" in s, s
            assert "Traceback" not in s, s
        finally:
            term.close()
    kinds = [i.value[3] for p in jr.segment_paths(till / "journal")
             for i in list(jr.read_segment(p))[1:]]
    assert kinds.count(1) == 1  # the sale paid; the one switched off was never journaled


def test_a_closed_terminal_leaves_nothing_running(till: Path) -> None:
    """The terminal window closed under the screen (tmux's server killed: a
    hangup, no F10): the till, a board that never stops by itself, goes too."""
    port = free_port()
    kassa = Path(sys.executable).with_name("kassa")
    term = Terminal(f"{kassa} sim run {till} --repl-port {port}", cols=80, rows=24)
    try:
        term.wait_for(r"Cashier no\.\?", timeout_s=30)
        assert _processes_in(till)
    finally:
        term.close()
    deadline = time.monotonic() + 10
    while _processes_in(till):
        assert time.monotonic() < deadline, "the till outlived its screen"
        time.sleep(0.1)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


def _recv_until(conn: socket.socket, end: bytes) -> bytes:
    got = b""
    conn.settimeout(5)
    while not got.endswith(end):
        got += conn.recv(4096)
    return got


def test_the_line_passes_ctrl_c_and_plays_a_boards_soft_reboot() -> None:
    """PtyLine without a process: the test writes the device's side on the
    slave. Ctrl-C reaches the device as data; a soft reboot said between two
    processes hides the second one's greeting up to the raw REPL's banner."""
    with PtyLine() as line, socket.create_connection(("127.0.0.1", line.port)) as host:
        host.sendall(b"\r\x03\r\x01")
        got = b""
        while len(got) < 4:
            got += os.read(line.slave, 16)
        assert got == b"\r\x03\r\x01"
        os.write(line.slave, b"MicroPython\r\n>>> " + RAW_BANNER + b">")
        assert _recv_until(host, b">").endswith(RAW_BANNER + b">")
        assert line.raw_repl
        os.write(line.slave, b"OK\r\n")  # the raw REPL's soft reset: the process ends
        line.say(b"MPY: soft reboot\r\n", mute_until=RAW_BANNER)
        os.write(line.slave, b"MicroPython\r\nType \"help()\"\r\n>>> \r\n>>> ")
        os.write(line.slave, RAW_BANNER + b">")
        assert _recv_until(host, RAW_BANNER + b">") == b"OK\r\nMPY: soft reboot\r\n" \
            + RAW_BANNER + b">"
        os.write(line.slave, b"\r\nMicroPython\r\n>>> ")  # Ctrl-B: the friendly REPL
        assert _recv_until(host, b">>> ").endswith(b">>> ") and not line.raw_repl


def test_a_port_in_use_is_said_in_words() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(PortTaken, match=r"127\.0\.0\.1:\d+ is in use by another program"):
            PtyLine(taken.getsockname()[1])


@pytest.mark.parametrize("options, words", [
    (["--cpython"], "does not go with --cpython"),
    (["--link-port", "7422"], "give --repl-port or --link-port, not both"),
    (["--plain"], "--repl-port is for the screen"),
])
def test_repl_port_refuses_what_it_cannot_do(till: Path, capsys: pytest.CaptureFixture[str],
                                             options: list[str], words: str) -> None:
    assert main(["sim", "run", str(till), "--repl-port", "7421", *options]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
