"""Head office's builder and the till agree on every permission, role limit and
policy, and on every default, because both take them from one table
(firmware/till/pos/policy.py). Iterating that table, this checks that the
builder follows it (a default changed in the table changes what the builder
writes), that the firmware reads each key through it and nowhere else, and
that a till given no policies at all behaves exactly as one given the
builder's defaults."""
from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_engine_golden as golden
from engine_fixture import Till, meta
from host_tools.hodata import snapshot_builder as sb
from till.formats import journal as J
from till.pos import policy

ROOT = Path(__file__).resolve().parents[2]
TILL = ROOT / "firmware" / "till"
STORE = ROOT / "tests" / "data" / "store" / "store.json"
# Keys the till does not read, and why (policy.py says so too).
UNREAD = {"rank": "HO's order of roles"}

WHERE = {"policies": "policies", "offline": "policies.offline", "role": "roles.cashier"}


def table_entries() -> Iterator[tuple[str, dict[str, Any], str, Any, Any, Any]]:
    """(where in store.json, table, key, default, lo, hi) for every setting."""
    for name, (table, limits) in policy.bounds().items():
        assert set(limits) == set(table), (name, set(limits) ^ set(table))
        for key, default in table.items():
            yield (WHERE[name], table, key, default) + limits[key]


def at(data: dict[str, Any], where: str) -> dict[str, Any]:
    obj = data
    for part in where.split("."):
        obj = obj.setdefault(part, {})
    return obj


def another_value(default: Any, lo: Any, hi: Any) -> Any:
    """A valid value other than the default."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1 if hi is None or default < hi else default - 1
    if default is None:
        return lo + 7
    if isinstance(default, str):
        return [c for c in hi if c != default][0]
    if isinstance(default, tuple):
        return ("x_report",) if hi else ("98",)
    return None  # a map: its own keys are entries of their own


def built(data: dict[str, Any], where: str, key: str) -> Any:
    return at(sb.parse_config(data), where)[key]


def test_builder_and_till_agree_on_every_key_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    example = json.loads(STORE.read_text())
    reads = firmware_reads()
    problems: list[str] = []
    assert {name for name in policy.bounds()} == set(WHERE)
    for where, table, key, default, lo, hi in table_entries():
        data = copy.deepcopy(example)
        at(data, where).pop(key, None)
        required = sb.REQUIRED_POLICIES if where == "policies" else (
            sb.REQUIRED_ROLE if where.startswith("roles") else {})
        if key in required:
            with pytest.raises(sb.BuildError, match=f"{where}.{key}: missing"):
                sb.parse_config(data)
            at(data, where)[key] = default
        # Left out, the builder writes the till's default ...
        got = built(data, where, key)
        want = dict(policy.bounds()[hi][0]) if isinstance(default, dict) else default
        if isinstance(want, tuple):
            want = list(want)
        if got != want:
            problems.append(f"{where}.{key}: the builder writes {got!r}, the till's default is {want!r}")
        # ... and it is the table's: change the default there and the builder follows.
        alt = another_value(default, lo, hi)
        if alt is not None and key not in required:
            with monkeypatch.context() as m:
                m.setitem(table, key, alt)
                got = built(data, where, key)
            if got != (list(alt) if isinstance(alt, tuple) else alt):
                problems.append(f"{where}.{key}: the builder ignores the table's default")
        # The till reads the key only through till.pos.policy.
        if key in UNREAD:
            if key in reads["policy"]:
                problems.append(f"{key}: said to be unread, but the firmware reads it")
        elif key not in reads["policy"]:
            problems.append(f"{where}.{key}: HO sets it, but the firmware never reads it "
                            "through till.pos.policy")
        for place in reads["other"].get(key, []):
            problems.append(f"{where}.{key}: read without till.pos.policy at {place}")
    # And the builder accepts no setting the table does not have.
    data = copy.deepcopy(example)
    data["policies"]["till_speed"] = 3
    data["roles"]["cashier"]["may"].append("fly")
    text = "\n".join(pytest.raises(sb.BuildError, sb.parse_config, data).value.problems)
    assert "policies.till_speed: unknown setting" in text and "fly is not one of" in text
    assert not problems, "\n".join(problems)


def firmware_reads(till: Path = TILL) -> dict[str, Any]:
    """Where firmware/till reads a setting. "policy": the keys read through
    till.pos.policy (policy.get(x, "key", ...); policy.may reads "may").
    "other": {key: [file:line]} for x.get("key", ...) anywhere else, which is
    how a default gets restated. An item's "open_price" is the catalog's own
    field, not the offline rule of that name, so item.get() is not counted."""
    names = set(policy.POLICIES) | set(policy.OFFLINE) | set(policy.ROLE)
    through: set[str] = set()
    other: dict[str, list[str]] = {}
    for path in sorted(till.rglob("*.py")):
        if path.name == "policy.py" and path.parent.name == "pos":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.args):
                continue
            f = node.func
            if isinstance(f.value, ast.Name) and f.value.id == "policy":
                if f.attr == "may":
                    through.add("may")
                elif f.attr == "get" and len(node.args) >= 2:
                    # The key may be chosen: "a" if x else "b".
                    through |= {c.value for c in ast.walk(node.args[1])
                                if isinstance(c, ast.Constant) and c.value in names}
                continue
            arg = node.args[0]
            if (f.attr == "get" and isinstance(arg, ast.Constant) and arg.value in names
                    and not (isinstance(f.value, ast.Name) and f.value.id == "item")):
                where = f"{path.relative_to(till.parent)}:{node.lineno}"
                other.setdefault(arg.value, []).append(where)
    return {"policy": through, "other": other}


def test_the_firmware_scan_sees_a_default_restated_in_the_engine(tmp_path: Path) -> None:
    # The scan above is what catches `pol.get("idle_lock_minutes", 5)`: show
    # that it would, on a copy of the firmware with that line put back.
    src = TILL / "pos" / "engine.py"
    text = src.read_text()
    assert 'policy.get(pol, "idle_lock_minutes")' in text
    copy_dir = tmp_path / "till" / "pos"
    copy_dir.mkdir(parents=True)
    (copy_dir / "engine.py").write_text(
        text.replace('policy.get(pol, "idle_lock_minutes")', 'pol.get("idle_lock_minutes", 5)'))
    reads = firmware_reads(tmp_path / "till")
    assert "idle_lock_minutes" in reads["other"]
    assert "idle_lock_minutes" not in reads["policy"]


def actions_of(snapshot_meta: dict[str, Any], shift: str) -> list[Any]:
    """What the engine does on a golden shift, without what depends on the
    snapshot's bytes (its hash in the config record, and so the chain tags)."""
    till = Till(snapshot_meta)
    out: list[Any] = []
    try:
        for line in golden.script_lines(shift):
            if line == "check_z":
                continue  # the golden test's own oracle
            for a in golden.run(till, line):
                if a[0] == "record":
                    if a[2] != J.KIND_CONFIG:
                        out.append(("record", a[2], a[3], a[4]))
                elif a[0] == "print":
                    out.append(("print", {k: v for k, v in a[1].items() if k != "tag"}))
                else:
                    out.append(a)
            assert till.engine.error is None, (shift, line, till.engine.error)
    finally:
        till.close()
    return out


@pytest.mark.parametrize("shift", ["day", "errors", "offline", "powercut"])
def test_a_till_without_policies_acts_as_with_the_builders_defaults(shift: str) -> None:
    store = json.loads(STORE.read_text())
    store["policies"] = {"prices_include_tax": True}
    defaults = sb.parse_config(store)["policies"]
    sparse = meta()
    sparse["policies"] = {}
    for role in sparse["roles"].values():
        for key in [k for k, v in role.items() if key_is_default(k, v)]:
            del role[key]
    full = meta()
    full["policies"] = defaults
    assert actions_of(sparse, shift) == actions_of(full, shift)


def key_is_default(key: str, value: Any) -> bool:
    default = policy.ROLE[key]
    return value == default or (isinstance(default, tuple) and list(default) == value)


def doc_value(default: Any) -> str:
    """How docs/engine.md writes a default."""
    if isinstance(default, bool):
        return "true" if default else "false"
    if default is None:
        return "null"
    if isinstance(default, str):
        return f'`"{default}"`'
    if isinstance(default, dict):
        return "all defaults"
    if isinstance(default, tuple):
        return "none"
    return str(default)


def test_docs_engine_md_states_the_tables_defaults() -> None:
    # The tables of roles and policies in docs/engine.md ("What the snapshot
    # configures") give each key's default; they must be policy.py's.
    doc = (ROOT / "docs" / "engine.md").read_text()
    section = doc.split("## What the snapshot configures")[1].split("\n## ")[0]
    stated: dict[str, str] = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if not row.startswith("| `") or len(cells) < 3:
            continue
        keys = [k.strip("`") for k in cells[0].split(", ")]
        values = cells[1].split(", ") if len(keys) > 1 else [cells[1]]
        if len(values) == 1:  # one default for all the keys of the row
            values = values * len(keys)
        stated.update(zip(keys, values))
    wrong = []
    for table in (policy.POLICIES, policy.ROLE):
        for key, default in table.items():
            if key in UNREAD:
                continue
            if stated.get(key) != doc_value(default):
                wrong.append(f"{key}: docs/engine.md says {stated.get(key)!r}, "
                             f"policy.py {doc_value(default)!r}")
    assert not wrong, "\n".join(wrong)
    # Every permission is explained there.
    named = {k.strip("`") for r in section.splitlines() if r.startswith("| `")
             for k in r.split("|")[1].strip().split(", ")}
    assert set(policy.PERMISSIONS) <= named, set(policy.PERMISSIONS) - named
