"""Head office and a store's gateway as the deploy tests drive them, by the
commands a person types: HO's relay on SQLite under uvicorn (`kassa relay
serve`, 127.0.0.1), site S001 added (`kassa ho site add`), HO's snapshot 1 of
the example store built, and a gateway.toml for one till, till-1, whose link is
on a free loopback port. `register()` is HO's side of a new till (`kassa ho
till add --key-file`, then `kassa ho publish`: HO publishes to a site's
registered tills); `sync()` is one `kassa gateway sync`."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from linktill import free_port

from host_tools.cli import main
from host_tools.provision import sim
from host_tools.relay.store import open_store

SITE = "S001"
TILL_ID = f"{SITE}/till-1"
KASSA = [sys.executable, "-c", "import sys; from host_tools.cli import main; sys.exit(main())"]


def kassa(*args: str | Path) -> str:
    """One kassa command in this process; its stdout (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    assert rc == 0, f"kassa {' '.join(map(str, args))}: {rc}\n{out.getvalue()}{err.getvalue()}"
    return out.getvalue()


def wait_port(port: int, what: str, alive: Callable[[], bool], timeout_s: float = 60) -> None:
    """Wait until something listens on 127.0.0.1:port (while alive())."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert alive(), f"{what} stopped"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} never listened on port {port}")


class HoSite:
    def __init__(self, tmp: Path, db: Path, gateway: Path, link_port: int) -> None:
        self.tmp, self.db, self.gateway, self.link_port = tmp, db, gateway, link_port

    def register(self, key_file: Path) -> None:
        kassa("ho", "till", "add", TILL_ID, "--key-file", key_file, "--db", self.db)
        kassa("ho", "publish", "--snapshot", self.tmp / "ho" / "snap-1", "--site", SITE,
              "--db", self.db)

    def sync(self) -> dict[str, Any]:
        """One `kassa gateway sync`; then what `kassa gateway status --json`
        says of the till (its id, firmware, journal head...)."""
        kassa("gateway", "sync", self.gateway, "--quiet")
        status = json.loads(kassa("gateway", "status", self.gateway, "--json"))
        assert all(r["status"] != "Failed" for r in status["runs"]), status["runs"]
        return dict(status["tills"][0])

    def at_ho(self, sales: int, timeout_s: float = 30) -> list[dict[str, Any]]:
        """The till's records HO holds, once HO's worker has processed them
        all and counts `sales` sales for the site."""
        store = open_store(str(self.db))
        try:
            end = time.monotonic() + timeout_s
            while True:
                held = store.received(TILL_ID, limit=10_000)
                counted = sum(day["sales"] for day in store.sales(SITE))
                done = all(r["status"] == "PROCESSED" for r in held)
                if (counted == sales and done) or time.monotonic() > end:
                    assert counted == sales, f"HO counts {counted} sales, not {sales}"
                    assert done, held
                    return held
                time.sleep(0.2)
        finally:
            store.close()


@contextlib.contextmanager
def ho_site(tmp: Path) -> Iterator[HoSite]:
    db = tmp / "ho" / "relay.sqlite3"
    db.parent.mkdir(parents=True)
    out = kassa("ho", "site", "add", SITE, "--name", "Deploy test", "--db", db)
    cred = re.search(rf"site\.{SITE}\.\S+", out)
    assert cred is not None, out
    kassa("snapshot", "build", "--items", sim.EXAMPLE_STORE / "items.csv", "--config",
          sim.EXAMPLE_STORE / "store.json", "--version", "1", "--out", tmp / "ho" / "snap-1")
    relay_port, link_port = free_port(), free_port()
    gw = tmp / "gateway"
    gw.mkdir()
    (gw / "site.credential").write_text(cred.group(0) + "\n")
    (gw / "site.credential").chmod(0o600)
    (gw / "gateway.toml").write_text(
        f'site = "{SITE}"\nrelay_url = "http://127.0.0.1:{relay_port}"\n'
        'credential_file = "site.credential"\noutbox = "outbox.sqlite3"\npictures = "pictures"\n'
        "[retry]\nattempts = 3\nbase_s = 0.2\ncap_s = 1\n"
        f'[[till]]\nname = "till-1"\nurl = "socket://127.0.0.1:{link_port}"\n')
    with open(tmp / "ho" / "relay.log", "w") as log:
        relay = subprocess.Popen(KASSA + ["relay", "serve", "--db", str(db), "--port",
                                          str(relay_port), "--worker-interval", "0.2",
                                          "--log-level", "warning"],
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(relay_port, "the relay", lambda: relay.poll() is None)
            yield HoSite(tmp, db, gw / "gateway.toml", link_port)
        finally:
            os.killpg(relay.pid, signal.SIGTERM)
            try:
                relay.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(relay.pid, signal.SIGKILL)
                relay.wait()
