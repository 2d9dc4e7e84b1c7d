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


def test_a_journal_with_cash_movements_verifies_and_dumps_them(tmp_path, capsys) -> None:
    import json

    from host_tools.cli import main
    from host_tools.hodata import journal_reader as jr
    from till.formats import journal as J

    key, till = bytes(range(32)), "S001/till-1"
    j = J.Journal(str(tmp_path), till, key, clock=lambda: 1795000000)
    j.append(J.KIND_CASH, {1: 1, 2: 9, 3: 10000})
    j.append(J.KIND_CASH, {1: 1, 3: -1250, 4: "4711"})
    j.close()
    report = jr.verify(tmp_path, key, till)
    assert report.errors == [] and report.kinds == {"cash": 2}
    assert main(["journal", "dump", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in lines] == ["cash", "cash"]
