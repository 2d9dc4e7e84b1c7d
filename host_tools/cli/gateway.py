"""`kassa gateway sync CONFIG` and `kassa gateway status CONFIG`: the store's
gateway between its tills and HO's relay (docs/gateway.md)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from host_tools.cli import command_group
from host_tools.gateway.config import ConfigError, GatewayConfig, load
from host_tools.gateway.outbox import (ACKS, DOWN, FAILED, NOT_STARTED, SITE_ROW, SUCCESS, UP, Outbox,
                                       OutboxError, Outcome, exclusive)

if TYPE_CHECKING:  # sync imports httpx: only `kassa gateway sync` pays for it
    from host_tools.gateway.sync import OpenTill

DIRECTIONS = (UP, ACKS, DOWN)
_STYLE = {SUCCESS: "green", FAILED: "red", NOT_STARTED: "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    g = command_group(sub, "gateway", "the store's gateway: sync the tills with HO's relay")
    s = g.add_parser("sync", help="sync the tills with the relay (once, or --every INTERVAL)")
    s.add_argument("config", help="the gateway's configuration file (TOML, see docs/gateway.md)")
    s.add_argument("--every", metavar="INTERVAL", help="keep running, a run every INTERVAL (30m, 1h, 90s)")
    s.add_argument("--till", action="append", metavar="NAME", help="only this till (repeatable)")
    s.add_argument("--quiet", action="store_true", help="no progress bars, only the summary")
    s.set_defaults(func=sync)
    st = g.add_parser("status", help="the last runs: per till and direction, the status and why")
    st.add_argument("config", help="the gateway's configuration file")
    st.add_argument("--last", type=int, default=1, metavar="N", help="the last N runs of each (default 1)")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")
    st.set_defaults(func=status)


def _err(text: str) -> int:
    print(f"kassa gateway: {text}", file=sys.stderr)
    return 2


def _when(t: float | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _rich_events(quiet: bool) -> Any:
    from rich.markup import escape

    from host_tools.gateway.sync import Events

    class RichEvents(Events):
        """Progress bars for long transfers and a line per status change, on stderr."""

        def __init__(self, quiet: bool) -> None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.quiet = quiet
            self.console = Console(stderr=True)
            self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, disable=quiet, transient=True)
            self.tasks: dict[tuple[str, str], Any] = {}

        def __enter__(self) -> Any:
            self.bars.start()
            return self

        def __exit__(self, *exc: object) -> None:
            self.bars.stop()

        def step(self, till: str, direction: str, status: str, reason: str) -> None:
            if not self.quiet:
                style = _STYLE.get(status, "cyan")
                self.bars.console.print(f"{till} {direction}: [{style}]{status}[/{style}]"
                                        + (f": {escape(reason)}" if reason else ""), highlight=False,
                                        soft_wrap=True)

        def note(self, till: str, text: str) -> None:
            if not self.quiet:
                self.bars.console.print(f"{till}: {text}", highlight=False, markup=False, soft_wrap=True)

        def progress(self, till: str, what: str, done: int, total: int) -> None:
            key = (till, what)
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(f"{till} {what}", total=max(total, done))
            self.bars.update(self.tasks[key], completed=done, total=max(total, done))

    return RichEvents(quiet)


def _summary(results: dict[str, dict[str, Outcome]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"kassa gateway sync, {_when(time.time())} UTC")
    for column in ("till", "direction", "status", "reason", "detail"):
        table.add_column(column)
    for till, steps in results.items():
        for direction, o in steps.items():
            style = _STYLE.get(o.status, "")
            table.add_row(till, direction, f"[{style}]{o.status}[/{style}]" if style else o.status,
                          escape(o.reason), escape(o.detail))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def sync(args: argparse.Namespace, open_till: OpenTill | None = None) -> int:
    from host_tools.gateway.relay_client import RelayClient
    from host_tools.gateway.schedule import keep_running, parse_every
    from host_tools.gateway.sync import Gateway

    try:
        config = load(args.config)
        names = [config.till(n).name for n in args.till] if args.till else None
        every_s = parse_every(args.every) if args.every else None
    except (ConfigError, ValueError) as exc:
        return _err(str(exc))
    if open_till is None:
        from host_tools.gateway.link_client import open_till as link_open_till

        open_till = link_open_till
    failed = [False]
    try:
        with exclusive(config.outbox):
            outbox = Outbox(config.outbox)
            relay = RelayClient(config.relay_url, config.site, config.credential)
            try:
                with _rich_events(args.quiet) as events:
                    gw = Gateway(config, outbox, relay, open_till, events)

                    def run_once() -> None:
                        results = gw.sync(names)
                        failed[0] = any(o.status != SUCCESS for s in results.values() for o in s.values())
                        events.bars.stop()
                        _summary(results)
                        events.bars.start()

                    def waiting(wake: float) -> None:
                        print(f"next run at {_when(wake)} UTC (Ctrl-C stops)", flush=True)

                    if every_s is None:
                        run_once()
                    else:
                        keep_running(run_once, every_s, time.time, time.sleep, waiting)
            finally:
                relay.close()
                outbox.close()
    except OutboxError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        print("kassa gateway: stopped (Ctrl-C); what was read stays in the outbox for the next run",
              file=sys.stderr)
        return 130
    return 1 if failed[0] else 0


def status_rows(config: GatewayConfig, outbox: Outbox | None, last: int) -> dict[str, Any]:
    """Every configured till and direction with its last runs (a step never
    run is Not started), and what the outbox knows of each till."""
    runs = outbox.runs(last=last) if outbox else []
    out_runs: list[dict[str, Any]] = []
    tills: list[dict[str, Any]] = []
    steps = [(SITE_ROW, DOWN)] + [(t.name, d) for t in config.tills for d in DIRECTIONS]
    for name, direction in steps:
        mine = [r for r in runs if r["till"] == name and r["direction"] == direction]
        out_runs += mine or [{"id": None, "till": name, "direction": direction, "status": NOT_STARTED,
                              "reason": "never run", "detail": "", "started_at": None, "ended_at": None}]
    for t in config.tills:
        state = outbox.till(t.name) if outbox else None
        tills.append({"till": t.name, "url": t.url,
                      "waiting": outbox.count_pending(t.name) if outbox else 0,
                      "held": outbox.count_held(t.name) if outbox else 0,
                      **({k: getattr(state, k) for k in ("till_id", "head_seq", "till_processed",
                                                          "relay_processed", "clock_offset_s", "firmware",
                                                          "free_flash_bytes", "printer", "last_contact")}
                         if state else {"last_contact": None})})
    return {"site": config.site, "outbox": str(config.outbox), "tills": tills, "runs": out_runs}


def status(args: argparse.Namespace) -> int:
    try:
        config = load(args.config)
        outbox = Outbox(config.outbox) if config.outbox.exists() else None
    except (ConfigError, OutboxError) as exc:
        return _err(str(exc))
    try:
        rows = status_rows(config, outbox, max(1, args.last))
    finally:
        if outbox is not None:
            outbox.close()
    if args.json:
        print(json.dumps(rows, indent=1, sort_keys=True))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    runs = Table(title=f"Site {config.site}: the last runs")
    for column in ("till", "direction", "status", "reason", "detail", "started", "ended"):
        runs.add_column(column)
    for r in rows["runs"]:
        style = _STYLE.get(r["status"], "cyan")
        runs.add_row(r["till"], r["direction"], f"[{style}]{r['status']}[/{style}]", escape(r["reason"]),
                     escape(r["detail"]),
                     _when(r["started_at"]), _when(r["ended_at"]))
    console.print(runs)
    tills = Table(title="Tills")
    for column in ("till", "url", "waiting upload", "in outbox", "till head", "till processed",
                   "HO processed", "clock offset s", "last contact"):
        tills.add_column(column)
    for t in rows["tills"]:
        tills.add_row(t["till"], t["url"], str(t["waiting"]), str(t["held"]), str(t.get("head_seq", "-")),
                      str(t.get("till_processed", "-")), str(t.get("relay_processed", "-")),
                      str(t.get("clock_offset_s") if t.get("clock_offset_s") is not None else "-"),
                      _when(t["last_contact"]))
    console.print(tills)
    return 0
