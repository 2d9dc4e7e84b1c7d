"""A small chain for the web pages' tests: two sites, three tills with
uploaded journals (one with a missing record, one with an altered record,
so quarantine has both kinds), an admin and a viewer. Uploads go through
the relay's HTTP API with any httpx-like client (a TestClient or httpx
against a real relay process)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import cbor2

from journals import DAY0, batch, make_journal
from host_tools.relay.store import Store

TILLS = {"S001/till-1": 60, "S001/till-2": 24, "S002/till-1": 30}
GAP = ("S001/till-2", 9)        # never uploaded: its successor is quarantined as a gap
ALTERED = ("S002/till-1", 12)   # total changed after the till tagged it: a chain break
TILL_CLOCK_AHEAD_S = 600        # S002/till-1's clock runs this far ahead of HO's
ROLLED_BACK = ("S001/till-1", 5)  # at the end reports this journal head: flagged
# What S001/till-1's gateway saw at its hello (PUT .../status); the other tills never reported.
SEEN = ("S001/till-1", {"firmware": "0.1.0", "clock_offset_s": 0, "free_flash_bytes": 812_000,
                        "snapshot_version": 3, "printer": "paper_out"})


@dataclass
class Chain:
    admin: str
    viewer: str
    site_tokens: dict[str, str]
    journals: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)

    def first_sale(self, till: str) -> int:
        return next(s for s, raw in self.journals[till] if (r := cbor2.loads(raw))[3] == 1 and not r.get(5))

    def record(self, till: str, seq: int) -> dict[Any, Any]:
        raw = dict(self.journals[till])[seq]
        rec: dict[Any, Any] = cbor2.loads(raw)
        return rec


def provision(store: Store) -> Chain:
    chain = Chain(store.add_user("alice", "admin"), store.add_user("victor", "viewer"),
                  {site: store.add_site(site, f"Store {site}") for site in ("S001", "S002")})
    for n, (till, count) in enumerate(TILLS.items()):
        key, chain.journals[till] = _journal(till, count, n)
        store.add_till(till, key)
    return chain


@cache  # the same journals for every test's new database: writing them takes a while
def _journal(till: str, count: int, n: int) -> tuple[bytes, list[tuple[int, bytes]]]:
    # Records three hours apart from a day per till on: sales over a week or so.
    return make_journal(till, count, seed=n + 5, start_time=DAY0 + n * 86400, step_s=3 * 3600)


def _altered(raw: bytes) -> bytes:
    rec = cbor2.loads(raw)
    rec[4][6] += 100  # one more unit on the total: the tag no longer verifies
    return cbor2.dumps(rec)


def upload(client: Any, base: str, chain: Chain, now: int) -> None:
    """Every till's journal in batches of 10, as its gateway would send it."""
    for till, records in chain.journals.items():
        site, name = till.split("/")
        sent = [(s, _altered(r) if (till, s) == ALTERED else r) for s, r in records if (till, s) != GAP]
        head = records[-1][0]
        till_time = now + (TILL_CLOCK_AHEAD_S if till == ALTERED[0] else 0)
        for i in range(0, len(sent), 10):
            r = client.post(f"{base}/v1/sites/{site}/tills/{name}/records", content=batch(sent[i:i + 10]),
                            params={"head": head, "till_time": till_time},
                            headers={"Authorization": f"Bearer {chain.site_tokens[site]}",
                                     "Content-Type": "application/cbor-seq"})
            assert r.status_code == 200, r.text
    till, seen = SEEN
    site, name = till.split("/")
    r = client.put(f"{base}/v1/sites/{site}/tills/{name}/status", json={"seen_at": now - 60, **seen},
                   headers={"Authorization": f"Bearer {chain.site_tokens[site]}"})
    assert r.status_code == 200, r.text
    till, head = ROLLED_BACK
    site, name = till.split("/")
    r = client.post(f"{base}/v1/sites/{site}/tills/{name}/records", content=b"", params={"head": head},
                    headers={"Authorization": f"Bearer {chain.site_tokens[site]}",
                             "Content-Type": "application/cbor-seq"})
    assert r.status_code == 409 and "flagged" in r.text, r.text
