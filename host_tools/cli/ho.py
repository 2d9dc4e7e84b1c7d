"""`kassa ho ...`: head office's side of the relay, run against its database.

Registration (site, till, user), processing, quarantine decisions and the views
(received, tills, sales, feed). Views print rich tables, or JSON with --json.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from host_tools.cli import command_group
from host_tools.cli.relay import add_db_argument
from host_tools.relay.store import Store, StoreError
from till.formats.records import TENDER_NAMES

Handler = Callable[[argparse.Namespace], int]


def _parser(actions: argparse._SubParsersAction, name: str, help: str, func: Handler,
            json_out: bool = False) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=help)
    add_db_argument(p)
    if json_out:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=func)
    return p


def _decision(actions: argparse._SubParsersAction, name: str, help: str, func: Handler) -> None:
    p = _parser(actions, name, help, func)
    p.add_argument("till", help="till id, e.g. S001/till-1")
    p.add_argument("seq", type=int)
    p.add_argument("--note", required=True, help="why (kept in HO's journal)")
    p.add_argument("--as", dest="actor", default=None, help="who decides (default: your login)")


def register(sub: argparse._SubParsersAction) -> None:
    ho = command_group(sub, "ho", "head office: sites, tills, processing and views of the relay")

    site = ho.add_parser("site", help="register sites").add_subparsers(dest="site_command", metavar="ACTION")
    site.required = True
    p = _parser(site, "add", "register a site; prints its credential once", site_add)
    p.add_argument("site_id", help="e.g. S001")
    p.add_argument("--name", default="", help="the site's name")
    p = _parser(site, "renew", "issue a site a new credential (the old one stops working)", site_renew)
    p.add_argument("site_id")

    till = ho.add_parser("till", help="register tills").add_subparsers(dest="till_command", metavar="ACTION")
    till.required = True
    p = _parser(till, "add", "register a till and issue its journal key", till_add)
    p.add_argument("till_id", help="SITE/TILL, e.g. S001/till-1")
    p.add_argument("--key-file", type=Path,
                   help="register the key of a till already flashed (default: issue a new key)")
    p.add_argument("--keys-dir", type=Path, default=Path("keys"),
                   help="where a new key file is written for `kassa flash` (default ./keys)")
    p = _parser(till, "clear-flag", "let a flagged till upload again, with a note", till_clear_flag)
    p.add_argument("till_id")
    p.add_argument("--note", required=True)
    p.add_argument("--as", dest="actor", default=None)

    user = ho.add_parser("user", help="HO users").add_subparsers(dest="user_command", metavar="ACTION")
    user.required = True
    p = _parser(user, "add", "add an HO user; prints their token once", user_add)
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["admin", "viewer"])
    p = _parser(user, "signout", "end a user's web sessions in every browser (or everyone's: --all)",
                user_signout)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("name", nargs="?", help="the HO user")
    who.add_argument("--all", action="store_true", help="every HO user")
    p.add_argument("--as", dest="actor", default=None, help="who does it (default: your login)")

    p = _parser(ho, "process", "verify and consolidate every waiting record", process)
    p.add_argument("--json", action="store_true")

    q = ho.add_parser("quarantine", help="quarantined records").add_subparsers(dest="q_command",
                                                                                metavar="ACTION")
    q.required = True
    p = _parser(q, "show", "quarantined records with their reasons", quarantine_show, json_out=True)
    p.add_argument("--till")
    _decision(q, "accept", "count a quarantined record as it is", quarantine_accept)
    _decision(q, "reject", "keep a quarantined record as evidence only, uncounted", quarantine_reject)

    p = _parser(ho, "received", "received records and their statuses", received, json_out=True)
    p.add_argument("--till")
    p.add_argument("--status", choices=["UPLOADED", "PROCESSED", "QUARANTINED", "REJECTED"])
    p.add_argument("--limit", type=int, default=100)
    _parser(ho, "tills", "every till's health: contact, acknowledged, gaps, chain breaks, firmware, last seen",
            tills, json_out=True)
    p = _parser(ho, "sales", "consolidated sales per site and day", sales, json_out=True)
    p.add_argument("--site")
    p.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD")
    p = _parser(ho, "feed", "processed sales as JSON lines (the ERP feed)", feed)
    p.add_argument("--after", type=int, default=0, help="the last id already taken")
    p.add_argument("--limit", type=int, default=1000)

    from host_tools.cli import ho_publish  # HO to sites: publish, pictures, sent
    ho_publish.register(ho)


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[Store]:
    from host_tools.relay.store import open_store

    store = open_store(args.db)
    try:
        yield store
    finally:
        store.close()


def _run(args: argparse.Namespace, work: Callable[[Store], int]) -> int:
    from host_tools.relay.ids import BadId

    try:
        with _open(args) as store:
            return work(store)
    except (StoreError, BadId) as exc:
        print(f"kassa ho: {exc}", file=sys.stderr)
        return 2


def _actor(args: argparse.Namespace) -> str:
    return args.actor or getpass.getuser()


def site_add(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        token = store.add_site(args.site_id, args.name)
        print(f"site {args.site_id} registered. Its credential (shown only now; put it in the "
              f"site's gateway configuration):\n{token}")
        return 0
    return _run(args, work)


def site_renew(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        token = store.renew_site_credential(args.site_id)
        print(f"new credential for site {args.site_id} (the old one no longer works):\n{token}")
        return 0
    return _run(args, work)


def till_add(args: argparse.Namespace) -> int:
    from host_tools.hodata.journal_reader import load_key
    from host_tools.provision.flash import KEY_BYTES, FlashError, check_key_owner, key_file_name, write_key_file
    from host_tools.relay import ids

    def work(store: Store) -> int:
        import secrets

        ids.split_till(args.till_id)
        if args.key_file is not None:
            try:
                check_key_owner(args.key_file, args.till_id)
            except FlashError as exc:
                raise StoreError(str(exc)) from None
            try:
                key = load_key(args.key_file)
            except (OSError, ValueError) as exc:  # load_key also refuses a key of the wrong size
                raise StoreError(f"cannot read the key: {exc}") from None
            store.add_till(args.till_id, key)
            print(f"till {args.till_id} registered with the key in {args.key_file}")
            return 0
        path = args.keys_dir / key_file_name(args.till_id)
        if path.exists():
            raise StoreError(f"{path} exists already; register it with --key-file {path}, "
                             "or remove it: a key is never given to two tills")
        key = secrets.token_bytes(KEY_BYTES)
        store.add_till(args.till_id, key)
        args.keys_dir.mkdir(parents=True, exist_ok=True)
        write_key_file(path, key)
        print(f"till {args.till_id} registered; its journal key is in {path} (mode 600).\n"
              f"Flash it onto the till: kassa flash --till-id {args.till_id} --key-file {path} ...\n"
              "then delete the file from this computer: HO keeps its own copy.")
        return 0
    return _run(args, work)


def till_clear_flag(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        was = store.clear_flag(args.till_id, _actor(args), args.note)
        print(f"till {args.till_id} may upload again (it was flagged: {was})")
        return 0
    return _run(args, work)


def user_add(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        token = store.add_user(args.name, args.role)
        print(f"user {args.name} ({args.role}) added. Their token (shown only now):\n{token}")
        return 0
    return _run(args, work)


def user_signout(args: argparse.Namespace) -> int:
    from host_tools.relay import staff_sessions

    def work(store: Store) -> int:
        ended = staff_sessions.end_all(store, _actor(args), None if args.all else args.name)
        print(f"{ended} web session(s) of {'every HO user' if args.all else args.name} ended; "
              "they must sign in again")
        return 0
    return _run(args, work)


def process(args: argparse.Namespace) -> int:
    from host_tools.relay.processing import process as run

    def work(store: Store) -> int:
        tally = run(store)
        if args.json:
            print(json.dumps({"processed": tally.processed, "quarantined": tally.quarantined}))
        else:
            print(f"{tally.processed} records processed, {tally.quarantined} quarantined")
        return 0
    return _run(args, work)


def _decide(args: argparse.Namespace, accept: bool) -> int:
    from host_tools.relay.processing import resolve

    def work(store: Store) -> int:
        status = resolve(store, args.till, args.seq, accept, _actor(args), args.note)
        print(f"record {args.seq} of {args.till} is now {status}")
        return 0
    return _run(args, work)


def quarantine_accept(args: argparse.Namespace) -> int:
    return _decide(args, True)


def quarantine_reject(args: argparse.Namespace) -> int:
    return _decide(args, False)


def _when(t: int | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _show(args: argparse.Namespace, rows: list[dict[str, Any]], title: str,
          columns: list[tuple[str, Callable[[dict[str, Any]], Any]]]) -> int:
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name, _ in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*(str(get(row)) for _, get in columns))
    # Piped or captured output gets room for every column (rich assumes 80).
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    if not rows:
        print("(none)")
    return 0


def quarantine_show(args: argparse.Namespace) -> int:
    return _run(args, lambda store: _show(args, store.quarantine(args.till), "Quarantined records", [
        ("till", lambda r: r["till"]), ("seq", lambda r: r["seq"]), ("why", lambda r: r["reason_code"]),
        ("reason", lambda r: r["reason"]), ("received", lambda r: _when(r["received_at"]))]))


def received(args: argparse.Namespace) -> int:
    return _run(args, lambda store: _show(
        args, store.received(args.till, args.status, limit=args.limit), "Received data", [
            ("till", lambda r: r["till"]), ("seq", lambda r: r["seq"]), ("status", lambda r: r["status"]),
            ("received", lambda r: _when(r["received_at"])), ("processed", lambda r: _when(r["processed_at"])),
            ("reason", lambda r: r["reason"] or "")]))


def _gaps(r: dict[str, Any]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in r["gaps"]) or "-"


def tills(args: argparse.Namespace) -> int:
    return _run(args, lambda store: _show(args, store.tills(), "Tills", [
        ("till", lambda r: r["till"]), ("last contact", lambda r: _when(r["last_contact"])),
        ("processed", lambda r: r["processed"]), ("held", lambda r: r["held"]),
        ("waiting", lambda r: r["waiting"]), ("gaps", _gaps), ("chain breaks", lambda r: r["chain_breaks"]),
        ("quarantined", lambda r: r["quarantined"]), ("conflicts", lambda r: r["conflicts"]),
        ("Z totals off", lambda r: r["total_mismatches"]),
        ("clock offset s", lambda r: "-" if r["clock_offset_s"] is None else r["clock_offset_s"]),
        ("last seen", lambda r: _when(r["last_seen"])), ("firmware", lambda r: r["firmware"] or "-"),
        ("free flash KB", lambda r: "-" if r["free_flash_bytes"] is None else r["free_flash_bytes"] // 1024),
        ("flag", lambda r: r["flag"] or "")]))


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def sales(args: argparse.Namespace) -> int:
    tender_names = {str(k): v for k, v in TENDER_NAMES.items()}
    return _run(args, lambda store: _show(
        args, store.sales(args.site, args.day_from, args.day_to), "Sales per site and day", [
            ("site", lambda r: r["site"]), ("day", lambda r: r["day"]), ("tills", lambda r: r["tills"]),
            ("sales", lambda r: r["sales"]), ("sales total", lambda r: _money(r["sales_total"])),
            ("refunds", lambda r: r["refunds"]), ("refunds total", lambda r: _money(r["refunds_total"])),
            ("tenders", lambda r: ", ".join(f"{tender_names.get(k, k)} {_money(v)}"
                                            for k, v in sorted(r["tenders"].items()))),
            ("tax", lambda r: ", ".join(f"{t['class']} {_money(t['tax'])}" for t in r["taxes"])),
            ("cash in / out", lambda r: f"{_money(r['cash_in'])} / {_money(r['cash_out'])}"),
            ("Z", lambda r: r["closings"])]))


def feed(args: argparse.Namespace) -> int:
    def work(store: Store) -> int:
        for row in store.feed(args.after, args.limit):
            print(json.dumps(row, sort_keys=True))
        return 0
    return _run(args, work)
