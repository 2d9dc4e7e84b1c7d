"""The relay's HTTP routes for HO to sites (docs/relay-publish.md): the site's
mailbox (pending messages, blob downloads that resume, per-till
acknowledgements) and HO's publishing and Sent Data. Added to the app by
app.create_app; the auth helpers are app.py's."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from host_tools.relay import packages, pictures, publish
from host_tools.relay.app import SIGNED_IN, SiteFilter, Who, _ho, _own_site, _read_body, _store, errors
from host_tools.relay.config import Limits
from host_tools.relay.logos import logo_raster
from host_tools.relay.store import Store

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class MessageOut(BaseModel):
    id: int
    kind: str = Field(description="snapshot, delta, logo or pictures")
    sha256: str = Field(description="the message's blob: GET /v1/sites/{site}/blobs/{sha256}")
    size: int
    created_at: int
    info: dict[str, Any]
    scope: str = Field(description="tills: each till listed acknowledges; site: the site acknowledges (till null)")
    tills: list[str] = Field(description="the site's tills that have not acknowledged it yet")


class AckIn(BaseModel):
    till: str | None = Field(default=None, description="the till's name (e.g. till-1); null for a site-wide "
                                                       "message (pictures)")
    result: Literal["applied", "failed"]
    reason: str | None = Field(default=None, description="why it failed (required with failed)")


class AckOut(BaseModel):
    message: int
    till: str | None
    status: str = Field(description="the till's status now: PROCESSED or FAILED")
    outcome: str = Field(description="recorded, or duplicate (the same acknowledgement again: nothing changed)")
    message_status: str = Field(description="the site's copy: UPLOADED, PROCESSED, FAILED or SUPERSEDED")


class SupersededOut(BaseModel):
    message: int
    site: str


class PublishedOut(BaseModel):
    message: int
    kind: str
    sha256: str
    size: int
    sites: list[str]
    superseded: list[SupersededOut]
    skipped: dict[str, str]
    duplicate: bool = Field(description="true: the Idempotency-Key of an earlier publish; this is its message")


class TargetOut(BaseModel):
    till: str | None
    status: str
    reason: str | None
    at: int | None


class DeliveryOut(BaseModel):
    site: str
    status: str
    status_at: int
    tills: list[TargetOut]


class SentOut(BaseModel):
    id: int
    kind: str
    sha256: str
    size: int
    info: dict[str, Any]
    created_at: int
    created_by: str
    sites: list[DeliveryOut]


def byte_range(header: str | None, offset: int | None, size: int) -> tuple[int, int] | None:
    """[start, end) of the bytes asked for (a `Range: bytes=...` header, RFC
    9110 §14, one range; or an offset), or None for the whole blob."""
    if header is not None:
        m = _RANGE.match(header.strip())
        if m is None:
            raise HTTPException(416, "send one range as bytes=START-END, bytes=START- or bytes=-LAST",
                                headers={"Content-Range": f"bytes */{size}"})
        first, last = m.group(1), m.group(2)
        if first:
            start, end = int(first), (int(last) + 1 if last else size)
        elif last:
            start, end = max(size - int(last), 0), size
        else:
            raise HTTPException(416, "an empty range", headers={"Content-Range": f"bytes */{size}"})
        if start >= size or end <= start:
            raise HTTPException(416, f"the blob has {size} bytes; the range asked for is outside it",
                                headers={"Content-Range": f"bytes */{size}"})
        return start, min(end, size)
    if offset:
        if offset >= size:
            raise HTTPException(416, f"the blob has {size} bytes; offset {offset} is at or past its end",
                                headers={"Content-Range": f"bytes */{size}"})
        return offset, size
    return None


def _sites(site: list[str], all_sites: bool) -> list[str] | None:
    if all_sites == bool(site):
        raise HTTPException(422, "name the sites (site=S001&site=S002) or all=true, not both nor neither")
    return None if all_sites else site


async def _read_upload(request: Request, limit: int) -> bytes:
    body = await _read_body(request, limit, "a published file is at most {limit} bytes")
    if not body:
        raise HTTPException(400, "the request has no body: send the file's bytes")
    return body


def _publish_snapshot(store: Store, data: bytes, sites: list[str] | None, actor: str,
                      key: str | None) -> dict[str, Any]:
    info = packages.check_for_publishing(store, data)
    return publish.publish(store, info["kind"], data, info, sites, actor, version=info["version"],
                           idempotency_key=key).as_json()


def _publish_logo(store: Store, data: bytes, sites: list[str] | None, actor: str, width_dots: int,
                  dither: bool, key: str | None) -> dict[str, Any]:
    raster, info = logo_raster(data, width_dots, dither)
    return publish.publish(store, publish.LOGO, raster, info, sites, actor, idempotency_key=key).as_json()


IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=100, description=(
    "any unique string: the same publish sent again with it (after a lost answer) gets the first answer, "
    "nothing is published twice"))]


def add_routes(app: FastAPI, limits: Limits) -> None:
    publish_body = {"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
    refused = errors(400, *SIGNED_IN, 409, 413, e400="no body", e403="not an HO admin",
                     e409="refused, with the reason", e422="sites not given, or a parameter not valid")

    @app.get("/v1/sites/{site_id}/messages", response_model=list[MessageOut],
             summary="what HO published for this site that its tills have still to apply, oldest first",
             responses=errors(*SIGNED_IN, 404))
    def site_messages(request: Request, site_id: str, who: Who) -> Any:
        _own_site(who, site_id)
        return publish.pending(_store(request), site_id)

    @app.get("/v1/sites/{site_id}/blobs/{sha256}", response_class=Response,
             summary="download a blob published to this site; Range or offset resumes an interrupted download",
             responses={200: {"content": {"application/octet-stream": {}}},
                        206: {"description": "the part asked for (Content-Range)",
                              "content": {"application/octet-stream": {}}},
                        **errors(*SIGNED_IN, 404, 416, e404="not published to this site",
                                 e416="range outside the blob")})
    def site_blob(request: Request, site_id: str, sha256: str, who: Who,
                  offset: Annotated[int | None, Query(ge=0, description="first byte to send")] = None) -> Response:
        _own_site(who, site_id)
        if not publish.is_sha256(sha256):
            raise HTTPException(404, f"{sha256!r} is not a SHA-256 in lower-case hex")
        store = _store(request)
        size = publish.site_blob_size(store, site_id, sha256) if who.kind == "site" else \
            publish.blob_size(store, sha256)
        if size is None:
            raise HTTPException(404, f"no blob {sha256} was published to site {site_id}")
        part = byte_range(request.headers.get("range"), offset, size)
        start, end = part if part is not None else (0, size)
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha256}"', "Content-Length": str(end - start)}
        if part is not None:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        return StreamingResponse(publish.read_blob(store, sha256, start, end), status_code=206 if part else 200,
                                 media_type="application/octet-stream", headers=headers)

    @app.post("/v1/sites/{site_id}/messages/{message_id}/ack", response_model=AckOut,
              summary="a till applied a message, or failed to (idempotent)",
              responses=errors(400, *SIGNED_IN, 404, 409, e400="the body is not JSON",
                               e403="another site's message", e404="not this site's message or till",
                               e409="a failure after the till acknowledged applying it",
                               e422="malformed acknowledgement"))
    def site_ack(request: Request, site_id: str, message_id: int, body: AckIn, who: Who) -> Any:
        if who.kind != "site":
            raise HTTPException(403, "acknowledgements come with the site's token")
        _own_site(who, site_id)
        try:
            return publish.acknowledge(_store(request), site_id, message_id, body.till, body.result == "applied",
                                       body.reason)
        except publish.AckError as exc:
            raise HTTPException(exc.status, str(exc)) from None

    @app.post("/v1/ho/publish/snapshot", response_model=PublishedOut, openapi_extra=publish_body,
              responses=refused, summary="publish a snapshot package (full or delta), checked as a till would "
                                         "install it, to some sites or all (HO admin)")
    async def ho_publish_snapshot(request: Request, who: Who, site: Annotated[list[str], Query()] = [],  # noqa: B006
                                  all: bool = False, idempotency_key: IdempotencyKey = None) -> Any:
        _ho(who, admin=True)
        sites = _sites(site, all)
        data = await _read_upload(request, limits.max_publish_bytes)
        return await run_in_threadpool(_publish_snapshot, _store(request), data, sites, who.name, idempotency_key)

    @app.post("/v1/ho/publish/logo", response_model=PublishedOut, openapi_extra=publish_body, responses=refused,
              summary="publish a receipt logo (any image; converted to the printer's raster) (HO admin)")
    async def ho_publish_logo(request: Request, who: Who, site: Annotated[list[str], Query()] = [],  # noqa: B006
                              all: bool = False,
                              width_dots: Annotated[int, Query(ge=8, le=576)] = 512, dither: bool = True,
                              idempotency_key: IdempotencyKey = None) -> Any:
        _ho(who, admin=True)
        sites = _sites(site, all)
        data = await _read_upload(request, limits.max_publish_bytes)
        return await run_in_threadpool(_publish_logo, _store(request), data, sites, who.name, width_dots, dither,
                                       idempotency_key)

    @app.get("/v1/ho/sent", response_model=list[SentOut],
             summary="Sent Data: messages with their statuses per site and per till (HO)",
             responses=errors(*SIGNED_IN))
    def ho_sent(request: Request, who: Who, site: SiteFilter = None,
                status: Annotated[str | None, Query(pattern=f"^({'|'.join(publish.DELIVERY_STATUSES)})$")] = None,
                limit: Annotated[int, Query(ge=1)] = 100) -> Any:
        _ho(who)
        return publish.sent(_store(request), site, status, min(limit, limits.max_page))

    @app.get("/v1/ho/pictures", summary="picture pairs with their last run (HO)", responses=errors(*SIGNED_IN))
    def ho_pictures(request: Request, who: Who) -> Any:
        _ho(who)
        return pictures.pairs(_store(request))
