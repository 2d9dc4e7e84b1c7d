"""Snapshots, packages and registered sites for the publishing tests, built
with HO's own snapshot builder from the example store (tests/data/store)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from host_tools.hodata import snapshot_builder as sb
from host_tools.relay import packages
from host_tools.relay.store import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "store"
SITES = {"S001": ["till-1", "till-2"], "S002": ["till-1"], "S003": ["till-1"]}


def snapshot(tmp: Path, version: int, changed: bool = False, more_items: int = 0) -> Path:
    """Snapshot `version` of the example store (with changes.csv applied if
    changed, and more_items generated items for a bigger package)."""
    config = sb.load_config(DATA / "store.json")
    items = sb.load_items(DATA / "items.csv", config)
    if changed:
        items = sb.apply_changes(items, DATA / "changes.csv", config)
    items += [{"plu": 10_000 + n, "name": f"Generated item {n} v{version}", "price": 100 + n, "tax": "A",
               "weighed": False, "open_price": False, "min_age": 0, "dept": 9, "barcodes": []}
              for n in range(more_items)]
    for it in items:  # every version differs from the one before in a price
        if it["plu"] == 2:
            it["price"] += version
    out = tmp / f"snap-{version}"
    sb.build(items, config, version, out, created=1_700_000_000 + version)
    return out


def full(tmp: Path, version: int, changed: bool = False, more_items: int = 0) -> bytes:
    return packages.full_package(snapshot(tmp, version, changed, more_items))


def register(store: Store) -> dict[str, str]:
    """The sites of SITES with their tills; returns each site's token."""
    tokens = {}
    for n, (site, tills) in enumerate(SITES.items()):
        tokens[site] = store.add_site(site, site)
        for m, till in enumerate(tills):
            store.add_till(f"{site}/{till}", hashlib.sha256(f"{site}/{till}/{n}/{m}".encode()).digest())
    return tokens


def count(store: Store, table: str) -> int:
    with store.transaction(write=False) as tx:
        row = tx.one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


def whole_blobs_only(store: Store) -> None:
    """Every blob is whole (its chunks hash to its name) and every message has
    its blobs, deliveries and targets: what a kill must never break."""
    with store.transaction(write=False) as tx:
        blobs = tx.all("SELECT sha256, size FROM blobs")
        for sha, size in blobs:
            data = b"".join(bytes(r[0]) for r in tx.all("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n",
                                                        (sha,)))
            assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
        held = {sha for sha, _ in blobs}
        for message_id, sha in tx.all("SELECT id, sha256 FROM messages"):
            assert sha in held
            linked = {r[0] for r in tx.all("SELECT sha256 FROM message_blobs WHERE message_id = ?", (message_id,))}
            assert sha in linked and linked <= held
            sites = tx.all("SELECT site_id FROM deliveries WHERE message_id = ?", (message_id,))
            assert sites, f"message {message_id} has no delivery"
            for (site,) in sites:
                assert tx.all("SELECT 1 FROM delivery_targets WHERE message_id = ? AND site_id = ?",
                              (message_id, site)), f"message {message_id} has no target at {site}"
