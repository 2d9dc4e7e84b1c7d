"""The relay's HTTP API in-process (FastAPI's TestClient), on both databases:
who may do what, every malformed, oversized, forged or cross-site request a
4xx with a reason and nothing stored, uploads answered after commit, the
acknowledgements a gateway reads back, HO's views and decisions."""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import cbor2
import pytest
from fastapi.testclient import TestClient

from journals import batch, make_journal
from host_tools.relay import processing, schema
from host_tools.relay.app import create_app
from host_tools.relay.config import Limits, RelayConfig
from host_tools.relay.store import Store

CBOR_SEQ = {"Content-Type": "application/cbor-seq"}
LIMITS = Limits(max_batch_bytes=64 * 1024, max_batch_records=50, max_record_bytes=2048)


@dataclass
class Relay:
    client: TestClient
    store: Store
    site: dict[str, str]
    admin: dict[str, str]
    viewer: dict[str, str]
    other_site: dict[str, str]
    records: list[tuple[int, bytes]]

    def upload(self, recs: list[tuple[int, bytes]], till: str = "till-1", head: int | None = None,
               auth: dict[str, str] | None = None, site: str = "S001") -> "object":
        params = {} if head is None else {"head": head}
        return self.client.post(f"/v1/sites/{site}/tills/{till}/records", content=batch(recs),
                                params=params, headers={**CBOR_SEQ, **(auth or self.site)})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def relay(store: Store) -> Iterator[Relay]:
    site = bearer(store.add_site("S001", "Main street"))
    other = bearer(store.add_site("S002", "Harbour"))
    key, records = make_journal("S001/till-1", 40)
    store.add_till("S001/till-1", key)
    store.add_till("S002/till-1", bytes(range(32)))
    admin, viewer = bearer(store.add_user("anna", "admin")), bearer(store.add_user("ben", "viewer"))
    app = create_app(RelayConfig(database_url="unused", limits=LIMITS, worker_interval_s=None), store)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Relay(client, store, site, admin, viewer, other, records)


def test_the_openapi_schema_describes_the_upload_and_the_acks(relay: Relay) -> None:
    spec = relay.client.get("/openapi.json").json()
    upload = spec["paths"]["/v1/sites/{site_id}/tills/{till_name}/records"]["post"]
    assert "application/cbor-seq" in upload["requestBody"]["content"]
    assert "/v1/sites/{site_id}/acks" in spec["paths"] and "/v1/ho/feed" in spec["paths"]
    assert relay.client.get("/healthz").json() == {"ok": True, "schema": schema.SCHEMA_VERSION}


def test_an_upload_is_acknowledged_and_processed_records_come_back_as_acks(relay: Relay) -> None:
    r = relay.upload(relay.records[:30], head=40)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["seq"] for a in body["acks"]] == list(range(1, 31))
    assert {a["outcome"] for a in body["acks"]} == {"stored"} and body["conflicts"] == 0
    assert relay.client.get("/v1/sites/S001/acks", headers=relay.site).json() == \
        [{"till": "S001/till-1", "processed": 0, "held": 30, "flag": None}]
    processing.process(relay.store)
    r = relay.upload(relay.records[25:], head=40)
    assert [a["outcome"] for a in r.json()["acks"]] == ["duplicate"] * 5 + ["stored"] * 10
    assert r.json()["acks"][0]["status"] == "PROCESSED"
    processing.process(relay.store)
    ack = relay.client.get("/v1/sites/S001/tills/till-1/ack", headers=relay.site).json()
    assert ack == {"till": "S001/till-1", "processed": 40, "held": 40, "flag": None}


@pytest.mark.parametrize("case", ["no token", "bad token", "other site", "user uploads", "unknown till",
                                  "bad till name", "media type", "not cbor", "torn", "not a record",
                                  "out of order", "too many", "record too big", "batch too big",
                                  "beyond head", "bad head"])
def test_bad_uploads_get_a_4xx_with_a_reason_and_store_nothing(relay: Relay, case: str) -> None:
    recs, url = relay.records[:5], "/v1/sites/S001/tills/till-1/records"
    headers, content, params = {**CBOR_SEQ, **relay.site}, batch(recs), {}
    want = 400
    if case == "no token":
        headers, want = CBOR_SEQ, 401
    elif case == "bad token":
        headers, want = {**CBOR_SEQ, **bearer(relay.site["Authorization"][7:] + "x")}, 401
    elif case == "other site":
        headers, want = {**CBOR_SEQ, **relay.other_site}, 403
    elif case == "user uploads":
        headers, want = {**CBOR_SEQ, **relay.admin}, 403
    elif case == "unknown till":
        url, want = "/v1/sites/S001/tills/till-9/records", 404
    elif case == "bad till name":
        url, want = "/v1/sites/S001/tills/till%201/records", 404
    elif case == "media type":
        headers, want = {**relay.site, "Content-Type": "application/json"}, 415
    elif case == "not cbor":
        content = batch(recs) + b"\xff\xff"
    elif case == "torn":
        content = batch(recs)[:-3]
    elif case == "not a record":
        content, want = batch(recs) + cbor2.dumps([1, 2]), 422
    elif case == "out of order":
        content, want = batch([recs[1], recs[0]]), 422
    elif case == "too many":
        _, many = make_journal("S001/till-1", 51, seed=3)
        content, want = batch(many), 413
    elif case == "record too big":
        content, want = batch(recs) + cbor2.dumps({1: 6, 4: "x" * 3000}), 413
    elif case == "batch too big":
        content, want = b"\x00" * (LIMITS.max_batch_bytes + 1), 413
    elif case == "beyond head":
        params, want = {"head": 3}, 422
    elif case == "bad head":
        params, want = {"head": "three"}, 422
    r = relay.client.post(url, content=content, headers=headers, params=params)
    assert r.status_code == want, r.text
    assert isinstance(r.json()["detail"], (str, list)) and r.json()["detail"]
    assert relay.store.received() == []


def test_random_bytes_never_make_a_5xx(relay: Relay) -> None:
    rnd = random.Random(5)
    good = batch(relay.records[:3])
    for _ in range(150):
        blob = bytearray(good)
        for _ in range(rnd.randint(1, 6)):
            blob[rnd.randrange(len(blob))] = rnd.randrange(256)
        blob = blob[:rnd.randint(0, len(blob))]
        r = relay.client.post("/v1/sites/S001/tills/till-1/records", content=bytes(blob),
                              headers={**CBOR_SEQ, **relay.site})
        assert r.status_code < 500, r.text
    for seq in relay.store.acks(till_id="S001/till-1"):
        assert seq.flag is None or "differs" in seq.flag


def test_a_flagged_till_gets_409_and_nothing_is_stored(relay: Relay) -> None:
    assert relay.upload(relay.records[:10], head=10).status_code == 200
    r = relay.upload(relay.records[:2], head=2)
    assert r.status_code == 409 and "journal head 2, below the 10" in r.json()["detail"]
    assert relay.upload(relay.records[10:12], head=12).status_code == 409
    assert len(relay.store.received()) == 10
    ack = relay.client.get("/v1/sites/S001/tills/till-1/ack", headers=relay.site).json()
    assert "below the 10" in ack["flag"]


def test_sites_read_only_their_own_mailbox_and_ho_views_need_ho_users(relay: Relay) -> None:
    assert relay.client.get("/v1/sites/S001/acks", headers=relay.other_site).status_code == 403
    assert relay.client.get("/v1/sites/S001/acks", headers=relay.viewer).status_code == 200
    for path in ("/v1/ho/tills", "/v1/ho/received", "/v1/ho/sales", "/v1/ho/feed", "/v1/ho/quarantine",
                 "/v1/ho/closings"):
        assert relay.client.get(path, headers=relay.site).status_code == 403, path
        assert relay.client.get(path).status_code == 401, path
        assert relay.client.get(path, headers=relay.viewer).status_code == 200, path
    assert relay.client.get("/v1/ho/received", params={"status": "LOST"},
                            headers=relay.viewer).status_code == 422


def test_ho_views_and_a_quarantine_decision_over_http(relay: Relay) -> None:
    recs = list(relay.records)
    rec = cbor2.loads(recs[4][1])
    rec[2] += 1  # the time edited: the tag no longer verifies
    recs[4] = (5, cbor2.dumps(rec, canonical=True))
    relay.upload(recs, head=40)
    processing.process(relay.store)
    q = relay.client.get("/v1/ho/quarantine", headers=relay.viewer).json()
    assert [(x["till"], x["seq"], x["reason_code"]) for x in q] == [("S001/till-1", 5, "verify")]
    url = "/v1/ho/quarantine/S001/till-1/5"
    decision = {"action": "reject", "note": "edited on the till"}
    assert relay.client.post(url, json=decision, headers=relay.viewer).status_code == 403
    assert relay.client.post(url, json={"action": "maybe", "note": "x"}, headers=relay.admin).status_code == 422
    r = relay.client.post(url, json=decision, headers=relay.admin)
    assert r.status_code == 200 and r.json()["status"] == "REJECTED"
    assert relay.client.post(url, json=decision, headers=relay.admin).status_code == 409
    tills = relay.client.get("/v1/ho/tills", headers=relay.viewer).json()
    assert tills[0]["processed"] == 40 and tills[0]["chain_breaks"] == 1
    sales = relay.client.get("/v1/ho/sales", headers=relay.viewer).json()
    assert sales and sales[0]["site"] == "S001"
    feed = relay.client.get("/v1/ho/feed", params={"after": 0, "limit": 5}, headers=relay.viewer)
    assert feed.headers["content-type"].startswith("application/x-ndjson")
    lines = feed.text.splitlines()
    assert len(lines) == 5 and all(line.startswith("{") for line in lines)
