"""The relay's store: one interface over SQLite and PostgreSQL.

All SQL is written once here (and in processing.py / consolidate.py) with `?`
placeholders; the two subclasses (sqlite_store, postgres_store) supply
connections, transactions and the one thing that differs in kind: how a
processor claims a till so that several can run at once.
"""
from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple, dataclass
from typing import Any, NamedTuple

from host_tools.relay import auth, ids, schema

Row = tuple[Any, ...]
# Rows per multi-row INSERT (Tx.insert_rows): at 5 to 7 parameters each, far
# below SQLite's 32,766 parameters per statement.
ROWS_PER_INSERT = 250
Clock = Callable[[], float]

UPLOADED, PROCESSED, QUARANTINED, REJECTED = "UPLOADED", "PROCESSED", "QUARANTINED", "REJECTED"


class StoreError(Exception):
    """Something a person must fix (a name taken, a till unknown); the message says what."""


class SchemaTooNew(StoreError):
    pass


class Tx(ABC):
    """One database transaction: statements with `?` placeholders."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abstractmethod
    def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it inserted, updated or deleted."""

    def insert_rows(self, head: str, row_sql: str, tail: str, rows: Sequence[Sequence[Any]]) -> int:
        """Rows inserted by `head` + `row_sql` once per row + `tail`, as few
        statements of ROWS_PER_INSERT rows. Not executemany: on SQLite a
        statement per row gives up and retakes Python's GIL around each row's
        step, and with the relay's other threads busy (decoding the next
        upload) each retake can wait out a 5 ms switch interval, which held
        ingest to a fraction of what the database does (bench/bench_relay.py).
        (PostgreSQL's transaction does it another way: postgres_store.py.)"""
        changed = 0
        for i in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[i:i + ROWS_PER_INSERT]
            changed += self.changed(head + ", ".join([row_sql] * len(chunk)) + tail,
                                    [value for row in chunk for value in row])
        return changed

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None


class Ack(NamedTuple):
    """What the relay answers for one uploaded record: the first answer it
    gave for that (till, seq), whenever the record is sent again. (A named
    tuple: a batch makes hundreds, and a frozen dataclass costs four times
    as much to make.)"""
    seq: int
    outcome: str        # "stored", "duplicate" or "conflict"
    status: str         # the stored record's status now
    sha256: str         # of the stored record (HO's copy), hex
    received_at: int    # when HO's copy arrived

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "outcome": self.outcome, "status": self.status,
                "sha256": self.sha256, "received_at": self.received_at}

    def json_text(self) -> str:
        """as_json() as JSON text, written directly: json.dumps of a dict per
        record was a tenth of ingest's time. Every value is an int, a hex
        digest or one of the fixed words above, so nothing needs escaping
        (tests/relay/test_store.py compares the two)."""
        return (f'{{"seq":{self.seq},"outcome":"{self.outcome}","status":"{self.status}",'
                f'"sha256":"{self.sha256}","received_at":{self.received_at}}}')


@dataclass(frozen=True)
class BatchResult:
    till_id: str
    acks: list[Ack]
    flag: str | None    # set when the till is (now) flagged: nothing more is stored


@dataclass(frozen=True)
class TillAck:
    """A till's acknowledgement for the gateway: every record up to `processed`
    is resolved at HO (PROCESSED, or rejected by a person), so the till may
    free it."""
    till_id: str
    processed: int
    held: int           # highest sequence HO holds in any status
    flag: str | None

    def as_json(self) -> dict[str, Any]:
        return {"till": self.till_id, "processed": self.processed, "held": self.held,
                "flag": self.flag}


@dataclass(frozen=True)
class TillStatus:
    """What a site's gateway last saw of a till at its hello (PUT .../status,
    docs/relay.md): when (the gateway's clock), its firmware, its clock's
    offset (till minus gateway, None: never set), free flash, the HO data in
    force and the printer's state as the till reported them."""
    seen_at: int
    firmware: str
    clock_offset_s: int | None
    free_flash_bytes: int | None
    snapshot_version: int | None
    printer: str | None


_STATUS_COLUMNS = "seen_at, firmware, clock_offset_s, free_flash_bytes, snapshot_version, printer"


_ACKS_SQL = """
SELECT t.till_id, t.next_seq,
  (SELECT MIN(r.seq) FROM records r WHERE r.till_id = t.till_id
     AND r.status = 'QUARANTINED' AND r.seq < t.next_seq),
  (SELECT MAX(r.seq) FROM records r WHERE r.till_id = t.till_id),
  c.flag
FROM tills t LEFT JOIN till_contact c ON c.till_id = t.till_id
"""


# Tills a processor can make progress on: a record waits at the chain's next
# sequence (new, or set aside for a gap that has now closed), or records wait
# beyond a gap not yet set aside (processing then quarantines the first of
# them, so the gap shows), or a record declared lost has arrived where its
# declaration's chain stands. Records behind a gap already set aside only wait.
WORK_SQL = """
SELECT t.till_id FROM tills t WHERE
  EXISTS (SELECT 1 FROM records r WHERE r.till_id = t.till_id AND r.seq = t.next_seq
          AND (r.status = 'UPLOADED' OR (r.status = 'QUARANTINED' AND r.reason_code = 'gap')))
  OR (EXISTS (SELECT 1 FROM records r WHERE r.till_id = t.till_id AND r.status = 'UPLOADED'
              AND r.seq > t.next_seq)
      AND NOT EXISTS (SELECT 1 FROM records r WHERE r.till_id = t.till_id
                      AND r.status = 'QUARANTINED' AND r.reason_code = 'gap' AND r.seq > t.next_seq))
  OR EXISTS (SELECT 1 FROM losses l JOIN records r ON r.till_id = l.till_id AND r.seq = l.next_seq
             WHERE l.till_id = t.till_id AND l.resolved_at IS NULL AND r.status = 'UPLOADED')
"""


_RECEIVED_SQL = ("SELECT till_id, seq, status, received_at, processed_at, reason_code, reason, sha256 "
                 "FROM records")
_RECEIVED_KEYS = ("till", "seq", "status", "received_at", "processed_at", "reason_code", "reason", "sha256")


def _received_row(r: Row) -> dict[str, Any]:
    return dict(zip(_RECEIVED_KEYS, r[:7] + (bytes(r[7]).hex(),)))


def _till_ack(row: Row) -> TillAck:
    till_id, next_seq, first_quarantined, held, flag = row
    processed = next_seq - 1 if first_quarantined is None else first_quarantined - 1
    return TillAck(till_id, processed, held or 0, flag)


class Store(ABC):
    dialect: str
    for_update = ""  # appended to a SELECT that must lock its row (PostgreSQL)
    claim_lock = ""  # ... and to a processor's claim, skipping rows another holds

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock

    # -- what each database supplies ------------------------------------
    @abstractmethod
    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]: ...

    @contextmanager
    def claim_till(self) -> Iterator[tuple[Tx, str] | None]:
        """A write transaction holding one till with work to process, so no
        other processor takes it until commit; None when no till has work.
        (On SQLite the write transaction itself excludes other processors.)"""
        with self.transaction() as tx:
            row = tx.one(WORK_SQL + " ORDER BY t.till_id LIMIT 1" + self.claim_lock)
            yield None if row is None else (tx, row[0])

    @abstractmethod
    def _lock_for_migration(self, tx: Tx) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def now(self) -> int:
        return int(self.clock())

    # -- schema -------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the schema; refuse a newer one. Returns its version."""
        with self.transaction() as tx:
            self._lock_for_migration(tx)
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.one("SELECT MAX(version) FROM schema_version")
            have = row[0] if row and row[0] is not None else 0
            if have > schema.SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"the database has relay schema version {have}, newer than this relay's "
                    f"{schema.SCHEMA_VERSION}: run the newer relay, or restore a backup")
            for version in range(have + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.statements(version, self.dialect):
                    tx.execute(statement)
                tx.execute("DELETE FROM schema_version")
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        return schema.SCHEMA_VERSION

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    # -- registration (sites, tills, users) --------------------------------
    def add_site(self, site_id: str, name: str) -> str:
        """Register a site; returns its credential (shown once, stored hashed)."""
        ids.check_site(site_id)
        token, digest = auth.new_token("site", site_id)
        with self.transaction() as tx:
            if tx.one("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)):
                raise StoreError(f"site {site_id} is already registered "
                                 "(`kassa ho site add --new-credential` issues a new one)")
            tx.execute("INSERT INTO sites (site_id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
                       (site_id, name, digest, self.now()))
        return token

    def renew_site_credential(self, site_id: str) -> str:
        """A new credential for a site; the old one stops working at once."""
        token, digest = auth.new_token("site", site_id)
        with self.transaction() as tx:
            if not tx.one("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)):
                raise StoreError(f"no site {site_id}: register it with `kassa ho site add`")
            tx.execute("UPDATE sites SET secret_sha256 = ? WHERE site_id = ?", (digest, site_id))
        return token

    def add_till(self, till_id: str, key: bytes) -> None:
        from host_tools.hodata.journal_reader import chain_anchor

        site_id, _ = ids.split_till(till_id)
        if len(key) < 16:
            raise StoreError("a till's journal key must be at least 16 bytes")
        with self.transaction() as tx:
            if not tx.one("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)):
                raise StoreError(f"no site {site_id}: register it first with `kassa ho site add {site_id}`")
            if tx.one("SELECT 1 FROM tills WHERE till_id = ?", (till_id,)):
                raise StoreError(f"till {till_id} is already registered; a replaced till gets a new till id")
            if tx.one("SELECT 1 FROM tills WHERE journal_key = ?", (key,)):
                raise StoreError("that journal key already belongs to another till: every till needs its own")
            tx.execute("INSERT INTO tills (till_id, site_id, journal_key, created_at, next_seq, chain_tag) "
                       "VALUES (?, ?, ?, ?, 1, ?)",
                       (till_id, site_id, key, self.now(), chain_anchor(till_id)))

    def add_user(self, name: str, role: str) -> str:
        ids.check_name(name, "user name")
        if role not in auth.ROLES:
            raise StoreError(f"role {role!r} is not one of {', '.join(auth.ROLES)}")
        token, digest = auth.new_token("user", name)
        with self.transaction() as tx:
            if tx.one("SELECT 1 FROM users WHERE name = ?", (name,)):
                raise StoreError(f"user {name} already exists")
            tx.execute("INSERT INTO users (name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
                       (name, role, digest, self.now()))
        return token

    def authenticate(self, token: str) -> auth.Principal | None:
        parsed = auth.parse_token(token)
        if parsed is None:
            return None
        kind, name, secret = parsed
        with self.transaction(write=False) as tx:
            if kind == "site":
                row = tx.one("SELECT secret_sha256, 'site' FROM sites WHERE site_id = ?", (name,))
            else:
                row = tx.one("SELECT secret_sha256, role FROM users WHERE name = ?", (name,))
        if row is None or not auth.secret_matches(secret, row[0]):
            return None
        return auth.Principal(kind, name, row[1])

    def till_site(self, till_id: str) -> str | None:
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT site_id FROM tills WHERE till_id = ?", (till_id,))
        return row[0] if row else None

    def till_key(self, till_id: str) -> bytes | None:
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT journal_key FROM tills WHERE till_id = ?", (till_id,))
        return bytes(row[0]) if row else None

    # -- uploads -------------------------------------------------------------
    def store_batch(self, till_id: str, items: Sequence[tuple[int, bytes]],
                    head: int | None = None, till_time: int | None = None) -> BatchResult:
        """Store one till's records (seq, raw bytes) in one transaction.

        A record already held with the same bytes is a duplicate and gets its
        first acknowledgement; different bytes under a held (till, seq) are a
        conflict: kept beside HO's copy, which stays, and the till is flagged.
        A head (the till's newest seq) below what HO holds flags the till too.
        A flagged till's records are not stored until HO clears the flag."""
        now = self.now()
        acks: list[Ack] = []
        with self.transaction() as tx:
            contact = tx.one("SELECT flag FROM till_contact WHERE till_id = ?", (till_id,))
            flag = contact[0] if contact else None
            held_row = tx.one("SELECT MAX(seq) FROM records WHERE till_id = ?", (till_id,))
            held = held_row[0] if held_row and held_row[0] is not None else 0
            if flag is None and head is not None and head < held:
                flag = (f"the till reports journal head {head}, below the {held} HO holds: "
                        "its flash was rolled back or replaced")
            if flag is None:
                for ack in self._store_records(tx, till_id, items, now):
                    acks.append(ack)
                    if ack.outcome == "conflict" and flag is None:
                        flag = (f"record {ack.seq} differs from the copy HO holds: "
                                "both are kept, HO's copy stays in force")
            offset = None if till_time is None else till_time - now
            self._touch(tx, till_id, now, head, offset, flag)
        return BatchResult(till_id, acks, flag)

    def _store_records(self, tx: Tx, till_id: str, items: Sequence[tuple[int, bytes]], now: int) -> list[Ack]:
        """Acks for a batch (ascending seq). The records HO does not hold yet,
        usually all of them, go in with multi-row INSERTs (below); the rest
        are answered one by one. If another transaction committed some of the
        same records meanwhile (PostgreSQL: a gateway's retry on a second
        relay), fewer rows go in than were new, and the batch is answered
        one record at a time: those records are then duplicates or
        conflicts as usual (a record this batch did store is then answered
        `duplicate`, with this batch's received_at)."""
        if not items:
            return []
        held = {int(r[0]) for r in tx.all("SELECT seq FROM records WHERE till_id = ? AND seq >= ? AND seq <= ?",
                                          (till_id, items[0][0], items[-1][0]))}
        new = [(seq, raw, hashlib.sha256(raw).digest()) for seq, raw in items if seq not in held]
        stored = tx.insert_rows("INSERT INTO records (till_id, seq, raw, sha256, received_at, status) VALUES ",
                              "(?, ?, ?, ?, ?, 'UPLOADED')", " ON CONFLICT (till_id, seq) DO NOTHING",
                              [(till_id, seq, raw, digest, now) for seq, raw, digest in new])
        if stored != len(new):
            return [self._store_record(tx, till_id, seq, raw, now) for seq, raw in items]
        if not held:  # the usual batch: every record new, in order
            return [Ack(seq, "stored", UPLOADED, digest.hex(), now) for seq, _, digest in new]
        fresh = {seq: Ack(seq, "stored", UPLOADED, digest.hex(), now) for seq, _, digest in new}
        return [fresh.get(seq) or self._store_record(tx, till_id, seq, raw, now) for seq, raw in items]

    def _store_record(self, tx: Tx, till_id: str, seq: int, raw: bytes, now: int) -> Ack:
        digest = hashlib.sha256(raw).digest()
        inserted = tx.all("INSERT INTO records (till_id, seq, raw, sha256, received_at, status) "
                          "VALUES (?, ?, ?, ?, ?, 'UPLOADED') ON CONFLICT (till_id, seq) DO NOTHING "
                          "RETURNING seq", (till_id, seq, raw, digest, now))
        if inserted:
            return Ack(seq, "stored", UPLOADED, digest.hex(), now)
        row = tx.one("SELECT sha256, received_at, status FROM records WHERE till_id = ? AND seq = ?",
                     (till_id, seq))
        assert row is not None  # the insert met this row
        held_digest, received_at, status = bytes(row[0]), row[1], row[2]
        if held_digest == digest:
            return Ack(seq, "duplicate", status, digest.hex(), received_at)
        tx.execute("INSERT INTO conflicts (till_id, seq, raw, sha256, received_at) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (till_id, seq, sha256) DO NOTHING", (till_id, seq, raw, digest, now))
        return Ack(seq, "conflict", status, held_digest.hex(), received_at)

    def _touch(self, tx: Tx, till_id: str, now: int, head: int | None, offset: int | None,
               flag: str | None) -> None:
        tx.execute(
            "INSERT INTO till_contact (till_id, last_contact, reported_head, clock_offset_s, flag, flagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (till_id) DO UPDATE SET "
            "last_contact = excluded.last_contact, "
            "reported_head = COALESCE(excluded.reported_head, till_contact.reported_head), "
            "clock_offset_s = COALESCE(excluded.clock_offset_s, till_contact.clock_offset_s), "
            "flag = COALESCE(till_contact.flag, excluded.flag), "
            "flagged_at = COALESCE(till_contact.flagged_at, excluded.flagged_at)",
            (till_id, now, head, offset, flag, now if flag else None))

    def note_status(self, till_id: str, status: TillStatus) -> tuple[TillStatus, int]:
        """Keep what the gateway saw of a till, unless HO already holds a
        report seen as late or later (a retried or delayed request changes
        nothing).
        Returns the report HO holds afterwards and when it arrived."""
        with self.transaction() as tx:
            tx.execute(
                f"INSERT INTO till_status (till_id, reported_at, {_STATUS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (till_id) DO UPDATE SET reported_at = excluded.reported_at, "
                + ", ".join(f"{c} = excluded.{c}" for c in _STATUS_COLUMNS.split(", "))
                + " WHERE excluded.seen_at > till_status.seen_at",
                (till_id, self.now(), *astuple(status)))
            row = tx.one(f"SELECT reported_at, {_STATUS_COLUMNS} FROM till_status WHERE till_id = ?", (till_id,))
        assert row is not None  # written or kept just now
        return TillStatus(*row[1:]), int(row[0])

    def clear_flag(self, till_id: str, actor: str, note: str) -> str:
        with self.transaction() as tx:
            row = tx.one("SELECT flag FROM till_contact WHERE till_id = ?", (till_id,))
            if row is None or row[0] is None:
                raise StoreError(f"till {till_id} is not flagged")
            tx.execute("UPDATE till_contact SET flag = NULL, flagged_at = NULL WHERE till_id = ?", (till_id,))
            self.log(tx, actor, "clear-flag", till_id, None, f"{note} (flag was: {row[0]})")
        return str(row[0])

    def log(self, tx: Tx, actor: str, action: str, till_id: str | None, seq: int | None,
            note: str) -> None:
        """HO's own journal: every decision a person made, with who and why."""
        tx.execute("INSERT INTO ho_journal (at, actor, action, till_id, seq, note) VALUES (?, ?, ?, ?, ?, ?)",
                   (self.now(), actor, action, till_id, seq, note))

    # -- reads ---------------------------------------------------------------
    def acks(self, site_id: str | None = None, till_id: str | None = None) -> list[TillAck]:
        sql, params = _ACKS_SQL, []
        if till_id is not None:
            sql += " WHERE t.till_id = ?"
            params.append(till_id)
        elif site_id is not None:
            sql += " WHERE t.site_id = ?"
            params.append(site_id)
        with self.transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY t.till_id", params)
        return [_till_ack(r) for r in rows]

    def _read(self, sql: str, filters: Sequence[tuple[str, Any]], tail: str = "",
              tail_params: Sequence[Any] = ()) -> list[Row]:
        """Rows of `sql` with a WHERE of the filters whose value is not None."""
        where, params = _where(filters)
        with self.transaction(write=False) as tx:
            return tx.all(sql + where + tail, [*params, *tail_params])

    def received(self, till_id: str | None = None, status: str | None = None,
                 after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._read(_RECEIVED_SQL, [("seq > ?", after_seq), ("till_id = ?", till_id),
                                          ("status = ?", status)],
                          " ORDER BY till_id, seq LIMIT ?", (limit,))
        return [_received_row(r) for r in rows]

    def received_page(self, after: tuple[str, int] = ("", 0), till_id: str | None = None,
                      status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """received() in (till, seq) order across tills, after the cursor
        `after` (the last row of the previous page): the web pages' paging."""
        where, params = _where([("till_id = ?", till_id), ("status = ?", status)])
        cursor = " AND (till_id > ? OR (till_id = ? AND seq > ?))" if where else \
            " WHERE (till_id > ? OR (till_id = ? AND seq > ?))"
        with self.transaction(write=False) as tx:
            rows = tx.all(_RECEIVED_SQL + where + cursor + " ORDER BY till_id, seq LIMIT ?",
                          [*params, after[0], after[0], after[1], limit])
        return [_received_row(r) for r in rows]

    def user(self, name: str) -> tuple[str, str] | None:
        """An HO user's (role, secret_sha256), or None: a web session checks
        on every request that its user still holds the same token and role."""
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT role, secret_sha256 FROM users WHERE name = ?", (name,))
        return None if row is None else (str(row[0]), str(row[1]))

    def conflicts(self, till_id: str | None = None) -> list[dict[str, Any]]:
        rows = self._read("SELECT c.till_id, c.seq, c.sha256, c.received_at, r.sha256 FROM conflicts c "
                          "JOIN records r ON r.till_id = c.till_id AND r.seq = c.seq",
                          [("c.till_id = ?", till_id)], " ORDER BY c.till_id, c.seq")
        return [{"till": r[0], "seq": r[1], "sha256": bytes(r[2]).hex(), "received_at": r[3],
                 "held_sha256": bytes(r[4]).hex()} for r in rows]

    def tills(self, after: str = "", limit: int | None = None, site_id: str | None = None) -> list[dict[str, Any]]:
        """Each till's health: contact, acknowledgement, gaps, quarantine; in
        till id order, those after the till id `after`, at most `limit` (a
        page of the web console: a chain has thousands of tills)."""
        where, params = _where([("t.till_id > ?", after or None), ("t.site_id = ?", site_id)])
        tail, tail_params = ("", []) if limit is None else (" LIMIT ?", [limit])
        with self.transaction(write=False) as tx:
            acks = {a.till_id: a for a in map(_till_ack, tx.all(
                _ACKS_SQL + where + " ORDER BY t.till_id" + tail, [*params, *tail_params]))}
            rows = tx.all(
                # The clock offset the gateway measured at its last hello, else
                # the one an upload's till_time gave (an older gateway's way).
                "SELECT t.till_id, t.site_id, c.last_contact, c.reported_head, "
                "CASE WHEN s.till_id IS NULL THEN c.clock_offset_s ELSE s.clock_offset_s END, c.flag, "
                "(SELECT COUNT(*) FROM records r WHERE r.till_id = t.till_id AND r.status = 'UPLOADED'), "
                "(SELECT COUNT(*) FROM records r WHERE r.till_id = t.till_id AND r.status = 'QUARANTINED'), "
                "(SELECT COUNT(*) FROM records r WHERE r.till_id = t.till_id AND r.reason_code = 'verify'), "
                "(SELECT COUNT(*) FROM conflicts x WHERE x.till_id = t.till_id), "
                "(SELECT COUNT(*) FROM records r WHERE r.till_id = t.till_id AND r.reason_code = 'grand_total'), "
                "s.seen_at, s.firmware, s.free_flash_bytes, s.snapshot_version, s.printer "
                "FROM tills t LEFT JOIN till_contact c ON c.till_id = t.till_id "
                "LEFT JOIN till_status s ON s.till_id = t.till_id" + where
                + " ORDER BY t.till_id" + tail, [*params, *tail_params])
            out = []
            for r in rows:
                ack = acks[r[0]]
                out.append({"till": r[0], "site": r[1], "last_contact": r[2], "reported_head": r[3],
                            "clock_offset_s": r[4], "flag": r[5], "processed": ack.processed,
                            "held": ack.held, "waiting": r[6], "quarantined": r[7],
                            "chain_breaks": r[8], "conflicts": r[9], "total_mismatches": r[10],
                            "last_seen": r[11], "firmware": r[12], "free_flash_bytes": r[13],
                            "snapshot_version": r[14], "printer": r[15], "gaps": self._gaps(tx, r[0]),
                            "losses": self._losses(tx, r[0])})
        return out

    def _losses(self, tx: Tx, till_id: str) -> list[dict[str, Any]]:
        """Records a person declared lost (processing.resolve), and what became
        of them: open while HO waits for them, resolved once all arrived."""
        rows = tx.all("SELECT first_seq, last_seq, declared_at, declared_by, next_seq, resolved_at, resolution "
                      "FROM losses WHERE till_id = ? ORDER BY first_seq", (till_id,))
        keys = ("first", "last", "declared_at", "declared_by", "arrived_to", "resolved_at", "resolution")
        return [dict(zip(keys, (*r[:4], int(r[4]) - 1, *r[5:]))) for r in rows]

    def names(self, table: str, limit: int) -> list[str]:
        """The first `limit` site ids ("sites") or till ids ("tills"), in order:
        suggestions for the pages' filter fields, bounded however big the chain."""
        column = {"sites": "site_id", "tills": "till_id"}[table]
        with self.transaction(write=False) as tx:
            return [str(r[0]) for r in tx.all(f"SELECT {column} FROM {table} ORDER BY {column} LIMIT ?", (limit,))]

    def till_count(self, site_id: str | None = None) -> int:
        where, params = _where([("site_id = ?", site_id)])
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT COUNT(*) FROM tills" + where, params)
        return int(row[0]) if row else 0

    def _gaps(self, tx: Tx, till_id: str) -> list[list[int]]:
        """Missing sequence ranges [first, last] below the highest record held."""
        rows = tx.all(
            "SELECT seq + 1, nxt - 1 FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS nxt "
            "FROM records WHERE till_id = ?) s WHERE nxt > seq + 1 ORDER BY seq", (till_id,))
        first = tx.one("SELECT MIN(seq) FROM records WHERE till_id = ?", (till_id,))
        gaps = [[int(a), int(b)] for a, b in rows]
        if first and first[0] is not None and first[0] > 1:
            gaps.insert(0, [1, int(first[0]) - 1])
        return gaps

    def quarantine(self, till_id: str | None = None) -> list[dict[str, Any]]:
        return self.received(till_id, QUARANTINED, limit=10_000)

    def record_raw(self, till_id: str, seq: int) -> bytes | None:
        with self.transaction(write=False) as tx:
            row = tx.one("SELECT raw FROM records WHERE till_id = ? AND seq = ?", (till_id, seq))
        return bytes(row[0]) if row else None

    def sales(self, site_id: str | None = None, day_from: str | None = None,
              day_to: str | None = None) -> list[dict[str, Any]]:
        """Consolidated sales per site and day, with tenders and taxes."""
        where, params = _where([("site_id = ?", site_id), ("day >= ?", day_from), ("day <= ?", day_to)])
        with self.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT site_id, day, SUM(sales), SUM(sales_total), SUM(refunds), SUM(refunds_total), "
                "SUM(no_sales), SUM(rounding), SUM(training), SUM(closings), COUNT(*), SUM(cash_in), "
                "SUM(cash_out) FROM daily"
                + where + " GROUP BY site_id, day ORDER BY site_id, day", params)
            tenders = tx.all("SELECT site_id, day, tender, SUM(amount) FROM daily_tenders" + where
                             + " GROUP BY site_id, day, tender ORDER BY tender", params)
            taxes = tx.all("SELECT site_id, day, tax_class, rate_ppm, SUM(net), SUM(tax), SUM(gross) "
                           "FROM daily_taxes" + where
                           + " GROUP BY site_id, day, tax_class, rate_ppm ORDER BY tax_class, rate_ppm",
                           params)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            out[(r[0], r[1])] = {
                "site": r[0], "day": r[1], "sales": int(r[2]), "sales_total": int(r[3]),
                "refunds": int(r[4]), "refunds_total": int(r[5]), "no_sales": int(r[6]),
                "rounding": int(r[7]), "training": int(r[8]), "closings": int(r[9]), "tills": int(r[10]),
                "cash_in": int(r[11]), "cash_out": int(r[12]), "tenders": {}, "taxes": []}
        for site, day, tender, amount in tenders:
            out[(site, day)]["tenders"][str(tender)] = int(amount)
        for site, day, cls, rate, net, tax, gross in taxes:
            out[(site, day)]["taxes"].append({"class": cls, "rate_ppm": int(rate), "net": int(net),
                                              "tax": int(tax), "gross": int(gross)})
        return list(out.values())

    def closings(self, till_id: str | None = None) -> list[dict[str, Any]]:
        rows = self._read("SELECT till_id, seq, site_id, day, z, first_seq, last_seq, sales, refunds, "
                          "grand_total, cash_expected, cash_counted FROM closings",
                          [("till_id = ?", till_id)], " ORDER BY till_id, seq")
        keys = ("till", "seq", "site", "day", "z", "first_seq", "last_seq", "sales", "refunds", "grand_total",
                "cash_expected", "cash_counted")
        return [dict(zip(keys, r)) for r in rows]

    def feed(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        import json

        with self.transaction(write=False) as tx:
            rows = tx.all("SELECT id, till_id, seq, site_id, day, kind, body FROM feed WHERE id > ? "
                          "ORDER BY id LIMIT ?", (after, limit))
        return [{"id": r[0], "till": r[1], "seq": r[2], "site": r[3], "day": r[4], "kind": r[5],
                 "body": json.loads(r[6])} for r in rows]

    def ho_journal(self, actions: Sequence[str] = (), newest: int | None = None) -> list[dict[str, Any]]:
        """HO's journal in time order: every entry, or those of `actions`;
        with `newest`, only the newest that many (and any of the same second
        as the oldest of them): a page shows the last few decisions of a
        journal that only grows."""
        where = f" WHERE action IN ({', '.join('?' * len(actions))})" if actions else ""
        params: list[Any] = list(actions)
        if newest is not None:
            where += (" AND" if where else " WHERE") + (
                f" at >= (SELECT MIN(at) FROM (SELECT at FROM ho_journal{where} ORDER BY at DESC LIMIT ?) n)")
            params += [*actions, newest]
        with self.transaction(write=False) as tx:
            rows = tx.all("SELECT at, actor, action, till_id, seq, note FROM ho_journal" + where
                          + " ORDER BY at", params)
        keys = ("at", "actor", "action", "till", "seq", "note")
        return [dict(zip(keys, r)) for r in rows]


def _where(filters: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """A WHERE clause of the (clause, value) pairs whose value is given."""
    given = [(clause, value) for clause, value in filters if value is not None]
    if not given:
        return "", []
    return " WHERE " + " AND ".join(c for c, _ in given), [v for _, v in given]


def open_store(database_url: str, clock: Clock = time.time, pool_size: int = 8) -> Store:
    """A store for a database URL: `postgresql://...` or a SQLite file path
    (`sqlite:///path` also works). The schema is created or upgraded."""
    store: Store
    if database_url.startswith(("postgresql://", "postgres://")):
        from host_tools.relay.postgres_store import PostgresStore
        store = PostgresStore(database_url, clock=clock, pool_size=pool_size)
    else:
        from host_tools.relay.sqlite_store import SqliteStore
        path = database_url.removeprefix("sqlite:///") if database_url.startswith("sqlite:///") else database_url
        store = SqliteStore(path, clock=clock)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store

