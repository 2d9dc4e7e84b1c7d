"""The relay's store and HO processing, on SQLite and on PostgreSQL: schema
versions, registration, uploads (idempotent, conflicts kept, flags), the chain
verified per till, quarantine and its resolution, consolidation equal to an
independent recomputation, the ERP feed."""
from __future__ import annotations

import tempfile

import cbor2
import pytest

from journals import consolidated, make_journal, normal, recompute, write_journal
from host_tools.relay import processing, schema
from host_tools.relay.store import SchemaTooNew, Store, StoreError, open_store
from till.formats import journal as J

TILL = "S001/till-1"


def registered(store: Store, till: str = TILL, count: int = 60, seed: int = 1) -> list[tuple[int, bytes]]:
    site = till.split("/")[0]
    if not store.tills() or site not in {t["site"] for t in store.tills()}:
        try:
            store.add_site(site, site)
        except StoreError:
            pass
    key, records = make_journal(till, count, seed)
    store.add_till(till, key)
    return records


def statuses(store: Store, till: str = TILL) -> dict[int, str]:
    return {r["seq"]: r["status"] for r in store.received(till, limit=10_000)}


def test_the_schema_is_created_once_and_a_newer_one_is_refused(db_url: str) -> None:
    s = open_store(db_url)
    assert s.schema_version() == schema.SCHEMA_VERSION
    s.close()
    s = open_store(db_url)  # a second start upgrades nothing
    assert s.schema_version() == schema.SCHEMA_VERSION
    with s.transaction() as tx:
        tx.execute("UPDATE schema_version SET version = 99")
    s.close()
    with pytest.raises(SchemaTooNew, match=f"version 99, newer than this relay's {schema.SCHEMA_VERSION}"):
        open_store(db_url)


def test_registration_issues_credentials_and_refuses_doubles(store: Store) -> None:
    site_token = store.add_site("S001", "Main street")
    user_token = store.add_user("anna", "viewer")
    who = store.authenticate(site_token)
    assert who is not None and (who.kind, who.name) == ("site", "S001")
    who = store.authenticate(user_token)
    assert who is not None and (who.kind, who.name, who.role) == ("user", "anna", "viewer")
    for bad in ("", "site.S001.wrong", site_token + "x", "user.S001." + site_token.split(".")[2],
                "nonsense", "site.S002.abc"):
        assert store.authenticate(bad) is None
    with store.transaction(write=False) as tx:  # only the hash is stored
        row = tx.one("SELECT secret_sha256 FROM sites")
    assert row is not None and site_token.split(".")[2] not in row[0]
    with pytest.raises(StoreError, match="already registered"):
        store.add_site("S001", "again")
    key = bytes(range(32))
    store.add_till("S001/till-1", key)
    with pytest.raises(StoreError, match="already registered"):
        store.add_till("S001/till-1", bytes(32))
    with pytest.raises(StoreError, match="already belongs to another till"):
        store.add_till("S001/till-2", key)
    with pytest.raises(StoreError, match="no site S009"):
        store.add_till("S009/till-1", bytes(range(1, 33)))
    for bad in ("S001", "S001/", "S001/till 1", "S001/till/1", "/till-1", "S001/" + "x" * 40):
        with pytest.raises(ValueError, match="not valid"):
            store.add_till(bad, bytes(range(2, 34)))
    with pytest.raises(StoreError, match="role"):
        store.add_user("ben", "root")
    renewed = store.renew_site_credential("S001")
    assert store.authenticate(site_token) is None and store.authenticate(renewed) is not None


def test_uploads_are_idempotent_and_conflicts_are_kept_beside_hos_copy(store: Store, clock) -> None:
    records = registered(store, count=10)
    first = store.store_batch(TILL, records[:6], head=6)
    assert [a.outcome for a in first.acks] == ["stored"] * 6 and first.flag is None
    clock.t += 100
    again = store.store_batch(TILL, records[3:10], head=10)
    assert [a.outcome for a in again.acks] == ["duplicate"] * 3 + ["stored"] * 4
    # the original acknowledgement, time included
    assert (again.acks[0].sha256, again.acks[0].received_at) == (first.acks[3].sha256, first.acks[3].received_at)
    forged = _altered(records[4][1])
    clock.t += 100
    clash = store.store_batch(TILL, [(5, forged)], head=10)
    assert clash.acks[0].outcome == "conflict" and "record 5 differs" in (clash.flag or "")
    assert store.record_raw(TILL, 5) == records[4][1]  # HO's copy stays
    assert [c["seq"] for c in store.conflicts(TILL)] == [5]
    # flagged: nothing more is stored until HO clears the flag
    assert store.store_batch(TILL, [(5, records[4][1])], head=10).acks == []
    store.clear_flag(TILL, "anna", "checked: a test")
    assert store.store_batch(TILL, [(5, records[4][1])], head=10).acks[0].outcome == "duplicate"
    assert store.ho_journal()[0]["action"] == "clear-flag"


def test_a_batch_longer_than_one_insert_statement_is_stored_whole_and_answered_in_order(
        store: Store, clock) -> None:
    """Records go in as multi-row INSERTs of store.ROWS_PER_INSERT rows: a
    batch over several of them, with some records already held, is stored
    whole and each record answered for itself, in the order sent."""
    from host_tools.relay import store as store_module

    count = store_module.ROWS_PER_INSERT * 2 + 7
    records = registered(store, count=count)
    some = store.store_batch(TILL, records[10:20], head=count)
    clock.t += 60
    result = store.store_batch(TILL, records, head=count)
    assert [a.seq for a in result.acks] == list(range(1, count + 1))
    assert [a.outcome for a in result.acks] == ["stored"] * 10 + ["duplicate"] * 10 + ["stored"] * (count - 20)
    assert [a.received_at for a in result.acks[10:20]] == [a.received_at for a in some.acks]
    assert len(store.received(TILL, limit=10_000)) == count
    assert store.record_raw(TILL, count) == records[-1][1]


def test_an_acks_json_text_is_its_json(store: Store) -> None:
    """The upload's answer writes each ack as text directly (Ack.json_text);
    it must be exactly as_json(), for every outcome."""
    import json

    records = registered(store, count=3)
    acks = store.store_batch(TILL, records[:2], head=3).acks
    acks += store.store_batch(TILL, [records[0], (2, _altered(records[1][1]))], head=3).acks
    assert {a.outcome for a in acks} == {"stored", "duplicate", "conflict"}
    for ack in acks:
        assert json.loads(ack.json_text()) == ack.as_json()


def test_a_till_reporting_a_head_below_hos_is_flagged_at_once(store: Store) -> None:
    records = registered(store, count=10)
    store.store_batch(TILL, records, head=10)
    result = store.store_batch(TILL, records[:3], head=3)
    assert result.acks == [] and "journal head 3, below the 10 HO holds" in (result.flag or "")
    till = store.tills()[0]
    assert till["flag"] and till["reported_head"] == 3 and till["held"] == 10
    assert len(store.received(TILL)) == 10


def test_processing_verifies_and_consolidates_every_record_once(store: Store) -> None:
    a = registered(store, "S001/till-1", 120, seed=1)
    b = registered(store, "S001/till-2", 90, seed=2)
    c = registered(store, "S002/till-1", 70, seed=3)
    for till, recs in (("S001/till-1", a), ("S001/till-2", b), ("S002/till-1", c)):
        for i in range(0, len(recs), 25):
            store.store_batch(till, recs[i:i + 25], head=recs[-1][0])
    tally = processing.process(store, budget_per_till=37)
    assert (tally.processed, tally.quarantined) == (280, 0)
    assert processing.process(store).processed == 0  # nothing counted twice
    sites = {"S001/till-1": "S001", "S001/till-2": "S001", "S002/till-1": "S002"}
    want = recompute(sites, {t: [r for _, r in recs] for t, recs in
                             (("S001/till-1", a), ("S001/till-2", b), ("S002/till-1", c))})
    assert normal(consolidated(store.sales())) == normal(want)
    assert {x.till_id: x.processed for x in store.acks()} == \
        {"S001/till-1": 120, "S001/till-2": 90, "S002/till-1": 70}
    assert [z["z"] for z in store.closings("S001/till-1")] == [1, 2, 3]
    assert set(statuses(store).values()) == {"PROCESSED"}


def test_the_erp_feed_pages_with_an_after_cursor(store: Store) -> None:
    records = registered(store, count=50)
    store.store_batch(TILL, records, head=50)
    processing.process(store)
    page1 = store.feed(0, 10)
    page2 = store.feed(page1[-1]["id"], 1000)
    ids = [r["id"] for r in page1 + page2]
    assert ids == list(range(1, len(ids) + 1))
    kinds = {r["kind"] for r in page1 + page2}
    assert kinds <= {"sale", "storno", "closing"} and "sale" in kinds
    seqs = [r["seq"] for r in page1 + page2]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(isinstance(r["body"]["body"], dict) for r in page1)


def _altered(raw: bytes) -> bytes:
    rec = cbor2.loads(raw)
    rec[4] = {**rec[4], 1: rec[4].get(1, 0) + 1}
    return cbor2.dumps(rec, canonical=True)


def test_a_chain_break_is_quarantined_and_the_rest_of_the_queue_goes_on(store: Store) -> None:
    records = registered(store, count=30)
    records[9] = (10, _altered(records[9][1]))
    store.store_batch(TILL, records, head=30)
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (29, 1)
    q = store.quarantine(TILL)
    assert [(r["seq"], r["reason_code"]) for r in q] == [(10, "verify")]
    assert "tag" in q[0]["reason"]
    assert store.acks(till_id=TILL)[0].processed == 9  # the till keeps record 10 and after
    assert store.tills()[0]["chain_breaks"] == 1
    with pytest.raises(StoreError, match="note"):
        processing.resolve(store, TILL, 10, False, "anna", " ")
    assert processing.resolve(store, TILL, 10, False, "anna", "altered on the till") == "REJECTED"
    assert store.acks(till_id=TILL)[0].processed == 30
    assert store.ho_journal()[-1]["note"].startswith("altered on the till")
    with pytest.raises(StoreError, match="not quarantined"):
        processing.resolve(store, TILL, 10, True, "anna", "again")


def test_a_record_off_the_schema_is_quarantined_and_can_be_accepted(store: Store) -> None:
    store.add_site("S001", "")
    key = bytes(range(32))
    store.add_till(TILL, key)
    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, TILL, key, clock=lambda: 1795300000)
        j.append(J.KIND_NO_SALE, {1: 1})
        j.append(J.KIND_NO_SALE, {1: "Anna"})  # a cashier is an id, not a name
        j.append(J.KIND_NO_SALE, {1: 2})
        records = [(s, bytes(r)) for s, r in j.records_after(0)]
        j.close()
    store.store_batch(TILL, records, head=3)
    assert processing.process(store).quarantined == 1
    q = store.quarantine(TILL)
    assert [(r["seq"], r["reason_code"]) for r in q] == [(2, "schema")]
    assert "journal.cddl" in q[0]["reason"]
    assert processing.resolve(store, TILL, 2, True, "anna", "counted by hand") == "PROCESSED"
    assert store.sales()[0]["no_sales"] == 3


def test_a_gap_waits_and_closes_by_itself_when_the_records_arrive(store: Store) -> None:
    records = registered(store, count=30)
    store.store_batch(TILL, records[:10] + records[15:], head=30)
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (10, 1)
    q = store.quarantine(TILL)
    assert [(r["seq"], r["reason_code"]) for r in q] == [(16, "gap")]
    assert "records 11 to 15 have not arrived" in q[0]["reason"]
    assert store.tills()[0]["gaps"] == [[11, 15]]
    assert store.acks(till_id=TILL)[0].processed == 10
    assert processing.process(store).processed == 0  # waiting, not spinning
    store.store_batch(TILL, records[10:15], head=30)
    assert processing.process(store).processed == 20
    assert store.quarantine(TILL) == [] and store.acks(till_id=TILL)[0].processed == 30


def test_records_declared_lost_resume_the_chain_after_a_person_decides(store: Store) -> None:
    records = registered(store, count=30)
    store.store_batch(TILL, records[:10] + records[15:], head=30)
    processing.process(store)
    assert processing.resolve(store, TILL, 16, True, "anna", "11-15 lost with the flash") == "PROCESSED"
    assert processing.process(store).processed == 14
    assert store.acks(till_id=TILL)[0].processed == 30
    assert store.tills()[0]["gaps"] == [[11, 15]]  # still shown: HO never had them


def test_a_wrong_key_quarantines_every_record_and_blocks_nothing_else(store: Store) -> None:
    store.add_site("S001", "")
    _, records = make_journal(TILL, 5, seed=4)
    store.add_till(TILL, bytes(range(32)))  # not the key the till signed with
    good = registered(store, "S001/till-2", 5, seed=5)
    store.store_batch(TILL, records, head=5)
    store.store_batch("S001/till-2", good, head=5)
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (5, 5)


def test_a_journal_written_across_segments_processes_whole(store: Store) -> None:
    store.add_site("S001", "")
    key = bytes(range(32))
    store.add_till(TILL, key)
    with tempfile.TemporaryDirectory() as d:
        records = write_journal(d, TILL, key, 80, seed=9)
    store.store_batch(TILL, records, head=80)
    assert processing.process(store).processed == 80


def test_records_declared_lost_that_arrive_later_are_counted_and_the_declaration_resolved(
        store: Store, clock) -> None:
    """A person declared records 11-15 lost to let the chain go on; they turn
    up after all (a gateway's outbox restored). HO counts them, verified from
    the tag of record 10, and marks the declaration resolved; the chain joins
    record 16, which the person had accepted."""
    records = registered(store, count=30)
    store.store_batch(TILL, records[:10] + records[15:], head=30)
    processing.process(store)
    clock.t += 60
    processing.resolve(store, TILL, 16, True, "anna", "11-15 lost with the flash")
    assert processing.process(store).processed == 14
    loss = store.tills()[0]["losses"]
    assert loss == [{"first": 11, "last": 15, "declared_at": int(clock.t), "declared_by": "anna",
                     "arrived_to": 10, "resolved_at": None, "resolution": None}]
    clock.t += 3600
    store.store_batch(TILL, records[10:13], head=30)  # 11-13 first
    assert processing.process(store).processed == 3
    assert store.tills()[0]["losses"][0]["arrived_to"] == 13
    assert store.tills()[0]["losses"][0]["resolved_at"] is None
    assert processing.process(store).processed == 0  # 14 has not arrived: nothing to do, no spin
    store.store_batch(TILL, records[13:15], head=30)
    assert processing.process(store).processed == 2
    loss = store.tills()[0]["losses"][0]
    assert loss["resolved_at"] == int(clock.t) and "the chain joins record 16" in loss["resolution"]
    assert set(statuses(store).values()) == {"PROCESSED"}
    assert store.tills()[0]["gaps"] == [] and store.acks(till_id=TILL)[0].processed == 30
    site = "S001"
    assert consolidated(store.sales()) == recompute({TILL: site}, {TILL: [raw for _, raw in records]})


def test_a_late_record_that_does_not_verify_is_quarantined_and_the_join_is_checked(store: Store) -> None:
    records = registered(store, count=12)
    store.store_batch(TILL, records[:5] + records[8:], head=12)
    processing.process(store)
    processing.resolve(store, TILL, 9, False, "anna", "6-8 lost; 9 rejected as well")
    processing.process(store)
    store.store_batch(TILL, [records[5], (7, _altered(records[6][1])), records[7]], head=12)
    tally = processing.process(store)
    assert (tally.processed, tally.quarantined) == (2, 1)
    assert statuses(store)[7] == "QUARANTINED" and store.quarantine(TILL)[0]["reason_code"] == "verify"
    loss = store.tills()[0]["losses"][0]
    # 8 verifies over the tag record 7 carries, and 9 chains from 8: whole again
    assert loss["resolved_at"] is not None and "the chain joins record 9" in loss["resolution"]
