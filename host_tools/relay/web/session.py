"""HO staff's web sessions: a signed cookie, CSRF tokens, who may do what.

The cookie holds no credential: a random nonce, and once signed in a session
id and a fingerprint of the token the user signed in with. It is signed
(itsdangerous, HMAC-SHA1 over a key derived from the relay's session key),
HttpOnly and SameSite=Strict. The session itself lives in the database
(staff_sessions.py): every request looks it up with its user, so signing out
(which deletes it), an admin's "sign out everywhere", the expiry
(config.session_s), a user removed or given a new token all end it at once,
for every copy of the cookie; a changed role applies at the next page.

CSRF: every POST form carries HMAC(key, nonce) of the session's nonce, the
"signed double-submit" pattern; a browser without the cookie, or a page of
another site, cannot produce it. The nonce exists before sign-in too, so the
sign-in form is protected as well, and it is replaced at sign-in (no session
fixation).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData

from host_tools.relay import staff_sessions
from host_tools.relay.store import Store

COOKIE = "kassa_ho"
SIGNIN_PATH = "/ho/signin"


class SignInRequired(Exception):
    """A page was asked for without a valid session: the app answers with a
    redirect to the sign-in form (web/__init__.py)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """A signed-in user may not do this (403), a form's CSRF token is wrong
    (403), or a form is not one of ours (413, 411)."""

    def __init__(self, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


MAX_FORM_BYTES = 16 * 1024  # the pages' forms hold a token and a note


@dataclass(frozen=True)
class Staff:
    """The signed-in HO user of one request."""
    name: str
    role: str
    csrf: str   # the token every POST form of this session carries

    @property
    def admin(self) -> bool:
        return self.role == "admin"


class Sessions:
    """Makes and reads session cookies with one key (config.session_key)."""

    def __init__(self, key: bytes, lifetime_s: int) -> None:
        self._key = hashlib.sha256(b"kassa-ho-web|" + key).digest()
        self._serializer = URLSafeSerializer(self._key, salt="kassa-ho-session")
        self.lifetime_s = lifetime_s

    def csrf_for(self, nonce: str) -> str:
        return hmac.new(self._key, b"csrf|" + nonce.encode(), hashlib.sha256).hexdigest()

    def fingerprint(self, secret_sha256: str) -> str:
        return hmac.new(self._key, b"user|" + secret_sha256.encode(), hashlib.sha256).hexdigest()[:32]

    def read(self, request: Request) -> dict[str, Any]:
        """The cookie's payload, or {} when absent or not signed by us."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return {}
        try:
            payload = self._serializer.loads(raw)
        except BadSignature:
            return {}
        return payload if isinstance(payload, dict) and isinstance(payload.get("n"), str) else {}

    def write(self, request: Request, response: Response, payload: dict[str, Any],
              max_age: int | None) -> None:
        response.set_cookie(COOKIE, self._serializer.dumps(payload), max_age=max_age, path="/ho",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")

    def anonymous(self, request: Request) -> tuple[dict[str, Any], bool]:
        """The visitor's pre-sign-in payload, and whether it is new (to be set)."""
        payload = self.read(request)
        if payload:
            return payload, False
        return {"n": secrets.token_urlsafe(16)}, True

    def sign_in(self, request: Request, response: Response, store: Store, name: str,
                secret_sha256: str) -> None:
        session_id = staff_sessions.open_session(store, name, self.lifetime_s)
        payload = {"n": secrets.token_urlsafe(16), "s": session_id, "f": self.fingerprint(secret_sha256)}
        self.write(request, response, payload, self.lifetime_s)

    def sign_out(self, request: Request, response: Response, store: Store) -> None:
        session_id = self.read(request).get("s")
        if isinstance(session_id, str):
            staff_sessions.end_session(store, session_id)
        response.delete_cookie(COOKIE, path="/ho", httponly=True, samesite="strict")

    def staff(self, request: Request, store: Store) -> Staff | None:
        """The signed-in user of this request, checked against the store."""
        payload = self.read(request)
        session_id, fingerprint = payload.get("s"), payload.get("f")
        if not isinstance(session_id, str) or not isinstance(fingerprint, str):
            return None
        user = staff_sessions.session_user(store, session_id)
        if user is None or not hmac.compare_digest(self.fingerprint(user[2]), fingerprint):
            return None
        return Staff(user[0], user[1], self.csrf_for(payload["n"]))

    def check_csrf(self, request: Request, token: str) -> None:
        payload = self.read(request)
        if not payload:
            raise Refused("your browser sent no session cookie with this form: allow cookies for this "
                          "site, reload the page and try again")
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them).
        if not hmac.compare_digest(self.csrf_for(payload["n"]).encode(), token.encode()):
            raise Refused("this form is out of date or did not come from this site's pages: "
                          "reload the page and try again")


def sessions(request: Request) -> Sessions:
    s: Sessions = request.app.state.web_sessions
    return s


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _path_and_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def current_staff(request: Request) -> Staff:
    who = sessions(request).staff(request, store_of(request))
    if who is None:
        raise SignInRequired(_path_and_query(request) if request.method == "GET" else request.url.path)
    return who


def signin_url(next_path: str) -> str:
    return f"{SIGNIN_PATH}?next={quote(next_path, safe='')}"


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: only a page of ours, never another site."""
    if value and value.startswith("/ho/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ho/tills"


def require_admin(who: Staff, what: str) -> None:
    if not who.admin:
        raise Refused(f"you are signed in as {who.name}, a viewer: {what} needs an admin")


async def read_form(request: Request) -> dict[str, str]:
    """A page's form fields. Read only when small and declared so: anyone may
    post the sign-in form, and a body is held in memory while it is parsed."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise Refused("send the form with its Content-Length", 411)
    if int(declared) > MAX_FORM_BYTES:
        raise Refused(f"a form here is at most {MAX_FORM_BYTES} bytes; shorten the note", 413)
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@dataclass(frozen=True)
class Posted:
    """A POSTed form of a signed-in user, its CSRF token checked."""
    who: Staff
    form: dict[str, str]

    def field(self, name: str) -> str:
        return self.form.get(name, "")


async def posted(request: Request) -> Posted:
    who = await run_in_threadpool(current_staff, request)
    form = await read_form(request)
    sessions(request).check_csrf(request, form.get("csrf", ""))
    return Posted(who, form)


StaffDep = Annotated[Staff, Depends(current_staff)]
PostedDep = Annotated[Posted, Depends(posted)]
FormDep = Annotated[dict[str, str], Depends(read_form)]


async def read_upload(request: Request, limit: int) -> FormData:
    """A form carrying one file of at most `limit` bytes (Data Sync), read
    only after the user is known to be an admin (the caller checks)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise Refused("send the form with its Content-Length", 411)
    if int(declared) > limit + MAX_FORM_BYTES:
        raise Refused(f"a file published here is at most {limit} bytes", 413)
    return await request.form(max_files=1, max_fields=1000)
