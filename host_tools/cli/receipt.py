"""`kassa receipt render FILE`: show what an ESC/POS byte stream prints.

Prints the paper as text; `--png OUT.png` also draws it. Commands the renderer does
not know, and what the stream does besides printing (drawer pulses, status
requests), are listed on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools.hodata import receipt_render
from host_tools.cli import command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(subparsers, "receipt", "receipt printer output")
    render = sub.add_parser(
        "render", help="show an ESC/POS byte stream as the printed paper",
        description="Read the bytes a till sends to its receipt printer and show "
                    "the paper as text (stdout) and, with --png, as an image.")
    render.add_argument("file", metavar="FILE",
                        help="ESC/POS bytes (a captured print job); '-' reads stdin")
    render.add_argument("--png", metavar="OUT.png", type=Path,
                        help="also draw the paper into this PNG file")
    render.add_argument("--width-dots", type=int, default=receipt_render.DEFAULT_WIDTH_DOTS,
                        help="printable width in dots (default %(default)s: 80 mm paper)")
    render.add_argument("--columns", type=int, default=receipt_render.DEFAULT_COLUMNS,
                        help="font A characters per line (default %(default)s)")
    render.add_argument("--profile", default="default",
                        help="printer profile whose code page numbers apply "
                             "(see `kassa printer models`; default %(default)s)")
    render.add_argument("--strict", action="store_true",
                        help="exit with status 1 if any command was not understood")
    render.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    if args.columns < 1 or args.width_dots < args.columns:
        print("kassa: --width-dots must be at least --columns, and --columns at least 1",
              file=sys.stderr)
        return 2
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"kassa: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        receipt = receipt_render.parse(data, args.columns, args.width_dots, args.profile)
    except KeyError:
        print(f"kassa: no printer profile {args.profile!r}; `kassa printer models` lists them",
              file=sys.stderr)
        return 2
    sys.stdout.write(receipt_render.to_text(receipt))
    sys.stdout.flush()
    for note in receipt.events:
        print(f"note: {note}", file=sys.stderr)
    for issue in receipt.issues:
        print(f"warning: {issue}", file=sys.stderr)
    if args.png:
        receipt_render.draw_paper(receipt).image.save(args.png)
    return 1 if args.strict and receipt.issues else 0
