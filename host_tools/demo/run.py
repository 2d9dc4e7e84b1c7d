"""The demo's orchestration (`kassa demo`, `make demo`): every step is a real
`kassa` command run as a child process, as a store's IT and HO's staff would
type it, except the tills' keys, which reach the sim tills' stdin as script
lines (docs/simulator.md). docs: README.md, section "make demo"."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from rich.console import Console
from rich.markup import escape

from host_tools.demo import catalog, day
from host_tools.demo.procs import Child, DemoError, free_port, tail, wait_listening
from host_tools.hodata import journal_reader as jr
from host_tools.provision import sim
from host_tools.simui.paper import PaperWatcher
from till.formats import journal as J
from till.formats import records as R

SITE = "S001"
TILLS = ("till-1", "till-2")
HEAP_KIB = sim.SIM_HEAP_KIB  # the sim till's (host_tools/provision/sim.py says why)
MARKER = ".kassa-demo"  # in an output directory the demo made (and may clear)


@dataclass
class Result:
    out: Path
    relay_port: int
    till_ports: dict[str, int]
    closings: dict[str, dict[int, Any]] = field(default_factory=dict)
    sales: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0


def kassa_argv() -> list[str]:
    return [sys.executable, "-c", "import sys; from host_tools.cli import main; sys.exit(main())"]


class Demo:
    def __init__(self, out: Path, sales: int, console: Console) -> None:
        self.out = out.resolve()
        self.sales = sales
        self.console = console
        self.db = self.out / "ho" / "relay.sqlite3"
        self.gateway_toml = self.out / "gateway" / "gateway.toml"
        self.log = self.out / "logs" / "commands.log"
        self.relay: Child | None = None
        self.tills: dict[str, Child] = {}
        self.paper: dict[str, PaperWatcher] = {}
        self.relay_port = free_port()
        self.till_ports = {name: free_port() for name in TILLS}
        self.rnd = random.Random(2026)
        self.items = catalog.items()
        self.step_no = 0

    # -- output -----------------------------------------------------------
    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.step_no += 1
        start = time.monotonic()
        with self.console.status(f"[bold]{self.step_no}. {title}[/]"):
            yield
        took = time.monotonic() - start
        self.console.print(f"[green]✓[/] {self.step_no}. {title} [dim]({took:.1f} s)[/]")

    def note(self, text: str) -> None:
        self.console.print(f"   [dim]{escape(text)}[/]", highlight=False, soft_wrap=True)

    def kassa(self, *args: str | Path, expect: tuple[int, ...] = (0,), quiet: bool = False) -> str:
        shown = "kassa " + " ".join(self._short(a) for a in args)
        if not quiet:
            self.note(shown)
        proc = subprocess.run(kassa_argv() + [str(a) for a in args], capture_output=True, text=True,
                              cwd=self.out, env=dict(os.environ, COLUMNS="120"))
        with open(self.log, "a") as f:
            f.write(f"$ {shown}\n{proc.stdout}{proc.stderr}[exit {proc.returncode}]\n\n")
        if proc.returncode not in expect:
            raise DemoError(f"`{shown}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def _short(self, a: str | Path) -> str:
        s = str(a)
        return s[len(str(self.out)) + 1:] if s.startswith(str(self.out) + "/") else s

    # -- processes ----------------------------------------------------------
    def start_relay(self) -> None:
        self.note(f"kassa relay serve --db ho/relay.sqlite3 --port {self.relay_port}")
        self.relay = Child(kassa_argv() + ["relay", "serve", "--db", str(self.db), "--port",
                                           str(self.relay_port), "--worker-interval", "0.5",
                                           "--log-level", "warning"],
                           self.out / "logs" / "relay.log", cwd=self.out)
        wait_listening(self.relay_port, self.relay.proc, self.relay.log)

    def stop_relay(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

    def start_tills(self, image: Path) -> None:
        for name in TILLS:
            root = self.out / "tills" / name
            argv, env = sim.micropython_command(root, image, HEAP_KIB)
            env["KASSA_LINK_PORT"] = str(self.till_ports[name])
            # Each receipt as a PNG beside printer.bin, as the sim's screen saves them.
            self.paper[name] = PaperWatcher(root / "printer.bin")
            self.tills[name] = Child(argv, root / "console.txt", env=env, cwd=root, stdin_pipe=True)
        for name, child in self.tills.items():
            wait_listening(self.till_ports[name], child.proc, child.log)

    def key(self, name: str, lines: list[str], label: str, timeout_s: float = 120) -> None:
        """Send script lines to a till and wait until it has worked through them."""
        mark = f"{label}-{self.step_no}"
        self.tills[name].send(lines + [f"heap {mark}"])
        self._wait_for(name, f"HEAP {mark} ", timeout_s)

    def key_all(self, make: Callable[[str], list[str]], label: str) -> None:
        marks = {}
        for name in TILLS:
            marks[name] = f"{label}-{self.step_no}"
            self.tills[name].send(make(name) + [f"heap {marks[name]}"])
        for name in TILLS:
            self._wait_for(name, f"HEAP {marks[name]} ", 180)

    def _wait_for(self, name: str, text: str, timeout_s: float) -> None:
        child = self.tills[name]
        deadline = time.monotonic() + timeout_s
        while text not in child.output():
            if not child.running:
                raise DemoError(f"{name} stopped; its console is {child.log}:\n" + tail(child.log))
            if time.monotonic() > deadline:
                raise DemoError(f"{name} did not finish its keys within {timeout_s:.0f} s; "
                                f"its console is {child.log}:\n" + tail(child.log))
            time.sleep(0.1)

    def stop_all(self) -> None:
        # A second Ctrl-C must not cut the cleanup short and leave a till or
        # the relay running.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for child in self.tills.values():
                child.stop()
            self.tills = {}
            self.stop_relay()
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- journals -----------------------------------------------------------
    def journal(self, name: str) -> list[dict[int, Any]]:
        out = []
        for path in jr.segment_paths(self.out / "tills" / name / "journal"):
            for item in list(jr.read_segment(path))[1:]:
                rec = cbor2.loads(item.raw)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def sync(self, expect: int = 0) -> None:
        """One `kassa gateway sync`; expect 0 (every step succeeded) or 1 (one failed)."""
        self.kassa("gateway", "sync", self.gateway_toml, "--quiet", expect=(expect,))
        status = json.loads(self.kassa("gateway", "status", self.gateway_toml, "--json", quiet=True))
        for run in sorted(status["runs"], key=lambda r: (r["till"], r["direction"])):
            if run["direction"] == "acks" and run["status"] == "Success":
                continue
            why = f" ({run['reason']})" if run["reason"] else ""
            self.note(f"  {run['till']} {run['direction']}: {run['status']}{why}"
                      + (f"; {run['detail']}" if run["detail"] else ""))

    # -- the day --------------------------------------------------------------
    def run(self) -> Result:
        start = time.monotonic()
        n = self.sales
        morning, offline, afternoon = max(1, n * 2 // 5), max(1, n * 2 // 5), max(1, n - 2 * (n * 2 // 5))
        try:
            self._setup()
            with self.step("Gateway: first contact, a full sync (HO's catalog to the tills)"):
                self.sync()
            with self.step(f"Tills sell the morning: {morning} sales each"):
                self.key_all(lambda _: day.sign_on() + day.cash_in()
                             + day.sales(self.items, morning, self.rnd), "morning")
            with self.step("Gateway syncs: the morning's sales up to HO (delta)"):
                self.sync()
            with self.step("HO's relay goes down (stopped): the store is cut off from HO"):
                self.stop_relay()
            with self.step(f"Offline: the tills sell on their own (autonomous mode), {offline} sales each"):
                self.key_all(lambda _: day.sales(self.items, offline, self.rnd), "offline")
            with self.step("Gateway syncs: reads the tills, cannot reach HO (expected)"):
                self.sync(expect=1)
                self.note("the records wait in the gateway's outbox")
            with self.step("HO's relay is back"):
                self.start_relay()
            with self.step("Gateway syncs: every offline sale reaches HO"):
                self.sync()
            with self.step("Refunds: one receipt per till, approved by the manager"):
                self.key_all(lambda name: day.refund(self._first_sale(name)), "refund")
            with self.step("HO publishes a price change (delta 1 -> 2) and a receipt logo"):
                self._publish_changes()
            with self.step("Gateway syncs: the delta and the logo reach the tills"):
                self.sync()
            with self.step(f"Tills sell the afternoon at the new prices: {afternoon} sales each"):
                self.key_all(lambda _: day.sales(self.items, afternoon, self.rnd), "afternoon")
            with self.step("Z closing on each till (the manager approves)"):
                self.key_all(lambda _: day.z_closing(), "closing")
                result = self._closings()
            with self.step("Gateway syncs until HO has processed every record"):
                self._settle()
            with self.step("HO's report: consolidated sales against the tills' Z closings"):
                self._report(result)
            with self.step("HO's web console shows the same (the relay's /ho/sales page)"):
                self._web_console(result)
            with self.step("Receipts rendered (PNG)"):
                for name in TILLS:
                    printer = self.out / "tills" / name / "printer.bin"
                    self.kassa("receipt", "render", printer, "--png",
                               self.out / "receipts" / f"{name}.png")
                    pngs = self.paper[name].poll()
                    self.note(f"{name}: {len(pngs)} receipts, tills/{name}/receipt-0001.png ... "
                              f"{pngs[-1].name if pngs else ''}")
        finally:
            self.stop_all()
        result.seconds = time.monotonic() - start
        return result

    def _setup(self) -> None:
        with self.step("Demo data: catalog, tills, relay, site and tills registered"):
            files = catalog.write(self.out / "ho" / "catalog")
            self.note(f"catalog: {catalog.N_ITEMS} items ({catalog.N_WEIGHED} weighed), tax "
                      "classes A 19% and B 7%, in ho/catalog/")
            for name in TILLS:
                self.kassa("sim", "init", self.out / "tills" / name, "--till-id", f"{SITE}/{name}",
                           "--no-data")
            self.start_relay()
            text = self.kassa("ho", "site", "add", SITE, "--name", "Kassa Demo Market", "--db", self.db)
            cred = re.search(rf"site\.{SITE}\.\S+", text)
            if cred is None:
                raise DemoError(f"`kassa ho site add` printed no credential:\n{text}")
            cred_file = self.out / "gateway" / f"site-{SITE}.credential"
            cred_file.write_text(cred.group(0) + "\n")
            cred_file.chmod(0o600)
            for name in TILLS:
                # The other order of docs/relay.md's provisioning: the till drew
                # its key (kassa sim init, like kassa flash), HO registers it.
                self.kassa("ho", "till", "add", f"{SITE}/{name}", "--key-file",
                           self.out / "tills" / name / sim.KEY_FILE, "--db", self.db)
            snaps = self.out / "ho" / "snapshots"
            self.kassa("snapshot", "build", "--items", files.items, "--config", files.store,
                       "--version", "1", "--out", snaps / "snap-1")
            self.kassa("ho", "publish", "--snapshot", snaps / "snap-1", "--site", SITE, "--db", self.db)
            self._gateway_config(cred_file)
        with self.step(f"Two sim tills start (MicroPython, {HEAP_KIB}K heap), links on "
                       + ", ".join(str(p) for p in self.till_ports.values())):
            self.note(f"{HEAP_KIB}K beside the firmware image (it runs in place from ROMFS): "
                      "a Pico W's 192K and 32K for this port's 64-bit objects")
            image = sim.romfs_image(self.out / "firmware.romfs")
            self.start_tills(image)

    def _gateway_config(self, cred_file: Path) -> None:
        tills = "".join(f'\n[[till]]\nname = "{name}"\nurl = "socket://127.0.0.1:{port}"\n'
                        for name, port in self.till_ports.items())
        self.gateway_toml.write_text(
            f'# Written by kassa demo (docs/gateway.md)\nsite = "{SITE}"\n'
            f'relay_url = "http://127.0.0.1:{self.relay_port}"\n'
            f'credential_file = "{cred_file.name}"\noutbox = "outbox.sqlite3"\n'
            'pictures = "pictures"\n\n'
            "[retry]  # short, so the offline sync gives up quickly\n"
            "attempts = 2\nbase_s = 0.5\ncap_s = 1\n" + tills)

    def _first_sale(self, name: str) -> int:
        """The number printed on the till's first receipt (what a cashier keys)."""
        for rec in self.journal(name):
            if rec.get(jr.K_KIND) == J.KIND_SALE:
                return int(rec[jr.K_BODY].get(R.S_NUMBER, rec[jr.K_SEQ]))
        raise DemoError(f"{name}'s journal holds no sale to refund")

    def _publish_changes(self) -> None:
        ho = self.out / "ho"
        self.kassa("snapshot", "delta", "--base", ho / "snapshots" / "snap-1", "--changes",
                   ho / "catalog" / "changes.csv", "--version", "2", "--new-dir",
                   ho / "snapshots" / "snap-2", "--out", ho / "snapshots" / "delta-1-2.pkg")
        self.kassa("ho", "publish", "--snapshot", ho / "snapshots" / "snap-2", "--base",
                   ho / "snapshots" / "snap-1", "--site", SITE, "--db", self.db)
        self.kassa("ho", "publish", "--logo", ho / "catalog" / "logo.png", "--site", SITE,
                   "--db", self.db)

    def _closings(self) -> Result:
        result = Result(self.out, self.relay_port, dict(self.till_ports))
        for name in TILLS:
            closings = [r[jr.K_BODY] for r in self.journal(name) if r.get(jr.K_KIND) == J.KIND_CLOSING]
            if len(closings) != 1:
                raise DemoError(f"{name}'s journal holds {len(closings)} Z closings, not 1: "
                                f"see {self.tills[name].log}")
            result.closings[name] = closings[0]
        (self.out / "report").mkdir(exist_ok=True)
        (self.out / "report" / "z-closings.json").write_text(
            json.dumps(jr.to_json(result.closings), indent=1, sort_keys=True) + "\n")
        return result

    def _settle(self, tries: int = 20) -> None:
        """Sync until HO has processed every record, then once more to carry
        HO's PROCESSED back to the tills, and wait for HO to process what that
        last run brought (the tills journal the clock it sets)."""
        for _ in range(tries):
            self.sync()
            if self._all_processed():
                break
            time.sleep(0.5)
        else:
            raise DemoError(f"HO did not process every record; `kassa ho received --db {self.db}` "
                            "shows which")
        self.sync()
        for _ in range(tries):
            if self._all_processed():
                return
            time.sleep(0.5)
        raise DemoError(f"HO did not process every record; `kassa ho received --db {self.db}` "
                        "shows which")

    def _all_processed(self) -> bool:
        rows = json.loads(self.kassa("ho", "received", "--json", "--limit", "100000", "--db", self.db,
                                     quiet=True))
        return bool(rows) and all(r["status"] == "PROCESSED" for r in rows)

    def _web_console(self, result: Result) -> None:
        """An HO viewer signs in to the relay's pages, as in a browser, and
        reads the sales page; the token is kept for the person to try it."""
        import httpx

        text = self.kassa("ho", "user", "add", "demo", "--role", "viewer", "--db", self.db)
        token = re.search(r"user\.demo\.\S+", text)
        if token is None:
            raise DemoError(f"`kassa ho user add` printed no token:\n{text}")
        token_file = self.out / "ho" / "demo-viewer.token"
        token_file.write_text(token.group(0) + "\n")
        token_file.chmod(0o600)
        with httpx.Client(base_url=f"http://127.0.0.1:{self.relay_port}", timeout=30) as web:
            form = web.get("/ho/signin").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            if csrf is None:
                raise DemoError("the relay's sign-in page has no form token")
            web.post("/ho/signin", data={"token": token.group(0), "csrf": csrf.group(1),
                                         "next": "/ho/sales"})
            page = web.get("/ho/sales")
        shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
        total = f"{ho_totals(result.sales)['sales_total'] / 100:,.2f}"
        if page.status_code != 200 or f"sales {total} sold" not in shown:
            raise DemoError(f"the relay's /ho/sales page (status {page.status_code}) does not "
                            f"show the sales total {total}")
        self.note(f"signed in as HO viewer demo: /ho/sales shows {total} sold")

    def _report(self, result: Result) -> None:
        db = self.db
        result.sales = json.loads(self.kassa("ho", "sales", "--json", "--site", SITE, "--db", db))
        result.sent = json.loads(self.kassa("ho", "sent", "--json", "--site", SITE, "--db", db))
        rows = json.loads(self.kassa("ho", "received", "--json", "--limit", "100000", "--db", db))
        for r in rows:
            result.statuses[r["status"]] = result.statuses.get(r["status"], 0) + 1
        result.mismatches = compare(result.sales, result.closings)
        for m in result.sent:
            for d in m["sites"]:
                if d["status"] != "PROCESSED":
                    result.mismatches.append(
                        f"message {m['id']} ({m['kind']}) is {d['status']} at {d['site']}")
        for status, count in result.statuses.items():
            if status != "PROCESSED":
                result.mismatches.append(f"{count} records are {status} at HO")
        (self.out / "report" / "ho-sales.json").write_text(json.dumps(result.sales, indent=1) + "\n")
        (self.out / "report" / "ho-sent.json").write_text(json.dumps(result.sent, indent=1) + "\n")
        show_report(self.console, result)
        if result.mismatches:
            raise DemoError("HO's figures and the tills' do not agree:\n" + "\n".join(result.mismatches))


def z_totals(closings: dict[str, dict[int, Any]]) -> dict[str, Any]:
    """The tills' Z closings added up, in the shape of HO's sales report."""
    tot: dict[str, Any] = {"sales": 0, "sales_total": 0, "refunds": 0, "refunds_total": 0,
                           "tenders": {}, "taxes": {}}
    for body in closings.values():
        counts = body.get(R.P_COUNTS, {})
        tot["sales"] += counts.get(R.C_SALES, 0)
        tot["refunds"] += counts.get(R.C_STORNOS, 0)
        tot["sales_total"] += body.get(R.P_SALES, 0)
        tot["refunds_total"] += body.get(R.P_REFUNDS, 0)
        for tender, amount in body.get(R.P_TENDERS, []):
            tot["tenders"][str(tender)] = tot["tenders"].get(str(tender), 0) + amount
        for cls, _rate, net, tax, gross in body.get(R.P_TAXES, []):
            have = tot["taxes"].setdefault(cls, [0, 0, 0])
            for i, v in enumerate((net, tax, gross)):
                have[i] += v
    return tot


def ho_totals(sales: list[dict[str, Any]]) -> dict[str, Any]:
    """HO's consolidated rows (one per day) added up."""
    tot: dict[str, Any] = {"sales": 0, "sales_total": 0, "refunds": 0, "refunds_total": 0,
                           "tenders": {}, "taxes": {}}
    for row in sales:
        for k in ("sales", "sales_total", "refunds", "refunds_total"):
            tot[k] += row[k]
        for tender, amount in row["tenders"].items():
            tot["tenders"][tender] = tot["tenders"].get(tender, 0) + amount
        for t in row["taxes"]:
            have = tot["taxes"].setdefault(t["class"], [0, 0, 0])
            for i, k in enumerate(("net", "tax", "gross")):
                have[i] += t[k]
    return tot


def compare(sales: list[dict[str, Any]], closings: dict[str, dict[int, Any]]) -> list[str]:
    """Every figure where HO and the tills' Z closings differ (to the cent)."""
    ho, z = ho_totals(sales), z_totals(closings)
    out = []
    for k in ("sales", "sales_total", "refunds", "refunds_total"):
        if ho[k] != z[k]:
            out.append(f"{k}: HO {ho[k]}, Z closings {z[k]}")
    for k in ("tenders", "taxes"):
        if {a: b for a, b in ho[k].items() if b} != {a: b for a, b in z[k].items() if b}:
            out.append(f"{k}: HO {ho[k]}, Z closings {z[k]}")
    return out


def _money(minor: int) -> str:
    return f"{minor / 100:,.2f}" if isinstance(minor, int) else str(minor)


def show_report(console: Console, result: Result) -> None:
    from rich.table import Table

    ho, z = ho_totals(result.sales), z_totals(result.closings)
    table = Table(title="HO's consolidated sales against the tills' Z closings")
    table.add_column("figure")
    table.add_column("HO (kassa ho sales)", justify="right")
    table.add_column("Z closings (journals)", justify="right")
    table.add_column("")
    rows = [("sales", str(ho["sales"]), str(z["sales"])),
            ("sales total", _money(ho["sales_total"]), _money(z["sales_total"])),
            ("refunds", str(ho["refunds"]), str(z["refunds"])),
            ("refunds total", _money(ho["refunds_total"]), _money(z["refunds_total"]))]
    names = {str(k): v for k, v in R.TENDER_NAMES.items()}
    for t in sorted(set(ho["tenders"]) | set(z["tenders"])):
        rows.append((f"tender {names.get(t, t)}", _money(ho["tenders"].get(t, 0)),
                     _money(z["tenders"].get(t, 0))))
    for c in sorted(set(ho["taxes"]) | set(z["taxes"])):
        rows.append((f"tax class {c} (gross / tax)",
                     " / ".join(_money(v) for v in ho["taxes"].get(c, [0, 0, 0])[2:0:-1]),
                     " / ".join(_money(v) for v in z["taxes"].get(c, [0, 0, 0])[2:0:-1])))
    for name, a, b in rows:
        table.add_row(name, a, b, "[green]=[/]" if a == b else "[red]≠[/]")
    console.print(table)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items()))
    console.print(f"   records at HO: {statuses}")
    for m in result.sent:
        for d in m["sites"]:
            console.print(f"   sent: message {m['id']} {m['kind']} to {d['site']}: {d['status']}",
                          highlight=False)


def prepare(out: Path) -> None:
    """A new output directory, or one a previous demo made (cleared)."""
    if out.exists():
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise DemoError(f"{out} exists and was not made by kassa demo: give another --out "
                            "or an empty directory")
        shutil.rmtree(out)
    for sub in ("ho", "gateway", "tills", "logs", "receipts", "report"):
        (out / sub).mkdir(parents=True)
    (out / MARKER).write_text("made by kassa demo; the next run clears this directory\n")


def _shown(path: Path) -> str:
    """A path as typed from here: relative below the working directory, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def finish(console: Console, result: Result) -> None:
    rel = _shown(result.out)
    k = _shown(Path(sys.executable).with_name("kassa"))
    console.print(f"\n[bold green]The demo ran end to end in {result.seconds:.0f} s; "
                  "nothing is left running.[/]")
    console.print(f"""
  Receipts (PNG)      {rel}/tills/till-N/receipt-*.png (one per receipt, as the sim's screen saves them)
                      {rel}/receipts/till-1.png, till-2.png (all of each till's paper: kassa receipt render)
  Journals            {rel}/tills/till-N/journal/
                        {k} journal verify {rel}/tills/till-1/journal --key {rel}/tills/till-1/till.key --till-id {SITE}/till-1
  Relay database      {rel}/ho/relay.sqlite3 (SQLite); HO's views:
                        {k} ho sales --db {rel}/ho/relay.sqlite3
                        {k} ho sent --db {rel}/ho/relay.sqlite3
  HO web console      start the relay again on the demo's database:
                        {k} relay serve --db {rel}/ho/relay.sqlite3
                      open http://127.0.0.1:8470/ho/ and sign in with the token in
                        {rel}/ho/demo-viewer.token (an HO viewer; `kassa ho user add NAME --role admin` for an admin)
  Gateway             {rel}/gateway/gateway.toml; its runs: {k} gateway status {rel}/gateway/gateway.toml
  Try a till by hand  {k} sim run {rel}/tills/till-1
                        (sign on: 1 s, PIN 1111 Enter; a scale label: F2 {catalog.weight_label(1, 1234)})
  Logs                {rel}/logs/ (every command and its output), tills/till-N/console.txt
  Report              {rel}/report/ (Z closings, HO's sales and sent data as JSON)

  The sim tills ran with {HEAP_KIB}K of heap beside their firmware: a Pico W's 192K
  and 32K for this MicroPython's 64-bit objects.""", highlight=False,
                  soft_wrap=True)
