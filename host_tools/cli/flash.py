"""`kassa flash`: install the firmware on a till with mpremote."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from host_tools.provision.flash import FlashError, FlashResult, board_names, flash, provision_local


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flash", help="install the firmware and the till's identity with mpremote")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port",
                       help="the till's port: /dev/ttyACM0, COM3, or socket://HOST:PORT for a simulator")
    where.add_argument("--local", type=Path, metavar="DIR",
                       help="a Raspberry Pi till's data directory: write its identity only "
                            "(the Pi runs the firmware from a checkout)")
    p.add_argument("--board", help=f"with --port, the board file: {', '.join(board_names()) or 'see boards/'}")
    p.add_argument("--till-id",
                   help="SITE/TILL, e.g. S001/till-1; needed the first time (with --port, "
                        "an update keeps the till's own)")
    p.add_argument("--key-file", type=Path, help="the till's secret (default: a new one in --keys-dir)")
    p.add_argument("--keys-dir", type=Path, default=Path("keys"),
                   help="where new till secrets are kept for head office (default ./keys)")
    p.add_argument("--resume", action="store_true",
                   help="do not soft-reset first (MicroPython unix-port simulators)")
    p.add_argument("--romfs", action="store_true",
                   help="deploy the firmware as a ROMFS image (runs in place from flash; "
                        "needed to fit a Pico W's RAM, see README)")
    p.add_argument("--replace-identity", action="store_true",
                   help="give a till a new id and secret (only after HO processed its whole journal), "
                        "or give a till whose identity was lost its own back (with --key-file)")
    p.add_argument("--printer", metavar="MODEL",
                   help="the receipt printer model (`kassa printer models` lists them); "
                        "default: keep the till's, else the board file's")
    p.add_argument("--index", metavar="URL",
                   help="the micropython-lib index for mip (a local mirror; default micropython.org)")
    p.add_argument("--relay-db", metavar="URL",
                   help="also check the till against head office's relay database "
                        "(a SQLite file or postgresql://...)")
    p.add_argument("--firmware", type=Path, metavar="DIR",
                   help="flash this firmware tree (a release's firmware/ folder) instead of "
                        "this checkout's")
    p.add_argument("--no-restart", action="store_true", help="do not restart the till afterwards")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.local is not None:
        if args.till_id is None:
            print("kassa flash: --local needs --till-id SITE/TILL (e.g. S001/till-1)",
                  file=sys.stderr)
            return 2
        try:
            result = provision_local(args.local, args.till_id, args.key_file, args.keys_dir,
                                     args.replace_identity, args.printer, args.relay_db)
        except FlashError as exc:
            print(f"kassa flash: {exc}", file=sys.stderr)
            return 1
        _report_identity(result)
        return 0
    if not args.board:
        print("kassa flash: --port needs --board (" + ", ".join(board_names()) + ")",
              file=sys.stderr)
        return 2
    try:
        with Console(stderr=True).status("flashing") as status:
            result = flash(args.port, args.board, args.till_id, args.key_file, args.keys_dir,
                           args.resume, args.replace_identity, args.romfs, args.printer,
                           args.index, args.relay_db, not args.no_restart,
                           step=lambda text: status.update(text), firmware=args.firmware)
    except FlashError as exc:
        print(f"kassa flash: {exc}", file=sys.stderr)
        return 1
    site = result.till_id.split("/")[0]
    print(f"{result.till_id} (site {site}): {result.files} firmware modules, {result.sent} sent, "
          f"board {args.board}")
    if result.switched:
        print(f"switched in: {' '.join(result.switched)}; {result.verified} files checked by "
              "SHA-256 on the till")
    else:
        print(f"nothing changed; {result.verified} files checked by SHA-256 on the till")
    if result.mip:
        print(f"micropython-lib packages: {' '.join(result.mip)}")
    _report_identity(result)
    if result.restarted:
        print("the till restarts with the new firmware")
    return 0


def _report_identity(result: FlashResult) -> None:
    if result.printer:
        print(f"printer profile: {result.printer}")
    for note in result.notes:
        print(note)
    if result.identity_written:
        print(f"identity written; the till's secret is in {result.key_path} "
              "(give it to head office, keep it safe)")
    else:
        print("identity kept (the till already had this id)")
