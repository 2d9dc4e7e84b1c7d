"""The gateway against a real relay (uvicorn, SQLite) and tills over real
journals: full then delta sync, PROCESSED passed back only when HO processed,
the relay down mid-upload, the link cut at every call, bad records refused
while the other tills sync, and the statuses a person reads."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import cbor2
import pytest
from conftest import Site

from host_tools.gateway.outbox import ACKS, FAILED, NOT_STARTED, SUCCESS, UP, Outbox
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
