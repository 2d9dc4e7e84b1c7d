"""Retry with exponential backoff: the wait before each new attempt of a step
that failed for a reason that may pass (the relay or the link is down).

Pure: the waits come from delay_s, the sleeping and the randomness are passed
in, so tests run without waiting. Jitter keeps the gateways of many stores
from retrying against a relay that comes back all in the same second.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from host_tools.gateway.config import RetryPolicy

T = TypeVar("T")


def delay_s(attempt: int, policy: RetryPolicy, rnd: Callable[[], float]) -> float:
    """The wait after failed attempt number `attempt` (1 = the first try):
    base, 2 base, 4 base... capped, with "equal jitter": half of the wait is
    fixed, the other half random, so it is never near zero and never above the cap."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    full = min(policy.cap_s, policy.base_s * 2.0 ** min(attempt - 1, 62))
    return full / 2 + rnd() * full / 2


def retry(call: Callable[[], T], policy: RetryPolicy, retryable: tuple[type[BaseException], ...],
          sleep: Callable[[float], None], rnd: Callable[[], float],
          on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """call() until it returns; an exception of a `retryable` type is retried
    after delay_s, at most policy.attempts tries in all, then raised."""
    attempt = 1
    while True:
        try:
            return call()
        except retryable as exc:
            if attempt >= policy.attempts:
                raise
            wait = delay_s(attempt, policy, rnd)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
            attempt += 1
