"""The host verifier (`kassa journal verify`, journal_reader.verify/verify_record)
answers to HO, not to the journal it checks: the till id is an argument, every
header field is required, the first record chains to the till id, mistyped fields
are reported with their position, the processed mark and HO's last seen record
show missing and rolled-back records. Journals are written by the real firmware
journal under CPython, then attacked the way issue 7 §8 describes."""
from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from host_tools.cli import main
from host_tools.hodata import journal_reader as jr
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"
# Every problem names where it is: a segment and byte, the processed mark, or
# the journal as a whole (what is missing at its end).
POSITION = re.compile(r"seg\d{10}\.cbs byte \d+|^processed: |^\(journal\): ")


def sale(n: int, amount: int = 249) -> dict:
    return {1: n % 3 + 1, 2: [{1: 1000, 5: amount, 6: "A", 7: amount, 11: "Milk"}],
            4: [[1, amount, 500]], 5: [["A", 70000, 233, 16, amount]], 6: amount, 8: 3}


def write_journal(path: Path, count: int, start: int = 1, segment_bytes: int = 600,
                  amount: int = 249) -> J.Journal:
    # No room to spare (low_free_bytes over any disk): segments HO processed
    # are freed at its mark, the journals these tests verify.
    j = J.Journal(str(path), TILL, KEY, clock=lambda: 1795000000, segment_bytes=segment_bytes,
                  low_free_bytes=1 << 40)
    for i in range(start, start + count):
        j.append(J.KIND_SALE if i % 5 else J.KIND_EVENT, sale(i, amount) if i % 5 else {1: 1, 2: 1})
    return j


def segments(path: Path) -> list[Path]:
    return jr.segment_paths(path)


def rewrite(seg: Path, change: Callable[[list[Any]], None]) -> None:
    """Decode a segment's items, let `change` edit them, write them back the way
    an attacker with cbor2 would: canonical, so only the content differs."""
    items = [i.value for i in jr.read_segment(seg)]
    change(items)
    seg.write_bytes(b"".join(cbor2.dumps(v, canonical=True) for v in items))


def verify(path: Path, **kw: Any) -> jr.VerifyReport:
    report = jr.verify(path, KEY, TILL, **kw)
    for err in report.errors:
        assert POSITION.search(err), f"no position in {err!r}"
    return report


def cli(path: Path, tmp_path: Path, *extra: str) -> int:
    key = tmp_path / "till.key"
    if not key.exists():
        key.write_text(KEY.hex() + "\n")
    return main(["journal", "verify", str(path), "--key", str(key), "--till-id", TILL, *extra])


@pytest.fixture
def freed(tmp_path: Path) -> Path:
    """A journal whose oldest segments HO processed and the till freed: the oldest
    segment left starts after record 1, so only its header knows the tag before it."""
    j = write_journal(tmp_path / "j", 30)
    j.mark_processed(12)
    j.close()
    assert jr.segment_paths(tmp_path / "j")[0].name != J.segment_name(1)
    return tmp_path / "j"


# ---- the command -------------------------------------------------------------

def test_a_good_journal_verifies_and_prints_what_ho_keeps_as_seen(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 20).close()
    assert cli(tmp_path / "j", tmp_path) == 0
    out = capsys.readouterr().out
    report = verify(tmp_path / "j")
    assert report.errors == [] and report.records == 20 and report.segments > 2
    assert "20 records (seq 1 to 20)" in out and "OK" in out
    assert f"--seen 20:{report.last_tag.hex()}" in out
    assert cli(tmp_path / "j", tmp_path, "--seen", f"20:{report.last_tag.hex()}") == 0
    assert cli(tmp_path / "j", tmp_path, "--seen", f"7:{tag_of(tmp_path / 'j', 7).hex()}") == 0


def test_the_first_bad_record_is_named_and_the_rest_still_verify(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 10, segment_bytes=16384).close()
    seg = segments(tmp_path / "j")[0]
    items = list(jr.read_segment(seg))
    data = bytearray(seg.read_bytes())
    data[items[4].offset + len(items[4].raw) - 1] ^= 0x01  # last byte of record 4 (its tag)
    seg.write_bytes(bytes(data))
    assert cli(tmp_path / "j", tmp_path) == 1
    out = capsys.readouterr().out
    assert "first bad: record 4 (seg0000000001.cbs byte" in out and "chain tag does not verify" in out
    # Record 5 was made over record 4's true tag: only record 4 is reported.
    assert [e for e in verify(tmp_path / "j").errors if "record 5" in e] != []
    assert len(verify(tmp_path / "j").errors) == 2


def test_the_wrong_key_or_till_fails(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 3).close()
    (tmp_path / "till.key").write_bytes(bytes(32))  # raw key bytes are read too
    assert cli(tmp_path / "j", tmp_path) == 1
    out = capsys.readouterr().out
    # One line that names the key, not every record called tampered.
    assert "FAILED: 1 problems; first bad: (journal): the key does not fit this till's records:" \
        " not one of 3 chain tags verifies" in out
    assert "chain tag does not verify" not in out
    assert jr.verify(tmp_path / "j", bytes(32), TILL).key_fits is False
    # A key that fits, with one forged record: that record is named, the key fits.
    assert jr.verify(tmp_path / "j", KEY, TILL).key_fits is True
    other = jr.verify(tmp_path / "j", KEY, "store-12/till-8")
    assert any("belongs to till text ('store-12/till-7'), not 'store-12/till-8'" in e for e in other.errors)
    assert any(e.startswith("record 1 ") and "chain tag" in e for e in other.errors)


def test_bad_arguments_exit_2_with_a_clear_message(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 2).close()
    key = tmp_path / "till.key"
    key.write_text(KEY.hex())
    base = ["journal", "verify", str(tmp_path / "j"), "--till-id", TILL]
    cases = [
        (base + ["--key", str(tmp_path / "nope")], "key file"),
        (base + ["--key", str(tmp_path)], "directory"),
        (["journal", "verify", str(tmp_path / "none"), "--key", str(key), "--till-id", TILL],
         "is not a directory"),
        (["journal", "verify", str(tmp_path), "--key", str(key), "--till-id", TILL],
         "no journal segments"),
        (["journal", "verify", str(tmp_path / "j"), "--key", str(key), "--till-id", "till 7"],
         "not valid"),
        (base + ["--key", str(key), "--seen", "20"], "SEQ:TAGHEX"),
        (base + ["--key", str(key), "--seen", "0:" + "00" * 16], "SEQ:TAGHEX"),
        (base + ["--key", str(key), "--seen", "3:abcd"], "SEQ:TAGHEX"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    key.write_bytes(b"")
    assert main(base + ["--key", str(key)]) == 2
    assert "key file is empty" in capsys.readouterr().err
    for wrong in (KEY.hex()[:-2], KEY.hex() + "00", "abc", "x" * 31):  # 31 bytes, 33, raw 3, raw 31
        key.write_text(wrong)
        assert main(base + ["--key", str(key)]) == 2
        assert "a till's secret is 32 bytes (64 hex digits); this key file holds" \
            in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: --till-id is required
        main(["journal", "verify", str(tmp_path / "j"), "--key", str(key)])
    assert exc.value.code == 2 and "--till-id" in capsys.readouterr().err
    with pytest.raises(ValueError):
        jr.verify(tmp_path / "j", KEY, "")


def test_the_old_option_name_still_works(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 2).close()
    (tmp_path / "k").write_text(KEY.hex())
    assert main(["journal", "verify", str(tmp_path / "j"), "--key-file", str(tmp_path / "k"),
                 "--till-id", TILL]) == 0


# ---- forged headers (issue 7 §8) ---------------------------------------------

def forge_first_amount(items: list[Any]) -> None:
    items[1][4][6] += 100  # the first record's total, tag left as it was


def test_a_deleted_previous_tag_no_longer_hides_a_forged_first_record(freed: Path) -> None:
    oldest = segments(freed)[0]
    first_seq = int(oldest.name[3:13])
    true_prev = tag_of_deleted_record(freed)
    rewrite(oldest, lambda items: (items[0].pop(J.H_PREV), forge_first_amount(items)))
    errors = verify(freed).errors
    assert f"{oldest.name} byte 0: segment header has no previous tag (field 23)" in errors
    # Not a pass, whatever the header says: the forged record is in the report
    # as soon as the header's tag is back, edited or not.
    rewrite(oldest, lambda items: items[0].update({J.H_PREV: bytes(16)}))
    assert any("chain tag does not verify" in e for e in verify(freed).errors)
    # HO saw the record before the oldest segment: the header must match it.
    (freed / "processed").write_bytes(cbor2.dumps(first_seq - 1))
    report = verify(freed, seen=(first_seq - 1, true_prev))
    assert any("segment does not chain to the record before it" in e for e in report.errors)
    assert any(e.startswith(f"record {first_seq} ") and "chain tag" in e for e in report.errors)
    # With the till's secret the whole rest can be re-chained to any previous
    # tag; only what HO has seen then tells: its tag at the record before the
    # oldest segment, or at any record still on the till.
    retag(freed)
    assert verify(freed).errors == []  # the journal alone cannot tell
    assert verify(freed, seen=(first_seq - 1, true_prev)).errors[:2] == [
        f"{oldest.name} byte 0: segment does not chain to the record before it",
        f"record {first_seq} ({oldest.name} byte 40): chain tag does not verify"]


def test_the_deleted_field_alone_is_an_error_with_its_position(freed: Path) -> None:
    oldest = segments(freed)[0]
    rewrite(oldest, lambda items: items[0].pop(J.H_PREV))
    assert verify(freed).errors == [f"{oldest.name} byte 0: segment header has no previous tag (field 23)"]


def retag(path: Path, anchor: bytes | None = None) -> None:
    """Recompute every header's previous tag and every record's tag with the
    till's secret, as someone holding it (the till itself) can: from `anchor`,
    or from the oldest header's previous tag."""
    prev = anchor
    for seg in segments(path):
        def chain(items: list[Any]) -> None:
            nonlocal prev
            if prev is None:
                prev = items[0].get(J.H_PREV)
            if J.H_PREV in items[0]:
                items[0][J.H_PREV] = prev
            for rec in items[1:]:
                rec[J.K_TAG] = prev = jr.tag_for(KEY, prev, rec)
        rewrite(seg, chain)


def test_stripped_till_ids_no_longer_hide_a_forged_first_record(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 12).close()
    for seg in segments(tmp_path / "j"):
        rewrite(seg, lambda items: items[0].pop(J.H_TILL))
    rewrite(segments(tmp_path / "j")[0], forge_first_amount)
    errors = verify(tmp_path / "j").errors
    count = len(segments(tmp_path / "j"))
    assert [e for e in errors if "segment header has no till id (field 21)" in e] \
        == [f"{seg.name} byte 0: segment header has no till id (field 21)" for seg in segments(tmp_path / "j")]
    assert [e for e in errors if "chain tag" in e] \
        == [e for e in errors if e.startswith("record 1 (seg0000000001.cbs byte")] != []
    # Someone with the till's secret re-chains the forged journal to an anchor
    # of their own (the old verifier took the anchor from the header): the first
    # record still has to chain to HO's till id.
    rewrite(segments(tmp_path / "j")[0], lambda items: items[0].update({J.H_PREV: b"forged"}))
    retag(tmp_path / "j")
    errors = verify(tmp_path / "j").errors
    assert len(errors) == count + 2
    assert "seg0000000001.cbs byte 0: first segment does not chain to the till id" in errors
    assert [e for e in errors if "chain tag" in e] == [
        e for e in errors if e.startswith("record 1 (seg0000000001.cbs byte")
        and e.endswith("chain tag does not verify")] != []


def test_the_first_record_chains_to_the_till_id_whatever_the_header_says(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 4, segment_bytes=16384).close()
    seg = segments(tmp_path / "j")[0]
    # Header and first record both made over another anchor (as a journal of a
    # till with the same secret but another id would be): only HO's id counts.
    fake_anchor = b"S999/till-9"

    def reanchor(items: list[Any]) -> None:
        items[0][J.H_PREV] = fake_anchor
        items[1][4][6] += 1
        items[1][J.K_TAG] = jr.tag_for(KEY, fake_anchor, items[1])
        for prev, rec in zip(items[1:], items[2:]):
            rec[J.K_TAG] = jr.tag_for(KEY, prev[J.K_TAG], rec)
    rewrite(seg, reanchor)
    errors = verify(tmp_path / "j").errors
    assert "seg0000000001.cbs byte 0: first segment does not chain to the till id" in errors
    assert any(e.startswith("record 1 ") and "chain tag" in e for e in errors)
    assert jr.chain_anchor(TILL) == J.chain_anchor(TILL)  # the same anchor as the till's


def test_every_header_field_is_checked(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 12).close()
    second = segments(tmp_path / "j")[1]
    for key, value, message in [
        (J.H_FORMAT, 2, "journal format is an integer (2), not 1"),
        (J.H_TILL, "store-12/till-8", "segment belongs to till text ('store-12/till-8')"),
        (J.H_FIRST, 1, "header says first record an integer (1), file name says"),
        (J.H_PREV, bytes(16), "segment does not chain to the record before it"),
        (99, 1, "unknown segment header field 99"),
    ]:
        original = second.read_bytes()
        rewrite(second, lambda items: items[0].update({key: value}))
        errors = verify(tmp_path / "j").errors
        assert [e for e in errors if e.startswith(f"{second.name} byte 0: ")] != [], (key, errors)
        assert any(message in e for e in errors), (key, errors)
        second.write_bytes(original)
    assert verify(tmp_path / "j").errors == []


# ---- mistyped fields ---------------------------------------------------------

MISTYPED = [
    ("tag as an integer", 2, J.K_TAG, 12345, "tag is an integer (12345), not 16 bytes"),
    ("seq as text", 2, J.K_SEQ, "2", "sequence number is text ('2'), not a positive integer"),
    ("kind as an array", 2, J.K_KIND, [1], "kind is an array ([1]), not one of"),
    ("body not a map", 2, J.K_BODY, [1, 2], "body is an array ([1, 2]), not a map"),
    ("time as text", 2, J.K_TIME, "noon", "time is text ('noon'), not Unix seconds"),
    ("flags out of range", 2, J.K_FLAGS, 8, "flags are an integer (8), not an integer 0 to 3"),
    ("seq as a boolean", 2, J.K_SEQ, True, "sequence number is a boolean (True)"),
    ("tag too short", 2, J.K_TAG, b"\x01", "tag is a byte string (b'\\x01'), not 16 bytes"),
    ("unknown kind", 2, J.K_KIND, 99, "kind is an integer (99), not one of"),
    ("unknown field", 2, 7, 0, "unknown record field 7"),
    ("header till id as an integer", 0, J.H_TILL, 7, "segment belongs to till an integer (7)"),
    ("header first as text", 0, J.H_FIRST, "1", "header says first record text ('1')"),
    ("header previous tag as an integer", 0, J.H_PREV, 5, "previous tag is an integer (5)"),
    ("header format as a boolean", 0, J.H_FORMAT, True, "journal format is a boolean (True), not 1"),
]


@pytest.mark.parametrize("index,key,value,message", [m[1:] for m in MISTYPED],
                         ids=[m[0] for m in MISTYPED])
def test_a_mistyped_field_is_reported_with_its_position(tmp_path: Path, capsys, index: int,
                                                        key: int, value: Any, message: str) -> None:
    write_journal(tmp_path / "j", 4, segment_bytes=16384).close()
    seg = segments(tmp_path / "j")[0]
    offset = list(jr.read_segment(seg))[index].offset
    rewrite(seg, lambda items: items[index].update({key: value}))
    errors = verify(tmp_path / "j").errors
    assert any(e.startswith(f"{seg.name} byte {offset}") or f"({seg.name} byte {offset})" in e
               for e in errors if message in e), errors
    assert cli(tmp_path / "j", tmp_path) == 1
    out = capsys.readouterr()
    assert message in out.out and "Traceback" not in out.out + out.err


def test_records_and_headers_that_are_not_maps(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 4, segment_bytes=16384).close()
    seg = segments(tmp_path / "j")[0]

    def mangle(items: list[Any]) -> None:
        items[0] = [20, 1]
        items[2] = "record 2"
        del items[3][J.K_BODY]
    rewrite(seg, mangle)
    errors = verify(tmp_path / "j").errors
    assert any("byte 0: segment header is an array ([20, 1]), not a map" in e for e in errors)
    assert any("(expected record 2): not a journal record: text ('record 2')" in e for e in errors)
    assert any(e.startswith("record 3 (") and "record field 4 missing" in e for e in errors)
    assert not any(e.startswith("record 4 ") for e in errors)  # record 4 chains on


def test_undecodable_and_non_deterministic_bytes(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 3, segment_bytes=16384).close()
    seg = segments(tmp_path / "j")[0]
    items = list(jr.read_segment(seg))
    # Record 2 with its seq written as a two-byte integer: same value, other bytes.
    raw2 = items[2].raw
    assert raw2[:2] == b"\xa5\x01"
    longer = raw2[:1] + b"\x01\x18\x02" + raw2[3:]
    seg.write_bytes(b"".join(i.raw for i in items[:2]) + longer + items[3].raw + b"\xff\xff")
    errors = verify(tmp_path / "j").errors
    assert any(e.startswith("record 2 (") and "not in deterministic encoding" in e for e in errors)
    assert any("undecodable bytes" in e or "torn" in e for e in errors)


# ---- processed mark and rollback --------------------------------------------

def tag_of(path: Path, seq: int) -> bytes:
    for seg in segments(path):
        for item in list(jr.read_segment(seg))[1:]:
            if item.value[J.K_SEQ] == seq:
                return item.value[J.K_TAG]
    raise KeyError(seq)


def tag_of_deleted_record(freed: Path) -> bytes:
    """The tag of the record before the oldest segment left, as HO saw it."""
    return list(jr.read_segment(segments(freed)[0]))[0].value[J.H_PREV]


def test_records_missing_above_the_processed_mark_are_reported(freed: Path) -> None:
    assert verify(freed).errors == [] and verify(freed).processed == 12
    oldest = segments(freed)[0]
    second_first = int(segments(freed)[1].name[3:13])
    oldest.unlink()  # records never processed by HO, gone
    assert verify(freed).errors == [
        f"{segments(freed)[0].name} byte 0: records 13 to {second_first - 1} missing before the"
        " oldest segment (the processed mark is 12)"]
    # Remove the processed mark too: then every record before the oldest is missing.
    (freed / "processed").unlink()
    assert verify(freed).errors[0].endswith(
        f"records 1 to {second_first - 1} missing before the oldest segment (the processed mark is 0)")


def test_a_gap_between_segments_and_a_journal_ending_before_its_processed_mark(freed: Path) -> None:
    middle = segments(freed)[1]
    after = int(segments(freed)[2].name[3:13])
    middle.unlink()
    assert verify(freed).errors == [
        f"{segments(freed)[1].name} byte 0: records {int(middle.name[3:13])} to {after - 1} missing"]
    (freed / "processed").write_bytes(cbor2.dumps(40))
    assert "(journal): ends at record 30, but its processed mark is 40" in verify(freed).errors
    for bad in (b"", b"\xff", cbor2.dumps("12"), cbor2.dumps(-1), cbor2.dumps(12) + b"\x00"):
        (freed / "processed").write_bytes(bad)
        assert "processed: processed mark is not one CBOR integer" in verify(freed).errors


def test_a_rolled_back_journal_is_reported_against_what_ho_has_seen(tmp_path: Path, capsys) -> None:
    j = write_journal(tmp_path / "j", 30)
    j.close()
    seen = (30, verify(tmp_path / "j").last_tag)
    assert verify(tmp_path / "j", seen=seen).errors == []
    # Cut off the newest records: record 25 onwards.
    last = segments(tmp_path / "j")[-1]
    for seg in segments(tmp_path / "j"):
        offsets = [i.offset for i in jr.read_segment(seg) if isinstance(i.value, dict)
                   and i.value.get(J.K_SEQ) == 25]
        if offsets:
            seg.write_bytes(seg.read_bytes()[:offsets[0]])
            cut = seg
    for seg in segments(tmp_path / "j"):
        if seg.name > cut.name:
            seg.unlink()
    assert verify(tmp_path / "j").errors == []  # alone, the journal cannot tell
    report = verify(tmp_path / "j", seen=seen)
    assert report.errors == ["(journal): ends at record 24, but HO has seen up to 30: records"
                             " were cut off (rolled back)"]
    assert cli(tmp_path / "j", tmp_path, "--seen", f"30:{seen[1].hex()}") == 1
    assert "rolled back" in capsys.readouterr().out
    assert last.name  # the newest segment existed before the cut


def test_a_journal_restored_from_a_backup_and_sold_on_is_caught(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 20).close()
    shutil.copytree(tmp_path / "j", tmp_path / "backup")
    write_journal(tmp_path / "j", 10, start=21).close()
    seen = (30, verify(tmp_path / "j").last_tag)
    # The till is rolled back to the backup and rings 10 other sales: a journal
    # with a good chain and 30 records, but not the one HO saw.
    write_journal(tmp_path / "backup", 10, start=21, amount=999).close()
    report = verify(tmp_path / "backup")
    assert report.errors == [] and report.last_seq == 30
    errors = verify(tmp_path / "backup", seen=seen).errors
    assert len(errors) == 1 and errors[0].startswith("record 30 (seg")
    assert errors[0].endswith("HO has seen record 30 with another tag: the journal was rewritten")
    assert verify(tmp_path / "backup", seen=(20, tag_of(tmp_path / "j", 20))).errors == []


def test_seen_records_before_the_oldest_segment(freed: Path) -> None:
    first = int(segments(freed)[0].name[3:13])
    before = tag_of_deleted_record(freed)
    (freed / "processed").write_bytes(cbor2.dumps(first - 1))  # HO acknowledged what it saw
    assert verify(freed, seen=(first - 1, before)).errors == []
    # HO's tag, not the header's, is what the oldest record must chain to.
    assert verify(freed, seen=(first - 1, bytes(16))).errors == [
        f"{segments(freed)[0].name} byte 0: segment does not chain to the record before it",
        f"record {first} ({segments(freed)[0].name} byte 40): chain tag does not verify"]
    # HO saw less than the till claims processed: the processed mark was edited.
    errors = verify(freed, seen=(5, bytes(16))).errors
    assert f"processed: processed mark {first - 1} is past the last record HO has seen (5)" in errors
    assert any(f"records 6 to {first - 1} missing before the oldest segment" in e for e in errors)


def test_an_emptied_journal_directory(freed: Path, capsys, tmp_path: Path) -> None:
    for seg in segments(freed):
        seg.unlink()
    errors = verify(freed).errors
    assert errors == ["(journal): no segments on flash, though records were processed or seen by HO"]
    assert cli(freed, tmp_path) == 1


# ---- the API the relay imports ----------------------------------------------

def records_of(path: Path) -> list[dict]:
    return [i.value for seg in segments(path) for i in list(jr.read_segment(seg))[1:]]


def test_verify_record_checks_one_record_at_a_time(tmp_path: Path) -> None:
    write_journal(tmp_path / "j", 5).close()
    recs = records_of(tmp_path / "j")
    prev = jr.chain_anchor(TILL)
    for n, rec in enumerate(recs, 1):
        assert jr.verify_record(rec, KEY, prev, TILL, n, raw=cbor2.dumps(rec, canonical=True)) == []
        prev = rec[J.K_TAG]
    # Record 1 chains to HO's till id, whatever previous tag the caller was given.
    assert jr.verify_record(recs[0], KEY, bytes(16), TILL, 1) == []
    assert jr.verify_record(recs[0], KEY, jr.chain_anchor(TILL), "store-12/till-8", 1) \
        == ["chain tag does not verify"]
    assert jr.verify_record(recs[2], KEY, recs[1][J.K_TAG], TILL, 4) == ["expected record 4"]
    assert jr.verify_record(recs[2], b"other key", recs[1][J.K_TAG], TILL, 3) \
        == ["chain tag does not verify"]
    forged = {**recs[2], J.K_SEQ: "3", J.K_TAG: 7}
    assert jr.verify_record(forged, KEY, recs[1][J.K_TAG], TILL, 3) == [
        "sequence number is text ('3'), not a positive integer",
        "tag is an integer (7), not 16 bytes"]
    longer = cbor2.dumps(recs[2], canonical=True) + b""
    assert jr.verify_record(recs[2], KEY, recs[1][J.K_TAG], TILL, 3, raw=longer[:-1] + b"\x00") \
        == ["not in deterministic encoding", ]


# ---- no input makes it crash -------------------------------------------------

def _template(first_freed: bool) -> tuple[dict[str, bytes], tuple[int, bytes]]:
    """A small journal's files and HO's last seen record for it."""
    with tempfile.TemporaryDirectory() as d:
        j = write_journal(Path(d) / "j", 14, segment_bytes=500)
        if first_freed:
            j.mark_processed(5)
        j.close()
        report = jr.verify(Path(d) / "j", KEY, TILL)
        assert report.errors == [] and report.last_tag is not None
        return {p.name: p.read_bytes() for p in (Path(d) / "j").iterdir()}, (14, report.last_tag)


TEMPLATES = {False: _template(False), True: _template(True)}


def split(data: bytes) -> list[bytes]:
    """A segment's items, each as its bytes."""
    stream = io.BytesIO(data)
    out = []
    while stream.tell() < len(data):
        start = stream.tell()
        cbor2.CBORDecoder(stream).decode()
        out.append(data[start:stream.tell()])
    return out


def check(files: dict[str, bytes], seen: tuple[int, bytes], changed: bool) -> None:
    """verify answers any journal with a report, never an exception; a journal
    whose segments were changed never passes."""
    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        report = verify(Path(d), seen=seen)
    if changed:
        assert report.errors, "a changed journal verified"


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
    | st.binary(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.integers(-2, 30) | st.text(max_size=2), inner, max_size=3),
    max_leaves=8)

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pick_segment(data: st.DataObject, files: dict[str, bytes]) -> str:
    return data.draw(st.sampled_from(sorted(n for n in files if n.startswith("seg"))))


@FAST
@given(freed=st.booleans(), data=st.data(), value=cbor_values, drop=st.booleans())
def test_any_field_replaced_or_removed_is_reported_never_a_crash(freed: bool, data: st.DataObject,
                                                                  value: Any, drop: bool) -> None:
    files, seen = TEMPLATES[freed]
    files = dict(files)
    name = pick_segment(data, files)
    items = [cbor2.loads(raw) for raw in split(files[name])]
    index = data.draw(st.integers(0, len(items) - 1))
    keys = sorted(jr.HEADER_FIELDS) if index == 0 else sorted(jr.RECORD_KEYS)
    key = data.draw(st.sampled_from(keys + [7, 24, "x"]))
    target = items[index]
    if drop:
        assume(key in target)
        del target[key]
    else:
        assume(not (key in target and cbor2.dumps(target[key], canonical=True)
                    == cbor2.dumps(value, canonical=True)))
        target[key] = value
    files[name] = b"".join(cbor2.dumps(v, canonical=True) for v in items)
    check(files, seen, changed=True)


@FAST
@given(freed=st.booleans(), value=cbor_values, data=st.data())
def test_any_item_replaced_by_any_value_is_reported_never_a_crash(freed: bool, value: Any,
                                                                  data: st.DataObject) -> None:
    files, seen = TEMPLATES[freed]
    files = dict(files)
    name = pick_segment(data, files)
    raws = split(files[name])
    index = data.draw(st.integers(0, len(raws) - 1))
    new = cbor2.dumps(value, canonical=True)
    assume(new != raws[index])
    raws[index] = new
    files[name] = b"".join(raws)
    check(files, seen, changed=True)


@FAST
@given(freed=st.booleans(), data=st.data(),
       op=st.sampled_from(["flip", "insert", "delete", "truncate", "replace"]))
def test_any_byte_changed_is_reported_never_a_crash(freed: bool, data: st.DataObject, op: str) -> None:
    files, seen = TEMPLATES[freed]
    files = dict(files)
    name = data.draw(st.sampled_from(sorted(files)))  # the processed mark too
    blob = bytearray(files[name])
    at = data.draw(st.integers(0, len(blob) - 1))
    if op == "flip":
        blob[at] ^= data.draw(st.integers(1, 255))
    elif op == "insert":
        blob[at:at] = data.draw(st.binary(min_size=1, max_size=9))
    elif op == "delete":
        del blob[at:at + data.draw(st.integers(1, 9))]
    elif op == "truncate":
        del blob[at:]
    else:
        blob = bytearray(data.draw(st.binary(max_size=40)))
    assume(bytes(blob) != files[name])
    files[name] = bytes(blob)
    # A processed mark moved within what HO has seen is no damage (the till
    # offers records again, or frees what HO already holds): only no crash.
    check(files, seen, changed=name.startswith("seg"))


@FAST
@given(record=cbor_values, prev=st.binary(max_size=20), seq=st.integers(-3, 2**65))
def test_verify_record_answers_any_value(record: Any, prev: bytes, seq: int) -> None:
    problems = jr.verify_record(record, KEY, prev, TILL, seq, raw=cbor2.dumps(record))
    assert problems and all(isinstance(p, str) for p in problems)


def test_odd_files_in_the_directory_are_problems_not_crashes(tmp_path: Path, capsys) -> None:
    write_journal(tmp_path / "j", 12).close()
    (tmp_path / "j" / "seg0000000000.cbs").write_bytes(b"")
    middle = segments(tmp_path / "j")[2]
    middle.unlink()
    middle.mkdir()  # a directory where a segment should be
    errors = verify(tmp_path / "j").errors
    assert "seg0000000000.cbs byte 0: not a segment name (records start at 1)" in errors
    assert any(e.startswith(f"{middle.name} byte 0: segment header missing or unreadable: cannot read")
               for e in errors)
    assert cli(tmp_path / "j", tmp_path) == 1
    # dump shows what it can of any record, mistyped or tagged.
    rewrite(segments(tmp_path / "j")[1], lambda items: items[1].update(
        {J.K_TIME: 2**80, J.K_KIND: [1], J.K_BODY: cbor2.CBORTag(99, 1), J.K_SEQ: "x"}))
    capsys.readouterr()
    main(["journal", "dump", str(tmp_path / "j"), "--headers"])
    out = capsys.readouterr()
    assert "CBORTag(99, 1)" in out.out and "Traceback" not in out.err
