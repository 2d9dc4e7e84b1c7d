"""`kassa snapshot build|package|delta|show`: head office's snapshots for tills.

    kassa snapshot build --items items.csv --config store.json --version 7 --out snap-7
    kassa snapshot package snap-7 --out snap-7.pkg
    kassa snapshot delta --base snap-6 --new snap-7 --out 6-to-7.pkg
    kassa snapshot delta --base snap-7 --changes prices.csv --version 8 --new-dir snap-8 --out 7-to-8.pkg
    kassa snapshot show snap-7.pkg
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from host_tools.hodata import snapshot_builder as sb
from host_tools.cli import command_group


def register(sub: argparse._SubParsersAction) -> None:
    ssub = command_group(sub, "snapshot", "build head-office snapshots and packages for tills")

    b = ssub.add_parser("build", help="validate items and store setup; write a snapshot directory")
    b.add_argument("--items", type=Path, required=True, help="items as .csv or .json")
    b.add_argument("--config", type=Path, required=True, help="store setup JSON")
    b.add_argument("--version", type=int, required=True, help="snapshot version (rises with every change)")
    b.add_argument("--out", type=Path, required=True, help="new snapshot directory to write")
    b.add_argument("--package", type=Path, help="also write the full package for the till here")
    b.add_argument("--hash-pins", action="store_true",
                   help="hash plain PINs in the config (setup only; the till never gets them)")
    b.add_argument("--pin-iterations", type=int, default=sb.DEFAULT_PIN_ITERATIONS,
                   help="PBKDF2 iterations for --hash-pins (default %(default)s)")
    b.add_argument("--created", type=int, help="creation time, Unix seconds (default: now)")
    b.add_argument("--allow-empty", action="store_true",
                   help="build a catalog with no items (it empties every till that applies it)")
    b.set_defaults(func=build)

    k = ssub.add_parser("package", help="write the full package of a snapshot directory")
    k.add_argument("directory", type=Path)
    k.add_argument("--out", type=Path, required=True)
    k.set_defaults(func=package)

    d = ssub.add_parser("delta", help="write a delta package from a base snapshot to a new one")
    d.add_argument("--base", type=Path, required=True, help="snapshot directory the till has")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--new", type=Path, help="snapshot directory the till should get")
    src.add_argument("--changes", type=Path,
                     help="changes as .csv/.json: an 'action' column (set/remove) and item columns")
    d.add_argument("--version", type=int, help="with --changes: the new version")
    d.add_argument("--new-dir", type=Path, help="with --changes: where to write the new snapshot")
    d.add_argument("--config", type=Path, help="with --changes: new store setup (default: the base's)")
    d.add_argument("--created", type=int, help="with --changes: creation time, Unix seconds")
    d.add_argument("--allow-empty", action="store_true",
                   help="with --changes: allow removing every item")
    d.add_argument("--out", type=Path, required=True, help="delta package to write")
    d.set_defaults(func=delta)

    s = ssub.add_parser("show", help="summarise a snapshot directory or package as JSON")
    s.add_argument("path", type=Path)
    s.set_defaults(func=show)


def _fail(action: str, err: sb.BuildError) -> int:
    print(f"kassa snapshot {action}: refused, nothing written:", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _report(result: sb.BuildResult) -> None:
    print(f"snapshot {result.version}: {result.items} items, {result.gtins} barcodes, "
          f"hash {result.hash.hex()} -> {result.path}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def build(args: argparse.Namespace) -> int:
    try:
        config = sb.load_config(args.config, args.hash_pins, args.pin_iterations)
        items = sb.load_items(args.items, config)
        result = sb.build(items, config, args.version, args.out, args.created,
                          allow_empty=args.allow_empty)
    except sb.BuildError as err:
        return _fail("build", err)
    _report(result)
    if args.package:
        try:
            sb.write_full_package(args.out, args.package)
        except OSError as exc:
            print(f"kassa snapshot build: the snapshot is in {args.out}, but the package "
                  f"{args.package} could not be written: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"full package: {args.package} ({args.package.stat().st_size} bytes)")
    return 0


def package(args: argparse.Namespace) -> int:
    try:
        sb.write_full_package(args.directory, args.out)
    except (OSError, KeyError) as exc:
        print(f"kassa snapshot package: {args.directory} is not a complete snapshot: {exc}",
              file=sys.stderr)
        return 1
    print(f"full package: {args.out} ({args.out.stat().st_size} bytes)")
    return 0


def delta(args: argparse.Namespace) -> int:
    new = args.new
    try:
        if args.changes is not None:
            if args.version is None or args.new_dir is None:
                raise sb.BuildError(["--changes needs --version and --new-dir (the new snapshot "
                                     "is the base of the next update)"])
            base_meta, base_items = sb.read_dir(args.base)
            config = sb.load_config(args.config) if args.config else sb.config_of(base_meta)
            items = sb.apply_changes(base_items, args.changes, config)
            result = sb.build(items, config, args.version, args.new_dir, args.created,
                              base=base_meta["version"], allow_empty=args.allow_empty)
            _report(result)
            new = args.new_dir
        n_items, n_gtins = sb.write_delta_package(args.base, new, args.out)
    except sb.BuildError as err:
        if args.changes is not None and args.new_dir is not None and new == args.new_dir:
            shutil.rmtree(args.new_dir, ignore_errors=True)
        args.out.unlink(missing_ok=True)
        return _fail("delta", err)
    print(f"delta package: {args.out} ({args.out.stat().st_size} bytes, {n_items} item and "
          f"{n_gtins} barcode changes)")
    return 0


def show(args: argparse.Namespace) -> int:
    try:
        info = sb.describe(args.path)
    except sb.BuildError as err:
        return _fail("show", err)
    except (OSError, KeyError, ValueError) as exc:
        print(f"kassa snapshot show: {args.path}: not a snapshot or package ({exc})", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0
