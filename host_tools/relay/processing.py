"""HO processing: each till's records in sequence order, verified and then
consolidated (PROCESSED) or set aside with a reason (QUARANTINED).

One transaction per claimed till and round: the records' new statuses, the
till's chain position and the consolidated figures commit together, so a
record is counted exactly once however often processing is killed and
restarted, and several processors (relay workers, `kassa ho process`) may run
at once: each claims a different till (store.claim_till).

The chain: record n must verify with the till's key over the tag of record
n-1 (chain_anchor(till id) before record 1), with the same verifier as
`kassa journal verify`. A record that fails is quarantined, and the chain goes
on from the tag it carries: if the next record verifies over it, only that
record was altered, and the rest of the queue is not blocked. A missing record
(a gap) stops the till's chain where it is: the first record after the gap is
quarantined as `gap` and released by itself once the missing records arrive
(the chain reaches it and verifies it), or resolved by a person who declares
the missing records lost.

Records declared lost may turn up after all (a gateway's outbox restored, a
till repaired). They are real sales, so HO counts them: each declaration is
kept (table losses) with where its chain starts, the late records are
verified from there in order and consolidated like any others (or
quarantined with their reason), and once all have arrived the declaration
is marked resolved, saying whether the chain joins the record after them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from host_tools.hodata.journal_reader import chain_anchor, verify_record
from host_tools.hodata.journal_schema import engine_record_problems
from host_tools.relay.consolidate import Consolidation
from host_tools.relay.store import PROCESSED, QUARANTINED, REJECTED, Store, StoreError, Tx

TAG = 6
SEQ, KIND, FLAGS, CLOSING, TRAINING = 1, 3, 5, 4, 2  # docs/journal.cddl
BUDGET_PER_TILL = 500  # records per claim: keeps a transaction (and its locks) short
# The reason code of a Z closing whose perpetual grand total is not what HO has
# counted for the till: the closing is PROCESSED (counted, the till may free
# it) and keeps the code and reason, so the Tills view counts it and
# `kassa ho received` shows why.
GRAND_TOTAL = "grand_total"


@dataclass
class Tally:
    processed: int = 0
    quarantined: int = 0

    def __iadd__(self, other: "Tally") -> "Tally":
        self.processed += other.processed
        self.quarantined += other.quarantined
        return self


def process(store: Store, budget_per_till: int = BUDGET_PER_TILL, max_claims: int | None = None) -> Tally:
    """Process until no till has work (or max_claims tills were claimed)."""
    total, claims, idle = Tally(), 0, 0
    while max_claims is None or claims < max_claims:
        with store.claim_till() as claim:
            if claim is None:
                break
            tx, till_id = claim
            done = process_till(tx, store, till_id, budget_per_till)
        claims += 1
        total += done
        # A claim can find nothing to do when another processor committed the
        # same till's work in between; stop rather than spin on it.
        idle = idle + 1 if done.processed + done.quarantined == 0 else 0
        if idle >= 3:
            break
    return total


def _problems(raw: bytes, key: bytes, prev: bytes, till_id: str,
              seq: int) -> tuple[str | None, str, dict[int, Any] | None]:
    """(reason code, reason, decoded record): code None when the record is good."""
    try:
        rec = cbor2.loads(raw)
    except Exception as exc:  # stored bytes decoded at upload; kept for safety
        return "verify", f"the record does not decode: {exc}", None
    if not isinstance(rec, dict):
        return "verify", "the record is not a map", None
    found = verify_record(rec, key, prev, till_id, seq)
    if not found and cbor2.dumps(rec, canonical=True) != raw:
        found = ["the record is not in deterministic encoding (docs/journal.md)"]
    if found:
        return "verify", "; ".join(found), rec
    found = engine_record_problems(raw, rec, canonical=True)  # checked above
    if found:
        return "schema", "; ".join(found), rec
    return None, "", rec


def _next_tag(rec: dict[int, Any] | None, prev: bytes) -> bytes:
    tag = rec.get(TAG) if rec else None
    return bytes(tag) if isinstance(tag, bytes) and len(tag) == 16 else prev


def process_till(tx: Tx, store: Store, till_id: str, budget: int) -> Tally:
    row = tx.one("SELECT site_id, journal_key, next_seq, chain_tag FROM tills WHERE till_id = ?", (till_id,))
    assert row is not None
    site_id, key, expected, prev = row[0], bytes(row[1]), int(row[2]), bytes(row[3])
    if expected == 1:
        prev = chain_anchor(till_id)
    now, tally, cons = store.now(), Tally(), Consolidation(site_id, till_id)
    processed: list[int] = []  # the good records, ascending
    _late_arrivals(tx, till_id, key, now, cons, tally, processed, budget)
    checked = _GrandTotals(tx, till_id)
    rows = tx.all("SELECT seq, raw, received_at FROM records WHERE till_id = ? AND seq >= ? "
                  "AND (status = 'UPLOADED' OR (status = 'QUARANTINED' AND reason_code = 'gap')) "
                  "ORDER BY seq LIMIT ?", (till_id, expected, budget))
    for seq, raw, received_at in rows:
        seq, raw = int(seq), bytes(raw)
        if seq != expected:
            _set_status(tx, till_id, seq, QUARANTINED, now, "gap",
                        f"records {expected} to {seq - 1} have not arrived: "
                        "the chain cannot be verified across them")
            tally.quarantined += 1
            break
        prev = _take(tx, cons, tally, processed, till_id, key, prev, seq, raw, int(received_at), now,
                     checked)
        expected = seq + 1
    _set_processed(tx, till_id, processed, now)
    checked.flag(now)
    tx.execute("UPDATE tills SET next_seq = ?, chain_tag = ? WHERE till_id = ?", (expected, prev, till_id))
    cons.write(tx)
    return tally


class _GrandTotals:
    """HO's check of each Z closing's perpetual grand total against the sum of
    the till's sales and refunds HO has counted before it (NF525's perpetual
    total: docs/records.md, "Z closing"). Records are taken in sequence
    order, so that sum is the till's consolidated figures so far (read once
    per transaction, when the first closing comes) plus this transaction's."""

    def __init__(self, tx: Tx, till_id: str) -> None:
        self.tx, self.till_id = tx, till_id
        self.held_before: int | None = None
        self.problems: list[tuple[int, str]] = []

    def check(self, cons: Consolidation, rec: dict[int, Any]) -> None:
        if rec[KIND] != CLOSING or rec.get(FLAGS, 0) & TRAINING:
            return
        if self.held_before is None:
            row = self.tx.one("SELECT COALESCE(SUM(sales_total + refunds_total), 0) FROM daily "
                              "WHERE till_id = ?", (self.till_id,))
            self.held_before = int(row[0]) if row else 0
        problem = cons.grand_total_problem(rec, self.held_before)
        if problem is not None:
            self.problems.append((rec[SEQ], problem))

    def flag(self, now: int) -> None:
        """After the records' PROCESSED status (which clears any reason)."""
        for seq, reason in self.problems:
            _set_status(self.tx, self.till_id, seq, PROCESSED, now, GRAND_TOTAL, reason)


def _take(tx: Tx, cons: Consolidation, tally: Tally, processed: list[int], till_id: str, key: bytes,
          prev: bytes, seq: int, raw: bytes, received_at: int, now: int,
          checked: _GrandTotals | None = None) -> bytes:
    """Verify and count record `seq` (chained from `prev`), or quarantine it
    with its reason; the tag the chain goes on from. checked: where a Z
    closing's grand total is checked (not for records declared lost that
    arrived late: HO has counted later records already)."""
    code, reason, rec = _problems(raw, key, prev, till_id, seq)
    if code is None:
        assert rec is not None
        try:
            cons.add(rec, received_at)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            code, reason = "schema", f"the body cannot be consolidated: {exc!r}"
    if code is None and checked is not None:
        assert rec is not None
        checked.check(cons, rec)
    if code is None:
        processed.append(seq)
        tally.processed += 1
    else:
        _set_status(tx, till_id, seq, QUARANTINED, now, code, reason)
        tally.quarantined += 1
    return _next_tag(rec, prev)


def _late_arrivals(tx: Tx, till_id: str, key: bytes, now: int, cons: Consolidation, tally: Tally,
                   processed: list[int], budget: int) -> None:
    """Records of the till's open loss declarations that have arrived since,
    in order from where each declaration's chain stands."""
    for first, last, next_seq, chain_tag in tx.all(
            "SELECT first_seq, last_seq, next_seq, chain_tag FROM losses "
            "WHERE till_id = ? AND resolved_at IS NULL ORDER BY first_seq", (till_id,)):
        expected, prev = int(next_seq), bytes(chain_tag)
        for seq, raw, received_at in tx.all(
                "SELECT seq, raw, received_at FROM records WHERE till_id = ? AND seq >= ? AND seq <= ? "
                "AND status = 'UPLOADED' ORDER BY seq LIMIT ?", (till_id, expected, int(last), budget)):
            if int(seq) != expected:
                break  # the next one has not arrived yet
            prev = _take(tx, cons, tally, processed, till_id, key, prev, expected, bytes(raw),
                         int(received_at), now)
            expected += 1
        resolution = None
        if expected > int(last):
            resolution = (f"records {first} to {last} arrived after they were declared lost and were "
                          "verified and counted (or quarantined with their reason); "
                          + _joins(tx, till_id, key, prev, int(last) + 1))
        tx.execute("UPDATE losses SET next_seq = ?, chain_tag = ?, resolved_at = ?, resolution = ? "
                   "WHERE till_id = ? AND first_seq = ?",
                   (expected, prev, now if resolution else None, resolution, till_id, first))


def _joins(tx: Tx, till_id: str, key: bytes, prev: bytes, seq: int) -> str:
    """Whether record `seq`, the one after the late records, chains from them."""
    row = tx.one("SELECT raw FROM records WHERE till_id = ? AND seq = ?", (till_id, seq))
    if row is None:
        return f"HO does not hold record {seq} to check that the chain joins it"
    try:
        rec = cbor2.loads(bytes(row[0]))
    except Exception:
        rec = None
    found = verify_record(rec, key, prev, till_id, seq) if isinstance(rec, dict) else ["it does not decode"]
    if found:
        return f"but record {seq} does not chain from them ({'; '.join(found)}): look at both"
    return f"the chain joins record {seq}: the journal is whole again"


def _set_processed(tx: Tx, till_id: str, seqs: list[int], now: int) -> None:
    """PROCESSED for the records `seqs` (ascending), one UPDATE for each run
    of consecutive ones (usually the whole claim) rather than one per record:
    on PostgreSQL each statement is a round trip, and those were the larger
    part of processing's time there (bench/bench_relay.py)."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and runs[-1][1] == seq - 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    for first, last in runs:
        tx.execute("UPDATE records SET status = ?, reason_code = NULL, reason = NULL, processed_at = ? "
                   "WHERE till_id = ? AND seq >= ? AND seq <= ?", (PROCESSED, now, till_id, first, last))


def _set_status(tx: Tx, till_id: str, seq: int, status: str, now: int, code: str | None,
                reason: str | None) -> None:
    tx.execute("UPDATE records SET status = ?, reason_code = ?, reason = ?, processed_at = ? "
               "WHERE till_id = ? AND seq = ?", (status, code, reason, now, till_id, seq))


def resolve(store: Store, till_id: str, seq: int, accept: bool, actor: str, note: str) -> str:
    """A person's decision on a quarantined record, journaled at HO.

    accept: count it as it is (PROCESSED); reject: keep it as evidence only
    (REJECTED). Either way the till may then free it. For a record set aside
    at a gap, the decision also declares the missing records before it lost:
    the chain goes on from this record's tag."""
    if not note.strip():
        raise StoreError("say why in a note (--note): HO's journal keeps it")
    with store.transaction() as tx:
        till = tx.one("SELECT site_id, next_seq FROM tills WHERE till_id = ?" + store.for_update, (till_id,))
        if till is None:
            raise StoreError(f"no till {till_id}")
        row = tx.one("SELECT status, reason_code, reason, raw, received_at FROM records "
                     "WHERE till_id = ? AND seq = ?", (till_id, seq))
        if row is None or row[0] != QUARANTINED:
            raise StoreError(f"record {seq} of {till_id} is not quarantined"
                             + (f" (it is {row[0]})" if row else " (HO does not hold it)"))
        status, code, reason, raw, received_at = row
        rec: Any = None
        try:
            rec = cbor2.loads(bytes(raw))
        except Exception:
            pass
        if accept:
            cons = Consolidation(till[0], till_id)
            try:
                cons.add(rec, int(received_at))
            except Exception as exc:
                raise StoreError(f"record {seq} cannot be counted ({exc!r}); reject it instead") from None
            cons.write(tx)
        _set_status(tx, till_id, seq, PROCESSED if accept else REJECTED, store.now(), code, reason)
        if code == "gap":
            first = int(till[1])
            if first < seq:  # records first..seq-1 declared lost; the chain stood at first
                chain = tx.one("SELECT chain_tag FROM tills WHERE till_id = ?", (till_id,))
                assert chain is not None
                tx.execute("INSERT INTO losses (till_id, first_seq, last_seq, declared_at, declared_by, "
                           "next_seq, chain_tag) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (till_id, first, seq - 1, store.now(), actor, first,
                            chain_anchor(till_id) if first == 1 else bytes(chain[0])))
            tx.execute("UPDATE tills SET next_seq = ?, chain_tag = ? WHERE till_id = ?",
                       (seq + 1, _next_tag(rec if isinstance(rec, dict) else None, b"\0" * 16), till_id))
        action = "accept" if accept else "reject"
        store.log(tx, actor, action, till_id, seq, f"{note} (quarantined for: {reason})")
    return PROCESSED if accept else REJECTED
