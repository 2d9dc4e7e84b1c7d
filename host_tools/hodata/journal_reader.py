"""Read and verify a till's journal on the host, independently of the device code.

This is what head office runs on a journal copied off a till, and what the relay's
processing of uploaded records shares (`verify_record`, `chain_anchor`): cbor2
decodes the segments, Python's hmac recomputes every chain tag over the cbor2
canonical re-encoding. Because it shares no code with firmware/till/formats/journal.py,
it also checks the till's encoder against a real peer. The format is
docs/journal.cddl; docs/journal.md "The host verifier" says what is checked.

Trust: the journal is the thing under test, so nothing in it decides how it is
checked. The till's id comes from HO (an argument), the first record chains to an
anchor derived from that id, every segment header field is required and must say
what HO and the records around it already say, and the last (sequence, tag) HO has
seen shows a journal that was rolled back. A header only supplies the previous tag
where nothing else can: at the oldest segment still on the till, after older ones
were freed, and even there the first record's own tag must verify against it.
"""
from __future__ import annotations

import hmac
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, TypeGuard

import cbor2

from till.formats.identity import till_id_error

TAG_BYTES = 16
FORMAT_VERSION = 1
SEGMENT_RE = re.compile(r"^seg(\d{10})\.cbs$")
PROCESSED_FILE = "processed"  # one CBOR uint: the highest seq HO acknowledged
KIND_NAMES = {1: "sale", 2: "storno", 3: "no-sale", 4: "closing", 5: "config", 6: "event", 7: "ack",
              8: "cash"}
# Record and header map keys (docs/journal.cddl).
K_SEQ, K_TIME, K_KIND, K_BODY, K_FLAGS, K_TAG = 1, 2, 3, 4, 5, 6
RECORD_KEYS = {K_SEQ, K_TIME, K_KIND, K_BODY, K_FLAGS, K_TAG}
REQUIRED_RECORD_KEYS = (K_SEQ, K_TIME, K_KIND, K_BODY, K_TAG)
H_FORMAT, H_TILL, H_FIRST, H_PREV = 20, 21, 22, 23
HEADER_FIELDS = {H_FORMAT: "format", H_TILL: "till id", H_FIRST: "first record",
                 H_PREV: "previous tag"}
MAX_FLAGS = 3  # bit 0 clock not set, bit 1 training
# cbor2 raises these for bytes that do not decode (RecursionError: nesting too
# deep; OverflowError/MemoryError: absurd lengths in damaged or forged bytes).
DECODE_ERRORS = (cbor2.CBORDecodeError, ValueError, RecursionError, OverflowError, MemoryError)
ENCODE_ERRORS = (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError, OverflowError)


@dataclass
class Item:
    segment: str
    offset: int
    value: Any = None
    raw: bytes = b""
    error: str | None = None  # set when the bytes at offset do not decode


BAD_TAG = "chain tag does not verify"
KEY_BYTES = 32  # a till's secret (till.formats.identity.SECRET_BYTES)

@dataclass
class VerifyReport:
    """What verify() found. errors: every problem, each with its position
    (segment file, byte offset, record); empty means the journal verifies.
    last_seq/last_tag: the newest well-formed record, what HO passes as `seen`
    next time. processed: the journal's processed mark (0 when it has none)."""
    segments: int = 0
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_tag: bytes | None = None
    processed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    key_fits: bool = True  # False: not one chain tag verified (wrong key or till id)


def segment_paths(directory: Path) -> list[Path]:
    found = [p for p in directory.iterdir() if SEGMENT_RE.match(p.name)]
    return sorted(found, key=_segment_first)


def _segment_first(path: Path) -> int:
    match = SEGMENT_RE.match(path.name)
    assert match is not None  # segment_paths lists only matching names
    return int(match.group(1))


def read_segment(path: Path) -> Iterator[Item]:
    """Yield every item of a segment; an undecodable rest, or a file that cannot
    be read at all, becomes one error item."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Item(path.name, 0, error=f"cannot read the file: {exc.strerror or exc}")
        return
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            value = cbor2.CBORDecoder(stream).decode()
        except cbor2.CBORDecodeEOF:
            yield Item(path.name, start, raw=data[start:],
                       error=f"record torn off at byte {start} ({len(data) - start} bytes)")
            return
        except DECODE_ERRORS as exc:
            yield Item(path.name, start, raw=data[start:],
                       error=f"undecodable bytes at {start}: {type(exc).__name__}: {exc}")
            return
        yield Item(path.name, start, value, data[start:stream.tell()])


def chain_anchor(till_id: str) -> bytes:
    """The previous tag before a till's first record: the till id as UTF-8.

    It comes from the till id HO registered, never from a segment header, so a
    stripped or edited header cannot make a forged first record verify."""
    return till_id.encode("utf-8")


def signing_bytes(record: dict[int, Any]) -> bytes:
    """What a record's tag covers: its canonical CBOR without the tag (key 6)."""
    return cbor2.dumps({k: v for k, v in record.items() if k != K_TAG}, canonical=True)


def tag_for(key: bytes, prev: bytes, record: dict[int, Any]) -> bytes:
    """The tag the till computes: HMAC-SHA256(key, prev || signing bytes)[:16]."""
    return hmac.new(key, prev + signing_bytes(record), sha256).digest()[:TAG_BYTES]


def _is_uint(x: Any) -> TypeGuard[int]:
    # bool is an int subclass in Python, never a number in a record
    return type(x) is int and x >= 0


def _describe(x: Any) -> str:
    """A value as a person reading a problem list wants it: type and a short repr."""
    names = {bytes: "a byte string", str: "text", bool: "a boolean", list: "an array",
             dict: "a map", float: "a float", type(None): "null", int: "an integer"}
    text = repr(x)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{names.get(type(x), type(x).__name__)} ({text})"


def _record_problems(record: Any, key: bytes, prev_tag: bytes | None, till_id: str,
                     expected_seq: int, raw: bytes | None) -> list[str]:
    """verify_record's checks; prev_tag None: the previous tag is unknown after
    damage already reported, so only the record's own shape is checked."""
    if not isinstance(record, dict):
        return [f"not a journal record: {_describe(record)} instead of a map"]
    out = []
    unknown = [k for k in record if k not in RECORD_KEYS]
    if unknown:
        out.append(f"unknown record field {unknown[0]!r}")
    out += [f"record field {k} missing" for k in REQUIRED_RECORD_KEYS if k not in record]
    seq = record.get(K_SEQ)
    if K_SEQ in record:
        if not _is_uint(seq) or seq < 1:
            out.append(f"sequence number is {_describe(seq)}, not a positive integer")
        elif seq != expected_seq:
            out.append(f"expected record {expected_seq}")
    if K_TIME in record and not _is_uint(record[K_TIME]):
        out.append(f"time is {_describe(record[K_TIME])}, not Unix seconds")
    kind = record.get(K_KIND)
    if K_KIND in record and (type(kind) is not int or kind not in KIND_NAMES):
        out.append(f"kind is {_describe(kind)}, not one of {sorted(KIND_NAMES)}")
    if K_BODY in record and not isinstance(record[K_BODY], dict):
        out.append(f"body is {_describe(record[K_BODY])}, not a map")
    if K_FLAGS in record and (not _is_uint(record[K_FLAGS]) or record[K_FLAGS] > MAX_FLAGS):
        out.append(f"flags are {_describe(record[K_FLAGS])}, not an integer 0 to {MAX_FLAGS}")
    tag = record.get(K_TAG)
    tag_ok = type(tag) is bytes and len(tag) == TAG_BYTES
    if K_TAG in record and not tag_ok:
        out.append(f"tag is {_describe(tag)}, not {TAG_BYTES} bytes")
    if raw is not None or tag_ok:
        try:
            canonical = cbor2.dumps(record, canonical=True)
            signed = signing_bytes(record)
        except ENCODE_ERRORS as exc:
            return out + [f"record cannot be re-encoded: {exc}"]
        if raw is not None and raw != canonical:
            out.append("not in deterministic encoding")
        if expected_seq == 1:
            # The very first record chains to HO's till id, whatever the caller
            # (or a header) offers as the previous tag.
            prev_tag = chain_anchor(till_id)
        if isinstance(tag, bytes) and tag_ok and prev_tag is not None:
            want = hmac.new(key, prev_tag + signed, sha256).digest()[:TAG_BYTES]
            if not hmac.compare_digest(want, tag):
                out.append(BAD_TAG)
    return out


def verify_record(record: dict, key: bytes, prev_tag: bytes, till_id: str,
                  expected_seq: int, *, raw: bytes | None = None) -> list[str]:
    """Check one decoded journal record; return its problems (empty: good).

    Checks every field's type (seq, time and flags unsigned integers, kind a known
    kind, body a map, tag 16 bytes, no unknown field), that it is record
    `expected_seq`, and its chain tag over `prev_tag` with `key`. For record 1
    the previous tag is always chain_anchor(till_id): the till's identity comes
    from HO, never from what the caller read next to the record. `raw`, when
    given, is the bytes the record was decoded from; they must be its
    deterministic encoding. The problems say what is wrong without a position:
    the caller knows where the record came from. Never raises on any decoded
    value."""
    return _record_problems(record, key, prev_tag, till_id, expected_seq, raw)


def _header_problems(header: Any, raw: bytes, till_id: str, first: int,
                     want_prev: bytes | None) -> list[str]:
    """Every header field is required and must agree with HO and the file name;
    want_prev: the previous tag the header must carry, None where only the
    header knows it (the oldest segment left after older ones were freed)."""
    if not isinstance(header, dict):
        return [f"segment header is {_describe(header)}, not a map"]
    out = [f"segment header has no {name} (field {k})"
           for k, name in HEADER_FIELDS.items() if k not in header]
    unknown = [k for k in header if k not in HEADER_FIELDS]
    if unknown:
        out.append(f"unknown segment header field {unknown[0]!r}")
    if H_FORMAT in header and not (type(header[H_FORMAT]) is int
                                   and header[H_FORMAT] == FORMAT_VERSION):  # True == 1
        out.append(f"journal format is {_describe(header[H_FORMAT])}, not {FORMAT_VERSION}")
    if H_TILL in header and header[H_TILL] != till_id:
        out.append(f"segment belongs to till {_describe(header[H_TILL])}, not {till_id!r}")
    if H_FIRST in header and (not _is_uint(header[H_FIRST]) or header[H_FIRST] != first):
        out.append(f"header says first record {_describe(header[H_FIRST])}, file name says {first}")
    if H_PREV in header:
        prev = header[H_PREV]
        if type(prev) is not bytes or (first > 1 and len(prev) != TAG_BYTES):
            out.append(f"previous tag is {_describe(prev)}, not {TAG_BYTES} bytes")
        elif want_prev is not None and prev != want_prev:
            out.append("segment does not chain to the record before it"
                       if first > 1 else "first segment does not chain to the till id")
    if not out:
        try:
            if raw != cbor2.dumps(header, canonical=True):
                out.append("segment header not in deterministic encoding")
        except ENCODE_ERRORS as exc:
            out.append(f"segment header cannot be re-encoded: {exc}")
    return out


def _read_processed(directory: Path, report: VerifyReport) -> None:
    path = directory / PROCESSED_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        report.errors.append(f"{PROCESSED_FILE}: unreadable: {exc}")
        return
    try:
        value = cbor2.loads(data)
        whole = cbor2.dumps(value, canonical=True) == data
    except DECODE_ERRORS + ENCODE_ERRORS:
        value, whole = None, False
    if not _is_uint(value) or not whole:
        # The till writes it by tmp + rename, so a bad one is damage or an edit.
        report.errors.append(f"{PROCESSED_FILE}: processed mark is not one CBOR integer")
        return
    report.processed = value


def verify(directory: Path, key: bytes, till_id: str,
           seen: tuple[int, bytes] | None = None) -> VerifyReport:
    """Verify the journal in `directory` of till `till_id` (HO's registration)
    with its secret `key`; collect every problem with its position.

    Checks each segment header field against HO's till id, the file name and the
    chain, every record (verify_record), gaps between segments, the processed
    mark (records above it may not be missing, and the journal may not end
    before it), and, with seen = (seq, tag) the newest record HO has already
    seen, that the journal still holds that record with that tag or chains on
    from it, and does not end before it (a rollback). ValueError for an invalid
    till id or seen; everything wrong in the journal is a report error."""
    why = till_id_error(till_id)
    if why is not None:
        raise ValueError(f"till id {till_id!r} is not valid: {why}")
    if seen is not None and (not _is_uint(seen[0]) or seen[0] < 1 or type(seen[1]) is not bytes
                             or len(seen[1]) != TAG_BYTES):
        raise ValueError("seen must be (sequence number >= 1, tag of 16 bytes)")
    report = VerifyReport()
    _read_processed(directory, report)
    prev: bytes | None = None  # the tag the next record chains to; None: unknown
    expected: int | None = None  # the next sequence number; None before any segment
    seen_found = False
    bad_tags = 0
    for path in segment_paths(directory):
        report.segments += 1
        first = _segment_first(path)
        if first < 1:
            report.errors.append(f"{path.name} byte 0: not a segment name (records start at 1)")
            continue
        if expected is None:
            want_prev = _oldest_segment_checks(report, path.name, first, till_id, seen)
        else:
            if first > expected:
                report.errors.append(f"{path.name} byte 0: records {expected} to {first - 1} missing")
            elif first < expected:
                report.errors.append(f"{path.name} byte 0: segment repeats records from {first}")
            want_prev = prev if first == expected else None
        items = read_segment(path)
        header = next(items, None)
        if header is None or header.error:
            what = header.error if header else "empty file"
            report.errors.append(f"{path.name} byte 0: segment header missing or unreadable: {what}")
            prev = want_prev
        else:
            problems = _header_problems(header.value, header.raw, till_id, first, want_prev)
            report.errors += [f"{path.name} byte 0: {p}" for p in problems]
            if want_prev is not None:
                prev = want_prev  # the chain itself, not the header, decides
            elif not problems:
                prev = header.value[H_PREV]  # only the header knows it
            else:
                prev = None
        expected = first
        for item in items:
            if item.error:
                report.errors.append(f"{item.segment} byte {item.offset}: {item.error}")
                break
            rec = item.value
            seq = rec.get(K_SEQ) if isinstance(rec, dict) else None
            if not (_is_uint(seq) and seq >= 1):
                seq = None
            where = (f"record {seq} ({item.segment} byte {item.offset})" if seq is not None
                     else f"{item.segment} byte {item.offset} (expected record {expected})")
            for p in _record_problems(rec, key, prev, till_id, expected, item.raw):
                report.errors.append(f"{where}: {p}")
                bad_tags += p == BAD_TAG
            tag = rec.get(K_TAG) if isinstance(rec, dict) else None
            tag = tag if type(tag) is bytes and len(tag) == TAG_BYTES else None
            if seen is not None and seq == seen[0]:
                seen_found = True
                if tag != seen[1]:
                    report.errors.append(f"{where}: HO has seen record {seen[0]} with another"
                                         " tag: the journal was rewritten")
            # A bad record costs one problem: the chain goes on from its tag
            # (an edited record keeps the tag the next one was made over).
            prev = tag
            expected = (seq if seq is not None else expected) + 1
            report.records += 1
            if seq is not None and tag is not None:
                report.first_seq = seq if report.first_seq is None else report.first_seq
                report.last_seq, report.last_tag = seq, tag
            kind = rec.get(K_KIND) if isinstance(rec, dict) else None
            if type(kind) is int and kind in KIND_NAMES:
                report.kinds[KIND_NAMES[kind]] = report.kinds.get(KIND_NAMES[kind], 0) + 1
    _end_checks(report, expected, seen, seen_found)
    if report.records and bad_tags == report.records:
        # Not one tag verifies: the key or the till id does not fit this
        # journal. One line saying so, not every record called tampered.
        report.key_fits = False
        report.errors = [e for e in report.errors if not e.endswith(": " + BAD_TAG)]
        report.errors.insert(0, f"(journal): the key does not fit this till's records: not one of"
                                f" {report.records} chain tags verifies. Check that the key file"
                                f" is this till's secret and the till id is {till_id}")
    return report


def _oldest_segment_checks(report: VerifyReport, name: str, first: int, till_id: str,
                           seen: tuple[int, bytes] | None) -> bytes | None:
    """What may precede the oldest segment on the till: only records HO has
    processed (and seen). Returns the previous tag its header must carry, or
    None when only the header knows it."""
    covered = report.processed if seen is None else min(report.processed, seen[0])
    if first - 1 > covered:
        why = f"the processed mark is {report.processed}"
        if seen is not None:
            why += f", HO has seen up to {seen[0]}"
        report.errors.append(f"{name} byte 0: records {covered + 1} to {first - 1} missing"
                             f" before the oldest segment ({why})")
    if first == 1:
        return chain_anchor(till_id)
    if seen is not None and seen[0] == first - 1:
        return seen[1]
    return None


def _end_checks(report: VerifyReport, expected: int | None, seen: tuple[int, bytes] | None,
                seen_found: bool) -> None:
    """A journal that ends before what the till or HO already knew was cut off."""
    last = expected - 1 if expected is not None else 0
    if expected is None and (report.processed or seen is not None):
        report.errors.append("(journal): no segments on flash, though records were processed"
                             " or seen by HO")
        return
    if last < report.processed:
        report.errors.append(f"(journal): ends at record {last}, but its processed mark"
                             f" is {report.processed}")
    if seen is not None:
        if last < seen[0]:
            report.errors.append(f"(journal): ends at record {last}, but HO has seen up to"
                                 f" {seen[0]}: records were cut off (rolled back)")
        elif not seen_found and report.first_seq is not None and report.first_seq <= seen[0]:
            report.errors.append(f"(journal): record {seen[0]}, which HO has seen, is not in it")
        if report.processed > seen[0]:
            report.errors.append(f"{PROCESSED_FILE}: processed mark {report.processed} is past"
                                 f" the last record HO has seen ({seen[0]})")


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
    if not data:
        raise ValueError(f"{path}: the key file is empty")
    key = bytes.fromhex(text.decode("ascii")) if _is_hex(text) else data
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: a till's secret is {KEY_BYTES} bytes ({2 * KEY_BYTES} hex"
                         f" digits); this key file holds {len(key)} bytes")
    return key


def _is_hex(text: bytes) -> bool:
    try:
        bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return bool(text) and len(text) % 2 == 0
