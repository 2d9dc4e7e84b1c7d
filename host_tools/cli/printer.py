"""`kassa printer profile MODEL` and `kassa printer models`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from host_tools.hodata import printer_profile
from host_tools.cli import command_group


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(subparsers, "printer", "receipt printer profiles")
    profile = sub.add_parser(
        "profile", help="write the till's profile JSON for a printer model",
        description="Write what a printer model can do (paper width, columns, cutter, "
                    "QR, code pages) as the small JSON file the till reads.")
    profile.add_argument("model", metavar="MODEL", help="e.g. TM-T88V, TM-T20II, default")
    profile.add_argument("--out", metavar="FILE", type=Path,
                         help="write here instead of stdout")
    profile.set_defaults(func=run_profile)
    models = sub.add_parser("models", help="list the printer models known")
    models.set_defaults(func=run_models)


def run_profile(args: argparse.Namespace) -> int:
    try:
        profile = printer_profile.build_profile(args.model)
    except printer_profile.UnknownModel as exc:
        print(f"kassa: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(profile, indent=1, ensure_ascii=False) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def run_models(args: argparse.Namespace) -> int:
    for name in printer_profile.models():
        print(name)
    return 0
