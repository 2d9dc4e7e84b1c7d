# Print jobs: what a receipt or report says, as plain data (dicts, lists, ints,
# strings). The receipt layout turns a job into ESC/POS for a given printer
# profile; the engine never formats paper. Every job is made from a journal
# record (plus names from the snapshot), so a reprint is the same receipt and a
# paper receipt can be checked against head office's copy. docs/records.md
# lists every field.
from till.formats import journal as J
from till.formats import records as R


def _tax_name(snapshot, cls):
    if snapshot is None:
        return cls
    tc = snapshot.tax_classes.get(cls)
    return tc.get("name", cls) if tc else cls


def _cashier(snapshot, cashier_id):
    c = snapshot.cashier(cashier_id) if snapshot is not None else None
    return {"id": cashier_id, "name": c["name"] if c else ""}


def _taxes(snapshot, entries):
    return [{"class": e[0], "name": _tax_name(snapshot, e[0]), "rate_ppm": e[1],
             "net": e[2], "tax": e[3], "gross": e[4]} for e in entries]


_NO_CURRENCY = {"code": "", "decimals": 2}


def _store_texts(snapshot):
    # The snapshot's own header, footer, store and currency, not copies: a job
    # is read once by the receipt layout and dropped, and every allocation on
    # a till's fragmented heap is one that can fail.
    if snapshot is None:
        return (), (), {}, _NO_CURRENCY
    rc = snapshot.receipt
    return rc.get("header", ()), rc.get("footer", ()), snapshot.store, snapshot.currency


def _common(kind, till_id, snapshot, seq, tag, time, flags, cashier_id):
    header, footer, store, currency = _store_texts(snapshot)
    return {"kind": kind, "copy": False, "training": bool(flags & J.FLAG_TRAINING),
            "till": till_id, "receipt": seq, "tag": tag, "time": time,
            "clock_set": not flags & J.FLAG_CLOCK_NOT_SET,
            "cashier": _cashier(snapshot, cashier_id),
            "header": header, "footer": footer, "store": store, "currency": currency}


def _discount(d):
    if not d:
        return None
    return {"percent_bp" if d[0] == R.DISC_PERCENT else "amount_off": d[1], "amount": d[2]}


def receipt(rec, till_id, snapshot, copy=False, of=None):
    """The job for a sale or storno record (a decoded record dict with its tag).
    of: for a storno, the number of the receipt it refunds (its record holds
    that receipt's journal seq), None when the journal no longer has it.
    Built as one dict literal: a map grown key by key is reallocated twice on
    the way to its 24 keys, and a receipt is built after every sale."""
    kind = rec[J.K_KIND]
    body = rec[J.K_BODY]
    flags = rec.get(J.K_FLAGS, 0)
    lines = []
    subtotal = 0
    for ln in body[R.S_LINES]:
        if ln.get(R.L_FLAGS, 0) & R.LF_VOIDED:
            continue
        d = ln.get(R.L_DISCOUNT)
        total = ln[R.L_AMOUNT] - (d[2] if d else 0)
        lines.append({"plu": ln[R.L_PLU], "name": ln.get(R.L_NAME, ""), "qty": ln.get(R.L_QTY),
                      "grams": ln.get(R.L_GRAMS), "unit_price": ln[R.L_PRICE],
                      "amount": ln[R.L_AMOUNT], "discount": _discount(d), "total": total,
                      "tax_class": ln[R.L_TAX], "flags": ln.get(R.L_FLAGS, 0)})
        subtotal += total
    tenders = []
    change = 0
    for t in body[R.S_TENDERS]:
        if t[0] == R.TENDER_CASH:
            tenders.append({"type": "cash", "amount": t[1], "given": t[2],
                            "change": t[2] - t[1]})
            change += t[2] - t[1]
        else:
            tenders.append({"type": R.TENDER_NAMES.get(t[0], str(t[0])), "amount": t[1],
                            "ref": t[2]})
    storno = kind == J.KIND_STORNO
    header, footer, store, currency = _store_texts(snapshot)
    return {"kind": "storno" if storno else "sale", "copy": copy,
            "training": bool(flags & J.FLAG_TRAINING), "till": till_id,
            "receipt": rec[J.K_SEQ], "tag": rec.get(J.K_TAG), "time": rec[J.K_TIME],
            # A record from before document numbers was printed with its seq.
            "number": body.get(R.S_NUMBER, rec[J.K_SEQ]),
            "clock_set": not flags & J.FLAG_CLOCK_NOT_SET,
            "cashier": _cashier(snapshot, body[R.S_CASHIER]),
            "header": header, "footer": footer, "store": store, "currency": currency,
            "lines": lines, "subtotal": subtotal,
            "sale_discount": _discount(body.get(R.S_DISCOUNT)), "total": body[R.S_TOTAL],
            "rounding": body.get(R.S_ROUNDING, 0), "tenders": tenders, "change": change,
            "taxes": _taxes(snapshot, body[R.S_TAXES]), "snapshot": body[R.S_SNAPSHOT],
            "refund_of": of if storno else None,
            "refund_seq": body.get(R.S_REFUND_OF) if storno else None,
            "approver": _cashier(snapshot, body[R.S_APPROVER]) if storno else None}


def no_sale(rec, till_id, snapshot):
    """The slip for a no-sale drawer opening."""
    body = rec[J.K_BODY]
    job = _common("no-sale", till_id, snapshot, rec[J.K_SEQ], rec.get(J.K_TAG),
                  rec[J.K_TIME], rec.get(J.K_FLAGS, 0), body[R.N_CASHIER])
    if R.N_APPROVER in body:
        job["approver"] = _cashier(snapshot, body[R.N_APPROVER])
    return job


def cash(rec, till_id, snapshot):
    """The slip for cash put into the drawer or taken out (a cash movement):
    an internal slip, so no customer footer."""
    body = rec[J.K_BODY]
    job = no_sale(rec, till_id, snapshot)
    job["kind"] = "cash"
    job["footer"] = ()
    job["amount"] = body[R.M_AMOUNT]
    job["ref"] = body.get(R.M_REASON)
    return job


_COUNT_NAMES = ((R.C_SALES, "sales"), (R.C_STORNOS, "stornos"), (R.C_NO_SALES, "no_sales"),
                (R.C_CANCELLED, "cancelled"), (R.C_VOIDED_LINES, "voided_lines"),
                (R.C_TRAINING, "training"))


def period(kind, p, till_id, snapshot, cashier_id, time, seq=None, tag=None, flags=0):
    """The job for an X report ("x", not journaled: seq None) or a Z closing ("z")
    from a period totals map (records.P_* keys)."""
    job = _common(kind, till_id, snapshot, seq, tag, time, flags, cashier_id)
    job["z"] = p[R.P_Z]
    job["first"] = p[R.P_FIRST]
    job["last"] = p[R.P_LAST]
    job["taxes"] = _taxes(snapshot, p[R.P_TAXES])
    job["tenders"] = [{"type": R.TENDER_NAMES.get(t[0], str(t[0])), "amount": t[1]}
                      for t in p[R.P_TENDERS]]
    counts = p[R.P_COUNTS]
    job["counts"] = dict((name, counts.get(k, 0)) for k, name in _COUNT_NAMES)
    job["sales"] = p[R.P_SALES]
    job["refunds"] = p[R.P_REFUNDS]
    job["rounding"] = p[R.P_ROUNDING]
    job["discounts"] = p[R.P_DISCOUNTS]
    job["grand_total"] = p[R.P_GRAND_TOTAL]
    job["cash_in"] = p.get(R.P_CASH_IN, 0)
    job["cash_out"] = p.get(R.P_CASH_OUT, 0)
    job["expected"] = p.get(R.P_EXPECTED)
    job["counted"] = p.get(R.P_COUNTED)
    job["numbers"] = [p.get(R.P_NUMBERS, 0), p.get(R.P_NUMBERS + 1, 0)]  # last sale, refund
    job["incomplete"] = bool(p.get(R.P_INCOMPLETE))
    job["snapshot"] = p.get(R.P_SNAPSHOT, snapshot.version if snapshot is not None else None)
    if R.P_APPROVER in p:
        job["approver"] = _cashier(snapshot, p[R.P_APPROVER])
    return job
