"""HO staff's web pages, served by the relay under /ho/ (docs/relay-web.md).

One module per page, like datasette's views/: each has a `router` and a
`NAV` entry (its title and path in the navigation, or None). A new page is
one more module and one more name in PAGES. Pages read through the store's
own read functions and act through the same functions as `kassa ho`, so the
web and the command line cannot disagree.
"""
from __future__ import annotations

import secrets
from types import ModuleType

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from host_tools.relay.config import RelayConfig
from host_tools.relay.web import (pictures, quarantine, receipt_check, received, record, sales, sent, signin,
                                  sync, tills)
from host_tools.relay.web.render import HERE, render, templates
from host_tools.relay.web.session import Refused, Sessions, SignInRequired, signin_url

PAGES: tuple[ModuleType, ...] = (tills, sync, sent, received, sales, quarantine, pictures, receipt_check, record)


def nav() -> list[tuple[str, str]]:
    return [page.NAV for page in PAGES if page.NAV is not None]


def mount(app: FastAPI, config: RelayConfig) -> None:
    """Add the pages to the relay's app (create_app calls this)."""
    app.state.web_sessions = Sessions(config.session_key or secrets.token_bytes(32), config.session_s)
    app.state.web_templates = templates()
    app.state.web_limits = config.limits
    app.include_router(signin.router)
    for page in PAGES:
        app.include_router(page.router)
    app.mount("/ho/static", StaticFiles(directory=str(HERE / "static")), name="ho-static")

    @app.get("/ho", include_in_schema=False)
    @app.get("/ho/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/ho/tills", status_code=303)

    @app.exception_handler(SignInRequired)
    def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(signin_url(exc.next_path), status_code=303)

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        from host_tools.relay.web.session import sessions, store_of

        who = sessions(request).staff(request, store_of(request))
        response: Response = render(request, "error.html", who, status_code=exc.status_code,
                                    title="Not allowed" if exc.status_code == 403 else "Not accepted",
                                    message=exc.message)
        return response
