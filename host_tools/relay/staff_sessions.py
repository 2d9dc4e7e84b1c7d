"""HO staff's web sessions, held by the relay's database (table web_sessions).

A signed cookie alone cannot be taken back: a copy made before signing out
would work until it expires. So the cookie carries a random session id, and a
session is live only while its row is here. Signing out deletes the row;
`end_all` (an admin's "sign out everywhere", `kassa ho user signout`) deletes
the rows of one user or of everyone, in every relay process on the database
at once. The database keeps the id's SHA-256, not the id. Expired rows are
deleted whenever someone signs in, so the table holds only live sessions.
"""
from __future__ import annotations

import hashlib
import secrets

from host_tools.relay.store import Store, StoreError


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(store: Store, name: str, lifetime_s: int) -> str:
    """A new session of user `name`; its id, for the cookie only."""
    session_id = secrets.token_urlsafe(32)
    now = store.now()
    with store.transaction() as tx:
        tx.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
        tx.execute("INSERT INTO web_sessions (id_sha256, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (_digest(session_id), name, now, now + lifetime_s))
    return session_id


def session_user(store: Store, session_id: str) -> tuple[str, str, str] | None:
    """(name, role, secret_sha256) of a live session's user, else None."""
    with store.transaction(write=False) as tx:
        row = tx.one("SELECT u.name, u.role, u.secret_sha256 FROM web_sessions s "
                     "JOIN users u ON u.name = s.user_name WHERE s.id_sha256 = ? AND s.expires_at > ?",
                     (_digest(session_id), store.now()))
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def end_session(store: Store, session_id: str) -> None:
    with store.transaction() as tx:
        tx.execute("DELETE FROM web_sessions WHERE id_sha256 = ?", (_digest(session_id),))


def end_all(store: Store, actor: str, name: str | None = None) -> int:
    """End every session of user `name` (everyone's when None), journaled at
    HO with who did it; the number of sessions ended."""
    with store.transaction() as tx:
        if name is not None and not tx.one("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise StoreError(f"no HO user {name}")
        where, params = ("", ()) if name is None else (" WHERE user_name = ?", (name,))
        row = tx.one("SELECT COUNT(*) FROM web_sessions" + where, params)
        tx.execute("DELETE FROM web_sessions" + where, params)
        ended = int(row[0]) if row else 0
        store.log(tx, actor, "sign-out-everywhere", None, None,
                  f"{ended} web session(s) of {name or 'every HO user'} ended")
    return ended
