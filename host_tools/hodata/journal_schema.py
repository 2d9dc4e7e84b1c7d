"""Journal records checked against docs/journal.cddl: the one validator on
the host side (HO's relay processing and the tests use it).

pycddl compiles the schema; `schema(rule)` gives any rule of it as the root.
`engine_record_problems(raw)` is what HO asks of every record it consolidates:
the envelope and the body the sale engine writes for its kind.

pycddl's time per validation grows with the schema's whole text (about 14 µs
for journal.cddl's 9 KB even when the root is `uint`) and with every rule it
walks; HO processing spent two thirds of its time there. So `schema(rule)`
compiles only the rules `rule` uses, and a record is checked as `record` (the
envelope) and then its body alone against its kind's rule, which is what
`engine-record` says (the kind picks the body; the envelope is the same),
without pycddl trying each kind's body in turn.
"""
from __future__ import annotations

import re
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


# A rule starts at the start of a line: `name =`, `name /=` or `name //=`.
_RULE_START = re.compile(r"^([A-Za-z@_$][\w@$.-]*)\s*/{0,2}=", re.M)
_NAME = re.compile(r"[A-Za-z@_$][\w@$.-]*")
_COMMENT_OR_TEXT = re.compile(r'"[^"]*"|;[^\n]*')
# engine-record's choices, `3 => <kind>, 4 => <body rule>`.
_KIND_BODY = re.compile(r"3 => (\d+), 4 => ([A-Za-z][\w-]*)")


@lru_cache(maxsize=None)
def _rules() -> dict[str, str]:
    """Each rule's text (a rule given with /= or //= again: all its parts)."""
    text = cddl_text()
    starts = list(_RULE_START.finditer(text))
    rules: dict[str, str] = {}
    for this, following in zip(starts, starts[1:] + [None]):
        chunk = text[this.start():following.start() if following else len(text)]
        rules[this.group(1)] = rules.get(this.group(1), "") + chunk
    return rules


def _used(rule: str) -> list[str]:
    """`rule` and every rule it refers to, directly or through others. A name
    missed here leaves pycddl a rule it cannot find, which it refuses when the
    schema is compiled: never a weaker check."""
    rules, found, todo = _rules(), [], [rule]
    while todo:
        name = todo.pop()
        if name in found or name not in rules:
            continue
        found.append(name)
        todo += _NAME.findall(_COMMENT_OR_TEXT.sub(" ", rules[name].split("=", 1)[1]))
    return found


@lru_cache(maxsize=None)
def schema(rule: str) -> pycddl.Schema:
    """The schema with `rule` (e.g. "engine-record", "sale-body") as its root,
    compiled with only the rules it uses."""
    if rule not in _rules():
        raise KeyError(f"docs/journal.cddl has no rule {rule!r}")
    return pycddl.Schema(f"root = {rule}\n" + "".join(_rules()[name] for name in _used(rule)))


@lru_cache(maxsize=None)
def _body_rules() -> dict[int, str]:
    """kind -> the rule of its body, as engine-record ties them."""
    found = {int(kind): rule for kind, rule in _KIND_BODY.findall(_rules()["engine-record"])}
    if not found:
        raise RuntimeError(f"{CDDL_PATH}: engine-record names no body per kind; reinstall Kassa")
    return found


def _mismatch(rule: str, data: bytes) -> list[str]:
    try:
        schema(rule).validate_cbor(data)
    except pycddl.ValidationError as exc:
        return [f"body does not match docs/journal.cddl: {' '.join(str(exc).split())[:300]}"]
    return []


def engine_record_problems(raw: bytes, record: Any = None, canonical: bool = False) -> list[str]:
    """Why the record's bytes are not an engine record of docs/journal.cddl
    (empty: they are). `record` is the decoded value when the caller has it;
    `canonical`: the caller has checked that `raw` is its deterministic
    encoding (HO's processing has). Only then is the body checked on its own:
    its bytes are then exactly cbor2's canonical encoding of it."""
    rec = cbor2.loads(raw) if record is None else record
    kind = rec.get(_KIND) if type(rec) is dict else None
    body_rule = _body_rules().get(kind) if type(kind) is int else None
    if body_rule is not None and type(rec.get(_BODY)) is dict and (
            canonical or cbor2.dumps(rec, canonical=True) == raw):
        found = _mismatch("record", raw) or _mismatch(body_rule, cbor2.dumps(rec[_BODY], canonical=True))
    else:
        found = _mismatch("engine-record", raw)
    if found:
        return found
    if rec.get(_KIND) in (_SALE, _STORNO):
        # pycddl accepts a map holding both sides of a group choice, so
        # "quantity or weight, not both" is checked here.
        for n, line in enumerate(rec[_BODY].get(_LINES, []), 1):
            if (_QTY in line) == (_GRAMS in line):
                return [f"line {n} has {'both' if _QTY in line else 'neither'} a quantity and a weight"]
    return []
