# Device CBOR codec speed on one journal record (started by bench/run.py under
# MicroPython, and under CPython for the comparison with cbor2):
#   -> "RESULT codec dumps_us loads_us bytes"
import sys
import time

from mp_sale import sale
from till.formats import cbor

try:
    ticks_us, ticks_diff = time.ticks_us, time.ticks_diff
except AttributeError:  # CPython
    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

RECORD = {1: 1042, 2: 1795262400, 3: 1, 4: sale(1042), 6: bytes(range(16))}


def timed(fn, n):
    t = ticks_us()
    for _ in range(n):
        fn()
    return ticks_diff(ticks_us(), t) / n


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    data = cbor.dumps(RECORD)
    print("RESULT codec", timed(lambda: cbor.dumps(RECORD), n),
          timed(lambda: cbor.loads(data), n), len(data))
