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
from typing import NoReturn

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
    """[(seq, raw bytes)] of a batch, in the order sent (ascending seq).

    Every item is decoded in full (that is what proves it CBOR and finds where
    it ends), and the loop around it is kept tight: at hundreds of records a
    batch it is a third of the relay's ingest time."""
    items: list[tuple[int, bytes]] = []
    stream = io.BytesIO(body)
    decoder = cbor2.CBORDecoder(stream)  # one for the batch: it reads item by item, tell() stays exact
    decode, tell, append = decoder.decode, stream.tell, items.append
    size, max_records, max_bytes = len(body), limits.max_batch_records, limits.max_record_bytes
    top = MAX_BIGINT if head is None else min(head, MAX_BIGINT)
    start, last = 0, 0
    while start < size:
        if len(items) >= max_records:
            raise BatchError(413, f"a batch holds at most {max_records} records; send the rest in the next one")
        try:
            value = decode()
        except Exception as exc:  # cbor2 raises several kinds for hostile bytes; all mean "not CBOR"
            raise BatchError(400, f"item {len(items) + 1} (byte {start}) is not CBOR: {exc}") from None
        end = tell()
        seq = value.get(1) if type(value) is dict else None
        if end - start > max_bytes or type(seq) is not int or not last < seq <= top:
            _refuse(len(items) + 1, start, end - start, seq, last, head, limits)
        append((seq, body[start:end]))
        start, last = end, seq
    return items


def _refuse(n: int, start: int, size: int, seq: object, last: int, head: int | None, limits: Limits) -> NoReturn:
    """The BatchError for item n, which split_batch found wrong in some way."""
    if size > limits.max_record_bytes:
        raise BatchError(413, f"item {n} is {size} bytes; a record is at most {limits.max_record_bytes}")
    if type(seq) is not int or not 1 <= seq <= MAX_BIGINT:
        raise BatchError(422, f"item {n} (byte {start}) is not a journal record "
                              f"with a sequence number (a map with key 1 from 1 to {MAX_BIGINT})")
    if seq <= last:
        raise BatchError(422, f"record {seq} follows record {last}: "
                              "a batch lists records in ascending sequence order")
    raise BatchError(422, f"record {seq} is beyond the journal head {head} the batch reports")
