"""`--every 30m`: the interval's syntax and when the next run starts. Pure, so
the schedule is tested without a clock."""
from __future__ import annotations

import re
from collections.abc import Callable

_PART = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    """'30m', '1h30m', '90s', '2h' -> seconds (at least 10 s)."""
    value = text.strip().lower()
    if not value or _PART.sub("", value):
        raise ValueError(f"--every {text!r}: write the interval as a number and a unit, "
                         "e.g. 30m, 1h, 1h30m or 90s")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in _PART.findall(value))
    if seconds < 10:
        raise ValueError(f"--every {text!r}: an interval is at least 10 s")
    return seconds


def next_start(previous_start: float, every_s: float, now: float) -> float:
    """The next run starts every_s after the previous one started; a run that
    took longer than the interval skips the slots it overran instead of
    starting runs back to back to catch up."""
    slot = previous_start + every_s
    if slot > now:
        return slot
    missed = int((now - previous_start) // every_s)
    return previous_start + (missed + 1) * every_s


def keep_running(run_once: Callable[[], object], every_s: float, clock: Callable[[], float],
                 sleep: Callable[[float], None], on_wait: Callable[[float], None] | None = None,
                 max_runs: int | None = None) -> int:
    """run_once() now and then at every next_start, until max_runs (None:
    until interrupted, e.g. by Ctrl-C raising KeyboardInterrupt). Returns the
    number of runs."""
    runs = 0
    while max_runs is None or runs < max_runs:
        started = clock()
        run_once()
        runs += 1
        if max_runs is not None and runs >= max_runs:
            break
        wake = next_start(started, every_s, clock())
        if on_wait is not None:
            on_wait(wake)
        sleep(max(0.0, wake - clock()))
    return runs
