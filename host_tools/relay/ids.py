"""Names of sites, tills and HO users, checked in one place.

A till id is `SITE/TILL` (e.g. `S001/till-1`): it is the journal's chain anchor
(docs/journal.md), printed in every receipt's QR code and part of the relay's
URLs, so both halves are restricted to letters, digits, `_` and `-`.
"""
from __future__ import annotations

import re

NAME = "[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
_NAME = re.compile(f"^{NAME}$")
# The same rules as patterns for the API's query filters (OpenAPI `pattern`).
SITE_PATTERN = f"^{NAME}$"
TILL_PATTERN = f"^{NAME}/{NAME}$"


class BadId(ValueError):
    pass


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise BadId(f"{what} {value!r} is not valid: use 1-32 letters, digits, '_' or '-', "
                    "starting with a letter or digit")
    return value


def check_site(site_id: str) -> str:
    return check_name(site_id, "site id")


def till_id(site_id: str, till_name: str) -> str:
    return f"{check_site(site_id)}/{check_name(till_name, 'till name')}"


def split_till(value: str) -> tuple[str, str]:
    """`S001/till-1` -> ("S001", "till-1"), or BadId saying what a till id looks like."""
    site, sep, name = value.partition("/")
    if not sep:
        raise BadId(f"till id {value!r} is not valid: write it as SITE/TILL, e.g. S001/till-1")
    till_id(site, name)
    return site, name
