# The cost of a refund by receipt under the MicroPython unix port (started by
# bench/run.py with tests/device and the compiled firmware on MICROPYPATH):
#   scan DIR RECORDS   a journal of RECORDS records in a host directory whose
#                      first is an engine sale; every 50th a storno (every
#                      500th of that first sale); then what is left of the
#                      first receipt, read as the engine does at a refund
#                      (till.pos.refund.of), against decoding every record.
import gc
import sys
import time

from mp_sale import sale
from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R
from till.pos import refund

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"


def clock():
    return 1795000000


def _engine_sale(qty):
    line = {R.L_PLU: 7, R.L_NAME: "Brot 500 g", R.L_PRICE: 289, R.L_TAX: "B",
            R.L_QTY: qty, R.L_AMOUNT: 289 * qty}
    total = 289 * qty
    tax = (total * 70000 + 535000) // 1070000
    return {R.S_CASHIER: 1, R.S_LINES: [line], R.S_TENDERS: [[R.TENDER_CASH, total, total]],
            R.S_TAXES: [["B", 70000, total - tax, tax, total]], R.S_TOTAL: total,
            R.S_SNAPSHOT: 1}


def scan(path, records):
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    j.append(J.KIND_SALE, _engine_sale(1000))
    for i in range(2, records + 1):
        if i % 50:
            j.append(J.KIND_SALE, sale(i))
        else:
            body = _engine_sale(-1)
            body[R.S_REFUND_OF] = 1 if i % 500 == 0 else i - 1
            body[R.S_APPROVER] = 9
            body[R.S_PICKS] = [0]
            j.append(J.KIND_STORNO, body)
    rec = j.record(1)
    gc.collect()
    t0 = time.ticks_us()
    left = refund.of(j, rec, 1)
    dt = time.ticks_diff(time.ticks_us(), t0)
    gc.collect()
    t0 = time.ticks_us()
    for _, raw in j.records_after(1):
        cbor.loads(raw)
    all_us = time.ticks_diff(time.ticks_us(), t0)
    print("RESULT scan", j.last_seq, left.units[0], dt, all_us, gc.mem_free())
    j.close()


if __name__ == "__main__":
    if sys.argv[1] == "scan":
        scan(sys.argv[2], int(sys.argv[3]))
