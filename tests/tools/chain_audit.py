"""The Jepsen-style account of the whole chain (tests/e2e/test_chain_e2e.py,
make bench): what each till journaled, read from its flash on the host with
the journal tools (host_tools.hodata.journal_reader), against what head office
holds in the relay's database (host_tools.relay.store). Every record a till
journaled must be at HO exactly once, with the till's bytes, PROCESSED; HO's
ERP feed and consolidated figures must count each sale, refund and Z closing
once; nothing may be at HO that no till journaled; and a till may have freed
flash only for records HO processed.

One exception, by design: a gateway run's own traces on the till (the clock
it set, journaled when set, and the checkpoint of the period's totals the
till journals when told PROCESSED, docs/link.md) reach HO with the next run,
so the newest records on a till may be such events and not yet at HO. They
are allowed only as the journal's tail, never a sale, refund or closing.

The sums are recomputed from the journal's records with tests/tools/
ho_recompute.py (cbor2 and the documented fields, nothing from the relay or
the till), so a counting mistake in either cannot hide in its own check.

What HO published for the site (a delta, a logo) is accounted too
(`download_problems`): each message PROCESSED for every till, each snapshot
version journaled as applied exactly once, the logo on the till HO's newest.

`problems()` and `download_problems()` are pure: the tests feed them tampered
facts to show each kind of loss or double count is caught."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2

import ho_recompute as H
from host_tools.hodata import journal_reader as jr
from till.formats import journal as J
from till.formats import records as R

FEED_KIND = {H.SALE: "sale", H.STORNO: "storno", H.CLOSING: "closing", H.CASH: "cash"}
FIGURES = ("sales", "sales_total", "refunds", "refunds_total", "closings", "cash_in", "cash_out")
RUN_TRACES = (R.EV_CLOCK_SET, R.EV_CHECKPOINT)  # what a gateway run leaves for the next one
Z_SALES, Z_REFUNDS = R.P_SALES, R.P_REFUNDS


@dataclass
class TillFacts:
    """One till's side: every record seen on its flash (a record HO processed
    may since have been freed, so the harness reads the journal after every
    step and keeps the union), and its flash at the end."""
    name: str
    till_id: str
    records: dict[int, bytes] = field(default_factory=dict)
    rewritten: list[str] = field(default_factory=list)  # a seq seen with two different byte strings
    first_on_flash: int | None = None  # the oldest record still on flash at the end
    processed_mark: int = 0  # the journal's own `processed` file at the end
    damage: list[str] = field(default_factory=list)  # torn or undecodable items at the end

    def observe(self, journal_dir: Path, final: bool = False) -> None:
        """Read every segment; keep each record. While the till runs its last
        record may be half written (skipped then; at the end it is damage)."""
        first = None
        for path in jr.segment_paths(journal_dir):
            for item in list(jr.read_segment(path))[1:]:
                if item.error is not None:
                    if final:
                        self.damage.append(f"{path.name}: {item.error}")
                    continue
                seq = cbor2.loads(item.raw)[H.SEQ]
                first = seq if first is None else min(first, seq)
                held = self.records.setdefault(seq, item.raw)
                if held != item.raw:
                    self.rewritten.append(f"record {seq} changed on flash")
                    self.records[seq] = item.raw
        if final:
            self.first_on_flash = first
            mark = journal_dir / jr.PROCESSED_FILE
            self.processed_mark = int(cbor2.loads(mark.read_bytes())) if mark.exists() else 0


@dataclass
class HoFacts:
    """HO's side for one till, from the relay's database."""
    received: list[dict[str, Any]]  # store.received rows: seq, status, sha256
    conflicts: list[dict[str, Any]]
    feed: list[tuple[int, str]]  # (seq, kind) of the ERP feed
    figures: dict[str, int]  # the consolidated daily rows summed over days (FIGURES)
    closings: list[dict[str, Any]]  # store.closings rows
    processed: int  # HO's acknowledgement: every record up to here PROCESSED


def ho_facts(store: Any, till_id: str) -> HoFacts:
    """Read HO's facts of a till from a host_tools.relay.store.Store."""
    received = store.received(till_id, limit=1_000_000)
    with store.transaction(write=False) as tx:
        feed = [(int(s), str(k)) for s, k in
                tx.all("SELECT seq, kind FROM feed WHERE till_id = ? ORDER BY seq", (till_id,))]
        row = tx.one("SELECT COALESCE(SUM(sales), 0), COALESCE(SUM(sales_total), 0), "
                     "COALESCE(SUM(refunds), 0), COALESCE(SUM(refunds_total), 0), "
                     "COALESCE(SUM(closings), 0), COALESCE(SUM(cash_in), 0), "
                     "COALESCE(SUM(cash_out), 0) FROM daily WHERE till_id = ?", (till_id,))
    assert row is not None
    acks = [a for a in store.acks(till_id=till_id)]
    return HoFacts(received=received, conflicts=store.conflicts(till_id), feed=feed,
                   figures=dict(zip(FIGURES, (int(v) for v in row))),
                   closings=store.closings(till_id), processed=acks[0].processed if acks else 0)


def journal_figures(records: list[H.Record]) -> dict[str, int]:
    """The figures HO's consolidation must reach, from the journal alone."""
    out = dict.fromkeys(FIGURES, 0)
    for rec in records:
        if rec.get(H.FLAGS, 0) & H.TRAINING:
            continue
        kind, body = rec[H.KIND], rec[H.BODY]
        if kind == H.SALE:
            out["sales"] += 1
            out["sales_total"] += body[H.S_TOTAL]
        elif kind == H.STORNO:
            out["refunds"] += 1
            out["refunds_total"] += body[H.S_TOTAL]
        elif kind == H.CLOSING:
            out["closings"] += 1
        elif kind == H.CASH:
            out["cash_in" if body[H.M_AMOUNT] > 0 else "cash_out"] += body[H.M_AMOUNT]
    return out


def problems(till: TillFacts, ho: HoFacts) -> list[str]:
    """Everything that does not account: empty when every record the till
    journaled is at HO exactly once and counted once."""
    name = till.name
    out = [f"{name}: {p}" for p in till.rewritten + till.damage]
    seqs = sorted(till.records)
    if seqs != list(range(1, len(seqs) + 1)):
        missing = sorted(set(range(1, (seqs[-1] if seqs else 0) + 1)) - set(seqs))
        out.append(f"{name}: records never seen on the till's flash: {missing[:20]} "
                   "(freed before the harness read them?)")
    held: dict[int, dict[str, Any]] = {}
    for r in ho.received:
        if r["seq"] in held:
            out.append(f"{name}: record {r['seq']} held twice at HO")
        held[r["seq"]] = r
    lost = sorted(set(seqs) - set(held))
    extra = sorted(set(held) - set(seqs))
    tail = [s for s in lost if s > max(held, default=0)]
    if all(_run_trace(till.records[s]) for s in tail):
        lost = [s for s in lost if s not in tail]  # the last run's traces: the next run carries them
    if lost:
        out.append(f"{name}: {len(lost)} journaled records missing at HO: {lost[:20]}")
    if extra:
        out.append(f"{name}: {len(extra)} records at HO that the till never journaled: {extra[:20]}")
    for seq in sorted(set(seqs) & set(held)):
        r = held[seq]
        if r["sha256"] != hashlib.sha256(till.records[seq]).hexdigest():
            out.append(f"{name}: record {seq} at HO is not the till's bytes")
        if r["status"] != "PROCESSED":
            out.append(f"{name}: record {seq} is {r['status']} at HO ({r.get('reason') or 'no reason'})")
        elif r.get("reason"):  # processed, with a problem HO found (a Z's grand total)
            out.append(f"{name}: record {seq} is PROCESSED at HO but {r['reason']}")
    if ho.conflicts:
        out.append(f"{name}: conflicts at HO: {ho.conflicts[:5]}")
    records = H.decode(till.records[s] for s in seqs)
    # The ERP feed: each sale, refund and closing once.
    want_feed = sorted((r[H.SEQ], FEED_KIND[r[H.KIND]]) for r in records
                       if r[H.KIND] in FEED_KIND and not r.get(H.FLAGS, 0) & H.TRAINING)
    if sorted(ho.feed) != want_feed:
        have = set(ho.feed)
        out.append(f"{name}: HO's feed differs: missing {sorted(set(want_feed) - have)[:10]}, "
                   f"extra {sorted(have - set(want_feed))[:10]}, "
                   f"{len(ho.feed) - len(have)} listed twice")
    want = journal_figures(records)
    for k in FIGURES:
        if ho.figures.get(k) != want[k]:
            out.append(f"{name}: HO's consolidated {k} is {ho.figures.get(k)}, the journal's {want[k]}")
    # Z closings: each at HO once, and each equal to HO's own recomputation.
    closings = [r for r in records if r[H.KIND] == H.CLOSING]
    if sorted(c["seq"] for c in ho.closings) != [c[H.SEQ] for c in closings]:
        out.append(f"{name}: HO's closings {[c['seq'] for c in ho.closings]}, "
                   f"the journal's {[c[H.SEQ] for c in closings]}")
    try:
        H.check_closings(records)
    except (AssertionError, ValueError) as exc:
        out.append(f"{name}: a Z closing does not match its records: {exc}")
    by_seq = {c["seq"]: c for c in ho.closings}
    for c in closings:
        row = by_seq.get(c[H.SEQ])
        z = (c[H.BODY][Z_SALES], c[H.BODY][Z_REFUNDS], c[H.BODY].get(22), c[H.BODY].get(23))
        if row is not None and (row["sales"], row["refunds"], row["cash_expected"],
                                row["cash_counted"]) != z:
            out.append(f"{name}: HO's Z {row['z']} says sales {row['sales']} refunds {row['refunds']} "
                       f"cash expected {row['cash_expected']} counted {row['cash_counted']}, the till's {z}")
    # Flash freed only for what HO processed.
    if till.first_on_flash is not None and till.first_on_flash - 1 > ho.processed:
        out.append(f"{name}: the till freed records up to {till.first_on_flash - 1}, "
                   f"HO processed only up to {ho.processed}")
    if till.processed_mark > ho.processed:
        out.append(f"{name}: the till's processed mark {till.processed_mark} is beyond HO's {ho.processed}")
    return out


def _run_trace(raw: bytes) -> bool:
    rec = cbor2.loads(raw)
    return bool(rec[H.KIND] == H.EVENT and rec[H.BODY].get(H.E_TYPE) in RUN_TRACES)


def unsent_traces(till: TillFacts, ho: HoFacts) -> int:
    """How many of the till's newest records wait for the next run (run traces)."""
    top = max((r["seq"] for r in ho.received), default=0)
    return len([s for s in till.records if s > top])


def download_problems(name: str, records: dict[int, bytes], logo_on_flash: bytes | None,
                      sent: list[dict[str, Any]], blobs: dict[str, bytes]) -> list[str]:
    """What HO published for the site (host_tools.relay.publish.sent rows,
    newest first) against one till: every message PROCESSED at the site and
    for this till, each snapshot or delta applied (a config record of its
    version) exactly once, and the logo on the till the newest published one
    (blobs: its bytes by SHA-256)."""
    out = []
    applied = [cbor2.loads(raw)[H.BODY][R.C_VERSION] for raw in records.values()
               if cbor2.loads(raw)[H.KIND] == J.KIND_CONFIG]
    for m in sent:
        what = f"message {m['id']} ({m['kind']})"
        for d in m["sites"]:
            if d["status"] != "PROCESSED":
                out.append(f"{what} is {d['status']} at {d['site']}")
            for t in d["tills"]:
                if t["till"] == name and t["status"] != "PROCESSED":
                    out.append(f"{name}: {what} is {t['status']} for it ({t['reason'] or 'no reason'})")
        if m["kind"] in ("snapshot", "delta"):
            n = applied.count(m["info"]["version"])
            if n != 1:
                out.append(f"{name}: snapshot version {m['info']['version']} ({what}) applied {n} times")
    logos = [m for m in sent if m["kind"] == "logo"]
    if logos and logo_on_flash != blobs.get(logos[0]["sha256"]):
        out.append(f"{name}: the logo on the till is not HO's newest (message {logos[0]['id']})")
    return out
