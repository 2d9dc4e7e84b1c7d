"""What HO published for the site, on its way down (docs/relay-publish.md):
the blob cache and the pictures folder.

Blobs (packages, logos, pictures updates and picture files) are downloaded
into a folder beside the outbox, each under its SHA-256, through a `.part`
file that a broken download resumes from (a Range request); a blob is kept
only once its bytes match its name. The cache holds only what a message
still pending at the relay needs (keep_only), so it does not grow.

Pictures are echo mode: picture_update (the relay's, one format in one place)
applies an update to the site's folder, atomically per file.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from host_tools.gateway.relay_client import RelayClient, RelayUnreachable

Progress = Callable[[int, int], None]


class BlobCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def cached(self, sha256: str) -> bytes | None:
        path = self.folder / sha256
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:  # damaged on disk: fetched again
            path.unlink()
            return None
        return data

    def get(self, relay: RelayClient, sha256: str, size: int | None = None,
            progress: Progress | None = None) -> bytes:
        """The blob's bytes, from the cache or downloaded (resuming a part)."""
        data = self.cached(sha256)
        if data is not None:
            return data
        part = self.folder / f"{sha256}.part"
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        done = [have]
        with part.open("ab") as f:
            def sink(chunk: bytes) -> None:
                f.write(chunk)
                done[0] += len(chunk)
                if progress is not None and size:
                    progress(done[0], size)
            if size is None or have < size:
                relay.download(sha256, have, sink)
            f.flush()
            os.fsync(f.fileno())
        data = part.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            part.unlink()
            raise RelayUnreachable(f"the download of {sha256[:12]}… does not match its SHA-256; "
                                   "it is downloaded again at the next try")
        os.replace(part, self.folder / sha256)
        return data

    def keep_only(self, needed: set[str]) -> int:
        """Remove cached blobs (and parts) no pending message needs; how many."""
        removed = 0
        for path in self.folder.iterdir():
            if path.name.removesuffix(".part") not in needed:
                path.unlink()
                removed += 1
        return removed
