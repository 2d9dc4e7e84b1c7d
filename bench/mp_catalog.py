# Catalog lookups under MicroPython (started by bench/run.py):
#   lookup SNAPSHOT_DIR PROBES  -> "RESULT lookup plu_us code_us miss_us wrong"
# PROBES has one "plu barcode" per line, read as we go so the probe list does not
# sit in the heap being measured.
import sys
import time

from till.formats.catalog import Catalog


def probes(path):
    with open(path) as f:
        for line in f:
            plu, code = line.split()
            yield int(plu), code


def timed(path, fn):
    n = 0
    spent = 0
    for plu, code in probes(path):
        t = time.ticks_us()
        fn(plu, code)
        spent += time.ticks_diff(time.ticks_us(), t)
        n += 1
    return spent / n


def lookup(snapshot, probe_path):
    cat = Catalog(snapshot)
    wrong = [0]

    def by_plu(plu, code):
        if cat.by_plu(plu) is None:
            wrong[0] += 1

    def by_code(plu, code):
        item = cat.by_barcode(code)
        if item is None or item["plu"] != plu:
            wrong[0] += 1

    def miss(plu, code):
        if cat.by_barcode("99" + code[2:]) is not None:
            wrong[0] += 1

    plu_us = timed(probe_path, by_plu)
    code_us = timed(probe_path, by_code)
    miss_us = timed(probe_path, miss)
    cat.close()
    print("RESULT lookup", plu_us, code_us, miss_us, wrong[0])


if sys.argv[1] == "lookup":
    lookup(sys.argv[2], sys.argv[3])
