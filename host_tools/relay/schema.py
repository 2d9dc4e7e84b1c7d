"""The relay's tables, as numbered migrations applied at start.

`schema_version` holds the version of the newest migration applied. A relay
upgrades an older database and refuses one newer than it knows (a newer relay
has been run on it; an older one could misread it). Statements are written once
for both databases; {BLOB} is the one type that is spelled differently.

Table families and their one write path each:
  sites, tills, users        store.Store (registration)
  records, conflicts,
  till_contact               store.Store.store_batch (uploads); records' status
                             and tills' chain state: processing.py
  daily, daily_tenders,
  daily_taxes, closings, feed  consolidate.py
  ho_journal                 every HO action (quarantine, flags), with who and why

Planned next (HO to sites, docs/relay.md "Outgoing mailbox"): `blobs` (packages
stored once by SHA-256) and `outbox` (one row per recipient site and message,
UPLOADED -> PROCESSED per till), added as migration 2.
"""
from __future__ import annotations

SCHEMA_VERSION = 1
# The largest integer a column holds (BIGINT; SQLite's INTEGER is the same 64
# bits): a sequence number, a time or a cursor beyond it is refused at the API.
MAX_BIGINT = 2**63 - 1

_V1 = [
    """CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        created_at BIGINT NOT NULL)""",
    # next_seq / chain_tag: where HO's chain verification of this till stands:
    # the next record to process and the tag it must chain from.
    """CREATE TABLE tills (
        till_id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL REFERENCES sites(site_id),
        journal_key {BLOB} NOT NULL,
        created_at BIGINT NOT NULL,
        next_seq BIGINT NOT NULL,
        chain_tag {BLOB} NOT NULL)""",
    # Written by uploads only, so an upload never waits for the row lock a
    # processor holds on `tills`.
    """CREATE TABLE till_contact (
        till_id TEXT PRIMARY KEY REFERENCES tills(till_id),
        last_contact BIGINT NOT NULL,
        reported_head BIGINT,
        clock_offset_s BIGINT,
        flag TEXT,
        flagged_at BIGINT)""",
    """CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        secret_sha256 TEXT NOT NULL,
        created_at BIGINT NOT NULL)""",
    # status: UPLOADED, PROCESSED, QUARANTINED or REJECTED (docs/relay.md).
    """CREATE TABLE records (
        till_id TEXT NOT NULL REFERENCES tills(till_id),
        seq BIGINT NOT NULL,
        raw {BLOB} NOT NULL,
        sha256 {BLOB} NOT NULL,
        received_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        reason_code TEXT,
        reason TEXT,
        processed_at BIGINT,
        PRIMARY KEY (till_id, seq))""",
    "CREATE INDEX records_by_status ON records (status, till_id, seq)",
    """CREATE TABLE conflicts (
        till_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        raw {BLOB} NOT NULL,
        sha256 {BLOB} NOT NULL,
        received_at BIGINT NOT NULL,
        PRIMARY KEY (till_id, seq, sha256))""",
    """CREATE TABLE daily (
        till_id TEXT NOT NULL,
        day TEXT NOT NULL,
        site_id TEXT NOT NULL,
        sales BIGINT NOT NULL,
        sales_total BIGINT NOT NULL,
        refunds BIGINT NOT NULL,
        refunds_total BIGINT NOT NULL,
        no_sales BIGINT NOT NULL,
        rounding BIGINT NOT NULL,
        training BIGINT NOT NULL,
        closings BIGINT NOT NULL,
        PRIMARY KEY (till_id, day))""",
    """CREATE TABLE daily_tenders (
        till_id TEXT NOT NULL,
        day TEXT NOT NULL,
        site_id TEXT NOT NULL,
        tender INTEGER NOT NULL,
        amount BIGINT NOT NULL,
        PRIMARY KEY (till_id, day, tender))""",
    """CREATE TABLE daily_taxes (
        till_id TEXT NOT NULL,
        day TEXT NOT NULL,
        site_id TEXT NOT NULL,
        tax_class TEXT NOT NULL,
        rate_ppm BIGINT NOT NULL,
        net BIGINT NOT NULL,
        tax BIGINT NOT NULL,
        gross BIGINT NOT NULL,
        PRIMARY KEY (till_id, day, tax_class, rate_ppm))""",
    """CREATE TABLE closings (
        till_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        site_id TEXT NOT NULL,
        day TEXT NOT NULL,
        z BIGINT NOT NULL,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        sales BIGINT NOT NULL,
        refunds BIGINT NOT NULL,
        grand_total BIGINT NOT NULL,
        PRIMARY KEY (till_id, seq))""",
    # The ERP feed. id comes from feed_clock, taken as the last step of a
    # processing transaction, so ids are in commit order and a reader's `after`
    # cursor never passes a row that commits later.
    """CREATE TABLE feed (
        id BIGINT PRIMARY KEY,
        till_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        site_id TEXT NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (till_id, seq))""",
    "CREATE TABLE feed_clock (n BIGINT NOT NULL)",
    "INSERT INTO feed_clock (n) VALUES (0)",
    """CREATE TABLE ho_journal (
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        till_id TEXT,
        seq BIGINT,
        note TEXT NOT NULL)""",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1}


def statements(version: int, dialect: str) -> list[str]:
    blob = "BYTEA" if dialect == "postgres" else "BLOB"
    return [s.replace("{BLOB}", blob) for s in MIGRATIONS[version]]
