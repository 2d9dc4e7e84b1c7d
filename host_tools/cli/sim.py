"""`kassa sim init DIR` and `kassa sim run DIR`: a till on this computer."""
from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

from host_tools.provision import sim
from host_tools.hodata.snapshot_builder import BuildError
from host_tools.cli import command_group
from till.formats.identity import IdentityError


def register(sub: argparse._SubParsersAction) -> None:
    ssub = command_group(sub, "sim", "a simulated till (the sim board) in a directory")
    i = ssub.add_parser("init", help="give a directory a till identity and HO's data")
    i.add_argument("directory", type=Path)
    i.add_argument("--till-id", default="S001/till-1")
    i.add_argument("--items", type=Path, help="items CSV/JSON (default: the example store)")
    i.add_argument("--config", type=Path, help="store.json (default: the example store)")
    i.add_argument("--logo", type=Path, help="an image for the receipt header")
    i.add_argument("--hash-pins", action="store_true",
                   help="store.json gives cashiers' PINs in plain: hash them (PBKDF2) into the snapshot")
    i.add_argument("--printer", metavar="MODEL",
                   help="the receipt printer model (`kassa printer models`; e.g. POS-5890 for "
                        "58 mm paper); default: the sim board's 80 mm TM-T20II")
    i.add_argument("--no-data", action="store_true",
                   help="the identity only, no HO data: the till waits for its first sync "
                        "(`kassa gateway sync`) to bring the catalog, as a flashed board does")
    i.set_defaults(func=init)
    r = ssub.add_parser("run", help="boot the till on a screen with its keypad, display, "
                                    "receipts and drawer (or run a script)")
    r.add_argument("directory", type=Path)
    r.add_argument("--script", type=Path,
                   help="script file of commands (docs/simulator.md); default: the screen "
                        "when the terminal is one, else commands from stdin")
    r.add_argument("--plain", action="store_true",
                   help="at a terminal, read script commands typed a line at a time "
                        "instead of the screen")
    r.add_argument("--no-clock", action="store_true",
                   help="the screen leaves the till's clock unset (default: set it from "
                        "this computer, as a sync would)")
    r.add_argument("--link-port", type=_port, metavar="PORT",
                   help="the TCP port on 127.0.0.1 where `kassa gateway sync` reaches the till "
                        "(its gateway.toml: url = \"socket://127.0.0.1:PORT\"); default 7420, "
                        "the sim board's LINK")
    r.add_argument("--repl-port", type=_port, metavar="PORT",
                   help="the screen's till on one serial line at 127.0.0.1:PORT, as an ESP32 "
                        "till on its one UART: `kassa gateway sync` (url = "
                        "\"socket://127.0.0.1:PORT\") and `mpremote connect "
                        "socket://127.0.0.1:PORT` share it; mpremote breaks in between two "
                        "frames and the till hands it its REPL (F3 on the screen restarts "
                        "the till). Instead of --link-port; MicroPython only")
    r.add_argument("--cpython", action="store_true",
                   help="run under CPython as on a Raspberry Pi (default: MicroPython with a Pico W's "
                        "192K heap and 32K for this port's 64-bit objects)")
    r.set_defaults(func=run)


def _port(text: str) -> int:
    """A TCP port a person typed, or argparse's error in their words."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 1 to 65535")
    return int(text)


def _repl_port_problem(args: argparse.Namespace) -> str | None:
    if args.repl_port is None:
        return None
    if args.link_port is not None:
        return ("--repl-port puts the till's link on that port too: give --repl-port or "
                "--link-port, not both")
    if args.cpython:
        return "--repl-port gives mpremote MicroPython's REPL: it does not go with --cpython"
    return None


def init(args: argparse.Namespace) -> int:
    key = secrets.token_bytes(32)
    logo = None
    if args.logo:
        from host_tools.hodata.raster import ImageConvertError, to_raster

        try:
            logo = to_raster(args.logo, 576)
        except ImageConvertError as exc:
            print(f"kassa sim init: {exc}", file=sys.stderr)
            return 2
    if args.no_data and (args.items or args.config or args.logo or args.hash_pins):
        print("kassa sim init: --no-data makes a till without HO data; --items, --config, "
              "--logo and --hash-pins give HO data: use one or the other", file=sys.stderr)
        return 2
    try:
        sim.init(args.directory, args.till_id, key, args.items, args.config, logo=logo,
                 hash_pins=args.hash_pins, data=not args.no_data, printer=args.printer)
    except (IdentityError, sim.SimInitError) as exc:
        print(f"kassa sim init: {exc}", file=sys.stderr)
        return 1
    except BuildError as exc:
        print(f"kassa sim init: {exc}", file=sys.stderr)
        return 2
    what = "without HO's data (its first sync brings it)" if args.no_data else "with HO's data installed"
    print(f"{args.directory}: till {args.till_id} {what}; its secret is "
          f"in {args.directory / sim.KEY_FILE}. Run: kassa sim run {args.directory}")
    return 0


def run(args: argparse.Namespace) -> int:
    if not (args.directory / "identity").exists():
        print(f"kassa sim run: {args.directory} is not a till: run `kassa sim init` first",
              file=sys.stderr)
        return 2
    problem = _repl_port_problem(args)
    if problem is not None:
        print(f"kassa sim run: {problem}", file=sys.stderr)
        return 2
    missing = None if args.cpython else sim.missing_tools()
    if missing is not None:
        print(f"kassa sim run: {missing}", file=sys.stderr)
        return 2
    if args.script is None and not args.plain and sys.stdin.isatty() and sys.stdout.isatty():
        from host_tools.simui import run as screen

        return screen.run(args.directory, cpython=args.cpython, set_clock=not args.no_clock,
                          link_port=args.link_port, repl_port=args.repl_port)
    if args.repl_port is not None:
        print("kassa sim run: --repl-port is for the screen, at a terminal (without "
              "--script or --plain)", file=sys.stderr)
        return 2
    if args.link_port is not None:
        # stderr: stdout is the till's display. (MicroPython's sockets cannot
        # say their port, so the till itself does not.)
        print(f"kassa sim run: the till's link: socket://127.0.0.1:{args.link_port} "
              "(the till's url in gateway.toml)", file=sys.stderr, flush=True)
    try:
        stdin = open(args.script) if args.script else None  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"kassa sim run: cannot read the script {args.script}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    try:
        if args.cpython:
            proc = sim.run_cpython(args.directory, stdin=stdin, link_port=args.link_port)
        else:
            with tempfile.TemporaryDirectory(prefix="kassa-sim-") as tmp:
                image = sim.romfs_image(Path(tmp) / "firmware.romfs")
                proc = sim.run_micropython(args.directory, image, stdin=stdin,
                                           link_port=args.link_port)
    finally:
        if stdin is not None:
            stdin.close()
    printer = args.directory / "printer.bin"
    if printer.exists():
        print(f"receipts: kassa receipt render {printer} --png receipt.png")
    return proc.returncode
