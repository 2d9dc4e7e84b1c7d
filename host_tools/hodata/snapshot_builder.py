"""Build the snapshots head office sends to tills, and the packages that carry them.

Head office keeps its items as CSV or JSON and the store's setup (tax classes,
cashiers, roles, policies, barcode rules, receipt text) as one JSON file. This
module validates both, naming file, row and field of every problem, and writes a
snapshot directory with the till's own writers (firmware/till/formats/catalog_writer.py
and package_writer.py), so the bytes and the content hash are the ones the till computes at install.
Formats: docs/snapshot.md.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2

# The device package is the format's one implementation; the host reuses it.
from till.formats import barcode as tbarcode
from till.formats import codepages as tcodepages
from till.formats.text import fold_ascii
from till.formats import catalog as tcatalog
from till.formats import snapshot_files as tw
from till.formats import package_writer as pw

# Permissions, role limits, policies and their defaults have one source, the
# till's own table (firmware/till/pos/policy.py): HO can set nothing the till
# does not read, and a default is the one the till applies.
from till.pos import policy as tpolicy
from till.pos.auth import DEFAULT_ITERATIONS as DEFAULT_PIN_ITERATIONS

FORMAT = 1
MAX_NAME_BYTES = 64  # keeps every record far below the till's 256-byte limit
MAX_LINE_CHARS = 48  # receipt header/footer: the widest 80 mm printer in font A
PIN_ALG = "pbkdf2-sha256"
# Settings HO must state although the till has a default: leaving them out
# is more likely an oversight than a choice. (key: what to write there)
REQUIRED_POLICIES = {"prices_include_tax": "true: shelf prices include tax"}
REQUIRED_ROLE = {"rank": "the role's order among the roles, 0..99"}
ITEM_FIELDS = ("plu", "name", "price", "tax", "barcodes", "weighed", "open_price",
               "min_age", "dept")
CHANGE_FIELDS = ("action",) + ITEM_FIELDS
_TRUE = {"1", "yes", "y", "true", "x"}
_FALSE = {"", "0", "no", "n", "false"}


class BuildError(Exception):
    """Head-office data the builder refuses; .problems lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems:
    """Collects problems so that one run reports all of them, not only the first."""

    LIMIT = 100

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        if len(self.items) < self.LIMIT:
            self.items.append(f"{where}: {message}")
        elif len(self.items) == self.LIMIT:
            self.items.append("... more problems not shown")

    def check(self) -> None:
        if self.items:
            raise BuildError(self.items)


@dataclass
class BuildResult:
    path: Path
    version: int
    hash: bytes
    items: int
    gtins: int
    warnings: list[str]  # built anyway: what a person should still look at


# ---- store configuration --------------------------------------------------

def _is_int(v: Any) -> bool:
    return type(v) is int


class _Config:
    """Validates store.json (parsed) into the meta dict the till stores."""

    def __init__(self, source: str, hash_pins: bool, pin_iterations: int) -> None:
        self.source = source
        self.hash_pins = hash_pins
        self.pin_iterations = pin_iterations
        self.p = _Problems()

    def at(self, path: str) -> str:
        return f"{self.source} field {path}"

    def int_in(self, obj: dict[str, Any], key: str, path: str, lo: int, hi: int | None,
               default: int | None = None) -> int:
        v = obj.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            self.p.add(self.at(f"{path}.{key}"), f"{v!r} is not a whole number {rng}")
            return lo
        return v

    def text(self, obj: dict[str, Any], key: str, path: str, max_chars: int,
             required: bool = True) -> str:
        v = obj.get(key)
        if v is None and not required:
            return ""
        if not isinstance(v, str) or not v.strip() or len(v) > max_chars:
            self.p.add(self.at(f"{path}.{key}"), f"{v!r} is not a text of 1..{max_chars} characters")
            return ""
        return v

    def flag(self, obj: dict[str, Any], key: str, path: str, default: bool) -> bool:
        v = obj.get(key, default)
        if not isinstance(v, bool):
            self.p.add(self.at(f"{path}.{key}"), f"{v!r} is not true or false")
            return default
        return v

    def only(self, obj: Any, path: str, known: Iterable[str]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            self.p.add(self.at(path), "must be an object")
            return {}
        names = set(known)
        for k in obj:
            if k not in names:
                self.p.add(self.at(f"{path}.{k}"), f"unknown setting (known: {', '.join(sorted(names))})")
        return obj

    def lines(self, obj: dict[str, Any], key: str, path: str) -> list[str]:
        v = obj.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and len(s) <= MAX_LINE_CHARS for s in v):
            self.p.add(self.at(f"{path}.{key}"), f"must be a list of lines of at most {MAX_LINE_CHARS} characters")
            return []
        return v

    def no_floats(self, v: Any, path: str) -> None:
        if isinstance(v, float):
            self.p.add(self.at(path), f"{v!r} is a fraction: amounts are whole minor units, rates parts per million")
        elif isinstance(v, dict):
            for k, x in v.items():
                self.no_floats(x, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self.no_floats(x, f"{path}[{i}]")

    def parse(self, data: Any) -> dict[str, Any]:
        self.no_floats(data, "")
        top = self.only(data, "(top)", ("store", "currency", "tax_classes", "roles", "cashiers",
                                        "policies", "barcode_rules", "receipt"))
        for key in ("store", "currency", "tax_classes", "roles", "cashiers", "policies"):
            if key not in top:
                self.p.add(self.at(key), "missing")
        meta: dict[str, Any] = {
            "format": FORMAT,
            "store": self.store(top.get("store", {})),
            "currency": self.currency(top.get("currency", {})),
            "tax_classes": self.tax_classes(top.get("tax_classes", {})),
            "policies": self.policies(top.get("policies", {})),
            "receipt": self.receipt(top.get("receipt", {})),
        }
        meta["roles"] = self.roles(top.get("roles", {}))
        meta["cashiers"] = self.cashiers(top.get("cashiers", []), meta["roles"])
        meta["barcode_rules"] = self.barcode_rules(top.get("barcode_rules", []))
        self.p.check()
        return meta

    def store(self, s: Any) -> dict[str, Any]:
        if not isinstance(s, dict):
            self.p.add(self.at("store"), "must be an object")
            return {}
        out: dict[str, Any] = {"id": self.text(s, "id", "store", 32), "name": self.text(s, "name", "store", 64)}
        for k, v in s.items():
            if k in out:
                continue
            if isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                out[k] = v
            else:
                self.p.add(self.at(f"store.{k}"), "must be a text or a list of texts")
        return out

    def currency(self, c: Any) -> dict[str, Any]:
        c = self.only(c, "currency", ("code", "decimals"))
        code = c.get("code")
        if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
            self.p.add(self.at("currency.code"), f"{code!r} is not an ISO 4217 code like 'EUR'")
        return {"code": code, "decimals": self.int_in(c, "decimals", "currency", 0, 4)}

    def tax_classes(self, t: Any) -> dict[str, Any]:
        if not isinstance(t, dict) or not t:
            self.p.add(self.at("tax_classes"), "must be an object with at least one class, e.g. {\"A\": {...}}")
            return {}
        out = {}
        for cid, cls in t.items():
            path = f"tax_classes.{cid}"
            if not (1 <= len(cid) <= 4 and cid.isalnum()):
                self.p.add(self.at(path), "a tax class id is 1..4 letters or digits (printed on receipts)")
            cls = self.only(cls, path, ("name", "rate_ppm"))
            out[cid] = {"name": self.text(cls, "name", path, 32),
                        "rate_ppm": self.int_in(cls, "rate_ppm", path, 0, 1000000)}
        return out

    def roles(self, r: Any) -> dict[str, Any]:
        if not isinstance(r, dict) or not r:
            self.p.add(self.at("roles"), "must be an object with at least one role")
            return {}
        return {name: self.settings(role, f"roles.{name}", "role", REQUIRED_ROLE)
                for name, role in r.items()}

    def settings(self, obj: Any, path: str, table: str,
                 required: dict[str, str] | None = None) -> dict[str, Any]:
        """obj checked against a table of till.pos.policy ("policies",
        "offline", "role"), every key of the table filled in (with the till's
        default where obj has none)."""
        defaults, limits = tpolicy.bounds()[table]
        obj = self.only(obj, path, defaults)
        for key, what in (required or {}).items():
            if key not in obj:
                self.p.add(self.at(f"{path}.{key}"), f"missing ({what})")
        return {key: self.setting(obj, key, path, default, *limits[key])
                for key, default in defaults.items()}

    def setting(self, obj: dict[str, Any], key: str, path: str, default: Any,
                lo: Any, hi: Any) -> Any:
        """One setting, read as till.pos.policy describes its kind."""
        if isinstance(default, bool):
            return self.flag(obj, key, path, default)
        if isinstance(default, int):
            return self.int_in(obj, key, path, lo, hi, default)
        v = obj.get(key, default)
        if default is None:  # no limit, or a limit
            if v is not None and (not _is_int(v) or v < lo):
                self.p.add(self.at(f"{path}.{key}"),
                           f"{v!r} is not null (no limit) or a whole number of at least {lo}")
                return None
            return v
        if isinstance(default, str):
            if v not in hi:
                self.p.add(self.at(f"{path}.{key}"),
                           f"{v!r} is not one of {', '.join(repr(c) for c in hi)}")
                return default
            return v
        if isinstance(default, dict):
            return self.settings(v, f"{path}.{key}", hi)
        if hi is None:  # barcode prefixes (till.pos.policy)
            return self.prefixes(v, f"{path}.{key}")
        if not isinstance(v, (list, tuple)) or not all(isinstance(m, str) for m in v):
            self.p.add(self.at(f"{path}.{key}"), f"{v!r} is not a list of names ({', '.join(hi)})")
            return []
        unknown = [m for m in v if m not in hi]
        if unknown:
            self.p.add(self.at(f"{path}.{key}"), f"{list(v)!r}: {', '.join(unknown)} is not one of "
                       f"{', '.join(hi)}")
            return []
        return sorted(set(v))

    def prefixes(self, v: Any, path: str) -> list[str]:
        """A list of barcode prefixes: texts of 1 to 13 digits (a voucher's
        code is longer than its prefix)."""
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(m, str) and m.isdigit() and m.isascii() and len(m) <= 13 for m in v):
            self.p.add(self.at(path), f"{v!r} is not a list of barcode prefixes (texts of 1 to 13 digits)")
            return []
        return sorted(set(v))

    def cashiers(self, cs: Any, roles: dict[str, Any]) -> dict[int, Any]:
        if not isinstance(cs, list):
            self.p.add(self.at("cashiers"), "must be a list")
            return {}
        out: dict[int, Any] = {}
        for i, c in enumerate(cs):
            path = f"cashiers[{i}]"
            c = self.only(c, path, ("id", "name", "role", "pin", "pin_hash"))
            cid = self.int_in(c, "id", path, 1, 99999999)
            if cid in out:
                self.p.add(self.at(f"{path}.id"), f"cashier id {cid} appears twice")
            role = c.get("role")
            if role not in roles:
                self.p.add(self.at(f"{path}.role"), f"{role!r} is not one of the roles ({', '.join(roles)})")
            out[cid] = {"name": self.text(c, "name", path, 32), "role": role, "pin": self.pin(c, path)}
        return out

    def pin(self, c: dict[str, Any], path: str) -> dict[str, Any]:
        if "pin" in c:
            pin = c["pin"]
            if not self.hash_pins:
                self.p.add(self.at(f"{path}.pin"), "a plain PIN: run with --hash-pins to hash it "
                           "for the till (plain PINs are never sent)")
            elif not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 8):
                self.p.add(self.at(f"{path}.pin"), "a PIN is 4 to 8 digits, written as text")
            else:
                salt = os.urandom(16)
                digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, self.pin_iterations)
                return {"alg": PIN_ALG, "salt": salt, "iterations": self.pin_iterations, "hash": digest}
            return {}
        h = self.only(c.get("pin_hash"), f"{path}.pin_hash", ("alg", "salt", "iterations", "hash"))
        if not h:
            if "pin_hash" not in c:
                self.p.add(self.at(path), "needs pin_hash (or pin with --hash-pins)")
            return {}
        if h.get("alg", PIN_ALG) != PIN_ALG:
            self.p.add(self.at(f"{path}.pin_hash.alg"), f"only {PIN_ALG} is supported")
        out = {"alg": PIN_ALG, "iterations": self.int_in(h, "iterations", f"{path}.pin_hash", 1, 10000000)}
        for key, size in (("salt", None), ("hash", 32)):
            try:
                raw = bytes.fromhex(h.get(key, ""))
                if not raw or (size is not None and len(raw) != size):
                    raise ValueError
            except (TypeError, ValueError):
                self.p.add(self.at(f"{path}.pin_hash.{key}"),
                           "must be hex" + (f" of {size} bytes" if size else ""))
                raw = b""
            out[key] = raw
        return out

    def policies(self, p: Any) -> dict[str, Any]:
        return self.settings(p, "policies", "policies", REQUIRED_POLICIES)

    def barcode_rules(self, rules: Any) -> list[Any]:
        if not isinstance(rules, list):
            self.p.add(self.at("barcode_rules"), "must be a list")
            return []
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                self.p.add(self.at(f"barcode_rules[{i}]"), "must be an object")
                continue
            try:
                tbarcode.check_rule(rule)
            except (ValueError, KeyError, TypeError) as exc:
                self.p.add(self.at(f"barcode_rules[{i}]"), str(exc))
        try:
            tbarcode.check_rules([r for r in rules if isinstance(r, dict)])
        except (ValueError, KeyError, TypeError) as exc:
            if "twice" in str(exc):
                self.p.add(self.at("barcode_rules"), str(exc))
        return rules

    def receipt(self, r: Any) -> dict[str, Any]:
        r = self.only(r, "receipt", ("header", "footer"))
        return {"header": self.lines(r, "header", "receipt"), "footer": self.lines(r, "footer", "receipt")}


def parse_config(data: Any, source: str = "store.json", hash_pins: bool = False,
                 pin_iterations: int = DEFAULT_PIN_ITERATIONS) -> dict[str, Any]:
    """The meta dict (without version, base, created, counts) from parsed store JSON."""
    return _Config(source, hash_pins, pin_iterations).parse(data)


def load_config(path: Path, hash_pins: bool = False,
                pin_iterations: int = DEFAULT_PIN_ITERATIONS) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError) as exc:
        raise BuildError([f"{path.name}: cannot read: {exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise BuildError([f"{path.name} line {exc.lineno}: not valid JSON: {exc.msg}"]) from exc
    return parse_config(data, path.name, hash_pins, pin_iterations)


# ---- items ----------------------------------------------------------------

class _Items:
    """Validates item rows into item dicts; barcodes become catalog keys."""

    def __init__(self, source: str, unit: str, config: dict[str, Any]) -> None:
        self.source = source
        self.unit = unit  # "row" for CSV, "item" for JSON
        self.tax = config["tax_classes"]
        self.rules = config.get("barcode_rules", [])
        self.eight = tpolicy.get(config.get("policies"), "eight_digit")
        self.vouchers = tpolicy.get(config.get("policies"), "vouchers")
        self.p = _Problems()

    def at(self, n: int, field: str | None = None) -> str:
        where = f"{self.source} {self.unit} {n}"
        return f"{where}, field {field}" if field else where

    def integer(self, row: dict[str, Any], n: int, key: str, lo: int, hi: int, what: str,
                default: int | None = None) -> int | None:
        v = row.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            if default is None:
                self.p.add(self.at(n, key), f"missing: {what}")
            return default
        if isinstance(v, str):
            s = v.strip()
            if s.isdigit() and s.isascii():
                v = int(s)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            self.p.add(self.at(n, key), f"{row.get(key)!r} is not {what}")
            return None
        return v

    def flag(self, row: dict[str, Any], n: int, key: str) -> bool:
        v = row.get(key, False)
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        if isinstance(v, str) and v.strip().lower() in _TRUE:
            return True
        if isinstance(v, str) and v.strip().lower() in _FALSE:
            return False
        self.p.add(self.at(n, key), f"{v!r} is not yes or no")
        return False

    def barcodes(self, row: dict[str, Any], n: int) -> list[int]:
        v = row.get("barcodes")
        if v is None:
            return []
        if isinstance(v, str):
            codes = v.replace(";", " ").replace("|", " ").split()
        elif isinstance(v, list) and all(isinstance(c, str) for c in v):
            codes = v
        else:
            self.p.add(self.at(n, "barcodes"), "must be barcodes as text, separated by spaces")
            return []
        keys = []
        for code in codes:
            try:
                kind = tbarcode.decode(code, self.rules, self.eight)
            except tbarcode.BarcodeError as exc:
                self.p.add(self.at(n, "barcodes"), f"{code!r} is not a valid EAN/UPC barcode ({exc.reason})")
                continue
            if kind[0] != "item":
                self.p.add(self.at(n, "barcodes"), f"{code} would be read as a {kind[0]} code by the "
                           "barcode rules, so scanning it could never find this item")
                continue
            voucher = [v for v in self.vouchers if code.startswith(v)]
            if voucher:
                self.p.add(self.at(n, "barcodes"), f"{code} starts with the voucher prefix {voucher[0]} "
                           "(policies.vouchers), so scanning it would pay by voucher, never find this item")
                continue
            keys.append(int(kind[1]))
        return keys

    def item(self, row: dict[str, Any], n: int) -> dict[str, Any] | None:
        before = len(self.p.items)
        plu = self.integer(row, n, "plu", 1, tcatalog.MAX_PLU, f"a PLU number 1..{tcatalog.MAX_PLU}")
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            self.p.add(self.at(n, "name"), "missing: the name printed on the receipt")
        elif len(name.encode()) > MAX_NAME_BYTES or not name.isprintable():
            self.p.add(self.at(n, "name"), f"{name!r} is longer than {MAX_NAME_BYTES} bytes or has control characters")
        price = self.integer(row, n, "price", 0, 10 ** 12, "an amount in minor units")
        tax = row.get("tax")
        if tax not in self.tax:
            self.p.add(self.at(n, "tax"), f"{tax!r} is not one of the tax classes ({', '.join(self.tax)})")
        weighed = self.flag(row, n, "weighed")
        open_price = self.flag(row, n, "open_price")
        if weighed and open_price:
            self.p.add(self.at(n, "open_price"), "an item is weighed or open price, not both")
        if price == 0 and not open_price:
            self.p.add(self.at(n, "price"), "0 is only for open-price items")
        min_age = self.integer(row, n, "min_age", 0, 99, "an age 0..99", 0)
        dept = self.integer(row, n, "dept", 0, 65535, "a department number 0..65535", 0)
        keys = self.barcodes(row, n)
        if len(self.p.items) > before:
            return None
        assert name is not None  # checked above: a missing name is a problem already
        return {"plu": plu, "name": name.strip(), "price": price, "tax": tax, "weighed": weighed,
                "open_price": open_price, "min_age": min_age, "dept": dept, "barcodes": keys}


def _rows(path: Path, fields: tuple[str, ...]) -> tuple[str, Iterator[tuple[int, dict[str, Any]]]]:
    """("row"|"item", (number, row dict)...) from a CSV or JSON item file."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as exc:
        raise BuildError([f"{name}: cannot read: {exc}"]) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BuildError([f"{name} line {exc.lineno}: not valid JSON: {exc.msg}"]) from exc
        if not isinstance(data, list):
            raise BuildError([f"{name}: must be a list of items"])
        problems = _Problems()
        for i, obj in enumerate(data, 1):
            if not isinstance(obj, dict):
                problems.add(f"{name} item {i}", "must be an object")
                continue
            for k in obj:
                if k not in fields:
                    problems.add(f"{name} item {i}, field {k}", f"unknown field (known: {', '.join(fields)})")
        problems.check()
        return "item", iter(enumerate(data, 1))
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in fields]
    if unknown:
        raise BuildError([f"{name} header: unknown column {h!r} (known: {', '.join(fields)})" for h in unknown])
    # Row 1 is the header, so data rows count from 2 as a spreadsheet shows them.
    return "row", _csv_rows(reader, name)


def _csv_rows(reader: csv.DictReader[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for row in reader:
        if None in row:
            raise BuildError([f"{name} row {reader.line_num}: more cells than the header has columns "
                              "(a comma in a name needs quotes)"])
        yield reader.line_num, row


def _check_unique(items: list[tuple[int, dict[str, Any]]], source: str, unit: str) -> None:
    problems = _Problems()
    plus: dict[int, int] = {}
    codes: dict[int, tuple[int, int]] = {}
    for n, it in items:
        if it["plu"] in plus:
            problems.add(f"{source} {unit} {n}, field plu", f"PLU {it['plu']} is already used in {unit} {plus[it['plu']]}")
        plus[it["plu"]] = n
        for key in it["barcodes"]:
            if key in codes and codes[key][1] != it["plu"]:
                problems.add(f"{source} {unit} {n}, field barcodes",
                             f"barcode {key:013d} is already on PLU {codes[key][1]} ({unit} {codes[key][0]})")
            codes[key] = (n, it["plu"])
    problems.check()


def load_items(path: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Validated item dicts from items.csv / items.json (every problem reported)."""
    unit, rows = _rows(path, ITEM_FIELDS)
    v = _Items(path.name, unit, config)
    out = []
    for n, row in rows:
        it = v.item(row, n)
        if it is not None:
            out.append((n, it))
    v.p.check()
    _check_unique(out, path.name, unit)
    return [it for _, it in out]


def apply_changes(items: list[dict[str, Any]], path: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
    """items with a change file applied: rows with action "set" (default) replace
    or add an item whole; rows with action "remove" need only the plu."""
    unit, rows = _rows(path, CHANGE_FIELDS)
    v = _Items(path.name, unit, config)
    by_plu = {it["plu"]: it for it in items}
    seen: set[int] = set()
    for n, row in rows:
        plu: int | None = None
        action = (row.get("action") or "set").strip().lower()
        if action == "remove":
            plu = v.integer(row, n, "plu", 1, tcatalog.MAX_PLU, "a PLU number")
            if plu is not None and plu not in by_plu:
                v.p.add(v.at(n, "plu"), f"PLU {plu} is not in the base snapshot, so it cannot be removed")
            elif plu is not None:
                del by_plu[plu]
        elif action == "set":
            it = v.item(row, n)
            if it is not None:
                by_plu[it["plu"]] = it
                plu = it["plu"]
        else:
            v.p.add(v.at(n, "action"), f"{action!r} is 'set' or 'remove'")
            continue
        if plu is not None and plu in seen:
            v.p.add(v.at(n, "plu"), f"PLU {plu} is changed twice in this file")
        if plu is not None:
            seen.add(plu)
    v.p.check()
    merged = sorted(by_plu.values(), key=lambda it: it["plu"])
    _check_unique(list(enumerate(merged, 1)), path.name, "result item")
    return merged


# ---- snapshot directories and packages ------------------------------------

def _canonical(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def build(items: list[dict[str, Any]], config: dict[str, Any], version: int, out: Path,
          created: int | None = None, base: int | None = None,
          allow_empty: bool = False) -> BuildResult:
    """Write snapshot directory `out` (must not exist) from validated items and config.
    An empty catalog is refused unless allow_empty: as a package it would empty
    every till that applies it (an items file cut short, a wrong export)."""
    if not 1 <= version <= 0xFFFFFFFF:
        raise BuildError([f"version {version} is not 1..4294967295"])
    if not items and not allow_empty:
        raise BuildError(["the catalog has no items: every till that applies it would sell "
                          "nothing. If that is meant, build it with --allow-empty"])
    if out.exists():
        raise BuildError([f"{out} already exists: snapshots are never overwritten"])
    meta = dict(config)
    meta.update(version=version, base=base, created=int(time.time()) if created is None else created)
    out.mkdir(parents=True)
    # The till writer takes barcodes as digit strings; keys print as GTIN-14.
    rows = [dict(it, barcodes=[f"{k:014d}" for k in it["barcodes"]]) for it in items]
    digest = pw.build_dir(str(out), meta, rows, encode_meta=_canonical)
    return BuildResult(out, version, digest, len(items), sum(len(it["barcodes"]) for it in items),
                       unprintable_texts(items, config))


def unprintable(text: str) -> str:
    """The characters of `text` a till's printer cannot print in any code page
    the till uses, even folded (é -> e, € -> EUR): they come out as '?'."""
    bad = ""
    for ch in dict.fromkeys(text):
        if ch != "?" and all(fold_ascii(ch, table) == "?"
                             for table in tcodepages.BY_NAME.values()):
            bad += ch
    return bad


def unprintable_texts(items: list[dict[str, Any]], config: dict[str, Any]) -> list[str]:
    """One warning per text that would print with '?' on receipts (the till
    prints it anyway: a name is never a reason to refuse a sale)."""
    texts = [(f"item PLU {it['plu']} name", it["name"]) for it in items]
    texts += [(f"receipt.{part} line {n}", line)
              for part in ("header", "footer")
              for n, line in enumerate(config.get("receipt", {}).get(part, []), 1)]
    texts += [(f"cashier {cid} name", c["name"]) for cid, c in config.get("cashiers", {}).items()]
    store = config.get("store", {})
    texts += [("store name", store["name"])] if "name" in store else []
    return [f"{where} {text!r}: {bad!r} cannot be printed on receipts (prints as '?')"
            for where, text in texts if (bad := unprintable(text))]


def read_dir(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(meta, items with "barcodes" as keys) of a snapshot directory."""
    meta = cbor2.loads((path / tw.META_FILE).read_bytes())
    cat = tcatalog.Catalog(str(path))
    try:
        codes: dict[int, list[int]] = {}
        for gtin, plu in cat.barcodes():
            codes.setdefault(plu, []).append(gtin)
        items = [dict(it, barcodes=codes.get(it["plu"], [])) for it in cat.items()]
    finally:
        cat.close()
    return meta, items


def config_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The store configuration part of a meta dict."""
    return {k: v for k, v in meta.items() if k not in ("version", "base", "created", "items", "gtins")}


def dir_hash(path: Path) -> bytes:
    return tw.read_hash(str(path))


def write_full_package(path: Path, out: Path) -> None:
    with out.open("wb") as f:
        pw.write_full_package(str(path), f, encode=_canonical)


def write_delta_package(base: Path, new: Path, out: Path) -> tuple[int, int]:
    """Delta package from snapshot dir base to new; returns (item, barcode) entry counts."""
    with out.open("wb") as f:
        try:
            return pw.write_delta_package(str(base), str(new), f, encode=_canonical)
        except ValueError as exc:
            raise BuildError([f"{new.name}: {exc}"]) from exc


def describe(path: Path) -> dict[str, Any]:
    """A summary of a snapshot directory or package, for `kassa snapshot show`."""
    if path.is_dir():
        meta = cbor2.loads((path / tw.META_FILE).read_bytes())
        return {"snapshot": str(path), "version": meta["version"], "base": meta.get("base"),
                "created": meta.get("created"), "hash": dir_hash(path).hex(),
                "items": meta.get("items"), "barcodes": meta.get("gtins"),
                "store": meta["store"], "tax_classes": meta["tax_classes"],
                "cashiers": {str(k): {"name": v["name"], "role": v["role"]} for k, v in meta["cashiers"].items()}}
    with path.open("rb") as f:
        header = cbor2.load(f)
        meta = cbor2.load(f)
    if not isinstance(header, dict) or header.get("kassa") != tw.PACKAGE_MAGIC:
        raise BuildError([f"{path.name}: not a snapshot package"])
    return {"package": str(path), "kind": header["kind"], "version": header["version"],
            "base": header.get("base"), "hash": header["hash"].hex(),
            "item_entries": header["items"], "barcode_entries": header["gtins"],
            "store": meta.get("store"), "bytes": path.stat().st_size}
