"""Pages from templates (Jinja2, autoescaped), with what every page shows:
the navigation, the signed-in user and the sign-out form's CSRF token.

Pages use no JavaScript and nothing from another host (the relay may run on
a network without the internet), which the Content-Security-Policy states.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.templating import Jinja2Templates

from host_tools.relay.web.session import Staff
from till.pos.money import format_money

HERE = Path(__file__).parent
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(unix: int | None) -> str:
    """A Unix time as HO staff read it: UTC, to the minute."""
    if unix is None:
        return "never"
    return datetime.fromtimestamp(int(unix), timezone.utc).strftime("%Y-%m-%d %H:%M")


def ago(unix: int | None, now: int) -> str:
    if unix is None:
        return ""
    s = max(0, now - int(unix))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return "just now"


def money(minor: int | None) -> str:
    # HO's figures carry no currency of their own: two minor digits, the
    # common case, and the same formatting as the till's receipts.
    return "" if minor is None else str(format_money(int(minor), 2, ".", ","))


def money_round(minor: int) -> str:
    """An axis tick: whole units when the tick is whole."""
    return f"{minor // 100:,}" if minor % 100 == 0 else money(minor)


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(when=when, money=money)
    t.env.globals["ago"] = ago
    return t


def render(request: Request, name: str, who: Staff | None, status_code: int = 200,
           **context: Any) -> Any:
    """One page, with the layout's shared context."""
    from host_tools.relay.web import nav

    t: Jinja2Templates = request.app.state.web_templates
    context.update(who=who, nav=nav(), path=request.url.path)
    return t.TemplateResponse(request, name, context, status_code=status_code, headers=_HEADERS)
