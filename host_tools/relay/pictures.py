"""Product pictures in echo mode: HO's named folder pairs (a master folder at
HO -> a folder at one site), their runs, and what each site acknowledged
having. The one write path of the picture_pairs table (docs/relay-publish.md).

A run reads the master folder, compares it with the manifest (path ->
SHA-256) the site last acknowledged, stores each new or changed file as a
blob (content-addressed: a picture shared by many pairs is stored once) and
publishes one pictures update (picture_update.py) for the pair's site; a
newer update supersedes an older one the site has not applied yet. The run's
summary (copied, updated, deleted, unchanged, failed) is kept with the pair.
Nothing a site does changes the master: a site only acknowledges.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from host_tools.relay import ids, picture_update, publish
from host_tools.relay.store import Store, StoreError, Tx

TOPIC_PREFIX = "pictures:"
MAX_FAILURES_KEPT = 50


@dataclass
class RunSummary:
    pair: str
    site: str
    at: int
    copied: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    message: int | None = None
    superseded: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# Called per master file read: (path, done, total).
Progress = Callable[[str, int, int], None]


def _pair_row(tx: Tx, name: str) -> tuple[Any, ...]:
    row = tx.one("SELECT pair_id, name, master, site_id, folder, acked, acked_message, last_run "
                 "FROM picture_pairs WHERE name = ?", (name,))
    if row is None:
        raise StoreError(f"no picture pair {name} (`kassa ho pictures pair list` shows them)")
    return row


def add_pair(store: Store, name: str, master: Path, site_id: str, folder: str | None = None) -> dict[str, Any]:
    ids.check_name(name, "pair name")
    folder = ids.check_name(folder or "pictures", "site folder name")
    if not master.is_dir():
        raise StoreError(f"the master folder {master} does not exist or is not a folder")
    with store.transaction() as tx:
        if not tx.one("SELECT 1 FROM sites WHERE site_id = ?", (ids.check_site(site_id),)):
            raise StoreError(f"no site {site_id}: register it with `kassa ho site add`")
        if tx.one("SELECT 1 FROM picture_pairs WHERE name = ?", (name,)):
            raise StoreError(f"a picture pair named {name} exists already")
        tx.execute("INSERT INTO picture_pairs (name, master, site_id, folder, created_at, acked) "
                   "VALUES (?, ?, ?, ?, ?, '{}')", (name, str(master.resolve()), site_id, folder, store.now()))
    return pair(store, name)


def remove_pair(store: Store, name: str) -> None:
    """Forget a pair at HO. Its updates already published stay (and are
    delivered); the site's folder is left as it is."""
    with store.transaction() as tx:
        _pair_row(tx, name)
        tx.execute("DELETE FROM picture_pairs WHERE name = ?", (name,))


def rename_pair(store: Store, name: str, new_name: str) -> None:
    ids.check_name(new_name, "pair name")
    with store.transaction() as tx:
        _pair_row(tx, name)
        if tx.one("SELECT 1 FROM picture_pairs WHERE name = ?", (new_name,)):
            raise StoreError(f"a picture pair named {new_name} exists already")
        tx.execute("UPDATE picture_pairs SET name = ? WHERE name = ?", (new_name, name))


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    pair_id, name, master, site, folder, acked, acked_message, last_run = row
    return {"id": int(pair_id), "name": name, "master": master, "site": site, "folder": folder,
            "acked_files": len(json.loads(acked)), "acked_message": acked_message,
            "last_run": json.loads(last_run) if last_run else None}


def pairs(store: Store) -> list[dict[str, Any]]:
    with store.transaction(write=False) as tx:
        rows = tx.all("SELECT pair_id, name, master, site_id, folder, acked, acked_message, last_run "
                      "FROM picture_pairs ORDER BY name")
    return [_as_dict(r) for r in rows]


def pair(store: Store, name: str) -> dict[str, Any]:
    with store.transaction(write=False) as tx:
        return _as_dict(_pair_row(tx, name))


def scan(master: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Every regular file under master as (relative posix path, full path),
    sorted; and what could not be listed."""
    found: list[tuple[str, Path]] = []
    failures: list[str] = []

    def failed(exc: OSError) -> None:
        failures.append(f"{exc.filename}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(master, onerror=failed):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(master).as_posix()
            if name.endswith(".kassa-tmp"):
                continue  # a half-written copy, never a picture (picture_update writes these)
            if full.is_file():
                found.append((rel, full))
            else:
                failures.append(f"{rel}: not a regular file (a link to nothing, a device or a pipe)")
    found.sort()
    return found, failures


def _maybe_present(tx: Tx, pair_id: int, site_id: str) -> set[str]:
    """Files of this pair's updates that the site may have applied without
    acknowledging yet (UPLOADED or FAILED): a deletion must cover them too."""
    paths: set[str] = set()
    for (sha,) in tx.all("SELECT m.sha256 FROM messages m JOIN deliveries d ON d.message_id = m.id "
                         "WHERE m.topic = ? AND d.site_id = ? AND d.status IN ('UPLOADED', 'FAILED')",
                         (f"{TOPIC_PREFIX}{pair_id}", site_id)):
        paths |= set(picture_update.decode(publish.blob_in(tx, sha)).put)
    return paths


def run_pair(store: Store, name: str, actor: str, progress: Progress | None = None) -> RunSummary:
    """One run of one pair: read the master, publish what changed (if
    anything), keep the summary with the pair."""
    with store.transaction(write=False) as tx:
        pair_id, _, master, site_id, folder, acked_json, _, _ = _pair_row(tx, name)
        maybe = _maybe_present(tx, pair_id, site_id)
    summary = RunSummary(name, site_id, store.now())
    acked: dict[str, str] = json.loads(acked_json)
    master_dir = Path(master)
    if not master_dir.is_dir():
        summary.failed = 1
        summary.failures = [f"the master folder {master} is missing: nothing was published"]
        _keep(store, pair_id, summary)
        return summary
    files, failures = scan(master_dir)
    manifest: dict[str, str] = {}
    stored: list[str] = []
    for done, (rel, full) in enumerate(files, 1):
        if progress is not None:
            progress(rel, done, len(files))
        try:
            data = full.read_bytes()
        except OSError as exc:
            failures.append(f"{rel}: {exc.strerror or exc}")
            continue
        sha = publish.sha256_hex(data)
        manifest[rel] = sha
        if acked.get(rel) != sha:
            stored.append(publish.put_blob(store, data))
    change = picture_update.diff(manifest, acked, maybe)
    # A file that could not be read is neither sent nor deleted at the site.
    unread = {f.split(": ", 1)[0] for f in failures}
    delete = [p for p in change.delete if p not in unread]
    summary.copied, summary.updated, summary.unchanged = change.copied, change.updated, change.unchanged
    summary.deleted, summary.failed = len(delete), len(failures)
    summary.failures = failures[:MAX_FAILURES_KEPT]
    if change.put or delete:
        update = picture_update.Update(name, folder, manifest, change.put, delete)
        info = {"pair": name, "folder": folder, "files": len(manifest), "copied": change.copied,
                "updated": change.updated, "deleted": len(delete)}
        done_ = publish.publish(store, publish.PICTURES, update.encode(), info, [site_id], actor,
                                topic=f"{TOPIC_PREFIX}{pair_id}", more_blobs=sorted(set(stored)))
        summary.message = done_.message_id
        summary.superseded = [m for m, _ in done_.superseded]
    _keep(store, pair_id, summary)
    return summary


def _keep(store: Store, pair_id: int, summary: RunSummary) -> None:
    with store.transaction() as tx:
        tx.execute("UPDATE picture_pairs SET last_run = ? WHERE pair_id = ?",
                   (json.dumps(summary.as_json(), sort_keys=True), pair_id))


def run(store: Store, name: str | None, actor: str, progress: Progress | None = None) -> list[RunSummary]:
    """Run one pair, or every pair (name None)."""
    names = [name] if name is not None else [p["name"] for p in pairs(store)]
    if not names:
        raise StoreError("no picture pairs yet: add one with `kassa ho pictures pair add`")
    return [run_pair(store, n, actor, progress) for n in names]


def site_applied(tx: Tx, message_id: int) -> None:
    """A site acknowledged applying a pictures update (called by
    publish.acknowledge in its transaction): the pair's acknowledged manifest
    becomes that update's, unless a newer update was acknowledged already."""
    row = tx.one("SELECT topic, sha256 FROM messages WHERE id = ?", (message_id,))
    if row is None or not str(row[0]).startswith(TOPIC_PREFIX):
        return
    pair_id = int(str(row[0])[len(TOPIC_PREFIX):])
    update = picture_update.decode(publish.blob_in(tx, row[1]))
    tx.execute("UPDATE picture_pairs SET acked = ?, acked_message = ? WHERE pair_id = ? "
               "AND (acked_message IS NULL OR acked_message < ?)",
               (json.dumps(update.manifest, sort_keys=True), message_id, pair_id, message_id))
