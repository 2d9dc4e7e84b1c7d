"""`kassa journal dump --names`: record bodies with docs/records.md's field
names, here for what the cash drawer adds (record kind 8, the drawer's period
fields and counts)."""
from __future__ import annotations

from host_tools.hodata.record_names import named_body


def test_cash_movements_and_the_drawer_fields_have_their_names() -> None:
    assert named_body(8, {1: 1, 2: 9, 3: -1250, 4: "4711"}) == {
        "cashier": 1, "approver": 9, "amount": -1250, "reason": "4711"}
    closing = named_body(4, {1: 1, 5: [[1, 290]], 6: {1: 1, 10: 1, 11: 2}, 20: 10000, 21: -1250,
                             22: 9040, 23: 9000})
    assert closing == {"z": 1, "tenders": [{"type": "cash", "amount": 290}], "taxes": None,
                       "counts": {"sales": 1, "cash_ins": 1, "cash_outs": 2}, "cash_in": 10000,
                       "cash_out": -1250, "cash_expected": 9040, "cash_counted": 9000}
