# MicroPython side of tests/host/test_cbor_peer.py: one long-lived process that
# decodes and re-encodes CBOR with the compiled device codec (build/mpy/till/formats/cbor.mpy).
# Protocol, one line each way:
#   "<hex>"  ->  "OK <hex of dumps(loads(data))>"
#            |   "ERR <CBORError class name> <message>"
#            |   "EXC <other exception class name> <message>"   (a codec bug)
# The first line written names the module file, so the test can check that the
# compiled .mpy, not the source, is what runs.
import sys
from binascii import hexlify, unhexlify

from till.formats import cbor


def handle(line):
    try:
        data = unhexlify(line)
    except ValueError as exc:
        return "EXC BadHex %s" % exc
    try:
        return "OK " + hexlify(cbor.dumps(cbor.loads(data))).decode()
    except cbor.CBORError as exc:
        return "ERR %s %s" % (type(exc).__name__, exc)
    except Exception as exc:  # noqa: BLE001 - reported to the test as a failure
        return "EXC %s %s" % (type(exc).__name__, exc)


def main():
    print("READY " + cbor.__file__)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        print(handle(line.strip()))


main()
