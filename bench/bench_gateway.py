"""The store's gateway under `make bench`: one till's trading day (2,000
sales, written by the real journal) through `kassa gateway sync`'s code: the
gateway's checks and outbox commits, then the upload to a real relay (uvicorn
on 127.0.0.1, SQLite), then HO processing and PROCESSED back to the till.
The till answers from memory, so the figures are the gateway's own; the
serial link's throughput is measured with the link."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "gateway"), str(ROOT / "tests" / "relay")]

SALES = 2000


def bench_gateway_day() -> str:
    from gateway_site import RelayServer, Site

    from host_tools.gateway.outbox import Outbox
    from host_tools.gateway.relay_client import RelayClient
    from host_tools.gateway.sync import Events, Gateway
    from host_tools.relay.store import open_store

    class Timer(Events):
        def __init__(self) -> None:
            self.marks: dict[str, float] = {}

        def step(self, till: str, direction: str, status: str, reason: str) -> None:
            self.marks[f"{direction} {status}"] = time.perf_counter()

        def progress(self, till: str, what: str, done: int, total: int) -> None:
            if done >= total:
                self.marks[what] = time.perf_counter()

    from host_tools.gateway.tillport import Hello, PackageResult

    class MemoryTill:
        """A till whose records are already in memory: no journal reads timed."""

        def __init__(self, records: list[tuple[int, bytes]]) -> None:
            self.records, self.processed = records, 0

        def hello(self) -> Hello:
            return Hello("S001/till-1", "bench", len(self.records), self.processed, None, None, 1 << 20, "ok")

        def records_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
            return self.records[seq:seq + limit]

        def mark_processed(self, seq: int) -> int:
            self.processed = seq
            return seq

        def offer_package(self, kind: str, data: bytes, sha256_hex: str, progress: object = None) -> PackageResult:
            return PackageResult(False, "not in this benchmark", None)

        def set_clock(self, epoch_s: int) -> int:
            return 0

        def close(self) -> None:
            pass

    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        tmp = Path(d)
        store = open_store(str(tmp / "relay.sqlite3"))
        site = Site(RelayServer(store).start(), store.add_site("S001", "bench"), tmp)
        try:
            site.add_till("till-1", sales=SALES)
            till = MemoryTill(site.tills["till-1"].records_after(0, 1 << 30))
            size = sum(len(raw) for _, raw in till.records)
            rows, first_sync_s = [], []
            for label, batch in (("default batches (500 records)", 500), ("50-record batches", 50)):
                config = site.config(batch_records=batch, read_records=200)
                config = type(config)(**{**config.__dict__, "outbox": tmp / f"outbox-{batch}.sqlite3"})
                outbox = Outbox(config.outbox)
                relay = RelayClient(config.relay_url, config.site, config.credential)
                timer = Timer()
                till.processed = 0
                gw = Gateway(config, outbox, relay, lambda url: till, timer)
                t0 = time.perf_counter()
                gw.sync()
                t_up = time.perf_counter()
                read_s = timer.marks["reading records"] - t0
                upload_s = t_up - timer.marks["reading records"]
                rows.append(f"| {label} | {SALES / read_s:,.0f} records/s ({size / read_s / 1024:,.0f} KiB/s) "
                            f"| {SALES / upload_s:,.0f} records/s | {t_up - t0:.2f} s |")
                first_sync_s.append(t_up - t0)
                relay.close()
                outbox.close()
                with store.transaction() as tx:  # the next configuration uploads into an empty relay again
                    tx.execute("DELETE FROM records")
                    tx.execute("DELETE FROM till_contact")
            site.relay.process()
            t0 = time.perf_counter()
            Gateway(config, Outbox(config.outbox), RelayClient(config.relay_url, config.site, config.credential),
                    lambda url: till).sync()
            acks_s = time.perf_counter() - t0
        finally:
            site.relay.stop()
            store.close()
    return (f"## Gateway: one till's day ({SALES:,} sales) up to the relay\n\n"
            f"`kassa gateway sync`'s code with the records of a real journal ({size / 1024:,.0f} KiB) answered "
            "from memory (no serial link, no till: the link is measured on its own) and a real relay (uvicorn on 127.0.0.1, "
            "SQLite, `synchronous=FULL` on both sides). Reading commits every 200 records to the outbox "
            "before reading on; uploading commits at the relay before it answers. Goal beside it: the "
            "issue's whole day of one till in under 30 s at 115200 baud, which the link's 11,520 B/s "
            f"alone would take {size / 11520:.0f} s for.\n\n"
            "| upload batches | checked into the outbox | outbox to relay | whole first sync |\n| --- | --- | --- | --- |\n"
            + "\n".join(rows) + f"\n\nThe next run, passing HO's PROCESSED back to the till and emptying the "
            f"outbox: {acks_s:.2f} s. So the gateway's own work on a day is {first_sync_s[0] + acks_s:.1f} s "
            "of the 30 s budget (default batches); the rest is the link's.\n")
