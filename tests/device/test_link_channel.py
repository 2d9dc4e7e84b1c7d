# The link's reliable channel with no I/O, on both interpreters: messages
# arrive once and in order through a medium that drops, duplicates, reorders
# and corrupts frames (seeded), the credit window holds the sender back, and a
# frame from another session is answered STALE.
from linkpair import Medium, Rng, Wire
from till.link import wire as F
from till.link.wire import Channel


class Echo:
    """The till's side of an exchange: checks each message against the one
    expected and keeps only those not yet echoed (the heap is the till's)."""

    def __init__(self, seed):
        self.seed = seed
        self.count = 0
        self.pending = []

    def __call__(self, body):
        assert bytes(body) == message(self.seed, self.count), self.count
        self.count += 1
        self.pending.append(bytes(body))


class Check:
    def __init__(self, seed):
        self.seed = seed
        self.count = 0

    def __call__(self, body):
        assert bytes(body) == message(self.seed, self.count), self.count
        self.count += 1


def message(seed, i):
    """The i-th message of a run: its index, then up to 39 seeded bytes."""
    r = Rng(seed * 100003 + i)
    m = bytearray(1 + r.randrange(0, 40))
    m[0] = i & 0xFF
    for k in range(1, len(m)):
        m[k] = r.randrange(256)
    return bytes(m)


def pair(up, down, till_credit=4, window=4, seed=0):
    got = Echo(seed)
    till = Channel(got, window=window, credit=till_credit, rto_ms=60)
    back = Check(seed)
    gw = Channel(back, window=window, credit=8, rto_ms=60, gateway=True)
    gw.reset(9, 0)
    return gw, till, got, back, Wire(gw, till, up, down)


def exchange(gw, till, got, back, wire, n, passes=100000):
    """The gateway sends n messages, the till echoes each back; both arrive
    once and in order (Echo and Check assert it as they come)."""
    sent = [0]
    seed = got.seed

    def until():
        while sent[0] < n and gw.send(message(seed, sent[0])):
            sent[0] += 1
        while got.pending and till.send(got.pending[0]):
            got.pending.pop(0)
        return back.count == n and gw.idle() and till.idle()

    assert wire.run(until, passes), (got.count, back.count)
    assert got.count == n


def test_a_clean_line():
    gw, till, got, back, wire = pair(Medium(), Medium())
    exchange(gw, till, got, back, wire, 300)
    assert gw.retransmits == 0 and till.retransmits == 0


def test_every_fault_at_once_for_several_seeds():
    for seed in range(4):
        f = dict(drop=0.15, dup=0.15, swap=0.15, corrupt=0.15, cut_bytes=0.05)
        gw, till, got, back, wire = pair(Medium(seed, **f), Medium(seed + 100, **f), seed=seed)
        exchange(gw, till, got, back, wire, 200)
        assert gw.retransmits > 0 and till.duplicates > 0 and till.decoder.bad_frames > 0


def test_no_credit_no_frames_and_a_lost_update_is_probed():
    up = Medium()
    gw, till, got, back, wire = pair(up, Medium(), till_credit=0)
    wire.run(lambda: gw.ready)
    gw.send(message(0, 0))
    wire.run(lambda: False, 50)
    assert got.count == 0
    sent = up.carried
    till.credit = 1  # raised without telling (as if the update was lost)
    assert wire.run(lambda: got.count == 1, 200)
    assert up.carried > sent


def test_credit_one_is_stop_and_wait():
    up = Medium()
    gw, till, got, back, wire = pair(up, Medium(), till_credit=1)
    frames = []
    orig = up.put

    def watch(mv):
        if bytes(mv) and len(mv) > 12:
            frames.append(got.count)
        orig(mv)

    up.put = watch
    exchange(gw, till, got, back, wire, 20)
    # Each data frame left only after the one before it was taken.
    assert frames == list(range(20))


def test_a_frame_of_another_session_is_answered_stale():
    gw, till, got, back, wire = pair(Medium(), Medium())
    wire.run(lambda: gw.ready)
    gw2 = Channel(lambda b: None, gateway=True, rto_ms=60)
    gw2.session = 33
    gw2.ready = True
    gw2.send(b"late")
    till.feed(gw2.next_output(0), 0)
    out = till.next_output(0)
    gw2.feed(out, 0)
    assert gw2.stale and got.count == 0
    # And a restarted gateway resets and goes on.
    gw.reset(10, wire.now)
    exchange(gw, till, got, back, wire, 10)


def test_a_repeated_reset_does_not_disturb_the_session():
    gw, till, got, back, wire = pair(Medium(), Medium())
    wire.run(lambda: gw.ready)
    reset = Channel(lambda b: None, gateway=True)
    reset.reset(gw.session, 0)
    stale_reset = bytes(reset.next_output(0))
    exchange(gw, till, got, back, wire, 10)
    till.feed(stale_reset, wire.now)  # the line delivers the RESET again, late
    assert till.rx_expected == 10 % 256
    gw.send(message(0, 10))
    wire.run(lambda: got.count == 11, 500)
    assert got.count == 11 and gw.retransmits == 0


def test_sequence_numbers_wrap():
    gw, till, got, back, wire = pair(Medium(1, drop=0.1, dup=0.1), Medium(2, drop=0.1))
    exchange(gw, till, got, back, wire, 700)
    assert gw.tx_next == 700 % 256


def test_a_window_holds_at_most_its_frames():
    gw, till, got, back, wire = pair(Medium(), Medium())
    wire.run(lambda: gw.ready)
    n = 0
    while gw.send(b"x"):
        n += 1
    assert n == 4 and gw.room() == 0 and gw.body() is None
    assert F.MAX_BODY == len(Channel(lambda b: None).body())
