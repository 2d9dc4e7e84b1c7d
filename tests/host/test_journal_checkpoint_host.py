"""The journal's checkpoint file as HO would read it: it validates against
docs/journal.cddl, is in deterministic encoding, and its MAC is the one
docs/journal.md gives, recomputed with Python's hmac and hashlib (nothing of the
till's crypto), over the segment files as they are on disk."""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import cbor2

from host_tools.hodata import journal_reader as jr
from host_tools.hodata.journal_schema import schema
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"


def expected_mac(fields: dict[int, object], covered: list[Path]) -> bytes:
    segs = hashlib.sha256()
    for seg in covered:
        segs.update(f"{int(seg.name[3:13])}:{seg.stat().st_size};".encode())
    msg = b"kassa journal checkpoint\x00" + cbor2.dumps(fields, canonical=True) + segs.digest()
    return hmac.new(KEY, msg, hashlib.sha256).digest()


def test_checkpoint_file_matches_the_cddl_and_the_documented_mac(tmp_path: Path) -> None:
    # low_free_bytes over any disk: processed segments go at the mark.
    j = J.Journal(str(tmp_path), TILL, KEY, clock=lambda: 1795000000, segment_bytes=1024,
                  low_free_bytes=1 << 40)
    for i in range(1, 41):
        j.append(J.KIND_SALE, {1: i, 2: 3, 3: [[4006381333931, 1000, 249, 249, 1]]})
    for mark in (0, 20):  # as written at a roll, then after processed segments went
        if mark:
            assert j.mark_processed(mark) > 0
        raw = (tmp_path / "checkpoint").read_bytes()
        schema("journal-checkpoint").validate_cbor(raw)
        ck = cbor2.loads(raw)
        assert cbor2.dumps(ck, canonical=True) == raw
        segments = jr.segment_paths(tmp_path)
        covered = [p for p in segments if ck[5] <= int(p.name[3:13]) <= ck[3]]
        assert len(covered) == ck[6] == len(segments) - 1 and ck[1] == 1 and ck[2] == TILL
        # The chain point is the last record of the covered segments.
        assert jr.verify(tmp_path, KEY, TILL).errors == []
        last = list(jr.read_segment(covered[-1]))[-1].value
        assert (last[1], last[6]) == (ck[3], ck[4])
        assert int(segments[-1].name[3:13]) == ck[3] + 1
        assert hmac.compare_digest(expected_mac({k: v for k, v in ck.items() if k != 7}, covered),
                                   ck[7])
    j.close()
