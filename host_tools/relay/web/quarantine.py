"""Quarantine (`kassa ho quarantine show/accept/reject` as a page): records
set aside with their reasons; an admin accepts (counts) or rejects (keeps as
evidence only) each, with a note kept in HO's journal, through the same
processing.resolve as the command line."""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from host_tools.relay import ids, processing
from host_tools.relay.store import PROCESSED, QUARANTINED, REJECTED, StoreError
from host_tools.relay.web.fields import valid_id
from host_tools.relay.web.received import records_page
from host_tools.relay.web.render import render
from host_tools.relay.web.session import PostedDep, Staff, StaffDep, require_admin, store_of

router = APIRouter(include_in_schema=False)
NAV = ("Quarantine", "/ho/quarantine")
RECENT_DECISIONS = 10
PAGE_ROWS = 50  # records a page; the rest follow the (till, seq) cursor, as on Received Data


def _page(request: Request, who: Staff, till: str = "", error: str | None = None,
          done: str | None = None, status_code: int = 200, after: str = "") -> Response:
    store = store_of(request)
    errors: list[str] = []
    till = valid_id(till, ids.split_till, errors)
    base = {"till": till} if till else {}
    rows, next_url, first_url = records_page(store, "/ho/quarantine", base, QUARANTINED, after, PAGE_ROWS,
                                             errors)
    if errors:
        error, status_code = errors[0], 422
    decisions = store.ho_journal(("accept", "reject", "clear-flag"), newest=RECENT_DECISIONS)
    response: Response = render(request, "quarantine.html", who, status_code=status_code, rows=rows,
                                till=till, error=error, done=done, next_url=next_url, first_url=first_url,
                                decisions=decisions[::-1][:RECENT_DECISIONS])
    return response


@router.get("/ho/quarantine")
def quarantine_page(request: Request, who: StaffDep, till: str = "", done: str = "",
                    after: str = "") -> Response:
    message = None
    parts = done.split("|")
    if len(parts) == 3 and parts[1].isdigit() and parts[2] in (PROCESSED, REJECTED):
        try:
            ids.split_till(parts[0])
            verb = "accepted: it is counted" if parts[2] == PROCESSED else "rejected: kept as evidence, not counted"
            message = f"Record {parts[1]} of {parts[0]} is {verb}."
        except ids.BadId:
            pass
    return _page(request, who, till, done=message, after=after)


@router.post("/ho/quarantine/{site_id}/{till_name}/{seq}")
def resolve(request: Request, site_id: str, till_name: str, seq: str, post: PostedDep) -> Response:
    who, action, note = post.who, post.field("action"), post.field("note")
    require_admin(who, "accepting or rejecting a quarantined record")
    try:
        till_id = ids.till_id(site_id, till_name)
    except ids.BadId as exc:
        return _page(request, who, error=f"{exc}.", status_code=404)
    if not seq.isdigit() or int(seq) > 2**63 - 1:
        return _page(request, who, error=f"There is no record {seq!r}.", status_code=404)
    if action not in ("accept", "reject"):
        return _page(request, who, error="Choose Accept or Reject.", status_code=422)
    if not note.strip():
        return _page(request, who, error=f"Say why you {action} record {seq} of {till_id} in the note: "
                                         "HO's journal keeps it.", status_code=422)
    try:
        status = processing.resolve(store_of(request), till_id, int(seq), action == "accept", who.name,
                                    note.strip())
    except StoreError as exc:
        return _page(request, who, error=f"{exc}.", status_code=409)
    done = urlencode({"done": f"{till_id}|{int(seq)}|{status}"})
    return RedirectResponse(f"/ho/quarantine?{done}", status_code=303)
