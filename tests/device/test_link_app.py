# micropython-romfs
# micropython-isolated
# micropython-heap: +240K
# The link task in the main loop (till.app) with an in-memory transport and
# the gateway's side from tests/device/linkpair.py: requests reach the till
# between its other work, PROCESSED and the clock go through the engine, a
# package waits for the sale in progress, and the next gateway finds the link
# where the last one left it. Runs from ROMFS under MicroPython (tests/conftest.py),
# with 240K beside the image (48K more) for the test equipment: the gateway's
# side of the link lives in the same heap here (tests/host/test_link_till.py
# measures the till's own heap).
import hashlib

# test_app first: it reserves the till's buffers while the heap is whole.
from test_app import BUFFERS, SALE_KEYS, devices, records, till_root  # noqa: I001
from linkpair import Gateway
from till import app, reserve
from till.formats import journal as J
from till.formats import rasterfile
from till.formats import records as R
from till.link import ops as O

LOGO = rasterfile.header(1, 2) + b"\xf0\x0f"


class MemoryPort:
    """A transport in memory: what the gateway wrote waits in .inbox."""

    def __init__(self):
        self.inbox = bytearray()
        self.out = []
        self.up = True

    def connected(self):
        return self.up

    def readinto(self, buf):
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n

    def write(self, mv):
        self.out.append(bytes(mv))
        return len(mv)

    def close(self):
        pass


class Linked:
    def __init__(self, root, keys=()):
        dev = devices(root, list(keys))
        dev["link"] = {"kind": "memory"}
        reserve.hold()
        self.till = app.Till(dev, root, BUFFERS)
        self.till.execute(self.till.engine.start())
        self.port = MemoryPort()
        self.till._link_port = self.port
        self.gw = Gateway(window=2)
        self.now = 0

    def pass_(self):
        self.now += 5
        while True:
            out = self.gw.next_output(self.now)
            if out is None:
                break
            self.port.inbox.extend(out)
        self.till.link_pass()
        out = self.port.out
        self.port.out = []
        for data in out:
            self.gw.feed(data, self.now)

    def request(self, body):
        g = self.gw
        g.done = False
        g.replies = []
        for _ in range(2000):
            if g.channel.room() > 0:
                break
            self.pass_()
        assert g.channel.send(body)
        for _ in range(2000):
            if g.done:
                return g.replies[-1]
            self.pass_()
        raise AssertionError("no reply")

    def keys(self, keys):
        for k in keys:
            self.till.handle(("key", k))

    def close(self):
        self.till.close()


def test_hello_records_processed_and_clock_through_the_main_loop():
    root = till_root()
    t = Linked(root)
    t.keys(SALE_KEYS)
    op, h = t.request(O.message(O.OP_HELLO))
    head = t.till.journal.last_seq
    assert h["till"] == t.till.till_id and h["head"] == head and h["snapshot"] == 1
    t.gw.stream.out = []
    op, end = t.request(O.message(O.OP_RECORDS, [0, 1000]))
    assert op == O.R_RECORDS_END and end == [head, head]
    assert t.gw.stream.out == [(s, bytes(r)) for s, r in t.till.journal.records_after(0)]
    op, done = t.request(O.message(O.OP_PROCESSED, head))
    assert done == head and t.till.journal.processed_seq == head
    assert t.till.engine.link_up and t.till.engine.last_sync is not None
    op, clock = t.request(O.message(O.OP_CLOCK, 1795000500))
    assert op == O.OP_CLOCK | O.REPLY and clock[1] == 1795000500
    op, st = t.request(O.message(O.OP_STATUS))
    assert st["head"] > head and st["sale"] is False and st["crashes"] == 0
    t.close()
    ev = [r[J.K_BODY] for r in records(root, J.KIND_EVENT)]
    assert [e for e in ev if e[R.E_TYPE] == R.EV_CLOCK_SET]


def test_a_package_waits_for_the_sale_and_the_next_gateway_finds_the_link():
    root = till_root()
    t = Linked(root)
    t.keys(SALE_KEYS[:-1])  # the sale is still open: CASH not yet pressed
    digest = hashlib.sha256(LOGO).digest()
    op, at = t.request(O.message(O.OP_OFFER, ["logo", len(LOGO), digest, t.till.till_id]))
    op, at = t.request(O.chunk(0, LOGO))
    op, args = t.request(O.message(O.OP_COMMIT, digest))
    assert op == O.R_ERROR and args[0] == O.E_BUSY and "sale is in progress" in args[1]
    t.keys(["CASH"])
    op, args = t.request(O.message(O.OP_COMMIT, digest))
    assert op == O.OP_COMMIT | O.REPLY and args[0] is True
    with open(root + "/snapshot/" + app.LOGO_FILE, "rb") as f:
        assert f.read() == LOGO
    server = t.till.link
    t.port.up = False  # the gateway leaves
    t.till.link_pass()
    # The link stays loaded all day (till/app.py says why): the next gateway,
    # a new connection, starts afresh on the same server.
    t.port.up = True
    t.port.connections = 1
    t.gw = Gateway(window=2)
    op, h = t.request(O.message(O.OP_HELLO))
    assert t.till.link is server and h["till"] == t.till.till_id
    t.close()
    assert len(records(root, J.KIND_SALE)) == 1
