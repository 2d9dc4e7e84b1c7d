"""The demo store's HO data, the same every run: several hundred items with
barcodes (EAN-13), weighed items sold from a scale label (GS1 prefix 23,
grams), two tax classes, the example store's cashiers and policies; a price
change for the afternoon and a receipt logo. Written in the formats
`kassa snapshot build` and `kassa snapshot delta --changes` read
(docs/snapshot.md)."""
from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from host_tools.provision.sim import EXAMPLE_STORE
from till.formats.barcode import check_digit

COLUMNS = ["plu", "name", "price", "tax", "barcodes", "weighed", "open_price", "min_age", "dept"]
N_ITEMS = 400
N_WEIGHED = 40  # PLUs 1..40, sold by weight from a scale label
WEIGHT_PREFIX = "23"  # the example store's barcode rule: 23 PPPPP GGGGG C
N_PRICE_CHANGES = 25

_WEIGHED = ["Bananas", "Apples", "Pears", "Tomatoes", "Carrots", "Potatoes", "Onions",
            "Grapes", "Plums", "Cherries", "Gouda", "Emmental", "Ham", "Salami", "Mince",
            "Chicken", "Salmon", "Olives", "Mushrooms", "Peppers"]
_GOODS = [("Bread", "B"), ("Rolls", "B"), ("Milk", "B"), ("Yoghurt", "B"), ("Butter", "B"),
          ("Coffee", "B"), ("Tea", "B"), ("Pasta", "B"), ("Rice", "B"), ("Cereal", "B"),
          ("Juice", "A"), ("Lemonade", "A"), ("Water", "A"), ("Wine", "A"), ("Beer", "A"),
          ("Soap", "A"), ("Shampoo", "A"), ("Batteries", "A"), ("Candles", "A"), ("Tissues", "A")]
_SIZES = ["small", "large", "organic", "value", "family", "classic", "light", "premium"]


@dataclass(frozen=True)
class Item:
    plu: int
    name: str
    price: int  # minor units; per kg for a weighed item
    tax: str
    barcode: str  # "" for a weighed item (sold from its scale label)
    weighed: bool
    dept: int


def items(seed: int = 10) -> list[Item]:
    rnd = random.Random(seed)
    out = []
    for plu in range(1, N_WEIGHED + 1):
        name = f"{_WEIGHED[(plu - 1) % len(_WEIGHED)]} {'loose' if plu <= 20 else 'deli'} per kg"
        out.append(Item(plu, name, rnd.randrange(99, 2999), "B", "", True, 1 + plu // 21))
    seen: set[str] = set()
    for plu in range(N_WEIGHED + 1, N_ITEMS + 1):
        good, tax = _GOODS[plu % len(_GOODS)]
        while True:
            body = "40%010d" % rnd.randrange(10 ** 10)
            if body not in seen:
                seen.add(body)
                break
        out.append(Item(plu, f"{good} {rnd.choice(_SIZES)} {plu}", rnd.randrange(29, 4999), tax,
                        body + str(check_digit(body)), False, 3 + plu % 7))
    return out


def weight_label(plu: int, grams: int) -> str:
    """A scale's label for a weighed item: 23, the PLU in 5 digits, grams in 5, check digit."""
    body = f"{WEIGHT_PREFIX}{plu:05d}{grams:05d}"
    return body + str(check_digit(body))


def price_changes(catalog: list[Item], seed: int = 11) -> list[Item]:
    """HO's afternoon price change: some items up or down by a few percent."""
    rnd = random.Random(seed)
    chosen = rnd.sample(catalog, N_PRICE_CHANGES)
    return [Item(i.plu, i.name, max(1, i.price + rnd.choice([-1, 1]) * max(1, i.price // 20)),
                 i.tax, i.barcode, i.weighed, i.dept) for i in sorted(chosen, key=lambda i: i.plu)]


def _row(i: Item) -> list[object]:
    return [i.plu, i.name, i.price, i.tax, i.barcode, "yes" if i.weighed else "", "", "", i.dept]


def store_config() -> dict:
    """The example store's setup (cashiers, roles, barcode rules, policies) with
    two tax classes, under the demo's name."""
    cfg = json.loads((EXAMPLE_STORE / "store.json").read_text())
    cfg["tax_classes"] = {k: v for k, v in cfg["tax_classes"].items() if k in ("A", "B")}
    cfg["store"]["name"] = "Kassa Demo Market"
    cfg["receipt"]["header"] = ["Kassa Demo Market", "Lindenstrasse 12, 10969 Berlin",
                                "VAT no. DE123456789"]
    return cfg


def logo_png(path: Path) -> Path:
    img = Image.new("L", (480, 96), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((4, 4, 475, 91), outline=0, width=8)
    for x in range(24, 460, 36):  # a row of baskets
        d.ellipse((x, 30, x + 24, 66), outline=0, width=5)
    img.save(path)
    return path


@dataclass(frozen=True)
class CatalogFiles:
    items: Path
    store: Path
    changes: Path
    logo: Path


def write(directory: Path) -> CatalogFiles:
    directory.mkdir(parents=True, exist_ok=True)
    catalog = items()
    files = CatalogFiles(directory / "items.csv", directory / "store.json",
                         directory / "changes.csv", directory / "logo.png")
    with open(files.items, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(_row(i) for i in catalog)
    with open(files.changes, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["action"] + COLUMNS)
        w.writerows(["set"] + _row(i) for i in price_changes(catalog))
    files.store.write_text(json.dumps(store_config(), indent=1) + "\n")
    logo_png(files.logo)
    return files
