"""The gateway's configuration file (TOML, docs/gateway.md): the site, its
relay and credential, the outbox, the pictures folder and the tills.

Every mistake is one ConfigError naming the file, the key and what is wrong,
in the words of the person who edits the file. Relative paths are relative to
the file's own folder, so a configuration means the same from any directory.
"""
from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from host_tools.relay import auth, ids
from host_tools.relay.config import Limits

_TOP_KEYS = {"site", "relay_url", "credential", "credential_file", "outbox", "pictures",
             "till", "upload", "retry"}
_TILL_KEYS = {"name", "url"}


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class TillConfig:
    name: str   # the till's name at HO: its till id is SITE/NAME
    url: str    # a pyserial URL: /dev/ttyACM1, /dev/ttyUSB0, socket://host:port


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one step within a run (host_tools.gateway.backoff)."""
    attempts: int = 4        # tries in all, the first included
    base_s: float = 2.0      # the first wait; doubled each time
    cap_s: float = 60.0      # no wait longer than this


@dataclass(frozen=True)
class UploadLimits:
    # The relay's own limits (host_tools.relay.config) bound what one request
    # may carry; the gateway stays below them by default.
    batch_records: int = 500
    batch_bytes: int = Limits.max_batch_bytes // 4
    read_records: int = 200  # records asked of a till per records_after call


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    site: str
    relay_url: str
    credential: str = field(repr=False)
    outbox: Path
    pictures: Path
    tills: tuple[TillConfig, ...]
    retry: RetryPolicy = RetryPolicy()
    upload: UploadLimits = UploadLimits()

    def till(self, name: str) -> TillConfig:
        for t in self.tills:
            if t.name == name:
                return t
        raise ConfigError(f"{self.path}: no till named {name!r} (the file names "
                          f"{', '.join(t.name for t in self.tills)})")


def _fail(path: Path, key: str, what: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {what}")


def _string(path: Path, data: dict[str, Any], key: str, where: str = "") -> str:
    name = f"{where}{key}"
    if key not in data:
        raise _fail(path, name, "missing")
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, name, f"must be a non-empty text in quotes, not {value!r}")
    return value.strip()


def _number(path: Path, data: dict[str, Any], key: str, where: str, default: float,
            minimum: float, whole: bool) -> Any:
    value = data.get(key, default)
    ok_type = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or value < minimum:
        kind = "a whole number" if whole else "a number"
        raise _fail(path, f"{where}{key}", f"must be {kind} of at least {minimum}, not {value!r}")
    return value


def _unknown(path: Path, data: dict[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise _fail(path, f"{where}{extra[0]}", f"unknown setting (known: {', '.join(sorted(known))})")


def _path(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _credential(path: Path, data: dict[str, Any], site: str) -> str:
    if ("credential" in data) == ("credential_file" in data):
        raise _fail(path, "credential", "give exactly one of credential or credential_file "
                                        "(the site's credential from `kassa ho site add`)")
    if "credential" in data:
        key, token = "credential", _string(path, data, "credential")
    else:
        key = "credential_file"
        file = _path(path.parent, _string(path, data, key))
        try:
            mode = file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise _fail(path, key, f"{file} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                                       f"make it private with: chmod 600 {file}")
            token = file.read_text().strip()
        except OSError as exc:
            raise _fail(path, key, f"cannot read {file}: {exc.strerror or exc}") from None
    parsed = auth.parse_token(token)
    if parsed is None or parsed[0] != "site":
        raise _fail(path, key, "is not a site credential (it looks like site.<site>.<secret>, "
                               "as `kassa ho site add` printed it)")
    if parsed[1] != site:
        raise _fail(path, key, f"is the credential of site {parsed[1]}, not of site {site}")
    return token


def _tills(path: Path, data: dict[str, Any]) -> tuple[TillConfig, ...]:
    raw = data.get("till")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise _fail(path, "till", "name at least one till, each as a [[till]] table "
                                  "with name and url")
    out: list[TillConfig] = []
    for i, t in enumerate(raw, 1):
        where = f"till #{i}."
        _unknown(path, t, _TILL_KEYS, where)
        name = _string(path, t, "name", where)
        try:
            ids.check_name(name, "till name")
        except ids.BadId as exc:
            raise _fail(path, f"{where}name", str(exc)) from None
        if any(o.name == name for o in out):
            raise _fail(path, f"{where}name", f"till {name} is named twice")
        out.append(TillConfig(name, _string(path, t, "url", where)))
    return tuple(out)


def parse(path: Path, data: dict[str, Any]) -> GatewayConfig:
    _unknown(path, data, _TOP_KEYS, "")
    site = _string(path, data, "site")
    try:
        ids.check_site(site)
    except ids.BadId as exc:
        raise _fail(path, "site", str(exc)) from None
    relay_url = _string(path, data, "relay_url").rstrip("/")
    parts = urlsplit(relay_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(path, "relay_url", f"must be an http:// or https:// address, not {relay_url!r}")
    retry_raw = data.get("retry", {})
    upload_raw = data.get("upload", {})
    for key, table in (("retry", retry_raw), ("upload", upload_raw)):
        if not isinstance(table, dict):
            raise _fail(path, key, f"must be a [{key}] table")
    _unknown(path, retry_raw, {"attempts", "base_s", "cap_s"}, "retry.")
    _unknown(path, upload_raw, {"batch_records", "batch_bytes", "read_records"}, "upload.")
    d, u = RetryPolicy(), UploadLimits()
    retry = RetryPolicy(attempts=_number(path, retry_raw, "attempts", "retry.", d.attempts, 1, True),
                        base_s=float(_number(path, retry_raw, "base_s", "retry.", d.base_s, 0, False)),
                        cap_s=float(_number(path, retry_raw, "cap_s", "retry.", d.cap_s, 0, False)))
    upload = UploadLimits(
        batch_records=_number(path, upload_raw, "batch_records", "upload.", u.batch_records, 1, True),
        batch_bytes=_number(path, upload_raw, "batch_bytes", "upload.", u.batch_bytes, 1024, True),
        read_records=_number(path, upload_raw, "read_records", "upload.", u.read_records, 1, True))
    if upload.batch_records > Limits.max_batch_records or upload.batch_bytes > Limits.max_batch_bytes:
        raise _fail(path, "upload", f"a batch is at most {Limits.max_batch_records} records and "
                                    f"{Limits.max_batch_bytes} bytes at the relay")
    return GatewayConfig(
        path=path, site=site, relay_url=relay_url, credential=_credential(path, data, site),
        outbox=_path(path.parent, _string(path, data, "outbox")),
        pictures=_path(path.parent, _string(path, data, "pictures")),
        tills=_tills(path, data), retry=retry, upload=upload)


def load(path: str | Path) -> GatewayConfig:
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: is not a text file (UTF-8 TOML expected)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: is not valid TOML: {exc}") from None
    return parse(p.resolve(), data)
