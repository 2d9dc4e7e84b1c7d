"""The sim screen's parts without a terminal: the till's display output read
back into frames, the key legend from the board file, the printer file read
back into receipts and drawer pulses, a scanner's digits told from fingers',
and the sim's line input from a pipe."""
from __future__ import annotations

import os
from pathlib import Path

from host_tools.simui.burst import Burst
from host_tools.simui.paper import PaperWatcher
from host_tools.simui.screen import legend
from host_tools.simui.tillproc import DisplayReader, Frame, board_settings

CUT = b"\x1dV\x01"  # GS V 1, partial cut
DRAWER = b"\x1bp\x00\x32\x32"  # ESC p, pin 2


def test_display_output_is_read_back_into_frames_and_console_lines() -> None:
    reader = DisplayReader(cols=8, rows=2)
    got = [reader.line(t) for t in ("|Milk    |\n", "|    1.29|\n", "\n",
                                    "sim: not understood: scna 1\n",
                                    "|a |b|   |\n", "|Total 1 |\n", "|x|\n")]
    assert got[0] is None and got[1] == Frame(["Milk    ", "    1.29"]) and got[2] is None
    assert got[3] == "sim: not understood: scna 1"
    assert got[4:6] == [None, Frame(["a |b|   ", "Total 1 "])]  # bars inside a line are text
    assert got[6] == "|x|"  # not the display's width: console


def test_the_reader_reads_what_the_sim_display_writes() -> None:
    # The format is TextDisplay's (till.drivers.display): the two must agree.
    import io

    from till.drivers.display import TextDisplay

    out = io.StringIO()
    display = TextDisplay(out, cols=20, rows=2)
    display.show([("Rye bread 750 g", "3.49"), ("Total", "3.49")])
    display.show(["A name longer than the display", ""])
    reader = DisplayReader(cols=20, rows=2)
    frames = [f for f in map(reader.line, out.getvalue().splitlines(keepends=True)) if f]
    assert frames == [Frame(["Rye bread 750 g 3.49", "Total           3.49"]),
                      Frame(["A name longer than t", " " * 20])]


def test_the_legend_is_the_board_files_keymap_with_enter_as_total() -> None:
    board = board_settings()
    rows = legend(board["KEYPAD"]["keymap"])
    assert ("Enter", "TOTAL") in rows and ("0-9", "digits") in rows
    names = {name for _, name in rows}
    for name in board["KEYPAD"]["keymap"].values():
        assert name in names or name == "."
    assert board["LINK"]["port"] > 0


def _receipt(text: str) -> bytes:
    return b"\x1b@" + text.encode() + b"\n" + CUT


def test_receipts_are_cut_apart_saved_as_png_and_numbered_on(tmp_path: Path) -> None:
    paper = tmp_path / "printer.bin"
    paper.write_bytes(_receipt("from an earlier run"))
    (tmp_path / "receipt-0007.png").write_bytes(b"")  # an earlier run's last receipt
    watch = PaperWatcher(paper)
    assert watch.poll() == [] and watch.text == ""  # what was printed before is not shown again

    # A logo whose raster data holds the bytes of a cut: not a cut.
    logo = b"\x1dv0\x00\x03\x00\x01\x00" + CUT
    with open(paper, "ab") as f:
        f.write(b"\x1b@" + logo + b"Receipt 12\nRye bread")
    assert watch.poll() == []
    assert watch.printing and "Receipt 12" in watch.text and "[IMAGE" in watch.text
    assert "Rye bread" not in watch.text  # a printer prints a line at its line feed
    with open(paper, "ab") as f:
        f.write(b" 3.49\n" + CUT + DRAWER + _receipt("Receipt 13"))
    saved = watch.poll()
    assert [p.name for p in saved] == ["receipt-0008.png", "receipt-0009.png"]
    assert all(p.stat().st_size > 0 for p in saved)
    assert not watch.printing and "Receipt 13" in watch.text and watch.drawer_pulses == 1
    assert watch.last_png == saved[-1]
    with open(paper, "ab") as f:
        f.write(DRAWER)  # no sale: the drawer opens, nothing prints
    assert watch.poll() == [] and watch.drawer_pulses == 2 and "Receipt 13" in watch.text


def test_lines_sent_together_reach_the_cpython_sim_one_by_one() -> None:
    # CPython's text stdin read ahead: the second line sat in its buffer while
    # poll() saw an empty pipe, so a key stayed unpressed until the next one.
    from till.drivers.sim import TerminalLines

    r, w = os.pipe()
    with os.fdopen(r) as stdin:
        lines = TerminalLines(stdin)
        os.write(w, b"key 1\nkey TOTAL\n")
        assert [lines.readline(), lines.readline(), lines.readline()] == [
            "key 1\n", "key TOTAL\n", ""]
        os.close(w)
        assert lines.readline() == "" and lines.closed


def _typed(burst: Burst, times_s: list[float], digits: str) -> list[tuple[str, str]]:
    out = []
    for t, d in zip(times_s, digits):
        out += burst.add(d, t)
    return out


def test_digits_faster_than_fingers_are_a_scan_and_slower_ones_keys_in_order() -> None:
    burst = Burst()
    # A scanner: 13 digits 4 ms apart, then its Enter lets them go.
    assert _typed(burst, [i * 0.004 for i in range(13)], "4006381333931") == []
    assert not burst.due(0.049)  # 1 ms after the last: more may come
    assert burst.end() == ("scan", "4006381333931")  # its Enter ends it
    # Fingers: 120 ms apart, each digit lets the one before it go as a key.
    out = _typed(burst, [1.0, 1.12, 1.24, 1.36], "2000")
    assert out == [("keys", "2"), ("keys", "0"), ("keys", "0")]
    assert burst.due(1.40) and burst.end() == ("keys", "0")
    # Fast but short (a PIN typed by a test harness, 4 digits): keys.
    assert _typed(burst, [2.0, 2.001, 2.002, 2.003], "1111") == []
    assert not burst.due(2.01) and burst.due(2.04)
    assert burst.end() == ("keys", "1111")
    # A held key's repeats never make a code longer than a scanner reads.
    out = _typed(burst, [3 + i * 0.001 for i in range(100)], "7" * 100)
    assert out == [("scan", "7" * 48), ("scan", "7" * 48)] and burst.digits == ["7"] * 4
    assert burst.end() == ("keys", "7777")
