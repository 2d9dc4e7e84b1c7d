"""Journal records checked against docs/journal.cddl: the one validator on
the host side (HO's relay processing and the tests use it).

pycddl compiles the schema; `schema(rule)` gives any rule of it as the root.
`engine_record_problems(raw)` is what HO asks of every record it consolidates:
the envelope and the body the sale engine writes for its kind.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cbor2
import pycddl

CDDL_PATH = Path(__file__).resolve().parents[2] / "docs" / "journal.cddl"
_SALE, _STORNO = 1, 2
_BODY, _KIND = 4, 3
_LINES, _QTY, _GRAMS = 2, 3, 4  # docs/records.md: sale lines, quantity or weight


@lru_cache(maxsize=None)
def cddl_text() -> str:
    try:
        return CDDL_PATH.read_text()
    except OSError as exc:  # an install without the docs folder
        raise RuntimeError(f"the journal schema {CDDL_PATH} is missing: reinstall Kassa") from exc


@lru_cache(maxsize=None)
def schema(rule: str) -> pycddl.Schema:
    """The schema with `rule` (e.g. "engine-record", "sale-body") as its root."""
    return pycddl.Schema(f"root = {rule}\n" + cddl_text())


def engine_record_problems(raw: bytes, record: Any = None) -> list[str]:
    """Why the record's bytes are not an engine record of docs/journal.cddl
    (empty: they are). `record` is the decoded value when the caller has it."""
    try:
        schema("engine-record").validate_cbor(raw)
    except pycddl.ValidationError as exc:
        return [f"body does not match docs/journal.cddl: {' '.join(str(exc).split())[:300]}"]
    rec = cbor2.loads(raw) if record is None else record
    if rec.get(_KIND) in (_SALE, _STORNO):
        # pycddl accepts a map holding both sides of a group choice, so
        # "quantity or weight, not both" is checked here.
        for n, line in enumerate(rec[_BODY].get(_LINES, []), 1):
            if (_QTY in line) == (_GRAMS in line):
                return [f"line {n} has {'both' if _QTY in line else 'neither'} a quantity and a weight"]
    return []
