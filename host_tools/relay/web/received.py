"""Received Data (Ginesys's name; `kassa ho received` as a page): every
record HO holds with its status, filtered by till and status, a page at a
time. Pages follow a (till, seq) cursor, so a page never repeats or skips a
row while records keep arriving."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from host_tools.relay import ids
from host_tools.relay.store import PROCESSED, QUARANTINED, REJECTED, UPLOADED, Store
from host_tools.relay.web.fields import valid_choice, valid_id
from host_tools.relay.web.render import render
from host_tools.relay.web.session import StaffDep, store_of

router = APIRouter(include_in_schema=False)
NAV = ("Received Data", "/ho/received")

STATUSES = (UPLOADED, PROCESSED, QUARANTINED, REJECTED)
PAGE_ROWS = 50
SUGGESTIONS = 500  # till ids offered in the filter field; any other can be typed
_MAX_SEQ = 2**63 - 1  # a BIGINT: beyond it PostgreSQL would refuse the query


def parse_cursor(value: str) -> tuple[str, int]:
    """`SITE/TILL:SEQ` (the last row of the previous page), or ValueError."""
    till, sep, seq = value.rpartition(":")
    if not sep or not seq.isdigit() or int(seq) > _MAX_SEQ:
        raise ValueError("the page link is damaged: start again from the first page")
    try:
        ids.split_till(till)
    except ids.BadId:
        raise ValueError("the page link is damaged: start again from the first page") from None
    return till, int(seq)


def records_page(store: Store, path: str, filters: dict[str, str], status: str | None, after: str,
                 page_rows: int, errors: list[str]) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """A page of received records (of filters["till"] if given, of `status`)
    after the cursor `after`, with the links to the next and the first page;
    a damaged cursor is a message in `errors` and no rows."""
    cursor = ("", 0)
    if after:
        try:
            cursor = parse_cursor(after)
        except ValueError as exc:
            errors.append(f"{str(exc).capitalize()}.")
    rows: list[dict[str, Any]] = []
    if not errors:
        rows = store.received_page(cursor, filters.get("till") or None, status, page_rows + 1)
    more = len(rows) > page_rows
    rows = rows[:page_rows]
    next_url = None
    if more:
        last = rows[-1]
        next_url = f"{path}?" + urlencode({**filters, "after": f"{last['till']}:{last['seq']}"})
    first_url = path + ("?" + urlencode(filters) if filters else "") if after else None
    return rows, next_url, first_url


@router.get("/ho/received")
def received_page(request: Request, who: StaffDep, till: str = "", status: str = "",
                  after: str = "") -> Response:
    store = store_of(request)
    errors: list[str] = []
    status = valid_choice(status, STATUSES, "Status", errors)
    till = valid_id(till, ids.split_till, errors)
    filters = {k: v for k, v in (("till", till), ("status", status)) if v}
    rows, next_url, first_url = records_page(store, "/ho/received", filters, status or None, after,
                                             PAGE_ROWS, errors)
    response: Response = render(
        request, "received.html", who, status_code=422 if errors else 200, rows=rows, errors=errors,
        till=till, status=status, statuses=STATUSES, till_ids=store.names("tills", SUGGESTIONS),
        next_url=next_url, first_url=first_url)
    return response
