"""Query fields the pages' filter forms send, checked in one way: a value
that is not valid becomes a message for the page (in the checker's words)
and is dropped, so the page still shows what it can."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from host_tools.relay import ids


def valid_id(value: str, check: Callable[[str], Any], errors: list[str]) -> str:
    """`value` if empty or accepted by `check` (ids.split_till, ids.check_site),
    else "" with the reason added to `errors`."""
    if not value:
        return value
    try:
        check(value)
    except ids.BadId as exc:
        errors.append(f"{exc}.")
        return ""
    return value


def valid_choice(value: str, choices: tuple[str, ...], what: str, errors: list[str]) -> str:
    """`value` if empty or one of `choices`, else "" with the reason in `errors`."""
    if value and value not in choices:
        errors.append(f"{what} {value!r} is not one of {', '.join(choices)}.")
        return ""
    return value
