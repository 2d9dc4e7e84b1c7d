# Test equipment for the link (shared by the link's device tests): an
# in-memory medium between the gateway's channel and the till's, which can
# drop, duplicate, reorder and corrupt frames, driven by a seeded random, and a
# gateway that asks one request at a time over it, as the real client does.
# Runs under CPython and MicroPython.
from till.link import wire as C
from till.link import ops as O
from till.link.stream import RecordStream


class Rng:
    """A seeded xorshift32: MicroPython's random has no Random class, and both
    interpreters must draw the same faults from the same seed."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def _next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def random(self):
        return self._next() / 4294967296

    def randrange(self, a, b=None):
        if b is None:
            a, b = 0, a
        return a + self._next() % (b - a)

    def choice(self, seq):
        return seq[self.randrange(len(seq))]


class Medium:
    """Carries whole wire frames one way, with faults: loss, duplicates,
    reordering, corruption (each a probability), or none."""

    def __init__(self, seed=1, drop=0.0, dup=0.0, swap=0.0, corrupt=0.0, cut_bytes=0.0):
        self.rng = Rng(seed)
        self.drop = drop
        self.dup = dup
        self.swap = swap
        self.corrupt = corrupt
        self.cut_bytes = cut_bytes
        self.queue = []
        self.carried = 0

    def put(self, mv):
        data = bytes(mv)
        self.carried += len(data)
        r = self.rng
        if r.random() < self.drop:
            return
        if r.random() < self.corrupt:
            b = bytearray(data)
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
            data = bytes(b)
        if r.random() < self.cut_bytes:
            data = data[r.randrange(len(data)):]  # a receiver that joined mid-frame
        self.queue.append(data)
        if r.random() < self.dup:
            self.queue.append(data)
        if len(self.queue) > 1 and r.random() < self.swap:
            self.queue[-1], self.queue[-2] = self.queue[-2], self.queue[-1]

    def take(self):
        q = self.queue
        self.queue = []
        return q


class Wire:
    """Two channels (or a LinkServer and a channel) joined by two media; the
    clock advances by step_ms every pass."""

    def __init__(self, gateway, till, up=None, down=None, step_ms=5):
        self.gw = gateway
        self.till = till
        self.up = up or Medium()  # gateway -> till
        self.down = down or Medium(2)  # till -> gateway
        self.now = 0
        self.step_ms = step_ms

    def pass_(self):
        self.now += self.step_ms
        while True:
            out = self.gw.next_output(self.now)
            if out is None:
                break
            self.up.put(out)
        while True:
            out = self.till.next_output(self.now)
            if out is None:
                break
            self.down.put(out)
        for data in self.up.take():
            self.till.feed(data, self.now)
        for data in self.down.take():
            self.gw.feed(data, self.now)

    def run(self, until, max_passes=20000):
        for _ in range(max_passes):
            if until():
                return True
            self.pass_()
        return until()


class Gateway:
    """The gateway's side in memory: request() sends one message and collects
    the replies until the last one (R_RECORDS chunks until their END)."""

    def __init__(self, window=4, credit=16, rto_ms=100, session=7):
        self.channel = C.Channel(self._on_message, window=window, credit=credit,
                                 rto_ms=rto_ms, gateway=True)
        self.channel.reset(session, 0)
        self.replies = []
        self.stream = RecordStream()
        self.done = False

    def next_output(self, now):
        return self.channel.next_output(now)

    def feed(self, data, now):
        self.channel.feed(data, now)

    def _on_message(self, body):
        op = body[0]
        if op == O.OP_RECORDS | O.REPLY:
            self.stream.feed(body[1:])
            return
        self.replies.append((op, O.args_of(body)))
        self.done = True

    def request(self, wire, body, max_passes=20000):
        self.done = False
        self.replies = []
        self.stream = RecordStream()
        assert wire.run(lambda: self.channel.room() > 0, max_passes), "no room to send"
        assert self.channel.send(body)
        assert wire.run(lambda: self.done, max_passes), "no reply"
        return self.replies[-1]
