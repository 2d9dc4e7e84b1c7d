"""The gateway's tests' site (imported by each test module, not a conftest:
a second tests/*/conftest.py would shadow tests/conftest.py for the modules
that import from it): a real relay (the FastAPI app under
uvicorn in a thread, on 127.0.0.1, SQLite in a temp dir) with site S001 and
its tills registered, tills as fake ports over real journals, and gateway
configurations pointing at both."""
from __future__ import annotations

import hashlib
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "relay")]

import uvicorn  # noqa: E402
from fake_till import FakeTill, append_sales, make_till_dir  # noqa: E402
from relay_proc import free_port  # noqa: E402

from host_tools.gateway.config import GatewayConfig, RetryPolicy, TillConfig, UploadLimits  # noqa: E402
from host_tools.relay import processing  # noqa: E402
from host_tools.relay.app import create_app  # noqa: E402
from host_tools.relay.config import RelayConfig  # noqa: E402
from host_tools.relay.store import Store, open_store  # noqa: E402

SITE = "S001"


class RelayServer:
    """The relay app served by uvicorn in a thread; stop() and start() take
    it down and bring it back on the same port (the store stays)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "RelayServer":
        app = create_app(RelayConfig(database_url="unused", worker_interval_s=None), self.store)
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the relay did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None

    def process(self) -> None:
        processing.process(self.store)


@dataclass
class Site:
    relay: RelayServer
    token: str
    tmp: Path
    keys: dict[str, bytes] = field(default_factory=dict)
    tills: dict[str, FakeTill] = field(default_factory=dict)

    def add_till(self, name: str, sales: int = 0, seed: int = 1, register: bool = True) -> FakeTill:
        till_id = f"{SITE}/{name}"
        key = secrets.token_bytes(32)
        if register:
            self.relay.store.add_till(till_id, key)
        directory = make_till_dir(self.tmp / "tills" / name, till_id, key)
        if sales:
            append_sales(directory, till_id, key, sales, seed)
        self.keys[name] = key
        self.tills[name] = FakeTill(directory, till_id, key)
        return self.tills[name]

    def sell(self, name: str, count: int, seed: int = 2) -> None:
        t = self.tills[name]
        append_sales(t.directory, t.till_id, t.key, count, seed)

    def config(self, names: list[str] | None = None, attempts: int = 3, batch_records: int = 50,
               read_records: int = 25) -> GatewayConfig:
        return GatewayConfig(
            path=self.tmp / "gateway.toml", site=SITE, relay_url=self.relay.url, credential=self.token,
            outbox=self.tmp / "gw" / "outbox.sqlite3", pictures=self.tmp / "gw" / "pictures",
            tills=tuple(TillConfig(n, f"fake:{self.tmp / 'tills' / n}") for n in (names or list(self.tills))),
            retry=RetryPolicy(attempts=attempts, base_s=0.0, cap_s=0.0),
            upload=UploadLimits(batch_records=batch_records, read_records=read_records))

    def open_till(self, url: str) -> FakeTill:
        """The gateway's factory: the same FakeTill object for a till's URL,
        so a test sees (and steers) every call the gateway makes."""
        for t in self.tills.values():
            if url == f"fake:{t.directory}":
                t.closed = False
                return t
        raise AssertionError(url)

    def held_at_ho(self, name: str) -> list[int]:
        return [r["seq"] for r in self.relay.store.received(f"{SITE}/{name}", limit=100000)]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = open_store(str(tmp_path / "relay.sqlite3"))
    token = store.add_site(SITE, "Main street")
    relay = RelayServer(store).start()
    try:
        yield Site(relay, token, tmp_path)
    finally:
        relay.stop()
        store.close()


def raws_of(site: Site, name: str) -> dict[int, bytes]:
    """Every record on the till's flash now, by seq (take it before the till frees any)."""
    return dict(site.tills[name].records_after(0, 1 << 30))


def exactly_once(site: Site, name: str, raws: dict[int, bytes]) -> None:
    """HO holds every one of the till's records, each once and with the till's bytes."""
    held = site.relay.store.received(f"S001/{name}", limit=100000)
    assert [r["seq"] for r in held] == sorted(raws), "every record at HO, none missing"
    assert all(r["sha256"] == hashlib.sha256(raws[r["seq"]]).hexdigest() for r in held)
    assert site.relay.store.conflicts() == []
