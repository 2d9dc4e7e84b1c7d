"""HO to sites on both databases: packages checked as a till installs them
and stored once, deliveries per site with per-till acknowledgements
(UPLOADED -> PROCESSED / FAILED), supersession by a newer full snapshot, and
the site API over HTTP (pending messages, downloads that resume, idempotent
acknowledgements, cross-site and forged requests refused)."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from publishing import count, full, register, snapshot, whole_blobs_only
from host_tools.relay import packages, publish
from host_tools.relay.app import create_app
from host_tools.relay.config import RelayConfig
from host_tools.relay.publish import AckError, PublishError
from host_tools.relay.store import Store


def put(store: Store, data: bytes, sites: list[str] | None, base: Path | None = None) -> publish.Published:
    info = packages.check_for_publishing(store, data, base)
    return publish.publish(store, info["kind"], data, info, sites, "anna", version=info["version"])


def status(store: Store, message_id: int, site: str) -> str:
    [d] = [d for m in publish.sent(store) if m["id"] == message_id for d in m["sites"] if d["site"] == site]
    return str(d["status"])


def test_a_snapshot_is_stored_once_and_waits_for_every_till_of_the_chosen_sites(store: Store, tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "CHUNK_BYTES", 1000)  # several chunks, so reads cross their edges
    register(store)
    data = full(tmp_path, 1)
    done = put(store, data, ["S001", "S002"])
    assert (done.kind, done.sites, done.size, done.sha256) == ("snapshot", ["S001", "S002"], len(data),
                                                               hashlib.sha256(data).hexdigest())
    assert count(store, "blobs") == 1 and count(store, "blob_chunks") == -(-len(data) // 1000)
    [m] = publish.pending(store, "S001")
    assert (m["id"], m["kind"], m["sha256"], m["size"], m["scope"], m["tills"]) == \
        (done.message_id, "snapshot", done.sha256, len(data), "tills", ["till-1", "till-2"])
    assert m["info"]["version"] == 1 and m["info"]["hash"] == sb_hash(tmp_path / "snap-1")
    assert publish.pending(store, "S003") == []
    assert publish.blob_bytes(store, done.sha256) == data
    assert b"".join(publish.read_blob(store, done.sha256, 999, 2501)) == data[999:2501]
    assert publish.site_blob_size(store, "S002", done.sha256) == len(data)
    assert publish.site_blob_size(store, "S003", done.sha256) is None
    again = put(store, data, ["S003"])  # the same package to another site: the blob is not stored twice
    assert again.sha256 == done.sha256 and count(store, "blobs") == 1
    whole_blobs_only(store)


def sb_hash(directory: Path) -> str:
    from host_tools.hodata import snapshot_builder as sb
    return sb.dir_hash(directory).hex()


def _corrupt(data: bytes, where: str) -> bytes:
    if where == "truncated":
        return data[:len(data) // 2]
    if where == "name":  # a letter of an item's name: the content hash no longer matches
        i = data.index(b"Bananas") + 6
        return data[:i] + b"t" + data[i + 1:]
    if where == "not cbor":
        return b"\xff" * 100
    return b"PK\x03\x04 a zip file, not a package"


def test_a_bad_package_is_refused_with_its_reason_and_nothing_is_stored(store: Store, tmp_path: Path) -> None:
    register(store)
    good = full(tmp_path, 1)
    for where, words in (("truncated", "damaged: torn tail"), ("name", "does not match what head office built"),
                         ("not cbor", "not a snapshot package"), ("other file", "not a snapshot package")):
        with pytest.raises(PublishError, match=words):
            put(store, _corrupt(good, where), None)
        for table in ("blobs", "blob_chunks", "messages", "deliveries", "delivery_targets"):
            assert count(store, table) == 0, (where, table)


def test_a_delta_is_checked_over_its_base(store: Store, tmp_path: Path) -> None:
    register(store)
    s1, s2, s3 = snapshot(tmp_path, 1), snapshot(tmp_path, 2, changed=True), snapshot(tmp_path, 3)
    d12, d23 = packages.delta_package(s1, s2), packages.delta_package(s2, s3)
    with pytest.raises(PublishError, match="never published"):
        put(store, d12, ["S001"])  # HO never published snapshot 1: the base is unknown
    assert count(store, "messages") == 0
    assert put(store, d12, ["S001"], base=s1).kind == "delta"  # the base given as a directory
    with pytest.raises(PublishError, match="refused as a till would refuse it"):
        put(store, d23, ["S001"], base=s1)  # the wrong base: the till's installer says why
    put(store, packages.full_package(s1), ["S002"])
    # now snapshot 1 is published, and 1 -> 2 -> 3 is rebuilt from the published packages
    assert put(store, d23, ["S001"]).kind == "delta"
    with pytest.raises(PublishError, match="not a complete snapshot"):
        packages.full_package(tmp_path / "nothing")
    whole_blobs_only(store)


def test_tills_acknowledge_one_by_one_and_the_site_is_processed_when_all_have(store: Store, tmp_path: Path) -> None:
    register(store)
    m = put(store, full(tmp_path, 1), ["S001", "S002"]).message_id
    first = publish.acknowledge(store, "S001", m, "till-1", True)
    assert (first["outcome"], first["status"], first["message_status"]) == ("recorded", "PROCESSED", "UPLOADED")
    assert publish.acknowledge(store, "S001", m, "till-1", True) == {**first, "outcome": "duplicate"}
    assert publish.pending(store, "S001")[0]["tills"] == ["till-2"]
    failed = publish.acknowledge(store, "S001", m, "till-2", False, "flash full")
    assert failed["message_status"] == "FAILED" and publish.pending(store, "S001") == []
    assert publish.acknowledge(store, "S001", m, "till-2", False, "flash full")["outcome"] == "duplicate"
    [sent] = [x for x in publish.sent(store, "S001")]
    assert sent["sites"][0]["tills"][1] | {"at": 0} == {"till": "till-2", "status": "FAILED",
                                                       "reason": "flash full", "at": 0}
    done = publish.acknowledge(store, "S001", m, "till-2", True)  # retried by the gateway, and it worked
    assert done["message_status"] == "PROCESSED" and status(store, m, "S002") == "UPLOADED"
    cases = [(("S001", m, "till-1", False, "late"), 409, "already acknowledged"),
             (("S003", m, "till-1", True, None), 404, "not published to site S003"),
             (("S001", m + 7, "till-1", True, None), 404, "not published"),
             (("S001", m, "till-9", True, None), 404, "goes to its tills till-1, till-2"),
             (("S001", m, None, True, None), 404, "not a recipient"),
             (("S002", m, "till-1", False, "  "), 422, "needs the reason"),
             (("S002", m, "till 1", True, None), 422, "not valid")]
    for args, code, words in cases:
        with pytest.raises(AckError, match=words) as err:
            publish.acknowledge(store, *args)
        assert err.value.status == code
    assert status(store, m, "S002") == "UPLOADED"


def test_a_newer_full_snapshot_supersedes_what_was_not_delivered(store: Store, tmp_path: Path) -> None:
    register(store)
    s1, s2 = snapshot(tmp_path, 1), snapshot(tmp_path, 2, changed=True)
    m1 = put(store, packages.full_package(s1), ["S001", "S002"]).message_id
    publish.acknowledge(store, "S002", m1, "till-1", True)
    d12 = put(store, packages.delta_package(s1, s2), ["S001"]).message_id  # a delta supersedes nothing
    assert status(store, m1, "S001") == "UPLOADED"
    publish.acknowledge(store, "S001", m1, "till-1", True)  # one till of two: still not delivered
    m3 = put(store, full(tmp_path, 3), None)
    assert sorted(m3.superseded) == [(m1, "S001"), (d12, "S001")]
    assert (status(store, m1, "S001"), status(store, d12, "S001"), status(store, m1, "S002")) == \
        ("SUPERSEDED", "SUPERSEDED", "PROCESSED")
    assert [p["id"] for p in publish.pending(store, "S001")] == [m3.message_id]
    late = publish.acknowledge(store, "S001", m1, "till-2", True)  # a till that had it already: kept, still SUPERSEDED
    assert late["message_status"] == "SUPERSEDED"
    older = put(store, packages.full_package(s1), ["S001"])
    assert older.superseded == []  # an older version supersedes nothing newer
    logo1 = publish.publish(store, "logo", b"R1", {}, ["S001"], "anna").message_id
    logo2 = publish.publish(store, "logo", b"R2", {}, ["S001"], "anna")
    assert logo2.superseded == [(logo1, "S001")]


def test_publishing_needs_known_sites_with_tills(store: Store, tmp_path: Path) -> None:
    data = full(tmp_path, 1)
    with pytest.raises(PublishError, match="no site is registered"):
        put(store, data, None)
    store.add_site("S001", "x")
    store.add_site("S002", "y")
    store.add_till("S002/till-1", bytes(range(32)))
    with pytest.raises(PublishError, match="no site S009"):
        put(store, data, ["S009"])
    with pytest.raises(PublishError, match="S001 has no tills"):
        put(store, data, ["S001"])
    done = put(store, data, None)  # all sites: the one without tills is skipped, and said
    assert done.sites == ["S002"] and done.skipped == {"S001": "no tills registered"}
    assert publish.latest_snapshot_version(store) == 1


# -- over HTTP -----------------------------------------------------------------------

@dataclass
class Relay:
    client: TestClient
    store: Store
    tokens: dict[str, dict[str, str]]
    admin: dict[str, str]
    viewer: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def relay(store: Store) -> Iterator[Relay]:
    tokens = {site: bearer(t) for site, t in register(store).items()}
    admin, viewer = bearer(store.add_user("anna", "admin")), bearer(store.add_user("ben", "viewer"))
    app = create_app(RelayConfig(database_url="unused", worker_interval_s=None), store)
    with TestClient(app) as client:
        yield Relay(client, store, tokens, admin, viewer)


def test_the_site_api_lists_downloads_resumes_and_acknowledges(relay: Relay, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "CHUNK_BYTES", 512)
    c, s1 = relay.client, relay.tokens["S001"]
    data = full(tmp_path, 1)
    r = c.post("/v1/ho/publish/snapshot", params={"site": ["S001", "S002"]}, content=data, headers=relay.admin)
    assert r.status_code == 200, r.text
    sha, m = r.json()["sha256"], r.json()["message"]
    [msg] = c.get("/v1/sites/S001/messages", headers=s1).json()
    assert (msg["id"], msg["sha256"], msg["tills"], msg["info"]["version"]) == (m, sha, ["till-1", "till-2"], 1)
    whole = c.get(f"/v1/sites/S001/blobs/{sha}", headers=s1)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    # a download cut after `cut` bytes resumes with Range, or with ?offset=
    cut = len(data) // 3
    part = c.get(f"/v1/sites/S001/blobs/{sha}", headers={**s1, "Range": f"bytes={cut}-"})
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes {cut}-{len(data) - 1}/{len(data)}"
    assert data[:cut] + part.content == data
    assert c.get(f"/v1/sites/S001/blobs/{sha}", params={"offset": 2 * cut}, headers=s1).content == data[2 * cut:]
    assert c.get(f"/v1/sites/S001/blobs/{sha}", headers={**s1, "Range": "bytes=10-19"}).content == data[10:20]
    assert c.get(f"/v1/sites/S001/blobs/{sha}", headers={**s1, "Range": "bytes=-5"}).content == data[-5:]
    for bad in ({"Range": f"bytes={len(data)}-"}, {"Range": "lines=1-2"}, {"Range": "bytes=5-1"}):
        assert c.get(f"/v1/sites/S001/blobs/{sha}", headers={**s1, **bad}).status_code == 416
    ack = {"till": "till-1", "result": "applied"}
    first = c.post(f"/v1/sites/S001/messages/{m}/ack", json=ack, headers=s1).json()
    assert first == {"message": m, "till": "till-1", "status": "PROCESSED", "outcome": "recorded",
                     "message_status": "UPLOADED"}
    assert c.post(f"/v1/sites/S001/messages/{m}/ack", json=ack, headers=s1).json()["outcome"] == "duplicate"
    r = c.post(f"/v1/sites/S001/messages/{m}/ack", json={"till": "till-2", "result": "failed",
                                                         "reason": "snapshot 1 is already in force"}, headers=s1)
    assert r.json()["message_status"] == "FAILED"
    sent = c.get("/v1/ho/sent", params={"site": "S001"}, headers=relay.viewer).json()
    assert [t["status"] for t in sent[0]["sites"][0]["tills"]] == ["PROCESSED", "FAILED"]
    assert sent[0]["sites"][0]["tills"][1]["reason"] == "snapshot 1 is already in force"


def test_cross_site_forged_and_malformed_requests_get_a_4xx_with_a_reason(relay: Relay, tmp_path: Path) -> None:
    c, s1, s3 = relay.client, relay.tokens["S001"], relay.tokens["S003"]
    done = put(relay.store, full(tmp_path, 1), ["S001"])
    sha, m = done.sha256, done.message_id
    good = full(tmp_path / "y", 2)
    forged = bearer("site.S001.not-the-secret")
    cases = [
        ("get", f"/v1/sites/S001/messages", s3, None, 403),
        ("get", f"/v1/sites/S001/messages", forged, None, 401),
        ("get", f"/v1/sites/S001/messages", {}, None, 401),
        ("get", f"/v1/sites/S003/blobs/{sha}", s3, None, 404),   # not published to S003
        ("get", f"/v1/sites/S001/blobs/{sha}", s3, None, 403),
        ("get", f"/v1/sites/S001/blobs/{'0' * 64}", s1, None, 404),
        ("get", f"/v1/sites/S001/blobs/../../etc", s1, None, 404),
        ("get", f"/v1/sites/S001/blobs/{sha.upper()}", s1, None, 404),
        ("post", f"/v1/sites/S003/messages/{m}/ack", s3, {"till": "till-1", "result": "applied"}, 404),
        ("post", f"/v1/sites/S001/messages/{m}/ack", s3, {"till": "till-1", "result": "applied"}, 403),
        ("post", f"/v1/sites/S001/messages/{m}/ack", relay.admin, {"till": "till-1", "result": "applied"}, 403),
        ("post", f"/v1/sites/S001/messages/{m}/ack", s1, {"till": "till-1", "result": "maybe"}, 422),
        ("post", f"/v1/sites/S001/messages/{m}/ack", s1, {"till": "till-1"}, 422),
        ("post", f"/v1/sites/S001/messages/abc/ack", s1, {"till": "till-1", "result": "applied"}, 422),
        ("post", "/v1/ho/publish/snapshot?site=S001", relay.viewer, None, 403),
        ("post", "/v1/ho/publish/snapshot?site=S001", s1, None, 403),
        ("post", "/v1/ho/publish/snapshot", relay.admin, None, 422),
        ("post", "/v1/ho/publish/snapshot?site=S001&all=true", relay.admin, None, 422),
        ("post", "/v1/ho/publish/snapshot?site=S001", relay.admin, b"", 400),
        ("post", "/v1/ho/publish/snapshot?site=S001", relay.admin, b"\x00garbage", 409),
        ("post", "/v1/ho/publish/snapshot?site=S404", relay.admin, good, 409),
        ("post", "/v1/ho/publish/logo?all=true", relay.admin, b"not an image", 409),
        ("get", "/v1/ho/sent?status=LOST", relay.viewer, None, 422),
        ("get", "/v1/ho/sent", s1, None, 403),
    ]
    for method, url, headers, body, want in cases:
        if method == "get":
            r = c.get(url, headers=headers)
        elif isinstance(body, dict):
            r = c.post(url, json=body, headers=headers)
        else:
            r = c.post(url, content=body if body is not None else good, headers=headers)
        assert r.status_code == want, (url, r.status_code, r.text)
        assert r.json()["detail"], url
    assert count(relay.store, "messages") == 1 and publish.pending(relay.store, "S001")[0]["tills"] == \
        ["till-1", "till-2"]


def test_ho_publishes_a_logo_converted_for_the_printer_and_sees_it_sent(relay: Relay) -> None:
    img = Image.new("RGB", (800, 100), "white")
    img.paste((0, 0, 0), (100, 20, 700, 80))
    raw = io.BytesIO()
    img.save(raw, "PNG")
    r = relay.client.post("/v1/ho/publish/logo", params={"all": "true", "width_dots": 384}, content=raw.getvalue(),
                          headers=relay.admin)
    assert r.status_code == 200, r.text
    assert r.json()["sites"] == ["S001", "S002", "S003"]
    raster = relay.client.get(f"/v1/sites/S002/blobs/{r.json()['sha256']}", headers=relay.tokens["S002"]).content
    from host_tools.hodata.raster import to_raster
    assert raster == to_raster(img, 384)  # the same bytes `kassa image convert` writes
    [msg] = relay.client.get("/v1/sites/S002/messages", headers=relay.tokens["S002"]).json()
    assert msg["kind"] == "logo" and msg["info"]["width_dots"] == 384 and msg["info"]["rows"] == 48
    bomb = io.BytesIO()
    Image.new("1", (14000, 14000), 1).save(bomb, "PNG")  # 196 Mpixels in 70 KB: Pillow refuses to open it
    r = relay.client.post("/v1/ho/publish/logo", params={"all": "true"}, content=bomb.getvalue(), headers=relay.admin)
    assert r.status_code == 409 and "the logo upload was refused" in r.json()["detail"]
    spec = relay.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/sites/{site_id}/messages", "/v1/sites/{site_id}/blobs/{sha256}",
                 "/v1/sites/{site_id}/messages/{message_id}/ack", "/v1/ho/publish/snapshot", "/v1/ho/sent"):
        assert path in spec, path


def test_tills_acknowledging_at_once_leave_every_site_copy_processed(store: Store) -> None:
    """Two tills' gateways acknowledge the same messages concurrently: each
    acknowledgement sees the other's (on PostgreSQL the delivery row is locked)."""
    import threading

    register(store)
    ids = [publish.publish(store, "delta", b"delta %d" % n, {}, ["S001"], "anna").message_id for n in range(15)]
    errors: list[BaseException] = []

    def ack(till: str) -> None:
        try:
            for m in ids:
                publish.acknowledge(store, "S001", m, till, True)
        except BaseException as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=ack, args=(t,)) for t in ("till-1", "till-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert {status(store, m, "S001") for m in ids} == {"PROCESSED"}


def test_a_relay_database_of_schema_1_is_upgraded_with_its_data(db_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.relay import schema
    from host_tools.relay.store import open_store

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    old = open_store(db_url)
    register(old)
    assert old.schema_version() == 1
    old.close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    new = open_store(db_url)
    try:
        assert new.schema_version() == 2 and [a.till_id for a in new.acks(site_id="S001")] == \
            ["S001/till-1", "S001/till-2"]
        assert put(new, full(tmp_path, 1), None).sites == ["S001", "S002", "S003"]
    finally:
        new.close()


def test_a_publish_sent_again_with_its_idempotency_key_is_not_published_twice(relay: Relay, tmp_path: Path) -> None:
    c, data = relay.client, full(tmp_path, 1)
    key = {**relay.admin, "Idempotency-Key": "nightly-2026-12-06"}
    first = c.post("/v1/ho/publish/snapshot", params={"all": "true"}, content=data, headers=key).json()
    again = c.post("/v1/ho/publish/snapshot", params={"all": "true"}, content=data, headers=key)
    assert again.status_code == 200 and again.json() == {**first, "duplicate": True, "superseded": []}
    assert first["duplicate"] is False and count(relay.store, "messages") == 1
    other = c.post("/v1/ho/publish/snapshot", params={"all": "true"}, content=full(tmp_path / "2", 2), headers=key)
    assert other.status_code == 409 and "used for other bytes" in other.json()["detail"]
    assert count(relay.store, "messages") == 1


def test_mutated_packages_are_refused_as_the_till_refuses_them_never_with_a_crash(tmp_path: Path) -> None:
    import random

    data = full(tmp_path, 1)
    rnd = random.Random(8)
    refused = 0
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            b = b[:rnd.randint(0, len(b))]
        try:
            packages.check(bytes(b))
        except PublishError:
            refused += 1
    assert refused > 280  # the rest changed nothing the till reads (a byte set to its own value)
