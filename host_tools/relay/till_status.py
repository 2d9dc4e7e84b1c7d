"""`PUT /v1/sites/{site}/tills/{till}/status`: what a site's gateway last saw
of one of its tills at hello (firmware, clock offset, free flash, HO data in
force, printer), so HO knows each till's firmware and when it was last seen
even on a day it uploads nothing (docs/relay.md). Added to the app by
app.create_app; the auth helpers are app.py's.

Every field is checked here (numbers whole and in range, never a string;
text by pattern; nothing unknown): a malformed or forged report is a 4xx and changes
nothing, as an upload's is."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from host_tools.relay.app import SIGNED_IN, Who, _own_site, _store, _till_of, errors
from host_tools.relay.schema import MAX_BIGINT
from host_tools.relay.store import TillStatus

# A gateway's clock may run this far ahead of HO's (the gateway sets the
# tills' clocks from its own); a report seen later than that is refused.
SEEN_AHEAD_S = 300
# A clock off by more than a century is not a clock reading.
_MAX_OFFSET_S = 100 * 366 * 86400


def _whole(value: object) -> object:
    """A JSON number with no fraction (JSON Schema's integer: 812000 or
    812000.0), never a string or a boolean that pydantic's lax int would
    turn into one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
Count = Annotated[Whole, Field(ge=0, le=MAX_BIGINT)]  # what a BIGINT column holds, from 0


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seen_at: Count = Field(description="when the till last answered the gateway's hello, Unix s (gateway's clock)")
    firmware: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$",
                          description="the firmware version the till reported, e.g. 0.1.0")
    clock_offset_s: Annotated[Whole, Field(ge=-_MAX_OFFSET_S, le=_MAX_OFFSET_S)] | None = Field(
        default=None, description="the till's clock minus the gateway's before the gateway set it, "
                                  "seconds; null: the till's clock had never been set")
    free_flash_bytes: Count | None = Field(default=None, description="free flash on the till")
    snapshot_version: Count | None = Field(default=None, description="HO data in force; null: none")
    printer: str | None = Field(default=None, pattern=r"^[a-z][a-z_ ]{0,31}$",
                                description="the printer as the till sees it (till/drivers/printer.py): ok, "
                                            "paper_low, paper_out, cover_open, no_answer, error")


class StatusOut(BaseModel):
    till: str
    seen_at: int
    reported_at: int = Field(description="when HO received the report it holds, Unix s (HO's clock)")
    firmware: str
    clock_offset_s: int | None
    free_flash_bytes: int | None
    snapshot_version: int | None
    printer: str | None


def _note(request: Request, site_id: str, till_name: str, body: StatusIn) -> dict[str, Any]:
    store = _store(request)
    till_id = _till_of(store, site_id, till_name)
    ahead = body.seen_at - store.now()
    if ahead > SEEN_AHEAD_S:
        raise HTTPException(422, f"seen_at is {ahead} s ahead of head office's clock: "
                                 "check the gateway computer's clock")
    held, reported_at = store.note_status(till_id, TillStatus(**body.model_dump()))
    return {"till": till_id, "reported_at": reported_at, **vars(held)}


def add_routes(app: FastAPI) -> None:
    @app.put("/v1/sites/{site_id}/tills/{till_name}/status", response_model=StatusOut,
             summary="what the gateway last saw of a till: firmware, clock offset, free flash (idempotent; "
                     "a report seen earlier than the one HO holds changes nothing)",
             responses=errors(400, *SIGNED_IN, 404, e400="the body cannot be read as JSON",
                              e403="an HO user's token, or another site's till",
                              e422="a field is missing, unknown, of the wrong type or out of range, "
                                   "or seen_at is ahead of HO's clock"))
    async def till_status(request: Request, site_id: str, till_name: str, body: StatusIn, who: Who) -> Any:
        if who.kind != "site":
            raise HTTPException(403, "a till's status is reported with the site's token")
        _own_site(who, site_id)
        return await run_in_threadpool(_note, request, site_id, till_name, body)
