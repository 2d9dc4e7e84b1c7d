# micropython-romfs
# micropython-isolated
# micropython-heap: +240K
# The handover of the REPL's port to mpremote (drivers/linkserial.py StdioLink,
# app.Till._hand_over), on both interpreters: mpremote's \r\x03 is taken only
# where a frame would begin, the bytes after it stay unread for the REPL, no
# frame is ever taken for it, and the till hands over only once no sale is
# open, its journal whole. Heap and ROMFS as tests/device/test_link_app.py.
# test_app first: it reserves the till's buffers while the heap is whole.
from test_app import SALE_KEYS, records, till_root  # noqa: I001
from fakes import Ticks
from linkpair import Gateway, Rng
from test_link_app import Linked
from till.drivers import periph
from till.drivers.linkserial import StdioLink
from till.formats import journal as J
from till.link import ops as O
from till.link import wire as F

BREAK_IN = b"\r\x03"  # mpremote's Ctrl-C, then
RAW_REPL = b"\r\x01"  # its Ctrl-A, which the REPL must get


class Uart:
    """The port the link shares with the REPL, as the test sees both ends:
    what the other side wrote waits in .inbox, read a byte at a time when
    poll() says so (as sys.stdin with select.poll); what the till wrote is in .out."""

    def __init__(self):
        self.inbox = bytearray()
        self.out = []

    def poll(self, timeout_ms):
        return len(self.inbox) > 0

    def readinto(self, buf):
        if not self.inbox:
            return 0
        buf[0] = self.inbox[0]
        self.inbox = self.inbox[1:]
        return 1

    def write(self, mv):
        self.out.append(bytes(mv))
        return len(mv)


def frame(ftype, body=b"", session=7, seq=0, ack=0, credit=1):
    raw = bytearray(F.MAX_RAW)
    n = F.pack(raw, ftype, session, seq, ack, credit, body, len(body))
    out = bytearray(F.MAX_WIRE)
    return bytes(out[:F.to_wire(raw, n, out)])


def link(data, ticks=None):
    uart = Uart()
    uart.inbox += data
    return StdioLink(uart, uart, uart, ticks or Ticks()), uart


def read_all(port, size=64):
    got = bytearray()
    buf = bytearray(size)
    while True:
        n = port.readinto(buf)
        if not n:
            return bytes(got)
        got += buf[:n]


def decoded(data):
    frames = []
    dec = F.Decoder(lambda buf, n: frames.append(bytes(buf[:F.HEADER_BYTES + n])))
    dec.feed(data)
    return frames, dec


def test_no_frame_on_the_wire_begins_with_mpremotes_break_in():
    r = Rng(9)
    for seq in range(256):  # a RESET whatever seq it is given: its code byte is at most 3
        w = frame(F.T_RESET, b"\x0d\x03" * 4, r.randrange(1, 256), seq, 255, 255)
        assert w[0] <= 3 and w[:2] != BREAK_IN
    for _ in range(1500):  # every other type, headers with no zero (code byte 13 possible)
        t = r.choice((F.T_DATA, F.T_ACK, F.T_PROBE, F.T_RESET_OK, F.T_STALE, F.T_RESET))
        body = bytes(r.choice((r.randrange(1, 256), 13, 3)) for _ in range(r.randrange(0, 40)))
        w = frame(t, body, r.randrange(1, 256), r.randrange(1, 256), r.randrange(1, 256),
                  r.randrange(1, 256))
        assert w[:2] != BREAK_IN, (t, w[:16])


def test_the_break_in_between_frames_hands_over_and_leaves_the_rest_unread():
    frames = frame(F.T_DATA, b"hello") + frame(F.T_ACK)
    port, uart = link(frames + BREAK_IN + RAW_REPL + b"print(1)\x04")
    assert read_all(port) == frames  # every frame whole, nothing of the break-in
    assert port.handoff
    assert bytes(uart.inbox) == RAW_REPL + b"print(1)\x04"  # the REPL's
    assert port.readinto(bytearray(64)) == 0 and bytes(uart.inbox)[:2] == RAW_REPL


def test_a_break_in_before_any_frame_and_split_across_reads():
    port, uart = link(b"\r")
    assert port.readinto(bytearray(64)) == 0 and not port.handoff  # held: what is it?
    uart.inbox += b"\x03\r\x01"
    assert port.readinto(bytearray(64)) == 0 and port.handoff
    assert bytes(uart.inbox) == RAW_REPL


def test_frames_holding_the_break_ins_bytes_are_frames():
    # Code byte 13 (12 bytes with no zero) at a frame's start, \r\x03 in a
    # body, a RESET: all delivered whole and decoded; nobody breaks in.
    data = (frame(F.T_DATA, b"\r\x03" * 3 + b"\x01\x00\r\x03", 13, 13, 13, 13) + frame(F.T_RESET) +
            frame(F.T_DATA, b"\r\x03\r\x01", 3, 3, 3, 3))
    assert data[0] == 0x0D  # the first frame starts with a held 0x0D
    port, uart = link(data)
    got = read_all(port, 8)  # small reads: the held byte crosses calls
    assert got == data and not port.handoff and not uart.inbox
    frames, dec = decoded(got)
    assert len(frames) == 3 and dec.bad_frames == 0


def test_a_frame_cut_short_ends_once_the_line_was_quiet_a_second():
    ticks = Ticks(5)
    whole = frame(F.T_DATA, b"one")
    cut = frame(F.T_DATA, b"a gateway killed while it wrote this")[:9]
    port, uart = link(whole + cut, ticks)
    got = read_all(port)  # then the line is found empty inside a frame
    # Bytes that waited while the till was busy for seconds are no quiet line:
    # inside a frame \r\x03 is data.
    ticks.t += 5000
    uart.inbox += BREAK_IN
    got += read_all(port)
    assert not port.handoff and got == whole + cut + BREAK_IN
    ticks.t += 999  # found empty again, 999 ms after it was first
    assert port.readinto(bytearray(64)) == 0
    ticks.t += 1  # a second of quiet line: the cut frame ends; mpremote gets the REPL
    got += read_all(port)
    uart.inbox += BREAK_IN + RAW_REPL
    got += read_all(port)
    assert port.handoff and bytes(uart.inbox) == RAW_REPL
    assert got == whole + cut + BREAK_IN + b"\x00"
    frames, dec = decoded(got)
    assert len(frames) == 1 and dec.bad_frames == 1  # the cut one dropped


def test_a_cut_frame_of_one_held_byte_ends_too():
    ticks = Ticks()
    port, uart = link(b"\r", ticks)  # a frame's code byte 13, then the cable was cut
    assert read_all(port) == b""  # held
    ticks.t += 1000
    assert read_all(port) == b"\r\x00"  # given back, and the frame ended
    uart.inbox += BREAK_IN + RAW_REPL
    assert read_all(port) == b"" and port.handoff and bytes(uart.inbox) == RAW_REPL


class Watchdog:
    def __init__(self):
        self.timeouts = []

    def __call__(self, timeout_ms):
        self.timeouts.append(timeout_ms)


def test_the_till_hands_over_after_the_open_sale_and_loses_nothing():
    root = till_root()
    t = Linked(root)
    uart = Uart()
    t.port = uart  # Linked's gateway writes to .inbox and reads .out
    t.till._link_port = StdioLink(uart, uart, uart, Ticks())
    dog = Watchdog()
    t.till.dev["watchdog"] = dog
    op, h = t.request(O.message(O.OP_HELLO))
    assert op == O.OP_HELLO | O.REPLY
    t.keys(SALE_KEYS[:-1])  # CASH not yet pressed: the sale is open
    head = t.till.journal.last_seq
    uart.inbox += BREAK_IN + RAW_REPL
    for _ in range(3):
        t.till.link_pass()
    assert t.till._link_port.handoff and bytes(uart.inbox) == RAW_REPL
    assert t.till.display.shown[-1] == ("Maintenance:", "finish the sale")
    t.till.tick()  # a second later: the cashier must still see why mpremote waits
    assert t.till.display.shown[-1] == ("Maintenance:", "finish the sale")
    assert not t.till.stopping and t.till.journal.last_seq == head
    t.keys(["CASH"])  # the cashier finishes the sale; its receipt prints;
    t.till.link_pass()
    assert t.till.printer.busy() and not t.till.stopping
    for _ in range(2000):  # the printer's task, as the main loop runs it
        if not t.till.printer.busy():
            break
        t.till.printer.step()
    t.till.link_pass()  # then the REPL gets the port
    assert t.till.stopping and dog.timeouts == [3600000]
    assert t.till.display.shown[-1] == ("Maintenance:", "restart the till")
    assert bytes(uart.inbox) == RAW_REPL
    t.gw = Gateway(window=2)  # a gateway now finds nobody: the link reads no more
    for _ in range(5):
        t.pass_()
    assert bytes(uart.inbox).startswith(RAW_REPL) and len(uart.inbox) > len(RAW_REPL)
    t.close()
    assert len(records(root, J.KIND_SALE)) == 1


def test_a_running_till_returns_from_its_main_loop_for_the_repl():
    import asyncio

    root = till_root()
    t = Linked(root)
    uart = Uart()
    t.till._link_port = StdioLink(uart, uart, uart, Ticks())
    uart.inbox += BREAK_IN + RAW_REPL
    asyncio.run(t.till.run())  # a board's run (no until): it ends for the REPL
    assert t.till.stopping and bytes(uart.inbox) == RAW_REPL
    t.close()


def test_no_new_sale_starts_while_the_till_waits_to_hand_over():
    import asyncio

    root = till_root()
    t = Linked(root)
    uart = Uart()
    t.till._link_port = StdioLink(uart, uart, uart, Ticks())
    t.keys(SALE_KEYS)  # paid: its receipt is still to print
    assert t.till.printer.busy()
    uart.inbox += BREAK_IN + RAW_REPL
    t.till.link_pass()  # mpremote is in; the port waits for the printer
    assert not t.till.stopping
    # The next customer's item, scanned before the receipt is out.
    t.till.dev["scanner"].codes = ["4006381333931"]
    t.till.dev["keypad"].keys = ["7", "PLU"]
    start = periph.ticks_ms()
    # The printer finishes and the till hands over (a board's run, with a
    # time limit for the test).
    asyncio.run(t.till.run(lambda: periph.ticks_diff(periph.ticks_ms(), start) > 5000))
    assert t.till.stopping and not t.till.printer.busy()
    assert t.till.engine.sale is None and not t.till.dev["keypad"].keys
    assert t.till.display.shown[-1] == ("Maintenance:", "restart the till")
    t.close()
    assert len(records(root, J.KIND_SALE)) == 1
