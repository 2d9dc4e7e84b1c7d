"""Credentials: site tokens and HO user tokens, issued once, stored hashed.

A token is `site.<site id>.<secret>` or `user.<name>.<secret>`: the relay finds
the holder by name and compares the secret's SHA-256 in constant time. The
secret is 32 random bytes, so a fast hash is enough (a slow password hash such
as argon2 protects guessable passwords; a 256-bit random secret cannot be
guessed), and the database never holds anything that lets a reader sign in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from host_tools.relay import ids

ROLES = ("admin", "viewer")
_SECRET_BYTES = 32


@dataclass(frozen=True)
class Principal:
    kind: str   # "site" or "user"
    name: str   # the site id, or the HO user's name
    role: str   # "site", "admin" or "viewer"


def new_token(kind: str, name: str) -> tuple[str, str]:
    """A fresh token for the holder and the hash the store keeps of it."""
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return f"{kind}.{name}.{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str, str] | None:
    """(kind, name, secret) of a well-formed token, else None."""
    kind, _, rest = token.partition(".")
    name, _, secret = rest.partition(".")
    if kind not in ("site", "user") or not name or not secret:
        return None
    try:
        ids.check_name(name, kind)  # a name no holder can have (NUL, ...) never reaches the database
    except ids.BadId:
        return None
    return kind, name, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
