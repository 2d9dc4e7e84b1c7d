"""Data Sync (Ginesys's Sync Selective / Sync All; `kassa ho publish` as a
page): an admin uploads a snapshot or delta package (`kassa snapshot build`
makes one) or a receipt logo, and publishes it to the chosen sites or to all.
It is checked before anything is stored, by the same code as the command
line and the API (packages.check_for_publishing, logos.logo_raster), and
refused with its reason, nothing stored. Sent Data then shows its way."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from host_tools.relay import packages, publish
from host_tools.relay.logos import logo_raster
from host_tools.relay.store import StoreError
from host_tools.relay.web.render import render
from host_tools.relay.web.session import (Staff, StaffDep, current_staff, read_upload, require_admin,
                                          sessions, store_of)

router = APIRouter(include_in_schema=False)
NAV = ("Data Sync", "/ho/sync")
LOGO_WIDTH_DOTS = 512  # 80 mm paper; `kassa ho publish --logo --width-dots` for others


def _sites(request: Request) -> list[dict[str, Any]]:
    """Sites with tills (only they can apply a package), with what waits there."""
    store = store_of(request)
    tills: dict[str, int] = {}
    for a in store.acks():
        site = a.till_id.split("/")[0]
        tills[site] = tills.get(site, 0) + 1
    return [{"site": s, "tills": n, "waiting": len(publish.pending(store, s))} for s, n in sorted(tills.items())]


def _page(request: Request, who: Staff, error: str | None = None, status_code: int = 200,
          chosen: list[str] | None = None) -> Response:
    store = store_of(request)
    snapshots = publish.snapshot_messages(store)[-5:][::-1]  # the newest five
    response: Response = render(request, "sync.html", who, status_code=status_code, sites=_sites(request),
                                snapshots=snapshots, error=error, chosen=set(chosen or ()),
                                latest=publish.latest_snapshot_version(store))
    return response


@router.get("/ho/sync")
def sync_page(request: Request, who: StaffDep) -> Response:
    return _page(request, who)


def _publish(request: Request, who: Staff, what: str, data: bytes, sites: list[str] | None) -> dict[str, Any]:
    store = store_of(request)
    if what == "logo":
        raster, info = logo_raster(data, LOGO_WIDTH_DOTS, True)
        return publish.publish(store, publish.LOGO, raster, info, sites, who.name).as_json()
    info = packages.check_for_publishing(store, data)
    return publish.publish(store, info["kind"], data, info, sites, who.name, version=info["version"]).as_json()


@router.post("/ho/sync")
async def sync(request: Request) -> Response:
    who = await run_in_threadpool(current_staff, request)
    require_admin(who, "publishing to sites")
    limit = request.app.state.web_limits.max_publish_bytes
    form = await read_upload(request, limit)
    csrf = form.get("csrf")
    sessions(request).check_csrf(request, csrf if isinstance(csrf, str) else "")
    sites = [s for s in form.getlist("site") if isinstance(s, str)]
    scope, what, upload = form.get("scope"), form.get("what"), form.get("file")
    if what not in ("package", "logo"):
        return await run_in_threadpool(_page, request, who, "Choose what to publish: a package or a logo.", 422,
                                       sites)
    data = b"" if upload is None or isinstance(upload, str) else await upload.read()
    if not data:
        return await run_in_threadpool(_page, request, who, "Choose the file to publish.", 422, sites)
    if scope == "selected" and not sites:
        return await run_in_threadpool(_page, request, who, "Tick the sites to publish to, or use Sync all.",
                                       422, sites)
    try:
        done = await run_in_threadpool(_publish, request, who, str(what), data,
                                       None if scope == "all" else sites)
    except (StoreError, ValueError) as exc:
        return await run_in_threadpool(_page, request, who, str(exc), 422, sites)
    query = urlencode({"published": done["message"]})
    return RedirectResponse(f"/ho/sent?{query}", status_code=303)
