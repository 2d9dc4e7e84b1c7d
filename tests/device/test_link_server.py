# The till's side of the link with no I/O, on both interpreters: each
# operation against a real journal and a fake till, over a clean and a lossy
# medium; bad requests get an error reply and change nothing.
import hashlib
import os

import support
from linkpair import Gateway, Medium, Wire
from test_journal import TILL, fill, open_journal
from till.formats import cbor
from till.formats import journal as J
from till.link import ops as O
from till.link.server import OFFER_FILE, PART_FILE, LinkServer


class FakeTill:
    """What the link server needs from the main loop's Till."""

    def __init__(self, journal):
        self.journal = journal
        self.till_id = TILL
        self.clock = 1795000000
        self.busy = None
        self.applied = []
        self.refuse = None
        self.processed_calls = 0

    def link_hello(self):
        return {"fw": "test", "snapshot": 3, "clock": self.clock, "printer": "ok"}

    def link_processed(self, seq):
        self.processed_calls += 1
        self.journal.mark_processed(seq)
        return self.journal.processed_seq

    def link_clock(self, epoch):
        old = self.clock
        self.clock = epoch
        return old

    def link_busy(self):
        return self.busy

    def link_apply(self, kind, path):
        if self.refuse:
            return False, self.refuse, None
        with open(path, "rb") as f:
            self.applied.append((kind, f.read()))
        return True, "Snapshot 4 in force", 4

    def link_status(self):
        return {"sale": self.busy is not None}


def setup(count=30, up=None, down=None, **kw):
    d = support.tmpdir()
    fill(d + "/journal", count)
    # One buffer for the journal's encoding and the link's reading, as on the
    # till (the Cursor in till/link/server.py says why that is safe).
    buf = bytearray(8192)
    j = open_journal(d + "/journal", encode_buffer=buf)
    till = FakeTill(j)
    server = LinkServer(till, d, read_buf=buf, **kw)
    gw = Gateway()
    wire = Wire(gw, server, up or Medium(), down or Medium(2))
    return d, j, till, server, gw, wire


def raw_records(j, after=0):
    return [(s, bytes(r)) for s, r in j.records_after(after)]


def records(gw, wire, after, limit):
    op, args = gw.request(wire, O.message(O.OP_RECORDS, [after, limit]))
    assert op == O.R_RECORDS_END, (op, args)
    assert gw.stream.complete()
    assert args[0] == len(gw.stream.out)
    return gw.stream.out, args[1]


def test_hello():
    d, j, till, server, gw, wire = setup(12)
    op, h = gw.request(wire, O.message(O.OP_HELLO))
    assert op == O.OP_HELLO | O.REPLY
    assert h["till"] == TILL and h["head"] == 12 and h["processed"] == 0
    assert h["fw"] == "test" and h["snapshot"] == 3 and h["clock"] == 1795000000
    assert h["printer"] == "ok" and h["free"] > 0


def test_records_stream_exactly_as_on_flash():
    d, j, till, server, gw, wire = setup(60)
    got, last = records(gw, wire, 0, 1000)
    assert got == raw_records(j) and last == 60
    got, last = records(gw, wire, 17, 5)
    assert [s for s, _ in got] == [18, 19, 20, 21, 22] and last == 22
    got, last = records(gw, wire, 60, 10)
    assert got == [] and last == 60


def test_a_record_larger_than_a_frame_is_split_and_joined():
    d, j, till, server, gw, wire = setup(3)
    j.append(J.KIND_EVENT, {1: 99, 3: "x" * 1500})
    j.append(J.KIND_SALE, {1: 5})
    got, last = records(gw, wire, 0, 100)
    assert got == raw_records(j) and len(got[3][1]) > 1500 and last == 5


def test_records_arrive_once_through_a_lossy_line():
    for seed in (1, 2):
        f = dict(drop=0.1, dup=0.1, swap=0.1, corrupt=0.1)
        d, j, till, server, gw, wire = setup(80, Medium(seed, **f), Medium(seed + 50, **f))
        got, last = records(gw, wire, 0, 1000)
        assert got == raw_records(j) and last == 80
        assert server.channel.retransmits > 0
        j.close()
        d = j = till = server = gw = wire = got = None


def test_records_appended_during_a_stream_are_not_in_it():
    d, j, till, server, gw, wire = setup(40)
    wire.run(lambda: gw.channel.ready)
    assert gw.channel.send(O.message(O.OP_RECORDS, [0, 1000]))
    wire.run(lambda: len(gw.stream.out) >= 5)
    j.append(J.KIND_SALE, {1: 41})  # the engine appends meanwhile
    wire.run(lambda: gw.done)
    assert [s for s, _ in gw.stream.out] == list(range(1, 41))


def test_processed():
    d, j, till, server, gw, wire = setup(40)
    op, seq = gw.request(wire, O.message(O.OP_PROCESSED, 25))
    assert (op, seq) == (O.OP_PROCESSED | O.REPLY, 25) and j.processed_seq == 25
    op, args = gw.request(wire, O.message(O.OP_PROCESSED, 41))
    assert op == O.R_ERROR and args[0] == O.E_JOURNAL and "last record is 40" in args[1]
    assert j.processed_seq == 25 and till.processed_calls == 1
    # Records after the processed mark still stream once segments are freed.
    got, last = records(gw, wire, 25, 100)
    assert got == raw_records(j, 25)


def test_set_clock():
    d, j, till, server, gw, wire = setup(1)
    op, args = gw.request(wire, O.message(O.OP_CLOCK, 1795000100))
    assert op == O.OP_CLOCK | O.REPLY and args == [1795000000, 1795000100]
    assert till.clock == 1795000100
    op, args = gw.request(wire, O.message(O.OP_CLOCK, 12))
    assert op == O.R_ERROR and args[0] == O.E_CLOCK and till.clock == 1795000100


def send_package(gw, wire, data, kind="snapshot", till=TILL, digest=None, upto=None):
    digest = digest or hashlib.sha256(data).digest()
    op, at = gw.request(wire, O.message(O.OP_OFFER, [kind, len(data), digest, till]))
    if op != O.OP_OFFER | O.REPLY:
        return op, at
    end = len(data) if upto is None else upto
    while at < end:
        n = min(400, end - at)
        op, nxt = gw.request(wire, O.chunk(at, data[at:at + n]))
        assert op == O.OP_CHUNK | O.REPLY, (op, nxt)
        at = nxt
    return gw.request(wire, O.message(O.OP_COMMIT, digest))


PACKAGE = bytes(range(256)) * 9 + b"end"


def test_a_package_is_received_verified_and_applied():
    d, j, till, server, gw, wire = setup(1, Medium(5, drop=0.1, dup=0.1), Medium(6, drop=0.1))
    op, args = send_package(gw, wire, PACKAGE)
    assert op == O.OP_COMMIT | O.REPLY and args == [True, "Snapshot 4 in force", 4]
    assert till.applied == [("snapshot", PACKAGE)]
    assert PART_FILE not in os.listdir(d) and OFFER_FILE not in os.listdir(d)


def test_a_package_resumes_where_it_stopped():
    d, j, till, server, gw, wire = setup(1)
    send_package(gw, wire, PACKAGE, upto=1200)
    # The cable is cut; a new session (and a rebooted till) asks where to go on.
    till2 = FakeTill(j)
    server2 = LinkServer(till2, d, read_buf=bytearray(512))
    gw2 = Gateway(session=8)
    wire2 = Wire(gw2, server2, Medium(), Medium())
    digest = hashlib.sha256(PACKAGE).digest()
    op, at = gw2.request(wire2, O.message(O.OP_OFFER, ["snapshot", len(PACKAGE), digest, TILL]))
    assert op == O.OP_OFFER | O.REPLY and at == 1200
    op, args = send_package(gw2, wire2, PACKAGE)
    assert args[0] is True and till2.applied == [("snapshot", PACKAGE)]


def test_a_commit_asked_again_gets_the_same_answer_and_applies_once():
    d, j, till, server, gw, wire = setup(1)
    digest = hashlib.sha256(PACKAGE).digest()
    op, args = send_package(gw, wire, PACKAGE)
    assert args[0] is True
    # The reply was lost with the connection: a new session asks again.
    server2 = LinkServer(till, d, read_buf=bytearray(512))
    gw2 = Gateway(session=8)
    wire2 = Wire(gw2, server2, Medium(), Medium())
    op, at = gw2.request(wire2, O.message(O.OP_OFFER, ["snapshot", len(PACKAGE), digest, TILL]))
    assert at == len(PACKAGE)
    op, args = gw2.request(wire2, O.message(O.OP_COMMIT, digest))
    assert op == O.OP_COMMIT | O.REPLY and args == [True, "Snapshot 4 in force", 4]
    assert till.applied == [("snapshot", PACKAGE)]


def test_a_package_takes_the_room_of_processed_segments():
    import till.link.server as S

    d = support.tmpdir()
    fill(d + "/journal", 40, segment_bytes=1024)
    cap = [1 << 30]
    real = J._free_bytes, S.free_bytes
    J._free_bytes = S.free_bytes = support.chip_free(cap, d)
    try:
        j = open_journal(d + "/journal", segment_bytes=1024, low_free_bytes=2048,
                         full_free_bytes=512)
        till = FakeTill(j)
        server = LinkServer(till, d, read_buf=bytearray(512))
        gw = Gateway()
        wire = Wire(gw, server, Medium(), Medium(2))
        gw.request(wire, O.message(O.OP_PROCESSED, 40))
        op, h = gw.request(wire, O.message(O.OP_HELLO))
        assert h["freeable"] == j.freeable > len(PACKAGE) and j.record(1) is not None
        # Room for the package only once processed segments are freed.
        cap[0] -= h["free"] - (len(PACKAGE) + 32768 - 1000)
        op, args = send_package(gw, wire, PACKAGE)
        assert op == O.OP_COMMIT | O.REPLY and args[0] is True, args
        assert j.record(1) is None and j.processed_seq == 40 and j.last_seq == 40
        kept = [s for s, _ in j.records_after(0)]  # the oldest went, as many as needed
        assert kept == list(range(kept[0], 41)) and 0 < j.freeable < h["freeable"]
        j.close()
    finally:
        J._free_bytes, S.free_bytes = real


def test_bad_packages_change_nothing():
    d, j, till, server, gw, wire = setup(1)
    wrong = hashlib.sha256(b"something else").digest()
    op, args = send_package(gw, wire, PACKAGE, digest=wrong)
    assert op == O.R_ERROR and args[0] == O.E_HASH and "do not match" in args[1]
    op, args = send_package(gw, wire, PACKAGE, upto=1000)
    assert op == O.R_ERROR and args[0] == O.E_TRUNCATED
    op, args = send_package(gw, wire, PACKAGE, till="S009/till-3")
    assert op == O.R_ERROR and args[0] == O.E_OTHER_TILL and "S009/till-3" in args[1]
    op, args = send_package(gw, wire, PACKAGE, kind="firmware")
    assert op == O.R_ERROR and args[0] == O.E_KIND
    op, args = gw.request(wire, O.chunk(5000, b"xx"))
    assert op == O.R_ERROR and args[0] in (O.E_OFFSET, O.E_NO_OFFER)
    till.refuse = "Snapshot 4 is older than snapshot 5 in force: not installed"
    op, args = send_package(gw, wire, PACKAGE)
    assert op == O.R_ERROR and args[0] == O.E_REFUSED and args[1] == till.refuse
    assert till.applied == []
    assert PART_FILE not in os.listdir(d)


def test_a_package_waits_for_the_sale_to_end():
    d, j, till, server, gw, wire = setup(1)
    till.busy = "A sale is in progress: the package applies after it"
    op, args = send_package(gw, wire, PACKAGE)
    assert op == O.R_ERROR and args[0] == O.E_BUSY and till.applied == []
    till.busy = None
    op, args = gw.request(wire, O.message(O.OP_COMMIT, hashlib.sha256(PACKAGE).digest()))
    assert op == O.OP_COMMIT | O.REPLY and till.applied == [("snapshot", PACKAGE)]


def test_unknown_and_malformed_requests():
    d, j, till, server, gw, wire = setup(3)
    op, args = gw.request(wire, bytes((0x42,)))
    assert op == O.R_ERROR and args[0] == O.E_UNKNOWN_OP and args[2] == 0x42
    for body in (bytes((O.OP_RECORDS,)) + b"\xff\xff", O.message(O.OP_RECORDS, "all"),
                 O.message(O.OP_PROCESSED, -1), O.message(O.OP_OFFER, [1, 2]),
                 bytes((O.OP_CHUNK, 0))):
        op, args = gw.request(wire, body)
        assert op == O.R_ERROR and args[0] == O.E_MALFORMED, (body, args)
    assert j.processed_seq == 0 and j.last_seq == 3
    # The session still works.
    got, last = records(gw, wire, 0, 10)
    assert len(got) == 3


def test_the_offer_file_is_cbor():
    d, j, till, server, gw, wire = setup(1)
    digest = hashlib.sha256(PACKAGE).digest()
    gw.request(wire, O.message(O.OP_OFFER, ["logo", len(PACKAGE), digest, TILL]))
    with open(d + "/" + OFFER_FILE, "rb") as f:
        assert cbor.loads(f.read()) == ["logo", len(PACKAGE), digest]
