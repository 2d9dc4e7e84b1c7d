"""The interactive simulator driven through a real terminal (tmux) the way a
person uses it: sign on, sell (a pasted barcode, one typed at the
barcode prompt, one from a scanner that types, a keyed PLU), pay cash,
refund the sale, X report, Z closing, the printer's paper switched, quit.
Each step is checked on the screen as tmux shows it (capture-pane); at the end
the journal verifies and every receipt was saved as a PNG.

tmux comes from Debian (`make test` installs it when missing)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image

from host_tools.hodata import journal_reader as jr
from simtill import KEY, TILL_ID, make_till_root

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (make test installs it)")


class Terminal:
    """A tmux session on its own server (socket): keys in, the screen out."""

    def __init__(self, command: str, cols: int = 100, rows: int = 40) -> None:
        self._dir = tempfile.mkdtemp(prefix="kassa-tmux-")  # short: a socket path
        self.socket = os.path.join(self._dir, "s")
        self._tmux("new-session", "-d", "-x", str(cols), "-y", str(rows), command)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def resize(self, cols: int, rows: int) -> None:
        self._tmux("resize-window", "-t", "0", "-x", str(cols), "-y", str(rows))

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "0")

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time, as fingers do
            self._tmux("send-keys", "-t", "0", key)

    def type_fast(self, text: str) -> None:
        """Characters in one burst, as a scanner that types them does."""
        self._tmux("send-keys", "-t", "0", "-l", text)

    def paste(self, text: str) -> None:
        """As a terminal pastes: bracketed when the program asked for it (-p)."""
        self._tmux("set-buffer", "-b", "clip", text)
        self._tmux("paste-buffer", "-p", "-b", "clip", "-t", "0")

    def wait_for(self, pattern: str, timeout_s: float = 20) -> str:
        """The screen once `pattern` (a regular expression) is on it."""
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not on the screen after {timeout_s} s: {pattern!r}\n"
                                     + screen)
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def till(tmp_path: Path) -> Path:
    # HO lets this store refund offline (the sim till never synced here), up to 50.00.
    cfg = json.loads((ROOT / "tests" / "data" / "store" / "store.json").read_text())
    cfg["policies"]["offline"]["max_refund"] = 5000
    store = tmp_path / "store.json"
    store.write_text(json.dumps(cfg))
    return make_till_root(tmp_path, config=store)


def test_a_person_sells_refunds_and_closes_the_day_at_the_sim_screen(till: Path) -> None:
    kassa = Path(sys.executable).with_name("kassa")
    term = Terminal(f"{kassa} sim run {till}; echo EXIT=$?; sleep 60", cols=80, rows=24)
    try:
        s = term.wait_for(r"Cashier no\.\?", timeout_s=30)
        # What a newcomer needs is on the screen: the keys, the hardware, the link.
        for shown in ("Enter TOTAL", "c CASH", "r REFUND", "x REPORT", "F2 scan",
                      "F5 paper out/in", "F8 printer on/off", "F10 quit",
                      "gateway link 127.0.0.1:7420", "Drawer   closed", "Printer  on, paper ok"):
            assert shown in s, (shown, s)
        term.keys("q")
        term.wait_for("The key q does nothing here")

        term.keys("1", "s")
        term.wait_for(r"│Cashier +Anna│")
        term.keys("1", "1", "1", "1")
        term.wait_for(r"│PIN\? +\*\*\*\*│")
        term.keys("Enter")  # TOTAL
        term.wait_for(r"│Anna ")

        term.paste("4006381333931")  # a barcode pasted: a scan
        term.wait_for(r"│Rye bread 750 g 3\.49│\s+│.*\n│Total +3\.49│")
        term.keys("F2")  # the same bread again, its barcode typed at the prompt
        term.wait_for("Barcode: _")
        term.keys(*"4006381333931")
        term.wait_for("Barcode: 4006381333931_")
        term.keys("Enter")
        term.wait_for(r"│Total +6\.98│")
        term.type_fast("4008400402222\r")  # milk, from a scanner that types (with Enter)
        term.wait_for(r"│Total +8\.17│")
        term.keys("3", "1", "p")  # PLU 31
        term.wait_for(r"│Total +8\.76│")
        term.keys("2", "0", "0", "0", "c")  # 20.00 given, CASH
        term.wait_for(r"│Change +11\.24│")
        s = term.wait_for(r"Last receipt: receipt-0001\.png")
        assert "Drawer   OPEN" in s and re.search(r"│Change +11\.24│", s), s  # its end
        term.keys("PPage", "PPage")  # its top: 24 rows show a receipt's last 14 lines
        s = term.wait_for(r"(?s)Receipt \d+ +Cashier Anna.*│Rye bread 750 g +3\.49 B│")
        assert "Sparkling water" in s
        sale_no = re.search(r"Receipt (\d+) +Cashier Anna", s)
        assert sale_no, s
        term.keys("F9")
        term.wait_for("Drawer   closed")
        term.resize(100, 44)  # a bigger window shows whole receipts (the X too, with its number ranges)
        term.wait_for(r"(?s)Rye bread 750 g.*Whole milk.*Change +11\.24")

        # Refund of that receipt: the cashier may not, so the manager (3) approves.
        term.keys("r")
        term.wait_for(r"Receipt no\.\?")
        term.keys(*sale_no.group(1), "Enter")
        term.wait_for(r"Manager no\.\?")
        term.keys("3", "Enter")
        term.wait_for(r"│Manager +Carla│")
        term.keys("3", "3", "3", "3", "Enter")
        term.wait_for("CASH or CARD")
        term.keys("c")
        term.wait_for(r"│Refunded +8\.76│")
        s = term.wait_for(r"Last receipt: receipt-0002\.png")
        assert f"Refund of receipt {sale_no.group(1)}" in s and "-8.76" in s
        term.wait_for("Drawer   OPEN")  # the cash goes back out
        term.keys("F9")

        term.keys("x")
        term.wait_for("1X 2Z 3Copy")
        term.keys("1")
        s = term.wait_for(r"Last receipt: receipt-0003\.png")
        # (The pane shows the paper's end: the display says it is the X.)
        assert re.search(r"│X +0\.00│", s) and re.search(r"Refunds total +-8\.76", s), s

        # Paper out: the Z closing waits for paper, and prints once it is back.
        # (Not at once: right after a receipt's last byte the printer is asked
        # how it is, and a paper-out answer then would be about the X report.)
        time.sleep(1)
        term.keys("F5")
        term.wait_for("Printer  on, paper out")
        term.keys("x", "2")
        term.wait_for(r"Z closing: mgr")
        term.keys("3", "Enter", "3", "3", "3", "3", "Enter")
        term.wait_for(r"Cash counted")  # the drawer is counted before the Z
        term.keys("0", "Enter")  # the drawer holds what it should: the refund took the sale's cash
        term.wait_for(r"│Day closed")
        time.sleep(1.5)  # the printer is asked, answers paper out: no paper comes out
        s = term.screen()
        assert "receipt-0004.png" not in s and "Z closing" not in s, s
        term.keys("F5")
        term.wait_for("Printer  on, paper ok")
        s = term.wait_for(r"Last receipt: receipt-0004\.png", timeout_s=15)
        assert "Cash counted" in s and "Difference" in s, s  # only a Z has them

        term.keys("F10")
        s = term.wait_for("EXIT=0", timeout_s=30)
        assert "Receipts of this run" in s and "Traceback" not in s
    finally:
        term.close()
    report = jr.verify(till / "journal", KEY, TILL_ID)
    assert report.errors == []
    kinds = [i.value[3] for p in jr.segment_paths(till / "journal")
             for i in list(jr.read_segment(p))[1:]]
    assert kinds.count(1) == 1  # the one sale
    pngs = sorted(till.glob("receipt-*.png"))
    assert [p.name for p in pngs] == [f"receipt-000{n}.png" for n in (1, 2, 3, 4)]
    for png in pngs:
        with Image.open(png) as img:
            assert img.width == 576 and img.height > 200


def test_a_till_that_cannot_start_says_why_on_the_screen_and_after_it(till: Path) -> None:
    (till / "identity").write_bytes(b"garbage")
    kassa = Path(sys.executable).with_name("kassa")
    term = Terminal(f"{kassa} sim run {till}; echo EXIT=$?; sleep 60", cols=80, rows=24)
    try:
        s = term.wait_for(r"The till stopped \(exit code 0\): F10 leaves", timeout_s=30)
        assert re.search(r"│Not provisioned +│.*\n│Run kassa flash +│", s), s
        assert "identity file ./identity is damaged" in s
        term.keys("1")
        term.wait_for("The till has stopped")
        term.keys("F10")
        s = term.wait_for("EXIT=0")
        assert "kassa flash" in s and "Traceback" not in s
    finally:
        term.close()
