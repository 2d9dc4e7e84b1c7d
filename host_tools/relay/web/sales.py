"""Sales per site and day (`kassa ho sales` as a page), with a chart of each
day's sales total stacked by site, filtered by site and date range."""
from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from host_tools.relay import ids
from host_tools.relay.web import chart
from host_tools.relay.web.fields import valid_id
from host_tools.relay.web.render import money, money_round, render
from host_tools.relay.web.session import StaffDep, store_of
from till.formats.records import TENDER_NAMES

router = APIRouter(include_in_schema=False)
SUGGESTIONS = 500  # site ids offered in the filter field; any other can be typed
NAV = ("Sales", "/ho/sales")


def _day(value: str, what: str, errors: list[str]) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        errors.append(f"The {what} date {value!r} is not a date: write it as YYYY-MM-DD.")
        return None


def tender_name(code: str) -> str:
    name = TENDER_NAMES.get(int(code)) if code.isdigit() else None
    return str(name).capitalize() if name else f"Tender {code}"


@router.get("/ho/sales")
def sales_page(request: Request, who: StaffDep, site: str = "", day_from: str = "",
               day_to: str = "") -> Response:
    store = store_of(request)
    errors: list[str] = []
    site = valid_id(site, ids.check_site, errors)
    first, last = _day(day_from, "from", errors), _day(day_to, "to", errors)
    rows: list[dict[str, Any]] = [] if errors else store.sales(site or None, first, last)
    for r in rows:
        r["net"] = r["sales_total"] + r["refunds_total"]  # refunds are negative amounts
    days = sorted({r["day"] for r in rows})
    sites = sorted({r["site"] for r in rows})
    values = {(r["site"], r["day"]): r["sales_total"] for r in rows}
    svg = Markup(chart.svg(days, sites, values, money, "Sales total per day, stacked by site",
                           axis=money_round)) if rows else None
    tenders = sorted({code for r in rows for code in r["tenders"]})
    totals = {k: sum(r[k] for r in rows) for k in ("sales", "sales_total", "refunds", "refunds_total", "net")}
    response: Response = render(
        request, "sales.html", who, status_code=422 if errors else 200, rows=rows, errors=errors,
        site=site, day_from=day_from, day_to=day_to, chart=svg, legend=chart.legend(sites),
        tenders=[(code, tender_name(code)) for code in tenders], totals=totals,
        site_ids=store.names("sites", SUGGESTIONS))
    return response
