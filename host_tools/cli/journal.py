"""`kassa journal dump DIR` and `kassa journal verify DIR --key FILE --till-id ID [--seen SEQ:TAG]`."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from host_tools.hodata import journal_reader as jr
from host_tools.hodata.record_names import named_body
from host_tools.cli import command_group
from till.formats import identity


def register(sub: argparse._SubParsersAction) -> None:
    jsub = command_group(sub, "journal", "inspect a till's sales journal")

    d = jsub.add_parser("dump", help="print every record as a JSON line (bytes in hex)")
    d.add_argument("directory", type=Path)
    d.add_argument("--headers", action="store_true", help="also print segment headers")
    d.add_argument("--names", action="store_true",
                   help="bodies with their field names (docs/records.md) instead of numbers")
    d.set_defaults(func=dump)

    v = jsub.add_parser(
        "verify", help="check headers, sequence, chain and rollback against what HO knows;"
        " exit 0 ok, 1 problems (listed), 2 bad arguments")
    v.add_argument("directory", type=Path)
    v.add_argument("--key", "--key-file", dest="key_file", metavar="FILE", type=Path, required=True,
                   help="the till secret HO holds (hex or raw bytes)")
    v.add_argument("--till-id", metavar="ID", required=True,
                   help="the till's id as HO registered it (never taken from the journal)")
    v.add_argument("--seen", metavar="SEQ:TAGHEX",
                   help="the newest record HO has already seen: its sequence number and tag"
                   " in hex; a journal that ends before it or holds another tag there is reported")
    v.set_defaults(func=verify)


def _check_dir(directory: Path, journal_only: bool = False) -> str | None:
    """Why `directory` is not a journal directory, or None. With journal_only, a
    directory holding only the processed mark still is one (its segments were
    removed: verify reports that)."""
    if not directory.is_dir():
        return f"{directory} is not a directory"
    try:
        if jr.segment_paths(directory):
            return None
    except OSError as exc:
        return f"cannot list {directory}: {exc.strerror or exc}"
    if journal_only and (directory / jr.PROCESSED_FILE).exists():
        return None
    return f"{directory} holds no journal segments (seg*.cbs)"


def dump(args: argparse.Namespace) -> int:
    problem = _check_dir(args.directory)
    if problem:
        print(f"kassa journal dump: {problem}", file=sys.stderr)
        return 2
    status = 0
    for path in jr.segment_paths(args.directory):
        for n, item in enumerate(jr.read_segment(path)):
            if item.error:
                print(f"kassa journal dump: {path.name}: {item.error}", file=sys.stderr)
                status = 1
                continue
            if n == 0:
                if args.headers:
                    print(json.dumps({"segment": path.name, "header": jr.to_json(item.value)}, default=repr))
                continue
            print(json.dumps(_record_json(item, args.names), default=repr))  # repr: CBOR tags, undefined
    return status


def _record_json(item: jr.Item, names: bool = False) -> dict:
    rec = item.value
    if not isinstance(rec, dict):
        return {"segment": item.segment, "offset": item.offset, "value": jr.to_json(rec)}
    out = {
        "seq": jr.to_json(rec.get(1)),
        "time": _iso_time(rec.get(2)),
        "kind": jr.KIND_NAMES.get(rec[3], rec[3]) if type(rec.get(3)) is int else jr.to_json(rec.get(3)),
        "flags": jr.to_json(rec.get(5, 0)),
        "body": named_body(rec.get(3), rec.get(4)) if names else jr.to_json(rec.get(4)),
        "tag": jr.to_json(rec.get(6)),
        "segment": item.segment,
        "offset": item.offset,
    }
    return out


def _parse_seen(text: str) -> tuple[int, bytes]:
    seq_text, sep, tag_hex = text.partition(":")
    try:
        seq, tag = int(seq_text), bytes.fromhex(tag_hex)
    except ValueError:
        seq, tag = 0, b""
    if not sep or seq < 1 or len(tag) != jr.TAG_BYTES:
        raise ValueError(f"--seen {text!r} is not SEQ:TAGHEX (a sequence number from 1, a colon,"
                         f" then the record's {jr.TAG_BYTES}-byte tag as {2 * jr.TAG_BYTES} hex"
                         " digits, as HO stored them)")
    return seq, tag


def _iso_time(when: object) -> str | None:
    """Record time as ISO text; None when unset (0) or not a usable time (damage)."""
    if type(when) is not int or not when:
        return None
    try:
        return datetime.fromtimestamp(when, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def verify(args: argparse.Namespace) -> int:
    problem = _check_dir(args.directory, journal_only=True)
    try:
        if problem:
            raise ValueError(problem)
        identity.check_till_id(args.till_id)
        seen = _parse_seen(args.seen) if args.seen is not None else None
        key = jr.load_key(args.key_file)
    except identity.IdentityError as exc:
        return _usage_error(str(exc))
    except FileNotFoundError:
        return _usage_error(f"key file {args.key_file} not found: pass the till secret HO keeps"
                            " (kassa flash wrote it to keys/)")
    except (OSError, ValueError) as exc:
        return _usage_error(str(exc))
    report = jr.verify(args.directory, key, args.till_id, seen)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
    print(f"{report.segments} segments, {report.records} records "
          f"(seq {report.first_seq} to {report.last_seq}), processed up to {report.processed}: {kinds}")
    if report.errors:
        print(f"FAILED: {len(report.errors)} problems; first bad: {report.errors[0]}")
        for err in report.errors[1:50]:
            print(f"  also: {err}")
        if len(report.errors) > 50:
            print(f"  ... and {len(report.errors) - 50} more")
        return 1
    if report.last_tag is not None:
        print(f"last record: --seen {report.last_seq}:{report.last_tag.hex()}")
    print(f"OK: journal of {args.till_id}: headers, sequence and every chain tag verify")
    return 0


def _usage_error(message: str) -> int:
    print(f"kassa journal verify: {message}", file=sys.stderr)
    return 2
