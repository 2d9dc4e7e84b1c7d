"""`python -m host_tools.relay serve ...`: the same as `kassa relay serve`, for
service managers (systemd, containers). It builds only the relay's command
line, so a restarted relay skips importing every other `kassa` tool (the
printer and image libraries cost most of a second)."""
from __future__ import annotations

import argparse
import sys

from host_tools.cli import relay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host_tools.relay", description="Kassa relay")
    relay.register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["relay", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
