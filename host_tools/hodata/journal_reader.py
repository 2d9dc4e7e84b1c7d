"""Read and verify a till's journal on the host, independently of the device code.

This is what head office runs on a journal copied off a till (or on the records a
gateway uploads): cbor2 decodes the segments, Python's hmac recomputes every chain
tag over the cbor2 canonical re-encoding. Because it shares no code with
firmware/till/formats/journal.py, it also checks the till's encoder against a real peer.
The format is docs/journal.cddl.
"""
from __future__ import annotations

import hmac
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import cbor2

TAG_BYTES = 16
SEGMENT_RE = re.compile(r"^seg(\d{10})\.cbs$")
KIND_NAMES = {1: "sale", 2: "storno", 3: "no-sale", 4: "closing", 5: "config", 6: "event", 7: "ack"}
RECORD_KEYS = {1, 2, 3, 4, 5, 6}


@dataclass
class Item:
    segment: str
    offset: int
    value: Any = None
    raw: bytes = b""
    error: str | None = None  # set when the bytes at offset do not decode


@dataclass
class VerifyReport:
    segments: int = 0
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    kinds: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def segment_paths(directory: Path) -> list[Path]:
    found = [p for p in directory.iterdir() if SEGMENT_RE.match(p.name)]
    return sorted(found, key=lambda p: int(SEGMENT_RE.match(p.name).group(1)))  # type: ignore[union-attr]


def read_segment(path: Path) -> Iterator[Item]:
    """Yield every item of a segment; an undecodable rest becomes one error item."""
    data = path.read_bytes()
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            value = cbor2.CBORDecoder(stream).decode()
        except cbor2.CBORDecodeEOF:
            yield Item(path.name, start, raw=data[start:],
                       error=f"record torn off at byte {start} ({len(data) - start} bytes)")
            return
        except (cbor2.CBORDecodeError, ValueError) as exc:
            yield Item(path.name, start, raw=data[start:], error=f"undecodable bytes at {start}: {exc}")
            return
        yield Item(path.name, start, value, data[start:stream.tell()])


def signing_bytes(record: dict[int, Any]) -> bytes:
    return cbor2.dumps({k: v for k, v in record.items() if k != 6}, canonical=True)


def tag_for(key: bytes, prev: bytes, record: dict[int, Any]) -> bytes:
    return hmac.new(key, prev + signing_bytes(record), sha256).digest()[:TAG_BYTES]


def verify(directory: Path, key: bytes, till_id: str | None = None) -> VerifyReport:
    """Check headers, sequence and chain; collect every error with its position."""
    report = VerifyReport()
    prev: bytes | None = None
    expected: int | None = None
    for path in segment_paths(directory):
        report.segments += 1
        first = int(SEGMENT_RE.match(path.name).group(1))  # type: ignore[union-attr]
        items = read_segment(path)
        header = next(items, None)
        if header is None or header.error or not isinstance(header.value, dict) \
                or header.value.get(20) != 1:
            report.errors.append(f"{path.name} byte 0: segment header missing or unreadable")
            prev = None
        else:
            h = header.value
            if till_id is None:
                till_id = h.get(21)
            if h.get(21) != till_id:
                report.errors.append(f"{path.name} byte 0: segment belongs to till {h.get(21)!r}")
            if h.get(22) != first:
                report.errors.append(f"{path.name} byte 0: header says first record {h.get(22)}")
            if expected is not None and first != expected:
                report.errors.append(f"{path.name} byte 0: records {expected} to {first - 1} missing")
            elif prev is not None and h.get(23) != prev:
                report.errors.append(f"{path.name} byte 0: segment does not chain to the one before")
            prev = h.get(23)
            if expected is None and first == 1 and till_id is not None and prev != till_id.encode():
                report.errors.append(f"{path.name} byte 0: first record does not chain to the till id")
            expected = first
        for item in items:
            where = f"{item.segment} byte {item.offset}"
            if item.error:
                report.errors.append(f"{where}: {item.error}")
                break
            rec = item.value
            if not isinstance(rec, dict) or not {1, 2, 3, 4, 6} <= set(rec) or set(rec) - RECORD_KEYS:
                report.errors.append(f"{where}: not a journal record")
                prev = None
                continue
            seq = rec[1]
            if item.raw != cbor2.dumps(rec, canonical=True):
                report.errors.append(f"record {seq} ({where}): not in deterministic encoding")
            if expected is not None and seq != expected:
                report.errors.append(f"record {seq} ({where}): expected record {expected}")
            if prev is not None and not hmac.compare_digest(tag_for(key, prev, rec), rec[6]):
                report.errors.append(f"record {seq} ({where}): chain tag does not verify")
            prev = rec[6]
            expected = seq + 1
            report.records += 1
            report.first_seq = seq if report.first_seq is None else report.first_seq
            report.last_seq = seq
            kind = KIND_NAMES.get(rec[3], f"kind-{rec[3]}")
            report.kinds[kind] = report.kinds.get(kind, 0) + 1
    return report


def to_json(value: Any) -> Any:
    """CBOR values as JSON: bytes in hex, map keys as strings."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def load_key(path: Path) -> bytes:
    """A key file holds the till secret as hex text, or as raw bytes."""
    data = path.read_bytes()
    text = data.strip()
    try:
        if text and len(text) % 2 == 0:
            return bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        pass
    if not data:
        raise ValueError(f"{path}: the key file is empty")
    return data
