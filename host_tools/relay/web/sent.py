"""Sent Data (Ginesys's name; `kassa ho sent` as a page): what HO published,
newest first, each message with its copy per site and, per site, each till's
acknowledgement (docs/relay-publish.md: statuses and their transitions)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from host_tools.relay import ids, publish
from host_tools.relay.web.fields import valid_choice, valid_id
from host_tools.relay.web.render import render
from host_tools.relay.web.session import StaffDep, store_of

router = APIRouter(include_in_schema=False)
NAV = ("Sent Data", "/ho/sent")
MESSAGES = 100  # newest first; older ones with `kassa ho sent --json`
SITES = 50      # per message; a Sync All reaches every site: the rest are counted, and a site filter shows one


@router.get("/ho/sent")
def sent_page(request: Request, who: StaffDep, site: str = "", status: str = "",
              published: str = "") -> Response:
    errors: list[str] = []
    site = valid_id(site, ids.check_site, errors)
    status = valid_choice(status, publish.DELIVERY_STATUSES, "Status", errors)
    messages = [] if errors else publish.sent(store_of(request), site or None, status or None, MESSAGES,
                                                        sites_per_message=SITES)
    response: Response = render(request, "sent.html", who, status_code=422 if errors else 200,
                                messages=messages, errors=errors, site=site, status=status,
                                statuses=publish.DELIVERY_STATUSES, limit=MESSAGES,
                                done=f"Published as message {published}: it waits at the relay (UPLOADED) until "
                                     "the sites' tills have applied it." if published.isdigit() else None)
    return response
