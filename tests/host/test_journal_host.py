"""Host side of the journal: CDDL validation of every record, `kassa journal dump`,
and journals written under MicroPython verified by cbor2 + hmac (the verifier's
own tests: test_verifier.py)."""
from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import cbor2
import pycddl
import pytest

from conftest import ROOT, run_micropython
from host_tools.hodata import journal_reader as jr
from host_tools.cli import main
from till.formats import journal as J
from till.formats import records as R

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"
CDDL = (ROOT / "docs" / "journal.cddl").read_text()
RECORD_SCHEMA = pycddl.Schema("root = record\n" + CDDL)
HEADER_SCHEMA = pycddl.Schema("root = segment-header\n" + CDDL)
ACK_SCHEMA = pycddl.Schema("root = ack-body\n" + CDDL)


def sale(n: int) -> dict:
    return {1: n, 2: 3, 3: [[4006381333931, 1000, 249, 249, 1]], 4: 249, 5: [[1, 500, 251]]}


def write_journal(path: Path, count: int, **kw) -> J.Journal:
    j = J.Journal(str(path), TILL, KEY, clock=lambda: 1795000000, **kw)
    for i in range(1, count + 1):
        j.append(J.KIND_SALE if i % 7 else J.KIND_EVENT, sale(i))
    return j


def validate_all(path: Path) -> int:
    """Validate every item of every segment against docs/journal.cddl."""
    n = 0
    for seg in jr.segment_paths(path):
        items = list(jr.read_segment(seg))
        assert not any(i.error for i in items)
        HEADER_SCHEMA.validate_cbor(items[0].raw)
        for item in items[1:]:
            RECORD_SCHEMA.validate_cbor(item.raw)
            if item.value[3] == J.KIND_ACK:
                ACK_SCHEMA.validate_cbor(cbor2.dumps(item.value[4]))
            n += 1
    return n


def test_every_record_written_validates_against_the_cddl(tmp_path: Path) -> None:
    j = write_journal(tmp_path, 60, segment_bytes=2048)
    j.append(J.KIND_CLOSING, {1: "Z", 2: 60})
    j.close()
    assert validate_all(tmp_path) == 61


def test_cddl_rejects_what_the_journal_must_never_write() -> None:
    good = {1: 1, 2: 0, 3: 1, 4: {}, 6: bytes(16)}
    RECORD_SCHEMA.validate_cbor(cbor2.dumps(good))
    for bad in ({**good, 1: 0}, {**good, 3: 99}, {**good, 6: bytes(15)}, {**good, 5: 8},
                {k: v for k, v in good.items() if k != 6}):
        with pytest.raises(Exception):
            RECORD_SCHEMA.validate_cbor(cbor2.dumps(bad))


def test_dump_prints_json_lines(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 20, segment_bytes=1024).close()
    assert main(["journal", "dump", str(tmp_path / "j")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, 21))
    assert lines[0]["kind"] == "sale" and lines[6]["kind"] == "event"
    assert lines[0]["body"]["3"][0][0] == 4006381333931
    assert len(lines[0]["tag"]) == 32 and lines[0]["time"].startswith("2026-11")


def test_dump_explains_a_directory_without_a_journal(tmp_path: Path, capsys) -> None:
    assert main(["journal", "dump", str(tmp_path)]) == 2
    assert "no journal segments" in capsys.readouterr().err


# `kassa journal verify` and what it catches: tests/host/test_verifier.py.


def test_journal_written_under_micropython_verifies_with_cbor2_and_hmac(tmp_path: Path) -> None:
    out = tmp_path / "mpj"
    code = textwrap.dedent(f"""
        import sys
        from till.formats import journal as J
        j = J.Journal(sys.argv[1], {TILL!r}, {KEY!r}, clock=lambda: 1795000000, segment_bytes=1024)
        for i in range(1, 41):
            j.append(J.KIND_SALE, {{1: i, 2: 3, 3: [[4006381333931, 1000, 249, 249, 1]],
                                    4: -i * 1000003, 5: "K\\u00e4se \\u20ac", 6: b"\\x00\\xff"}})
        j.close()
        print("ok", j.last_seq)
    """)
    proc = run_micropython(code, args=(str(out),))
    assert proc.returncode == 0 and "ok 40" in proc.stdout, proc.stderr
    report = jr.verify(out, KEY, TILL)
    assert report.errors == [] and report.records == 40 and report.segments > 1
    assert validate_all(out) == 40


def test_kassa_console_script_is_installed() -> None:
    exe = Path(ROOT / ".venv" / "bin" / "kassa")
    proc = subprocess.run([str(exe) if exe.exists() else "kassa", "journal", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "verify" in proc.stdout


def test_kassa_version_names_the_installed_package() -> None:
    from importlib.metadata import version

    exe = Path(ROOT / ".venv" / "bin" / "kassa")
    proc = subprocess.run([str(exe) if exe.exists() else "kassa", "--version"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"kassa {version('kassa')}"


def test_dump_with_names_reads_bodies_as_docs_records_md_names_them(tmp_path: Path,
                                                                      capsys) -> None:
    j = J.Journal(str(tmp_path / "j"), TILL, KEY, clock=lambda: 1795000000)
    j.append(J.KIND_SALE, {1: 7, 2: [{1: 11, 3: 2, 5: 349, 6: "B", 7: 698, 9: 1, 11: "Rye"},
                                     {1: 12, 3: 1, 5: 100, 6: "A", 7: 100, 8: [1, 1000, -10, 3]}],
                           4: [[1, 90, 100], [2, 0, "A1"]], 5: [["A", 190000, 76, 14, 90]],
                           6: 90, 8: 4, 11: 5, 99: "from a newer till"})
    j.append(J.KIND_EVENT, {1: 11, 3: [None, 1795000000]})
    j.append(J.KIND_CLOSING, {1: 1, 2: 1, 3: 2, 6: {1: 1, 5: 1}, 7: 90, 11: 90, 16: 5, 17: 0})
    j.close()
    assert main(["journal", "dump", str(tmp_path / "j"), "--names"]) == 0
    sale, event, closing = (json.loads(line)["body"] for line in capsys.readouterr().out.splitlines())
    assert sale["cashier"] == 7 and sale["total"] == 90 and sale["snapshot"] == 4
    assert sale["number"] == 5
    assert sale["lines"][0] == {"plu": 11, "qty": 2, "unit_price": 349, "tax_class": "B",
                                "amount": 698, "flags": ["voided"], "name": "Rye"}
    assert sale["lines"][1]["discount"] == {"kind": "percent_bp", "value": 1000, "amount": -10,
                                            "approver": 3}
    assert sale["tenders"] == [{"type": "cash", "amount": 90, "given": 100},
                               {"type": "card", "amount": 0, "ref": "A1"}]
    assert sale["taxes"] == [{"class": "A", "rate_ppm": 190000, "net": 76, "tax": 14, "gross": 90}]
    assert sale["99"] == "from a newer till"  # an unknown key is kept under its number
    assert event == {"type": "clock set", "detail": [None, 1795000000]}
    assert closing["counts"] == {"sales": 1, "voided_lines": 1} and closing["grand_total"] == 90
    assert (closing["last_receipt_number"], closing["last_refund_number"]) == (5, 0)


def test_clock_set_events_validate_whether_the_clock_was_set_before_or_not() -> None:
    # pycddl checked only the last alternative of an inline `uint / null` inside
    # an array, so HO quarantined every clock set after the first one.
    from host_tools.hodata.journal_schema import schema

    engine_record = schema("engine-record")  # what HO's processing validates against
    record = {1: 2, 2: 1795000100, 3: J.KIND_EVENT, 6: bytes(16)}
    for before in (None, 1795000000):
        engine_record.validate_cbor(cbor2.dumps({**record, 4: {1: 11, 3: [before, 1795000100]}}))
    for bad in (["yesterday", 1795000100], [None, None], [1795000000]):
        with pytest.raises(Exception):
            engine_record.validate_cbor(cbor2.dumps({**record, 4: {1: 11, 3: bad}}))


def test_period_totals_validate_whatever_tenders_the_period_had() -> None:
    # pycddl took only [1, money] inside `[* [tender-type, money]]` while
    # tender-type was a group enumeration, so HO quarantined the checkpoint or
    # Z closing of a period paid by card alone (found by tests/e2e).
    from host_tools.hodata.journal_schema import schema

    engine_record = schema("engine-record")
    totals = {1: 1, 2: 1, 3: 7, 4: [], 6: {1: 2}, 7: 900, 8: 0, 9: 0, 10: 0, 11: 900}
    record = {1: 8, 2: 1795000100, 3: J.KIND_EVENT, 6: bytes(16)}
    for tenders in ([], [[1, 900]], [[2, 900]], [[1, 400], [2, 500]], [[2, 500], [1, 400]],
                    [[3, 900]], [[1, 400], [3, 500]]):  # 3: vouchers
        body = {1: R.EV_CHECKPOINT, 3: {**totals, 5: tenders}}
        engine_record.validate_cbor(cbor2.dumps({**record, 4: body}))
    for bad in ([[4, 900]], [[2, "900"]], [[2]]):
        with pytest.raises(Exception):
            engine_record.validate_cbor(cbor2.dumps({**record, 4: {1: R.EV_CHECKPOINT,
                                                                 3: {**totals, 5: bad}}}))
