"""The gateway's durable outbox (SQLite): records read from the tills, kept
until HO has PROCESSED them and the till has been told so; what the gateway
knows of each till; and the status of each step of the last runs.

One write path: every change is one committed transaction of this module.
WAL with synchronous=FULL: a record is on disk before the gateway uploads it
or reads further, so neither a killed gateway nor a power cut loses what a
till sent (the till keeps its records until PROCESSED anyway). Bounded: a
record leaves once the till confirms PROCESSED, and only the last
KEEP_RUNS runs of each till and direction are kept.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
KEEP_RUNS = 20

NOT_STARTED, IN_PROGRESS, SUCCESS, FAILED = "Not started", "In progress", "Success", "Failed"
UP, ACKS, DOWN = "up", "acks", "down"
SITE_ROW = "(site)"  # the site's own steps (pictures, downloads): no till name can look like it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    till TEXT NOT NULL, seq INTEGER NOT NULL, raw BLOB NOT NULL, sha256 TEXT NOT NULL,
    read_at INTEGER NOT NULL, uploaded_at INTEGER, relay_status TEXT,
    PRIMARY KEY (till, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tills (
    till TEXT PRIMARY KEY, till_id TEXT, held_seq INTEGER NOT NULL DEFAULT 0,
    head_seq INTEGER NOT NULL DEFAULT 0, till_processed INTEGER NOT NULL DEFAULT 0,
    relay_processed INTEGER NOT NULL DEFAULT 0, clock_offset_s INTEGER, firmware TEXT,
    snapshot_version INTEGER, free_flash_bytes INTEGER, printer TEXT, last_contact INTEGER);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, till TEXT NOT NULL, direction TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL, ended_at REAL);
CREATE INDEX IF NOT EXISTS runs_by_step ON runs (till, direction, id);
CREATE TABLE IF NOT EXISTS deliveries (
    message_id INTEGER NOT NULL, target TEXT NOT NULL, applied INTEGER NOT NULL,
    reason TEXT NOT NULL, tries INTEGER NOT NULL, at INTEGER NOT NULL, acked_at INTEGER,
    PRIMARY KEY (message_id, target)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Outcome:
    """How a step of a run ended: its status, why (on failure), what it did."""
    status: str
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Delivery:
    """A till's (or the site's) answer to something HO published."""
    applied: bool
    reason: str
    tries: int      # how many times it was offered and answered
    acked: bool     # the relay has been told


class OutboxError(Exception):
    pass


@dataclass(frozen=True)
class TillState:
    till: str
    till_id: str | None
    held_seq: int          # highest record the gateway ever kept for this till
    head_seq: int          # the till's journal head as last reported
    till_processed: int    # the till's PROCESSED seq as last reported
    relay_processed: int   # HO's PROCESSED seq as last read
    clock_offset_s: int | None
    firmware: str | None
    snapshot_version: int | None
    free_flash_bytes: int | None
    printer: str | None
    last_contact: int | None


class Outbox:
    """Thread-safe: the tills of a run are synced in parallel threads."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"{path}: the outbox cannot be opened ({exc}); is it a gateway outbox?") from None
        if version > SCHEMA_VERSION:
            raise OutboxError(f"{path}: the outbox was written by a newer kassa (schema {version}); "
                              "upgrade this gateway's kassa")
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk, a read-only folder: the person must act
                raise OutboxError(f"the outbox {self.path} cannot be written: {exc}") from None

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        self._db.close()

    # -- tills ---------------------------------------------------------------
    def till(self, name: str) -> TillState | None:
        rows = self._read("SELECT till, till_id, held_seq, head_seq, till_processed, relay_processed, "
                          "clock_offset_s, firmware, snapshot_version, free_flash_bytes, printer, "
                          "last_contact FROM tills WHERE till = ?", (name,))
        return TillState(*rows[0]) if rows else None

    def note_contact(self, name: str, till_id: str, head_seq: int, till_processed: int,
                     firmware: str, snapshot_version: int | None, free_flash_bytes: int, printer: str,
                     clock_offset_s: int | None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO tills (till) VALUES (?) ON CONFLICT (till) DO NOTHING", (name,))
            db.execute("UPDATE tills SET till_id = ?, head_seq = MAX(head_seq, ?), till_processed = ?, "
                       "firmware = ?, snapshot_version = ?, free_flash_bytes = ?, printer = ?, "
                       "clock_offset_s = COALESCE(?, clock_offset_s), last_contact = ? WHERE till = ?",
                       (till_id, head_seq, till_processed, firmware, snapshot_version, free_flash_bytes,
                        printer, clock_offset_s, int(self.clock()), name))

    def add_records(self, name: str, records: list[tuple[int, bytes]]) -> None:
        """Keep records read from a till (committed when this returns). A seq
        already kept with other bytes is refused: the till's journal changed
        under the gateway, which HO must look at, not the gateway overwrite."""
        if not records:
            return
        now = int(self.clock())
        with self._tx() as db:
            db.execute("INSERT INTO tills (till) VALUES (?) ON CONFLICT (till) DO NOTHING", (name,))
            for seq, raw in records:
                digest = hashlib.sha256(raw).hexdigest()
                row = db.execute("SELECT sha256 FROM records WHERE till = ? AND seq = ?", (name, seq)).fetchone()
                if row is not None and row[0] != digest:
                    raise OutboxError(f"record {seq} differs from the copy the gateway already holds")
                db.execute("INSERT OR IGNORE INTO records (till, seq, raw, sha256, read_at) VALUES (?, ?, ?, ?, ?)",
                           (name, seq, raw, digest, now))
            db.execute("UPDATE tills SET held_seq = MAX(held_seq, ?), head_seq = MAX(head_seq, ?) WHERE till = ?",
                       (records[-1][0], records[-1][0], name))

    def pending(self, name: str, max_records: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """The oldest records not yet acknowledged by the relay, as one batch."""
        out: list[tuple[int, bytes]] = []
        size = 0
        for seq, raw in self._read("SELECT seq, raw FROM records WHERE till = ? AND uploaded_at IS NULL "
                                   "ORDER BY seq LIMIT ?", (name, max_records)):
            if out and size + len(raw) > max_bytes:
                break
            out.append((seq, bytes(raw)))
            size += len(raw)
        return out

    def count_pending(self, name: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM records WHERE till = ? AND uploaded_at IS NULL",
                              (name,))[0][0])

    def count_held(self, name: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM records WHERE till = ?", (name,))[0][0])

    def mark_uploaded(self, name: str, statuses: dict[int, str]) -> None:
        now = int(self.clock())
        with self._tx() as db:
            for seq, status in statuses.items():
                db.execute("UPDATE records SET uploaded_at = COALESCE(uploaded_at, ?), relay_status = ? "
                           "WHERE till = ? AND seq = ?", (now, status, name, seq))

    def note_processed(self, name: str, relay_processed: int, till_processed: int) -> int:
        """HO's and the till's PROCESSED seqs; the records both confirm leave
        the outbox. Returns how many left."""
        with self._tx() as db:
            db.execute("INSERT INTO tills (till) VALUES (?) ON CONFLICT (till) DO NOTHING", (name,))
            db.execute("UPDATE tills SET relay_processed = ?, till_processed = ? WHERE till = ?",
                       (relay_processed, till_processed, name))
            cur = db.execute("DELETE FROM records WHERE till = ? AND seq <= ? AND uploaded_at IS NOT NULL",
                             (name, min(relay_processed, till_processed)))
            return cur.rowcount

    # -- what HO published, applied here -------------------------------------
    def delivery(self, message_id: int, target: str) -> Delivery | None:
        """What a till (or the site) answered to a message, or None if it has
        not been offered yet."""
        rows = self._read("SELECT applied, reason, tries, acked_at FROM deliveries "
                          "WHERE message_id = ? AND target = ?", (message_id, target))
        return Delivery(bool(rows[0][0]), str(rows[0][1]), int(rows[0][2]), rows[0][3] is not None) \
            if rows else None

    def note_delivery(self, message_id: int, target: str, applied: bool, reason: str) -> Delivery:
        """What the till said, committed before the relay is told: a gateway
        stopped in between tells the relay at the next run, without offering
        the package again. Refusals are counted."""
        with self._tx() as db:
            db.execute("INSERT INTO deliveries (message_id, target, applied, reason, tries, at) "
                       "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (message_id, target) DO UPDATE SET "
                       "applied = excluded.applied, reason = excluded.reason, tries = deliveries.tries + 1, "
                       "at = excluded.at, acked_at = NULL",
                       (message_id, target, int(applied), reason, int(self.clock())))
            row = db.execute("SELECT tries FROM deliveries WHERE message_id = ? AND target = ?",
                             (message_id, target)).fetchone()
        return Delivery(applied, reason, int(row[0]), False)

    def delivery_acked(self, message_id: int, target: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE deliveries SET acked_at = ? WHERE message_id = ? AND target = ?",
                       (int(self.clock()), message_id, target))

    def prune_deliveries(self, pending: set[tuple[int, str]]) -> None:
        """Forget deliveries the relay no longer lists as pending (acknowledged,
        or superseded by a newer message)."""
        with self._tx() as db:
            for message_id, target in db.execute("SELECT message_id, target FROM deliveries").fetchall():
                if (message_id, target) not in pending:
                    db.execute("DELETE FROM deliveries WHERE message_id = ? AND target = ?", (message_id, target))

    # -- runs ----------------------------------------------------------------
    def start_step(self, name: str, direction: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO runs (till, direction, status, started_at) VALUES (?, ?, ?, ?)",
                             (name, direction, IN_PROGRESS, self.clock()))
            run_id = int(cur.lastrowid or 0)
            db.execute("DELETE FROM runs WHERE till = ? AND direction = ? AND id NOT IN (SELECT id FROM runs "
                       "WHERE till = ? AND direction = ? ORDER BY id DESC LIMIT ?)",
                       (name, direction, name, direction, KEEP_RUNS))
        return run_id

    def end_step(self, run_id: int, status: str, reason: str = "", detail: str = "") -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status = ?, reason = ?, detail = ?, ended_at = ? WHERE id = ?",
                       (status, reason, detail, self.clock(), run_id))

    def skip_step(self, name: str, direction: str, reason: str) -> None:
        run_id = self.start_step(name, direction)
        self.end_step(run_id, NOT_STARTED, reason)

    def close_interrupted(self) -> int:
        """Steps left In progress by a gateway that was stopped (killed,
        power cut): Failed, saying so. Only a sync holding the lock calls it."""
        with self._tx() as db:
            cur = db.execute("UPDATE runs SET status = ?, reason = ?, ended_at = ? WHERE status = ?",
                             (FAILED, "interrupted: the gateway stopped before this step finished; "
                                      "the next run carries on", self.clock(), IN_PROGRESS))
            return cur.rowcount

    def runs(self, name: str | None = None, last: int = 1) -> list[dict[str, Any]]:
        """The last `last` runs of each till and direction, newest first."""
        rows = self._read(
            "SELECT id, till, direction, status, reason, detail, started_at, ended_at FROM runs r "
            "WHERE (? IS NULL OR till = ?) AND (SELECT COUNT(*) FROM runs n WHERE n.till = r.till "
            "AND n.direction = r.direction AND n.id > r.id) < ? ORDER BY till, id DESC",
            (name, name, last))
        keys = ("id", "till", "direction", "status", "reason", "detail", "started_at", "ended_at")
        return [dict(zip(keys, r)) for r in rows]

    def tills(self) -> list[TillState]:
        names = [r[0] for r in self._read("SELECT till FROM tills ORDER BY till")]
        return [s for s in (self.till(n) for n in names) if s is not None]


class OutboxBusy(OutboxError):
    pass


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """One sync at a time per outbox: a second `kassa gateway sync` on the
    same outbox is refused rather than reading the same tills twice. The
    lock is the kernel's (flock), so a killed gateway leaves none behind."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutboxBusy(f"another kassa gateway sync is running with the outbox {path}; "
                             "wait for it to finish (or stop it) and run again") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
