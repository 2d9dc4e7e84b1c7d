"""Till journals for the relay's tests, written by the real firmware journal
(till.formats.journal under CPython) with bodies shaped as the sale engine
writes them (docs/records.md), and HO's independent recomputation of what the
relay must consolidate from them (cbor2 only, nothing of the relay's)."""
from __future__ import annotations

import random
import secrets
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import cbor2

from till.formats import journal as J

RATES = {"A": 190000, "B": 70000}
DAY0 = 1795262400  # 2026-11-20 00:00 UTC


def _sale(rnd: random.Random, sign: int = 1) -> dict[int, Any]:
    lines, taxes, total = [], {}, 0
    for _ in range(rnd.randint(1, 3)):
        cls = rnd.choice("AB")
        qty, price = rnd.randint(1, 3), rnd.randint(50, 5000)
        amount = qty * price
        lines.append({1: rnd.randint(1, 999), 3: sign * qty, 5: price, 6: cls, 7: sign * amount, 11: "Item"})
        taxes[cls] = taxes.get(cls, 0) + sign * amount
        total += sign * amount
    tax_entries = []
    for cls in sorted(taxes):
        gross = taxes[cls]
        tax = gross * RATES[cls] // (1_000_000 + RATES[cls])
        tax_entries.append([cls, RATES[cls], gross - tax, tax, gross])
    tender = [1, total, total + (0 if sign < 0 else rnd.randint(0, 500))] if rnd.random() < 0.6 \
        else [2, total, f"APPR{rnd.randint(1000, 9999)}"]
    return {1: 1, 2: lines, 4: [tender], 5: tax_entries, 6: total, 8: 1}


def write_journal(directory: str, till_id: str, key: bytes, count: int, seed: int = 1,
                  start_time: int = DAY0 + 8 * 3600, step_s: int = 97,
                  sales_only: bool = False) -> list[tuple[int, bytes]]:
    """A journal of `count` records (sales, some refunds, no-sales, cash put
    into or taken out of the drawer, sign-ons, training sales and a Z closing
    every 40 records; only sales with
    sales_only, for the benchmark, which counts sales); its (seq, raw) list."""
    rnd = random.Random(seed)
    now = [start_time]

    def clock() -> int:
        now[0] += step_s
        return now[0]

    j = J.Journal(directory, till_id, key, clock=clock, segment_bytes=1 << 20)
    sales_seqs: list[int] = []
    z, first, grand = 1, 1, 0  # grand: the perpetual total HO checks each Z's against
    for i in range(1, count + 1):
        roll = 1.0 if sales_only else rnd.random()
        if i % 40 == 0 and not sales_only:
            j.append(J.KIND_CLOSING, {1: z, 2: first, 3: i - 1, 4: [], 5: [], 6: {}, 7: 0, 8: 0,
                                      9: 0, 10: 0, 11: grand, 13: 1, 14: 1})
            z, first = z + 1, i + 1
        elif roll < 0.05:
            j.append(J.KIND_EVENT, {1: 1, 2: 1})
        elif roll < 0.09:
            j.append(J.KIND_NO_SALE, {1: 1})
        elif roll < 0.14 and sales_seqs:
            body = _sale(rnd, -1)
            body.update({9: rnd.choice(sales_seqs), 10: 1})
            j.append(J.KIND_STORNO, body)
            grand += body[6]
        elif roll < 0.17:
            j.append(J.KIND_SALE, _sale(rnd), flags=2)  # training
        elif roll > 0.97 and not sales_only:
            # Cash in or out (docs/records.md, kind 8): the sign is the direction.
            j.append(J.KIND_CASH, {1: 1, 3: rnd.choice((1, -1)) * rnd.randint(100, 20000)})
        else:
            body = _sale(rnd)
            sales_seqs.append(j.append(J.KIND_SALE, body))
            grand += body[6]
    out = [(seq, bytes(raw)) for seq, raw in j.records_after(0)]
    j.close()
    return out


def make_journal(till_id: str, count: int, seed: int = 1, **kw: Any) -> tuple[bytes, list[tuple[int, bytes]]]:
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory() as d:
        return key, write_journal(d, till_id, key, count, seed, **kw)


def batch(records: list[tuple[int, bytes]]) -> bytes:
    return b"".join(raw for _, raw in records)


def recompute(site_of: dict[str, str], journals: dict[str, list[bytes]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (site, day): what consolidation must show, summed straight from the
    records' bytes (docs/records.md)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for till, raws in journals.items():
        for raw in raws:
            rec = cbor2.loads(raw)
            day = datetime.fromtimestamp(rec[2], timezone.utc).date().isoformat()
            d = out.setdefault((site_of[till], day), {
                "sales": 0, "sales_total": 0, "refunds": 0, "refunds_total": 0, "no_sales": 0,
                "training": 0, "closings": 0, "cash_in": 0, "cash_out": 0,
                "tenders": defaultdict(int), "tax": defaultdict(int)})
            kind, body = rec[3], rec[4]
            if rec.get(5, 0) & 2:
                d["training"] += kind in (1, 2, 3, 8)
                continue
            if kind in (1, 2):
                name = "sales" if kind == 1 else "refunds"
                d[name] += 1
                d[name + "_total"] += body[6]
                for t in body[4]:
                    d["tenders"][str(t[0])] += t[1]
                for t in body[5]:
                    d["tax"][t[0]] += t[3]
            elif kind == 3:
                d["no_sales"] += 1
            elif kind == 4:
                d["closings"] += 1
            elif kind == 8:
                d["cash_in" if body[3] > 0 else "cash_out"] += body[3]
    return out


def consolidated(sales_rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The relay's sales view in recompute()'s shape."""
    out = {}
    for r in sales_rows:
        out[(r["site"], r["day"])] = {
            "sales": r["sales"], "sales_total": r["sales_total"], "refunds": r["refunds"],
            "refunds_total": r["refunds_total"], "no_sales": r["no_sales"], "training": r["training"],
            "closings": r["closings"], "cash_in": r["cash_in"], "cash_out": r["cash_out"],
            "tenders": dict(r["tenders"]),
            "tax": {t["class"]: 0 for t in r["taxes"]}}
        for t in r["taxes"]:
            out[(r["site"], r["day"])]["tax"][t["class"]] += t["tax"]
    return out


def normal(d: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: {**v, "tenders": {a: b for a, b in v["tenders"].items() if b},
                "tax": {a: b for a, b in v["tax"].items() if b}} for k, v in d.items()}
