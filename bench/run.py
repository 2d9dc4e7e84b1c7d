"""`make bench`: measure, then rewrite docs/benchmarks.md with the date and machine.

Each benchmark is a function returning a markdown section; BENCHMARKS lists them in
the order they appear. Device figures come from the MicroPython unix port running
the compiled firmware (bench/mp_*.py); littlefs figures from an emulated flash chip
with the Pico's geometry (tests/device/flashsim.py).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "firmware"), str(ROOT / "tests" / "tools"), str(ROOT / "bench")]

from host_tools.provision.mpy_build import compile_tree  # noqa: E402

MPY = ROOT / "build" / "mpy"
MICROPYTHON = str(Path(sys.executable).with_name("micropython"))
SALES_PER_DAY = 2000
ERASE_CYCLES = 100_000
PICO_BLOCKS = 352


def mp(script: str, *args: object, heap: str = "192K", check: bool = True) -> dict[str, list[str]]:
    """Run a bench script under MicroPython; return its RESULT lines by name."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([".frozen", str(MPY), str(ROOT / "tests" / "device"),
                                          str(ROOT / "bench")])
    proc = subprocess.run([MICROPYTHON, "-X", f"heapsize={heap}", str(ROOT / "bench" / script),
                           *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{script} {args} failed:\n{proc.stdout}\n{proc.stderr}")
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            parts = line.split()
            out[parts[1]] = parts[2:]
    return out


def smallest_heap_kib(script: str, *args: object, lo: int = 8, hi: int = 192) -> int | None:
    """Smallest -X heapsize (KiB, to 2 KiB) at which the run completes: the peak
    live heap including the loaded firmware code."""
    if not mp(script, *args, heap=f"{hi}K", check=False):
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if mp(script, *args, heap=f"{mid}K", check=False):
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------- benchmarks

def bench_record_size() -> str:
    from mp_sale import sale
    from till.formats import cbor
    from till.formats import journal as J

    with tempfile.TemporaryDirectory() as d:
        j = J.Journal(d, "store-12/till-7", b"k" * 32, clock=lambda: 1795000000)
        j.append(J.KIND_SALE, sale(1))
        raw = list(j.records_after(0))[0][1]
        j.close()
    rec = cbor.loads(raw)
    body = rec[J.K_BODY]
    named = {
        "seq": rec[J.K_SEQ], "time": rec[J.K_TIME], "kind": "sale",
        "body": {
            "receipt": body[1], "cashier": body[2],
            "lines": [{"gtin": ln[0], "qty_milli": ln[1], "unit_price": ln[2], "amount": ln[3],
                       "tax_class": ln[4]} for ln in body[3]],
            "total": body[4],
            "tenders": [{"type": t[0], "given": t[1], "change": t[2]} for t in body[5]],
            "tax": {str(k): {"net": v[1], "tax": v[2]} for k, v in body[6].items()},
        },
        "tag": rec[J.K_TAG].hex(),
    }
    compact = json.dumps(named, separators=(",", ":")) + "\n"
    same_keys = json.dumps({str(k): (v.hex() if isinstance(v, bytes) else v) for k, v in rec.items()},
                           separators=(",", ":")) + "\n"
    return (
        "## Journal record size (3-line cash sale)\n\n"
        "| encoding | bytes |\n|---|---|\n"
        f"| Kassa journal record (CBOR, integer keys, 16-byte tag) | **{len(raw)}** |\n"
        f"| same record as a JSON line with the same integer keys, tag in hex | {len(same_keys.encode())} |\n"
        f"| same sale as a JSON line with named fields (typical POS log) | {len(compact.encode())} |\n"
    )


def bench_wear() -> str:
    # Ten days of a busy lane: long enough for littlefs to move its hot metadata
    # blocks (block_cycles) so the worst block's rate is a steady one.
    records = 20000
    rows = []
    for seg in (2048, 4096, 8192, 16384, 32768, 65536):
        r = mp("mp_journal.py", "wear", seg, records, heap="8M")["wear"]
        erases, programs, max_block, touched = (int(x) for x in r[2:6])
        capacity = int(mp("mp_journal.py", "fill_flash", PICO_BLOCKS, seg, heap="8M")["fill_flash"][0])
        per_rec = erases / records
        even_years = ERASE_CYCLES * PICO_BLOCKS / (per_rec * SALES_PER_DAY) / 365
        worst_years = ERASE_CYCLES / (max_block / records * SALES_PER_DAY) / 365
        rows.append(f"| {seg // 1024} KiB | {per_rec:.2f} | {programs / records:.2f} | "
                    f"{max_block} | {touched} | {even_years:,.0f} | {worst_years:,.0f} | "
                    f"{capacity:,} |")
    return (
        "## Flash wear per appended record (Pico geometry)\n\n"
        f"littlefs v2 on an emulated chip of {PICO_BLOCKS} blocks x 4096 B, progsize 256 "
        f"(the Pico's 1408 KiB filesystem); {records} sales appended after 100 warm-up "
        "records, HO acknowledging all but the last 100 every 250 sales (segments freed). "
        "Flash life at 2,000 sales a day and 100k erase cycles per block: *even* assumes "
        "littlefs spreads erases over all blocks; *worst block* extrapolates the most-erased "
        "block of this run.\n\n"
        "| segment size | erases / record | programs / record | most erases on one block "
        "| blocks erased | life, even (years) | life, worst block (years) "
        "| sales a full Pico journal holds |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "Every flush of a file past littlefs's inline limit rewrites its last block, so each "
        "append costs about one erase whatever the segment size. Small segments wear a "
        "little less (their records stay inline longer) but every file costs littlefs "
        "metadata, so the journal holds fewer sales, and the directory holds hundreds of "
        "files. 16 KiB is the default (`Journal(segment_bytes=16384)`): as many "
        "erases per record as 4 KiB segments (whose rolls, four times as frequent, each "
        "write the boot checkpoint) for a tenth more sales, within 2 % of the "
        "largest capacity, a few dozen files, and a segment is freed as soon as about 130 "
        "of its records are processed by HO. The worst block is a littlefs "
        "metadata block; littlefs moves metadata after a number of erases, which keeps it "
        "within a few times the average.\n"
    )


def bench_speed() -> str:
    from mp_sale import sale
    from till.formats import journal as J

    n = 1000
    r = mp("mp_journal.py", "speed", n, heap="8M")["speed"]
    mp_rate = n / (int(r[1]) / 1e6)
    rates = {}
    for label, base in (("disk (ext4, fsync per append)", ROOT / "build"),
                        ("tmpfs (no device flush)", Path("/dev/shm"))):
        base.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=base) as d:
            j = J.Journal(d, "store-12/till-7", b"k" * 32, clock=lambda: 1795000000)
            t0 = time.perf_counter()
            for i in range(n):
                j.append(J.KIND_SALE, sale(i + 1))
            rates[label] = n / (time.perf_counter() - t0)
            j.close()
    lines = "\n".join(f"| CPython {sys.version.split()[0]} | {label} | {rate:,.0f} |"
                      for label, rate in rates.items())
    return (
        "## Appends per second\n\n"
        "| interpreter | storage | appends / s |\n|---|---|---|\n"
        f"| MicroPython unix port | littlefs v2 on emulated Pico flash (RAM) | {mp_rate:,.0f} |\n"
        + lines + "\n\n"
        "Limit to compare: a busy lane rings a sale every ~20 s; a Pi's SD card or a Pico's "
        "flash (45 ms per 4 KiB erase, FIELD_NOTES) bounds the real rate well below these "
        "CPU figures, still far above need.\n"
    )


def bench_heap_and_recovery() -> str:
    full = int(mp("mp_journal.py", "fill_flash", PICO_BLOCKS, heap="8M")["fill_flash"][0])
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        jdir = f"{d}/journal"
        mp("mp_journal.py", "fill", jdir, full)
        rec = mp("mp_journal.py", "recover", jdir)["recover"]
        recovered, problems, us, free_after = (int(x) for x in rec)
        recover_heap = smallest_heap_kib("mp_journal.py", "recover", jdir)
    with tempfile.TemporaryDirectory(dir=ROOT / "build") as d:
        append_heap = smallest_heap_kib("mp_journal.py", "append_run", f"{d}/j", 300)
    days = full / SALES_PER_DAY
    return (
        "## Capacity, heap and recovery (MicroPython, `-X heapsize=192K`)\n\n"
        "| figure | value | compared with |\n|---|---|---|\n"
        f"| sales a full Pico journal holds before sales are refused | {full:,} | "
        f"{days:.1f} days at {SALES_PER_DAY:,} sales/day without a sync |\n"
        f"| smallest heap that appends 300 sales (incl. loaded firmware) | {append_heap} KiB | "
        "192 KiB free on a Pico W, ~110 KiB on an ESP32 |\n"
        f"| smallest heap that recovers the full journal ({recovered:,} records) by a full scan | "
        f"{recover_heap} KiB | 192 KiB |\n"
        f"| free heap after recovering it at 192K | {free_after // 1024} KiB | |\n"
        f"| recovery time of the full journal by a full scan, this machine | {us / 1e6:.2f} s | "
        "boot budget; an RP2040 is roughly 20-50x slower than this x86 core; a boot from "
        "the checkpoint: next section |\n\n"
        "Heap figures come from the smallest `-X heapsize` (2 KiB steps) at which the run "
        "completes, so they include the compiled firmware modules loaded into the heap. "
        "The recovery run reads the journal from a host directory through the unix port's "
        "VFS; on the board littlefs adds its caches (about 2 KiB).\n"
    )


def bench_journal_boot() -> str:
    from bench_journal_boot import bench_journal_boot as run_boot_bench

    return run_boot_bench(mp, smallest_heap_kib)


def bench_doc_numbers() -> str:
    from bench_doc_numbers import bench_doc_numbers as run_doc_numbers_bench

    return run_doc_numbers_bench(mp)


def bench_codec() -> str:
    import cbor2
    from mp_codec import RECORD

    n = 2000
    mpr = mp("mp_codec.py", n)["codec"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "firmware"), str(ROOT / "bench")]))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "mp_codec.py"), str(n)],
                         capture_output=True, text=True, env=env, check=True).stdout
    cpr = [ln.split()[2:] for ln in out.splitlines() if ln.startswith("RESULT codec")][0]
    data = cbor2.dumps(RECORD, canonical=True)
    t0 = time.perf_counter()
    for _ in range(n):
        cbor2.dumps(RECORD, canonical=True)
    peer_dumps = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        cbor2.loads(data)
    peer_loads = (time.perf_counter() - t0) / n * 1e6
    return (
        "## CBOR codec, one journal record\n\n"
        f"A {mpr[2]}-byte sale record, {n} times each; cbor2 (Rust core) is the peer on the "
        "host and the oracle the tests compare against (same bytes).\n\n"
        "| codec | interpreter | encode | decode |\n|---|---|---|---|\n"
        f"| `till.cbor` | MicroPython unix port | {float(mpr[0]):.1f} µs | {float(mpr[1]):.1f} µs |\n"
        f"| `till.cbor` | CPython {platform.python_version()} | {float(cpr[0]):.1f} µs | "
        f"{float(cpr[1]):.1f} µs |\n"
        f"| cbor2 {importlib.metadata.version('cbor2')} (`canonical=True`) | "
        f"CPython {platform.python_version()} | {peer_dumps:.1f} µs | {peer_loads:.1f} µs |\n"
    )


def bench_catalog() -> str:
    from bench_catalog import bench_catalog_lookup

    return bench_catalog_lookup(mp, smallest_heap_kib)


def bench_till() -> str:
    from bench_till import bench_whole_till

    return bench_whole_till()


def bench_day() -> str:
    from bench_day import bench_trading_day

    return bench_trading_day()


def bench_link() -> str:
    from bench_link import bench_link_throughput

    return bench_link_throughput()


def bench_engine() -> str:
    from bench_engine import bench_engine as run_engine_bench

    return run_engine_bench(mp, smallest_heap_kib)


def bench_gateway() -> str:
    from bench_gateway import bench_gateway_day

    return bench_gateway_day()


def bench_chain() -> str:
    from bench_chain import bench_chain_latency

    return bench_chain_latency()


def bench_transfer() -> str:
    from bench_transfer import bench_transfer as run

    return run()


def bench_relay() -> str:
    from bench_relay import bench_relay_throughput

    return bench_relay_throughput()


def bench_flash() -> str:
    from bench_flash import bench_flashing

    return bench_flashing()


def bench_handoff() -> str:
    from bench_handoff import bench_handoff as run

    return run()


def bench_refund() -> str:
    from bench_refund import bench_refund_scan

    return bench_refund_scan(mp)


BENCHMARKS: list[Callable[[], str]] = [
    bench_record_size,
    bench_codec,
    bench_wear,
    bench_speed,
    bench_heap_and_recovery,
    bench_journal_boot,
    bench_doc_numbers,
    bench_refund,
    bench_catalog,
    bench_engine,
    bench_till,
    bench_day,
    bench_gateway,
    bench_link,
    bench_chain,
    bench_transfer,
    bench_relay,
    bench_flash,
    bench_handoff,
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mpv = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.version)"],
                         capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"CPython {platform.python_version()}; MicroPython {mpv}")


_NOISE = ("This is a shared 2-core virtual machine: times vary from run to run, by up to "
          "2x for CPU figures and far more for fsync-bound ones (disk appends measured "
          "1,500 to 13,000 per second on the same day). Sizes, heap, wear and capacity "
          "figures are deterministic.\n\n")


def _replace_sections(doc: str, sections: list[str]) -> str:
    """doc with each section (from its "## " heading to the next) replaced by
    the new one of the same heading, or appended."""
    for new in sections:
        heading = new.split("\n", 1)[0]
        start = doc.find(heading + "\n")
        if start < 0:
            doc = doc.rstrip("\n") + "\n\n" + new
            continue
        end = doc.find("\n## ", start + len(heading))
        doc = doc[:start] + new.rstrip("\n") + "\n" + (doc[end:] if end >= 0 else "")
    return doc


def main(argv: list[str] | None = None) -> int:
    """Every benchmark (rewrites docs/benchmarks.md), or those named, e.g.
    `python -m bench.run bench_day` (replaces only their sections)."""
    names = sys.argv[1:] if argv is None else argv
    chosen = [b for b in BENCHMARKS if not names or b.__name__ in names]
    if names and len(chosen) != len(names):
        print(f"unknown benchmark; known: {', '.join(b.__name__ for b in BENCHMARKS)}",
              file=sys.stderr)
        return 2
    errors = compile_tree(MPY)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    sections = []
    for bench in chosen:
        t0 = time.perf_counter()
        sections.append(bench())
        print(f"{bench.__name__}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    out = ROOT / "docs" / "benchmarks.md"
    head = (f"# Benchmarks\n\nMeasured {date.today().isoformat()} by `make bench` on: "
            f"{machine()}.\n\n" + _NOISE)
    if names and out.exists():
        # Only these sections are new: each says when it was measured, the
        # page's head keeps the date of the last full run.
        stamp = f"Measured {date.today().isoformat()} by `python -m bench.run`, same machine.\n\n"
        dated = [s.replace("\n\n", "\n\n" + stamp, 1) for s in sections]
        doc = _replace_sections(out.read_text(), dated)
    else:
        doc = head + "\n".join(sections)
    out.write_text(doc)
    print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
