"""The whole chain on this computer, with faults on every hop, for
tests/e2e/test_chain_e2e.py and bench/bench_chain.py.

    sim tills (firmware/main.py under MicroPython, ROMFS, the heap that installs
      HO's packages beside: host_tools/provision/sim.py SIM_HEAP_KIB), freshly
      flashed: an identity and no HO data, so they cannot sell until the
      gateway's first sync brings HO's full snapshot
      -- their links on loopback TCP, each behind a FaultProxy (drops, corrupts,
         duplicates chunks, cuts the connection after n bytes: mid-frame) --
    `kassa gateway sync` (the real command, a child process that can be SIGKILLed)
      -- HTTP --
    `kassa relay serve` (uvicorn, a child process; SQLite or PostgreSQL; its
    worker processes what arrives)

The pieces are the project's own: the demo's catalog and cashier script
(host_tools.demo), linktill.RunningTill, faultproxy, tests/relay/relay_proc's
RelayProcess. The harness reads each till's journal after every step it takes
(chain_audit.TillFacts.observe), so a record the till frees once HO processed
it is still accounted for."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("relay", "host")]

import cbor2  # noqa: E402
from PIL import Image  # noqa: E402

from chain_audit import TillFacts, download_problems, ho_facts, problems  # noqa: E402
from faultproxy import FaultProxy, Faults  # noqa: E402
from linktill import RunningTill, free_port  # noqa: E402
from relay_proc import RelayProcess  # noqa: E402

from host_tools.cli import main as kassa_main  # noqa: E402
from host_tools.demo import catalog, day  # noqa: E402
from host_tools.demo.run import kassa_argv  # noqa: E402
from host_tools.gateway.outbox import Outbox  # noqa: E402
from host_tools.gateway.relay_client import RelayClient  # noqa: E402
from host_tools.hodata import journal_reader as jr  # noqa: E402
from host_tools.hodata import snapshot_builder as sb  # noqa: E402
from host_tools.provision import sim  # noqa: E402
from host_tools.relay import publish  # noqa: E402
from host_tools.relay.store import Store, open_store  # noqa: E402
from till.formats import journal as J  # noqa: E402
from till.formats import records as R  # noqa: E402

# The heap beside the image: the sim till's (host_tools/provision/sim.py).
PACKAGE_HEAP_KIB = sim.SIM_HEAP_KIB

SITE = "S001"
LOGO_FILE = "logo.ras"  # firmware/till/app.py: HO's logo in the till's snapshot folder
TILL_NAMES = ("till-1", "till-2")
# The link hop's faults while the chain is "faulty": per chunk a pump reads
# (up to 512 bytes, so a loss is mid-frame), and a cut after 500-6000 bytes of
# each connection (one or more per sync of a few dozen records).
LINK_DROP, LINK_CORRUPT, LINK_DUPLICATE = 0.02, 0.02, 0.05
LINK_DELAY, LINK_REORDER = 0.01, 0.01  # a stall of up to 0.3 s; a chunk sent after the next
LINK_CUT_AFTER = (500, 6000)
UPLINK_BYTES_PER_S = 30_000
SNAPSHOT_CREATED = 1_796_000_000  # HO's snapshot 1, the base of its deltas
NO_HO_DATA = "No HO data: sync the"  # what a till without HO's data says to a sign-on (firmware/till/pos)


class Story(list[str]):
    """Lines of what happened, each with the seconds since the chain started."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()

    def append(self, line: str) -> None:
        super().append(f"{time.monotonic() - self.start:6.1f} s  {line}")


class ChainError(AssertionError):
    """A step of the chain did not do what it must; the message says where to look."""


@dataclass
class Till:
    name: str
    root: Path
    port: int  # the till's own link port, kept across restarts
    proxy: FaultProxy  # what the gateway's configuration names
    facts: TillFacts
    proc: RunningTill | None = None
    boots: int = 0
    refunded: set[int] = field(default_factory=set)
    has_data: bool = False  # HO's data reached it (the first contact)
    heap_low: tuple[int, int] | None = None  # the lowest free heap and largest free block seen

    @property
    def till_id(self) -> str:
        return f"{SITE}/{self.name}"


class Chain:
    def __init__(self, tmp: Path, db_url: str, seed: int = 1, names: tuple[str, ...] = TILL_NAMES,
                 gateway_retry: tuple[int, float, float] = (4, 0.3, 1.0), worker_interval_s: float = 0.1,
                 uplink_bytes_per_s: float | None = UPLINK_BYTES_PER_S,
                 heap_beside_kib: int = PACKAGE_HEAP_KIB) -> None:
        """worker_interval_s: the relay's processing rounds (its default is 1 s;
        the tests go faster); uplink_bytes_per_s None: an unthrottled uplink;
        heap_beside_kib: the tills' heap beside the firmware image."""
        self.tmp, self.db_url, self.seed = tmp, db_url, seed
        self.heap_beside_kib = heap_beside_kib
        self.tills: dict[str, Till] = {}
        try:
            self._start(names, gateway_retry, worker_interval_s, uplink_bytes_per_s)
        except BaseException:
            self.close()
            raise

    def _start(self, names: tuple[str, ...], gateway_retry: tuple[int, float, float],
               worker_interval_s: float, uplink_bytes_per_s: float | None) -> None:
        tmp, seed = self.tmp, self.seed
        self.rnd = random.Random(seed)
        self.items = catalog.items()
        self.log = Story()  # what was done and when, for a failure's message
        self.counts: dict[str, int] = {}  # faults injected, by kind
        (tmp / "logs").mkdir(parents=True, exist_ok=True)
        files = self.catalog_files = catalog.write(tmp / "catalog")
        # HO's snapshot 1 of the catalog: the first contact brings it to the
        # tills whole, and it is the base of HO's deltas.
        cfg = sb.load_config(files.store)
        sb.build(sb.load_items(files.items, cfg), cfg, 1, tmp / "ho" / "snap-1", created=SNAPSHOT_CREATED)
        self.published = False
        self.image = sim.romfs_image(tmp / "firmware.romfs")
        # HO registers the site and the tills' keys before the relay serves.
        self.store: Store = open_store(self.db_url)
        token = self.store.add_site(SITE, "Chain test store")
        for i, name in enumerate(names):
            key = hashlib.sha256(f"chain {seed} {name}".encode()).digest()
            # What `kassa flash` alone leaves: an identity, no HO data.
            root = sim.init(tmp / "tills" / name, f"{SITE}/{name}", key, data=False)
            self.store.add_till(f"{SITE}/{name}", key)
            port = free_port()
            proxy = FaultProxy(port, Faults(seed=seed * 100 + i, each_once=True))
            self.tills[name] = Till(name, root, port, proxy, TillFacts(name, f"{SITE}/{name}"))
        self.relay = RelayProcess(self.db_url, worker_interval_s=worker_interval_s, log=tmp / "logs" / "relay.log")
        self.relay.start()
        # The gateway reaches the relay through a slower line (as a store's
        # uplink is): an upload of a few batches then takes long enough for a
        # kill to land between them.
        self.uplink = FaultProxy(self.relay.port, Faults(bytes_per_s=uplink_bytes_per_s))
        cred = tmp / "gateway" / "site.credential"
        cred.parent.mkdir(parents=True)
        cred.write_text(token + "\n")
        cred.chmod(0o600)
        self.gateway_toml = tmp / "gateway" / "gateway.toml"
        attempts, base_s, cap_s = gateway_retry
        self.gateway_toml.write_text(
            f'site = "{SITE}"\nrelay_url = "http://127.0.0.1:{self.uplink.port}"\ncredential_file = "site.credential"\n'
            'outbox = "outbox.sqlite3"\npictures = "pictures"\n\n'
            f"[retry]\nattempts = {attempts}\nbase_s = {base_s}\ncap_s = {cap_s}\n\n"
            # Small batches: an upload is several requests, so a kill can land between them.
            "[upload]\nbatch_records = 4\nread_records = 8\n"
            + "".join(f'\n[[till]]\nname = "{t.name}"\nurl = "{t.proxy.url}"\n'
                      for t in self.tills.values()))
        self.outbox_path = self.gateway_toml.parent / "outbox.sqlite3"
        self.gateway_runs = 0
        for t in self.tills.values():
            self.boot(t)

    # -- faults on the link hop ----------------------------------------------------
    def faulty_links(self, on: bool) -> None:
        for t in self.tills.values():
            f = t.proxy.faults
            f.drop, f.corrupt, f.duplicate = (LINK_DROP, LINK_CORRUPT, LINK_DUPLICATE) if on else (0, 0, 0)
            f.delay, f.reorder = (LINK_DELAY, LINK_REORDER) if on else (0, 0)
            f.cut_after = LINK_CUT_AFTER if on else None

    def link_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tills.values():
            for k, v in t.proxy.faults.counts.items():
                if k != "bytes":
                    out[f"link {k}"] = out.get(f"link {k}", 0) + v
        return out

    # -- tills -------------------------------------------------------------------
    def boot(self, t: Till) -> None:
        """Start (or restart, after a power cut) a till on its flash and port;
        its clock from the RTC (the host's time), the cashier signs on. A
        till without HO's data must refuse."""
        if t.boots:
            (t.root / "console.txt").rename(t.root / f"console-{t.boots}.txt")
        t.boots += 1
        t.proc = RunningTill(t.root, self.image, port=t.port, heap_beside_kib=self.heap_beside_kib)
        t.proc.wait_listening()
        # The float, once a day: keyed at the first boot's sign-on where the
        # till has HO data, else once the first contact brought it.
        float_in = day.cash_in() if t.boots == 1 and t.has_data else []
        self.keys(t, [f"clock {int(time.time())}"] + day.sign_on() + float_in, "signed")
        if not t.has_data and NO_HO_DATA not in t.proc.console():
            raise ChainError(f"{t.name} has no HO data but did not refuse to sign on ({NO_HO_DATA!r}): "
                             + t.proc.console()[-2000:])

    def applied(self, t: Till) -> list[tuple[int, int | None]]:
        """The HO data each config record of the till's journal says it put in
        force, in order: (version, the base a delta was applied to, None for
        a full snapshot)."""
        out = []
        for _, raw in sorted(t.facts.records.items()):
            rec = cbor2.loads(raw)
            if rec[3] == J.KIND_CONFIG:
                out.append((rec[4][R.C_VERSION], rec[4].get(R.C_BASE)))
        return out

    # -- first contact and the deltas after it -----------------------------------
    def first_contact(self) -> None:
        """The freshly flashed tills (they refused to sign on at boot) meet
        HO: HO publishes its full snapshot for the site, and the gateway's
        first run, with no faults, is a full sync both ways: the whole
        snapshot down (every byte of its package crosses each till's link;
        the till journals version 1 put in force as a full snapshot, not a
        delta) and the whole journal up (the run reads every record the
        till holds, from record 0).
        Then the cashiers sign on."""
        ho = self.tmp / "ho"
        self._kassa("ho", "publish", "--snapshot", ho / "snap-1", "--site", SITE, "--db", self.db_url)
        [full] = publish.sent(self.store, SITE)
        if (full["kind"], full["info"].get("version"), full["info"].get("base")) != ("snapshot", 1, None):
            raise ChainError(f"HO's first publish is not the full snapshot 1: {full}")
        before = {t.name: t.proxy.faults.counts["bytes"] for t in self.tills.values()}
        heads = {t.name: max(t.facts.records, default=0) for t in self.tills.values()}
        first_run = self.gateway_runs + 1
        if self.gateway() != 0:
            raise ChainError("the first contact failed:\n" + self.gateway_log(first_run)[-3000:])
        log = self.gateway_log(first_run)
        for t in self.tills.values():
            crossed = t.proxy.faults.counts["bytes"] - before[t.name]
            if not re.search(rf"^{t.name}: full sync: {heads[t.name]} records to read after 0$", log, re.M):
                raise ChainError(f"the first run was not a full sync of {t.name}'s {heads[t.name]} "
                                 f"records:\n{log[-3000:]}")
            if self.applied(t)[:1] != [(1, None)]:
                raise ChainError(f"{t.name} did not put HO's full snapshot 1 in force first: {self.applied(t)}")
            if crossed < full["size"]:
                raise ChainError(f"{crossed} bytes crossed {t.name}'s link, fewer than the full snapshot's "
                                 f"{full['size']}")
            t.has_data = True
            self.keys(t, day.sign_on() + day.cash_in(), "signed")
        # (The tills journaled putting the snapshot in force after the run
        # read them: the next run, a delta, brings that up.)
        self.log.append(f"first contact: the full snapshot ({full['size']} bytes) down to each till, "
                        "their journals up; the cashiers signed on")

    def delta_sync(self) -> None:
        """The runs after the first contact, with no faults, until the
        account balances: the first reads only the records after what the
        gateway holds, for each till."""
        run = self.gateway_runs + 1
        self.settle()
        log = self.gateway_log(run)
        for t in self.tills.values():
            found = re.search(rf"^{t.name}: delta: (\d+) records to read after (\d+)$", log, re.M)
            if found is None or int(found[1]) < 1 or int(found[2]) < 1:
                raise ChainError(f"run {run} did not read a delta from {t.name}:\n{log[-3000:]}")
        self.log.append("a delta sync: each till's new records up")

    def keys(self, t: Till, lines: list[str], label: str, timeout_s: float = 60) -> None:
        """Script lines to a till; returns when it has worked through them."""
        assert t.proc is not None
        mark = f"{label}-{len(self.log)}-{self.rnd.randrange(1 << 30)}"
        t.proc.send("\n".join(lines + [f"heap {mark}"]))
        t.proc.wait_for(f"HEAP {mark} ", timeout_s)
        free, largest = next(h[1:] for h in reversed(t.proc.heap()) if h[0] == mark)
        low = t.heap_low or (free, largest)
        t.heap_low = (min(low[0], free), min(low[1], largest))
        self.observe(t)

    def sell(self, n: int) -> None:
        for t in self.tills.values():
            self.keys(t, day.sales(self.items, n, self.rnd), "sold")
        self.log.append(f"each till sold {n}")

    def refund(self) -> None:
        """Each till refunds one receipt it has not refunded yet (after a sync:
        the offline rules refuse refunds on a till that never synced)."""
        for t in self.tills.values():
            sales = [s for s, raw in sorted(t.facts.records.items())
                     if _kind(raw) == 1 and s not in t.refunded]
            if sales:
                t.refunded.add(sales[0])
                # The cashier keys the number printed on the receipt.
                self.keys(t, day.refund(_number(t.facts.records[sales[0]])), "refund")
        self.log.append("each till refunded a receipt")

    def z_closing(self) -> None:
        for t in self.tills.values():
            self.keys(t, day.z_closing(), "closing")
        self.log.append("Z closing on each till")

    def publish(self) -> None:
        """HO publishes a price change (a delta of the catalog, 1 -> 2) and a
        receipt logo for the site, with the commands HO's staff type (run in
        this process: the same code, without a command's start-up)."""
        ho, f = self.tmp / "ho", self.catalog_files
        self._kassa("snapshot", "delta", "--base", ho / "snap-1", "--changes", f.changes, "--version", "2",
                    "--new-dir", ho / "snap-2", "--out", ho / "delta-1-2.pkg")
        self._kassa("ho", "publish", "--snapshot", ho / "snap-2", "--base", ho / "snap-1", "--site", SITE,
                    "--db", self.db_url)
        # A small logo (2 KB printer-ready): packages cross the faulty line a
        # chunk at a time, each lost frame costing the gateway's 1 s timeout.
        logo = ho / "logo.png"
        Image.open(f.logo).convert("L").resize((512, 32)).save(logo)
        self._kassa("ho", "publish", "--logo", logo, "--site", SITE, "--db", self.db_url)
        self.published = True
        self.log.append("HO published a delta (price change) and a logo")

    def _kassa(self, *args: str | Path) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = kassa_main([str(a) for a in args])
        if code != 0:
            raise ChainError(f"kassa {' '.join(map(str, args))} exited {code}:\n{out.getvalue()}")

    def power_cut(self, t: Till) -> str:
        """Cut the till's power in the middle of a sale: the lines up to the
        tender are handled, then the tender key goes in and the process is
        killed 0-40 ms later (before, during or after the sale's append).
        The till then boots again on its flash."""
        assert t.proc is not None
        lines = day.sales(self.items, 1, self.rnd)
        at = next(i for i, line in enumerate(lines) if line in ("key CASH", "key CARD"))
        self.keys(t, lines[:at], "before-cut")
        delay_s = self.rnd.uniform(0, 0.04)
        head = max(t.facts.records, default=0)
        t.proc.send("\n".join(lines[at:]))
        time.sleep(delay_s)
        t.proc.kill()
        self.observe(t)
        what = "after the sale was journaled" if max(t.facts.records, default=0) > head else \
            "before the sale was journaled"
        self.boot(t)
        self._count("till power cut")
        self.log.append(f"{t.name} power cut {delay_s * 1000:.0f} ms into the tender, {what}")
        return what

    def observe(self, t: Till | None = None, final: bool = False) -> None:
        for x in [t] if t else self.tills.values():
            x.facts.observe(x.root / "journal", final)

    # -- the gateway ----------------------------------------------------------------
    def gateway(self, kill_when_ho_has_more: bool = False, relay_kill: bool = False,
                cut_till: Till | None = None, timeout_s: float = 120) -> int:
        """One `kassa gateway sync`. kill_when_ho_has_more: SIGKILL the gateway
        as soon as the relay holds a record it did not hold when the run
        started (mid-upload); relay_kill: at that moment SIGKILL the relay
        instead, and start it again on the same database and port after a
        moment, while the gateway retries; cut_till: cut that till's power
        0.3-1.2 s into the run (while the gateway talks to it) and boot it
        again. Returns the exit code (-9 killed)."""
        self.gateway_runs += 1
        n = self.gateway_runs
        log = open(self.tmp / "logs" / f"gateway-{n}.log", "w")
        before = self._held_at_ho()
        proc = subprocess.Popen(kassa_argv() + ["gateway", "sync", str(self.gateway_toml)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                env=dict(os.environ, COLUMNS="200"))
        deadline = time.monotonic() + timeout_s
        try:
            if cut_till is not None:
                time.sleep(self.rnd.uniform(0.3, 1.2))
                if proc.poll() is None:
                    assert cut_till.proc is not None
                    cut_till.proc.kill()
                    self.observe(cut_till)
                    self.boot(cut_till)
                    self._count("till power cut mid-sync")
                    self.log.append(f"gateway run {n}: {cut_till.name} lost power during the run")
            if kill_when_ho_has_more or relay_kill:
                while proc.poll() is None and self._held_at_ho() <= before:
                    if time.monotonic() > deadline:
                        raise ChainError(f"gateway run {n} uploaded nothing in {timeout_s:.0f} s")
                    time.sleep(0.005)
                if proc.poll() is None:
                    if relay_kill:
                        self.relay.kill()
                        self._count("relay SIGKILL mid-sync")
                        time.sleep(self.rnd.uniform(0.1, 0.5))
                        self.relay.start()
                        self.log.append(f"gateway run {n}: relay killed mid-upload and restarted")
                    else:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait()
                        pending = self._pending()
                        self._count("gateway SIGKILL mid-sync")
                        if pending:
                            self._count("gateway SIGKILL mid-upload")
                        self.log.append(f"gateway run {n} killed, {pending} records left unuploaded "
                                        "in its outbox")
                else:
                    self.log.append(f"gateway run {n} ended before the kill")
            rc = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise ChainError(f"gateway run {n} did not finish in {timeout_s:.0f} s; "
                             f"see {log.name}") from None
        finally:
            if proc.poll() is None:  # the run failed half way: leave nothing running
                proc.kill()
                proc.wait()
            log.close()
        if rc not in (0, 1, -signal.SIGKILL):
            raise ChainError(f"gateway run {n} exited {rc}:\n" + self.gateway_log(n)[-3000:])
        self.observe()
        self.log.append(f"gateway run {n}: exit {rc}")
        return rc

    def gateway_log(self, n: int) -> str:
        return (self.tmp / "logs" / f"gateway-{n}.log").read_text(errors="replace")

    def lose_outbox(self) -> None:
        """The gateway's disk is replaced: the next run is a full sync again,
        re-reading and re-uploading everything no till has had PROCESSED."""
        for p in self.outbox_path.parent.glob("outbox.sqlite3*"):
            p.unlink()
        self._count("gateway outbox lost")
        self.log.append("the gateway's outbox was deleted")

    def replay(self) -> int:
        """The same upload again, straight to the relay: the last few records
        HO holds of each till, as the gateway sent them. Each must come back
        as a duplicate and change nothing. Returns how many were replayed."""
        token = (self.gateway_toml.parent / "site.credential").read_text().strip()
        client = RelayClient(self.relay.url, SITE, token)
        replayed = 0
        try:
            for t in self.tills.values():
                held = self.store.received(t.till_id, limit=1_000_000)
                batch = [(r["seq"], t.facts.records[r["seq"]]) for r in held[-6:]]
                if not batch:
                    continue
                result = client.upload(t.name, batch, batch[-1][0])
                bad = [a for a in result.acks if a.outcome != "duplicate"]
                if bad or len(result.acks) != len(batch):
                    raise ChainError(f"a replayed upload of {t.name} was not all duplicates: {result}")
                replayed += len(batch)
        finally:
            client.close()
        self._count("upload replayed")
        self.log.append(f"{replayed} records uploaded again")
        return replayed

    # -- the end --------------------------------------------------------------------
    def settle(self, tries: int = 8) -> None:
        """With the faults healed: sync until the account balances (HO holds
        and has processed every record of every till but the last run's own
        traces, chain_audit), waiting for HO's worker after each run."""
        self.faulty_links(False)
        for _ in range(tries):
            self.gateway()
            if self._balanced(wait_s=10):
                return
            set_aside = [r for t in self.tills.values() for status in ("QUARANTINED", "REJECTED")
                         for r in self.store.received(t.till_id, status, limit=20)]
            if set_aside:  # no further run can balance the account
                raise ChainError(f"HO set records aside: {set_aside}\n" + "\n".join(self.problems()))
        raise ChainError("the account never balanced:\n" + "\n".join(self.problems()))

    def stop_tills(self) -> None:
        for t in self.tills.values():
            if t.proc is not None:
                code = t.proc.stop()
                if code != 0:
                    raise ChainError(f"{t.name} ended with {code}: {t.proc.console()[-2000:]}")
                t.proc = None
        self.observe(final=True)
        for t in self.tills.values():  # `kassa journal verify`'s check of each till's chain
            report = jr.verify(t.root / "journal", jr.load_key(t.root / sim.KEY_FILE), t.till_id)
            t.facts.damage += [f"kassa journal verify: {e}" for e in report.errors]

    def problems(self) -> list[str]:
        out = [p for t in self.tills.values() for p in problems(t.facts, ho_facts(self.store, t.till_id))]
        if self.published:
            sent = publish.sent(self.store, SITE)
            blobs = {m["sha256"]: publish.blob_bytes(self.store, m["sha256"])
                     for m in sent if m["kind"] == "logo"}
            for t in self.tills.values():
                logo = t.root / "snapshot" / LOGO_FILE
                out += download_problems(t.name, t.facts.records,
                                         logo.read_bytes() if logo.exists() else None, sent, blobs)
        return out

    def close(self) -> None:
        """Stop whatever runs (also after a failure half way)."""
        for t in self.tills.values():
            if t.proc is not None:
                t.proc.kill()
            t.proxy.close()
        # After a failure half way, some of these were never made.
        if hasattr(self, "uplink"):
            self.uplink.close()
        try:
            if hasattr(self, "relay"):
                self.relay.kill()
        finally:
            if hasattr(self, "store"):
                self.store.close()

    # -- helpers ----------------------------------------------------------------------
    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _held_at_ho(self) -> int:
        return sum(len(self.store.received(t.till_id, limit=1_000_000)) for t in self.tills.values())

    def _pending(self) -> int:
        outbox = Outbox(self.outbox_path)
        try:
            return sum(outbox.count_pending(t.name) for t in self.tills.values())
        finally:
            outbox.close()

    def _balanced(self, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while self.problems():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def report(self) -> dict[str, Any]:
        """What happened: faults by kind, records and sales per till."""
        out: dict[str, Any] = {**self.counts, **self.link_counts()}
        for t in self.tills.values():
            kinds = [_kind(raw) for raw in t.facts.records.values()]
            out[t.name] = {"records": len(kinds), "sales": kinds.count(1), "refunds": kinds.count(2),
                           "closings": kinds.count(4), "boots": t.boots,
                           "heap low (free, largest block)": t.heap_low}
        return out


FAULTS = ("gateway_kill", "relay_kill", "till_cut", "replay", "outbox_lost")
SWEEP_FAULTS = FAULTS + ("till_cut_sync",)  # the longer sweep draws from these too


def run_day(chain: Chain, rounds: list[str], sales: int = 3) -> None:
    """A store's day with faults: freshly flashed tills refuse to sell until
    the first contact (a full sync: HO's whole snapshot down, the journals
    up), then sell and a delta sync brings the sales up (the tills are
    online); then per round each till sells and one fault of `rounds`
    happens while the gateway syncs through faulty links; HO publishes a
    price change (a delta package) and a logo in the first round (they go
    down through the faults), a refund on each till half way; Z closings;
    then the faults heal and the gateway syncs until HO's account
    balances."""
    chain.first_contact()
    chain.sell(sales)
    chain.delta_sync()
    chain.faulty_links(True)
    for i, fault in enumerate(rounds):
        chain.sell(sales)
        if i == 0:
            chain.publish()
        if i == len(rounds) // 2:
            chain.refund()
        if fault == "gateway_kill":
            chain.gateway(kill_when_ho_has_more=True)
        elif fault == "relay_kill":
            chain.gateway(relay_kill=True)
        elif fault == "till_cut":
            chain.power_cut(chain.rnd.choice(list(chain.tills.values())))
            chain.gateway()
        elif fault == "till_cut_sync":
            chain.gateway(cut_till=chain.rnd.choice(list(chain.tills.values())))
        elif fault == "replay":
            chain.replay()  # what the last run uploaded; this round's sales go with the next run
        elif fault == "outbox_lost":
            chain.lose_outbox()
            chain.gateway()
        else:
            raise ValueError(f"no such fault: {fault}")
    chain.z_closing()
    chain.settle()
    chain.stop_tills()


def _kind(raw: bytes) -> int:
    return int(cbor2.loads(raw)[3])


def _number(raw: bytes) -> int:
    """A sale record's document number (docs/records.md)."""
    import cbor2

    return int(cbor2.loads(raw)[4][11])
