# Receipt layout on both interpreters: what goes on paper for sales, refunds,
# copies, training, X and Z reports. tests/host/test_receipt_paper.py renders
# the bytes with the host renderer and checks that nothing overflows.
from till.formats import escpos
from till.pos import receipt

PROFILE_80 = {"columns": {"a": 42}, "paper_width_dots": 512, "cut": {"full": True, "partial": True},
              "qr_native": True, "raster_image": True,
              "text_code_page": {"name": "CP858", "index": 19}}
PROFILE_58 = {"columns": {"a": 32}, "paper_width_dots": 384, "cut": {"full": False, "partial": False},
              "qr_native": False, "text_code_page": {"name": "CP437", "index": 0}}
TAG = bytes(range(16))


def sale_job(**over):
    job = {
        "kind": "sale", "copy": False, "training": False, "till": "store-12/till-7",
        "receipt": 1042, "tag": TAG, "time": 1795262400, "clock_set": True,
        "cashier": {"id": 1, "name": "Anna"},
        "header": ["Kassa Corner Shop", "Hauptstrasse 1, Berlin"], "footer": ["Danke!"],
        "store": {"name": "Kassa Corner Shop"}, "currency": {"code": "EUR", "decimals": 2},
        "lines": [
            {"plu": 1, "name": "Bio Vollmilch 3,8% Fett 1 Liter Tetrapack extra lang",
             "qty": 2, "grams": None, "unit_price": 115, "amount": 230, "discount": None,
             "tax_class": "B", "flags": 0},
            {"plu": 2, "name": "Käse Gouda", "qty": None, "grams": 512, "unit_price": 1299,
             "amount": 665, "discount": {"percent_bp": 1000, "amount": 67}, "tax_class": "B",
             "flags": 0},
        ],
        "subtotal": 828, "sale_discount": None, "total": 828, "rounding": 2,
        "tenders": [{"type": "cash", "amount": 830, "given": 1000, "change": 170}],
        "change": 170,
        "taxes": [{"class": "B", "name": "reduced", "rate_ppm": 70000, "net": 774, "tax": 54,
                   "gross": 828}],
        "snapshot": 3,
    }
    job.update(over)
    return job


def render(job, profile=PROFILE_80):
    out = escpos.EscPos(columns=profile["columns"]["a"])
    receipt.render(job, out, profile)
    return out.output()


def test_sale_receipt_has_everything_a_customer_and_auditor_need():
    data = render(sale_job())
    assert data.startswith(b"\x1b@\x1bt\x13")  # init, CP858
    for needle in (b"Kassa Corner Shop", b"Receipt 1042", b"Cashier Anna", b"2 x 1.15",
                   b"0.512 kg x 12.99/kg", b"Discount 10%", b"-0.67", b"TOTAL", b"8.28",
                   b"Cash rounding", b"Cash", b"10.00", b"Change", b"1.70", b"B 7%",
                   b"Danke!", b"2026-11-21 12:00", b"Till store-12/till-7"):
        assert needle in data, needle
    payload = "KASSA1|store-12/till-7|1042|000102030405060708090a0b0c0d0e0f"
    assert receipt.qr_payload("store-12/till-7", 1042, TAG) == payload
    assert payload.encode() in data  # native QR store command carries it
    assert data.endswith(b"\x1dV\x01")  # partial cut
    assert b"K\x84se" in data  # ä in CP858


def test_no_qr_printer_prints_the_check_data_as_text_and_feeds_without_cutter():
    data = render(sale_job(), PROFILE_58)
    assert b"\x1d(k" not in data
    assert b"KASSA1|store-12/till-7|1042|" in data
    assert b"\x1dV" not in data and data.endswith(b"\x1bd\x06")


def test_marks_for_copy_training_and_refund():
    data = render(sale_job(copy=True, training=True))
    assert data.count(b"*** COPY ***") == 2 and data.count(b"TRAINING - NOT A SALE") == 2
    data = render(sale_job(kind="storno", refund_of=1001, approver={"id": 3, "name": "Carla"}))
    assert data.count(b"*** REFUND ***") == 2
    assert b"Refund 1042" in data and b"Refund of receipt 1001" in data and b"Approved by Carla" in data


def test_clock_not_set_is_said_on_paper():
    data = render(sale_job(clock_set=False, time=0))
    assert b"time not set" in data and b"1970" not in data


def test_z_report():
    job = {"kind": "z", "copy": False, "training": False, "till": "t7", "receipt": 2000,
           "tag": TAG, "time": 1795262400, "clock_set": True, "cashier": {"id": 3, "name": "Carla"},
           "header": ["Shop"], "footer": [], "store": {}, "currency": {"decimals": 2},
           "z": 14, "first": 1001, "last": 1999,
           "taxes": [{"class": "A", "rate_ppm": 190000, "net": 10000, "tax": 1900, "gross": 11900}],
           "tenders": [{"type": "cash", "amount": 8000}, {"type": "card", "amount": 3900}],
           "counts": {"sales": 120, "stornos": 2, "no_sales": 3, "cancelled": 1, "voided_lines": 4,
                      "training": 5},
           "sales": 12500, "refunds": -600, "rounding": 3, "discounts": 250,
           "grand_total": 9876543, "incomplete": False, "snapshot": 3}
    data = render(job)
    for needle in (b"Z closing 14", b"1001 to 1999", b"Sales total", b"125.00", b"-6.00",
                   b"Card", b"39.00", b"A 19%", b"Grand total", b"98765.43",
                   b"Training records", b"HO data version"):
        assert needle in data, needle
    assert b"KASSA1|t7|2000|" in data


def _text_lines(data):
    # The printed text lines of a receipt in CP858/CP437 (ESC/POS commands
    # between them are short and never hold a newline of their own here).
    from till.formats import codepages

    return [codepages.decode(ln, codepages.CP858) for ln in data.split(b"\n")]


def test_item_lines_carry_their_tax_letter_and_long_names_wrap_whole():
    job = sale_job()
    job["lines"][0]["name"] = "Bio Vollmilch 3,8% Fett 1 Liter Tetrapack extra lang"
    for profile in (PROFILE_80, PROFILE_58):
        cols = profile["columns"]["a"]
        lines = _text_lines(render(job, profile))
        at = [i for i, ln in enumerate(lines) if ln.startswith("Bio Vollmilch")]
        assert at, lines
        # Every word of the name is on paper, in order, and the amount with its
        # tax class letter closes the name's last line.
        words = []
        i = at[0]
        while not lines[i].endswith("2.30 B"):
            words += lines[i].split()
            i += 1
        words += lines[i][:-len("2.30 B")].split()
        assert " ".join(words) == "Bio Vollmilch 3,8% Fett 1 Liter Tetrapack extra lang"
        assert i > at[0]  # wrapped: the name is longer than either paper's line
        assert all(len(ln) <= cols for ln in lines[at[0]:i + 1])
        assert any(ln.endswith("-0.67  ") for ln in lines)  # a discount under its line's amount


def test_the_currency_is_printed_with_the_total():
    lines = _text_lines(render(sale_job()))
    assert any("TOTAL EUR " in ln and ln.endswith("8.28") for ln in lines)
    job = sale_job(currency={"decimals": 2})  # HO data with no code: the total alone
    assert any("TOTAL     " in ln and ln.endswith("8.28") for ln in _text_lines(render(job)))


def test_letters_the_code_page_lacks_are_folded_before_the_line_is_fitted():
    # CP437 has no euro sign: "€" prints as EUR, and the wider name still
    # leaves the price whole. CP858 has it, and ü in both stays ü.
    job = sale_job()
    job["lines"][1]["name"] = "Müsli 5€-Aktion Großpackung Sonderedition 2026"
    data = render(job, PROFILE_58)
    assert b"EUR" in data and "€".encode() not in data
    assert b"M\x81sli" in data  # ü is 0x81 in CP437
    assert any(ln.endswith("6.65 B") for ln in _text_lines(data))
    data = render(job, PROFILE_80)
    assert b"5\xd5-Aktion" in data  # € is 0xD5 in CP858
    job["lines"][1]["name"] = "Käse 日本"
    assert b"K\x84se ??" in render(job, PROFILE_80)


def test_internal_slips_carry_no_customer_footer():
    job = sale_job(footer=["Danke fuer Ihren Einkauf!"])
    assert b"Danke fuer" in render(job)
    assert b"Danke fuer" in render(sale_job(kind="storno", refund_of=1001,
                                            footer=["Danke fuer Ihren Einkauf!"]))
    for kind in ("no-sale", "x", "z"):
        slip = {"kind": kind, "copy": False, "training": False, "till": "t7", "receipt": 9,
                "tag": TAG, "time": 1795262400, "clock_set": True, "cashier": {"id": 3},
                "header": ["Shop"], "footer": ["Danke fuer Ihren Einkauf!"], "store": {},
                "currency": {"decimals": 2}, "z": 1, "counts": {}}
        data = render(slip)
        assert b"Shop" in data and b"Danke fuer" not in data, kind
