"""The relay under `make bench`: ingest and processing in sales per second, on
SQLite and on PostgreSQL, each beside a plain batched INSERT of the same rows
into the same database in the same run.

Ingest is HTTP: a real relay (`python -m host_tools.relay serve --no-worker`,
uvicorn on 127.0.0.1, as tests/relay/relay_proc.py starts it) and gateway-like
clients in this process, one thread per group of tills, each uploading its
tills' signed journals (written by the firmware's journal, sales only) in
batches of BATCH records, every batch answered after its commit. Processing is
`kassa ho process`'s function in this process: chain verification with each
till's key, CDDL validation, consolidation, one transaction per till and round.

The plain INSERT is the peer: the same (till, seq, raw, sha256, received_at,
status) rows, the same batches, one transaction per batch, into a table of the
same shape, through the same driver settings (SQLite WAL, synchronous=FULL;
PostgreSQL with fsync on). It is measured before and after the relay and the
two runs averaged, since this shared machine's load drifts.

`python bench/bench_relay.py --profile` profiles one SQLite ingest and
processing run with pyinstrument instead (the relay in-process then).
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "relay"))

import httpx  # noqa: E402
from journals import batch, write_journal  # noqa: E402
from pg_cluster import Cluster  # noqa: E402
from relay_proc import RelayProcess  # noqa: E402

from host_tools.relay import processing  # noqa: E402
from host_tools.relay.store import Store, open_store  # noqa: E402

TILLS = 16
SALES_PER_TILL = 1250
BATCH = 500           # records per upload (a gateway catching up after a day offline)
CLIENTS = 4           # concurrent uploading gateways
GOAL_SQLITE = 5000    # issue 8: sales/s ingest on SQLite, and half the plain INSERT's rate
GOAL_SHARE = 0.5
GOAL_PROCESS = 1400   # issue 8's scale: the peak of 10,000 stores (_peak), on both databases

Journals = dict[str, list[tuple[int, bytes]]]


def _peak() -> str:
    # issue 8's figure: 20 million sales a day, as if all fell in 4 busy hours
    return f"10,000 stores at 2,000 sales a day peak near {10_000 * 2000 // (4 * 3600):,} sales/s"


def make_journals() -> tuple[dict[str, bytes], Journals]:
    """TILLS tills of S001..S004, each with its key and SALES_PER_TILL signed sales."""
    import secrets

    keys: dict[str, bytes] = {}
    journals: Journals = {}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        for n in range(TILLS):
            till = f"S{n % 4 + 1:03d}/till-{n + 1}"
            keys[till] = secrets.token_bytes(32)
            journals[till] = write_journal(f"{d}/{n}", till, keys[till], SALES_PER_TILL, seed=n,
                                           step_s=29, sales_only=True)
    return keys, journals


def register(store: Store, keys: dict[str, bytes]) -> dict[str, str]:
    """Sites and tills at HO; each site's token."""
    tokens = {}
    for till in keys:
        site = till.split("/")[0]
        if site not in tokens:
            tokens[site] = store.add_site(site, f"bench {site}")
        store.add_till(till, keys[till])
    return tokens


def _batches(journals: Journals) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    for till, records in journals.items():
        for i in range(0, len(records), BATCH):
            yield till, records[i:i + BATCH]


# ------------------------------------------------------------- plain INSERT

_PLAIN = ("CREATE TABLE bench_plain (till_id TEXT NOT NULL, seq BIGINT NOT NULL, raw {BLOB} NOT NULL, "
          "sha256 {BLOB} NOT NULL, received_at BIGINT NOT NULL, status TEXT NOT NULL, "
          "PRIMARY KEY (till_id, seq))")


def _rows(till: str, records: list[tuple[int, bytes]], now: int) -> list[tuple[Any, ...]]:
    return [(till, seq, raw, hashlib.sha256(raw).digest(), now, "UPLOADED") for seq, raw in records]


def plain_insert(url: str, journals: Journals) -> float:
    """Sales/s of executemany INSERTs, one transaction per batch."""
    now = int(time.time())
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_plain")
            conn.execute(_PLAIN.replace("{BLOB}", "BYTEA"))
            t0 = time.perf_counter()
            for till, records in _batches(journals):
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany("INSERT INTO bench_plain VALUES (%s, %s, %s, %s, %s, %s)",
                                    _rows(till, records, now))
            elapsed = time.perf_counter() - t0
            conn.execute("DROP TABLE bench_plain")
    else:
        db = sqlite3.connect(url, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL"):  # as host_tools/relay/sqlite_store.py
            db.execute(f"PRAGMA {pragma}")
        db.execute("DROP TABLE IF EXISTS bench_plain")
        db.execute(_PLAIN.replace("{BLOB}", "BLOB"))
        t0 = time.perf_counter()
        for till, records in _batches(journals):
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO bench_plain VALUES (?, ?, ?, ?, ?, ?)", _rows(till, records, now))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        db.execute("DROP TABLE bench_plain")
        db.close()
    return sum(map(len, journals.values())) / elapsed


# ------------------------------------------------------------------- ingest

def upload_all(base_url: str, tokens: dict[str, str], journals: Journals,
               post: Callable[..., Any] | None = None) -> float:
    """Sales/s of CLIENTS threads uploading every till's journal over HTTP."""
    tills = list(journals)
    groups = [tills[i::CLIENTS] for i in range(CLIENTS)]
    errors: list[str] = []

    def gateway(group: list[str]) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            for till in group:
                site, name = till.split("/")
                headers = {"Authorization": f"Bearer {tokens[site]}", "Content-Type": "application/cbor-seq"}
                records = journals[till]
                for i in range(0, len(records), BATCH):
                    chunk = records[i:i + BATCH]
                    r = (post or client.post)(f"/v1/sites/{site}/tills/{name}/records", content=batch(chunk),
                                              params={"head": records[-1][0]}, headers=headers)
                    # every record acknowledged as newly stored (counted, not parsed:
                    # the clients share the relay's two cores)
                    if r.status_code != 200 or r.content.count(b'"outcome":"stored"') != len(chunk):
                        errors.append(f"{till} batch {i}: {r.status_code} {r.text[:200]}")
                        return

    threads = [threading.Thread(target=gateway, args=(g,)) for g in groups]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError("uploads failed: " + "; ".join(errors[:3]))
    return sum(map(len, journals.values())) / elapsed


def process_all(store: Store, journals: Journals) -> float:
    """Sales/s of HO processing every uploaded record; checks that all were
    consolidated (a benchmark of work not done would flatter)."""
    t0 = time.perf_counter()
    tally = processing.process(store)
    elapsed = time.perf_counter() - t0
    total = sum(map(len, journals.values()))
    if (tally.processed, tally.quarantined) != (total, 0):
        raise RuntimeError(f"processing did {tally}, expected {total} processed")
    sales = sum(r["sales"] for r in store.sales())
    if sales != total:
        raise RuntimeError(f"{sales} sales consolidated, {total} uploaded")
    return total / elapsed


@contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "SQLite":
        yield str(tmp / "relay.sqlite3")
        return
    cluster = Cluster(durable=True)
    try:
        yield cluster.new_database()
    finally:
        cluster.stop()


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU time so far (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(kind: str, keys: dict[str, bytes], journals: Journals, tmp: Path) -> dict[str, float]:
    with _database(kind, tmp) as url:
        store = open_store(url)
        try:
            tokens = register(store, keys)
            plain_before = plain_insert(url, journals)
            relay = RelayProcess(url, worker_interval_s=None, log=tmp / f"relay-{kind}.log").start()
            try:
                assert relay.proc is not None
                cpu0, client0 = _cpu_s(relay.proc.pid), time.process_time()
                ingest = upload_all(relay.url, tokens, journals)
                relay_cpu, client_cpu = _cpu_s(relay.proc.pid) - cpu0, time.process_time() - client0
            finally:
                relay.stop()
            plain_after = plain_insert(url, journals)
            process = process_all(store, journals)
        finally:
            store.close()
    total = sum(map(len, journals.values()))
    return {"plain": (plain_before + plain_after) / 2, "plain_min": min(plain_before, plain_after),
            "plain_max": max(plain_before, plain_after), "ingest": ingest, "process": process,
            "relay_cpu_us": relay_cpu / total * 1e6, "client_cpu_us": client_cpu / total * 1e6}


def cddl_us_per_sale(journals: Journals, sample: int = 2000) -> float:
    """pycddl's share of processing: engine_record_problems on a sample of the
    sales, called as processing calls it (decoded, deterministic encoding
    already checked)."""
    import cbor2

    from host_tools.hodata.journal_schema import engine_record_problems

    raws = [raw for records in journals.values() for _, raw in records][:sample]
    decoded = [cbor2.loads(raw) for raw in raws]
    t0 = time.perf_counter()
    for raw, rec in zip(raws, decoded):
        engine_record_problems(raw, rec, canonical=True)
    return (time.perf_counter() - t0) / len(raws) * 1e6


def bench_relay_throughput() -> str:
    keys, journals = make_journals()
    total = sum(map(len, journals.values()))
    rows, notes = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        for kind in ("SQLite", "PostgreSQL"):
            try:
                m = measure(kind, keys, journals, Path(d))
            except RuntimeError as exc:
                if kind == "PostgreSQL" and "not installed" in str(exc):
                    rows.append(f"| PostgreSQL | not measured: {exc} | | | |")
                    continue
                raise
            share = m["ingest"] / m["plain"]
            rows.append(f"| {kind} | **{m['ingest']:,.0f}** | {m['plain']:,.0f} "
                        f"({m['plain_min']:,.0f}-{m['plain_max']:,.0f}) | {share:.0%} | "
                        f"**{m['process']:,.0f}** |")
            met = m["process"] >= GOAL_PROCESS
            notes.append(f"{kind} processing {'meets' if met else 'MISSES'} the issue's peak "
                         f"({m['process']:,.0f} against {GOAL_PROCESS:,} sales/s)")
            if kind == "SQLite":
                met = m["ingest"] >= GOAL_SQLITE and share >= GOAL_SHARE
                notes.append(f"SQLite ingest {'meets' if met else 'MISSES'} issue 8's goal "
                             f"(at least {GOAL_SQLITE:,} sales/s: {'yes' if m['ingest'] >= GOAL_SQLITE else 'no'}; "
                             f"at least half the plain INSERT's rate: {'yes' if share >= GOAL_SHARE else 'no'})")
                notes.append(f"CPU per uploaded sale on SQLite: {m['relay_cpu_us']:,.1f} µs in the relay "
                             f"process (all its threads, SQLite included), {m['client_cpu_us']:,.1f} µs in "
                             f"the benchmark's gateway clients; the plain INSERT takes "
                             f"{1e6 / m['plain']:,.1f} µs per row in all")
                cddl = cddl_us_per_sale(journals)
                per_sale = 1e6 / m["process"]
                notes.append(f"pycddl's validation takes {cddl:,.0f} µs of the {per_sale:,.0f} µs HO "
                             f"processing spends per sale on SQLite ({cddl / per_sale:.0%})")
                day = 10_000 * 2000
                notes.append(f"one processor works through a day of 10,000 stores ({day / 1e6:.0f} million "
                             f"sales, 231 a second on average) in {day / m['process'] / 3600:.1f} hours")
    load_after = os.getloadavg()[0]
    return (
        "## Relay: ingest and processing (sales per second)\n\n"
        f"{total:,} signed sales from {TILLS} tills of 4 sites ({SALES_PER_TILL:,} each), uploaded "
        f"over HTTP to a real relay (uvicorn on 127.0.0.1, no worker) by {CLIENTS} concurrent "
        f"gateway clients in batches of {BATCH} records, each batch answered after its commit; "
        "then processed by `kassa ho process`'s function (chain verification with each till's key, "
        "CDDL validation, consolidation). The plain INSERT is the same rows in the same batches, "
        "one transaction each, into a table of the same shape in the same database, measured "
        "before and after the relay (mean, range). SQLite: WAL, synchronous=FULL, on disk. "
        "PostgreSQL 15: a throwaway cluster on loopback with fsync on. Clients, relay and "
        "database share this machine's 2 cores, and other processes loaded it meanwhile "
        f"(load average {load_before:.1f} before, {load_after:.1f} after).\n\n"
        "| database | relay ingest (HTTP upload + commit) | plain batched INSERT | ingest / plain "
        f"(goal on SQLite: {GOAL_SHARE:.0%}) | HO processing (verify + CDDL + consolidate; goal "
        f"{GOAL_PROCESS:,}) |\n|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n\n"
        + "".join(f"- {n}.\n" for n in notes)
        + f"- For scale: {_peak()}.\n\n"
        "The plain INSERT does per row what a database must; the relay also decodes every "
        "record to check it is one (CBOR, its sequence number, order; cbor2 about 5 µs a record, "
        "a third of the relay's Python time), hashes it, looks up what HO already holds, and "
        "answers an acknowledgement per record, over HTTP, in Python, with the gateway clients "
        "on the same 2 cores (their CPU above). Records go in as multi-row INSERTs on SQLite "
        "(executemany retook the GIL per row against the busy event loop) and through "
        "psycopg's pipelined executemany on PostgreSQL. The plain rate, an fsync per batch in "
        "one thread, swings most with the shared machine's load and disk (see the range and "
        "the load average): ingest / plain moved between 25% and 52% across runs of this "
        "version on this machine on one day. Processing checks each record's envelope and then "
        "its body alone against schemas of only the rules they use (pycddl's time grows with "
        "the schema's text) and writes statuses and the feed in bulk. It need not keep pace "
        "with a peak: uploads are acknowledged at once and records wait UPLOADED until "
        "processed; on PostgreSQL several processors (relay workers, `kassa ho process`) take "
        "different tills at once, one per core.\n"
    )


def _profile() -> None:
    """Where ingest and processing spend their time (pyinstrument, in-process)."""
    from fastapi.testclient import TestClient
    from pyinstrument import Profiler

    from host_tools.relay.app import create_app
    from host_tools.relay.config import RelayConfig

    keys, journals = make_journals()
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        store = open_store(f"{d}/relay.sqlite3")
        tokens = register(store, keys)
        app = create_app(RelayConfig(database_url="unused", worker_interval_s=None), store)
        with TestClient(app) as client:
            profiler = Profiler()
            profiler.start()
            rate = upload_all("http://testserver", tokens, journals, post=client.post)
            profiler.stop()
            print(f"ingest (in-process ASGI): {rate:,.0f} sales/s")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        profiler = Profiler()
        profiler.start()
        rate = process_all(store, journals)
        profiler.stop()
        print(f"processing: {rate:,.0f} sales/s")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        store.close()


if __name__ == "__main__":
    if "--profile" in sys.argv:
        _profile()
    else:
        print(bench_relay_throughput())
