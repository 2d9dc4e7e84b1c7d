"""The gateway's client of HO's relay API (docs/relay.md): upload one till's
records, report what the gateway saw of it, read its acknowledgement; what HO published for the site:
the pending messages, their blobs (downloads resume), acknowledgements. httpx; the client can be given
(tests pass one bound to an in-process relay).

Two kinds of failure: RelayUnreachable (no answer, a timeout, a 5xx: try
again later, nothing is lost) and RelayRefused (a 4xx: the relay answered
and said no; retrying the same request cannot help, a person must act).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from host_tools.relay.ingest import MEDIA_TYPE


class RelayUnreachable(Exception):
    pass


class RelayRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the relay refused ({status}): {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class RecordAck:
    seq: int
    outcome: str   # stored | duplicate | conflict
    status: str    # UPLOADED | PROCESSED | QUARANTINED | REJECTED
    sha256: str


@dataclass(frozen=True)
class UploadResult:
    acks: list[RecordAck]
    conflicts: int
    flag: str | None


@dataclass(frozen=True)
class TillAck:
    processed: int   # every record up to here is PROCESSED at HO
    held: int        # the highest record HO holds in any status
    flag: str | None


class RelayClient:
    def __init__(self, base_url: str, site: str, token: str, client: httpx.Client | None = None,
                 timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.site = site
        self._headers = {"Authorization": f"Bearer {token}"}
        self._own = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        if self._own:
            self._client.close()

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        url = f"{self.base_url}/v1/sites/{self.site}{path}"
        try:
            r = self._client.request(method, url, headers={**self._headers, **kw.pop("headers", {})}, **kw)
        except httpx.HTTPError as exc:
            raise RelayUnreachable(f"the relay at {self.base_url} did not answer: "
                                   f"{exc or type(exc).__name__}") from None
        if r.status_code >= 500:
            raise RelayUnreachable(f"the relay at {self.base_url} answered {r.status_code}: {_detail(r)}")
        if r.status_code >= 400:
            raise RelayRefused(r.status_code, _detail(r))
        try:
            return r.json()
        except ValueError:
            raise RelayUnreachable(f"the relay at {self.base_url} answered something that is not JSON "
                                   "(a proxy page?)") from None

    def upload(self, till: str, records: list[tuple[int, bytes]], head: int,
               till_time: int | None = None) -> UploadResult:
        params: dict[str, int] = {"head": head}
        if till_time is not None:
            params["till_time"] = till_time
        body = self._send("POST", f"/tills/{till}/records", content=b"".join(raw for _, raw in records),
                          params=params, headers={"Content-Type": MEDIA_TYPE})
        try:
            acks = [RecordAck(int(a["seq"]), str(a["outcome"]), str(a["status"]), str(a["sha256"]))
                    for a in body["acks"]]
            return UploadResult(acks, int(body["conflicts"]), body.get("flag"))
        except (KeyError, TypeError, ValueError):
            raise RelayUnreachable("the relay's answer to an upload is not in the expected shape") from None

    def till_status(self, till: str, status: dict[str, Any]) -> None:
        """Tell HO what the gateway last saw of a till (PUT .../status: seen_at,
        firmware, clock_offset_s, free_flash_bytes, snapshot_version, printer)."""
        self._send("PUT", f"/tills/{till}/status", json=status)

    def till_ack(self, till: str) -> TillAck:
        body = self._send("GET", f"/tills/{till}/ack")
        try:
            return TillAck(int(body["processed"]), int(body["held"]), body.get("flag"))
        except (KeyError, TypeError, ValueError):
            raise RelayUnreachable("the relay's acknowledgement is not in the expected shape") from None


    # -- HO to the site (docs/relay-publish.md) -------------------------------
    def messages(self) -> list[Message]:
        return _messages(self._send("GET", "/messages"))

    def download(self, sha256: str, offset: int, sink: Callable[[bytes], None]) -> None:
        """The blob's bytes from `offset` on, handed to sink as they arrive
        (a Range request: an interrupted download resumes where it stopped)."""
        url = f"{self.base_url}/v1/sites/{self.site}/blobs/{sha256}"
        headers = dict(self._headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with self._client.stream("GET", url, headers=headers) as r:
                if r.status_code >= 400:
                    r.read()
                    error = RelayRefused(r.status_code, _detail(r)) if r.status_code < 500 else \
                        RelayUnreachable(f"the relay at {self.base_url} answered {r.status_code}: {_detail(r)}")
                    raise error
                if offset and r.status_code != 206:
                    raise RelayUnreachable("the relay did not resume the download where it stopped")
                for chunk in r.iter_bytes():
                    sink(chunk)
        except httpx.HTTPError as exc:
            raise RelayUnreachable(f"the download from {self.base_url} broke off: "
                                   f"{exc or type(exc).__name__}") from None

    def acknowledge(self, message_id: int, till: str | None, applied: bool, reason: str | None = None) -> str:
        """Tell HO a till (None: the site) applied a message or failed to; the
        status HO now holds for it."""
        body = self._send("POST", f"/messages/{message_id}/ack",
                          json={"till": till, "result": "applied" if applied else "failed", "reason": reason})
        try:
            return str(body["status"])
        except (KeyError, TypeError):
            raise RelayUnreachable("the relay's answer to an acknowledgement is not in the expected shape") from None


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(e, dict) and "msg" in e for e in detail):
        # FastAPI's field errors: "firmware: String should match pattern ..." per field.
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []) if p != 'body')}: {e['msg']}"
                         for e in detail)
    return str(detail) if detail else (r.text[:200] or r.reason_phrase)


@dataclass(frozen=True)
class Message:
    """Something HO published for the site (docs/relay-publish.md)."""
    id: int
    kind: str          # snapshot | delta | logo | pictures
    sha256: str        # its blob
    size: int
    info: dict[str, Any]
    scope: str         # tills: each listed till acknowledges; site: the site does
    tills: list[str]   # the tills that have not acknowledged it yet


def _messages(body: Any) -> list[Message]:
    try:
        return [Message(int(m["id"]), str(m["kind"]), str(m["sha256"]), int(m["size"]), dict(m["info"]),
                        str(m["scope"]), [str(t) for t in m["tills"]]) for m in body]
    except (KeyError, TypeError, ValueError):
        raise RelayUnreachable("the relay's list of published messages is not in the expected shape") from None
