# The link's operations: what each message body holds. One place for the
# format, imported by the till (server.py) and by the gateway's client
# (host_tools/gateway/link_client.py). docs/link.md describes them.
#
# A message body is an operation byte, then its arguments: CBOR (device CBOR,
# till/formats/cbor.py) for requests and replies, raw bytes where the bulk is
# (package chunks, the record stream). A reply's operation byte is its
# request's with 0x80 set; ERROR answers any request that changed nothing.
from till.formats import cbor

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

# gateway -> till
OP_HELLO = const(0x01)  # -> R_HELLO {till, fw, head, processed, snapshot, clock, free, printer}
OP_RECORDS = const(0x02)  # [after, limit] -> R_RECORDS chunks ..., R_RECORDS_END [count, last]
OP_PROCESSED = const(0x03)  # seq -> R_PROCESSED processed_seq
OP_OFFER = const(0x04)  # [kind, size, sha256, till] -> R_OFFER offset to resume from
OP_CHUNK = const(0x05)  # offset (u32 BE) + bytes -> R_CHUNK next offset
OP_COMMIT = const(0x06)  # sha256 -> R_COMMIT [applied, detail, version]
OP_CLOCK = const(0x07)  # epoch seconds -> R_CLOCK [old clock or None, new]
OP_STATUS = const(0x08)  # -> R_STATUS {...}

REPLY = const(0x80)
R_RECORDS_END = const(0xA2)  # after the R_RECORDS (0x82) chunks of one request
R_ERROR = const(0xFF)  # [code, text, request op]

# Error codes (docs/link.md): the request changed nothing.
E_MALFORMED = const(1)  # the request's arguments are not what its operation takes
E_UNKNOWN_OP = const(2)
E_BUSY = const(3)  # a sale is in progress (a package waits for its end), or no heap now
E_HASH = const(4)  # the package's bytes do not have the hash it was offered with
E_TRUNCATED = const(5)  # the package is shorter than offered
E_OTHER_TILL = const(6)  # the package is for another till
E_REFUSED = const(7)  # the package is whole but the till refused it (the text says why)
E_JOURNAL = const(8)  # PROCESSED beyond the journal's head, or the journal refused
E_OFFSET = const(9)  # a chunk not at the offset the till expects (the text names it)
E_TOO_BIG = const(10)  # the package would not fit the free flash
E_NO_OFFER = const(11)  # a chunk or commit with no package offered
E_KIND = const(12)  # a package kind the till does not take
E_CLOCK = const(13)  # a clock value that is not a time

KINDS = ("snapshot", "delta", "logo")
MAX_RECORDS = const(100000)  # one request's limit
RECORD_HEAD = const(6)  # in the record stream: seq (u32 BE), length (u16 BE), then the bytes
CHUNK_HEAD = const(5)  # op + offset (u32 BE)


class Malformed(ValueError):
    pass


def message(op, args=None):
    """A body of op and CBOR args (None: op alone)."""
    if args is None:
        return bytes((op,))
    return bytes((op,)) + cbor.dumps(args)


def args_of(body):
    """The CBOR arguments of a received body (a memoryview or bytes)."""
    if len(body) < 2:
        return None
    try:
        return cbor.loads(bytes(body[1:]))
    except cbor.CBORError as exc:
        raise Malformed("arguments are not CBOR (%s)" % exc)


def error(code, text, op):
    return message(R_ERROR, [code, text, op])


def put_u32(buf, at, n):
    buf[at] = (n >> 24) & 0xFF
    buf[at + 1] = (n >> 16) & 0xFF
    buf[at + 2] = (n >> 8) & 0xFF
    buf[at + 3] = n & 0xFF


def get_u32(buf, at):
    return (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]


def chunk(offset, data):
    """OP_CHUNK's body."""
    head = bytearray(CHUNK_HEAD)
    head[0] = OP_CHUNK
    put_u32(head, 1, offset)
    return bytes(head) + bytes(data)
