"""Product pictures in echo mode (`kassa ho pictures` as a page): the named
folder pairs (HO master folder -> a site's folder), what each site has
acknowledged, and each pair's last run (copied, updated, deleted, unchanged,
failed); an admin runs one pair or all. A run publishes what changed
(pictures.run_pair, the same as the command line) and its summary is shown
when it ends; pairs are added, renamed and removed with `kassa ho pictures
pair`, where the master folders are."""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from host_tools.relay import pictures
from host_tools.relay.store import StoreError
from host_tools.relay.web.render import render
from host_tools.relay.web.session import PostedDep, Staff, StaffDep, require_admin, store_of

router = APIRouter(include_in_schema=False)
NAV = ("Pictures", "/ho/pictures")


def _page(request: Request, who: Staff, error: str | None = None, ran: str = "",
          status_code: int = 200) -> Response:
    pairs = pictures.pairs(store_of(request))
    names = {p["name"] for p in pairs}
    just_ran = [n for n in ran.split(",") if n in names]
    response: Response = render(request, "pictures.html", who, status_code=status_code, pairs=pairs,
                                error=error, ran=just_ran)
    return response


@router.get("/ho/pictures")
def pictures_page(request: Request, who: StaffDep, ran: str = "") -> Response:
    return _page(request, who, ran=ran)


@router.post("/ho/pictures/run")
def run(request: Request, post: PostedDep) -> Response:
    require_admin(post.who, "running a picture pair")
    name = post.field("pair") or None
    try:
        summaries = pictures.run(store_of(request), name, post.who.name)
    except StoreError as exc:
        return _page(request, post.who, error=f"{exc}.", status_code=409)
    return RedirectResponse("/ho/pictures?" + urlencode({"ran": ",".join(s.pair for s in summaries)}),
                            status_code=303)
