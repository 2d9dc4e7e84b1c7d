"""`kassa demo` (make demo): the whole chain on this computer, see host_tools/demo."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole chain here: relay, HO, gateway and two sim "
                                    "tills selling a day (make demo)")
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help="output directory (default demo-out; a previous demo's is cleared)")
    p.add_argument("--sales", type=int, default=40, metavar="N",
                   help="sales per till over the day (default 40)")
    p.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from host_tools.demo.procs import DemoError
    from host_tools.demo.run import Demo, finish, prepare

    def stopped(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM too ends the demo through its cleanup

    signal.signal(signal.SIGTERM, stopped)
    console = Console()
    if args.sales < 3:
        print("kassa demo: --sales must be at least 3 (morning, offline, afternoon)", file=sys.stderr)
        return 2
    try:
        prepare(args.out)
        result = Demo(args.out, args.sales, console).run()
    except DemoError as exc:
        console.print(f"[red]kassa demo: {exc}[/]", highlight=False)
        console.print(f"Logs: {args.out}/logs/; every process the demo started is stopped.")
        return 1
    except KeyboardInterrupt:
        console.print("kassa demo: interrupted; every process the demo started is stopped.")
        return 130
    finish(console, result)
    return 0
