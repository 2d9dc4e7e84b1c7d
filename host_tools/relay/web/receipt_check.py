"""Receipt check: the QR code on every receipt (`KASSA1|till|seq|tag`,
made by till.pos.receipt.qr_payload) pasted or scanned into a form shows
HO's copy of that record, or says that HO has no such receipt, or that the
tag does not match HO's copy (the paper was not printed from it).

Anything typed into the form gets an answer in words, never an error page:
the text is checked piece by piece before the store is asked."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from host_tools.relay import ids
from host_tools.relay.web.held import copy
from host_tools.relay.web.render import render
from host_tools.relay.web.session import StaffDep, store_of
from till.formats import journal as J
from till.pos.receipt import QR_PREFIX

router = APIRouter(include_in_schema=False)
NAV = ("Receipt check", "/ho/receipt")

MAX_QR_CHARS = 200  # a real code is under 100: KASSA1, a till id of at most 65, a seq, 32 hex
_MAX_SEQ = 2**63 - 1
_TAG_HEX = 2 * J.TAG_BYTES


class NotAReceiptCode(ValueError):
    pass


@dataclass(frozen=True)
class Code:
    till_id: str
    seq: int
    tag_hex: str


def parse(text: str) -> Code:
    """A receipt's QR text, or NotAReceiptCode saying what is wrong with it."""
    text = text.strip()
    if len(text) > MAX_QR_CHARS:
        raise NotAReceiptCode(f"that is {len(text)} characters long; a receipt's code is under 100")
    parts = text.split("|")
    if parts[0] != QR_PREFIX:
        raise NotAReceiptCode(f"a receipt's code starts with {QR_PREFIX}|")
    if len(parts) != 4:
        raise NotAReceiptCode(f"a receipt's code has four parts, {QR_PREFIX}|till|receipt number|tag, "
                              f"this one has {len(parts)}")
    _, till_id, seq, tag = parts
    try:
        ids.split_till(till_id)
    except ids.BadId as exc:
        raise NotAReceiptCode(str(exc)) from None
    if not (seq.isascii() and seq.isdigit()) or not 0 < int(seq) <= _MAX_SEQ:
        raise NotAReceiptCode(f"the receipt number {seq!r} is not a number")
    tag = tag.lower()
    if len(tag) != _TAG_HEX or any(c not in "0123456789abcdef" for c in tag):
        raise NotAReceiptCode(f"the tag {tag!r} is not {_TAG_HEX} hexadecimal digits")
    return Code(till_id, int(seq), tag)


def check(request: Request, text: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, what the page shows) for one pasted code."""
    store = store_of(request)
    try:
        code = parse(text)
    except NotAReceiptCode as exc:
        return 422, {"outcome": "bad", "message": f"This is not a Kassa receipt code: {exc}."}
    if store.till_site(code.till_id) is None:
        return 404, {"outcome": "unknown", "code": code,
                     "message": f"Head office has no till {code.till_id}: this receipt was not printed "
                                "by a till of this chain, or the code was mistyped."}
    held = copy(store, code.till_id, code.seq)
    if held is None:
        highest = store.acks(till_id=code.till_id)[0].held
        return 404, {"outcome": "unknown", "code": code,
                     "message": f"Head office has no receipt {code.seq} from till {code.till_id} "
                                f"(it holds up to {highest}). A receipt printed since the till last synced "
                                "arrives with its next upload; otherwise this receipt is not genuine."}
    if not hmac.compare_digest(held["tag"], code.tag_hex):
        return 409, {"held": held, "code": code, "outcome": "mismatch",
                     "message": f"The tag does not match head office's copy of receipt {code.seq} from "
                                f"{code.till_id}: this paper was not printed from the record HO holds "
                                "(altered or forged). HO's copy is below."}
    return 200, {"held": held, "code": code, "outcome": "match",
                 "message": f"Genuine: receipt {code.seq} from {code.till_id} matches head office's copy."}


@router.get("/ho/receipt")
def receipt_page(request: Request, who: StaffDep, qr: str = "") -> Response:
    status, shown = check(request, qr) if qr.strip() else (200, {"outcome": None})
    response: Response = render(request, "receipt.html", who, status_code=status, qr=qr[:MAX_QR_CHARS * 2],
                                **shown)
    return response
