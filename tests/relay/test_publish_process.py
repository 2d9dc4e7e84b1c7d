"""Publishing into a relay process killed with SIGKILL at random moments:
HO publishes snapshots and multi-chunk logos over HTTP (retrying until it
gets an answer) while a site downloads what is pending (resuming cut
downloads with Range) and acknowledges it. However the kills fall, no blob
is half stored, no message is without its blob, delivery or targets, every
publish the relay answered is there with the blob it answered, and every
download the site finished matched its SHA-256.

Kills per database: KASSA_KILLS / 3 in make test (4: a relay restart takes
1-3 s here), 50 in `make test-kill`.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from publishing import full, register, whole_blobs_only
from relay_proc import RelayProcess, post_once
from host_tools.relay import publish
from host_tools.relay.store import open_store

KILLS = max(1, int(os.environ.get("KASSA_KILLS", "12")) // 3)


def tall_logo(seed: int) -> bytes:
    """A noisy 576 x 4000 image, each seed's its own: a raster of 288 KB,
    two chunks of a blob."""
    img = Image.effect_noise((576, 4000), 80)
    img.paste(0, (seed * 7 % 500, 0, seed * 7 % 500 + 40, 40))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class Publisher(threading.Thread):
    """HO: each file published until the relay answers (the relay may be dead meanwhile)."""

    def __init__(self, url: str, token: str, jobs: list[tuple[str, bytes, dict[str, str]]]) -> None:
        super().__init__(daemon=True)
        self.url, self.jobs = url, jobs
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
        self.answers: list[dict[str, object]] = []
        self.errors: list[str] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            for n, (kind, body, params) in enumerate(self.jobs):
                key = {"Idempotency-Key": f"job-{n}"}  # a retry after a lost answer publishes nothing twice
                while not self.stop_flag.is_set():
                    r = post_once(client, f"{self.url}/v1/ho/publish/{kind}", content=body, params=params,
                                  headers={**self.headers, **key})
                    if r is None:
                        continue
                    if r.status_code != 200:
                        self.errors.append(f"{r.status_code} {r.text}")
                    else:
                        self.answers.append(r.json())
                    break


class SiteGateway(threading.Thread):
    """A site: downloads pending messages (resuming cut downloads), checks
    each against its SHA-256 and acknowledges it for every till waiting."""

    def __init__(self, url: str, token: str, site: str) -> None:
        super().__init__(daemon=True)
        self.url, self.site = url, site
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stop_flag = threading.Event()
        self.verified: dict[str, int] = {}
        self.resumed = 0
        self.errors: list[str] = []

    def download(self, client: httpx.Client, sha: str, size: int) -> bytes:
        got = bytearray()
        while len(got) < size:
            headers = dict(self.headers)
            if got:
                headers["Range"] = f"bytes={len(got)}-"
                self.resumed += 1
            try:
                with client.stream("GET", f"{self.url}/v1/sites/{self.site}/blobs/{sha}", headers=headers) as r:
                    if r.status_code not in (200, 206):
                        raise httpx.HTTPError(f"{r.status_code}")
                    for part in r.iter_bytes():
                        got += part
            except httpx.HTTPError:
                time.sleep(0.01)
        return bytes(got)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop_flag.is_set():
                try:
                    pending = client.get(f"{self.url}/v1/sites/{self.site}/messages", headers=self.headers)
                    if pending.status_code != 200:
                        time.sleep(0.01)
                        continue
                    for msg in pending.json():
                        data = self.download(client, msg["sha256"], msg["size"])
                        if hashlib.sha256(data).hexdigest() != msg["sha256"]:
                            self.errors.append(f"message {msg['id']}: the download does not match its SHA-256")
                        self.verified[msg["sha256"]] = len(data)
                        for till in msg["tills"]:
                            r = client.post(f"{self.url}/v1/sites/{self.site}/messages/{msg['id']}/ack",
                                            json={"till": till, "result": "applied"}, headers=self.headers)
                            if r.status_code >= 400 and r.status_code != 503:
                                self.errors.append(f"ack {msg['id']}: {r.status_code} {r.text}")
                except httpx.HTTPError:
                    time.sleep(0.01)


def _sweep(db_url: str, tmp_path: Path, kills: int) -> None:
    store = open_store(db_url)
    try:
        tokens = register(store)
        admin = store.add_user("anna", "admin")
    finally:
        store.close()
    jobs: list[tuple[str, bytes, dict[str, str]]] = []
    for v in range(1, kills + 4):
        jobs.append(("snapshot", full(tmp_path, v, more_items=1500), {"all": "true"}))
        if v % 2:
            jobs.append(("logo", tall_logo(v), {"site": "S001", "width_dots": "576"}))
    relay = RelayProcess(db_url, worker_interval_s=None, log=tmp_path / "relay.log")
    rnd = random.Random(kills)
    relay.start()
    ho = Publisher(relay.url, admin, jobs)
    site = SiteGateway(relay.url, tokens["S001"], "S001")
    ho.start()
    site.start()
    try:
        for _ in range(kills):
            time.sleep(rnd.uniform(0.05, 0.5))
            relay.kill()
            relay.start()
        ho.join(120)
        assert not ho.is_alive(), "the publisher never finished"
        deadline = time.monotonic() + 60
        store = open_store(db_url)
        try:
            while publish.pending(store, "S001") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert publish.pending(store, "S001") == []
            whole_blobs_only(store)
            assert not ho.errors and not site.errors, (ho.errors[:3], site.errors[:3])
            sent = {m["id"]: m for m in publish.sent(store, limit=10_000)}
            for answer in ho.answers:  # every publish answered is there, with its blob
                m = sent[int(answer["message"])]  # type: ignore[call-overload]
                assert m["sha256"] == answer["sha256"] and m["size"] == answer["size"]
            assert len(ho.answers) == len(jobs) == len(sent)  # each published once, however often sent
            for m in sent.values():
                for d in m["sites"]:
                    if d["site"] == "S001":
                        assert d["status"] in ("PROCESSED", "SUPERSEDED"), (m["id"], d)
                        if d["status"] == "PROCESSED":
                            assert m["sha256"] in site.verified
        finally:
            store.close()
    finally:
        ho.stop_flag.set()
        site.stop_flag.set()
        relay.kill()


def test_sigkill_while_publishing_leaves_no_half_stored_package(db_url: str, tmp_path: Path) -> None:
    _sweep(db_url, tmp_path, KILLS)


@pytest.mark.killrun
def test_the_full_publishing_sigkill_sweep(db_url: str, tmp_path: Path) -> None:
    _sweep(db_url, tmp_path, 50)
