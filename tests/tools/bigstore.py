"""A synthetic 50,000-item store for catalog tests and benchmarks (CSV rows in
the columns of tests/data/store/items.csv), the same every run for a seed."""
from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from till.formats.barcode import check_digit

COLUMNS = ["plu", "name", "price", "tax", "barcodes", "weighed", "open_price", "min_age", "dept"]
N_BIG = 50000


def big_rows(seed: int = 7, n: int = N_BIG) -> list[list[Any]]:
    rnd = random.Random(seed)
    rows = []
    plus = rnd.sample(range(1, 10_000_000), n)
    for i, plu in enumerate(plus):
        body = "40%010d" % rnd.randrange(10 ** 10)
        codes = [body + str(check_digit(body))]
        if i % 10 == 0:
            body2 = "0%011d" % rnd.randrange(10 ** 11)  # a UPC-A
            codes.append(body2[1:] + str(check_digit(body2)))
        rows.append([plu, f"Item {plu} {rnd.choice(['red', 'large', 'organic', 'value'])} pack",
                     rnd.randrange(1, 100000), rnd.choice("ABC"), " ".join(codes),
                     "yes" if i % 50 == 0 else "", "", "", i % 30])
    return unique_codes(rows)


def unique_codes(rows: list[list[Any]]) -> list[list[Any]]:
    """Drop rows whose barcode (as a number) another row already has."""
    seen: set[int] = set()
    out = []
    for row in rows:
        keys = [int(c) for c in row[4].split()]
        if any(k in seen for k in keys):
            continue
        seen.update(keys)
        out.append(row)
    return out


def write_csv(path: Path, rows: list[list[Any]], header: list[str] = COLUMNS) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
