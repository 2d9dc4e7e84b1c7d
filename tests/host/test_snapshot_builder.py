"""Head office's snapshot builder: validation with file/row/field, the example
store, packages that install on the till under CPython and MicroPython, and a
50,000-item catalog looked up in MicroPython under a Pico W's 192K heap."""
from __future__ import annotations

import csv
import hashlib
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest
from bigstore import big_rows, write_csv
from conftest import compiled_firmware, micropython_binary, micropython_env

from host_tools import cli
from host_tools.hodata import snapshot_builder as sb
from till.formats import catalog as tcatalog
from till.formats import cbor as tcbor
from till.formats import crypto
from till.formats.snapshot import SnapshotStore

DATA = Path(__file__).resolve().parent.parent / "data" / "store"
ROOT = Path(__file__).resolve().parents[2]


def example_config() -> dict[str, Any]:
    return sb.load_config(DATA / "store.json")


def problems_of(fn: Any, *args: Any) -> list[str]:
    with pytest.raises(sb.BuildError) as info:
        fn(*args)
    return info.value.problems


def run_micropython(script: str, tmp_path: Path, timeout_s: float = 120) -> dict[str, Any]:
    errors = compiled_firmware()
    assert not errors, errors
    path = tmp_path / "mp_script.py"
    path.write_text(script)
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=192K", str(path)],
                          capture_output=True, text=True, env=micropython_env(), cwd=ROOT,
                          timeout=timeout_s)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- the example store -------------------------------------------------------

def test_names_a_printer_cannot_print_are_warned_about_not_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = example_config()
    items = sb.load_items(DATA / "items.csv", config)
    items[0] = dict(items[0], name="Sushi 寿司 Crème €5")  # é and € print (folded if need be)
    config["receipt"]["footer"] = ["Merci ☺"]
    result = sb.build(items, config, 1, tmp_path / "s1", created=1700000000)
    assert result.warnings == [
        f"item PLU {items[0]['plu']} name 'Sushi 寿司 Crème €5': '寿司' cannot be printed "
        "on receipts (prints as '?')",
        "receipt.footer line 1 'Merci ☺': '☺' cannot be printed on receipts (prints as '?')"]
    assert sb.unprintable("Straße Œuvre Ñandú ½ €") == ""
    # The command line builds it and says so on stderr.
    (tmp_path / "items.json").write_text(json.dumps([dict(items[0], barcodes=[])]))
    (tmp_path / "store.json").write_text((DATA / "store.json").read_text())
    assert cli.main(["snapshot", "build", "--items", str(tmp_path / "items.json"), "--config",
                     str(tmp_path / "store.json"), "--version", "2", "--out",
                     str(tmp_path / "s2")]) == 0
    assert "warning: item PLU" in capsys.readouterr().err and (tmp_path / "s2").is_dir()


def test_example_store_builds(tmp_path: Path) -> None:
    config = example_config()
    items = sb.load_items(DATA / "items.csv", config)
    assert len(items) == 20
    result = sb.build(items, config, 1, tmp_path / "s1", created=1700000000)
    assert (result.items, result.gtins) == (20, 14)
    assert result.warnings == []  # every name prints (é, ü, € fold or are in the page)
    meta = cbor2.loads((tmp_path / "s1" / "meta").read_bytes())
    assert meta["version"] == 1 and meta["base"] is None and meta["created"] == 1700000000
    assert set(meta["roles"]) == {"cashier", "supervisor", "manager"}
    assert sorted(meta["cashiers"]) == [1, 2, 3]
    assert meta["tax_classes"]["C"] == {"name": "No VAT", "rate_ppm": 0}
    # The till's encoder and cbor2 canonical agree on every record and the meta.
    assert tcbor.dumps(meta) == (tmp_path / "s1" / "meta").read_bytes()
    cat = tcatalog.Catalog(str(tmp_path / "s1"))
    try:
        for plu, raw in cat.records():
            rec = cbor2.loads(bytes(raw))
            assert cbor2.dumps(rec, canonical=True) == bytes(raw)
            assert rec[0] == plu
        assert cat.by_barcode("036000291452")["name"] == "Cola 0.33 l"
        assert cat.by_barcode("4008400402239")["plu"] == 20
        assert cat.by_plu(1)["weighed"] and cat.by_plu(60)["open_price"]
        assert cat.by_plu(42)["min_age"] == 18
    finally:
        cat.close()
    # The example PINs (1111, 2222, 3333) verify with the till's PBKDF2.
    anna = meta["cashiers"][1]["pin"]
    assert crypto.pbkdf2_sha256(b"1111", anna["salt"], anna["iterations"]) == anna["hash"]
    # Same input, same bytes: the build is reproducible.
    again = sb.build(items, config, 1, tmp_path / "s1b", created=1700000000)
    assert again.hash == result.hash


def test_items_as_json_equal_items_as_csv(tmp_path: Path) -> None:
    config = example_config()
    from_csv = sb.load_items(DATA / "items.csv", config)
    as_json = []
    with (DATA / "items.csv").open() as f:
        for row in csv.DictReader(f):
            obj: dict[str, Any] = {"plu": int(row["plu"]), "name": row["name"],
                                   "price": int(row["price"]), "tax": row["tax"],
                                   "weighed": row["weighed"] == "yes",
                                   "open_price": row["open_price"] == "yes",
                                   "barcodes": row["barcodes"].split()}
            if row["min_age"]:
                obj["min_age"] = int(row["min_age"])
            if row["dept"]:
                obj["dept"] = int(row["dept"])
            as_json.append(obj)
    (tmp_path / "items.json").write_text(json.dumps(as_json))
    assert sb.load_items(tmp_path / "items.json", config) == from_csv


# ---- validation: every problem named by file, row and field -------------------

def example_rows() -> list[list[str]]:
    with (DATA / "items.csv").open() as f:
        return [row for row in csv.reader(f)][1:]


def test_csv_errors_name_file_row_and_field(tmp_path: Path) -> None:
    rows = example_rows()
    assert len(rows) == 20
    rows[15][2] = "abc"  # row 17 of the sheet: the header is row 1
    rows[2][3] = "Z"
    rows[5][4] = "4006381333932"  # wrong check digit
    rows[6][4] = "2312345012340"  # prefix 23 is a weight rule
    rows[7][0] = "11"  # PLU of row 7 again
    rows[8][1] = ""
    rows[9][2] = "12.99"
    rows[10][5] = "maybe"
    rows[11][7] = "150"
    path = write_csv(tmp_path / "items.csv", rows)
    problems = problems_of(sb.load_items, path, example_config())
    text = "\n".join(problems)
    assert "items.csv row 17, field price: 'abc' is not an amount in minor units" in problems
    assert "items.csv row 4, field tax: 'Z' is not one of the tax classes (A, B, C)" in problems
    assert "items.csv row 7, field barcodes: '4006381333932' is not a valid EAN/UPC barcode (check digit)" in problems
    assert "items.csv row 8, field barcodes: 2312345012340 would be read as a weight code" in text
    assert "items.csv row 10, field name: missing" in text
    assert "items.csv row 11, field price: '12.99' is not an amount in minor units" in problems
    assert "items.csv row 12, field weighed: 'maybe' is not yes or no" in problems
    assert "items.csv row 13, field min_age: '150' is not an age 0..99" in problems
    # A duplicate PLU is found once the rows themselves are valid.
    rows = example_rows()
    rows[7][0] = "11"
    rows[7][4] = ""
    rows[3][4] = "4006381333931"  # barcode of PLU 11 on PLU 4 too
    problems = problems_of(sb.load_items, write_csv(tmp_path / "dup.csv", rows), example_config())
    assert "dup.csv row 9, field plu: PLU 11 is already used in row 7" in problems
    assert any(p.startswith("dup.csv row 7, field barcodes: barcode 4006381333931 is already on PLU 4")
               for p in problems), problems


def test_csv_structure_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "items.csv", [["1", "x", "1", "A"]], ["plu", "name", "prcie", "tax"])
    assert problems_of(sb.load_items, path, example_config()) == [
        "items.csv header: unknown column 'prcie' (known: plu, name, price, tax, barcodes, "
        "weighed, open_price, min_age, dept)"]
    path.write_text("plu,name,price,tax\n1,Gouda, young,100,B\n")
    assert "items.csv row 2: more cells than the header" in \
        problems_of(sb.load_items, path, example_config())[0]
    path = write_csv(tmp_path / "w.csv", [["1", "Scale item", "100", "B", "", "yes", "yes", "", ""],
                                          ["2", "Free", "0", "B", "", "", "", "", ""],
                                          ["3", "x" * 65, "1", "B", "", "", "", "", ""]])
    problems = problems_of(sb.load_items, path, example_config())
    assert "w.csv row 2, field open_price: an item is weighed or open price, not both" in problems
    assert "w.csv row 3, field price: 0 is only for open-price items" in problems
    assert any(p.startswith("w.csv row 4, field name:") for p in problems)


def test_json_items_errors(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([
        {"plu": 1, "name": "A", "price": 100, "tax": "A"},
        {"plu": 2, "name": "B", "price": 1.5, "tax": "A"},
        {"plu": 3, "name": "C", "price": 100, "tax": "A", "colour": "red"},
    ]))
    assert problems_of(sb.load_items, path, example_config()) == [
        "items.json item 3, field colour: unknown field (known: plu, name, price, tax, barcodes, "
        "weighed, open_price, min_age, dept)"]
    data = json.loads(path.read_text())
    del data[2]["colour"]
    path.write_text(json.dumps(data))
    assert problems_of(sb.load_items, path, example_config()) == [
        "items.json item 2, field price: 1.5 is not an amount in minor units"]
    path.write_text("[{\"plu\": 1,}]")
    assert problems_of(sb.load_items, path, example_config())[0].startswith("items.json line 1: not valid JSON")


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    data = json.loads((DATA / "store.json").read_text())
    data["tax_classes"]["A"]["rate_ppm"] = 19.0
    data["cashiers"][0]["role"] = "boss"
    data["cashiers"][1] = {"id": 2, "name": "Ben", "role": "supervisor", "pin": "2222"}
    data["cashiers"][2]["id"] = 1
    data["policies"]["max_ofline_hours"] = 3
    data["roles"]["cashier"]["may"] = ["void_line", "fly"]
    data["barcode_rules"][0]["prefix"] = "40"
    data["currency"]["code"] = "euro"
    del data["store"]["id"]
    problems = problems_of(sb.parse_config, data)
    text = "\n".join(problems)
    assert "store.json field tax_classes.A.rate_ppm: 19.0 is a fraction" in text
    assert "store.json field cashiers[0].role: 'boss' is not one of the roles" in text
    assert "store.json field cashiers[1].pin: a plain PIN: run with --hash-pins" in text
    assert "store.json field cashiers[2].id: cashier id 1 appears twice" in problems
    assert "store.json field policies.max_ofline_hours: unknown setting" in text
    assert "store.json field roles.cashier.may: ['void_line', 'fly']" in text
    assert "store.json field barcode_rules[0]: Barcode rule prefix '40' must be digits" in text
    assert "store.json field currency.code: 'euro' is not an ISO 4217 code" in text
    assert "store.json field store.id: None is not a text" in text
    bad = tmp_path / "store.json"
    bad.write_text("{\n  \"store\": ,\n}")
    assert problems_of(sb.load_config, bad)[0].startswith("store.json line 2: not valid JSON")


def test_policy_and_role_errors_say_what_is_allowed() -> None:
    # Every setting is checked against the till's own table (till.pos.policy).
    data = json.loads((DATA / "store.json").read_text())
    p = data["policies"]
    del p["prices_include_tax"]
    p.update(eight_digit="ean13", offline_max_sale="lots", cash_rounding=0,
             idle_lock_minutes=True)
    p["offline"] = {"max_refund": -1, "open_prices": True}
    del data["roles"]["cashier"]["rank"]
    data["roles"]["manager"]["max_open_price"] = -5
    data["roles"]["supervisor"]["may"] = "refund"
    text = "\n".join(problems_of(sb.parse_config, data))
    for want in (
            "policies.prices_include_tax: missing (true: shelf prices include tax)",
            "policies.eight_digit: 'ean13' is not one of 'ean8', 'upce'",
            "policies.offline_max_sale: 'lots' is not null (no limit) or a whole number of at least 0",
            "policies.cash_rounding: 0 is not a whole number 1..100000",
            "policies.idle_lock_minutes: True is not a whole number 0..1440",
            "policies.offline.max_refund: -1 is not a whole number at least 0",
            "policies.offline.open_prices: unknown setting (known: max_refund, open_price, "
            "price_override)",
            "roles.cashier.rank: missing (the role's order among the roles, 0..99)",
            "roles.manager.max_open_price: -5 is not null (no limit)",
            "roles.supervisor.may: 'refund' is not a list of names"):
        assert "store.json field " + want in text, want
    # Left out, a setting gets the till's default; null is no limit.
    data = json.loads((DATA / "store.json").read_text())
    data["policies"] = {"prices_include_tax": False, "offline": {"open_price": True}}
    policies = sb.parse_config(data)["policies"]
    assert policies["offline"] == {"open_price": True, "price_override": False, "max_refund": 0}
    assert policies["offline_max_sale"] is None and policies["idle_lock_minutes"] == 5
    assert sb.parse_config(data)["roles"]["cashier"]["max_open_price"] is None


def test_vouchers_are_barcode_prefixes_that_no_item_barcode_starts_with(tmp_path: Path) -> None:
    data = json.loads((DATA / "store.json").read_text())
    for bad in ("98", ["9a"], [98], ["1" * 14]):
        data["policies"]["vouchers"] = bad
        text = "\n".join(problems_of(sb.parse_config, data))
        assert "store.json field policies.vouchers: " in text and "barcode prefixes" in text, bad
    data["policies"]["vouchers"] = ["98", "400638", "98"]
    config = sb.parse_config(data)
    assert config["policies"]["vouchers"] == ["400638", "98"]
    rows = example_rows()
    code = next(r[4].split()[0] for r in rows if r[4].startswith("400638"))
    problems = problems_of(sb.load_items, write_csv(tmp_path / "items.csv", rows), config)
    assert any(f"field barcodes: {code} starts with the voucher prefix 400638" in p
               for p in problems), problems


def test_hash_pins_for_setup() -> None:
    data = json.loads((DATA / "store.json").read_text())
    data["cashiers"][1] = {"id": 2, "name": "Ben", "role": "supervisor", "pin": "2468"}
    meta = sb.parse_config(data, hash_pins=True, pin_iterations=500)
    pin = meta["cashiers"][2]["pin"]
    assert pin["alg"] == "pbkdf2-sha256" and pin["iterations"] == 500 and len(pin["salt"]) == 16
    assert pin["hash"] == hashlib.pbkdf2_hmac("sha256", b"2468", pin["salt"], 500)
    assert crypto.pbkdf2_sha256(b"2468", pin["salt"], 500) == pin["hash"]
    assert "2468" not in repr(meta)
    data["cashiers"][1]["pin"] = "12"
    assert "a PIN is 4 to 8 digits" in "\n".join(problems_of(sb.parse_config, data, "store.json", True))


# ---- the kassa command, and the packages on the till ------------------------------

def test_cli_build_delta_and_install_on_cpython(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    assert cli.main(["snapshot", "build", "--items", str(DATA / "items.csv"), "--config",
                     str(DATA / "store.json"), "--version", "1", "--out", str(s1),
                     "--package", str(tmp_path / "s1.pkg"), "--created", "1700000000"]) == 0
    assert cli.main(["snapshot", "delta", "--base", str(s1), "--changes", str(DATA / "changes.csv"),
                     "--version", "2", "--new-dir", str(s2), "--out", str(tmp_path / "d12.pkg"),
                     "--created", "1700003600"]) == 0
    out = capsys.readouterr().out
    assert "delta package:" in out and "3 item and 1 barcode changes" in out
    store = SnapshotStore(str(tmp_path / "till"))
    store.open()
    with (tmp_path / "s1.pkg").open("rb") as f:
        assert store.install(f)["version"] == 1
    assert store.current.by_plu(10)["price"] == 45
    with (tmp_path / "d12.pkg").open("rb") as f:
        info = store.install(f)
    assert info == {"version": 2, "base": 1, "hash": sb.dir_hash(s2)}
    snap = store.current
    assert snap.by_plu(10)["price"] == 49 and snap.by_plu(61) is None
    assert snap.by_barcode("4012345000061")["name"] == "Sunflower seeds 200 g"
    assert snap.cashier(3)["role"] == "manager"
    store.close()
    # show, and a refused build that writes nothing.
    assert cli.main(["snapshot", "show", str(tmp_path / "d12.pkg")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kind"] == "delta" and shown["base"] == 1 and shown["version"] == 2
    bad = write_csv(tmp_path / "bad.csv", [["1", "x", "abc", "A", "", "", "", "", ""]])
    assert cli.main(["snapshot", "build", "--items", str(bad), "--config", str(DATA / "store.json"),
                     "--version", "3", "--out", str(tmp_path / "s3")]) == 1
    err = capsys.readouterr().err
    assert "bad.csv row 2, field price: 'abc' is not an amount in minor units" in err
    assert not (tmp_path / "s3").exists()
    # An empty catalog would empty every till that applies it: only when asked.
    empty = write_csv(tmp_path / "empty.csv", [])
    build_empty = ["snapshot", "build", "--items", str(empty), "--config", str(DATA / "store.json"),
                   "--version", "3", "--out", str(tmp_path / "s3")]
    assert cli.main(build_empty) == 1
    assert "the catalog has no items" in capsys.readouterr().err
    assert not (tmp_path / "s3").exists()
    assert cli.main(build_empty + ["--allow-empty"]) == 0
    assert "snapshot 3: 0 items" in capsys.readouterr().out


def test_host_packages_install_under_micropython(tmp_path: Path) -> None:
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    config = example_config()
    items = sb.load_items(DATA / "items.csv", config)
    sb.build(items, config, 1, s1, created=1700000000)
    sb.build(sb.apply_changes(items, DATA / "changes.csv", config), config, 2, s2,
             created=1700003600, base=1)
    sb.write_full_package(s1, tmp_path / "s1.pkg")
    sb.write_delta_package(s1, s2, tmp_path / "d12.pkg")
    script = f"""
import json
from till.formats.snapshot import SnapshotStore
store = SnapshotStore({str(tmp_path / 'till')!r})
store.open()
out = {{}}
with open({str(tmp_path / 's1.pkg')!r}, "rb") as f:
    out["v1"] = store.install(f)["version"]
out["bread1"] = store.current.by_plu(10)["price"]
with open({str(tmp_path / 'd12.pkg')!r}, "rb") as f:
    info = store.install(f)
out["v2"] = info["version"]
out["hash"] = "".join("%02x" % b for b in info["hash"])
out["bread2"] = store.current.by_plu(10)["price"]
out["voucher"] = store.current.by_plu(61)
out["seeds"] = store.current.by_barcode("4012345000061")["name"]
out["cola"] = store.current.by_barcode("0036000291452")["plu"]
out["whisky"] = store.current.by_plu(42)
print(json.dumps(out))
"""
    got = run_micropython(script, tmp_path)
    assert got["v1"] == 1 and got["v2"] == 2 and got["hash"] == sb.dir_hash(s2).hex()
    assert got["bread1"] == 45 and got["bread2"] == 49 and got["voucher"] is None
    assert got["seeds"] == "Sunflower seeds 200 g" and got["cola"] == 32
    assert got["whisky"] == {"plu": 42, "name": "Whisky 0.7 l", "price": 2499, "tax": "A",
                             "weighed": False, "open_price": False, "min_age": 18, "dept": 6}


# ---- 50,000 items --------------------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("big")
    rows = big_rows()
    path = write_csv(tmp / "items.csv", rows)
    config = example_config()
    t0 = time.perf_counter()
    items = sb.load_items(path, config)
    result = sb.build(items, config, 1, tmp / "s1", created=1700000000)
    build_s = time.perf_counter() - t0
    sb.write_full_package(tmp / "s1", tmp / "s1.pkg")
    sizes = {p.name: p.stat().st_size for p in (tmp / "s1").iterdir()}
    # Version 2: 500 price changes, 100 items gone, 100 new ones.
    by_plu = sorted(items, key=lambda it: it["plu"])
    new = {it["plu"]: it for it in by_plu}
    for it in by_plu[::100]:
        new[it["plu"]] = dict(it, price=it["price"] + 1)
    for it in by_plu[50::500]:
        del new[it["plu"]]
    for k in range(100):
        plu = 10_000_000 + k
        new[plu] = {"plu": plu, "name": f"New item {k}", "price": 100 + k, "tax": "A",
                    "weighed": False, "open_price": False, "min_age": 0, "dept": 0, "barcodes": []}
    sb.build(list(new.values()), config, 2, tmp / "s2", created=1700003600, base=1)
    t0 = time.perf_counter()
    n_items, n_gtins = sb.write_delta_package(tmp / "s1", tmp / "s2", tmp / "d12.pkg")
    delta_s = time.perf_counter() - t0
    print(f"\n50k build: {len(items)} items, {result.gtins} barcodes in {build_s:.1f} s; "
          f"files {sizes}; full package {(tmp / 's1.pkg').stat().st_size} bytes; delta "
          f"{n_items} item and {n_gtins} barcode entries, {(tmp / 'd12.pkg').stat().st_size} "
          f"bytes, made in {delta_s:.1f} s")
    return {"tmp": tmp, "rows": rows, "items": items, "result": result, "new": new}


def test_50k_build_and_lookup_on_cpython(big: dict[str, Any]) -> None:
    items, result = big["items"], big["result"]
    assert result.items == len(items) > 49000
    cat = tcatalog.Catalog(str(big["tmp"] / "s1"))
    try:
        assert len(cat) == result.items and cat.barcode_count == result.gtins
        by_plu = sorted(items, key=lambda it: it["plu"])
        for it in by_plu[:3] + by_plu[-3:] + by_plu[::997]:
            got = cat.by_plu(it["plu"])
            assert got is not None and got["name"] == it["name"] and got["price"] == it["price"]
            for key in it["barcodes"]:
                assert cat.by_barcode("%014d" % key)["plu"] == it["plu"]
        assert cat.by_plu(10_000_001) is None and cat.by_barcode("4000000000000") is None
    finally:
        cat.close()


def test_50k_lookup_and_install_under_micropython_192k(big: dict[str, Any], tmp_path: Path) -> None:
    items = sorted(big["items"], key=lambda it: it["plu"])
    rnd = random.Random(3)
    # The sample, the first and last items, one changed (index 0) and one removed
    # (index 50) by the delta to version 2.
    probes = rnd.sample(items, 200) + [items[0], items[-1], items[50]]
    probe_file = tmp_path / "probes.json"
    probe_file.write_text(json.dumps([[it["plu"], "%014d" % it["barcodes"][0], it["name"]]
                                      for it in probes]))
    script = f"""
import gc, json, time
gc.collect()
free_start = gc.mem_free()
from till.formats.catalog import Catalog
from till.formats.snapshot import SnapshotStore
with open({str(probe_file)!r}) as f:
    probes = json.load(f)
gc.collect()
free_before_open = gc.mem_free()
cat = Catalog({str(big['tmp'] / 's1')!r})
gc.collect()
free_open = gc.mem_free()
# Peak of one lookup: with the collector off, free memory only goes down.
gc.disable()
f0 = gc.mem_free()
cat.by_barcode(probes[0][1])
one_barcode = f0 - gc.mem_free()
gc.collect()
f0 = gc.mem_free()
cat.by_plu(probes[0][0])
one_plu = f0 - gc.mem_free()
gc.enable()
gc.collect()
bad = 0
t = time.ticks_us()
for plu, code, name in probes:
    if cat.by_plu(plu)["name"] != name:
        bad += 1
plu_us = time.ticks_diff(time.ticks_us(), t) / len(probes)
t = time.ticks_us()
for plu, code, name in probes:
    if cat.by_barcode(code)["plu"] != plu:
        bad += 1
code_us = time.ticks_diff(time.ticks_us(), t) / len(probes)
t = time.ticks_us()
misses = 0
for plu, code, name in probes:
    if cat.by_plu(plu + 10000000) is None and cat.by_barcode("99" + code[2:]) is None:
        misses += 1
miss_us = time.ticks_diff(time.ticks_us(), t) / len(probes) / 2
cat.close()
gc.collect()
# Install the 50k full package from a file stream, on the same 192K heap.
store = SnapshotStore({str(tmp_path / 'till')!r})
store.open()
gc.collect()
free_install = gc.mem_free()
t = time.ticks_ms()
with open({str(big['tmp'] / 's1.pkg')!r}, "rb") as f:
    info = store.install(f)
install_ms = time.ticks_diff(time.ticks_ms(), t)
ok_install = store.current.by_plu(probes[5][0])["name"] == probes[5][2]
gc.collect()
t = time.ticks_ms()
with open({str(big['tmp'] / 'd12.pkg')!r}, "rb") as f:
    info2 = store.install(f)
delta_ms = time.ticks_diff(time.ticks_ms(), t)
after_delta = []
for plu, code, name in probes:
    it = store.current.by_plu(plu)
    after_delta.append(None if it is None else it["price"])
new_item = store.current.by_plu(10000099)["name"]
print(json.dumps({{"bad": bad, "misses": misses, "plu_us": plu_us, "code_us": code_us,
                  "miss_us": miss_us, "catalog_heap": free_before_open - free_open,
                  "one_barcode_alloc": one_barcode, "one_plu_alloc": one_plu,
                  "heap_free_at_start": free_start, "install_ms": install_ms,
                  "ok_install": ok_install, "version": info["version"],
                  "delta_ms": delta_ms, "delta_version": info2["version"],
                  "delta_base": info2["base"], "after_delta": after_delta, "new_item": new_item,
                  "heap_free_before_install": free_install}}))
"""
    got = run_micropython(script, tmp_path, timeout_s=300)
    after_delta = got.pop("after_delta")
    print("\nMicroPython -X heapsize=192K, 50k items:", json.dumps(got))
    assert got["bad"] == 0 and got["misses"] == len(probes)
    assert got["ok_install"] and got["version"] == 1
    assert got["delta_version"] == 2 and got["delta_base"] == 1 and got["new_item"] == "New item 99"
    new = big["new"]
    assert after_delta == [new[it["plu"]]["price"] if it["plu"] in new else None
                           for it in probes]
    assert after_delta[-3] == items[0]["price"] + 1 and after_delta[-1] is None
    # The catalog holds three files and two 250-byte windows, nothing per item.
    assert got["catalog_heap"] < 3000
    assert got["one_barcode_alloc"] < 2000 and got["one_plu_alloc"] < 1500
    assert got["plu_us"] < 5000 and got["code_us"] < 10000
