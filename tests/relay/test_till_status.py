"""What a site's gateway last saw of its tills (PUT .../status, issue 10 §1),
on both databases: kept and shown in HO's views (the API, `kassa ho tills`,
the web console's Tills page), the newest report wins whatever order they
arrive in, and a malformed, forged or cross-site report is a 4xx with a
reason that changes nothing. A database of the previous schema is upgraded
with its data."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from host_tools.cli import main
from host_tools.relay import schema
from host_tools.relay.app import create_app
from host_tools.relay.config import RelayConfig
from host_tools.relay.store import Store, open_store
from host_tools.relay.till_status import SEEN_AHEAD_S

STATUS_FIELDS = ("last_seen", "firmware", "clock_offset_s", "free_flash_bytes", "snapshot_version", "printer")


@dataclass
class Relay:
    client: TestClient
    store: Store
    clock: Any  # tests/relay/conftest.py's Clock: .t is HO's time
    site: dict[str, str]
    other_site: dict[str, str]
    admin: dict[str, str]

    def put(self, body: Any, till: str = "S001/till-1", auth: dict[str, str] | None = None) -> Any:
        kw: dict[str, Any] = {"content": body} if isinstance(body, (str, bytes)) else {"json": body}
        return self.client.put(url(till), headers=self.site if auth is None else auth, **kw)

    def seen(self, till: str = "S001/till-1") -> dict[str, Any]:
        row = next(t for t in self.store.tills() if t["till"] == till)
        return {k: row[k] for k in STATUS_FIELDS}


def url(till: str) -> str:
    site, name = till.split("/")
    return f"/v1/sites/{site}/tills/{name}/status"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def relay(store: Store, clock: Any) -> Iterator[Relay]:
    site = bearer(store.add_site("S001", "Main street"))
    other = bearer(store.add_site("S002", "Harbour"))
    store.add_till("S001/till-1", bytes(range(32)))
    store.add_till("S002/till-1", bytes(range(1, 33)))
    admin = bearer(store.add_user("anna", "admin"))
    app = create_app(RelayConfig(database_url="unused", worker_interval_s=None), store)
    with TestClient(app) as client:
        yield Relay(client, store, clock, site, other, admin)


def report(relay: Relay, ago_s: int = 60, **changes: Any) -> dict[str, Any]:
    return {"seen_at": relay.store.now() - ago_s, "firmware": "0.1.0", "clock_offset_s": -42,
            "free_flash_bytes": 812_000, "snapshot_version": 3, "printer": "paper_out", **changes}


def test_a_till_never_reported_shows_nothing_seen(relay: Relay) -> None:
    assert relay.seen() == dict.fromkeys(STATUS_FIELDS)
    tills = relay.client.get("/v1/ho/tills", headers=relay.admin).json()
    assert all(t["firmware"] is None and t["last_seen"] is None for t in tills)


def test_the_newest_report_is_kept_and_shown_to_ho(relay: Relay) -> None:
    now = relay.store.now()
    first = report(relay, ago_s=60)
    r = relay.put(first)
    assert r.status_code == 200, r.text
    assert r.json() == {"till": "S001/till-1", "reported_at": now,
                        **{k: v for k, v in first.items()}}
    want = {"last_seen": now - 60, "firmware": "0.1.0", "clock_offset_s": -42, "free_flash_bytes": 812_000,
            "snapshot_version": 3, "printer": "paper_out"}
    assert relay.seen() == want
    row = next(t for t in relay.client.get("/v1/ho/tills", headers=relay.admin).json()
               if t["till"] == "S001/till-1")
    assert {k: row[k] for k in STATUS_FIELDS} == want
    # The same report again (a retry), or one seen earlier arriving late, changes nothing.
    relay.clock.t += 30
    assert relay.put(first).json()["reported_at"] == now
    older = relay.put(report(relay, ago_s=600, firmware="0.0.9"))
    assert older.status_code == 200 and older.json()["firmware"] == "0.1.0" and relay.seen() == want
    # A later hello: the till was updated, its clock had never been set, the printer is fine.
    later = report(relay, ago_s=5, firmware="0.2.0-rc1", clock_offset_s=None, snapshot_version=None,
                   printer="ok")
    assert relay.put(later).status_code == 200
    assert relay.seen() == {**want, "last_seen": relay.store.now() - 5, "firmware": "0.2.0-rc1",
                            "clock_offset_s": None, "snapshot_version": None, "printer": "ok"}
    # The other site's till is untouched.
    assert relay.seen("S002/till-1") == dict.fromkeys(STATUS_FIELDS)


def test_the_status_offset_stands_beside_an_uploads_till_time(relay: Relay) -> None:
    # An older gateway's upload carried till_time; the gateway's report is
    # what it measured at hello, and takes its place once it comes.
    r = relay.client.post("/v1/sites/S001/tills/till-1/records", content=b"",
                          params={"till_time": relay.store.now() + 90},
                          headers={**relay.site, "Content-Type": "application/cbor-seq"})
    assert r.status_code == 200 and relay.seen()["clock_offset_s"] == 90
    relay.put(report(relay, clock_offset_s=7))
    assert relay.seen()["clock_offset_s"] == 7


FORGED: list[tuple[str, dict[str, Any], str, int, str]] = [
    # (who, changes to a good report or a raw body under "raw", till path, status, words of the detail)
    ("nobody", {}, "S001/till-1", 401, "sign in"),
    ("admin", {}, "S001/till-1", 403, "site's token"),
    ("other", {}, "S001/till-1", 403, "only its own"),
    ("site", {}, "S002/till-1", 403, "only its own"),
    ("site", {}, "S001/till-9", 404, "no till S001/till-9"),
    ("site", {}, "S001/till%201", 404, "not valid"),
    ("site", {"raw": "{not json"}, "S001/till-1", 422, "JSON"),
    ("site", {"raw": "[1, 2]"}, "S001/till-1", 422, "valid dictionary"),
    ("site", {"firmware": None}, "S001/till-1", 422, "string"),
    ("site", {"drop": "firmware"}, "S001/till-1", 422, "Field required"),
    ("site", {"drop": "seen_at"}, "S001/till-1", 422, "Field required"),
    ("site", {"firmware": "0.1.0 <script>"}, "S001/till-1", 422, "pattern"),
    ("site", {"firmware": "v" * 40}, "S001/till-1", 422, "pattern"),
    ("site", {"printer": "<b>ok</b>"}, "S001/till-1", 422, "pattern"),
    ("site", {"free_flash_bytes": -1}, "S001/till-1", 422, "greater than or equal to 0"),
    ("site", {"free_flash_bytes": "812000"}, "S001/till-1", 422, "whole number"),
    ("site", {"free_flash_bytes": 2**63}, "S001/till-1", 422, "less than or equal"),
    ("site", {"snapshot_version": 1.5}, "S001/till-1", 422, "whole number"),
    ("site", {"seen_at": True}, "S001/till-1", 422, "whole number"),
    ("site", {"clock_offset_s": 10**12}, "S001/till-1", 422, "less than or equal"),
    ("site", {"head": 5}, "S001/till-1", 422, "Extra inputs"),
    ("site", {"seen_at": "future"}, "S001/till-1", 422, "ahead of head office's clock"),
]


@pytest.mark.parametrize("who, changes, till, status, said", FORGED,
                         ids=[f"{f[0]}-{f[3]}-{i}" for i, f in enumerate(FORGED)])
def test_a_malformed_forged_or_cross_site_report_changes_nothing(relay: Relay, who: str, changes: dict[str, Any],
                                                                 till: str, status: int, said: str) -> None:
    relay.put(report(relay, ago_s=100))
    relay.put(report(relay, ago_s=100, firmware="1.0.0"), till="S002/till-1", auth=relay.other_site)
    before = {t: relay.seen(t) for t in ("S001/till-1", "S002/till-1")}
    auth = {"nobody": {}, "admin": relay.admin, "other": relay.other_site, "site": relay.site}[who]
    body: Any = report(relay, ago_s=10, firmware="6.6.6")
    if "raw" in changes:
        body = changes["raw"]
    elif "drop" in changes:
        del body[changes["drop"]]
    elif changes.get("seen_at") == "future":
        body["seen_at"] = relay.store.now() + SEEN_AHEAD_S + 1
    else:
        body.update(changes)
    kw: dict[str, Any] = {"content": body, "headers": {**auth, "Content-Type": "application/json"}} \
        if isinstance(body, str) else {"json": body, "headers": auth}
    r = relay.client.put(url(till), **kw)
    assert r.status_code == status, r.text
    assert said in json.dumps(r.json()["detail"]), r.text
    assert {t: relay.seen(t) for t in before} == before


def test_kassa_ho_tills_shows_firmware_and_last_seen(relay: Relay, db_url: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    seen_at = relay.store.now() - 60
    relay.put(report(relay, ago_s=60, firmware="0.1.0"))
    assert main(["ho", "tills", "--db", db_url]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "S001/till-1" in line)
    assert "0.1.0" in line and "-42" in line and "792" in line  # 812,000 bytes free: 792 KB
    from datetime import datetime, timezone
    assert datetime.fromtimestamp(seen_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") in line
    assert main(["ho", "tills", "--json", "--db", db_url]) == 0
    rows = {t["till"]: t for t in json.loads(capsys.readouterr().out)}
    assert rows["S001/till-1"]["firmware"] == "0.1.0" and rows["S001/till-1"]["last_seen"] == seen_at
    assert rows["S002/till-1"]["firmware"] is None


def test_a_database_of_schema_3_is_upgraded_with_its_tills(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    old = open_store(db_url)
    old.add_site("S001", "Main street")
    old.add_till("S001/till-1", bytes(range(32)))
    old.store_batch("S001/till-1", [], head=0, till_time=int(old.now()) + 30)
    old.close()
    monkeypatch.undo()
    new = open_store(db_url)
    try:
        assert new.schema_version() == schema.SCHEMA_VERSION >= 4
        [till] = new.tills()
        assert till["firmware"] is None and till["last_seen"] is None
        assert 28 <= till["clock_offset_s"] <= 30  # the upload's, kept
    finally:
        new.close()



def test_every_printer_state_and_the_firmware_version_a_till_reports_are_taken() -> None:
    import till
    from host_tools.relay.till_status import StatusIn
    from till.drivers import printer as P

    # "unknown": the gateway's word for a till that did not say (link_client.py)
    for state in ("ok", "paper_low", P.PAPER_OUT, P.COVER_OPEN, P.NO_ANSWER, P.PRINTER_ERROR, "unknown"):
        assert StatusIn(seen_at=1, firmware=till.FIRMWARE, printer=state).printer == state
