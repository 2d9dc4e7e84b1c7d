"""The relay as a real process (uvicorn): it serves, processes with its own
worker and stops cleanly; killed with SIGKILL at random moments during
uploads and processing and restarted, with uploads retried, nothing
acknowledged is lost, nothing is counted twice, and the consolidated totals
equal an independent recomputation; two relay processes on one PostgreSQL
share the work with nothing twice and nothing skipped.

make test runs KILLS kills per database (env KASSA_KILLS, default 8 so the
suite stays short); `make test-kill` runs the full sweep of 50 per database.
"""
from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from journals import consolidated, make_journal, normal, recompute
from relay_proc import RelayProcess, Uploader
from host_tools.relay import processing
from host_tools.relay.store import Store, open_store

KILLS = int(os.environ.get("KASSA_KILLS", "8"))
TILLS = ["S001/till-1", "S001/till-2", "S002/till-1"]


def provision(db_url: str, records_per_till: int) -> tuple[dict[str, str], dict[str, list[tuple[int, bytes]]]]:
    store = open_store(db_url)
    tokens, journals = {}, {}
    try:
        for n, till in enumerate(TILLS):
            site = till.split("/")[0]
            if site not in tokens:
                tokens[site] = store.add_site(site, site)
            key, journals[till] = make_journal(till, records_per_till, seed=n + 11)
            store.add_till(till, key)
    finally:
        store.close()
    return tokens, journals


def check_everything_once(store: Store, journals: dict[str, list[tuple[int, bytes]]],
                          uploaders: list[Uploader]) -> None:
    import hashlib

    for up in uploaders:
        assert not up.errors, up.errors[:3]
        held = {r["seq"]: r["sha256"] for r in store.received(up.till_id, limit=100_000)}
        for seq, sha in up.acked.items():
            assert held.get(seq) == sha, (up.till_id, seq)  # every acknowledged record is there
        assert held == {s: hashlib.sha256(raw).hexdigest() for s, raw in journals[up.till_id]}
    assert {a.till_id: a.processed for a in store.acks()} == {t: len(r) for t, r in journals.items()}
    sites = {t: t.split("/")[0] for t in journals}
    want = recompute(sites, {t: [raw for _, raw in recs] for t, recs in journals.items()})
    assert normal(consolidated(store.sales())) == normal(want)
    feed = store.feed(0, 1_000_000)
    assert [f["id"] for f in feed] == list(range(1, len(feed) + 1))
    assert len({(f["till"], f["seq"]) for f in feed}) == len(feed)
    expected_feed = sum(1 for recs in journals.values() for _, raw in recs
                        if _feed_kind(raw))
    assert len(feed) == expected_feed


def _feed_kind(raw: bytes) -> bool:
    import cbor2

    rec = cbor2.loads(raw)
    return rec[3] == 4 or (rec[3] in (1, 2, 8) and not rec.get(5, 0) & 2)


def wait_processed(store: Store, journals: dict[str, list[tuple[int, bytes]]], timeout_s: float = 60) -> None:
    want = {t: len(r) for t, r in journals.items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if {a.till_id: a.processed for a in store.acks()} == want:
            return
        time.sleep(0.05)


def test_the_relay_serves_processes_and_stops_cleanly(db_url: str, tmp_path: Path) -> None:
    tokens, journals = provision(db_url, 60)
    relay = RelayProcess(db_url, log=tmp_path / "relay.log").start()
    try:
        ups = [Uploader([relay.url], tokens[t.split("/")[0]], t, journals[t], seed=i)
               for i, t in enumerate(TILLS)]
        for up in ups:
            up.start()
        for up in ups:
            up.join(60)
        store = open_store(db_url)
        try:
            wait_processed(store, journals)
            r = httpx.get(relay.url + "/v1/sites/S001/acks",
                          headers={"Authorization": f"Bearer {tokens['S001']}"})
            assert [a["processed"] for a in r.json()] == [60, 60]
            check_everything_once(store, journals, ups)
        finally:
            store.close()
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it so the
        # exit status says what ended the process.
        assert relay.stop() in (0, -15)
    assert "Traceback" not in (tmp_path / "relay.log").read_text()


def _kill_sweep(db_url: str, tmp_path: Path, kills: int) -> None:
    tokens, journals = provision(db_url, max(60, kills * 12))
    relay = RelayProcess(db_url, log=tmp_path / "relay.log")
    ups = [Uploader([relay.url], tokens[t.split("/")[0]], t, journals[t], seed=i)
           for i, t in enumerate(TILLS)]
    rnd = random.Random(kills)
    for up in ups:
        up.start()
    try:
        for _ in range(kills):
            relay.start()
            time.sleep(rnd.uniform(0.02, 0.4))
            relay.kill()
        relay.start()
        for up in ups:
            up.join(120)
            assert not up.is_alive(), "an uploader never finished"
        store = open_store(db_url)
        try:
            wait_processed(store, journals)
            check_everything_once(store, journals, ups)
        finally:
            store.close()
    finally:
        for up in ups:
            up.stop_flag.set()
        relay.kill()


def test_sigkill_during_uploads_and_processing_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    _kill_sweep(db_url, tmp_path, KILLS)


@pytest.mark.killrun
def test_the_full_sigkill_sweep(db_url: str, tmp_path: Path) -> None:
    _kill_sweep(db_url, tmp_path, 50)


def test_two_relays_on_one_postgresql_share_the_work(pg_url: str, tmp_path: Path) -> None:
    tokens, journals = provision(pg_url, 400)
    relays = [RelayProcess(pg_url, worker_interval_s=0.01, log=tmp_path / f"relay{i}.log").start()
              for i in range(2)]
    store = open_store(pg_url)
    seen: list[dict] = []
    done = threading.Event()

    def erp() -> None:  # an ERP reading the feed meanwhile: it must miss nothing
        after = 0
        while not done.is_set() or after < len(store.feed(0, 1_000_000)):
            page = store.feed(after, 50)
            seen.extend(page)
            after = page[-1]["id"] if page else after
            time.sleep(0.005)

    reader = threading.Thread(target=erp, daemon=True)
    reader.start()
    try:
        ups = [Uploader([r.url for r in relays], tokens[t.split("/")[0]], t, journals[t], seed=i)
               for i, t in enumerate(TILLS)]
        # two gateways per till through both relays at once: the same records
        # arrive concurrently, and one more processor runs here too
        ups += [Uploader([r.url for r in relays], tokens[t.split("/")[0]], t, journals[t], seed=i + 10)
                for i, t in enumerate(TILLS)]
        for up in ups:
            up.start()
        while any(up.is_alive() for up in ups):
            processing.process(store, budget_per_till=7)
        wait_processed(store, journals)
        done.set()
        reader.join(30)
        check_everything_once(store, journals, ups)
        assert [f["id"] for f in seen] == [f["id"] for f in store.feed(0, 1_000_000)]
    finally:
        store.close()
        for r in relays:
            r.stop()
