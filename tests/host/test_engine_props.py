"""The sale engine seen from head office (CPython only): every record it writes
validates against docs/journal.cddl, and every Z closing, of the golden shifts
and of random baskets, equals head office's own recomputation from the journal
bytes (tests/tools/ho_recompute.py: cbor2 and docs/records.md, not the till's
decoder or totals code)."""
from __future__ import annotations

import cbor2
import pycddl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ho_recompute as ho
import test_engine_golden as golden
from engine_fixture import PINS, Till
from till.formats import journal as J
from till.formats import records as R

from host_tools.hodata import journal_schema

RECORD = journal_schema.schema("record")
SALE_BODY = journal_schema.schema("sale-body")
EVENT_BODY = journal_schema.schema("event-body")


def raw_records(till: Till) -> list[tuple[int, bytes]]:
    return list(till.journal.records_after(0))


def validate(till: Till) -> dict[int, int]:
    kinds: dict[int, int] = {}
    for _, raw in raw_records(till):
        RECORD.validate_cbor(raw)
        assert journal_schema.engine_record_problems(raw) == []
        rec = cbor2.loads(raw)
        kinds[rec[J.K_KIND]] = kinds.get(rec[J.K_KIND], 0) + 1
    return kinds


def print_jobs(name: str) -> list[dict]:
    till = Till()
    jobs = []
    try:
        for line in golden.script_lines(name):
            jobs += [a[1] for a in golden.run(till, line) if a[0] == "print"]
    finally:
        till.close()
    return jobs


def test_the_receipt_layout_prints_every_job_of_a_day() -> None:
    from test_receipt import PROFILE_58, PROFILE_80

    from host_tools.hodata import receipt_render as rr
    from till.formats import escpos
    from till.pos import receipt
    from till.pos.money import format_money

    jobs = print_jobs("day")
    kinds = {j["kind"] for j in jobs}
    assert kinds == {"sale", "storno", "no-sale", "cash", "x", "z"}, kinds
    for job in jobs:
        for profile in (PROFILE_80, PROFILE_58):
            out = escpos.EscPos(columns=profile["columns"]["a"])
            receipt.render(job, out, profile)
            paper = rr.parse(out.output(), columns=profile["columns"]["a"],
                             width_dots=profile["paper_width_dots"])
            assert not paper.issues, paper.issues
            text = rr.to_text(paper)
            if job["kind"] in ("sale", "storno"):
                assert "TOTAL" in text and format_money(job["total"]) in text
                for ln in job["lines"]:
                    assert format_money(ln["amount"]) in text
            if job["copy"]:
                assert "COPY" in text
            if job["training"]:
                assert "TRAINING" in text
            if job["kind"] == "z":
                assert format_money(job["grand_total"]) in text


@pytest.mark.parametrize("name", ["day", "errors", "offline", "powercut"])
def test_every_record_of_the_golden_shifts_validates(name: str) -> None:
    till = Till()
    try:
        for line in golden.script_lines(name):
            golden.run(till, line)
        kinds = validate(till)
    finally:
        till.close()
    assert kinds[J.KIND_EVENT] >= 1
    if name == "day":
        assert {J.KIND_SALE, J.KIND_STORNO, J.KIND_NO_SALE, J.KIND_CLOSING} <= set(kinds)


def head_office_copy(name: str) -> list[bytes]:
    """Every record of a golden shift as head office receives it: fetched
    after each script line, so records a sync lets the journal delete (and
    the power cuts) are in HO's copy all the same."""
    till = Till()
    raws: list[bytes] = []
    last = 0
    try:
        for line in golden.script_lines(name):
            golden.run(till, line)
            for last, raw in till.journal.records_after(last):
                raws.append(bytes(raw))
    finally:
        till.close()
    return raws


@pytest.mark.parametrize("name,closings", [("day", 2), ("errors", 0), ("offline", 0),
                                           ("powercut", 1)])
def test_the_golden_shifts_z_closings_equal_head_offices_recomputation(
        name: str, closings: int) -> None:
    records = ho.decode(head_office_copy(name))
    assert [r[J.K_SEQ] for r in records] == list(range(1, len(records) + 1))
    assert ho.check_closings(records) == closings


def test_the_recomputation_sees_a_changed_figure() -> None:
    # HO's check fails, naming the field, when one figure of a Z is off.
    records = ho.decode(head_office_copy("day"))
    closing = [r for r in records if r[J.K_KIND] == J.KIND_CLOSING][0]
    for key, name in ((R.P_SALES, "sales"), (R.P_GRAND_TOTAL, "grand total"),
                      (R.P_COUNTS, "counts"), (R.P_DISCOUNTS, "discounts")):
        saved = closing[J.K_BODY][key]
        closing[J.K_BODY][key] = {} if key == R.P_COUNTS else saved + 1
        with pytest.raises(AssertionError, match=f"Z 1 .*{name}: the till says"):
            ho.check_closings(records)
        closing[J.K_BODY][key] = saved
    assert ho.check_closings(records) == 2


def test_acknowledged_damage_and_checkpoints_validate() -> None:
    till = Till(journal_kw={"segment_bytes": 1024})
    try:
        till.sign_on()
        for _ in range(6):
            till.scan("4006381333931")
            till.keys("CASH")
        till.engine.mark_processed(till.journal.last_seq)
        till.journal.problems.append(J.Problem("seg", 0, None, "test damage"))
        till.keys(f"REPORT 5 9 TOTAL {PINS[9]} TOTAL")
        kinds = validate(till)
    finally:
        till.close()
    assert kinds[J.KIND_ACK] == 1


def test_the_schema_refuses_malformed_bodies() -> None:
    line = {1: 7, 3: 1, 5: 289, 6: "B", 7: 289, 11: "Brot"}
    good = {1: 1, 2: [line], 4: [[1, 290, 500]], 5: [["B", 70000, 270, 19, 289]], 6: 289,
            7: 1, 8: 1}
    SALE_BODY.validate_cbor(cbor2.dumps(good))
    bad_lines = [
        {k: v for k, v in line.items() if k != 3},  # neither quantity nor weight
        {**line, 9: 64},  # unknown flag
        {**line, 8: [3, 10, 1]},  # unknown discount kind
        {**line, 5: "2.89"},  # money as text
    ]
    for bad in bad_lines:
        with pytest.raises(pycddl.ValidationError):
            SALE_BODY.validate_cbor(cbor2.dumps({**good, 2: [bad]}))
    for bad_body in ({**good, 4: [[1, 290, "500"]]}, {**good, 4: [[3, 290, 1]]},
                     {k: v for k, v in good.items() if k != 8}):
        with pytest.raises(pycddl.ValidationError):
            SALE_BODY.validate_cbor(cbor2.dumps(bad_body))
    with pytest.raises(pycddl.ValidationError):
        EVENT_BODY.validate_cbor(cbor2.dumps({1: 3, 2: 1}))  # a lockout says until when


# ---------------------------------------------------------------- random baskets

ITEMS = [("scan", "4006381333931"), ("scan", "4008400402222"), ("scan", "036000291452"),
         ("scan", "2312345012340"), ("scan", "2810275005024"), ("plu", "12"), ("plu", "7"),
         ("open", "40")]

step = st.one_of(
    st.tuples(st.just("item"), st.sampled_from(ITEMS), st.integers(1, 4)),
    st.tuples(st.just("void"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("line%"), st.integers(1, 10), st.just(0)),
    st.tuples(st.just("sale%"), st.integers(1, 5), st.just(0)),
)
tender = st.sampled_from(["cash", "exact", "card", "mixed"])
first_item = st.tuples(st.just("item"), st.sampled_from(ITEMS), st.integers(1, 4))
sale = st.tuples(st.builds(lambda a, b: [a] + b, first_item, st.lists(step, max_size=7)), tender,
                 st.sampled_from([False, False, False, True]))


def dismiss(till: Till) -> None:
    """CLEAR a message if one is shown (CLEAR on a plain sale screen would
    ask to cancel the sale)."""
    if till.engine.message is not None:
        till.keys("CLEAR")


def ring(till: Till, steps, pay: str, training: bool) -> None:
    for what, a, b in steps:
        if what == "item":
            kind, code = a
            if kind == "scan":
                if b > 1 and code in ("4006381333931", "4008400402222", "036000291452"):
                    till.keys(f"{b} QTY")
                till.scan(code)
            elif kind == "plu":
                till.keys(f"{b} QTY {code} PLU")
            else:
                till.keys(f"{code} PLU {b}.25 TOTAL")
        elif what == "void" and till.engine.sale and a:
            till.keys(f"{a} VOID")
        elif what == "line%" and till.engine.sale:
            till.keys(f"{a} DISCOUNT")
        elif what == "sale%" and till.engine.sale:
            till.keys(f"SUBTOTAL {a} DISCOUNT")
        dismiss(till)
    s = till.engine.sale
    if s is None or not s.active():
        if s is not None:
            till.keys("CLEAR TOTAL CLEAR")  # cancel what is left
        return
    if pay == "cash":
        till.keys("100.00 CASH")
    elif pay == "exact":
        till.keys("CASH")
    elif pay == "card":
        till.keys("CARD 42 TOTAL")
    elif s.total >= 2:
        till.keys("0.01 CASH CLEAR CARD 43 TOTAL")
    else:
        till.keys("CASH")
    dismiss(till)
    assert till.engine.sale is None, till.display()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sale, min_size=1, max_size=8))
def test_z_equals_an_independent_recomputation_on_random_baskets(sales) -> None:
    till = Till()
    try:
        till.keys(f"9 SIGN {PINS[9]} TOTAL")  # the manager: every limit is hers
        for steps, pay, training in sales:
            if training:
                till.keys("REPORT 4 CLEAR")
            ring(till, steps, pay, training)
            if training:
                till.keys("REPORT 4 CLEAR")
        till.keys("REPORT 2 0 TOTAL CLEAR")  # the Z, with the drawer counted empty
        records = ho.decode(raw for _, raw in raw_records(till))
    finally:
        till.close()
    assert ho.check_closings(records) == 1
    # Every sale balances: tenders pay the total plus cash rounding; cash
    # rounding only where cash settled it; taxes sum to the total.
    for rec in records:
        if rec[3] != J.KIND_SALE:
            continue
        body = rec[4]
        paid = sum(t[1] for t in body[4])
        assert paid == body[6] + body.get(7, 0)
        assert sum(e[4] for e in body[5]) == body[6]
        if body.get(7):
            assert body[4][-1][0] == R.TENDER_CASH and body[4][-1][1] % 5 == 0
        for t in body[4]:
            if t[0] == R.TENDER_CASH:
                assert t[2] >= t[1]
