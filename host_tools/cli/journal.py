"""`kassa journal dump DIR` and `kassa journal verify DIR --key-file FILE`."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from host_tools.hodata import journal_reader as jr
from host_tools.cli import command_group


def register(sub: argparse._SubParsersAction) -> None:
    jsub = command_group(sub, "journal", "inspect a till's sales journal")

    d = jsub.add_parser("dump", help="print every record as a JSON line (bytes in hex)")
    d.add_argument("directory", type=Path)
    d.add_argument("--headers", action="store_true", help="also print segment headers")
    d.set_defaults(func=dump)

    v = jsub.add_parser("verify", help="check sequence and chain; exit 1 naming the first bad record")
    v.add_argument("directory", type=Path)
    v.add_argument("--key-file", type=Path, required=True, help="the till secret (hex or raw bytes)")
    v.add_argument("--till-id", help="expected till id (default: the one in the first segment)")
    v.set_defaults(func=verify)


def _check_dir(directory: Path) -> str | None:
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not jr.segment_paths(directory):
        return f"{directory} holds no journal segments (seg*.cbs)"
    return None


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
                    print(json.dumps({"segment": path.name, "header": jr.to_json(item.value)}))
                continue
            print(json.dumps(_record_json(item)))
    return status


def _record_json(item: jr.Item) -> dict:
    rec = item.value
    if not isinstance(rec, dict):
        return {"segment": item.segment, "offset": item.offset, "value": jr.to_json(rec)}
    when = rec.get(2)
    out = {
        "seq": rec.get(1),
        "time": datetime.fromtimestamp(when, timezone.utc).isoformat() if isinstance(when, int) and when else None,
        "kind": jr.KIND_NAMES.get(rec[3], rec[3]) if isinstance(rec.get(3), int) else rec.get(3),
        "flags": rec.get(5, 0),
        "body": jr.to_json(rec.get(4)),
        "tag": jr.to_json(rec.get(6)),
        "segment": item.segment,
        "offset": item.offset,
    }
    return out


def verify(args: argparse.Namespace) -> int:
    problem = _check_dir(args.directory)
    if problem:
        print(f"kassa journal verify: {problem}", file=sys.stderr)
        return 2
    try:
        key = jr.load_key(args.key_file)
    except (OSError, ValueError) as exc:
        print(f"kassa journal verify: cannot read the key: {exc}", file=sys.stderr)
        return 2
    report = jr.verify(args.directory, key, args.till_id)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
    print(f"{report.segments} segments, {report.records} records "
          f"(seq {report.first_seq} to {report.last_seq}): {kinds}")
    if report.errors:
        print(f"FAILED: first bad: {report.errors[0]}")
        for err in report.errors[1:10]:
            print(f"  also: {err}")
        if len(report.errors) > 10:
            print(f"  ... and {len(report.errors) - 10} more")
        return 1
    print("OK: sequence gap-free and every chain tag verifies")
    return 0
