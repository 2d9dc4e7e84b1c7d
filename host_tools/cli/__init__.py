"""The one host command, `kassa`, with subcommands.

Each command group lives in its own module exposing ``register(subparsers)``; the
module adds its parser and sets ``func`` (called with the parsed args, returning an
exit code). Add a group by naming its module in COMMAND_MODULES.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "host_tools.cli.journal",
    "host_tools.cli.receipt",
    "host_tools.cli.printer",
    "host_tools.cli.snapshot",
    "host_tools.cli.image",
    "host_tools.cli.flash",
    "host_tools.cli.sim",
    "host_tools.cli.relay",
    "host_tools.cli.ho",
    "host_tools.cli.gateway",
    "host_tools.cli.demo",
)


def command_group(sub: argparse._SubParsersAction, name: str,
                  help: str) -> argparse._SubParsersAction:
    """A `kassa NAME ACTION` group: the subparsers its actions are added to."""
    parser = sub.add_parser(name, help=help)
    actions = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kassa", description="Kassa till and head-office tools")
    parser.add_argument("--version", action="version", version=f"kassa {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kassa")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("kassa: stopped (Ctrl-C)", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `kassa journal dump DIR | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
