"""`kassa gateway ...` in a subprocess with fake tills (`fake:DIR` URLs over
real journals, fake_till.open_fake) instead of the serial link: the gateway's
own code end to end, for tests that kill it."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "relay")]

from fake_till import open_fake  # noqa: E402

import argparse  # noqa: E402

from host_tools.cli import gateway  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="kassa")
    sub = parser.add_subparsers(dest="command", required=True)
    gateway.register(sub)  # only the gateway's commands: a quicker start than every kassa tool's
    args = parser.parse_args(sys.argv[1:])
    try:
        code = gateway.sync(args, open_till=open_fake) if args.func is gateway.sync else args.func(args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
