"""HO's consolidation of processed records: sales per site, till and day,
tenders, tax per class and rate, refunds, Z closings, and the ERP feed.

Field meanings are docs/records.md's. A record is added exactly once: in the
processing transaction that marks it PROCESSED. Figures are collected per
(till, day) in memory and written as one upsert per row at the end, so a
transaction touches each consolidated row once.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from host_tools.hodata.journal_reader import to_json
from host_tools.relay.schema import MAX_BIGINT
from host_tools.relay.store import Tx

# docs/journal.cddl: envelope, kinds, flags.
SEQ, TIME, KIND, BODY, FLAGS = 1, 2, 3, 4, 5
SALE, STORNO, NO_SALE, CLOSING, CASH = 1, 2, 3, 4, 8
TRAINING = 2
# docs/records.md: sale and storno bodies, closing bodies.
S_TENDERS, S_TAXES, S_TOTAL, S_ROUNDING = 4, 5, 6, 7
P_Z, P_FIRST, P_LAST, P_SALES, P_REFUNDS, P_GRAND, P_INCOMPLETE = 1, 2, 3, 7, 8, 11, 12
P_EXPECTED, P_COUNTED = 22, 23  # the drawer at a Z (absent from earlier firmware's)
M_AMOUNT = 3  # a cash movement: > 0 into the drawer, < 0 out of it
_DAILY = ("sales", "sales_total", "refunds", "refunds_total", "no_sales", "rounding",
          "training", "closings", "cash_in", "cash_out")
FEED_KINDS = {SALE: "sale", STORNO: "storno", CLOSING: "closing", CASH: "cash"}


def day_of(record: dict[int, Any], received_at: int) -> str:
    """The UTC day a record counts on; a till whose clock was never set
    writes time 0, and then the day HO received it stands in."""
    when = record.get(TIME) or received_at
    try:
        return datetime.fromtimestamp(when, timezone.utc).date().isoformat()
    except (OverflowError, OSError) as exc:  # past year 9999 or the platform's time_t
        raise ValueError(f"time {when} is not a date HO can count on: {exc}") from None


def _money(minor: int) -> str:
    """Minor units as HO's people read them (two decimals: HO does not know
    each till's currency here; the relay's other views show minor units too)."""
    return f"{'-' if minor < 0 else ''}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def _int(value: Any) -> int:
    """An amount or count as HO's database holds it (a 64-bit BIGINT); beyond
    that the record cannot be counted, and is quarantined (ValueError) rather
    than failing the whole processing transaction at the database."""
    n = int(value)
    if not -MAX_BIGINT <= n <= MAX_BIGINT:
        raise ValueError(f"{n} is beyond the 64-bit integers HO's database holds")
    return n


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


@dataclass
class Consolidation:
    """Figures of one processing transaction, for one till."""
    site_id: str
    till_id: str
    daily: dict[str, dict[str, int]] = field(default_factory=dict)
    tenders: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    taxes: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)
    closings: list[tuple[Any, ...]] = field(default_factory=list)
    feed: list[tuple[int, str, str, str]] = field(default_factory=list)  # seq, day, kind, body
    # Sale and storno totals of the records added so far (training apart): with
    # what the database held before, HO's perpetual total (grand_total_problem).
    perpetual: int = 0

    def add(self, record: dict[int, Any], received_at: int) -> None:
        """Count one record; raises (KeyError, TypeError...) on a body it cannot
        read, which the caller treats as a schema problem."""
        day = day_of(record, received_at)
        kind, body = record[KIND], record[BODY]
        d = self.daily.setdefault(day, dict.fromkeys(_DAILY, 0))
        training = bool(record.get(FLAGS, 0) & TRAINING)
        if training:
            if kind in (SALE, STORNO, NO_SALE, CASH):
                d["training"] += 1  # docs/records.md: counted, kept out of every figure
            return
        if kind in (SALE, STORNO):
            total, rounding = _int(body[S_TOTAL]), _int(body.get(S_ROUNDING, 0))
            tenders = [(_int(t[0]), _int(t[1])) for t in body[S_TENDERS]]
            taxes = [(str(t[0]), _int(t[1]), _int(t[2]), _int(t[3]), _int(t[4])) for t in body[S_TAXES]]
            if kind == SALE:
                d["sales"] += 1
                d["sales_total"] += total
            else:
                d["refunds"] += 1
                d["refunds_total"] += total
            self.perpetual += total
            d["rounding"] += rounding
            for tender, amount in tenders:
                self.tenders[(day, tender)] += amount
            for cls, rate, net, tax, gross in taxes:
                sums = self.taxes.setdefault((day, cls, rate), [0, 0, 0])
                sums[0] += net
                sums[1] += tax
                sums[2] += gross
        elif kind == NO_SALE:
            d["no_sales"] += 1
        elif kind == CASH:
            amount = _int(body[M_AMOUNT])
            d["cash_in" if amount > 0 else "cash_out"] += amount
        elif kind == CLOSING:
            d["closings"] += 1
            self.closings.append((record[SEQ], day, _int(body[P_Z]), _int(body[P_FIRST]),
                                  _int(body[P_LAST]), _int(body[P_SALES]), _int(body[P_REFUNDS]),
                                  _int(body[P_GRAND]), _opt_int(body.get(P_EXPECTED)),
                                  _opt_int(body.get(P_COUNTED))))
        if kind in FEED_KINDS:
            entry = {"time": record.get(TIME), "flags": record.get(FLAGS, 0), "body": to_json(body)}
            self.feed.append((record[SEQ], day, FEED_KINDS[kind], json.dumps(entry, sort_keys=True)))

    def grand_total_problem(self, record: dict[int, Any], held_before: int) -> str | None:
        """Why a Z closing's perpetual grand total (docs/records.md, period key
        11: every sale and refund total since the till's first record) is not
        the sum of what HO has counted for this till before it, or None when
        it is. held_before: that sum in the database before this processing
        transaction; the records added to this Consolidation come on top, so
        call this right after adding the closing, in sequence order."""
        body = record[BODY]
        till, ho = _int(body[P_GRAND]), held_before + self.perpetual
        if till == ho:
            return None
        why = ("the till rebuilt its totals without some of its records (the Z says INCOMPLETE)"
               if body.get(P_INCOMPLETE) else
               "look for records of this till HO has not counted (missing, quarantined, rejected) "
               "or for altered totals on the till")
        return (f"Z {body.get(P_Z)}: its perpetual grand total {_money(till)} is not the "
                f"{_money(ho)} of the sales and refunds HO has counted for this till up to record "
                f"{record[SEQ] - 1} (the till's is {_money(till - ho)} "
                f"{'more' if till > ho else 'less'}): {why}. The closing is counted as it is")

    def write(self, tx: Tx) -> None:
        """Add the collected figures to the consolidated tables. The feed goes
        last: its ids are taken from feed_clock, whose row lock is then held
        only until this transaction commits, so ids follow commit order."""
        for day, d in self.daily.items():
            cols = ", ".join(_DAILY)
            sets = ", ".join(f"{c} = daily.{c} + excluded.{c}" for c in _DAILY)
            tx.execute(f"INSERT INTO daily (till_id, day, site_id, {cols}) "
                       f"VALUES (?, ?, ?{', ?' * len(_DAILY)}) "
                       f"ON CONFLICT (till_id, day) DO UPDATE SET {sets}",
                       (self.till_id, day, self.site_id, *(d[c] for c in _DAILY)))
        for (day, tender), amount in self.tenders.items():
            tx.execute("INSERT INTO daily_tenders (till_id, day, site_id, tender, amount) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (till_id, day, tender) DO UPDATE SET "
                       "amount = daily_tenders.amount + excluded.amount",
                       (self.till_id, day, self.site_id, tender, amount))
        for (day, cls, rate), (net, tax, gross) in self.taxes.items():
            tx.execute("INSERT INTO daily_taxes (till_id, day, site_id, tax_class, rate_ppm, net, tax, gross) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (till_id, day, tax_class, rate_ppm) "
                       "DO UPDATE SET net = daily_taxes.net + excluded.net, "
                       "tax = daily_taxes.tax + excluded.tax, gross = daily_taxes.gross + excluded.gross",
                       (self.till_id, day, self.site_id, cls, rate, net, tax, gross))
        for row in self.closings:
            tx.execute("INSERT INTO closings (till_id, seq, day, z, first_seq, last_seq, sales, refunds, "
                       "grand_total, cash_expected, cash_counted, site_id) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (self.till_id, *row, self.site_id))
        if self.feed:
            top = tx.one("UPDATE feed_clock SET n = n + ? RETURNING n", (len(self.feed),))
            assert top is not None
            first = int(top[0]) - len(self.feed) + 1
            tx.insert_rows("INSERT INTO feed (id, till_id, seq, site_id, day, kind, body) VALUES ",
                           "(?, ?, ?, ?, ?, ?, ?)", "",
                           [(first + n, self.till_id, seq, self.site_id, day, kind, body)
                            for n, (seq, day, kind, body) in enumerate(self.feed)])
