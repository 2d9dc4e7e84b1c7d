"""HO's copy of one record, as the pages show it: its status at HO, what
kind of record it is, when the till wrote it, its total and tag, and the
paper the till printed from it (web/paper.py)."""
from __future__ import annotations

from typing import Any

import cbor2

from host_tools.relay.store import Store
from host_tools.relay.web import paper
from till.formats import journal as J
from till.formats import records as R


def copy(store: Store, till_id: str, seq: int) -> dict[str, Any] | None:
    """What HO holds as record `seq` of `till_id`, or None."""
    raw = store.record_raw(till_id, seq)
    if raw is None:
        return None
    rec = cbor2.loads(raw)  # stored records were checked as CBOR maps at upload (ingest.split_batch)
    tag, body, kind, flags = rec.get(J.K_TAG), rec.get(J.K_BODY), rec.get(J.K_KIND), rec.get(J.K_FLAGS, 0)
    total = body.get(R.S_TOTAL) if isinstance(body, dict) and kind in (J.KIND_SALE, J.KIND_STORNO) else None
    return {"till": till_id, "seq": seq, "record": store.received(till_id, after_seq=seq - 1, limit=1)[0],
            "kind": paper.KIND_NAMES.get(kind, f"kind {kind!r}"),
            "time": rec.get(J.K_TIME) if isinstance(rec.get(J.K_TIME), int) else None,
            "total": total if isinstance(total, int) else None,
            "training": isinstance(flags, int) and bool(flags & J.FLAG_TRAINING),
            "tag": tag.hex() if isinstance(tag, bytes) else "",
            "paper": _paper(rec, till_id, _refunded_number(store, till_id, kind, body))}


def _refunded_number(store: Store, till_id: str, kind: Any, body: Any) -> int | None:
    """A refund's paper names the number of the receipt it refunds, which is
    in that receipt's record (docs/records.md, "Document numbers")."""
    if kind != J.KIND_STORNO or not isinstance(body, dict) or not isinstance(body.get(R.S_REFUND_OF), int):
        return None
    raw = store.record_raw(till_id, body[R.S_REFUND_OF])
    sale = cbor2.loads(raw) if raw is not None else None
    sale_body = sale.get(J.K_BODY) if isinstance(sale, dict) else None
    if not isinstance(sale_body, dict):
        return None
    number = sale_body.get(R.S_NUMBER, body[R.S_REFUND_OF])  # a record before numbers: its seq
    return number if isinstance(number, int) else None


def _paper(rec: dict[Any, Any], till_id: str, refund_of: int | None) -> str | None:
    try:
        return paper.text(rec, till_id, refund_of)
    except Exception:  # a body the layout cannot read (a quarantined record): show the facts alone
        return None
