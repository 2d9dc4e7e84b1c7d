"""HO to sites: the one write path of the outbox (blobs, messages, deliveries
and their targets) and its reads (docs/relay-publish.md).

Ginesys's Sent Data: what HO publishes waits UPLOADED at the relay until the
site's tills have applied it and acknowledged it (PROCESSED). Here:

- a blob is stored once, by the SHA-256 of its bytes, whatever the number of
  messages and sites that carry it;
- a message is one thing published (a snapshot or delta package, a logo, a
  pictures update), with every blob it needs;
- a delivery is a message's copy for one site (status UPLOADED, PROCESSED,
  FAILED or SUPERSEDED), and its targets are who must apply it: each till of
  the site at publishing time, or the site itself for a pictures update.

A message, its blobs' links, its deliveries and targets, and whatever it
supersedes commit in one transaction: a relay killed while publishing leaves
either all of it or none of it. Blobs may be stored ahead in their own
transactions (a pictures run stores each file as it reads it); a blob
without a message is harmless and reused by the next publish.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from host_tools.relay import ids
from host_tools.relay.schema import MAX_BIGINT
from host_tools.relay.store import PROCESSED, UPLOADED, Store, StoreError, Tx, _where

FAILED, SUPERSEDED = "FAILED", "SUPERSEDED"
DELIVERY_STATUSES = (UPLOADED, PROCESSED, FAILED, SUPERSEDED)
SNAPSHOT, DELTA, LOGO, PICTURES = "snapshot", "delta", "logo", "pictures"
KINDS = (SNAPSHOT, DELTA, LOGO, PICTURES)
# Chunks of a blob: a resumed download reads only the chunks from its offset
# on, and a download holds one chunk in memory at a time.
CHUNK_BYTES = 256 * 1024
MAX_REASON_CHARS = 500
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PublishError(StoreError):
    """A publish refused (a bad package, an unknown site): nothing was stored."""


class AckError(StoreError):
    """An acknowledgement the relay cannot take; status is the HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Published:
    message_id: int
    kind: str
    sha256: str
    size: int
    sites: list[str]
    superseded: list[tuple[int, str]]      # (message id, site) now SUPERSEDED
    skipped: dict[str, str] = field(default_factory=dict)  # site -> why (--all only)
    duplicate: bool = False  # the same Idempotency-Key again: the first publish, nothing new

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message_id, "kind": self.kind, "sha256": self.sha256, "size": self.size,
                "sites": self.sites, "superseded": [{"message": m, "site": s} for m, s in self.superseded],
                "skipped": self.skipped, "duplicate": self.duplicate}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


# -- blobs ---------------------------------------------------------------------

def _put_blob(tx: Tx, data: bytes, now: int) -> str:
    digest = sha256_hex(data)
    inserted = tx.all("INSERT INTO blobs (sha256, size, chunk_bytes, created_at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
                      (digest, len(data), CHUNK_BYTES, now))
    if inserted:  # else it is held already, whole: a blob commits with all its chunks
        for n, start in enumerate(range(0, len(data), CHUNK_BYTES)):
            tx.execute("INSERT INTO blob_chunks (sha256, n, data) VALUES (?, ?, ?)",
                       (digest, n, data[start:start + CHUNK_BYTES]))
    return digest


def put_blob(store: Store, data: bytes) -> str:
    """Store a blob on its own (before the message that will name it); its SHA-256."""
    with store.transaction() as tx:
        return _put_blob(tx, data, store.now())


def blob_size(store: Store, sha256: str) -> int | None:
    with store.transaction(write=False) as tx:
        row = tx.one("SELECT size FROM blobs WHERE sha256 = ?", (sha256,))
    return None if row is None else int(row[0])


def site_blob_size(store: Store, site_id: str, sha256: str) -> int | None:
    """The blob's size if it was published to this site (in any status), else None."""
    with store.transaction(write=False) as tx:
        row = tx.one("SELECT b.size FROM blobs b WHERE b.sha256 = ? AND EXISTS ("
                     "SELECT 1 FROM message_blobs mb JOIN deliveries d ON d.message_id = mb.message_id "
                     "WHERE mb.sha256 = b.sha256 AND d.site_id = ?)", (sha256, site_id))
    return None if row is None else int(row[0])


def read_blob(store: Store, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The blob's bytes [start, end), chunk by chunk (one short read each)."""
    with store.transaction(write=False) as tx:
        row = tx.one("SELECT size, chunk_bytes FROM blobs WHERE sha256 = ?", (sha256,))
    if row is None:
        raise StoreError(f"no blob {sha256}")
    size, chunk = int(row[0]), int(row[1])
    end = size if end is None else min(end, size)
    n = start // chunk
    while n * chunk < end:
        with store.transaction(write=False) as tx:
            got = tx.one("SELECT data FROM blob_chunks WHERE sha256 = ? AND n = ?", (sha256, n))
        if got is None:  # a blob commits with all its chunks; this would be a damaged database
            raise StoreError(f"blob {sha256} has no chunk {n}: the relay's database is damaged")
        data = bytes(got[0])
        lo = max(start - n * chunk, 0)
        hi = min(end - n * chunk, len(data))
        yield data[lo:hi]
        n += 1


def blob_bytes(store: Store, sha256: str) -> bytes:
    return b"".join(read_blob(store, sha256))


def blob_in(tx: Tx, sha256: str) -> bytes:
    """A (small) blob's bytes inside a transaction the caller holds."""
    return b"".join(bytes(r[0]) for r in tx.all("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n",
                                                (sha256,)))


# -- publishing ------------------------------------------------------------------

def _recipients(tx: Tx, kind: str, sites: Sequence[str] | None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """{site: [target, ...]} and {site: why skipped}. Explicitly named sites
    must exist and (for a till message) have tills; --all skips, and says so,
    a site without tills."""
    known = [r[0] for r in tx.all("SELECT site_id FROM sites ORDER BY site_id")]
    if sites is None:
        chosen = known
    else:
        chosen = list(dict.fromkeys(sites))
        for site in chosen:
            ids.check_site(site)
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise PublishError(f"no site {', '.join(unknown)} is registered (`kassa ho site add`); "
                               "nothing was published")
    if not chosen:
        raise PublishError("no site is registered yet: nothing to publish to")
    targets: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    for site in chosen:
        if kind == PICTURES:
            targets[site] = [site]
            continue
        tills = [r[0] for r in tx.all("SELECT till_id FROM tills WHERE site_id = ? ORDER BY till_id", (site,))]
        if tills:
            targets[site] = tills
        elif sites is None:
            skipped[site] = "no tills registered"
        else:
            raise PublishError(f"site {site} has no tills registered, so nothing there would apply it "
                               "(`kassa ho till add`); nothing was published")
    if not targets:
        raise PublishError("none of the sites has a till registered; nothing was published")
    return targets, skipped


def publish(store: Store, kind: str, data: bytes, info: dict[str, Any], sites: Sequence[str] | None,
            actor: str, topic: str | None = None, version: int = 0,
            more_blobs: Sequence[str] = (), idempotency_key: str | None = None) -> Published:
    """Publish `data` (validated by the caller: packages.py, pictures.py) to
    the given sites, or to all (sites None), in one transaction.

    topic/version decide what the message supersedes: a full snapshot every
    undelivered (UPLOADED or FAILED) snapshot and delta of a version up to its
    own for the same site; a logo or a pictures update every undelivered
    older one of its topic. A delta supersedes nothing. more_blobs: blobs the
    message needs besides `data`, stored ahead with put_blob. A publish with
    the idempotency_key of an earlier one gets that one back (duplicate) if
    it carried the same bytes, and is refused if not (Stripe's keys)."""
    if kind not in KINDS:
        raise PublishError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    topic = topic or (SNAPSHOT if kind in (SNAPSHOT, DELTA) else kind)
    supersedes = kind != DELTA
    now = store.now()
    digest = sha256_hex(data)
    with store.transaction() as tx:
        if idempotency_key is not None:
            first = _first_with_key(tx, idempotency_key, digest)
            if first is not None:
                return first
        targets, skipped = _recipients(tx, kind, sites)
        # Publishes to a site take turns (PostgreSQL; SQLite has one writer),
        # so of two published at once the newer always sees the older to supersede.
        for site in sorted(targets):  # in one order: two publishes never wait on each other
            tx.all("SELECT site_id FROM sites WHERE site_id = ?" + store.for_update, (site,))
        _put_blob(tx, data, now)
        for sha in more_blobs:
            if tx.one("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)) is None:
                raise PublishError(f"blob {sha} is not stored: store it before the message that needs it")
        row = tx.one("INSERT INTO messages (kind, topic, version, sha256, size, info, created_at, created_by, "
                     "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                     (kind, topic, version, digest, len(data), json.dumps(info, sort_keys=True), now, actor,
                      idempotency_key))
        if row is None:  # the same key committed by a request running at the same time
            raise PublishError("a publish with this Idempotency-Key is under way; send it again to get its answer")
        message_id = int(row[0])
        for sha in dict.fromkeys([digest, *more_blobs]):
            tx.execute("INSERT INTO message_blobs (message_id, sha256) VALUES (?, ?)", (message_id, sha))
        superseded: list[tuple[int, str]] = []
        for site, site_targets in targets.items():
            if supersedes:
                older = tx.all("SELECT d.message_id FROM deliveries d JOIN messages m ON m.id = d.message_id "
                               "WHERE d.site_id = ? AND d.status IN ('UPLOADED', 'FAILED') AND m.topic = ? "
                               "AND m.version <= ? ORDER BY d.message_id", (site, topic, version))
                for (old,) in older:
                    # re-checked by the UPDATE: an acknowledgement may have completed it meanwhile
                    if tx.all("UPDATE deliveries SET status = 'SUPERSEDED', status_at = ? WHERE message_id = ? "
                              "AND site_id = ? AND status IN ('UPLOADED', 'FAILED') RETURNING message_id",
                              (now, old, site)):
                        superseded.append((int(old), site))
            tx.execute("INSERT INTO deliveries (message_id, site_id, status, status_at) VALUES (?, ?, ?, ?)",
                       (message_id, site, UPLOADED, now))
            for target in site_targets:
                tx.execute("INSERT INTO delivery_targets (message_id, site_id, target, status) "
                           "VALUES (?, ?, ?, 'UPLOADED')", (message_id, site, target))
    return Published(message_id, kind, digest, len(data), list(targets), superseded, skipped)


def _first_with_key(tx: Tx, key: str, digest: str) -> Published | None:
    row = tx.one("SELECT id, kind, sha256, size FROM messages WHERE idempotency_key = ?", (key,))
    if row is None:
        return None
    if row[2] != digest:
        raise PublishError(f"Idempotency-Key {key!r} was used for other bytes (message {row[0]}): "
                           "use a new key for a new publish")
    sites = [s for (s,) in tx.all("SELECT site_id FROM deliveries WHERE message_id = ? ORDER BY site_id", (row[0],))]
    return Published(int(row[0]), row[1], row[2], int(row[3]), sites, [], {}, duplicate=True)


def latest_snapshot_version(store: Store) -> int:
    """The highest snapshot version ever published (0 for none)."""
    with store.transaction(write=False) as tx:
        row = tx.one("SELECT MAX(version) FROM messages WHERE topic = 'snapshot'")
    return int(row[0]) if row and row[0] is not None else 0


def snapshot_messages(store: Store) -> list[dict[str, Any]]:
    """Every snapshot and delta message: id, kind, sha256 and info (the
    content hash it produces and, for a delta, the one it needs)."""
    with store.transaction(write=False) as tx:
        rows = tx.all("SELECT id, kind, sha256, info FROM messages WHERE topic = 'snapshot' ORDER BY id")
    return [{"id": r[0], "kind": r[1], "sha256": r[2], "info": json.loads(r[3])} for r in rows]


# -- the sites' acknowledgements --------------------------------------------------

def _target_of(site_id: str, till_name: str | None) -> str:
    if till_name is None:
        return site_id
    try:
        return ids.till_id(site_id, till_name)
    except ids.BadId as exc:
        raise AckError(422, str(exc)) from None


def acknowledge(store: Store, site_id: str, message_id: int, till_name: str | None, applied: bool,
                reason: str | None = None) -> dict[str, Any]:
    """A till (or, for a pictures update, the site: till_name None) applied a
    message or failed to. Idempotent: the same acknowledgement again changes
    nothing and gets the same answer (outcome "duplicate"). A failure after
    the till acknowledged applying it is refused (409); an applied after a
    failure is taken (the gateway retried and it worked)."""
    from host_tools.relay import pictures

    if not applied and not (reason and reason.strip()):
        raise AckError(422, "a failed acknowledgement needs the reason the till gave")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise AckError(422, f"a reason is at most {MAX_REASON_CHARS} characters")
    target = _target_of(site_id, till_name)
    now = store.now()
    with store.transaction() as tx:
        # Locks the site's delivery: acknowledgements of its tills take turns,
        # so the last one sees every other till's status.
        delivery = tx.one("SELECT status FROM deliveries WHERE message_id = ? AND site_id = ?" + store.for_update,
                          (message_id, site_id))
        if delivery is None:
            raise AckError(404, f"message {message_id} was not published to site {site_id}")
        status = str(delivery[0])
        row = tx.one("SELECT status, reason FROM delivery_targets WHERE message_id = ? AND site_id = ? "
                     "AND target = ?", (message_id, site_id, target))
        if row is None:
            want = [t for (t,) in tx.all("SELECT target FROM delivery_targets WHERE message_id = ? "
                                         "AND site_id = ? ORDER BY target", (message_id, site_id))]
            who = "the site itself (send no till)" if want == [site_id] else \
                "its tills " + ", ".join(t.split("/", 1)[1] for t in want)
            raise AckError(404, f"{'the site' if till_name is None else 'till ' + target} is not a recipient "
                                f"of message {message_id}: it goes to {who}")
        was, was_reason = str(row[0]), row[1]
        if applied:
            outcome = "duplicate" if was == PROCESSED else "recorded"
            if outcome == "recorded":
                tx.execute("UPDATE delivery_targets SET status = 'PROCESSED', reason = NULL, at = ? "
                           "WHERE message_id = ? AND site_id = ? AND target = ?", (now, message_id, site_id, target))
        else:
            if was == PROCESSED:
                raise AckError(409, f"{target} already acknowledged applying message {message_id}; "
                                    "a failure cannot follow it")
            outcome = "duplicate" if was == FAILED and was_reason == reason else "recorded"
            if outcome == "recorded":
                tx.execute("UPDATE delivery_targets SET status = 'FAILED', reason = ?, at = ? "
                           "WHERE message_id = ? AND site_id = ? AND target = ?",
                           (reason, now, message_id, site_id, target))
        if status != SUPERSEDED:
            statuses = [s for (s,) in tx.all("SELECT status FROM delivery_targets WHERE message_id = ? "
                                             "AND site_id = ?", (message_id, site_id))]
            new = PROCESSED if all(s == PROCESSED for s in statuses) else \
                FAILED if UPLOADED not in statuses else UPLOADED
            if new != status:
                tx.execute("UPDATE deliveries SET status = ?, status_at = ? WHERE message_id = ? AND site_id = ?",
                           (new, now, message_id, site_id))
                status = new
        if applied and outcome == "recorded":
            kind = tx.one("SELECT kind FROM messages WHERE id = ?", (message_id,))
            if kind is not None and kind[0] == PICTURES:
                pictures.site_applied(tx, message_id)
    return {"message": message_id, "till": till_name, "status": PROCESSED if applied else FAILED,
            "outcome": outcome, "message_status": status}


# -- reads ---------------------------------------------------------------------------

def pending(store: Store, site_id: str) -> list[dict[str, Any]]:
    """What the site has still to apply, oldest first (apply in this order):
    its UPLOADED deliveries, each with the tills that have not acknowledged it."""
    with store.transaction(write=False) as tx:
        rows = tx.all("SELECT m.id, m.kind, m.sha256, m.size, m.created_at, m.info FROM deliveries d "
                      "JOIN messages m ON m.id = d.message_id WHERE d.site_id = ? AND d.status = 'UPLOADED' "
                      "ORDER BY m.id", (site_id,))
        waiting: dict[int, list[str]] = {}
        for message_id, target in tx.all(
                "SELECT t.message_id, t.target FROM delivery_targets t JOIN deliveries d "
                "ON d.message_id = t.message_id AND d.site_id = t.site_id WHERE t.site_id = ? "
                "AND d.status = 'UPLOADED' AND t.status = 'UPLOADED' ORDER BY t.target", (site_id,)):
            waiting.setdefault(int(message_id), []).append(str(target))
    out = []
    for message_id, kind, sha, size, created, info in rows:
        targets = waiting.get(int(message_id), [])
        site_wide = targets == [site_id]
        out.append({"id": int(message_id), "kind": kind, "sha256": sha, "size": int(size), "created_at": int(created),
                    "info": json.loads(info), "scope": "site" if site_wide else "tills",
                    "tills": [] if site_wide else [t.split("/", 1)[1] for t in targets]})
    return out


def sent(store: Store, site_id: str | None = None, status: str | None = None,
         limit: int = 100, sites_per_message: int | None = None) -> list[dict[str, Any]]:
    """Ginesys's Sent Data: messages newest first, each with its deliveries
    per site and, per site, every target's status. sites_per_message bounds
    the deliveries listed per message (the first sites by id; a Sync All
    reaches every site of the chain); `site_count` and `status_counts` count
    them all."""
    where, params = _where([("d.site_id = ?", site_id), ("d.status = ?", status)])
    where = where.replace(" WHERE ", " AND ", 1)
    with store.transaction(write=False) as tx:
        messages = tx.all("SELECT m.id, m.kind, m.sha256, m.size, m.info, m.created_at, m.created_by "
                          "FROM messages m WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id"
                          + where + ") ORDER BY m.id DESC LIMIT ?", (*params, limit))
        if not messages:
            return []
        low = min(int(m[0]) for m in messages)
        listed = ("SELECT message_id, site_id, status, status_at FROM (SELECT d.message_id, d.site_id, "
                  "d.status, d.status_at, ROW_NUMBER() OVER (PARTITION BY d.message_id ORDER BY d.site_id) AS n "
                  "FROM deliveries d WHERE d.message_id >= ?" + where + ") x WHERE n <= ?")
        bound = (low, *params, sites_per_message if sites_per_message is not None else MAX_BIGINT)
        deliveries = tx.all(listed + " ORDER BY site_id", bound)
        targets = tx.all("SELECT t.message_id, t.site_id, t.target, t.status, t.reason, t.at FROM delivery_targets t "
                         f"JOIN ({listed}) l ON l.message_id = t.message_id AND l.site_id = t.site_id "
                         "ORDER BY t.target", bound)
        counts = tx.all("SELECT d.message_id, d.status, COUNT(*) FROM deliveries d WHERE d.message_id >= ?"
                        + where + " GROUP BY d.message_id, d.status", (low, *params))
    per_target: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for message_id, site, target, t_status, reason, at in targets:
        till = None if target == site else str(target).split("/", 1)[1]
        per_target.setdefault((int(message_id), site), []).append(
            {"till": till, "status": t_status, "reason": reason, "at": at})
    per_site: dict[int, list[dict[str, Any]]] = {}
    for message_id, site, d_status, at in deliveries:
        per_site.setdefault(int(message_id), []).append(
            {"site": site, "status": d_status, "status_at": int(at),
             "tills": per_target.get((int(message_id), site), [])})
    per_status: dict[int, dict[str, int]] = {}
    for message_id, d_status, n in counts:
        per_status.setdefault(int(message_id), {})[str(d_status)] = int(n)
    return [{"id": int(m[0]), "kind": m[1], "sha256": m[2], "size": int(m[3]), "info": json.loads(m[4]),
             "created_at": int(m[5]), "created_by": m[6], "sites": per_site.get(int(m[0]), []),
             "site_count": sum(per_status.get(int(m[0]), {}).values()),
             "status_counts": per_status.get(int(m[0]), {})}
            for m in messages]
