# Receipt layout: turns a print job (till/pos/printjob.py: plain data made from a
# journal record) into ESC/POS for one printer, described by its profile (the JSON
# `kassa printer profile MODEL` writes, stored in the board file).
#
# Every line is fitted to the profile's column count (halved for double width),
# so the printer never wraps a line itself: a long item name is wrapped here, at
# its spaces, onto lines of its own above its price. Text is folded to what the
# profile's code page can print (ü -> u only where the page has no ü, € -> EUR)
# before it is fitted, so a price is never cut by a wider replacement. The QR code carries the till id, the receipt's
# sequence number and its chain tag, so a paper receipt can be checked against
# head office's copy of the journal (docs/escpos.md).
from till.formats import escpos
from till.formats import codepages
from till.pos.money import format_money
from till.formats.dates import from_unix
from till.formats.text import fit_columns, fold_ascii
from binascii import unhexlify

QR_PREFIX = "KASSA1"
_TENDER_LABELS = {"cash": "Cash", "card": "Card", "voucher": "Voucher"}  # MicroPython str has no capitalize()


def qr_payload(till_id, seq, tag):
    """The text of a receipt's QR code: KASSA1|<till>|<seq>|<tag hex>."""
    hex_tag = "".join("%02x" % b for b in tag)
    return "%s|%s|%d|%s" % (QR_PREFIX, till_id, seq, hex_tag)


def parse_qr(text):
    """(till id, seq, tag) from a receipt's QR code as a scanner reads it (str
    or bytes, CR/LF around it), or None when the text is not qr_payload's."""
    try:
        if not isinstance(text, str):
            text = text.decode()
        parts = text.strip().split("|")
        if len(parts) == 4 and parts[0] == QR_PREFIX and parts[2].isdigit():
            tag = unhexlify(parts[3])
            if len(tag) == 16:
                return parts[1], int(parts[2]), tag
    except (UnicodeError, ValueError):
        pass
    return None


def format_time(unix, offset_min=0):
    y, mo, d, h, mi, _s, _wd = from_unix(unix + offset_min * 60)
    return "%04d-%02d-%02d %02d:%02d" % (y, mo, d, h, mi)


class _Paper:
    """Line helpers over the builder for one profile."""

    def __init__(self, out, profile, decimals, point):
        self.out = out
        self.cols = int((profile.get("columns") or {}).get("a") or 42)
        self.decimals = decimals
        self.point = point
        self.keep = _page(profile) or ""

    def money(self, minor):
        return format_money(minor, self.decimals, self.point)

    def line(self, text=""):
        self.out.textln(fold_ascii(text, self.keep)[:self.cols])

    def pair(self, left, right, indent=0):
        self.out.textln(fit_columns(" " * indent + fold_ascii(left, self.keep),
                                    fold_ascii(right, self.keep), self.cols))

    def wrapped(self, left, right):
        """`left` and `right` on one line; a `left` too long for it is wrapped at
        its spaces onto lines of its own above it, so a name is never cut."""
        left = fold_ascii(left, self.keep)
        room = self.cols - len(right) - 1
        while room > 0 and len(left) > room:
            cut = left.rfind(" ", 0, self.cols + 1)
            if cut <= 0:
                cut = self.cols
            self.out.textln(left[:cut])
            left = left[cut:].lstrip()
        self.out.textln(fit_columns(left, right, self.cols))

    def centered(self, text, big=False):
        self.out.align(escpos.CENTER)
        text = fold_ascii(text, self.keep)
        if big:
            self.out.size(2, 2)
            self.out.textln(text[:self.cols // 2])
            self.out.size(1, 1)
        else:
            self.out.textln(text[:self.cols])
        self.out.align(escpos.LEFT)

    def rule(self, ch="-"):
        self.out.textln(ch * self.cols)


def render(job, out, profile, logo_path=None):
    """Write one print job to `out` (an escpos.EscPos). Returns `out`."""
    cur = job.get("currency") or {}
    store = job.get("store") or {}
    p = _Paper(out, profile, cur.get("decimals", 2), store.get("decimal_point", "."))
    _start(out, profile)
    if logo_path and profile.get("raster_image", True):
        from till.formats import rasterfile

        out.align(escpos.CENTER)
        try:
            rasterfile.print_file(out, logo_path, (profile.get("paper_width_dots") or 512) // 8)
        except (OSError, ValueError):
            pass  # a missing or bad logo never stops a receipt
        out.align(escpos.LEFT)
    kind = job["kind"]
    for i, text in enumerate(job.get("header") or ()):
        out.bold(i == 0)
        p.centered(text)
    out.bold(False)
    _marks(p, job)
    _heading(p, job, store)
    if kind in ("sale", "storno"):
        _sale(p, job)
    elif kind in ("x", "z"):
        _period(p, job)
    elif kind == "no-sale":
        p.centered("NO SALE")
    elif kind == "cash":
        _cash(p, job)
    else:
        p.line("(%s)" % kind)
    _marks(p, job)
    if job.get("receipt") is not None and job.get("tag"):
        _qr(out, p, profile, qr_payload(job["till"], job["receipt"], job["tag"]))
    if kind in ("sale", "storno"):  # the store's words to its customer, not on internal slips
        for text in job.get("footer") or ():
            p.centered(text)
    _finish(out, profile)
    return out


def _page(profile):
    """The code page table the receipt's text is printed in (CP437 when the
    profile names none: the printer's power-on page)."""
    page = profile.get("text_code_page") or {}
    return codepages.BY_NAME.get(page.get("name") or "CP437")


def _start(out, profile):
    out.init()
    page = profile.get("text_code_page") or {}
    table = _page(profile)
    if table is not None and page.get("index") is not None:
        out.codepage(page["index"], table)


def _finish(out, profile):
    cut = profile.get("cut") or {}
    if cut.get("partial"):
        out.cut(partial=True)
    elif cut.get("full", True):
        out.cut()
    else:
        out.feed(6)  # no cutter: bring the last line past the tear bar


def _marks(p, job):
    # Marks go at the top and the bottom, so a torn-off half still says it.
    if job.get("training"):
        p.centered("*** TRAINING - NOT A SALE ***")
    if job.get("copy"):
        p.centered("*** COPY ***")
    if job["kind"] == "storno":
        p.centered("*** REFUND ***")


def _heading(p, job, store):
    p.rule()
    when = job.get("time")
    if when and job.get("clock_set", True):
        stamp = format_time(when, store.get("utc_offset_min", 0))
    else:
        stamp = "time not set"
    p.pair(stamp, "Till %s" % job.get("till", ""))
    title = {"sale": "Receipt", "storno": "Refund", "x": "X report", "z": "Z closing",
             "cash": "Cash"}
    # A sale or refund shows its document number; the QR code keeps the seq.
    # An internal cash slip shows none: its number would be the journal's.
    number = None if job["kind"] == "cash" else (
        job.get("z") if job["kind"] == "z" else job.get("number", job.get("receipt")))
    left = title.get(job["kind"], job["kind"])
    if number is not None:
        left += " %d" % number
    cashier = job.get("cashier") or {}
    p.pair(left, "Cashier %s" % (cashier.get("name") or cashier.get("id") or ""))
    if job["kind"] == "storno":
        if job.get("refund_of") is not None:
            p.line("Refund of receipt %s" % job["refund_of"])
        elif job.get("refund_seq") is not None:  # its record is gone from the till
            p.line("Refund of record %s" % job["refund_seq"])
        else:
            p.line("Refund without receipt")
        approver = job.get("approver") or {}
        if approver:
            p.line("Approved by %s" % (approver.get("name") or approver.get("id")))
    p.rule()


def _sale(p, job):
    for ln in job["lines"]:
        # The tax class letter after the amount, as in the tax table below.
        p.wrapped(ln.get("name") or "PLU %s" % ln.get("plu"),
                  "%s %s" % (p.money(ln["amount"]), ln.get("tax_class") or " "))
        if ln.get("grams") is not None:
            kg = format_money(ln["grams"], 3, p.point)
            p.line("  %s kg x %s/kg" % (kg, p.money(ln["unit_price"])))
        elif ln.get("qty") not in (None, 1, -1):
            p.line("  %d x %s" % (ln["qty"], p.money(ln["unit_price"])))
        d = ln.get("discount")
        if d:  # under its line's amount, in the same column
            p.pair(_discount_label(d, p), p.money(-d["amount"]) + "  ", indent=2)
    p.rule()
    if job.get("sale_discount"):
        p.pair("Subtotal", p.money(job["subtotal"]))
        d = job["sale_discount"]
        p.pair(_discount_label(d, p), p.money(-d["amount"]))
    p.out.bold(True)
    p.out.size(1, 2)
    code = (job.get("currency") or {}).get("code")
    p.pair("TOTAL %s" % code if code else "TOTAL", p.money(job["total"]))
    p.out.size(1, 1)
    p.out.bold(False)
    if job.get("rounding"):
        p.pair("Cash rounding", p.money(job["rounding"]))
    for t in job.get("tenders") or ():
        if t["type"] == "cash":
            p.pair("Cash", p.money(t.get("given", t["amount"])))
        else:
            p.pair(_TENDER_LABELS.get(t["type"], t["type"]), p.money(t["amount"]))
            if t.get("ref"):
                p.line("  Ref %s" % t["ref"])
    if job.get("change"):
        p.pair("Change", p.money(job["change"]))
    _taxes(p, job.get("taxes") or ())


def _discount_label(d, p):
    if "percent_bp" in d:
        bp = d["percent_bp"]
        pct = "%d" % (bp // 100) if bp % 100 == 0 else format_money(bp, 2, p.point)
        return "Discount %s%%" % pct
    return "Discount"


def _taxes(p, taxes):
    if not taxes:
        return
    p.rule()
    # Four right-aligned columns fitted to the paper: class+rate, net, tax, gross.
    w = max(6, (p.cols - 8) // 3)
    first = p.cols - 3 * w
    p.line(_cols(("Tax", "Net", "Tax", "Gross"), first, w))
    for t in taxes:
        rate = t.get("rate_ppm") or 0
        pct = "%d%%" % (rate // 10000) if rate % 10000 == 0 else "%s%%" % format_money(rate, 4, p.point)
        label = ("%s %s" % (t.get("class", ""), pct))
        p.line(_cols((label, p.money(t["net"]), p.money(t["tax"]), p.money(t["gross"])), first, w))


def _cols(cells, first, w):
    head = cells[0][:first]
    out = head + " " * (first - len(head))
    for c in cells[1:]:
        c = c[-w:]
        out += " " * (w - len(c)) + c
    return out


def _period(p, job):
    c = job.get("counts") or {}
    if job.get("first") is not None:
        p.pair("Records", "%s to %s" % (job["first"], job["last"]))
    numbers = job.get("numbers") or (0, 0)
    p.pair("Sales", "%d" % c.get("sales", 0))
    _numbers(p, "Receipt nos.", numbers[0], c.get("sales", 0))
    p.pair("Sales total", p.money(job.get("sales", 0)))
    p.pair("Refunds", "%d" % c.get("stornos", 0))
    _numbers(p, "Refund nos.", numbers[1], c.get("stornos", 0))
    p.pair("Refunds total", p.money(job.get("refunds", 0)))
    p.pair("Discounts", p.money(job.get("discounts", 0)))
    p.pair("Cash rounding", p.money(job.get("rounding", 0)))
    p.pair("No sales", "%d" % c.get("no_sales", 0))
    p.pair("Cancelled sales", "%d" % c.get("cancelled", 0))
    p.pair("Voided lines", "%d" % c.get("voided_lines", 0))
    if c.get("training"):
        p.pair("Training records (not in totals)", "%d" % c["training"])
    p.rule()
    for t in job.get("tenders") or ():
        p.pair(_TENDER_LABELS.get(t["type"], t["type"]), p.money(t["amount"]))
    # The drawer: cash put in and taken out outside sales, what it should
    # hold, and on a Z what was counted and the difference.
    p.pair("Cash in", p.money(job.get("cash_in", 0)))
    p.pair("Cash out", p.money(job.get("cash_out", 0)))
    expected = job.get("expected")
    if expected is not None:  # None: a closing of older firmware
        p.pair("Cash expected", p.money(expected))
        counted = job.get("counted")
        if counted is not None:
            p.pair("Cash counted", p.money(counted))
            p.out.bold(True)
            p.pair("Difference", p.money(counted - expected))
            p.out.bold(False)
    _taxes(p, job.get("taxes") or ())
    p.rule()
    p.out.bold(True)
    p.pair("Grand total", p.money(job.get("grand_total", 0)))
    p.out.bold(False)
    if job.get("snapshot") is not None:
        p.pair("HO data version", "%s" % job["snapshot"])
    if job.get("incomplete"):
        p.centered("INCOMPLETE: journal damage acknowledged")


def _cash(p, job):
    amount = job["amount"]
    p.out.bold(True)
    p.out.size(1, 2)
    p.pair("Cash in" if amount > 0 else "Cash out", p.money(amount))
    p.out.size(1, 1)
    p.out.bold(False)
    if job.get("ref"):
        p.line("  Ref %s" % job["ref"])  # the reason no. the cashier keyed
    approver = job.get("approver")
    if approver:
        p.line("Approved by %s" % (approver.get("name") or approver.get("id")))


def _numbers(p, label, last, count):
    # The period's document numbers run gap-free up to the last one taken,
    # one per record counted: an auditor matches them against the receipts.
    if last and count:
        p.pair(label, "%s to %s" % (last - count + 1, last), indent=2)


def _qr(out, p, profile, payload):
    if profile.get("qr_native", True):
        out.align(escpos.CENTER)
        out.qr(payload, module_size=4)
        out.align(escpos.LEFT)
    else:
        # No QR on this printer: print the check data as text.
        for i in range(0, len(payload), p.cols):
            p.line(payload[i:i + p.cols])
