"""End to end under `make bench`: the time from a sale's append on a till to
PROCESSED at HO, over the whole chain (tests/tools/chain.py: two sim tills
under MicroPython, the real `kassa gateway sync`, the relay under uvicorn on
SQLite with its worker at its default 1 s; no faults).

Two ways the gateway runs:
- one `kassa gateway sync` started right after the sale: the chain's own
  latency (the command's start, hello, clock, the read, the upload, HO's
  worker picking the record up);
- `kassa gateway sync --every 1m` running, sales rung at random moments:
  what a store sees, mostly the wait for the next run.

KASSA_BENCH_CHAIN_S sets how long the `--every` part sells (default 300 s)."""
from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from chain import Chain, Till
from host_tools.demo import day
from host_tools.demo.run import kassa_argv

ROOT = Path(__file__).resolve().parent.parent
EVERY = "1m"
EVERY_S = 60
ONE_SHOT_SAMPLES = 5
RELAY_WORKER_S = 1.0  # `kassa relay serve`'s default --worker-interval
SALE = 1  # journal kind


def _ring(chain: Chain, t: Till) -> tuple[int, float]:
    """One sale on the till: its sequence number and when it was on flash
    (the till has handled the keys; the append came just before)."""
    chain.keys(t, day.sales(chain.items, 1, chain.rnd), "bench")
    appended = time.monotonic()
    seq = max(s for s, raw in t.facts.records.items() if _kind(raw) == SALE)
    return seq, appended


def _kind(raw: bytes) -> int:
    import cbor2

    return int(cbor2.loads(raw)[3])


def _processed(chain: Chain, t: Till, seq: int) -> bool:
    rows = chain.store.received(t.till_id, after_seq=seq - 1, limit=1)
    return bool(rows) and rows[0]["seq"] == seq and rows[0]["status"] == "PROCESSED"


def _wait_processed(chain: Chain, t: Till, seq: int, timeout_s: float = 120) -> float:
    deadline = time.monotonic() + timeout_s
    while not _processed(chain, t, seq):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{t.name} record {seq} not PROCESSED at HO within {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.monotonic()


def _row(what: str, samples: list[float]) -> str:
    return (f"| {what} | {len(samples)} | {min(samples):.1f} s | {statistics.median(samples):.1f} s | "
            f"{statistics.mean(samples):.1f} s | {max(samples):.1f} s |")


def bench_chain_latency() -> str:
    duration_s = float(os.environ.get("KASSA_BENCH_CHAIN_S", "300"))
    rnd = random.Random(2026)
    (ROOT / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        chain = Chain(tmp, str(tmp / "relay.sqlite3"), seed=1, worker_interval_s=RELAY_WORKER_S,
                      uplink_bytes_per_s=None)
        gateway: subprocess.Popen[bytes] | None = None
        try:
            chain.first_contact()  # the freshly flashed tills get HO's data
            chain.sell(2)
            chain.settle()  # the tills are online
            tills = list(chain.tills.values())
            one_shot = []
            for i in range(ONE_SHOT_SAMPLES):
                t = tills[i % len(tills)]
                seq, appended = _ring(chain, t)
                chain.gateway()
                one_shot.append(_wait_processed(chain, t, seq) - appended)
            log = open(tmp / "logs" / "gateway-every.log", "w")
            gateway = subprocess.Popen(kassa_argv() + ["gateway", "sync", str(chain.gateway_toml),
                                                       "--every", EVERY, "--quiet"],
                                       stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                                       start_new_session=True)
            every: list[float] = []
            waiting: list[tuple[Till, int, float]] = []
            end = time.monotonic() + duration_s
            next_sale = time.monotonic() + rnd.uniform(5, 25)
            while time.monotonic() < end or waiting:
                now = time.monotonic()
                if now > end + 3 * EVERY_S:
                    raise RuntimeError("sales still not PROCESSED three runs after the last: "
                                       + (tmp / "logs" / "gateway-every.log").read_text()[-2000:])
                if now < end and now >= next_sale:
                    t = rnd.choice(tills)
                    seq, appended = _ring(chain, t)
                    waiting.append((t, seq, appended))
                    next_sale = time.monotonic() + rnd.uniform(5, 25)
                for item in list(waiting):
                    if _processed(chain, item[0], item[1]):
                        every.append(time.monotonic() - item[2])
                        waiting.remove(item)
                time.sleep(0.05)
        finally:
            if gateway is not None:
                gateway.send_signal(signal.SIGINT)  # Ctrl-C: the gateway's own way to stop
                try:
                    gateway.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(gateway.pid, signal.SIGKILL)
                    gateway.wait()
            chain.close()
    return "\n".join([
        "## End to end: a sale to PROCESSED at HO",
        "",
        "Two sim tills (MicroPython, ROMFS), `kassa gateway sync` over their socket://",
        f"links, the relay (`kassa relay serve`, SQLite, worker every {RELAY_WORKER_S:g} s, its",
        "default) on loopback; no faults (tests/tools/chain.py, bench/bench_chain.py). From",
        "the moment the till has journaled the sale until the relay's database shows it",
        "PROCESSED.",
        "",
        "| gateway | sales | min | median | mean | max |",
        "| --- | --- | --- | --- | --- | --- |",
        _row("one run (`kassa gateway sync`) started right after the sale", one_shot),
        _row(f"`kassa gateway sync --every {EVERY}` running, sales at random moments "
             f"over {duration_s:.0f} s", every),
        "",
        f"With `--every {EVERY}` a sale waits for the next run: on average half the",
        f"interval ({EVERY_S // 2} s), at most the whole; then the run's own time and HO's",
        "worker (the first row) come on top. A shorter interval shortens the wait",
        "in proportion; the floor is the first row.",
        "",
    ])
