# A small store for the sale-engine tests: a snapshot on disk (built with the
# real catalog writer), a real journal in a temporary directory, a clock the
# test moves, and helpers to drive the engine by keys and scans. Runs under
# CPython and MicroPython.
import gc
import os

import support
from fakes import Clock
from till.formats import cbor
from till.pos import reports
from till.formats import journal as J
from till.formats import records as R
from till.pos.auth import make_pin_record
from till.formats.package_writer import build_dir
from till.pos.engine import KEYS, Engine
from till.formats.snapshot import Snapshot

TILL = "store-12/till-7"
KEY = b"till-7 secret key, 32 bytes long"
T0 = 1795000000  # a Tuesday in 2026, 09:46 UTC
PINS = {1: "1111", 2: "2222", 3: "3333", 9: "9999"}
# Tests keep PBKDF2 cheap; the cost of real iteration counts is a benchmark.
TEST_ITERATIONS = 2


def items():
    return [
        {"plu": 1, "name": "Bananas", "price": 199, "tax": "B", "weighed": True},
        {"plu": 7, "name": "Brot 500 g", "price": 289, "tax": "B",
         "barcodes": ["4006381333931"]},
        {"plu": 12, "name": "Milch 1 l", "price": 119, "tax": "B",
         "barcodes": ["4008400402222"]},
        {"plu": 40, "name": "Gift wrap", "price": 0, "tax": "A", "open_price": True},
        {"plu": 99, "name": "Whisky 0,7 l", "price": 2499, "tax": "A", "min_age": 18,
         "barcodes": ["5000267024608"]},
        {"plu": 150, "name": "Cola", "price": 129, "tax": "A", "barcodes": ["036000291452"]},
        {"plu": 1027, "name": "Cheese counter", "price": 0, "tax": "B"},
        {"plu": 12345, "name": "Gouda", "price": 1390, "tax": "B", "weighed": True},
    ]


def meta(version=1, created=T0 - 3600, **policy):
    roles = {
        # Permissions as head office grants them: nothing implies another
        # (till.pos.policy), so the manager holds training and ack_journal.
        "cashier": {"rank": 1, "max_line_discount_bp": 1000, "max_sale_discount_bp": 500,
                    "max_refund": 0, "max_open_price": 5000, "may": ["void_line", "x_report"]},
        "manager": {"rank": 5, "max_line_discount_bp": 5000, "max_sale_discount_bp": 3000,
                    "max_refund": 50000, "max_open_price": 100000,
                    "may": ["ack_journal", "approve", "cash_in_out", "no_sale", "price_override",
                            "refund",
                            "training", "void_line", "void_sale", "x_report", "z_report"]},
        # High limits of her own, but she may not approve anybody else's.
        "senior": {"rank": 2, "max_line_discount_bp": 5000, "max_sale_discount_bp": 1000,
                   "max_refund": 0, "may": ["void_line", "void_sale", "x_report"]},
    }
    cashiers = {}
    for cid, name, role in ((1, "Anna", "cashier"), (2, "Ben", "cashier"),
                            (3, "Carla", "senior"), (9, "Maria", "manager")):
        salt = ("salt-of-cashier-%d" % cid).encode()
        cashiers[cid] = {"name": name, "role": role,
                         "pin": make_pin_record(PINS[cid], salt, TEST_ITERATIONS)}
    policies = {"prices_include_tax": True, "round_per_line": False, "cash_rounding": 5,
                "max_offline_hours": 24, "max_snapshot_age_hours": 168,
                "retention_days": 10, "idle_lock_minutes": 5, "pin_max_tries": 3,
                "pin_lockout_minutes": 15, "eight_digit": "ean8", "offline_max_sale": 2000,
                "offline": {"open_price": False, "price_override": False, "max_refund": 1000}}
    policies.update(policy)
    return {
        "format": 1, "version": version, "base": None, "created": created,
        "store": {"id": "S1", "name": "Corner Shop"},
        "currency": {"code": "EUR", "decimals": 2},
        "tax_classes": {"A": {"name": "VAT 19%", "rate_ppm": 190000},
                        "B": {"name": "VAT 7%", "rate_ppm": 70000}},
        "cashiers": cashiers,
        "roles": roles,
        "policies": policies,
        "barcode_rules": [
            {"prefix": "23", "kind": "weight", "item_digits": [2, 7], "value_digits": [7, 12]},
            {"prefix": "28", "kind": "price", "item_digits": [2, 6], "value_digits": [7, 12],
             "value_check": 6},
        ],
        "receipt": {"header": ["Corner Shop", "Main St 1"], "footer": ["Thank you"]},
    }


def check_protocol(actions, cols, journaled=0):
    """What every answer of the engine must satisfy (docs/engine.md):
    one display action, last, fitted to the display; a receipt, slip or Z only
    after the record it shows (in this answer, or journaled before it:
    `journaled` is the journal's last seq before the event, for a receipt laid
    out again later); the drawer only after a record."""
    assert actions and actions[-1][0] == "display", actions
    assert [a[0] for a in actions].count("display") == 1, actions
    for line in actions[-1][1:]:
        assert type(line) is str and len(line) <= cols, (line, cols)
    seqs = []
    for a in actions:
        if a[0] == "record":
            seqs.append(a[1])
        elif a[0] == "print":
            job = a[1]
            if job["kind"] == "x":
                assert job["receipt"] is None
            else:
                assert job["receipt"] in seqs or (job["copy"] and seqs) \
                    or (not job["copy"] and 0 < job["receipt"] <= journaled), (job, seqs)
        elif a[0] == "drawer":
            assert seqs, actions
        else:
            assert a[0] in ("display", "beep", "wipe_credentials"), a


def split_keys(token):
    """A script token as key presses: a key name, or digits ("12.50", "1000")."""
    if token in KEYS:
        return [token]
    out = []
    for c in token:
        if c not in "0123456789.":
            raise ValueError("not a key or number: %r" % token)
        out.append(c)
    return out


class Till:
    """A till on a temporary directory: journal, snapshot, clock and engine."""

    def __init__(self, snapshot_meta=None, cols=20, last_sync=T0 - 60, journal_kw=None,
                 journal_cls=None, catalog=None):
        self.dir = support.tmpdir()
        self.snap_dir = self.dir + "/snap"
        os.mkdir(self.snap_dir)
        build_dir(self.snap_dir, snapshot_meta or meta(), catalog or items())
        self.clock = Clock(T0)
        self.cols = cols
        self.journal_kw = journal_kw or {}
        self.journal_cls = journal_cls or J.Journal
        self.last_sync = last_sync
        self.snap = Snapshot(self.snap_dir)
        self.journal = None
        self.engine = None
        self.boot()

    def boot(self):
        """Open journal and engine as main.py does after a (re)start."""
        self.journal = self.journal_cls(self.dir + "/journal", TILL, KEY, clock=self.clock,
                                        **self.journal_kw)
        self.engine = Engine(self.journal, self.snap, TILL, self.clock, self.cols,
                             last_sync=self.last_sync)
        actions = self.engine.start()
        check_protocol(actions, self.cols)
        return actions

    def power_cut(self):
        """Everything in RAM is lost; flash stays."""
        self.journal.close()
        # Let the old engine go before the new one is built, as a restart
        # does: under MicroPython both would otherwise share the fixed heap.
        self.journal = self.engine = None
        gc.collect()
        return self.boot()

    def close(self):
        self.journal.close()
        self.snap.close()
        support.rmtree(self.dir)

    def send(self, event):
        journaled = self.journal.last_seq
        actions = self.engine.handle(event)
        check_protocol(actions, self.cols, journaled)
        return actions

    def keys(self, text):
        """Press keys given as a space-separated script; return all actions."""
        out = []
        for token in text.split():
            for k in split_keys(token):
                out.extend(self.send(("key", k)))
        return out

    def scan(self, code):
        return self.send(("scan", code))

    def tick(self, seconds=0):
        self.clock.t += seconds
        return self.send(("tick",))

    def display(self):
        return self.engine.screen()

    def sign_on(self, cid=1):
        return self.keys("%d SIGN %s TOTAL" % (cid, PINS[cid]))

    def records(self, kind=None):
        """Decoded journal records (optionally of one kind), oldest first."""
        out = []
        for _, raw in self.journal.records_after(0):
            rec = cbor.loads(raw)
            if kind is None or rec[J.K_KIND] == kind:
                out.append(rec)
        return out


class FlakyJournal(J.Journal):
    """A journal whose next appends raise .fail (an exception), as a full or
    damaged journal or a failing flash chip would."""

    fail = None

    def append(self, kind, body, flags=0):
        if self.fail is not None:
            raise self.fail
        return J.Journal.append(self, kind, body, flags)


def build_snapshot(path, snapshot_meta, catalog):
    """A second snapshot directory (another version) for snapshot events."""
    os.mkdir(path)
    build_dir(path, snapshot_meta, catalog)
    return Snapshot(path)


def check_closing(records, seq, body, prev_grand_total, prev_numbers=None):
    """A Z closing body (at seq) equals the totals recomputed from records, a
    callable giving (seq, record dict) pairs: the journal on flash, or head
    office's copy of it. prev_numbers: the previous closing's last document
    numbers, needed when records before the period are gone."""
    t = reports.recompute(records(), body[R.P_FIRST] - 1, body[R.P_LAST], body[R.P_Z],
                          prev_grand_total, prev_numbers)
    want = t.body(body[R.P_LAST])
    got = dict(body)
    for k in (R.P_CASHIER, R.P_SNAPSHOT, R.P_APPROVER, R.P_COUNTED):
        got.pop(k, None)
    assert got == want, (got, want)
    assert body[R.P_LAST] == seq - 1


def of(actions, what):
    """The actions of one type."""
    return [a for a in actions if a[0] == what]


def display(actions):
    d = of(actions, "display")
    return d[-1][1:] if d else None
