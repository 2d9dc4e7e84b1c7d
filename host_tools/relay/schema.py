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
  blobs, blob_chunks,
  messages, message_blobs,
  deliveries, delivery_targets publish.py (HO to sites: publishing, supersession,
                             the sites' acknowledgements)
  picture_pairs              pictures.py (echo folder pairs, their runs and what
                             each site acknowledged having)
  web_sessions               staff_sessions.py (HO staff's signed-in browsers)
  losses                     processing.py (records a person declared lost, and
                             their late arrival)
  till_status                store.Store.note_status (what the gateway last saw
                             of each till: firmware, free flash, clock offset)
"""
from __future__ import annotations

SCHEMA_VERSION = 5
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

# HO to sites (docs/relay-publish.md). A blob is stored once, by the SHA-256
# of its bytes, in chunks so that a resumed download reads only the chunks it
# needs. A message is one thing published (a package, a logo, a pictures
# update) and names every blob it needs (message_blobs: a site may download a
# blob only through a message delivered to it). A delivery is the message's
# copy for one site; its targets are the tills that must apply it (or the site
# itself, for pictures), each acknowledged on its own.
_V2 = [
    """CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        chunk_bytes BIGINT NOT NULL,
        created_at BIGINT NOT NULL)""",
    """CREATE TABLE blob_chunks (
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        n BIGINT NOT NULL,
        data {BLOB} NOT NULL,
        PRIMARY KEY (sha256, n))""",
    # topic: what a newer message supersedes ("snapshot", "logo", "pictures:<pair id>");
    # version: a snapshot's version (0 for other kinds); info: JSON for people and gateways;
    # idempotency_key: a retried HTTP publish gets the first one's answer.
    """CREATE TABLE messages (
        id {ID},
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        version BIGINT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        size BIGINT NOT NULL,
        info TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        idempotency_key TEXT UNIQUE)""",
    """CREATE TABLE message_blobs (
        message_id BIGINT NOT NULL REFERENCES messages(id),
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (message_id, sha256))""",
    "CREATE INDEX message_blobs_by_blob ON message_blobs (sha256, message_id)",
    # status: UPLOADED, PROCESSED, FAILED or SUPERSEDED (docs/relay-publish.md).
    """CREATE TABLE deliveries (
        message_id BIGINT NOT NULL REFERENCES messages(id),
        site_id TEXT NOT NULL REFERENCES sites(site_id),
        status TEXT NOT NULL,
        status_at BIGINT NOT NULL,
        PRIMARY KEY (message_id, site_id))""",
    "CREATE INDEX deliveries_by_site ON deliveries (site_id, status, message_id)",
    # target: a till id (S001/till-1), or the site id for a site-wide message.
    # status: UPLOADED, PROCESSED or FAILED (with the reason the site gave).
    """CREATE TABLE delivery_targets (
        message_id BIGINT NOT NULL,
        site_id TEXT NOT NULL,
        target TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        at BIGINT,
        PRIMARY KEY (message_id, site_id, target),
        FOREIGN KEY (message_id, site_id) REFERENCES deliveries(message_id, site_id))""",
    # acked: JSON {path: sha256} the site acknowledged having, from message acked_message.
    """CREATE TABLE picture_pairs (
        pair_id {ID},
        name TEXT NOT NULL UNIQUE,
        master TEXT NOT NULL,
        site_id TEXT NOT NULL REFERENCES sites(site_id),
        folder TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        acked TEXT NOT NULL,
        acked_message BIGINT,
        last_run TEXT)""",
]

_V3 = [
    # A signed-in browser of an HO user (web/session.py). The cookie holds a
    # random id; the database only its SHA-256, so a reader of the database
    # cannot take over a session. Signing out deletes the row, which is what
    # makes a copied cookie worthless.
    """CREATE TABLE web_sessions (
        id_sha256 TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL)""",
    "CREATE INDEX web_sessions_by_user ON web_sessions (user_name)",
    # Records a person declared lost when deciding on the record after a gap
    # (processing.resolve): first_seq..last_seq. If they arrive after all,
    # processing verifies them from the tag of the record before (chain_tag)
    # and counts them; next_seq is the next one it waits for, and resolved_at
    # is set once all have arrived and the chain joins the record after.
    """CREATE TABLE losses (
        till_id TEXT NOT NULL REFERENCES tills(till_id),
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        declared_at BIGINT NOT NULL,
        declared_by TEXT NOT NULL,
        next_seq BIGINT NOT NULL,
        chain_tag {BLOB},
        resolved_at BIGINT,
        resolution TEXT,
        PRIMARY KEY (till_id, first_seq))""",
    # The quarantine page reads the newest decisions of a journal that only grows.
    "CREATE INDEX ho_journal_by_at ON ho_journal (at)",
]

_V4 = [
    # Cash put into or taken out of the drawers outside sales (record kind 8,
    # docs/records.md), per till and day, and each Z's drawer: the cash it
    # should have held and what was counted (NULL for a Z of earlier firmware).
    "ALTER TABLE daily ADD COLUMN cash_in BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE daily ADD COLUMN cash_out BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE closings ADD COLUMN cash_expected BIGINT",
    "ALTER TABLE closings ADD COLUMN cash_counted BIGINT",
]

# What the site's gateway last saw of a till at its hello (PUT .../status,
# docs/relay.md): seen_at is the gateway's clock (which sets the tills'
# clocks), reported_at HO's when the report arrived. Apart from till_contact,
# which uploads write: a gateway reports a till it saw even when it has no
# records to upload, and an upload must not wait on a status report's row.
_V5 = [
    """CREATE TABLE till_status (
        till_id TEXT PRIMARY KEY REFERENCES tills(till_id),
        seen_at BIGINT NOT NULL,
        reported_at BIGINT NOT NULL,
        firmware TEXT NOT NULL,
        clock_offset_s BIGINT,
        free_flash_bytes BIGINT,
        snapshot_version BIGINT,
        printer TEXT)""",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5}


def statements(version: int, dialect: str) -> list[str]:
    pg = dialect == "postgres"
    blob = "BYTEA" if pg else "BLOB"
    # An id the database assigns on insert (read back with RETURNING).
    ident = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    return [s.replace("{BLOB}", blob).replace("{ID}", ident) for s in MIGRATIONS[version]]
