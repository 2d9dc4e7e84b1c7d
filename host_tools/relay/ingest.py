"""An uploaded batch: one till's journal records as an RFC 8742 CBOR sequence.

The gateway sends each record's bytes exactly as the till wrote them, so HO
re-verifies every tag on what the till signed. Here the batch is only split
into records and checked for what makes it unstorable (bytes that are not
CBOR, an item that is not a record with a sequence number, records out of
order, sizes over the limits); a record that decodes but is wrong in any other
way (bad tag, non-deterministic encoding, a body off the schema) is stored and
quarantined by HO processing with its reason, so it never blocks the till's
later records.
"""
from __future__ import annotations

import io

import cbor2

from host_tools.relay.config import Limits
from host_tools.relay.schema import MAX_BIGINT

MEDIA_TYPE = "application/cbor-seq"


class BatchError(Exception):
    """A batch refused as a whole; nothing of it is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def split_batch(body: bytes, limits: Limits, head: int | None = None) -> list[tuple[int, bytes]]:
    """[(seq, raw bytes)] of a batch, in the order sent (ascending seq)."""
    items: list[tuple[int, bytes]] = []
    stream = io.BytesIO(body)
    decoder = cbor2.CBORDecoder(stream)  # one for the batch: it reads item by item, tell() stays exact
    while stream.tell() < len(body):
        start = stream.tell()
        if len(items) >= limits.max_batch_records:
            raise BatchError(413, f"a batch holds at most {limits.max_batch_records} records; "
                                  "send the rest in the next one")
        try:
            value = decoder.decode()
        except Exception as exc:  # cbor2 raises several kinds for hostile bytes; all mean "not CBOR"
            raise BatchError(400, f"item {len(items) + 1} (byte {start}) is not CBOR: {exc}") from None
        raw = body[start:stream.tell()]
        if len(raw) > limits.max_record_bytes:
            raise BatchError(413, f"item {len(items) + 1} is {len(raw)} bytes; "
                                  f"a record is at most {limits.max_record_bytes}")
        seq = value.get(1) if isinstance(value, dict) else None
        if type(seq) is not int or not 1 <= seq <= MAX_BIGINT:
            raise BatchError(422, f"item {len(items) + 1} (byte {start}) is not a journal record "
                                  f"with a sequence number (a map with key 1 from 1 to {MAX_BIGINT})")
        if items and seq <= items[-1][0]:
            raise BatchError(422, f"record {seq} follows record {items[-1][0]}: "
                                  "a batch lists records in ascending sequence order")
        if head is not None and seq > head:
            raise BatchError(422, f"record {seq} is beyond the journal head {head} the batch reports")
        items.append((seq, raw))
    return items
