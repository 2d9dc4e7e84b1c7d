"""`kassa ho publish`, `kassa ho pictures ...` and `kassa ho sent`: HO to sites
(docs/relay-publish.md), run against the relay's database like every
`kassa ho` command.

    kassa ho publish --snapshot snap-7 --all                 # full snapshot (a directory or a package)
    kassa ho publish --snapshot snap-8 --base snap-7 --site S001 --site S002   # a delta
    kassa ho publish --logo logo.png --profile printer.json --all
    kassa ho publish --nightly --at 02:00 --source catalog/   # every night, to all sites
    kassa ho pictures pair add shop1 --master /srv/pictures --site S001
    kassa ho pictures run [PAIR]
    kassa ho sent [--site S001] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from host_tools.cli.ho import _actor, _parser, _run, _show, _when
from host_tools.relay.store import Store, StoreError


def register(ho: argparse._SubParsersAction) -> None:
    p = _parser(ho, "publish", "publish a snapshot, a logo or pictures to sites (or every night)", publish_cmd)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--snapshot", type=Path, metavar="PATH",
                      help="a snapshot directory (`kassa snapshot build`) or a package file")
    what.add_argument("--logo", type=Path, metavar="IMAGE", help="a receipt logo (converted for the printer)")
    what.add_argument("--pictures", nargs="?", const="", metavar="PAIR",
                      help="run a picture pair (or all pairs): the same as `kassa ho pictures run`")
    what.add_argument("--nightly", action="store_true",
                      help="keep running; publish a full snapshot of --source to all sites every night")
    p.add_argument("--site", action="append", default=[], metavar="SITE", help="a site to publish to (repeat)")
    p.add_argument("--all", action="store_true", help="publish to every site")
    p.add_argument("--base", type=Path, metavar="DIR",
                   help="with --snapshot DIR: make a delta from this snapshot directory; with a delta "
                        "package: the directory it applies to (default: rebuilt from what HO published)")
    p.add_argument("--width-dots", type=int, help="with --logo: paper width in dots (default 512)")
    p.add_argument("--profile", type=Path, help="with --logo: printer profile JSON (`kassa printer profile`)")
    p.add_argument("--no-dither", action="store_true", help="with --logo: hard threshold (line art)")
    p.add_argument("--at", default="02:00", metavar="HH:MM", help="with --nightly: the local time (default 02:00)")
    p.add_argument("--source", type=Path, metavar="DIR",
                   help="with --nightly: the catalog source folder (items.csv or items.json, and store.json)")
    p.add_argument("--snapshots", type=Path, metavar="DIR", default=Path("snapshots"),
                   help="with --nightly: where the snapshots built are kept (default ./snapshots)")
    p.add_argument("--as", dest="actor", default=None, help="who publishes (default: your login)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    pics = ho.add_parser("pictures", help="product pictures in echo mode: folder pairs and their runs")
    pact = pics.add_subparsers(dest="pictures_command", metavar="ACTION")
    pact.required = True
    pair = pact.add_parser("pair", help="the named folder pairs").add_subparsers(dest="pair_command",
                                                                                 metavar="ACTION")
    pair.required = True
    a = _parser(pair, "add", "add a pair: an HO master folder -> a folder at one site", pair_add)
    a.add_argument("name")
    a.add_argument("--master", type=Path, required=True, help="HO's master folder (never changed by a site)")
    a.add_argument("--site", required=True)
    a.add_argument("--folder", default=None, help="the folder's name at the site (default: pictures)")
    _parser(pair, "list", "the pairs", pair_list, json_out=True)
    r = _parser(pair, "remove", "forget a pair (the site's folder stays as it is)", pair_remove)
    r.add_argument("name")
    n = _parser(pair, "rename", "rename a pair", pair_rename)
    n.add_argument("name")
    n.add_argument("new_name")
    r = _parser(pact, "run", "send what changed in one pair's master folder, or every pair's", pictures_run,
                json_out=True)
    r.add_argument("name", nargs="?", default=None)
    r.add_argument("--as", dest="actor", default=None)
    _parser(pact, "status", "each pair and the summary of its last run", pictures_status, json_out=True)

    s = _parser(ho, "sent", "Sent Data: what HO published, per site and per till", sent_cmd, json_out=True)
    s.add_argument("--site")
    s.add_argument("--status", choices=["UPLOADED", "PROCESSED", "FAILED", "SUPERSEDED"])
    s.add_argument("--limit", type=int, default=100)


def _fail(message: str) -> int:
    print(f"kassa ho publish: {message}", file=sys.stderr)
    return 2


def _say(args: argparse.Namespace, result: dict[str, Any], what: str) -> None:
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
        return
    print(f"published {what} as message {result['message']} ({result['size']:,} bytes, sha256 "
          f"{result['sha256'][:16]}) to {', '.join(result['sites'])}")
    for s in result["superseded"]:
        print(f"  message {s['message']} for {s['site']} is SUPERSEDED (never delivered)")
    for site, why in result["skipped"].items():
        print(f"  NOT sent to {site}: {why}")


def publish_cmd(args: argparse.Namespace) -> int:
    if args.nightly:
        return _nightly(args)
    if args.pictures is not None:
        args.name = args.pictures or None
        return pictures_run(args)
    if args.all == bool(args.site):
        return _fail("name the sites with --site S001 --site S002, or give --all")
    sites = None if args.all else args.site
    if args.snapshot is not None:
        return _run(args, lambda store: _publish_snapshot(args, store, sites))
    return _run(args, lambda store: _publish_logo(args, store, sites))


def _publish_snapshot(args: argparse.Namespace, store: Store, sites: list[str] | None) -> int:
    from host_tools.relay import packages, publish

    path: Path = args.snapshot
    base = args.base
    if path.is_dir():
        data = packages.delta_package(base, path) if base is not None else packages.full_package(path)
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if base is not None and not base.is_dir():
        raise StoreError(f"--base {base} is not a snapshot directory")
    info = packages.check_for_publishing(store, data, base)
    result = publish.publish(store, info["kind"], data, info, sites, _actor(args), version=info["version"])
    what = f"{info['kind']} {info['version']}" + (f" (from {info['base']})" if info["kind"] == "delta" else "")
    _say(args, result.as_json(), what)
    return 0


def _publish_logo(args: argparse.Namespace, store: Store, sites: list[str] | None) -> int:
    from host_tools.relay import publish
    from host_tools.relay.logos import logo_raster

    width = args.width_dots or 512
    if args.profile:
        try:
            width = int(json.loads(args.profile.read_text())["paper_width_dots"])
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"cannot read paper_width_dots from {args.profile}: {exc}") from None
    raster, info = logo_raster(args.logo, width, dither=not args.no_dither)
    result = publish.publish(store, publish.LOGO, raster, info, sites, _actor(args))
    _say(args, result.as_json(), f"logo {args.logo.name} ({width} dots wide)")
    return 0


def _nightly(args: argparse.Namespace) -> int:
    from host_tools.relay import nightly
    from host_tools.relay.store import open_store

    if args.source is None:
        return _fail("--nightly needs --source DIR: the catalog source folder (items.csv, store.json)")
    if args.site or args.snapshot or args.logo:
        return _fail("--nightly publishes to every site; leave out --site")
    try:
        at = nightly.parse_at(args.at)
        open_store(args.db).close()  # a database that cannot be opened is said now, not at 02:00
    except (ValueError, StoreError) as exc:
        return _fail(str(exc))
    try:
        nightly.run_nightly(lambda: open_store(args.db), args.source, args.snapshots, at, _actor(args),
                            say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("kassa ho publish: nightly publishing stopped", flush=True)
    return 0


def pair_add(args: argparse.Namespace) -> int:
    from host_tools.relay import pictures

    def work(store: Store) -> int:
        p = pictures.add_pair(store, args.name, args.master, args.site, args.folder)
        print(f"pair {p['name']}: {p['master']} -> site {p['site']}, folder {p['folder']}")
        return 0
    return _run(args, work)


def pair_list(args: argparse.Namespace) -> int:
    from host_tools.relay import pictures

    return _run(args, lambda store: _show(args, pictures.pairs(store), "Picture pairs", [
        ("pair", lambda r: r["name"]), ("master", lambda r: r["master"]), ("site", lambda r: r["site"]),
        ("folder", lambda r: r["folder"]), ("files at site", lambda r: r["acked_files"])]))


def pair_remove(args: argparse.Namespace) -> int:
    from host_tools.relay import pictures

    def work(store: Store) -> int:
        pictures.remove_pair(store, args.name)
        print(f"pair {args.name} removed (the site's folder is left as it is)")
        return 0
    return _run(args, work)


def pair_rename(args: argparse.Namespace) -> int:
    from host_tools.relay import pictures

    def work(store: Store) -> int:
        pictures.rename_pair(store, args.name, args.new_name)
        print(f"pair {args.name} is now {args.new_name}")
        return 0
    return _run(args, work)


_SUMMARY = ("copied", "updated", "deleted", "unchanged", "failed")


def _summary_line(s: dict[str, Any]) -> str:
    counts = ", ".join(f"{s[k]} {k}" for k in _SUMMARY)
    sent = f"message {s['message']}" if s.get("message") else "nothing to send"
    return f"{s['pair']} -> {s['site']}: {counts}; {sent}"


def pictures_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from host_tools.relay import pictures

    def work(store: Store) -> int:
        console = Console(stderr=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[file]}"), console=console, transient=True,
                      disable=args.json) as bar:
            task = bar.add_task("reading", total=None, file="")

            def step(path: str, done: int, total: int) -> None:
                bar.update(task, total=total, completed=done, file=path[-40:])
            summaries = [s.as_json() for s in pictures.run(store, args.name, _actor(args), step)]
        if args.json:
            print(json.dumps(summaries, indent=1, sort_keys=True))
        else:
            for s in summaries:
                print(_summary_line(s))
                for failure in s["failures"]:
                    print(f"  failed: {failure}")
        return 1 if any(s["failed"] for s in summaries) else 0
    return _run(args, work)


def pictures_status(args: argparse.Namespace) -> int:
    from host_tools.relay import pictures

    def last(r: dict[str, Any], key: str) -> Any:
        return r["last_run"][key] if r["last_run"] else "-"
    return _run(args, lambda store: _show(args, pictures.pairs(store), "Picture pairs: last run", [
        ("pair", lambda r: r["name"]), ("site", lambda r: r["site"]), ("folder", lambda r: r["folder"]),
        ("last run", lambda r: _when(r["last_run"]["at"]) if r["last_run"] else "never"),
        *((k, (lambda r, k=k: last(r, k))) for k in _SUMMARY),
        ("message", lambda r: (last(r, "message") or "-")),
        ("site has", lambda r: f"{r['acked_files']} files"
         + (f" (message {r['acked_message']})" if r["acked_message"] else ""))]))


def _targets(d: dict[str, Any]) -> str:
    return ", ".join(f"{t['till'] or 'site'} {t['status']}" + (f" ({t['reason']})" if t["reason"] else "")
                     for t in d["tills"])


def sent_cmd(args: argparse.Namespace) -> int:
    from host_tools.relay import publish

    def work(store: Store) -> int:
        messages = publish.sent(store, args.site, args.status, args.limit)
        if args.json:
            print(json.dumps(messages, indent=1, sort_keys=True))
            return 0
        rows = [{"m": m, "d": d} for m in messages for d in m["sites"]]

        def what(m: dict[str, Any]) -> str:
            info = m["info"]
            if m["kind"] in ("snapshot", "delta"):
                return f"{m['kind']} {info.get('version')}" + (f" from {info['base']}" if m["kind"] == "delta" else "")
            if m["kind"] == "pictures":
                return f"pictures {info.get('pair')}: +{info.get('copied')} ~{info.get('updated')} " \
                       f"-{info.get('deleted')}"
            return f"logo {info.get('source')}"
        return _show(args, rows, "Sent data", [
            ("id", lambda r: r["m"]["id"]), ("what", lambda r: what(r["m"])),
            ("sent", lambda r: _when(r["m"]["created_at"])), ("bytes", lambda r: f"{r['m']['size']:,}"),
            ("site", lambda r: r["d"]["site"]), ("status", lambda r: r["d"]["status"]),
            ("since", lambda r: _when(r["d"]["status_at"])), ("tills", lambda r: _targets(r["d"]))])
    return _run(args, work)
