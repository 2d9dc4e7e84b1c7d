"""A whole till on the sim board under MicroPython: firmware/main.py boots from a
till root (identity, HO snapshot, logo), a script signs on, scans and pays; then
the journal verifies with the host tools, the receipt renders to text and PNG
with a QR that matches the journal, and the display showed the sale."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from conftest import ROOT

from host_tools.hodata import journal_reader as jr
from host_tools.hodata import receipt_render as rr
from host_tools.provision.romfs import build_image
from simtill import KEY, NOON, SALE_SCRIPT, TILL_ID, boot, make_till_root



@pytest.fixture(scope="session")
def romfs_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rom") / "firmware.romfs"
    path.write_bytes(build_image(ROOT / "boards" / "sim.py"))
    return path


SALE = SALE_SCRIPT


@pytest.fixture(scope="module")
def sold(tmp_path_factory: pytest.TempPathFactory,
         romfs_image: Path) -> tuple[Path, subprocess.CompletedProcess]:
    root = make_till_root(tmp_path_factory.mktemp("sim"))
    return root, boot(root, SALE, romfs_image)


def test_the_sale_is_in_the_journal_and_verifies(sold) -> None:
    root, proc = sold
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = jr.verify(root / "journal", KEY, TILL_ID)
    assert report.errors == []
    recs = [i.value for p in jr.segment_paths(root / "journal") for i in list(jr.read_segment(p))[1:]]
    sales = [r for r in recs if r[3] == 1]
    assert len(sales) == 1
    sale = sales[0]
    assert sale[2] == NOON and 5 not in sale  # the clock was set: no flags
    plus = [line[1] for line in sale[4][2]]
    assert plus == [11, 20, 31]
    assert sale[4][6] == 349 + 119 + 3 * 59  # total: rye bread, milk, 3 water


def test_the_receipt_prints_with_logo_and_a_qr_matching_the_journal(sold) -> None:
    root, _ = sold
    data = (root / "printer.bin").read_bytes()
    paper = rr.parse(data, columns=48, width_dots=576)
    assert not paper.issues, paper.issues
    text = rr.to_text(paper)
    for needle in ("Corner Shop Lindenstrasse", "Rye bread 750 g", "Whole milk 1 l",
                   "3 x 0.59", "TOTAL", "6.45", "Cash", "20.00", "Change", "13.55",
                   "2026-11-21 12:00", "Cashier Anna", "[IMAGE 576x60]"):
        assert needle in text, (needle, text)
    assert text.count("cut -----") == 1
    sale = [i.value for i in list(jr.read_segment(jr.segment_paths(root / "journal")[0]))[1:]
            if i.value[3] == 1][0]
    img = rr.draw_paper(paper).image
    img.save(root / "receipt.png")
    qr = [r.text for r in zxingcpp.read_barcodes(img) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert qr == [f"KASSA1|{TILL_ID}|{sale[1]}|{sale[6].hex()}"]


def test_the_display_showed_the_sale(sold) -> None:
    _, proc = sold
    shown = proc.stdout
    assert "Rye bread" in shown and "Change" in shown and "13.55" in shown


def test_paper_out_queues_the_receipt_and_prints_it_once_when_paper_is_back(
        tmp_path: Path, romfs_image: Path) -> None:
    root = make_till_root(tmp_path)
    script = f"""
clock {NOON}
paper out
key 1 SIGN
type 1111
key TOTAL
scan 4006381333931
type 5.00
key CASH
wait 500
paper ok
wait 3500
"""
    proc = boot(root, script, romfs_image)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "paper" in proc.stdout.lower()  # the cashier was told
    text = rr.to_text(rr.parse((root / "printer.bin").read_bytes(), columns=48, width_dots=576))
    assert text.count("Rye bread 750 g") == 1 and text.count("cut -----") == 1
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []
    assert os.listdir(root / "printq") == []


def test_an_unprovisioned_till_says_so(tmp_path: Path, romfs_image: Path) -> None:
    proc = boot(tmp_path, "", romfs_image)
    assert proc.returncode == 0
    assert "Not provisioned" in proc.stdout and "kassa flash" in proc.stdout


def test_kassa_sim_init_and_run_from_the_command_line(tmp_path: Path, capsys) -> None:
    from host_tools.cli import main

    till = tmp_path / "t"
    assert main(["sim", "init", str(till)]) == 0
    assert "kassa sim run" in capsys.readouterr().out
    script = tmp_path / "s.txt"
    script.write_text(SALE)
    assert main(["sim", "run", str(till), "--script", str(script)]) == 0
    key = bytes.fromhex((till / "till.key").read_text())
    assert jr.verify(till / "journal", key, "S001/till-1").records >= 2  # sign-on and the sale
    assert (till / "printer.bin").exists()
    assert main(["sim", "run", str(tmp_path / "none")]) == 2
    capsys.readouterr()
    for script in (tmp_path / "missing.txt", tmp_path):  # no such file; a directory
        assert main(["sim", "run", str(till), "--script", str(script)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"kassa sim run: cannot read the script {script}")


def test_sim_init_never_replaces_a_till_and_a_failed_init_leaves_nothing(
        tmp_path: Path, capsys) -> None:
    from host_tools.cli import main

    till = tmp_path / "t"
    assert main(["sim", "init", str(till)]) == 0
    capsys.readouterr()
    before = {p.relative_to(till): p.read_bytes() for p in till.rglob("*") if p.is_file()}
    # Again on the same till: refused in one line, the identity and secret kept.
    assert main(["sim", "init", str(till), "--till-id", "S001/till-9"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already till S001/till-1" in err[0] and "sync" in err[0], err
    after = {p.relative_to(till): p.read_bytes() for p in till.rglob("*") if p.is_file()}
    assert after == before
    # A bad catalog: refused with the problem, and no directory left behind.
    bad = tmp_path / "items.csv"
    bad.write_text("plu,name\n1,\n")
    assert main(["sim", "init", str(tmp_path / "u"), "--items", str(bad)]) == 2
    assert "items.csv" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv", "t"]


def test_a_58mm_printer_chosen_at_init_gets_58mm_receipts(tmp_path: Path, capsys) -> None:
    from host_tools.cli import main

    # An unknown model: one line with the close matches, nothing written.
    assert main(["sim", "init", str(tmp_path / "x"), "--printer", "POS-589"]) == 1
    assert "POS-5890" in capsys.readouterr().err and not (tmp_path / "x").exists()
    till = tmp_path / "t"
    assert main(["sim", "init", str(till), "--printer", "POS-5890"]) == 0
    script = tmp_path / "s.txt"
    script.write_text(SALE)
    assert main(["sim", "run", str(till), "--script", str(script)]) == 0
    # Laid out for the provisioned 32 columns, not the sim board's 48: read
    # back at 32 columns nothing overflows, and the lines use the width.
    paper = rr.parse((till / "printer.bin").read_bytes(), columns=32, width_dots=384)
    assert not paper.issues, paper.issues
    lines = rr.to_text(paper).splitlines()
    assert max(len(line) for line in lines) == 32
    assert any(line.startswith("Rye bread 750 g") and line.endswith("3.49 B") for line in lines)
    assert any(line.startswith("TOTAL EUR") for line in lines), lines


def test_sim_init_hashes_plain_pins_when_asked(tmp_path: Path, capsys) -> None:
    import json

    from host_tools.cli import main

    cfg = json.loads((ROOT / "tests" / "data" / "store" / "store.json").read_text())
    for cashier in cfg["cashiers"]:
        del cashier["pin_hash"]
        cashier["pin"] = "1234"
    store = tmp_path / "store.json"
    store.write_text(json.dumps(cfg))
    assert main(["sim", "init", str(tmp_path / "a"), "--config", str(store)]) == 2
    assert "--hash-pins" in capsys.readouterr().err  # the error names the way out
    assert main(["sim", "init", str(tmp_path / "b"), "--config", str(store), "--hash-pins"]) == 0
    assert (tmp_path / "b" / "snapshot").is_dir() and not (tmp_path / "a").exists()


def test_input_ending_with_the_printer_out_of_paper_stops_and_says_what_waits(
        tmp_path: Path, romfs_image: Path) -> None:
    # Before, the sim waited for ever for a printer nobody would refill.
    root = make_till_root(tmp_path)
    proc = boot(root, "paper out\n" + SALE, romfs_image, timeout_s=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr
    assert "Input ended: 1 receipt(s) wait in the print queue. Printer: paper out" in proc.stdout
    paper = root / "printer.bin"
    assert not paper.exists() or b"Thank you for shopping" not in paper.read_bytes()
    # The next run, paper in: the queued receipt prints, once.
    proc = boot(root, "wait 500\n", romfs_image, timeout_s=60)
    assert proc.returncode == 0 and "wait in the print queue" not in proc.stdout
    assert os.listdir(root / "printq") == []
    assert paper.read_bytes().count(b"Thank you for shopping") == 1


def test_ctrl_c_stops_the_sim_with_one_line_and_no_traceback(tmp_path: Path,
                                                             romfs_image: Path) -> None:
    import signal
    import time

    from host_tools.provision.sim import micropython_command

    root = make_till_root(tmp_path)
    argv, env = micropython_command(root, romfs_image)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=root, env=env)
    try:
        assert proc.stdin is not None
        proc.stdin.write(SALE)  # the sale, then the terminal stays open
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while not list((root / "journal").glob("seg*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # the sale goes through
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "Stopped (Ctrl-C). Every sale is in the journal." in out
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert jr.verify(root / "journal", KEY, TILL_ID).records >= 2


def test_sim_init_no_data_makes_a_till_that_waits_for_its_first_sync(
        tmp_path: Path, romfs_image: Path, capsys) -> None:
    """--no-data: the identity only, as `kassa flash` leaves a board; the till
    boots, refuses to sell and says to sync (make demo's first sync brings the
    catalog)."""
    from host_tools.cli import main

    till = tmp_path / "t"
    assert main(["sim", "init", str(till), "--till-id", "S001/till-2", "--no-data"]) == 0
    assert "without HO's data" in capsys.readouterr().out
    assert sorted(p.name for p in till.iterdir()) == ["identity", "till.key"]
    proc = boot(till, "key 1 SIGN\ntype 1111\nkey TOTAL\nscan 4006381333931\n", romfs_image)
    assert proc.returncode == 0, proc.stdout
    assert "No HO data: sync the" in proc.stdout and "Traceback" not in proc.stdout
    key = bytes.fromhex((till / "till.key").read_text())
    report = jr.verify(till / "journal", key, "S001/till-2")
    assert report.errors == [] and "sale" not in report.kinds
    # HO data and --no-data together: refused, nothing made.
    assert main(["sim", "init", str(tmp_path / "u"), "--no-data", "--items", "x.csv"]) == 2
    assert "--no-data" in capsys.readouterr().err and not (tmp_path / "u").exists()


def test_a_refused_journal_checkpoint_is_said_at_boot(tmp_path: Path, romfs_image: Path) -> None:
    # The journal falls back to verifying every record; the console says why.
    root = make_till_root(tmp_path)
    many = "".join(f"scan 4006381333931\ntype 5.00\nkey CASH\n" for _ in range(150))
    proc = boot(root, SALE + many + "wait 1000\n", romfs_image, timeout_s=120)
    assert proc.returncode == 0, proc.stderr
    checkpoint = root / "journal" / "checkpoint"
    assert checkpoint.exists()  # 150 sales roll at least one segment
    data = bytearray(checkpoint.read_bytes())
    data[-1] ^= 1
    checkpoint.write_bytes(bytes(data))
    proc = boot(root, "wait 200\n", romfs_image)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr
    said = [line for line in proc.stdout.splitlines() if line.startswith("JOURNAL ")]
    assert said and "checkpoint" in said[0] and "verifying every record" in said[0], said
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []


def test_a_receipts_qr_code_scanned_at_the_till_refunds_one_of_its_lines(
        tmp_path: Path, romfs_image: Path) -> None:
    # The QR read off the printed receipt's PNG, scanned at the same till after
    # a restart: the manager refunds the rye bread alone. The store's till is
    # never offline for want of a sync here (it refunds nothing offline).
    import json

    config = json.loads((ROOT / "tests" / "data" / "store" / "store.json").read_text())
    config["policies"]["max_offline_hours"] = 0
    (tmp_path / "store.json").write_text(json.dumps(config))
    root = make_till_root(tmp_path, tmp_path / "store.json")
    assert boot(root, SALE, romfs_image).returncode == 0
    img = rr.draw_paper(rr.parse((root / "printer.bin").read_bytes(), columns=48,
                                 width_dots=576)).image
    [code] = [r.text for r in zxingcpp.read_barcodes(img) if r.format == zxingcpp.BarcodeFormat.QRCode]
    script = f"""
clock {NOON + 600}
key 3 SIGN
type 3333
key TOTAL
scan {code}
scan 4006381333931
key CASH
"""
    proc = boot(root, script, romfs_image)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert jr.verify(root / "journal", KEY, TILL_ID).errors == []
    recs = [i.value for p in jr.segment_paths(root / "journal") for i in list(jr.read_segment(p))[1:]]
    sale = [r for r in recs if r[3] == 1][0]
    [storno] = [r[4] for r in recs if r[3] == 2]
    assert storno[9] == sale[1] and storno[12] == [0] and storno[6] == -349, proc.stdout[-2000:]
    assert storno[10] == 3 and [ln[1] for ln in storno[2]] == [11]
    text = rr.to_text(rr.parse((root / "printer.bin").read_bytes(), columns=48, width_dots=576))
    assert f"Refund of receipt {sale[4][11]}" in text and "-3.49 B" in text  # its number as printed
