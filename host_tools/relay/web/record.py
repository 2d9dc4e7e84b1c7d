"""One record as HO holds it (linked from Received Data and Quarantine):
what an admin looks at before accepting or rejecting it."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from host_tools.relay import ids
from host_tools.relay.web.held import copy
from host_tools.relay.web.render import render
from host_tools.relay.web.session import StaffDep, store_of

router = APIRouter(include_in_schema=False)
NAV = None
_MAX_SEQ = 2**63 - 1


@router.get("/ho/record/{site_id}/{till_name}/{seq}")
def record_page(request: Request, who: StaffDep, site_id: str, till_name: str, seq: str) -> Response:
    try:
        till_id = ids.till_id(site_id, till_name)
    except ids.BadId as exc:
        return render(request, "error.html", who, status_code=404, title="No such record", message=f"{exc}.")
    held = None
    if seq.isascii() and seq.isdigit() and int(seq) <= _MAX_SEQ:
        held = copy(store_of(request), till_id, int(seq))
    response: Response = render(request, "record.html", who, status_code=200 if held else 404, till=till_id,
                                seq=seq, held=held, message=f"Head office holds no record {seq} of {till_id}.")
    return response
