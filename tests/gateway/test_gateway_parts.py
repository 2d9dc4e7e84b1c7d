"""The gateway's pure parts without a relay or a till: backoff, the schedule,
the record checks, and the outbox's bounds, conflicts and lock."""
from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_tools.gateway.backoff import delay_s, retry
from host_tools.gateway.config import RetryPolicy
from host_tools.gateway.outbox import (FAILED, KEEP_RUNS, SUCCESS, UP, Outbox, OutboxBusy, OutboxError,
                                       exclusive)
from host_tools.gateway.records import check_records
from host_tools.gateway.schedule import keep_running, next_start, parse_every

POLICY = RetryPolicy(attempts=5, base_s=2.0, cap_s=60.0)


def test_backoff_doubles_with_half_of_each_wait_random_and_stops_at_the_cap() -> None:
    assert [delay_s(a, POLICY, lambda: 0.0) for a in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert [delay_s(a, POLICY, lambda: 1.0) for a in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    with pytest.raises(ValueError):
        delay_s(0, POLICY, lambda: 0.5)


@given(st.integers(1, 10_000), st.floats(0, 1), st.floats(0, 100), st.floats(0, 1000))
def test_backoff_is_bounded_for_any_attempt(attempt: int, r: float, base: float, cap: float) -> None:
    policy = RetryPolicy(attempts=3, base_s=base, cap_s=cap)
    d = delay_s(attempt, policy, lambda: r)
    assert 0 <= d <= cap and d >= min(cap, base * 2.0 ** min(attempt - 1, 62)) / 2 - 1e-9


def test_retry_tries_again_only_what_may_pass_and_at_most_attempts_times() -> None:
    slept: list[float] = []
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert retry(flaky, POLICY, (ConnectionError,), slept.append, lambda: 0.0) == "ok"
    assert len(calls) == 3 and slept == [1.0, 2.0]
    calls.clear()

    def dead() -> None:
        calls.append(1)
        raise ConnectionError("still down")

    seen: list[int] = []
    with pytest.raises(ConnectionError):
        retry(dead, POLICY, (ConnectionError,), lambda s: None, lambda: 0.0, lambda a, e, w: seen.append(a))
    assert len(calls) == 5 and seen == [1, 2, 3, 4]
    calls.clear()

    def refused() -> None:
        calls.append(1)
        raise PermissionError("no")

    with pytest.raises(PermissionError):
        retry(refused, POLICY, (ConnectionError,), lambda s: None, lambda: 0.0)
    assert len(calls) == 1


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("2h", 7200),
                                          ("1d", 86400), (" 10S ", 10)])
def test_every_understands_intervals(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "5s", "1x", "half an hour", "-5m", "1.5h"])
def test_every_refuses_what_is_not_an_interval(text: str) -> None:
    with pytest.raises(ValueError, match="--every"):
        parse_every(text)


def test_the_next_run_starts_an_interval_after_the_last_start_and_skips_overrun_slots() -> None:
    assert next_start(1000, 60, 1010) == 1060
    assert next_start(1000, 60, 1060) == 1120  # exactly at the slot: the slot is gone
    assert next_start(1000, 60, 1185) == 1240  # a run of 185 s skips the slots it overran


def test_keep_running_runs_on_the_schedule() -> None:
    now = [0.0]
    starts: list[float] = []

    def run() -> None:
        starts.append(now[0])
        now[0] += 25 if len(starts) != 2 else 130  # the second run overruns two slots

    def sleep(s: float) -> None:
        now[0] += s

    waits: list[float] = []
    assert keep_running(run, 60, lambda: now[0], sleep, waits.append, max_runs=4) == 4
    assert starts == [0, 60, 240, 300] and waits == [60, 240, 300]


def _rec(seq: int) -> bytes:
    return cbor2.dumps({1: seq, 2: 0, 3: 1, 4: {}, 6: b"t" * 16})


def test_record_checks_keep_the_good_prefix() -> None:
    assert check_records([], 5) == ([], None)
    good, problem = check_records([(5, _rec(5)), (6, _rec(6)), (8, _rec(8))], 5)
    assert [s for s, _ in good] == [5, 6] and problem is not None and "(missing 7)" in problem
    assert check_records([(5, _rec(5))], 3)[1] == \
        "records are not contiguous: record 5 came where 3 was due (missing 3-4)"
    assert "record 1 is 27 bytes; a record is at most 20" in str(check_records([(1, _rec(1))], 1, max_record_bytes=20)[1])
    assert "instead of a list" in str(check_records("x", 1)[1])


def test_the_outbox_keeps_only_the_last_runs_and_refuses_changed_records(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(KEEP_RUNS + 15):
        box.end_step(box.start_step("till-1", UP), SUCCESS if i % 2 else FAILED, f"run {i}")
        for other in ("till-2", "till-3"):  # other tills' steps in between
            box.skip_step(other, UP, "")
    runs = box.runs("till-1", last=1000)
    assert len(runs) == KEEP_RUNS and runs[0]["reason"] == f"run {KEEP_RUNS + 14}"
    assert runs[-1]["reason"] == "run 15"
    box.add_records("till-1", [(1, _rec(1)), (2, _rec(2))])
    box.add_records("till-1", [(2, _rec(2))])  # the same record again: harmless
    with pytest.raises(OutboxError, match="record 2 differs"):
        box.add_records("till-1", [(2, cbor2.dumps({1: 2, 9: 9}))])
    assert box.count_held("till-1") == 2
    box.mark_uploaded("till-1", {1: "UPLOADED", 2: "UPLOADED"})
    assert box.note_processed("till-1", relay_processed=2, till_processed=1) == 1  # the till confirmed 1 only
    assert box.count_held("till-1") == 1
    box.close()


def test_one_sync_per_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with exclusive(path):
        with pytest.raises(OutboxBusy, match="another kassa gateway sync is running"):
            with exclusive(path):
                pass
    with exclusive(path):  # released
        pass


def test_an_outbox_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(OutboxError, match="cannot be opened"):
        Outbox(path)
