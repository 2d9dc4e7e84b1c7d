"""What the demo's cashiers key, as sim script lines (docs/simulator.md): sales
drawn the same way every run from the catalog (scanned barcodes, weighed items
from their scale labels, quantities, cash or card), refunds approved by the
manager, the float put into the drawer, and the Z closing after the drawer is
counted. Pure: the orchestration sends the lines."""
from __future__ import annotations

import random

from host_tools.demo.catalog import Item, weight_label

CASHIER = ("1", "1111")  # Anna, a cashier (example store)
MANAGER = ("3", "3333")  # Carla, who approves refunds and the Z closing


def sign_on(cashier: tuple[str, str] = CASHIER) -> list[str]:
    return [f"key {cashier[0]} SIGN", f"type {cashier[1]}", "key TOTAL"]


def _approve() -> list[str]:
    return [f"type {MANAGER[0]}", "key TOTAL", f"type {MANAGER[1]}", "key TOTAL"]


def sales(catalog: list[Item], n: int, rnd: random.Random) -> list[str]:
    """n sales of 1-5 lines each, paid in cash (exact) or by card."""
    weighed = [i for i in catalog if i.weighed]
    coded = [i for i in catalog if not i.weighed]
    lines: list[str] = []
    for _ in range(n):
        for _ in range(rnd.randint(1, 5)):
            pick = rnd.random()
            if pick < 0.2:
                item = rnd.choice(weighed)
                lines.append(f"scan {weight_label(item.plu, rnd.randrange(150, 2500))}")
            elif pick < 0.3:
                lines += [f"type {rnd.randint(2, 4)}", "key QTY",
                          f"scan {rnd.choice(coded).barcode}"]
            else:
                lines.append(f"scan {rnd.choice(coded).barcode}")
        if rnd.random() < 0.6:
            lines.append("key CASH")  # exact cash
        else:  # the card terminal's approval code, keyed
            lines += ["key CARD", f"type {rnd.randrange(1000, 10000)}", "key TOTAL"]
    return lines


def refund(receipt: int) -> list[str]:
    """Refund of a whole receipt, paid back in cash; the manager approves."""
    return ["key REFUND", f"type {receipt}", "key TOTAL", *_approve(), "key CASH"]


def cash_in(minor: int = 10000) -> list[str]:
    """The float into the drawer (REPORT 6, no reason no.; an amount keyed
    without a point counts its last two digits as cents); the manager approves."""
    return ["key REPORT 6", f"type {minor}", "key TOTAL", "key TOTAL", *_approve()]


def z_closing(counted_minor: int = 0) -> list[str]:
    """The Z: the manager approves, the cashier keys the cash counted (the Z
    prints the difference to what the drawer should hold)."""
    return ["key REPORT 2", *_approve(), f"type {counted_minor}", "key TOTAL"]
