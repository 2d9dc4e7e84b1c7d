"""Head office's own recomputation of a till's Z closings, from the journal's
records alone: bytes decoded with cbor2, fields as docs/records.md and
docs/journal.cddl define them. It imports nothing from the till (not its CBOR
decoder, not till.pos.reports), so a mistake in the till's totals code cannot
hide in the check of it.

    records = decode(raw_records)          # every record HO received, any order
    check_closings(records)                # each Z equals HO's sums; returns how many
                                           # (and the document numbers run 1, 2, 3...)

The till's own check (till.pos.reports.recompute) uses the same Totals.add as
the till; this is the second, independent opinion."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2

Record = dict[int, Any]

# docs/journal.cddl: the record envelope, kinds and flags.
SEQ, KIND, BODY, FLAGS = 1, 3, 4, 5
SALE, STORNO, NO_SALE, CLOSING, EVENT, CASH = 1, 2, 3, 4, 6, 8
TRAINING = 2
# docs/records.md: sale and storno bodies, their lines, events.
S_LINES, S_DISCOUNT, S_TENDERS, S_TAXES, S_TOTAL, S_ROUNDING = 2, 3, 4, 5, 6, 7
S_NUMBER = 11
L_DISCOUNT, L_FLAGS, L_VOIDED = 8, 9, 1
E_TYPE, EV_CANCEL = 1, 4
M_AMOUNT = 3  # a cash movement: > 0 into the drawer, < 0 out of it
TENDER_CASH = 1
# docs/records.md, "Z closing (kind 4) and period totals".
FIELDS = {1: "Z number", 2: "first seq", 3: "last seq", 4: "taxes", 5: "tenders",
          6: "counts", 7: "sales", 8: "refunds", 9: "cash rounding", 10: "discounts",
          11: "grand total", 12: "incomplete", 16: "last receipt number", 17: "last refund number",
          18: "last training receipt number", 19: "last training refund number", 20: "cash in",
          21: "cash out", 22: "cash expected"}
C_SALES, C_STORNOS, C_NO_SALES, C_CANCELLED, C_VOIDED, C_TRAINING = 1, 2, 3, 4, 5, 6
C_CASH_INS, C_CASH_OUTS = 10, 11
# who closed, snapshot version, approver, the cash counted: not sums
CLOSED_BY = (13, 14, 15, 23)


def decode(raws: Iterable[bytes]) -> list[Record]:
    """Records from their bytes, by sequence number, each once."""
    by_seq: dict[int, Record] = {}
    for raw in raws:
        rec = cbor2.loads(raw)
        by_seq[rec[SEQ]] = rec
    return [by_seq[s] for s in sorted(by_seq)]


def _training(rec: Record) -> bool:
    return bool(rec.get(FLAGS, 0) & TRAINING)


def series(rec: Record) -> int | None:
    """docs/records.md, "Document numbers": 16-19 is the closing key of the
    last number of the record's series; None for a kind without a number."""
    if rec[KIND] not in (SALE, STORNO):
        return None
    return 16 + (rec[KIND] == STORNO) + (2 if _training(rec) else 0)


def period(records: list[Record], z: int, first: int, last: int) -> dict[int, Any]:
    """The period totals map (keys 1-19) of the records first..last, as HO
    computes it. The grand total is summed from the till's very first record,
    so records must start at seq 1."""
    have = {r[SEQ] for r in records}
    if 1 not in have:
        raise ValueError("head office lacks the till's first record: no grand total")
    taxes: dict[tuple[str, int], list[int]] = {}
    tenders: dict[int, int] = {}
    counts: dict[int, int] = {}
    sums = {"sales": 0, "refunds": 0, "rounding": 0, "discounts": 0, "before": 0,
            "cash_in": 0, "cash_out": 0}
    numbers = dict.fromkeys(range(16, 20), 0)

    def bump(what: int, n: int = 1) -> None:
        counts[what] = counts.get(what, 0) + n

    for rec in records:
        seq, kind, body = rec[SEQ], rec[KIND], rec[BODY]
        money = kind in (SALE, STORNO) and not _training(rec)
        key = series(rec)
        if key is not None and seq <= last:
            numbers[key] = body.get(S_NUMBER, numbers[key])
        if seq < first:
            if money:
                sums["before"] += body[S_TOTAL]
            continue
        if seq > last:
            continue
        if _training(rec):
            # docs/records.md: training sales, stornos, no-sales and cash
            # movements are counted as such; training events count nowhere.
            if kind in (SALE, STORNO, NO_SALE, CASH):
                bump(C_TRAINING)
            continue
        if kind == NO_SALE:
            bump(C_NO_SALES)
        elif kind == EVENT and body.get(E_TYPE) == EV_CANCEL:
            bump(C_CANCELLED)
        elif kind == CASH:
            into = body[M_AMOUNT] > 0
            bump(C_CASH_INS if into else C_CASH_OUTS)
            sums["cash_in" if into else "cash_out"] += body[M_AMOUNT]
        if not money:
            continue
        bump(C_SALES if kind == SALE else C_STORNOS)
        sums["sales" if kind == SALE else "refunds"] += body[S_TOTAL]
        sums["rounding"] += body.get(S_ROUNDING, 0)
        if body.get(S_DISCOUNT):
            sums["discounts"] += body[S_DISCOUNT][2]
        for line in body[S_LINES]:
            if line.get(L_FLAGS, 0) & L_VOIDED:
                bump(C_VOIDED)  # kept for audit, counts in no total
            elif line.get(L_DISCOUNT):
                sums["discounts"] += line[L_DISCOUNT][2]
        for cls, rate, net, tax, gross in body[S_TAXES]:
            t = taxes.setdefault((cls, rate), [0, 0, 0])
            t[0] += net
            t[1] += tax
            t[2] += gross
        for tender in body[S_TENDERS]:
            tenders[tender[0]] = tenders.get(tender[0], 0) + tender[1]
    out: dict[int, Any] = {
        1: z, 2: first, 3: last,
        4: [[c, r, *v] for (c, r), v in sorted(taxes.items())],
        5: [[t, a] for t, a in sorted(tenders.items())],
        6: {k: v for k, v in counts.items() if v},
        7: sums["sales"], 8: sums["refunds"], 9: sums["rounding"], 10: sums["discounts"],
        11: sums["before"] + sums["sales"] + sums["refunds"],
        20: sums["cash_in"], 21: sums["cash_out"],
        22: tenders.get(TENDER_CASH, 0) + sums["cash_in"] + sums["cash_out"],
        **numbers,
    }
    if any(s not in have for s in range(first, last + 1)):
        out[12] = True
    return out


def expected_closings(records: list[Record]) -> list[tuple[Record, dict[int, Any]]]:
    """(closing record, HO's period totals for it) for every Z closing: its
    period starts after the previous closing (or at seq 1) and ends just
    before it; Z numbers count closings from 1."""
    out = []
    first = 1
    for rec in records:
        if rec[KIND] != CLOSING or _training(rec):
            continue
        out.append((rec, period(records, len(out) + 1, first, rec[SEQ] - 1)))
        first = rec[SEQ] + 1
    return out


def differences(closing: dict[int, Any], want: dict[int, Any]) -> list[str]:
    """What a closing body says against HO's figures, field by field."""
    got = {k: v for k, v in closing.items() if k not in CLOSED_BY}
    return [f"{FIELDS.get(k, k)}: the till says {got.get(k)!r}, head office {want.get(k)!r}"
            for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]


def number_problems(records: list[Record]) -> list[str]:
    """Each series of document numbers (sales, refunds, and the two in
    training) runs 1, 2, 3... in journal order with no gap and no repeat, and
    every sale and refund has its number. records must start at seq 1."""
    problems, last = [], dict.fromkeys(range(16, 20), 0)
    for rec in records:
        key = series(rec)
        if key is None:
            continue
        n = rec[BODY].get(S_NUMBER)
        if n != last[key] + 1:
            problems.append(f"record {rec[SEQ]}: {FIELDS[key][5:]} {n!r}, after {last[key]}")
        last[key] = n if isinstance(n, int) else last[key]
    return problems


def check_closings(records: list[Record]) -> int:
    """Every Z closing in records equals head office's recomputation, and the
    document numbers are gap-free; returns the number of closings checked.
    Raises AssertionError naming each field that differs."""
    problems = number_problems(records)
    pairs = expected_closings(records)
    for rec, want in pairs:
        for d in differences(rec[BODY], want):
            problems.append(f"Z {want[1]} (record {rec[SEQ]}): {d}")
    if problems:
        raise AssertionError("\n".join(problems))
    return len(pairs)
