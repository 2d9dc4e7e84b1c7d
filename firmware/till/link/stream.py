# The gateway's side of the record stream (ops.OP_RECORDS): joins the
# R_RECORDS chunks back into whole records. Used by the gateway's client and
# the tests; the till never imports it (its heap pays for every module).
from till.link.ops import RECORD_HEAD, get_u32


class RecordStream:
    """The gateway's side of the record stream: feed() each R_RECORDS chunk's
    bytes; .out holds the whole (seq, bytes) records so far. Keeps only
    the tail of a record split across chunks."""

    def __init__(self):
        self._pending = b""
        self.out = []

    def feed(self, data):
        buf = self._pending + bytes(data)
        at = 0
        while len(buf) - at >= RECORD_HEAD:
            seq = get_u32(buf, at)
            n = (buf[at + 4] << 8) | buf[at + 5]
            if len(buf) - at - RECORD_HEAD < n:
                break
            self.out.append((seq, buf[at + RECORD_HEAD:at + RECORD_HEAD + n]))
            at += RECORD_HEAD + n
        self._pending = buf[at:]

    def complete(self):
        return not self._pending
