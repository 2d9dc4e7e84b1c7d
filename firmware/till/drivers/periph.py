# What the peripheral drivers share: millisecond ticks that behave the same on
# both interpreters, a non-blocking read, and the poll loop of their run() tasks.
#
# MicroPython's time.ticks_ms() wraps at 2**30 ms (about 12.4 days) on every port
# (TICKS_PERIOD in py/mphal.h); CPython has no ticks at all. The drivers take a
# `ticks_ms` callable (tests pass a fake) and compare with ticks_diff() below,
# which follows MicroPython's definition, so intervals shorter than 2**29 ms
# (6.2 days) come out right across the wrap -- and a CPython clock that never
# wraps gives the same answers, because only the difference modulo 2**30 matters.
import time

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
_EAGAIN = const(11)


def ticks_diff(end, start):
    """Signed milliseconds from `start` to `end`, as time.ticks_diff()."""
    return ((end - start + _HALF) & _MASK) - _HALF


def ticks_add(t, delta_ms):
    return (t + delta_ms) & _MASK


def _cpython_ticks_ms():
    return int(time.monotonic() * 1000) & _MASK


try:
    ticks_ms = time.ticks_ms  # MicroPython: the board's millisecond counter
except AttributeError:  # CPython
    ticks_ms = _cpython_ticks_ms


try:
    delay_ms = time.sleep_ms  # blocking pause, for device set-up sequences
except AttributeError:  # CPython
    def delay_ms(ms):
        time.sleep(ms / 1000)


async def sleep_ms(ms):
    # asyncio.sleep(seconds) exists in both interpreters; MicroPython's sleep_ms
    # does not exist in CPython.
    import asyncio

    await asyncio.sleep(ms / 1000)


async def poll_loop(poll, handle, interval_ms):
    """Call handle(item) for every item poll() returns, forever, sleeping
    interval_ms between polls so the other tasks run."""
    while True:
        for item in poll():
            handle(item)
        await sleep_ms(interval_ms)


def read_available(stream, buf):
    """Read what a non-blocking stream has into `buf`; return the byte count.

    None (MicroPython UART/socket with nothing to read), 0 (pyserial with
    timeout=0, end of a BytesIO) and EAGAIN (a non-blocking CPython socket file)
    all mean "nothing now".
    """
    try:
        if hasattr(stream, "readinto"):
            n = stream.readinto(buf)
        else:
            data = stream.read(len(buf))
            n = len(data) if data else 0
            if n:
                buf[:n] = data
    except OSError as exc:
        if exc.args and exc.args[0] == _EAGAIN:
            return 0
        raise
    return n or 0


def heap_stats():
    """(free bytes, largest block that can be allocated now) of MicroPython's
    fixed heap, after a collection; (None, None) on CPython, whose heap grows.

    MicroPython reports the largest free block only by printing it
    (micropython.mem_info), so it is found here by trying: a binary search of
    the biggest bytearray that allocates. For measuring a long run (the sim's
    `heap` command, make bench), not for the hot path."""
    import gc

    if not hasattr(gc, "mem_free"):
        return None, None
    gc.collect()
    free = gc.mem_free()
    lo, hi = 0, free
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            probe = bytearray(mid)
        except MemoryError:
            hi = mid - 1
            continue
        del probe
        gc.collect()
        lo = mid
    return free, lo
