# Finding a receipt by its document number (till.pos.reports.find_number, what
# Engine.document_seq runs when a cashier keys a number for a refund or a copy)
# under the MicroPython unix port; bench/bench_doc_numbers.py starts it:
#   fill DIR RECORDS   a journal of sale records shaped as the engine writes them,
#                      numbered 1, 2, 3..., with a refund every 40 records and a
#                      sign-on every 25 between them, in 16 KiB segments
#   find DIR           -> "RESULT <case> <µs> <records read>" for the first, middle,
#                      a recent and the last sale number, the first and last
#                      refund number (mp_journal.py replay times one pass over
#                      every record, what a lookup without them would cost)
import gc
import sys
import time

from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R
from till.pos import reports

# mp_journal.py's till (that script runs on import): its replay reads this journal.
KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"


def clock():
    return 1795000000


def _sale(number, sign):
    line = {R.L_PLU: 7, R.L_CODE: "4006381333931", R.L_QTY: sign, R.L_PRICE: 289, R.L_TAX: "B",
            R.L_AMOUNT: 289 * sign, R.L_NAME: "Brot 500 g"}
    milk = {R.L_PLU: 12, R.L_QTY: 3 * sign, R.L_PRICE: 119, R.L_TAX: "B", R.L_AMOUNT: 357 * sign,
            R.L_NAME: "Milch 1 l"}
    total = 646 * sign
    return {R.S_CASHIER: 1, R.S_LINES: [line, milk], R.S_TENDERS: [[R.TENDER_CASH, total, total]],
            R.S_TAXES: [["B", 70000, 604 * sign, 42 * sign, total]], R.S_TOTAL: total,
            R.S_SNAPSHOT: 1, R.S_NUMBER: number}


def fill(path, records):
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    sales = refunds = 0
    for i in range(1, records + 1):
        if i % 25 == 0:
            j.append(J.KIND_EVENT, {R.E_TYPE: R.EV_SIGN_ON, R.E_CASHIER: 1})
        elif i % 40 == 0:
            refunds += 1
            body = _sale(refunds, -1)
            body[R.S_REFUND_OF] = 1
            body[R.S_APPROVER] = 9
            j.append(J.KIND_STORNO, body)
        else:
            sales += 1
            j.append(J.KIND_SALE, _sale(sales, 1))
    j.close()
    print("RESULT fill", j.last_seq, sales, refunds, len(j._segments))


class _Counting:
    """The journal, counting the records its readers hand to find_number."""

    def __init__(self, journal):
        self.journal = journal
        self.last_seq = journal.last_seq
        self.read = 0

    def records_after(self, seq, limit=None):
        inner = self.journal.records_after(seq, limit)
        try:
            for item in inner:
                self.read += 1
                yield item
        finally:
            inner.close()


def find(path):
    j = J.Journal(path, TILL, KEY, clock=clock, segment_bytes=16384)
    sales = refunds = 0
    for seq, raw in j.records_after(j.last_seq - 200):
        rec = cbor.loads(raw)
        n = rec[J.K_BODY].get(R.S_NUMBER, 0) if isinstance(rec[J.K_BODY], dict) else 0
        if rec[J.K_KIND] == J.KIND_SALE:
            sales = max(sales, n)
        elif rec[J.K_KIND] == J.KIND_STORNO:
            refunds = max(refunds, n)
    cases = (("first", 0, 1), ("middle", 0, sales // 2), ("recent", 0, sales - 50),
             ("last", 0, sales), ("refund_first", 1, 1), ("refund_last", 1, refunds))
    for name, ser, number in cases:
        counting = _Counting(j)
        gc.collect()
        t0 = time.ticks_us()
        seq = reports.find_number(counting, ser, number, (sales, refunds)[ser])
        dt = time.ticks_diff(time.ticks_us(), t0)
        if seq is None:
            raise AssertionError("%s: number %d gave %r" % (name, number, seq))
        print("RESULT", name, dt, counting.read)
    j.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fill":
        fill(sys.argv[2], int(sys.argv[3]))
    elif cmd == "find":
        find(sys.argv[2])
