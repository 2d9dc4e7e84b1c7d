"""Receipts from the till's layout, read back by the host renderer as paper:
nothing wraps or overflows, the QR decodes to the check data."""
from __future__ import annotations

import zxingcpp
from test_receipt import PROFILE_58, PROFILE_80, TAG, sale_job

from host_tools.hodata import receipt_render as rr
from till.formats import escpos
from till.pos import receipt


def paper(job: dict, profile: dict) -> rr.Receipt:
    out = escpos.EscPos(columns=profile["columns"]["a"])
    receipt.render(job, out, profile)
    return rr.parse(out.output(), columns=profile["columns"]["a"],
                    width_dots=profile["paper_width_dots"])


def test_nothing_overflows_even_with_absurd_names() -> None:
    long = "Ü" * 200
    for profile in (PROFILE_80, PROFILE_58):
        job = sale_job(header=[long, long], footer=[long], cashier={"id": 1, "name": long},
                       till="till-" + long)
        job["lines"][0]["name"] = long
        job["lines"][1]["name"] = long
        rec = paper(job, profile)
        assert not rec.issues, rec.issues
        for block in rec.blocks:
            if isinstance(block, rr.TextLine):
                assert block.columns <= profile["columns"]["a"], rr.block_text(block, 999)


def test_text_view_reads_like_a_receipt() -> None:
    text = rr.to_text(paper(sale_job(), PROFILE_80))
    lines = text.splitlines()
    # A name too long for its line wraps at a space onto a line of its own;
    # its amount and tax class letter close the last piece. Nothing is cut.
    first = next(i for i, line in enumerate(lines) if line.startswith("Bio Vollmilch"))
    assert lines[first].rstrip() == "Bio Vollmilch 3,8% Fett 1 Liter Tetrapack"
    assert lines[first + 1].startswith("extra lang") and lines[first + 1].endswith("2.30 B")
    assert any(line.startswith("Käse Gouda") and line.endswith("6.65 B") for line in lines)
    assert any(line.startswith("TOTAL EUR") and line.endswith("8.28") for line in lines)
    assert "Danke!" in text


def test_qr_on_the_png_decodes_to_till_seq_and_tag() -> None:
    img = rr.draw_paper(paper(sale_job(), PROFILE_80)).image
    found = [r.text for r in zxingcpp.read_barcodes(img) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert found == [receipt.qr_payload("store-12/till-7", 1042, TAG)]


def test_a_refund_without_receipt_paid_by_voucher_codes_reads_whole_on_58_mm() -> None:
    code = "9" * 26  # the longest voucher code the till takes (engine._MAX_VOUCHER)
    job = sale_job(kind="storno", refund_of=None, approver={"id": 9, "name": "Maria"},
                   tenders=[{"type": "voucher", "amount": 830, "ref": code}], change=0)
    for profile in (PROFILE_80, PROFILE_58):
        text = rr.to_text(paper(job, profile))
        assert "Refund without receipt" in text and "Approved by Maria" in text
        assert "Voucher" in text and f"Ref {code}" in text, text
