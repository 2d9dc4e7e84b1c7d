"""Signing in and out: an HO user's token (`kassa ho user add`) is exchanged
for a session cookie; the token itself is never kept in the browser."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from host_tools.relay.web.render import render
from host_tools.relay import staff_sessions
from host_tools.relay.web.session import FormDep, PostedDep, require_admin, safe_next, sessions, store_of

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
    s.sign_in(request, response, store, who.name, user[1])
    log.info("web sign-in: %s (%s)", who.name, who.role)
    return response


@router.post("/ho/signout")
def signout(request: Request, post: PostedDep) -> Response:
    """Ends this session in the database: a copy of the cookie is worthless after."""
    response = RedirectResponse("/ho/signin", status_code=303)
    sessions(request).sign_out(request, response, store_of(request))
    return response


@router.post("/ho/signout-everywhere")
def signout_everywhere(request: Request, post: PostedDep) -> Response:
    """An admin ends every HO user's web session, in every browser and relay
    process (a laptop lost, a cookie leaked); the admin signs in again too."""
    require_admin(post.who, "signing everyone out")
    ended = staff_sessions.end_all(store_of(request), post.who.name)
    log.warning("web: %s signed out every HO user (%d sessions)", post.who.name, ended)
    response = RedirectResponse("/ho/signin", status_code=303)
    sessions(request).sign_out(request, response, store_of(request))
    return response
