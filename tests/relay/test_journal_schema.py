"""HO's check of a record against docs/journal.cddl, made fast
(host_tools/hodata/journal_schema.py): the envelope as `record`, then the body
alone against its kind's rule, each schema compiled with only the rules it
uses. It must say yes and no exactly where pycddl on the whole file with
`engine-record` as its root says so, for records of every kind and for bodies
broken in the ways a till or a forger could break them."""
from __future__ import annotations

import copy
import random
from typing import Any

import cbor2
import pycddl
import pytest

from journals import make_journal
from host_tools.hodata import journal_schema
from till.formats import journal as J

REFERENCE = pycddl.Schema("root = engine-record\n" + journal_schema.cddl_text())


def reference_ok(raw: bytes, rec: dict[int, Any]) -> bool:
    try:
        REFERENCE.validate_cbor(raw)
    except pycddl.ValidationError:
        return False
    lines = rec[4].get(2, []) if rec.get(3) in (J.KIND_SALE, J.KIND_STORNO) else []
    return all((3 in line) != (4 in line) for line in lines)


def broken(rec: dict[int, Any], rnd: random.Random) -> list[dict[int, Any]]:
    """Copies of a record with its body or envelope broken one way each."""
    out = []
    body = rec[4]

    def variant(change: Any) -> None:
        r = copy.deepcopy(rec)
        change(r)
        out.append(r)

    for key in list(body):
        variant(lambda r, k=key: r[4].pop(k))                      # a field missing
        variant(lambda r, k=key: r[4].__setitem__(k, "text"))      # of the wrong type
        variant(lambda r, k=key: r[4].__setitem__(k, -1))          # negative where uint
    variant(lambda r: r[4].__setitem__(99, 1))                      # an unknown field
    variant(lambda r: r.__setitem__(4, {}))                         # an empty body
    variant(lambda r: r.__setitem__(3, rnd.choice([k for k in range(1, 8) if k != r[3]])))  # another kind's
    variant(lambda r: r.__setitem__(3, 9))                          # no such kind
    variant(lambda r: r.__setitem__(3, [1]))                        # a kind that is not a number
    variant(lambda r: r.__setitem__(5, 4))                          # flags beyond 3
    variant(lambda r: r.__setitem__(6, b"short"))                   # a tag of the wrong size
    variant(lambda r: r.__setitem__(7, 1))                          # an unknown envelope field
    if isinstance(body.get(2), list) and body[2] and isinstance(body[2][0], dict):
        variant(lambda r: r[4][2][0].__setitem__(4, 250))           # quantity and weight
        variant(lambda r: r[4][2][0].pop(3, None))                  # neither
        variant(lambda r: r[4][2][0].__setitem__(9, 64))            # line flags beyond 63
    if isinstance(body.get(4), list) and body[4]:
        variant(lambda r: r[4][4][0].__setitem__(0, 3))             # no such tender
    return out


@pytest.mark.parametrize("seed", [1])
def test_the_fast_check_agrees_with_engine_record_on_good_and_broken_records(seed: int) -> None:
    rnd = random.Random(seed)
    _, records = make_journal("S001/till-1", 60, seed)
    kinds, verdicts = set(), {True: 0, False: 0}
    for _, raw in records:
        rec = cbor2.loads(raw)
        kinds.add(rec[3])
        for candidate in [rec, *broken(rec, rnd)]:
            data = cbor2.dumps(candidate, canonical=True)
            want = reference_ok(data, candidate)
            fast = journal_schema.engine_record_problems(data, candidate, canonical=True)
            assert (fast == []) == want, (candidate, fast)
            assert (journal_schema.engine_record_problems(data) == []) == want
            verdicts[want] += 1
    assert kinds >= {J.KIND_SALE, J.KIND_STORNO, J.KIND_NO_SALE, J.KIND_CLOSING, J.KIND_EVENT}
    assert verdicts[True] >= 60 and verdicts[False] > 800


def test_a_record_not_in_deterministic_encoding_is_checked_whole() -> None:
    """Bytes that are not the record's deterministic encoding (here a
    non-shortest integer) are checked against engine-record as they are."""
    _, records = make_journal("S001/till-1", 3)
    raw = records[0][1]
    rec = cbor2.loads(raw)
    assert raw[1] == 0x01 and raw[2] == 0x01  # key 1, seq 1, both in one byte
    longer = raw[:2] + b"\x18\x01" + raw[3:]  # seq 1 written in two bytes
    assert cbor2.loads(longer) == rec
    assert journal_schema.engine_record_problems(longer) == []
    assert raw[-18:-16] == b"\x06\x50"  # the tag, 16 bytes, last
    assert journal_schema.engine_record_problems(longer[:-17] + b"\x43abc") != []  # a 3-byte tag


def test_each_schema_holds_only_the_rules_it_uses_and_refuses_an_unknown_rule() -> None:
    assert "segment-header" not in str(journal_schema.schema("sale-body"))
    assert "line-flags" in str(journal_schema.schema("sale-body"))
    with pytest.raises(KeyError, match="no rule"):
        journal_schema.schema("no-such-rule")
