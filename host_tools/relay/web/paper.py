"""HO's copy of a journal record as the paper the till printed from it: the
till's own print job and receipt layout (till.pos.printjob, till.pos.receipt)
read back by the host's ESC/POS renderer (hodata.receipt_render). HO has no
snapshot, so store header and footer, cashier and tax names are left out;
everything the record holds (lines, totals, tenders, taxes, the QR's check
data) is printed exactly as on the till."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from host_tools.hodata import printer_profile, receipt_render
from till.formats import escpos
from till.formats import journal as J
from till.formats import records as R
from till.pos import printjob, receipt

KIND_NAMES = {J.KIND_SALE: "sale", J.KIND_STORNO: "refund (storno)", J.KIND_NO_SALE: "no-sale",
              J.KIND_CLOSING: "Z closing", J.KIND_CONFIG: "configuration", J.KIND_EVENT: "event",
              J.KIND_ACK: "acknowledgement", J.KIND_CASH: "cash in/out"}


@lru_cache(maxsize=1)
def _profile() -> dict[str, Any]:
    profile: dict[str, Any] = printer_profile.build_profile("default")
    return profile


def job(rec: dict[Any, Any], till_id: str, refund_of: int | None = None) -> dict[str, Any] | None:
    """The print job the till made from this record; None for a kind that
    prints nothing. refund_of: for a refund, the number of the receipt it
    refunds (from that receipt's record, where HO holds it)."""
    kind, flags = rec[J.K_KIND], rec.get(J.K_FLAGS, 0)
    if kind in (J.KIND_SALE, J.KIND_STORNO):
        made: dict[str, Any] = printjob.receipt(rec, till_id, None, False, refund_of)
    elif kind == J.KIND_NO_SALE:
        made = printjob.no_sale(rec, till_id, None)
    elif kind == J.KIND_CASH:
        made = printjob.cash(rec, till_id, None)
    elif kind == J.KIND_CLOSING:
        body = rec[J.K_BODY]
        made = printjob.period("z", body, till_id, None, body.get(R.P_CASHIER, 0), rec[J.K_TIME],
                               rec[J.K_SEQ], rec.get(J.K_TAG), flags)
    else:
        return None
    return made


def text(rec: dict[Any, Any], till_id: str, refund_of: int | None = None) -> str | None:
    """The paper as text, or None when the record prints nothing."""
    made = job(rec, till_id, refund_of)
    if made is None:
        return None
    profile = _profile()
    columns = int(profile["columns"]["a"])
    out = escpos.EscPos(columns=columns)
    receipt.render(made, out, profile)
    paper = receipt_render.parse(out.output(), columns=columns,
                                 width_dots=receipt_render.DEFAULT_WIDTH_DOTS * columns
                                 // receipt_render.DEFAULT_COLUMNS)
    lines = str(receipt_render.to_text(paper)).rstrip().splitlines()
    if lines and "cut" in lines[-1]:  # the renderer's mark for the cutter: not on the paper
        lines = lines[:-1]
    return "\n".join(lines).rstrip()
