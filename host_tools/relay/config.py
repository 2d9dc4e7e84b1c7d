"""What a relay process is started with: built from the command line (or by a
test) and passed to every part that needs it; nothing reads globals."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Request size limits. A batch is one till's records in one request."""
    max_batch_bytes: int = 4 * 1024 * 1024
    max_batch_records: int = 2000
    # A journal segment is 16 KiB on a board (docs/journal.md), so no record
    # the till can write is larger.
    max_record_bytes: int = 16 * 1024
    max_page: int = 5000  # rows one read endpoint returns at most
    # A package, logo or image HO publishes over HTTP (a 50,000-item catalog's
    # full package is about 5 MB).
    max_publish_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class RelayConfig:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8470
    limits: Limits = Limits()
    # Seconds between the built-in worker's processing rounds; None: no worker
    # in this process (run `kassa ho process` instead, or another relay's).
    worker_interval_s: float | None = 1.0
    pool_size: int = 8  # PostgreSQL connections per relay process
