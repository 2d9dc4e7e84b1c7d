"""What the gateway checks of the records a till sends, before it keeps them.

The gateway holds no till keys: tags and chains are HO's to verify. It checks
only what would make the outbox wrong: each item is one CBOR map whose key 1 is
the sequence number the till gave with it, no bigger than a record can be
(the relay's limit), and the sequence numbers follow on from what the gateway
already holds with no gap and no repeat.
"""
from __future__ import annotations

import io

import cbor2

from host_tools.relay.config import Limits


def check_records(items: object, expected: int,
                  max_record_bytes: int = Limits.max_record_bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """(the leading good records, the first problem or None). `expected` is
    the sequence number the first item must carry."""
    good: list[tuple[int, bytes]] = []
    if not isinstance(items, list):
        return good, f"the till answered {type(items).__name__} instead of a list of records"
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)
                and isinstance(item[1], (bytes, bytearray))):
            return good, f"record {expected}: the till sent {item!r:.60} instead of (seq, bytes)"
        seq, raw = item[0], bytes(item[1])
        if seq != expected:
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
                return good, f"records are not contiguous: record {seq} came where {expected} was due " \
                             f"(missing {gap})"
            return good, f"records are not contiguous: record {seq} came again where {expected} was due"
        if len(raw) > max_record_bytes:
            return good, f"record {seq} is {len(raw)} bytes; a record is at most {max_record_bytes}"
        stream = io.BytesIO(raw)
        try:
            value = cbor2.CBORDecoder(stream).decode()
        except Exception as exc:  # cbor2 raises several kinds for bad bytes; all mean "not CBOR"
            return good, f"record {seq} is not CBOR ({exc})"
        if stream.tell() != len(raw):
            return good, f"record {seq} is not one CBOR item: {len(raw) - stream.tell()} bytes follow it"
        if not isinstance(value, dict) or value.get(1) != seq or type(value.get(1)) is not int:
            return good, f"record {seq} is not a journal record carrying its sequence number " \
                         "(a CBOR map with key 1 = seq)"
        good.append((seq, raw))
        expected += 1
    return good, None
