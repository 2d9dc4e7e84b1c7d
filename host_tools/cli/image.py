"""`kassa image convert IMAGE --out FILE`: a logo or picture for the till's printer."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from host_tools.hodata.raster import ImageConvertError, to_raster
from host_tools.cli import command_group


def register(sub: argparse._SubParsersAction) -> None:
    isub = command_group(sub, "image", "prepare logos and product pictures for the till's printer")
    c = isub.add_parser("convert", help="scale, dither and pack an image as a raster file")
    c.add_argument("image", type=Path)
    c.add_argument("--out", type=Path, required=True)
    width = c.add_mutually_exclusive_group()
    width.add_argument("--width-dots", type=int, help="paper width in dots (default 512)")
    width.add_argument("--profile", type=Path, help="printer profile JSON from `kassa printer profile`")
    c.add_argument("--no-dither", action="store_true", help="hard threshold (line art, text logos)")
    c.add_argument("--left", action="store_true", help="do not centre a narrow image")
    c.set_defaults(func=convert)


def convert(args: argparse.Namespace) -> int:
    width = args.width_dots or 512
    if args.profile:
        try:
            width = int(json.loads(args.profile.read_text())["paper_width_dots"])
        except (OSError, ValueError, KeyError) as exc:
            print(f"kassa image convert: cannot read paper_width_dots from {args.profile}: {exc}",
                  file=sys.stderr)
            return 2
    try:
        data = to_raster(args.image, width, center=not args.left, dither=not args.no_dither)
    except ImageConvertError as exc:
        print(f"kassa image convert: {exc}", file=sys.stderr)
        return 2
    args.out.write_bytes(data)
    rows = int.from_bytes(data[6:8], "big")
    print(f"{args.out}: {int.from_bytes(data[4:6], 'big') * 8} x {rows} dots, {len(data):,} bytes")
    return 0
