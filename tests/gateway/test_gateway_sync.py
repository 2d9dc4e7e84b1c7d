"""The gateway against a real relay (uvicorn, SQLite) and tills over real
journals: full then delta sync, PROCESSED passed back only when HO processed,
the relay down mid-upload, the link cut at every call, bad records refused
while the other tills sync, and the statuses a person reads."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cbor2
import pytest
from gateway_site import Site, exactly_once, raws_of, site  # noqa: F401 (site: the fixture)

from host_tools.gateway.outbox import ACKS, DOWN, FAILED, NOT_STARTED, SUCCESS, UP, Outbox
from host_tools.gateway.relay_client import RelayClient
from host_tools.gateway.sync import Events, Gateway


class Recorder(Events):
    def __init__(self) -> None:
        self.steps: list[tuple[str, str, str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.progress_calls: list[tuple[str, str, int, int]] = []

    def step(self, till: str, direction: str, status: str, reason: str) -> None:
        self.steps.append((till, direction, status, reason))

    def note(self, till: str, text: str) -> None:
        self.notes.append((till, text))

    def progress(self, till: str, what: str, done: int, total: int) -> None:
        self.progress_calls.append((till, what, done, total))


@contextmanager
def gateway(site: Site, **kw: object) -> Iterator[tuple[Gateway, Outbox, Recorder]]:
    config = site.config(**kw)  # type: ignore[arg-type]
    outbox = Outbox(config.outbox)
    relay = RelayClient(config.relay_url, config.site, config.credential, timeout_s=5)
    events = Recorder()
    try:
        yield Gateway(config, outbox, relay, site.open_till, events, sleep=lambda s: None), outbox, events
    finally:
        relay.close()
        outbox.close()


def test_first_contact_is_a_full_sync_then_deltas_and_processed_goes_back(site: Site) -> None:
    till = site.add_till("till-1", sales=120)
    with gateway(site) as (gw, outbox, events):
        out = gw.sync()
        assert out["till-1"][UP].status == SUCCESS, out
        assert site.held_at_ho("till-1") == list(range(1, 121))
        # HO has not processed yet: the relay holds them UPLOADED, the till frees nothing.
        assert out["till-1"][ACKS].status == SUCCESS and till.hello().processed_seq == 0
        assert ("till-1", "full sync: 120 records to read after 0") in events.notes
        site.relay.process()
        site.sell("till-1", 30, seed=9)
        events.notes.clear()
        till.calls.clear()
        out = gw.sync()
        assert out["till-1"][UP].status == SUCCESS and out["till-1"][ACKS].status == SUCCESS
        assert ("till-1", "delta: 30 records to read after 120") in events.notes
        # Only the delta was read from the till.
        assert till.calls.count("records_after") == 2  # read_records=25
        assert till.hello().processed_seq == 120  # what HO processed, not the 150 it holds
        site.relay.process()
        gw.sync()
        assert till.hello().processed_seq == 150
        assert outbox.count_held("till-1") == 0  # confirmed both ways: gone from the outbox
    assert site.held_at_ho("till-1") == list(range(1, 151))
    assert site.relay.store.conflicts() == []


class RelayDropsAfter(RelayClient):
    """Takes the relay down after `batches` uploads (the relay dies mid-upload)."""

    def __init__(self, site: Site, batches: int) -> None:
        config = site.config()
        super().__init__(config.relay_url, config.site, config.credential, timeout_s=5)
        self.fixture, self.left = site, batches

    def upload(self, till: str, records: list[tuple[int, bytes]], head: int,
               till_time: int | None = None) -> object:  # type: ignore[override]
        if self.left == 0:
            self.fixture.relay.stop()
        self.left -= 1
        return super().upload(till, records, head, till_time)


def test_the_relay_down_mid_upload_loses_nothing_and_the_next_run_uploads_once(site: Site) -> None:
    import journals

    till = site.add_till("till-1", sales=130)
    other = site.add_till("till-2", sales=20, seed=5)
    config = site.config()
    outbox = Outbox(config.outbox)
    events = Recorder()
    relay = RelayDropsAfter(site, batches=1)
    gw = Gateway(config, outbox, relay, site.open_till, events, sleep=lambda s: None)
    out = gw.sync(["till-1"])
    up = out["till-1"][UP]
    assert up.status == FAILED and "did not answer" in up.reason and "stay in the outbox" in up.reason
    assert out["till-1"][ACKS].status == FAILED and "did not answer" in out["till-1"][ACKS].reason
    assert site.held_at_ho("till-1") == list(range(1, 51))  # the one batch that went through
    assert outbox.count_held("till-1") == 130 and outbox.count_pending("till-1") == 80
    # The till keeps selling meanwhile; the relay comes back; the next run uploads everything once.
    site.sell("till-1", 15, seed=3)
    raws, raws2 = raws_of(site, "till-1"), raws_of(site, "till-2")
    site.relay.start()
    out = gw.sync()
    assert out["till-1"][UP].status == SUCCESS and out["till-2"][UP].status == SUCCESS
    assert "15 records read, 95 uploaded" in out["till-1"][UP].detail
    site.relay.process()
    gw.sync()
    exactly_once(site, "till-1", raws)
    exactly_once(site, "till-2", raws2)
    assert till.hello().processed_seq == 145 and other.hello().processed_seq == 20
    # HO's consolidated totals equal a recomputation from the till's bytes.
    recomputed = journals.recompute({"S001/till-1": "S001", "S001/till-2": "S001"},
                                    {"S001/till-1": list(raws.values()),
                                     "S001/till-2": list(raws2.values())})
    assert journals.normal(journals.consolidated(site.relay.store.sales())) == journals.normal(recomputed)
    relay.close()
    outbox.close()


def _clean_calls(site: Site) -> list[str]:
    """The till calls of a delta sync that also passes PROCESSED back."""
    ref = site.add_till("ref", sales=40, seed=11)
    with gateway(site, names=["ref"]) as (gw, _, _):
        gw.sync()
        site.relay.process()
        site.sell("ref", 20, seed=12)
        ref.calls.clear()
        assert all(o.status == SUCCESS for o in gw.sync()["ref"].values())
    return list(ref.calls)


@pytest.mark.parametrize("persistent", [False, True], ids=["one cut", "link down from there on"])
def test_a_link_cut_at_every_call_of_a_sync_loses_nothing_and_doubles_nothing(site: Site,
                                                                              persistent: bool) -> None:
    calls = _clean_calls(site)
    assert {"hello", "set_clock", "records_after", "mark_processed"} <= set(calls)
    ops = [c for c in calls if c != "close"]
    for i in range(1, len(ops) + 1):
        name = f"t{i}"
        till = site.add_till(name, sales=40, seed=11)
        with gateway(site, names=[name]) as (gw, outbox, events):
            gw.sync()
            site.relay.process()
            site.sell(name, 20, seed=12)
            raws = raws_of(site, name)
            till.calls.clear()
            till.fail_calls = set(range(i, i + 50)) if persistent else {i}
            out = gw.sync()[name]
            if persistent:
                assert FAILED in (out[UP].status, out[ACKS].status) or out[ACKS].status == NOT_STARTED, (i, out)
                bad = out[UP] if out[UP].status != SUCCESS else out[ACKS]
                assert "link cut" in bad.reason or "did not answer" in bad.reason, (i, out)
                till.fail_calls = set()
                out = gw.sync()[name]
            assert out[UP].status == SUCCESS and out[ACKS].status == SUCCESS, (i, ops[i - 1], out)
            site.relay.process()
            gw.sync()
            assert till.hello().processed_seq == 60
            exactly_once(site, name, raws)


@pytest.mark.parametrize("fault,want", [
    ("gap", "not contiguous: record 14 came where 13 was due (missing 13)"),
    ("repeat", "not contiguous: record 12 came again where 13 was due"),
    ("garbage", "record 13 is not CBOR"),
    ("array", "record 13 is not a journal record"),
    ("wrong seq", "record 13 is not a journal record"),
    ("trailing", "record 13 is not one CBOR item"),
    ("not bytes", "record 13: the till sent"),
])
def test_a_till_sending_bad_records_is_refused_and_the_others_still_sync(site: Site, fault: str,
                                                                         want: str) -> None:
    bad = site.add_till("till-1", sales=30)
    site.add_till("till-2", sales=30, seed=4)

    def mangle(items: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        out = []
        for seq, raw in items:
            if seq == 13:
                if fault == "gap":
                    continue
                if fault == "repeat":
                    out.append(out[-1])
                    continue
                raw = {"garbage": b"\xff\xfe\x00", "array": cbor2.dumps([13, 1]),
                       "wrong seq": cbor2.dumps({1: 99}), "trailing": raw + b"\x00",
                       "not bytes": raw}.get(fault, raw)
                if fault == "not bytes":
                    out.append((seq, "text"))  # type: ignore[arg-type]
                    continue
            out.append((seq, raw))
        return out

    raws = raws_of(site, "till-1")
    bad.mangle = mangle
    with gateway(site, read_records=10) as (gw, outbox, _):
        out = gw.sync()
        assert out["till-1"][UP].status == FAILED and want in out["till-1"][UP].reason, out
        assert out["till-1"][UP].reason.startswith("records refused: ")
        assert out["till-2"][UP].status == SUCCESS and site.held_at_ho("till-2") == list(range(1, 31))
        assert site.held_at_ho("till-1") == list(range(1, 13))  # the good records before the bad one
        assert outbox.runs("till-1")[0]["status"] in (SUCCESS, FAILED)
        bad.mangle = None  # the till is mended: the next run carries on from record 13
        assert gw.sync()["till-1"][UP].status == SUCCESS
    exactly_once(site, "till-1", raws)


def test_a_till_on_the_wrong_port_or_replaced_is_refused_with_the_reason(site: Site) -> None:
    site.add_till("till-1", sales=10)
    site.add_till("till-2", sales=10)
    with gateway(site) as (gw, outbox, _):
        assert all(o.status == SUCCESS for s in gw.sync().values() for o in s.values())
        # Swap the cables: the port of till-1 now answers as till-2.
        t1, t2 = site.tills["till-1"], site.tills["till-2"]
        t1.till_id, t2.till_id = t2.till_id, t1.till_id
        out = gw.sync()
        assert out["till-1"][UP].status == FAILED
        assert "is 'S001/till-2', not S001/till-1" in out["till-1"][UP].reason
        assert out["till-1"][ACKS].status == NOT_STARTED
        t1.till_id, t2.till_id = t2.till_id, t1.till_id
        # till-1's flash is replaced by an empty journal: its head is below what the gateway holds.
        import shutil
        shutil.rmtree(t1.directory / "journal")
        out = gw.sync(["till-1"])
        assert out["till-1"][UP].status == FAILED and "flash was replaced or rolled back" in out["till-1"][UP].reason


def test_an_unreachable_till_fails_alone_and_the_outbox_still_uploads(site: Site) -> None:
    site.add_till("till-1", sales=60)
    site.add_till("till-2", sales=5, seed=3)
    with gateway(site) as (gw, outbox, events):
        site.relay.stop()
        out = gw.sync()
        assert outbox.count_pending("till-1") == 60 and out["till-1"][UP].status == FAILED
        site.relay.start()
        site.tills["till-1"].unreachable = True
        out = gw.sync()
        assert out["till-1"][UP].status == FAILED and "did not answer at fake:" in out["till-1"][UP].reason
        assert "60 uploaded" in out["till-1"][UP].detail and site.held_at_ho("till-1") == list(range(1, 61))
        assert out["till-1"][ACKS] .status == NOT_STARTED
        assert out["till-2"][UP].status == SUCCESS and out["till-2"][ACKS].status == SUCCESS
        # Each try was retried: 3 attempts per step, the link reopened each time.
        assert sum("trying again" in text for till, text in events.notes if till == "till-1") >= 2
        runs = outbox.runs("till-1")
        assert {(r["direction"], r["status"]) for r in runs} == {(UP, FAILED), (ACKS, NOT_STARTED),
                                                                 (DOWN, NOT_STARTED)}


def test_a_run_the_gateway_did_not_finish_shows_as_failed_interrupted(site: Site) -> None:
    site.add_till("till-1", sales=3)
    with gateway(site) as (gw, outbox, _):
        outbox.start_step("till-1", UP)  # as a killed gateway leaves it
        assert outbox.runs("till-1")[0]["status"] == "In progress"
        gw.sync()
        runs = outbox.runs("till-1", last=2)
        ups = [r for r in runs if r["direction"] == UP]
        assert ups[0]["status"] == SUCCESS
        assert ups[1]["status"] == FAILED and ups[1]["reason"].startswith("interrupted")


def test_the_clock_is_set_at_every_sync_and_the_offset_reported(site: Site) -> None:
    till = site.add_till("till-1", sales=3)
    till.clock_offset_s = -420
    with gateway(site) as (gw, outbox, events):
        out = gw.sync()
        assert "clock was -420 s off" in out["till-1"][UP].detail
        assert ("till-1", "clock set; the till was -420 s off") in events.notes
        state = outbox.till("till-1")
        assert state is not None and state.clock_offset_s == -420
        assert till.clock_offset_s == 0
    # HO sees the offset found, from the gateway's report of the till's hello.
    row = [t for t in site.relay.store.tills() if t["till"] == "S001/till-1"][0]
    assert row["clock_offset_s"] == -420


def test_ho_learns_each_tills_firmware_and_when_its_gateway_last_saw_it(site: Site) -> None:
    till = site.add_till("till-1", sales=3)
    config = site.config()
    now = [int(time.time()) - 3600]  # the gateway's clock, an hour back
    outbox = Outbox(config.outbox, clock=lambda: now[0])
    relay = RelayClient(config.relay_url, config.site, config.credential, timeout_s=5)
    gw = Gateway(config, outbox, relay, site.open_till, Recorder(), sleep=lambda s: None, clock=lambda: now[0])

    def ho() -> dict[str, object]:
        row = [t for t in site.relay.store.tills() if t["till"] == "S001/till-1"][0]
        return {k: row[k] for k in ("last_seen", "firmware", "clock_offset_s", "free_flash_bytes",
                                    "snapshot_version", "printer")}
    try:
        till.clock_offset_s = 17
        assert gw.sync()["till-1"][UP].status == SUCCESS
        first = {"last_seen": now[0], "firmware": "fake-1", "clock_offset_s": 17, "free_flash_bytes": 1 << 20,
                 "snapshot_version": 1, "printer": "ok"}
        assert ho() == first
        # HO is out of reach while the gateway sees the till: HO cannot know yet.
        now[0] += 600
        site.relay.stop()
        out = gw.sync()["till-1"][UP]
        assert out.status == FAILED and "did not answer" in out.reason and "stay in the outbox" in out.reason
        site.relay.start()
        assert ho() == first
        # HO is back, the till is unplugged: HO learns when the gateway last saw it.
        now[0] += 600
        till.unreachable = True
        out = gw.sync()["till-1"][UP]
        assert out.status == FAILED and "did not answer at fake:" in out.reason
        assert ho() == {**first, "last_seen": now[0] - 600, "clock_offset_s": 0}  # the clock set in run 1
    finally:
        relay.close()
        outbox.close()


def test_a_status_ho_refuses_is_reported_and_the_records_still_go_up(site: Site,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    till = site.add_till("till-1", sales=5)
    hello = till.hello
    # A firmware version HO cannot take (a space in it): HO refuses the report, never the records.
    monkeypatch.setattr(till, "hello", lambda: dataclasses.replace(hello(), firmware="fake 1"))
    with gateway(site) as (gw, _, _):
        up = gw.sync()["till-1"][UP]
    assert up.status == FAILED and up.reason.startswith("HO refused the till's status: firmware: String should "
                                                        "match pattern"), up.reason
    assert "5 uploaded" in up.detail and site.held_at_ho("till-1") == list(range(1, 6))
    assert [t["firmware"] for t in site.relay.store.tills()] == [None]


def test_a_till_whose_clock_was_never_set_gets_it_set_and_reports_no_offset(site: Site) -> None:
    till = site.add_till("till-1", sales=3)
    till.clock_offset_s = None  # a freshly flashed till without a battery clock
    with gateway(site) as (gw, outbox, events):
        out = gw.sync()
        assert out["till-1"][UP].status == SUCCESS and "clock was" not in out["till-1"][UP].detail
        assert ("till-1", "clock set; it had never been set") in events.notes
        assert till.clock_offset_s == 0 and till.hello().clock_s is not None


def test_a_flagged_till_is_reported_and_its_records_stay(site: Site) -> None:
    site.add_till("till-1", sales=10)
    with gateway(site) as (gw, outbox, _):
        gw.sync()
        site.relay.store.store_batch("S001/till-1", [], head=2)  # HO flags: a head below what it holds
        site.sell("till-1", 5, seed=8)
        out = gw.sync()
        assert out["till-1"][UP].status == FAILED
        assert "refused (409)" in out["till-1"][UP].reason and "flagged" in out["till-1"][UP].reason
        assert out["till-1"][ACKS].status == FAILED and "HO flagged this till" in out["till-1"][ACKS].reason
        assert outbox.count_pending("till-1") == 5


def test_a_stop_request_ends_every_till_after_its_current_call(site: Site) -> None:
    import threading

    for n in ("till-1", "till-2"):
        site.add_till(n, sales=200, seed=len(n))
        site.tills[n].delay_s = 0.02
    raws = {n: raws_of(site, n) for n in site.tills}
    with gateway(site, read_records=5) as (gw, outbox, _):
        threading.Timer(0.3, gw.request_stop).start()
        out = gw.sync()
        for n in site.tills:
            assert out[n][UP].status == FAILED and out[n][UP].reason.startswith("stopped (Ctrl-C)"), out
        assert 0 < outbox.count_held("till-1") < 200
        for t in site.tills.values():
            t.delay_s = 0
        assert all(o.status == SUCCESS for s in gw.sync().values() for o in s.values())
    for n in site.tills:
        exactly_once(site, n, raws[n])
