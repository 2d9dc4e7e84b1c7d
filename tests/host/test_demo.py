"""make demo is a test: `kassa demo` run as a person runs it (a shortened day),
then checked from outside: HO's consolidated sales (the relay's database)
equal the tills' Z closings to the cent, every record and published message
is PROCESSED, the journals verify, receipts were rendered, and nothing the
demo started is left running (no process, every port free), also after a
Ctrl-C in the middle. The demo's pure parts (catalog, day script, the
comparison) are tested on their own."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from host_tools.demo import catalog, day
from host_tools.demo.procs import port_free
from host_tools.demo.run import compare
from host_tools.hodata import journal_reader as jr
from host_tools.hodata import snapshot_builder as sb
from till.formats import barcode
from till.formats import journal as J
from till.formats import records as R

ROOT = Path(__file__).resolve().parents[2]
KASSA = [sys.executable, "-c", "import sys; from host_tools.cli import main; sys.exit(main())"]
SALES = 5  # per till: 2 in the morning, 2 offline, 1 in the afternoon


def kassa(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(KASSA + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def processes_under(path: Path) -> list[str]:
    """Command lines of running processes that name the path (the demo's
    relay, tills and commands all do)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(path) in cmd or cwd.startswith(str(path)):
            found.append(f"{pid}: {cmd}")
    return found


def journal(root: Path) -> list[dict[int, Any]]:
    import cbor2

    return [cbor2.loads(item.raw) for path in jr.segment_paths(root / "journal")
            for item in list(jr.read_segment(path))[1:]]


def ports(out: Path) -> list[int]:
    cfg = tomllib.loads((out / "gateway" / "gateway.toml").read_text())
    return [int(cfg["relay_url"].rsplit(":", 1)[1])] + [int(t["url"].rsplit(":", 1)[1])
                                                          for t in cfg["till"]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    proc = subprocess.run(KASSA + ["demo", "--out", str(out), "--sales", str(SALES)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    return out, proc


def test_the_demo_runs_end_to_end_and_leaves_nothing_running(demo) -> None:
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "The demo ran end to end" in proc.stdout
    assert processes_under(out) == []
    assert all(port_free(p) for p in ports(out)), ports(out)
    # What it says at the end: where things are, and the tills' heap.
    for where in ("receipts/till-1.png", "ho/relay.sqlite3", "8470/ho/", "sim run",
                  "tills/till-N/journal", "224K of heap", "ho/demo-viewer.token"):
        assert where in proc.stdout, where
    # The web console was read signed in, and its token kept for a person.
    assert re.search(r"/ho/sales shows [\d,]+\.\d\d sold", proc.stdout), proc.stdout
    token = out / "ho" / "demo-viewer.token"
    assert token.read_text().startswith("user.demo.") and token.stat().st_mode & 0o077 == 0


def test_ho_totals_equal_the_tills_z_closings_to_the_cent(demo) -> None:
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-4000:]
    db = out / "ho" / "relay.sqlite3"
    sales = json.loads(kassa("ho", "sales", "--json", "--db", db))
    closings = json.loads((out / "report" / "z-closings.json").read_text())
    assert sorted(closings) == ["till-1", "till-2"]
    # Added up here, independently of the demo's own comparison.
    z_sales = sum(c[str(R.P_SALES)] for c in closings.values())
    z_refunds = sum(c[str(R.P_REFUNDS)] for c in closings.values())
    z_count = sum(c[str(R.P_COUNTS)][str(R.C_SALES)] for c in closings.values())
    assert z_count == 2 * SALES
    assert sum(r["sales_total"] for r in sales) == z_sales > 0
    assert sum(r["refunds_total"] for r in sales) == z_refunds < 0
    assert sum(r["sales"] for r in sales) == z_count
    z_refund_count = sum(c[str(R.P_COUNTS)][str(R.C_STORNOS)] for c in closings.values())
    assert sum(r["refunds"] for r in sales) == z_refund_count == 2
    z_tenders: dict[str, int] = {}
    for c in closings.values():
        for tender, amount in c[str(R.P_TENDERS)]:
            z_tenders[str(tender)] = z_tenders.get(str(tender), 0) + amount
    ho_tenders: dict[str, int] = {}
    for r in sales:
        for tender, amount in r["tenders"].items():
            ho_tenders[tender] = ho_tenders.get(tender, 0) + amount
    assert ho_tenders == z_tenders and sum(z_tenders.values()) == z_sales + z_refunds
    z_taxes = sorted((cls, sum(t[4] for c in closings.values() for t in c[str(R.P_TAXES)] if t[0] == cls))
                     for cls in {t[0] for c in closings.values() for t in c[str(R.P_TAXES)]})
    ho_taxes = sorted((cls, sum(t["gross"] for r in sales for t in r["taxes"] if t["class"] == cls))
                      for cls in {t["class"] for r in sales for t in r["taxes"]})
    assert ho_taxes == z_taxes and [c for c, _ in z_taxes] == ["A", "B"]
    assert sum(r["closings"] for r in sales) == 2


def test_every_record_and_message_is_processed(demo) -> None:
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-4000:]
    db = out / "ho" / "relay.sqlite3"
    received = json.loads(kassa("ho", "received", "--json", "--limit", "100000", "--db", db))
    assert received and {r["status"] for r in received} == {"PROCESSED"}
    sent = json.loads(kassa("ho", "sent", "--json", "--db", db))
    assert sorted(m["kind"] for m in sent) == ["delta", "logo", "snapshot"]
    assert all(d["status"] == "PROCESSED" for m in sent for d in m["sites"]), sent
    for name in ("till-1", "till-2"):
        root = out / "tills" / name
        report = jr.verify(root / "journal", jr.load_key(root / "till.key"), f"S001/{name}")
        assert report.errors == [], report.errors
        assert (root / "snapshot" / "logo.ras").exists()  # HO's logo arrived
        # The morning sold from snapshot 1, the afternoon from the delta's 2
        # (a short day's journal is one segment, kept whole on the till).
        versions = {rec[jr.K_BODY].get(R.S_SNAPSHOT) for rec in journal(root)
                    if rec[jr.K_KIND] == J.KIND_SALE}
        assert versions == {1, 2}, versions
        assert (out / "receipts" / f"{name}.png").stat().st_size > 1000
        # One PNG per receipt: the float's slip, the sales, the refund and the Z closing.
        assert len(list(root.glob("receipt-*.png"))) == SALES + 3
    # The offline period happened: a sync failed to reach HO, and the one after
    # the relay came back uploaded what had waited.
    log = (out / "logs" / "commands.log").read_text()
    assert re.search(r"did not answer.*records stay in\s+(│\s+)*the outbox", log, re.S)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_in_the_middle_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "demo-out"
    proc = subprocess.Popen(KASSA + ["demo", "--out", str(out), "--sales", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (out / "tills" / "till-2" / "console.txt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the tills never started"
            time.sleep(0.2)
        time.sleep(3)  # the tills run and sell
        proc.send_signal(sig)
        text, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, text
    assert "interrupted" in text and "Traceback" not in text, text
    assert processes_under(out) == []
    assert all(port_free(p) for p in ports(out))


def test_the_catalog_is_the_same_every_run_and_the_tills_would_take_it(tmp_path: Path) -> None:
    a, b = catalog.write(tmp_path / "a"), catalog.write(tmp_path / "b")
    for name in ("items.csv", "store.json", "changes.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    cfg = sb.load_config(a.store)
    items = sb.load_items(a.items, cfg)
    assert len(items) >= 300 and set(cfg["tax_classes"]) == {"A", "B"}
    sb.build(items, cfg, 1, tmp_path / "snap", created=1_800_000_000)  # refuses a bad catalog
    cat = catalog.items()
    weighed = [i for i in cat if i.weighed]
    assert len(weighed) == catalog.N_WEIGHED and all(not i.barcode for i in weighed)
    assert len({i.barcode for i in cat if i.barcode}) == len(cat) - len(weighed)
    label = catalog.weight_label(7, 1234)
    assert len(label) == 13 and label.startswith("2300007") and label[7:12] == "01234"
    assert barcode.decode(label, cfg["barcode_rules"])[0] == "weight"
    assert barcode.decode(label, cfg["barcode_rules"])[2] == 1234


def test_the_day_script_is_keys_the_sim_knows() -> None:
    import random

    lines = (day.sign_on() + day.cash_in() + day.sales(catalog.items(), 30, random.Random(1))
             + day.refund(12) + day.z_closing())
    assert all(re.fullmatch(r"(key [A-Z0-9 ]+|type \d+|scan \d{8,13})", line) for line in lines), lines
    assert lines == (day.sign_on() + day.cash_in() + day.sales(catalog.items(), 30, random.Random(1))
                     + day.refund(12) + day.z_closing())
    assert sum(line in ("key CASH", "key CARD") for line in lines) == 31  # 30 sales and the refund


def _closing(sales: int, refunds: int, cash: int, card: int) -> dict[int, Any]:
    return {4: [["A", 190000, sales + refunds - 10, 10, sales + refunds]], 5: [[1, cash], [2, card]],
            6: {1: 3, 2: 1}, 7: sales, 8: refunds}


def test_the_comparison_finds_one_cent() -> None:
    closings = {"till-1": _closing(1000, -200, 500, 300)}
    ho = [{"sales": 3, "sales_total": 1000, "refunds": 1, "refunds_total": -200,
           "tenders": {"1": 500, "2": 300},
           "taxes": [{"class": "A", "net": 790, "tax": 10, "gross": 800}]}]
    assert compare(ho, closings) == []
    ho[0]["tenders"] = {"1": 501, "2": 299}
    assert compare(ho, closings) == [
        "tenders: HO {'1': 501, '2': 299}, Z closings {'1': 500, '2': 300}"]
    ho[0]["tenders"] = {"1": 500, "2": 300}
    ho[0]["sales_total"] = 1001
    assert compare(ho, closings) == ["sales_total: HO 1001, Z closings 1000"]


def test_the_demo_refuses_a_directory_it_did_not_make_and_a_day_too_short(
        tmp_path: Path, capsys) -> None:
    from host_tools.cli import main

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("not the demo's")
    assert main(["demo", "--out", str(mine)]) == 1
    assert "was not made by kassa demo" in " ".join(capsys.readouterr().out.split())  # rich wraps
    assert sorted(p.name for p in mine.iterdir()) == ["keep.txt"]
    assert main(["demo", "--out", str(tmp_path / "x"), "--sales", "2"]) == 2
    assert "--sales must be at least 3" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
