"""The relay's HTTP API (FastAPI; the OpenAPI schema is served at
/openapi.json, the API is described in docs/relay.md).

Every handler gets the store and the limits from the app it was built with
(create_app), never from a global. Errors a client can cause are 4xx with a
`detail` saying what to do; a database that cannot be reached is 503.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from host_tools.relay import ids, ingest, processing
from host_tools.relay.auth import Principal
from host_tools.relay.config import RelayConfig
from host_tools.relay.schema import MAX_BIGINT
from host_tools.relay.store import Store, StoreError

log = logging.getLogger("kassa.relay")
_bearer = HTTPBearer(auto_error=False, description="`site.<site>.<secret>` or `user.<name>.<secret>`")
# The statuses of a received record (store.py), as the API spells them.
Status = Literal["UPLOADED", "PROCESSED", "QUARANTINED", "REJECTED"]


class Problem(BaseModel):
    """Every error answer: `detail` says what happened and what to do. It is a
    list (FastAPI's field errors) only for a parameter that fails its type."""
    detail: str | list[dict[str, Any]]


_ERRORS = {
    400: "the body is not what the operation takes (e.g. not CBOR)",
    401: "no token, or one the relay does not know (unknown, mistyped or replaced)",
    403: "the token is valid but may not do this (another site's mailbox, a site on HO's views, "
         "a viewer deciding)",
    404: "no such site or till (ids are checked, then looked up among the registered tills)",
    409: "refused in the state HO holds (a flagged till, a record not quarantined)",
    413: "over a size limit",
    415: "the wrong Content-Type",
    422: "a parameter or the body is not valid",
    503: "head office's database is busy or not reachable; nothing was stored; retry after Retry-After seconds",
}


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes an operation can answer, each a
    Problem; `described` (e.g. e403="...") words one code for the operation."""
    return {code: {"model": Problem, "description": described.get(f"e{code}") or _ERRORS[code]}
            for code in codes}


# Every operation that takes a token can answer these.
SIGNED_IN = (401, 403, 422, 503)

# Query parameters: integers the database can hold, ids and days by their
# rules (a value beyond them is a 422 naming the rule, never a database error).
Count = Annotated[int, Query(ge=0, le=MAX_BIGINT)]
TillFilter = Annotated[str | None, Query(pattern=ids.TILL_PATTERN, description="a till id, SITE/TILL")]
SiteFilter = Annotated[str | None, Query(pattern=ids.SITE_PATTERN, description="a site id")]
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD (UTC)")]


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
    action: Literal["accept", "reject"]
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

    @app.exception_handler(ids.BadId)
    async def bad_id(request: Request, exc: ids.BadId) -> JSONResponse:
        # An id given as a parameter or in a body (path ids are answered 404
        # where they are read); the message says what an id looks like.
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    async def db_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", exc)
        return JSONResponse({"detail": "head office's database is busy or not reachable; retry later"},
                            status_code=503, headers={"Retry-After": "5"})

    # SQLite: still locked by another writer after the busy timeout, or the
    # disk full or failing; nothing was stored, a retry may succeed.
    app.add_exception_handler(sqlite3.OperationalError, db_down)
    try:
        import psycopg

        app.add_exception_handler(psycopg.OperationalError, db_down)  # PoolTimeout is one too
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass

    @app.get("/healthz", summary="liveness: the relay answers and its database is reachable",
             responses=errors(503))
    def healthz(request: Request) -> dict[str, Any]:
        return {"ok": True, "schema": _store(request).schema_version()}

    @app.post(
        "/v1/sites/{site_id}/tills/{till_name}/records", response_model=BatchOut,
        summary="upload one till's journal records (answered after commit)",
        openapi_extra={"requestBody": {"required": True, "content": {
            ingest.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
        responses=errors(400, *SIGNED_IN, 404, 409, 413, 415,
                         e400="an item of the batch is not CBOR",
                         e403="an HO user's token, or another site's till",
                         e409="the till is flagged at HO: nothing was stored",
                         e415="not application/cbor-seq",
                         e422="an item is not a journal record, records not in ascending order, "
                              "or a record beyond `head`"))
    async def upload(request: Request, site_id: str, till_name: str, who: Who,
                     head: Annotated[int | None, Query(ge=0, le=MAX_BIGINT,
                                                       description="the till's newest journal seq")] = None,
                     till_time: Annotated[int | None, Query(ge=0, le=MAX_BIGINT,
                                                            description="the till's clock, Unix s")] = None,
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
        # Built as BatchOut documents it (tests check it against the schema),
        # written without pydantic or a dict per ack: with thousands of acks
        # per batch those were a third of the relay's ingest time
        # (bench/bench_relay.py).
        conflicts = sum(a.outcome == "conflict" for a in result.acks)
        return Response(f'{{"till":{json.dumps(till_id)},"acks":[{",".join(a.json_text() for a in result.acks)}],'
                        f'"conflicts":{conflicts},"flag":{json.dumps(result.flag)}}}',
                        media_type="application/json")

    @app.get("/v1/sites/{site_id}/acks", response_model=list[TillAckOut],
             summary="per till of a site: the highest sequence up to which every record is resolved",
             responses=errors(*SIGNED_IN, 404))
    def site_acks(request: Request, site_id: str, who: Who) -> Any:
        _own_site(who, site_id)
        return [a.as_json() for a in _store(request).acks(site_id=site_id)]

    @app.get("/v1/sites/{site_id}/tills/{till_name}/ack", response_model=TillAckOut,
             summary="one till's acknowledgement", responses=errors(*SIGNED_IN, 404))
    def till_ack(request: Request, site_id: str, till_name: str, who: Who) -> Any:
        _own_site(who, site_id)
        till_id = _till_of(_store(request), site_id, till_name)
        return _store(request).acks(till_id=till_id)[0].as_json()

    @app.get("/v1/ho/tills", summary="every till's health (HO)",
             responses=errors(*SIGNED_IN))
    def ho_tills(request: Request, who: Who, site: SiteFilter = None,
                 after: Annotated[str | None, Query(pattern=ids.TILL_PATTERN,
                                                    description="the last till id of the previous page")] = None,
                 limit: Annotated[int, Query(ge=1)] = 1000) -> Any:
        _ho(who)
        return _store(request).tills(after or "", min(limit, limits.max_page), site)

    @app.get("/v1/ho/received", summary="received records with their statuses (HO)",
             responses=errors(*SIGNED_IN))
    def ho_received(request: Request, who: Who, till: TillFilter = None, status: Status | None = None,
                    after_seq: Count = 0, limit: Annotated[int, Query(ge=1)] = 100) -> Any:
        _ho(who)
        return _store(request).received(till, status, after_seq, min(limit, limits.max_page))

    @app.get("/v1/ho/sales", summary="consolidated sales per site and day (HO)",
             responses=errors(*SIGNED_IN))
    def ho_sales(request: Request, who: Who, site: SiteFilter = None,
                 day_from: Day = None, day_to: Day = None) -> Any:
        _ho(who)
        return _store(request).sales(site, day_from, day_to)

    @app.get("/v1/ho/closings", summary="Z closings received (HO)",
             responses=errors(*SIGNED_IN))
    def ho_closings(request: Request, who: Who, till: TillFilter = None) -> Any:
        _ho(who)
        return _store(request).closings(till)

    @app.get("/v1/ho/feed", summary="the ERP feed: processed sales, stornos, cash movements and closings as JSON lines",
             response_class=Response, responses={200: {"content": {"application/x-ndjson": {}}},
                                                 **errors(*SIGNED_IN)})
    def ho_feed(request: Request, who: Who, after: Count = 0,
                limit: Annotated[int, Query(ge=1)] = 1000) -> Response:
        _ho(who)
        rows = _store(request).feed(after, min(limit, limits.max_page))
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        return Response(text, media_type="application/x-ndjson")

    @app.get("/v1/ho/quarantine", summary="quarantined records with their reasons (HO)",
             responses=errors(*SIGNED_IN))
    def ho_quarantine(request: Request, who: Who, till: TillFilter = None) -> Any:
        _ho(who)
        return _store(request).quarantine(till)

    @app.post("/v1/ho/quarantine/{site_id}/{till_name}/{seq}",
              summary="accept or reject a quarantined record (HO admin), with a note",
              responses=errors(400, *SIGNED_IN, 404, 409, e400="the body is not JSON",
                               e409="the record is not quarantined, or the note is empty"))
    def ho_resolve(request: Request, site_id: str, till_name: str,
                   seq: Annotated[int, Path(ge=1, le=MAX_BIGINT)], body: ResolveIn,
                   who: Who) -> Any:
        _ho(who, admin=True)
        store = _store(request)
        till_id = _till_of(store, site_id, till_name)
        status = processing.resolve(store, till_id, seq, body.action == "accept", who.name, body.note)
        return {"till": till_id, "seq": seq, "status": status}

    from host_tools.relay import outbox_api  # HO to sites: publishing, the sites' mailboxes
    outbox_api.add_routes(app, limits)
    from host_tools.relay import till_status  # what the gateways saw of their tills
    till_status.add_routes(app)
    from host_tools.relay.web import mount  # HO staff's pages under /ho/ (docs/relay-web.md)

    mount(app, config)
    return app
