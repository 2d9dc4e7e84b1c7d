"""Signing in and out: an HO user's token (`kassa ho user add`) is exchanged
for a session cookie; the token itself is never kept in the browser."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from host_tools.relay.web.render import render
from host_tools.relay.web.session import FormDep, PostedDep, safe_next, sessions, store_of

router = APIRouter(include_in_schema=False)
NAV = None
log = logging.getLogger("kassa.relay.web")


def _form(request: Request, next_path: str, error: str | None = None, status_code: int = 200) -> Response:
    s = sessions(request)
    payload, new = s.anonymous(request)
    response: Response = render(request, "signin.html", None, status_code=status_code,
                                csrf=s.csrf_for(payload["n"]), next_path=next_path, error=error)
    if new:
        s.write(request, response, payload, max_age=None)  # lives while the browser is open
    return response


@router.get("/ho/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    if sessions(request).staff(request, store_of(request)) is not None:
        return RedirectResponse(safe_next(next), status_code=303)  # signed in already
    return _form(request, safe_next(next))


@router.post("/ho/signin")
def signin(request: Request, form: FormDep) -> Response:
    s, store = sessions(request), store_of(request)
    s.check_csrf(request, form.get("csrf", ""))
    token, next = form.get("token", "").strip(), form.get("next", "")
    who = store.authenticate(token) if token else None
    if who is None:
        log.warning("web sign-in refused: not a valid token (from %s)", request.client.host if request.client else "?")
        return _form(request, safe_next(next), status_code=401,
                     error="That token is not valid: paste the whole token `kassa ho user add` printed "
                           "(it starts with user.), or ask an admin for a new one.")
    if who.kind != "user":
        return _form(request, safe_next(next), status_code=403,
                     error="That is a site's credential, for its gateway. Sign in with your own HO "
                           "user token (`kassa ho user add NAME --role viewer`).")
    user = store.user(who.name)
    if user is None:  # removed between the two reads
        return _form(request, safe_next(next), status_code=401, error="That user no longer exists.")
    response = RedirectResponse(safe_next(next), status_code=303)
    s.sign_in(request, response, who.name, user[1], store.now())
    log.info("web sign-in: %s (%s)", who.name, who.role)
    return response


@router.post("/ho/signout")
def signout(request: Request, post: PostedDep) -> Response:
    response = RedirectResponse("/ho/signin", status_code=303)
    sessions(request).sign_out(response)
    return response
