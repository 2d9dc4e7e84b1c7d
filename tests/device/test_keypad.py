# micropython-romfs
# (Imports the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Keypads: the scanned matrix (through plain functions standing in for pins)
# with debounce and no auto-repeat, and the character-stream keypad.
import io

import support
from fakes import Ticks as Clock
from till.drivers import keypad
from till.drivers.keypad import MatrixKeypad, StreamKeypad

LAYOUT = (
    ("7", "8", "9", "CLEAR"),
    ("4", "5", "6", "QTY"),
    ("1", "2", "3", None),
)


class Matrix:
    """Wires of a key matrix: rows driven through drive functions, columns
    read through read functions, like Pin.value of real pins. A pressed key
    connects its row to its column; columns are pulled up."""

    def __init__(self, nrows, ncols):
        self.levels = [1] * nrows
        self.down = set()
        self.drives = 0
        self.rows = [self._driver(r) for r in range(nrows)]
        self.cols = [self._reader(c) for c in range(ncols)]

    def _driver(self, r):
        def drive(level):
            self.drives += 1
            self.levels[r] = level
        return drive

    def _reader(self, c):
        def read():
            for r, level in enumerate(self.levels):
                if level == 0 and (r, c) in self.down:
                    return 0
            return 1  # pull-up
        return read


def make(debounce_ms=20):
    m = Matrix(3, 4)
    clock = Clock()
    return m, clock, MatrixKeypad(m.rows, m.cols, LAYOUT, debounce_ms=debounce_ms,
                                  ticks_ms=clock)


def scan_for(kp, clock, ms, step=5):
    got = []
    end = clock.t + ms
    while clock.t < end:
        got += kp.poll()
        clock.t += step
    return got


def test_construction_parks_rows_inactive():
    m, clock, kp = make()
    assert m.levels == [1, 1, 1]
    assert kp.read_matrix() == ()
    assert m.levels == [1, 1, 1]  # each row released after its scan


def test_read_matrix_finds_each_key():
    m, clock, kp = make()
    for r, row in enumerate(LAYOUT):
        for c, name in enumerate(row):
            m.down = {(r, c)}
            assert kp.read_matrix() == (() if name is None else (name,))


def test_press_reported_once_after_debounce_and_never_repeats():
    m, clock, kp = make(debounce_ms=20)
    m.down = {(1, 1)}  # "5"
    assert kp.poll() == []  # first sight: not yet
    clock.t = 10
    assert kp.poll() == []  # 10 ms stable: not yet
    clock.t = 20
    assert kp.poll() == ["5"]
    assert scan_for(kp, clock, 2000) == []  # held for 2 s: no repeat
    m.down = set()
    assert scan_for(kp, clock, 50) == []  # release reports nothing
    m.down = {(1, 1)}
    assert scan_for(kp, clock, 50) == ["5"]  # pressed again


def test_bounce_shorter_than_debounce_is_ignored():
    m, clock, kp = make(debounce_ms=20)
    # Contacts chatter: 5 ms closed, 5 ms open, repeatedly, then settle closed.
    for i in range(8):
        m.down = {(0, 3)} if i % 2 == 0 else set()
        assert kp.poll() == []
        clock.t += 5
    m.down = {(0, 3)}
    assert scan_for(kp, clock, 40) == ["CLEAR"]


def test_glitch_while_idle_is_ignored():
    m, clock, kp = make(debounce_ms=20)
    m.down = {(2, 0)}
    assert kp.poll() == []
    clock.t += 5
    m.down = set()
    assert scan_for(kp, clock, 100) == []


def test_release_bounce_does_not_press_again():
    m, clock, kp = make(debounce_ms=20)
    m.down = {(2, 2)}
    assert scan_for(kp, clock, 30) == ["3"]
    for i in range(6):  # chatter on release
        m.down = set() if i % 2 == 0 else {(2, 2)}
        assert kp.poll() == []
        clock.t += 5
    m.down = set()
    assert scan_for(kp, clock, 40) == []


def test_second_key_while_first_held():
    m, clock, kp = make()
    m.down = {(0, 0)}
    assert scan_for(kp, clock, 30) == ["7"]
    m.down = {(0, 0), (2, 1)}
    assert scan_for(kp, clock, 30) == ["2"]
    m.down = {(2, 1)}
    assert scan_for(kp, clock, 30) == []


def test_position_without_key_is_silent():
    m, clock, kp = make()
    m.down = {(2, 3)}
    assert scan_for(kp, clock, 50) == []


def test_active_high_wiring():
    levels = [0, 0]
    down = set()

    def driver(r):
        def drive(level):
            levels[r] = level
        return drive

    def reader(c):
        def read():
            return 1 if any(levels[r] == 1 and (r, c) in down for r in range(2)) else 0
        return read

    clock = Clock()
    kp = MatrixKeypad([driver(0), driver(1)], [reader(0), reader(1)],
                      (("1", "2"), ("3", "4")), ticks_ms=clock, active_low=False)
    assert levels == [0, 0]
    down.add((1, 0))
    assert scan_for(kp, clock, 30) == ["3"]


def test_layout_shape_checked():
    m = Matrix(3, 4)
    assert support.raises(ValueError, MatrixKeypad, m.rows, m.cols, LAYOUT[:2])
    assert support.raises(ValueError, MatrixKeypad, m.rows, m.cols,
                          (("1", "2", "3"),) * 3)


def test_required_keys_and_missing_keys():
    assert len(keypad.REQUIRED) == 26
    assert keypad.missing_keys(list(keypad.REQUIRED)) == []
    assert keypad.missing_keys(["0", "1", "TOTAL"])[:3] == ["2", "3", "4"]
    assert "00" in keypad.missing_keys(keypad.DIGITS[:10])


def test_stream_keypad_chars_map_and_brackets():
    keymap = {"\r": keypad.TOTAL, "+": keypad.QTY, "c": keypad.CLEAR}
    kp = StreamKeypad(io.BytesIO(b"12+3\r[00][SUBTOTAL] x[CASH]c[BOGUS][.]\n"), keymap)
    assert kp.poll() == ["1", "2", "QTY", "3", "TOTAL", "00", "SUBTOTAL", "CASH", "CLEAR", "."]
    assert kp.unknown == ["BOGUS"]
    assert kp.poll() == []


def test_stream_keypad_bracket_split_across_reads():
    kp = StreamKeypad(io.BytesIO(b""))
    assert kp.feed("[SUB") == []
    assert kp.feed("TOTAL]5") == ["SUBTOTAL", "5"]
    # A digit can be remapped (a numeric keypad's layout).
    kp = StreamKeypad(io.BytesIO(b""), {"0": keypad.CLEAR})
    assert kp.feed("0") == ["CLEAR"]


def test_stream_keypad_ignores_non_ascii_terminal_input():
    kp = StreamKeypad(io.BytesIO("1é2".encode()))
    assert kp.poll() == ["1", "2"]


def test_stream_keypad_runaway_bracket_is_bounded():
    kp = StreamKeypad(io.BytesIO(b""))
    kp.feed("[" + "A" * 100)
    assert len(kp._name) <= 16
    assert kp.feed("]7") == ["7"]
    assert kp.unknown == ["A" * 16]


def test_every_key_the_engine_knows_is_a_key_name():
    from till.pos import engine

    assert set(engine.KEYS) <= set(keypad.NAMES)
