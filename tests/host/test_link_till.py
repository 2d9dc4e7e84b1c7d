"""The link end to end: the sim till under MicroPython (ROMFS, the sim's heap beside
the image) with its link on a loopback TCP port, and the gateway's client
(host_tools/gateway/link_client.py) over pyserial's socket:// URL: hello,
every record read and verified, PROCESSED, the clock, a snapshot package and
bad ones; the heap after the sync; a sale rung after it."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.gateway.link_client import LinkClient, open_till
from host_tools.gateway.tillport import LinkError
from host_tools.hodata import journal_reader as jr
from host_tools.provision import sim
from linktill import RunningTill, snapshot_package, verify_chain
from simtill import KEY, NOON, SALE_SCRIPT, TILL_ID, make_till_root

SALES = 30
# The heap beside the firmware image: the sim till's (host_tools/provision/sim.py
# says why it is not a Pico W's 192K on this 64-bit port).
HEAP_KIB = sim.SIM_HEAP_KIB


@pytest.fixture(scope="module")
def till(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTill]:
    image = sim.romfs_image(tmp_path_factory.mktemp("rom") / "firmware.romfs")
    root = make_till_root(tmp_path_factory.mktemp("linktill"))
    t = RunningTill(root, image, heap_beside_kib=HEAP_KIB)
    try:
        t.send(SALE_SCRIPT)
        for _ in range(SALES - 1):
            t.send("scan 4006381333931\nkey CASH")
        t.send("heap sold")
        t.wait_for("HEAP sold")
        t.wait_listening()
        yield t
    finally:
        t.kill()


def test_hello(till: RunningTill) -> None:
    port = open_till(till.url)
    try:
        h = port.hello()
    finally:
        port.close()
    assert h.till_id == TILL_ID and h.firmware == "0.1.0"
    assert h.head_seq >= SALES + 2 and h.processed_seq == 0  # sign-on, sales, config
    assert h.snapshot_version == 1 and h.clock_s is not None and abs(h.clock_s - NOON) < 600
    assert h.printer == "ok" and h.free_flash_bytes > 0


def test_every_record_arrives_and_verifies(till: RunningTill) -> None:
    port = open_till(till.url)
    try:
        head = port.hello().head_seq
        got = port.records_after(0, 100000)
        assert [s for s, _ in got] == list(range(1, head + 1))
        assert verify_chain(got, KEY, TILL_ID) == []
        # Exactly the bytes on flash.
        on_flash = [i.raw for p in jr.segment_paths(till.root / "journal")
                    for i in list(jr.read_segment(p))[1:]]
        assert [r for _, r in got] == on_flash[:head]
        # A limit, and from the middle.
        part = port.records_after(2, 3)
        assert part == got[2:5]
        assert port.records_after(head, 10) == []
    finally:
        port.close()


def test_processed_clock_and_a_snapshot(till: RunningTill) -> None:
    port = open_till(till.url)
    try:
        head = port.hello().head_seq
        assert port.mark_processed(head) == head
        h = port.hello()
        assert h.processed_seq == head
        offset = port.set_clock(NOON + 3600)
        assert -900 < offset + 3600 < 900  # the till's clock was about NOON
        pkg = snapshot_package(2, NOON)
        seen: list[tuple[int, int]] = []
        result = port.offer_package("snapshot", pkg, hashlib.sha256(pkg).hexdigest(),
                                    lambda sent, total: seen.append((sent, total)))
        assert result.applied and result.version == 2, result
        assert seen[-1] == (len(pkg), len(pkg)) and len(seen) > 2
        h = port.hello()
        assert h.snapshot_version == 2 and h.head_seq > head  # the clock and config records
        new = port.records_after(head, 100)
        kinds = [r[3] for r in (__import__("cbor2").loads(raw) for _, raw in new)]
        assert 5 in kinds  # KIND_CONFIG: snapshot 2 journaled
    finally:
        port.close()


def test_bad_packages_change_nothing(till: RunningTill) -> None:
    port = open_till(till.url)
    try:
        before = port.hello()
        pkg = snapshot_package(3, NOON)
        wrong = port.offer_package("snapshot", pkg, hashlib.sha256(b"other").hexdigest())
        assert not wrong.applied and "do not match its hash" in wrong.detail
        assert isinstance(port, LinkClient)
        other = port.offer_package("snapshot", pkg, hashlib.sha256(pkg).hexdigest(),
                                   till_id="S009/till-4")
        assert not other.applied and "S009/till-4" in other.detail
        junk = b"not a package at all" * 10
        refused = port.offer_package("delta", junk, hashlib.sha256(junk).hexdigest())
        assert not refused.applied and "snapshot package" in refused.detail
        after = port.hello()
        assert after.snapshot_version == before.snapshot_version
        assert after.head_seq == before.head_seq
    finally:
        port.close()


def test_the_till_sells_after_the_sync_and_its_heap_is_flat(till: RunningTill) -> None:
    port = open_till(till.url)
    try:
        for _ in range(3):  # syncs, each reading the whole journal
            port.records_after(0, 100000)
            till.send("heap synced")
        head = port.hello().head_seq
        till.send("key 1 SIGN\ntype 1111\nkey TOTAL\nscan 4006381333931\nkey CASH\nheap after")
        till.wait_for("HEAP after")
        assert port.hello().head_seq > head
    finally:
        port.close()
    heap = {label: (free, largest) for label, free, largest in till.heap()}
    synced = [(f, b) for label, f, b in till.heap() if label == "synced"]
    # The link's code stays loaded; each further sync leaves the heap where it was.
    assert max(f for f, _ in synced) - min(f for f, _ in synced) <= 2048, synced
    assert heap["after"][1] >= 256, heap


# Interned names left below the pool's next step: the modules a till loads
# later than its boot (till.pos.refund, at the first refund: 13 names) and a
# margin for a fix. Measured 2026-12-06 after cash in/out, refunds by line,
# vouchers and document numbers: 2,441 at the boot, 99 below the step at 2,540.
# A feature that needs more must first free names (a long text that no code
# looks up by name can be a bytes constant: from ROMFS it costs no qstr).
QSTR_ROOM = 60


def qstr_pool_steps() -> list[int]:
    """The counts of interned strings at which this MicroPython grows its
    qstr pool (each step doubles it: some 28 KB at the step above 2,500 on
    this port), measured by interning names in a fresh interpreter."""
    import re
    import subprocess
    import sys

    script = ("import gc, micropython\nmicropython.qstr_info()\nprev = gc.mem_alloc()\n"
              "for i in range(6000):\n    getattr(gc, 'q%d' % i, None)\n"
              "    a = gc.mem_alloc()\n    if a - prev > 1000: print('STEP', i)\n    prev = a\n")
    out = subprocess.run([str(Path(sys.executable).with_name("micropython")), "-X", "heapsize=4M",
                          "-c", script], capture_output=True, text=True, check=True).stdout
    base = int(re.search(r"n_qstr=(\d+)", out).group(1))
    return [base + int(i) for i in re.findall(r"STEP (\d+)", out)]


def test_the_qstr_pool_has_room_for_growth(till: RunningTill) -> None:
    """Every module of the till is loaded from the boot (the link and the
    snapshot installer included) and each string constant is an interned
    string (host_tools/provision/mpy_strings.py): their count must stay well
    below the pool's next step, where MicroPython would need one block of
    some 28 KB that a selling till never has."""
    import re

    till.send("qstrs")
    till.wait_for("qstr pool:")
    n = int(re.findall(r"n_qstr=(\d+)", till.console())[-1])
    step = min(s for s in qstr_pool_steps() if s > n)
    assert n + QSTR_ROOM < step, (n, step)


def test_a_till_that_is_not_there() -> None:
    from linktill import free_port

    with pytest.raises(LinkError) as info:
        open_till(f"socket://127.0.0.1:{free_port()}", timeout_s=0.5)
    assert "127.0.0.1" in str(info.value)


def collect_all(url: str, head: int, tries: int = 60) -> tuple[list[tuple[int, bytes]], int]:
    """What a gateway does: read records after the last one it holds until it
    has the till's head, reconnecting when the link breaks."""
    got: list[tuple[int, bytes]] = []
    failures = 0
    for _ in range(tries):
        after = got[-1][0] if got else 0
        if after >= head:
            break
        try:
            port = open_till(url, timeout_s=2.0)
        except LinkError:
            failures += 1
            continue
        try:
            got += port.records_after(after, 100000)
        except LinkError:
            failures += 1
        finally:
            port.close()
    return got, failures


def test_every_record_arrives_once_through_a_faulty_line(till: RunningTill) -> None:
    from faultproxy import FaultProxy, Faults

    head = open_till(till.url).hello().head_seq
    seen = {"drop": 0, "corrupt": 0, "duplicate": 0, "cut": 0}
    for seed in (1, 2):
        faults = Faults(drop=0.05, corrupt=0.05, duplicate=0.05, cut_after=(2000, 6000),
                        seed=seed)
        proxy = FaultProxy(till.port, faults)
        try:
            got, _ = collect_all(proxy.url, head)
        finally:
            proxy.close()
        seqs = [s for s, _ in got]
        assert seqs == list(range(1, head + 1)), (seqs, faults.counts)
        assert verify_chain(got, KEY, TILL_ID) == []
        for k in seen:
            seen[k] += faults.counts[k]
    assert all(seen.values()), seen  # each fault happened, and nothing was lost or doubled


def test_a_package_through_a_faulty_line_applies_once(till: RunningTill) -> None:
    from faultproxy import FaultProxy, Faults

    before = open_till(till.url).hello()
    pkg = snapshot_package(before.snapshot_version + 1, NOON)
    faults = Faults(drop=0.1, corrupt=0.1, duplicate=0.1, cut_after=(500, 1500), seed=7)
    proxy = FaultProxy(till.port, faults)
    result = None
    try:
        for _ in range(20):  # what the gateway does: offer again until it has an answer
            try:
                port = open_till(proxy.url, timeout_s=2.0)
                result = port.offer_package("snapshot", pkg, hashlib.sha256(pkg).hexdigest())
                port.close()
                break
            except LinkError:
                continue
    finally:
        proxy.close()
    assert result is not None and result.applied, (result, faults.counts)
    assert faults.counts["cut"] >= 1, faults.counts
    after = open_till(till.url).hello()
    assert after.snapshot_version == before.snapshot_version + 1
    new = open_till(till.url).records_after(before.head_seq, 1000)
    import cbor2

    configs = [r for r in (cbor2.loads(raw) for _, raw in new) if r[3] == 5]
    assert len(configs) == 1  # journaled once, however often it was sent


def test_the_link_of_a_till_under_cpython(tmp_path: Path) -> None:
    """A Raspberry Pi till runs under CPython: the same link over its sockets."""
    t = RunningTill(make_till_root(tmp_path), None)
    try:
        # The sim's terminal input under CPython reads a pipe only to its end
        # (its buffer hides further lines from poll): the whole script at once,
        # ending with a wait that keeps the till running while the link is used.
        t.send(SALE_SCRIPT + "\nheap sold\nwait 10000")
        assert t.proc.stdin is not None
        t.proc.stdin.close()
        t.wait_for("HEAP sold")
        t.wait_listening()
        port = open_till(t.url)
        try:
            head = port.hello().head_seq
            got = port.records_after(0, 1000)
            assert [s for s, _ in got] == list(range(1, head + 1))
            assert verify_chain(got, KEY, TILL_ID) == []
            assert port.mark_processed(head) == head
        finally:
            port.close()
        assert t.stop() == 0
    finally:
        t.kill()
