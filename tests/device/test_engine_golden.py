# micropython-romfs
# (Loads the engine and all it imports: under MicroPython it runs from ROMFS
# with a Pico W's 192K of heap beside the image, see tests/conftest.py.)
#
# Scripted shifts as golden files: tests/device/golden/NAME.shift holds the
# keys, scans and other events of a shift; NAME.out everything the engine did in
# answer (journal records with their chain tags, print jobs, drawer, display).
# Both interpreters must produce the .out files byte for byte.
#
# Script lines:  keys TOKENS   key names, or numbers typed digit by digit
#                scan CODE     a barcode from the scanner
#                tick SECONDS  the clock moves on, then a tick event
#                printer STATUS / link up|down [synced]
#                power_cut     RAM is lost: journal and engine are reopened
#                check_z       the last Z equals a recomputation from the journal
#                journal       counts of the records on flash, by kind
#                sync          head office processed every record (mark_processed)
#
# To regenerate after an intended change (CPython only):
#   KASSA_GOLDEN_REGEN=1 .venv/bin/python -m pytest tests/device/test_engine_golden.py
# Each shift's .out is rewritten and its test then fails with the unified diff
# of the change, so a regeneration never passes: review the diff, commit the
# files if the change is intended, and run again without KASSA_GOLDEN_REGEN.
import gc
import os

import support
from engine_fixture import Till, check_closing
from till.formats import cbor
from till.formats import journal as J
from till.formats import records as R
from till.pos import reports

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
GOLDEN = _HERE + "/golden"


def canon(x, out):
    """Write deterministic text for records and jobs to out(piece): sorted keys,
    the same on both interpreters (MicroPython dicts do not keep insertion
    order), in small pieces so no long string is built on a small heap."""
    if isinstance(x, dict):
        out("{")
        first = True
        for k in sorted(x, key=lambda k: (isinstance(k, str), k)):
            if not first:
                out(", ")
            first = False
            canon(k, out)
            out(": ")
            canon(x[k], out)
        out("}")
    elif isinstance(x, (list, tuple)):
        out("[")
        for i in range(len(x)):
            if i:
                out(", ")
            canon(x[i], out)
        out("]")
    elif isinstance(x, bool):
        out("true" if x else "false")
    elif x is None:
        out("null")
    elif isinstance(x, int):
        out(str(x))
    elif isinstance(x, bytes):
        out("h'")
        for b in x:
            out("%02x" % b)
        out("'")
    elif isinstance(x, str):
        out('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"')
    else:
        raise TypeError("canon: %r" % (x,))


def describe(action, out):
    what = action[0]
    if what == "display":
        out("display ")
        canon(action[1], out)
        out(" | ")
        canon(action[2], out)
    elif what == "record":
        _, seq, kind, body, flags = action
        out("record %d %s flags=%d " % (seq, J.KIND_NAMES[kind], flags))
        canon(body, out)
    elif what == "print":
        out("print ")
        canon(action[1], out)
    else:
        out(what)


def _records(till):
    for seq, raw in till.journal.records_after(0):
        yield seq, cbor.loads(raw)


def check_z(till):
    """The newest closing equals a recomputation from the journal on flash
    (records streamed: the whole journal does not fit a small heap as a list)."""
    z = None
    prev_gt = 0
    prev_numbers = None
    for seq, rec in _records(till):
        if rec[J.K_KIND] == J.KIND_CLOSING:
            if z is not None:
                prev_gt = z[1][R.P_GRAND_TOTAL]
                prev_numbers = reports.numbers_of(z[1])
            z = (seq, rec[J.K_BODY])
    seq, body = z
    check_closing(lambda: _records(till), seq, body, prev_gt, prev_numbers)
    return "z %d recomputed: %d records, sales %d" % (body[R.P_Z], body[R.P_LAST] -
                                                      body[R.P_FIRST] + 1, body[R.P_SALES])


def run(till, line):
    words = line.split()
    cmd = words[0]
    if cmd == "keys":
        return till.keys(" ".join(words[1:]))
    if cmd == "scan":
        return till.scan(words[1])
    if cmd == "tick":
        return till.tick(int(words[1]))
    if cmd == "printer":
        return till.send(("printer", words[1]))
    if cmd == "link":
        synced = till.clock.t if len(words) > 2 and words[2] == "synced" else None
        return till.send(("link", words[1] == "up", synced))
    if cmd == "power_cut":
        return till.power_cut()
    if cmd == "check_z":
        return [("note", check_z(till))]
    if cmd == "journal":
        counts = {}
        for _, rec in _records(till):
            name = J.KIND_NAMES[rec[J.K_KIND]]
            counts[name] = counts.get(name, 0) + 1
        return [("note", "journal on flash: " + ", ".join(
            "%s %d" % (k, counts[k]) for k in sorted(counts)))]
    if cmd == "sync":
        # Head office has processed everything: the engine checkpoints, then
        # the journal may delete whole processed segments.
        before = till.journal.last_seq
        removed = till.engine.mark_processed(before)
        return [("note", "processed up to %d, %d segments deleted" % (before, removed))]
    raise ValueError("unknown script line: %r" % line)


def script_lines(name, golden=GOLDEN):
    """The script lines of golden/NAME.shift, without comments and blanks."""
    with open(golden + "/" + name + ".shift") as f:
        script = f.read()
    out = []
    for line in script.split("\n"):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def regen_asked():
    """KASSA_GOLDEN_REGEN is set (CPython writes; MicroPython still compares)."""
    return bool(os.getenv("KASSA_GOLDEN_REGEN")) and not support.IS_MICROPYTHON


class _Expect:
    """Compares what is produced with NAME.out piece by piece: a shift's output
    is tens of KB and one print job a couple of KB, more than a test should
    build as strings on a 192 KB heap next to the firmware.

    With regen (CPython only) it collects the output instead; close() writes
    NAME.out and then fails with the diff against the old file."""

    def __init__(self, name, golden=GOLDEN, regen=False):
        self.name = name
        self.path = golden + "/" + name + ".out"
        self.regen = regen
        self.pieces = []
        self.f = None if regen else open(self.path)
        self.n = 1
        self.col = 0

    def __call__(self, piece):
        if self.regen:
            self.pieces.append(piece)
            return
        want = self.f.read(len(piece))
        if want != piece:
            rest = self.f.readline()
            raise AssertionError("%s.out line %d column %d:\nwant %s\n got %s"
                                 % (self.name, self.n, self.col + 1, want + rest[:60], piece))
        self.col += len(piece)

    def end_line(self):
        self("\n")
        self.n += 1
        self.col = 0

    def close(self):
        if self.regen:
            raise self._rewrite()
        rest = self.f.read(1)
        self.f.close()
        if rest:
            raise AssertionError("%s.out has more lines than the shift produced" % self.name)

    def _rewrite(self):
        """Write NAME.out; the failure that shows what changed."""
        import difflib  # CPython only, as regeneration is

        try:
            with open(self.path) as f:
                old = f.read()
        except OSError:
            old = ""
        new = "".join(self.pieces)
        with open(self.path, "w") as f:
            f.write(new)
        diff = "".join(difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), self.path + " (before)",
            self.path + " (regenerated)"))
        return AssertionError(
            "KASSA_GOLDEN_REGEN is set: wrote %s. A regeneration never passes: review "
            "the diff below, commit the file if the change is intended, then run the "
            "tests again without KASSA_GOLDEN_REGEN.\n%s"
            % (self.path, diff or "(no change: the file was already up to date)\n"))


def compare(name, golden=GOLDEN, regen=None):
    """Run golden/NAME.shift and compare with NAME.out (or rewrite it, if
    regen, default: KASSA_GOLDEN_REGEN set, and fail with the diff)."""
    lines = script_lines(name, golden)
    out = _Expect(name, golden, regen_asked() if regen is None else regen)
    till = Till()
    try:
        for line in lines:
            out("> " + line)
            out.end_line()
            for action in run(till, line):
                out("  ")
                if action[0] == "note":
                    out(action[1])
                else:
                    describe(action, out)
                out.end_line()
            if till.engine.error is not None:
                raise till.engine.error
        out.close()
    finally:
        if out.f is not None:
            out.f.close()
        till.close()


def test_golden_day():
    compare("day")


def test_golden_errors():
    compare("errors")


def test_golden_offline():
    compare("offline")


def test_golden_powercut():
    compare("powercut")


def test_golden_records_decode_as_written():
    # The bodies in the .out files are what the journal holds: re-read one
    # shift's journal and compare every record body with the engine's actions.
    till = Till()
    try:
        acts = till.sign_on() + till.scan("4006381333931") + till.keys("CASH")
        written = [(a[1], a[3]) for a in acts if a[0] == "record"]
        on_flash = [(r[J.K_SEQ], r[J.K_BODY]) for r in till.records()]
        assert written == on_flash
        assert cbor.loads(cbor.dumps(on_flash[-1][1])) == written[-1][1]
    finally:
        till.close()


def test_every_shift_on_a_16_column_display():
    # The same shifts on the narrowest display: every line fits (the fixture
    # checks each answer) and nothing ends in an unexpected exception.
    for name in ("day", "errors", "offline", "powercut"):
        till = Till(cols=16)
        try:
            for line in script_lines(name):
                run(till, line)
                assert till.engine.error is None, (name, line, till.engine.error)
        finally:
            till.close()
        # Let the finished till go before the next is built: at 192K two of
        # this test equipment's tills (each with its own snapshot) do not fit.
        till = None
        gc.collect()
