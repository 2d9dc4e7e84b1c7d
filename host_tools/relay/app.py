"""The relay's HTTP API (FastAPI; the OpenAPI schema is served at
/openapi.json, the API is described in docs/relay.md).

Every handler gets the store and the limits from the app it was built with
(create_app), never from a global. Errors a client can cause are 4xx with a
`detail` saying what to do; a database that cannot be reached is 503.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from host_tools.relay import ids, ingest, processing
from host_tools.relay.auth import Principal
from host_tools.relay.config import RelayConfig
from host_tools.relay.store import PROCESSED, QUARANTINED, REJECTED, UPLOADED, Store, StoreError

log = logging.getLogger("kassa.relay")
_bearer = HTTPBearer(auto_error=False, description="`site.<site>.<secret>` or `user.<name>.<secret>`")
STATUSES = (UPLOADED, PROCESSED, QUARANTINED, REJECTED)


class AckOut(BaseModel):
    seq: int
    outcome: str
    status: str
    sha256: str
    received_at: int


class BatchOut(BaseModel):
    till: str
    acks: list[AckOut]
    conflicts: int
    flag: str | None


class TillAckOut(BaseModel):
    till: str
    processed: int
    held: int
    flag: str | None


class ResolveIn(BaseModel):
    action: str
    note: str


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def principal(request: Request,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None:
        raise HTTPException(401, "sign in: send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    who = _store(request).authenticate(creds.credentials)
    if who is None:
        raise HTTPException(401, "the token is not valid (unknown, mistyped or replaced)",
                            headers={"WWW-Authenticate": "Bearer"})
    return who


Who = Annotated[Principal, Depends(principal)]


def _ho(who: Principal, admin: bool = False) -> None:
    if who.kind != "user":
        raise HTTPException(403, "this is head office's view: sign in with an HO user's token")
    if admin and who.role != "admin":
        raise HTTPException(403, f"user {who.name} is a {who.role}; this needs an admin")


def _own_site(who: Principal, site_id: str) -> None:
    try:
        ids.check_site(site_id)
    except ids.BadId as exc:
        raise HTTPException(404, str(exc)) from None
    if who.kind == "site" and who.name != site_id:
        raise HTTPException(403, f"site {who.name} may read and write only its own mailbox, not {site_id}'s")


def _till_of(store: Store, site_id: str, till_name: str) -> str:
    try:
        till_id = ids.till_id(site_id, till_name)
    except ids.BadId as exc:
        raise HTTPException(404, str(exc)) from None
    if store.till_site(till_id) != site_id:
        raise HTTPException(404, f"no till {till_id} is registered at head office "
                                 "(`kassa ho till add` registers it)")
    return till_id


async def _read_body(request: Request, limit: int,
                     too_big: str = "a batch is at most {limit} bytes; send fewer records per batch") -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPException(413, too_big.format(limit=limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, too_big.format(limit=limit))
    return bytes(body)


def _worker(store: Store, interval_s: float, stop: threading.Event) -> None:
    """The relay's own processor: a round whenever interval_s passes."""
    while not stop.wait(interval_s):
        try:
            processing.process(store)
        except Exception:  # a database hiccup must not end the worker; the next round retries
            log.exception("processing round failed; retrying in %s s", interval_s)


def create_app(config: RelayConfig, store: Store | None = None) -> FastAPI:
    """The relay app. With no store given, it opens config.database_url at start
    (creating or upgrading the schema) and closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from host_tools.relay.store import open_store

        own = store is None
        app.state.store = open_store(config.database_url, pool_size=config.pool_size) if own else store
        stop = threading.Event()
        worker = None
        if config.worker_interval_s is not None:
            worker = threading.Thread(target=_worker, args=(app.state.store, config.worker_interval_s, stop),
                                      name="kassa-relay-worker", daemon=True)
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=30)
            if own:
                app.state.store.close()

    app = FastAPI(title="Kassa relay", version="1",
                  description="Head office's relay: sites upload journal records, HO processes them, "
                              "gateways read acknowledgements. See docs/relay.md.",
                  lifespan=lifespan)
    if store is not None:
        app.state.store = store
    limits = config.limits

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    try:
        import psycopg

        @app.exception_handler(psycopg.OperationalError)
        async def db_down(request: Request, exc: Exception) -> JSONResponse:
            log.error("database unavailable: %s", exc)
            return JSONResponse({"detail": "head office's database is not reachable; retry later"},
                                status_code=503, headers={"Retry-After": "5"})
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass

    @app.get("/healthz", summary="liveness: the relay answers and its database is reachable")
    def healthz(request: Request) -> dict[str, Any]:
        return {"ok": True, "schema": _store(request).schema_version()}

    @app.post(
        "/v1/sites/{site_id}/tills/{till_name}/records", response_model=BatchOut,
        summary="upload one till's journal records (answered after commit)",
        openapi_extra={"requestBody": {"required": True, "content": {
            ingest.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
        responses={400: {"description": "not CBOR"}, 401: {"description": "no or bad token"},
                   403: {"description": "another site's till"}, 404: {"description": "unknown till"},
                   409: {"description": "till flagged"}, 413: {"description": "over a size limit"},
                   415: {"description": "not application/cbor-seq"},
                   422: {"description": "not journal records in order"}})
    async def upload(request: Request, site_id: str, till_name: str, who: Who,
                     head: Annotated[int | None, Query(ge=0, description="the till's newest journal seq")] = None,
                     till_time: Annotated[int | None, Query(ge=0, description="the till's clock, Unix s")] = None,
                     ) -> Any:
        if who.kind != "site":
            raise HTTPException(403, "records are uploaded with the site's token")
        _own_site(who, site_id)
        store = _store(request)
        till_id = await run_in_threadpool(_till_of, store, site_id, till_name)
        media = request.headers.get("content-type", "").split(";")[0].strip()
        if media != ingest.MEDIA_TYPE:
            raise HTTPException(415, f"send the records as {ingest.MEDIA_TYPE}, not {media or 'nothing'}")
        body = await _read_body(request, limits.max_batch_bytes)
        try:
            items = ingest.split_batch(body, limits, head)
        except ingest.BatchError as exc:
            raise HTTPException(exc.status, exc.reason) from None
        result = await run_in_threadpool(store.store_batch, till_id, items, head, till_time)
        if result.flag is not None and not result.acks:
            raise HTTPException(409, f"till {till_id} is flagged at head office: {result.flag}. "
                                     "Nothing was stored; HO must clear the flag (`kassa ho till clear-flag`)")
        return {"till": till_id, "acks": [a.as_json() for a in result.acks],
                "conflicts": sum(a.outcome == "conflict" for a in result.acks), "flag": result.flag}

    @app.get("/v1/sites/{site_id}/acks", response_model=list[TillAckOut],
             summary="per till of a site: the highest sequence up to which every record is resolved")
    def site_acks(request: Request, site_id: str, who: Who) -> Any:
        _own_site(who, site_id)
        return [a.as_json() for a in _store(request).acks(site_id=site_id)]

    @app.get("/v1/sites/{site_id}/tills/{till_name}/ack", response_model=TillAckOut,
             summary="one till's acknowledgement")
    def till_ack(request: Request, site_id: str, till_name: str, who: Who) -> Any:
        _own_site(who, site_id)
        till_id = _till_of(_store(request), site_id, till_name)
        return _store(request).acks(till_id=till_id)[0].as_json()

    @app.get("/v1/ho/tills", summary="every till's health (HO)")
    def ho_tills(request: Request, who: Who) -> Any:
        _ho(who)
        return _store(request).tills()

    @app.get("/v1/ho/received", summary="received records with their statuses (HO)")
    def ho_received(request: Request, who: Who, till: str | None = None, status: str | None = None,
                    after_seq: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1)] = 100) -> Any:
        _ho(who)
        if status is not None and status not in STATUSES:
            raise HTTPException(422, f"status is one of {', '.join(STATUSES)}")
        return _store(request).received(till, status, after_seq, min(limit, limits.max_page))

    @app.get("/v1/ho/sales", summary="consolidated sales per site and day (HO)")
    def ho_sales(request: Request, who: Who, site: str | None = None,
                 day_from: str | None = None, day_to: str | None = None) -> Any:
        _ho(who)
        return _store(request).sales(site, day_from, day_to)

    @app.get("/v1/ho/closings", summary="Z closings received (HO)")
    def ho_closings(request: Request, who: Who, till: str | None = None) -> Any:
        _ho(who)
        return _store(request).closings(till)

    @app.get("/v1/ho/feed", summary="the ERP feed: processed sales, stornos and closings as JSON lines",
             response_class=Response, responses={200: {"content": {"application/x-ndjson": {}}}})
    def ho_feed(request: Request, who: Who, after: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1)] = 1000) -> Response:
        _ho(who)
        rows = _store(request).feed(after, min(limit, limits.max_page))
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        return Response(text, media_type="application/x-ndjson")

    @app.get("/v1/ho/quarantine", summary="quarantined records with their reasons (HO)")
    def ho_quarantine(request: Request, who: Who, till: str | None = None) -> Any:
        _ho(who)
        return _store(request).quarantine(till)

    @app.post("/v1/ho/quarantine/{site_id}/{till_name}/{seq}",
              summary="accept or reject a quarantined record (HO admin), with a note")
    def ho_resolve(request: Request, site_id: str, till_name: str, seq: int, body: ResolveIn,
                   who: Who) -> Any:
        _ho(who, admin=True)
        if body.action not in ("accept", "reject"):
            raise HTTPException(422, "action is accept or reject")
        store = _store(request)
        till_id = _till_of(store, site_id, till_name)
        status = processing.resolve(store, till_id, seq, body.action == "accept", who.name, body.note)
        return {"till": till_id, "seq": seq, "status": status}

    from host_tools.relay import outbox_api  # HO to sites: publishing, the sites' mailboxes
    outbox_api.add_routes(app, limits)
    from host_tools.relay.web import mount  # HO staff's pages under /ho/ (docs/relay-web.md)

    mount(app, config)
    return app
