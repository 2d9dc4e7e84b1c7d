"""A pictures update in echo mode (Candela's folder pairs, SyncToy's Echo):
its format, how HO computes it, and how a site applies it to its folder.

HO's master folder is the only source: new and changed files go to the site,
files deleted in the master are deleted at the site, and nothing at the site
ever flows back. The update is a JSON document (a blob of its own):

    {"format": 1, "pair": "shop1", "folder": "pictures",
     "manifest": {"a/b.jpg": "<sha256>", ...},   # the master when the run read it
     "put": {"a/b.jpg": "<sha256>", ...},        # files to write, each a blob by its SHA-256
     "delete": ["old.jpg", ...]}                  # files to remove if present

Applying it (apply(), for the store's gateway) writes each file atomically
(a temporary file beside it, flushed and fsynced, renamed over the old one),
skips a file that already has the right content, deletes the removed ones,
and refuses the whole update before touching anything if a path would leave
the folder. Files only the site has, and not named in `delete`, are left alone
(echo, not mirror).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = 1
_HEX = set("0123456789abcdef")


class UpdateError(ValueError):
    """A pictures update that cannot be applied; nothing was changed by it."""


@dataclass(frozen=True)
class Update:
    pair: str
    folder: str
    manifest: dict[str, str]
    put: dict[str, str]
    delete: list[str]

    def encode(self) -> bytes:
        return json.dumps({"format": FORMAT, "pair": self.pair, "folder": self.folder, "manifest": self.manifest,
                           "put": self.put, "delete": self.delete}, sort_keys=True,
                          separators=(",", ":")).encode()


@dataclass(frozen=True)
class Diff:
    put: dict[str, str]
    delete: list[str]
    copied: int      # new at the site
    updated: int     # changed
    unchanged: int


def diff(master: Mapping[str, str], acked: Mapping[str, str], maybe_present: Set[str] = frozenset()) -> Diff:
    """What turns the site's folder into the master: every master file the
    site has not acknowledged with the same content, and every file the site
    has or may have (acked, or sent in an update not yet acknowledged) that
    the master no longer has."""
    put = {p: s for p, s in sorted(master.items()) if acked.get(p) != s}
    copied = sum(1 for p in put if p not in acked)
    delete = sorted((set(acked) | maybe_present) - set(master))
    return Diff(put, delete, copied, len(put) - copied, len(master) - len(put))


def check_path(path: str) -> str:
    """A relative path inside the folder, or UpdateError."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise UpdateError(f"{path!r} is not a usable file path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("/") or ":" in pure.parts[0]:
        raise UpdateError(f"{path!r} is not inside the pictures folder (an absolute path)")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise UpdateError(f"{path!r} is not inside the pictures folder (it climbs out with '..' or is not "
                          "a plain relative path)")
    return path


def _sha(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise UpdateError(f"{where}: {value!r} is not a SHA-256 in hex")
    return value


def decode(data: bytes) -> Update:
    """An update document checked whole: format, every path, every hash."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpdateError(f"the pictures update is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UpdateError(f"this is not a pictures update of format {FORMAT}: update the gateway")
    maps = {}
    for key in ("manifest", "put"):
        value = doc.get(key)
        if not isinstance(value, dict):
            raise UpdateError(f"the pictures update has no {key} map")
        maps[key] = {check_path(p): _sha(s, p) for p, s in value.items()}
    delete = doc.get("delete")
    if not isinstance(delete, list):
        raise UpdateError("the pictures update has no delete list")
    pair, folder = doc.get("pair"), doc.get("folder")
    if not isinstance(pair, str) or not isinstance(folder, str):
        raise UpdateError("the pictures update names no pair or folder")
    return Update(pair, folder, maps["manifest"], maps["put"], [check_path(p) for p in delete])


@dataclass(frozen=True)
class Applied:
    written: list[str]
    unchanged: list[str]
    deleted: list[str]


def _inside(folder: Path, path: str) -> Path:
    """folder/path, refused if a symlinked directory on the way leads out."""
    target = folder / path
    root = folder.resolve()
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise UpdateError(f"{path!r} leads out of the pictures folder {folder} (through a link)")
    return target


def _file_sha(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                h.update(block)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.kassa-tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def apply(update: Update, folder: Path, blob: Callable[[str], bytes]) -> Applied:
    """Apply an update to the site's folder. blob(sha256) gives a file's bytes
    (the gateway's download); each is checked against its SHA-256 before it is
    written. Safe to run again after an interruption: done files are skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    puts = [(p, _inside(folder, check_path(p)), s) for p, s in sorted(update.put.items())]
    deletes = [(p, _inside(folder, check_path(p))) for p in update.delete]
    written, unchanged, deleted = [], [], []
    for path, target, sha in puts:
        if _file_sha(target) == sha:
            unchanged.append(path)
            continue
        data = blob(sha)
        if hashlib.sha256(data).hexdigest() != sha:
            raise UpdateError(f"the download of {path} does not match its SHA-256: not written; download again")
        _write_atomically(target, data)
        written.append(path)
    for path, target in deletes:
        if target.is_file() or target.is_symlink():
            target.unlink()
            deleted.append(path)
            _fsync_dir(target.parent)
            _prune(folder, target.parent)
    return Applied(written, unchanged, deleted)


def _prune(folder: Path, directory: Path) -> None:
    """Remove directories a deletion left empty, up to (not including) the folder."""
    root = folder.resolve()
    while directory.resolve() != root:
        try:
            directory.rmdir()
        except OSError:  # not empty (or not ours to remove)
            return
        directory = directory.parent
