"""Journal records with their field names (docs/records.md), for people reading
`kassa journal dump --names`.

On flash and on the link a record's fields are small integers (docs/records.md
says why); this is the host's reading of that page, key by key. A key this page
does not know is kept under its number, so a newer till's record is shown
whole, never cut.
"""
from __future__ import annotations

from typing import Any

from host_tools.hodata.journal_reader import to_json
from till.formats.records import TENDER_NAMES

# docs/journal.cddl: the kinds.
SALE, STORNO, NO_SALE, CLOSING, CONFIG, EVENT, ACK, CASH = 1, 2, 3, 4, 5, 6, 7, 8

SALE_FIELDS = {1: "cashier", 2: "lines", 3: "sale_discount", 4: "tenders", 5: "taxes",
               6: "total", 7: "rounding", 8: "snapshot", 9: "refund_of", 10: "approver",
               11: "number", 12: "lines_refunded", 13: "without_receipt"}
LINE_FIELDS = {1: "plu", 2: "code", 3: "qty", 4: "grams", 5: "unit_price", 6: "tax_class",
               7: "amount", 8: "discount", 9: "flags", 10: "approver", 11: "name",
               12: "voided_by"}
LINE_FLAGS = {1: "voided", 2: "open_price", 4: "price_changed", 8: "price_from_label",
              16: "weight_from_label", 32: "age_checked"}
NO_SALE_FIELDS = {1: "cashier", 2: "approver"}
CASH_FIELDS = {1: "cashier", 2: "approver", 3: "amount", 4: "reason"}
EVENT_FIELDS = {1: "type", 2: "cashier", 3: "detail", 4: "approver"}
EVENT_TYPES = {1: "sign-on", 2: "sign-off", 3: "lockout", 4: "sale cancelled",
               5: "training on", 6: "training off", 7: "credentials wiped", 8: "checkpoint",
               9: "copy printed", 10: "error caught", 11: "clock set", 12: "not printed"}
PERIOD_FIELDS = {1: "z", 2: "first_seq", 3: "last_seq", 4: "taxes", 5: "tenders", 6: "counts",
                 7: "sales", 8: "refunds", 9: "rounding", 10: "discounts", 11: "grand_total",
                 12: "incomplete", 13: "cashier", 14: "snapshot", 15: "approver",
                 16: "last_receipt_number", 17: "last_refund_number",
                 18: "last_training_receipt_number", 19: "last_training_refund_number",
                 20: "cash_in", 21: "cash_out", 22: "cash_expected", 23: "cash_counted"}
COUNT_FIELDS = {1: "sales", 2: "stornos", 3: "no_sales", 4: "cancelled", 5: "voided_lines",
                6: "training", 10: "cash_ins", 11: "cash_outs"}
CONFIG_FIELDS = {1: "version", 2: "base", 3: "hash", 4: "at_boot"}
ACK_FIELDS = {1: "problem_ids", 2: "by", 3: "note", 4: "problems"}  # docs/journal.cddl
TENDER_TYPES = dict(TENDER_NAMES)  # the firmware's: cash, card, voucher
DISCOUNT_KINDS = {1: "percent_bp", 2: "amount_off"}
_TAX = ("class", "rate_ppm", "net", "tax", "gross")
_CHECKPOINT = 8


def _fields(body: Any, names: dict[int, str]) -> Any:
    if not isinstance(body, dict):
        return to_json(body)
    return {names.get(k, str(k)) if isinstance(k, int) else str(k): v for k, v in body.items()}


def _discount(d: Any) -> Any:
    if not (isinstance(d, list) and len(d) >= 3):
        return to_json(d)
    out = {"kind": DISCOUNT_KINDS.get(d[0], d[0]), "value": d[1], "amount": d[2]}
    if len(d) > 3:
        out["approver"] = d[3]
    return out


def _taxes(taxes: Any) -> Any:
    if not isinstance(taxes, list):
        return to_json(taxes)
    return [dict(zip(_TAX, t)) if isinstance(t, list) and len(t) == 5 else to_json(t)
            for t in taxes]


def _tender(t: Any) -> Any:
    if not (isinstance(t, list) and len(t) >= 2):
        return to_json(t)
    out: dict[str, Any] = {"type": TENDER_TYPES.get(t[0], t[0]), "amount": t[1]}
    if len(t) > 2:
        out["given" if t[0] == 1 else "ref"] = to_json(t[2])
    return out


def _line(line: Any) -> Any:
    out = _fields(line, LINE_FIELDS)
    if isinstance(out, dict):
        if "discount" in out:
            out["discount"] = _discount(out["discount"])
        if isinstance(out.get("flags"), int):
            out["flags"] = [n for bit, n in LINE_FLAGS.items() if out["flags"] & bit]
    return to_json(out)


def _sale(body: Any) -> Any:
    out = _fields(body, SALE_FIELDS)
    if not isinstance(out, dict):
        return out
    if isinstance(out.get("lines"), list):
        out["lines"] = [_line(x) for x in out["lines"]]
    if "sale_discount" in out:
        out["sale_discount"] = _discount(out["sale_discount"])
    if isinstance(out.get("tenders"), list):
        out["tenders"] = [_tender(t) for t in out["tenders"]]
    out["taxes"] = _taxes(out.get("taxes"))
    return to_json(out)


def _period(body: Any) -> Any:
    out = _fields(body, PERIOD_FIELDS)
    if not isinstance(out, dict):
        return out
    out["taxes"] = _taxes(out.get("taxes"))
    if isinstance(out.get("tenders"), list):
        out["tenders"] = [_tender(t) for t in out["tenders"]]
    if isinstance(out.get("counts"), dict):
        out["counts"] = _fields(out["counts"], COUNT_FIELDS)
    return to_json(out)


def _event(body: Any) -> Any:
    out = _fields(body, EVENT_FIELDS)
    if not isinstance(out, dict):
        return out
    kind = out.get("type")
    if kind == _CHECKPOINT:
        out["detail"] = _period(out.get("detail"))
    elif kind == 4:  # a cancelled sale: the sale body as it stood
        out["detail"] = _sale(out.get("detail"))
    if isinstance(kind, int):
        out["type"] = EVENT_TYPES.get(kind, kind)
    return to_json(out)


def named_body(kind: Any, body: Any) -> Any:
    """A record body as JSON with docs/records.md's field names."""
    if kind in (SALE, STORNO):
        return _sale(body)
    if kind == CLOSING:
        return _period(body)
    if kind == EVENT:
        return _event(body)
    if kind == NO_SALE:
        return to_json(_fields(body, NO_SALE_FIELDS))
    if kind == CASH:
        return to_json(_fields(body, CASH_FIELDS))
    if kind == CONFIG:
        return to_json(_fields(body, CONFIG_FIELDS))
    if kind == ACK:
        return to_json(_fields(body, ACK_FIELDS))
    return to_json(body)  # an unknown kind: shown as it is
