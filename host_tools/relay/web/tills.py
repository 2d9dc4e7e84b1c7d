"""Tills' health (`kassa ho tills` as a page): per till its last contact, how
far HO has processed its journal, gaps, chain breaks, quarantined records,
clock offset and flag, and what its gateway last saw of it (when, firmware,
free flash, HO data, printer); an admin clears a flag here, with a note.

A chain has thousands of tills, so the page shows PAGE_ROWS of them at a
time in till id order, optionally of one site; pages follow the last till
id shown (a cursor), so tills registered meanwhile never shift a page."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from host_tools.relay import ids
from host_tools.relay.store import StoreError
from host_tools.relay.web.fields import valid_id
from host_tools.relay.web.render import render
from host_tools.relay.web.session import PostedDep, Staff, StaffDep, require_admin, store_of

router = APIRouter(include_in_schema=False)
NAV = ("Tills", "/ho/tills")

CLOCK_WARN_S = 120      # a till clock this far off HO's is worth a look
SILENT_WARN_S = 86400   # a till not heard from for a day is worth a look
PAGE_ROWS = 50


def gaps_text(gaps: list[list[int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in gaps)


def health(t: dict[str, Any], now: int) -> tuple[str, str]:
    """(level, why) of one till: bad, warn or ok."""
    if t["flag"]:
        return "bad", "flagged"
    if t["chain_breaks"] or t["conflicts"]:
        return "bad", "chain broken" if t["chain_breaks"] else "conflicting copies"
    if t["total_mismatches"]:
        return "bad", "Z grand total differs"
    if t["quarantined"] or t["gaps"]:
        return "warn", "records set aside" if t["quarantined"] else "records missing"
    if t["clock_offset_s"] is not None and abs(t["clock_offset_s"]) > CLOCK_WARN_S:
        return "warn", "clock off"
    # Seen by its gateway (at hello), or else heard from (an upload).
    heard = max(t["last_seen"] or 0, t["last_contact"] or 0)
    if not heard or now - heard > SILENT_WARN_S:
        return "warn", "silent"
    return "ok", "healthy"


def _page(request: Request, who: Staff, error: str | None = None, done: str | None = None,
          status_code: int = 200, after: str = "", site: str = "") -> Response:
    store = store_of(request)
    now = store.now()
    errors = [error] if error else []
    site = valid_id(site, ids.check_site, errors)
    after = valid_id(after, ids.split_till, errors)
    rows = store.tills(after, PAGE_ROWS + 1, site or None)
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    for t in rows:
        t["level"], t["why"] = health(t, now)
        t["gaps_text"] = gaps_text(t["gaps"])
        t["missing"] = sum(b - a + 1 for a, b in t["gaps"])
    summary = {level: sum(t["level"] == level for t in rows) for level in ("ok", "warn", "bad")}
    base = {"site": site} if site else {}
    next_url = "/ho/tills?" + urlencode({**base, "after": rows[-1]["till"]}) if more else None
    first_url = "/ho/tills" + ("?" + urlencode(base) if base else "") if after else None
    if errors and status_code == 200:
        status_code = 422
    response: Response = render(request, "tills.html", who, status_code=status_code, tills=rows, now=now,
                                summary=summary, errors=errors, done=done, clock_warn_s=CLOCK_WARN_S,
                                total=store.till_count(site or None), site=site, paged=bool(after or more),
                                next_url=next_url, first_url=first_url)
    return response


@router.get("/ho/tills")
def tills_page(request: Request, who: StaffDep, cleared: str | None = None, after: str = "",
               site: str = "") -> Response:
    done = None
    if cleared is not None:
        try:
            ids.split_till(cleared)
            done = f"The flag on {cleared} is cleared: its uploads are stored again."
        except ids.BadId:
            pass
    return _page(request, who, done=done, after=after, site=site)


@router.post("/ho/tills/{site_id}/{till_name}/clear-flag")
def clear_flag(request: Request, site_id: str, till_name: str, post: PostedDep) -> Response:
    who, note = post.who, post.field("note")
    require_admin(who, "clearing a till's flag")
    try:
        till_id = ids.till_id(site_id, till_name)
    except ids.BadId as exc:
        return _page(request, who, error=str(exc), status_code=404)
    if not note.strip():
        return _page(request, who, error="Say why in the note: HO's journal keeps it.", status_code=422)
    try:
        store_of(request).clear_flag(till_id, who.name, note.strip())
    except StoreError as exc:
        return _page(request, who, error=str(exc), status_code=409)
    return RedirectResponse("/ho/tills?" + urlencode({"cleared": till_id}), status_code=303)
