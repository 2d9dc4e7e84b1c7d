# Board files: they import without hardware, their data is consistent (every
# required key, no pin used twice, pins that can do what they are used for,
# profiles equal to `kassa printer profile`), and build() wires the drivers to
# the right peripherals -- checked with a fake `machine` module, fake evdev and
# gpiozero devices, and the sim board's virtual hardware.
import io
import os
import sys

import support
from fakes import Ticks
from test_printer import FakePrinter
from till.formats import escpos
from till.drivers import keypad, linux, printer
from till.drivers import sim as simhw


def _repo_root():
    path = support.__file__
    for _ in range(3):
        path = path[:path.rfind("/")]
    return path


_ROOT = _repo_root()
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

import boards  # noqa: E402 - needs the repository root on the path

MACHINE_BOARDS = ("pico_w", "esp32")


def board(name):
    return boards.load(name)


def pins_of(b):
    """(pin, use) for every GPIO a board file names."""
    used = []
    for section in ("PRINTER", "SCANNER", "POLE"):
        c = getattr(b, section, None) or {}
        for key in ("tx", "rx"):
            if key in c:
                used.append((c[key], section + "." + key))
    i2c = getattr(b, "I2C", None) or {}
    for key in ("sda", "scl"):
        if key in i2c:
            used.append((i2c[key], "I2C." + key))
    for kp in (b.KEYPAD, getattr(b, "KEYPAD_GPIO", None)):
        if kp and kp["kind"] in ("matrix", "gpio"):
            used += [(n, "row") for n in kp["rows"]] + [(n, "col") for n in kp["cols"]]
    return used


def layout_names(kp):
    if kp["kind"] in ("matrix", "gpio"):
        return [k for row in kp["keys"] for k in row if k is not None]
    # A stream keypad: digits are themselves, the keymap adds the rest.
    return list("0123456789") + list(kp["keymap"].values())


def test_board_files_import_without_hardware():
    assert boards.NAMES == ("pico_w", "esp32", "rpi", "sim")
    for name in boards.NAMES:
        b = board(name)
        assert b.NAME == name
        assert callable(b.build)
    assert support.raises(ValueError, boards.load, "arduino")


def test_every_layout_covers_the_required_keys_once():
    for name in boards.NAMES:
        b = board(name)
        for kp in (b.KEYPAD, getattr(b, "KEYPAD_GPIO", None)):
            if kp is None:
                continue
            names = layout_names(kp)
            assert keypad.missing_keys(names) == [], (name, keypad.missing_keys(names))
            assert [n for n in names if n not in keypad.NAMES] == [], name
            if kp["kind"] in ("matrix", "gpio"):
                assert len(set(names)) == len(names), name  # no key twice
                assert len(kp["keys"]) == len(kp["rows"]), name
                assert all(len(r) == len(kp["cols"]) for r in kp["keys"]), name


def test_no_pin_used_twice():
    for name in boards.NAMES:
        b = board(name)
        used = pins_of(b)
        seen = {}
        for pin, use in used:
            assert pin not in seen, "%s: pin %d is %s and %s" % (name, pin, seen[pin], use)
            seen[pin] = use


# RP2040 datasheet, table 2 (GPIO functions): pins each peripheral can use.
_RP2040 = {
    ("UART", 0, "tx"): (0, 12, 16, 28), ("UART", 0, "rx"): (1, 13, 17, 29),
    ("UART", 1, "tx"): (4, 8, 20, 24), ("UART", 1, "rx"): (5, 9, 21, 25),
    ("I2C", 0, "sda"): (0, 4, 8, 12, 16, 20, 24, 28), ("I2C", 0, "scl"): (1, 5, 9, 13, 17, 21, 25, 29),
    ("I2C", 1, "sda"): (2, 6, 10, 14, 18, 22, 26), ("I2C", 1, "scl"): (3, 7, 11, 15, 19, 23, 27),
}


def test_pico_w_pins_can_do_their_jobs():
    b = board("pico_w")
    for c in (b.PRINTER, b.SCANNER):
        assert c["tx"] in _RP2040[("UART", c["uart"], "tx")]
        assert c["rx"] in _RP2040[("UART", c["uart"], "rx")]
    assert b.I2C["sda"] in _RP2040[("I2C", b.I2C["id"], "sda")]
    assert b.I2C["scl"] in _RP2040[("I2C", b.I2C["id"], "scl")]
    assert b.PRINTER["uart"] != b.SCANNER["uart"]
    # GP23-25 and GP29 belong to the Pico W's wireless chip; GP0-28 exist.
    for pin, use in pins_of(b):
        assert 0 <= pin <= 22 or 26 <= pin <= 28, (pin, use)
    assert b.WATCHDOG_MS <= 8388  # the RP2040 watchdog's longest timeout


def test_esp32_avoids_strapping_flash_and_console_pins():
    b = board("esp32")
    ext = b.KEYPAD.get("external_pullups", ())
    for pin, use in pins_of(b):
        assert pin not in (0, 2, 5, 12, 15), (pin, use)  # boot strapping
        assert not 6 <= pin <= 11, (pin, use)  # the module's SPI flash
        assert pin not in (1, 3), (pin, use)  # UART0: USB bridge, REPL, link
        assert pin <= 39 and pin not in (20, 24, 28, 29, 30, 31), (pin, use)
        if pin >= 34:  # input only, no internal pull-up
            assert use in ("row", "col", "SCANNER.rx", "PRINTER.rx"), (pin, use)
            assert use != "row", (pin, use)
            if use == "col":
                assert pin in ext, pin
    assert len({b.PRINTER["uart"], b.SCANNER["uart"]}) == 2
    assert 0 not in (b.PRINTER["uart"], b.SCANNER["uart"])


def test_rpi_gpio_keypad_leaves_i2c_and_uart_alone():
    b = board("rpi")
    pins = list(b.KEYPAD_GPIO["rows"]) + list(b.KEYPAD_GPIO["cols"])
    for pin in pins:
        assert 2 <= pin <= 27 and pin not in (2, 3, 14, 15), pin


def test_data_every_board_must_name():
    for name in boards.NAMES:
        b = board(name)
        assert b.PRINTER["queue_dir"] and b.PRINTER.get("drawer_pin", 2) in (2, 5)
        if "baud" in b.PRINTER:
            assert b.PRINTER["baud"] in (9600, 19200, 38400, 57600, 115200), name
        assert b.SCANNER["terminator"] in ("CR", "LF", "CRLF")
        assert b.DISPLAY["cols"] >= 16 and b.DISPLAY["rows"] >= 2
        j = b.JOURNAL
        assert j["dir"] and j["full_free_bytes"] < j["low_free_bytes"], name
        assert j["segment_bytes"] >= 2048
        assert b.SNAPSHOT_DIR and b.LINK["kind"]
        assert b.FLASH["fs"]
        if b.CLOCK["kind"] == "ds3231" or b.DISPLAY["kind"] == "hd44780":
            assert b.I2C, name
        if b.CLOCK["kind"] == "ds3231" and b.DISPLAY["kind"] == "hd44780":
            assert b.CLOCK["addr"] != b.DISPLAY["addr"]
        p = b.PROFILE
        assert p["columns"]["a"] and p["paper_width_dots"] % 8 == 0
        assert p["text_code_page"]["name"] in ("CP858", "CP437")
    # Flash geometry as MicroPython lays out each board's filesystem.
    assert board("pico_w").FLASH["blocks"] * 4096 == 848 * 1024
    assert board("esp32").FLASH["blocks"] * 4096 == 2 * 1024 * 1024


def test_profiles_equal_kassa_printer_profile():
    if support.IS_MICROPYTHON:
        support.skip("the profile database is host-side (python-escpos)")
    from host_tools.hodata.printer_profile import build_profile

    for name in boards.NAMES:
        p = board(name).PROFILE
        full = build_profile(p["model"])
        assert set(p) == set(full) - {"code_pages"}, name
        for key, value in p.items():
            assert full[key] == value, (name, key)


# ---- build() on a board, with a fake machine module ------------------------------

class FakeMachine:
    """Enough of MicroPython's `machine` for build_machine(): pins with levels,
    UARTs that act as an answering printer (test_printer's fake), I2C with a
    DS3231's registers, WDT. Everything constructed is recorded."""

    def __init__(self):
        fake = self
        self.pins = {}
        self.uarts = []
        self.i2cs = []
        self.wdts = []
        self.pressed = set()  # (row pin, col pin) pairs connected by a key

        class Pin:
            OUT = 1
            IN = 0
            PULL_UP = 1

            def __init__(self, n, mode=None, pull=None, value=None):
                self.n = n
                self.mode = mode
                self.pull = pull
                self.level = 1 if value is None else value
                fake.pins[n] = self

            def value(self, v=None):
                if v is not None:
                    self.level = v
                    return None
                for r, c in fake.pressed:
                    if c == self.n and fake.pins[r].level == 0:
                        return 0
                return 1

        class UART(FakePrinter):
            # A UART with a healthy printer on it (the scanner's UART uses
            # only the inbox, as the scanner's bytes).
            def __init__(self, uart_id, **kw):
                FakePrinter.__init__(self)
                self.id = uart_id
                self.kw = kw
                fake.uarts.append(self)

        class I2C:
            def __init__(self, bus_id, sda=None, scl=None, freq=None):
                self.id = bus_id
                self.sda = sda
                self.scl = scl
                self.freq = freq
                self.writes = []
                self.regs = bytearray(0x13)
                self.regs[0x0F] = 0x80  # DS3231 after power-up: OSF set
                fake.i2cs.append(self)

            def writeto(self, addr, buf):
                self.writes.append((addr, bytes(buf)))

            def readfrom_mem(self, addr, reg, n):
                return bytes(self.regs[reg:reg + n])

            def writeto_mem(self, addr, reg, buf):
                self.regs[reg:reg + len(buf)] = buf

        class WDT:
            def __init__(self, timeout=None):
                self.timeout = timeout
                fake.wdts.append(self)

        self.Pin = Pin
        self.UART = UART
        self.I2C = I2C
        self.WDT = WDT


def with_fake_machine(fn):
    fake = FakeMachine()
    saved = sys.modules.get("machine")
    sys.modules["machine"] = fake
    try:
        return fn(fake)
    finally:
        if saved is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = saved


def test_import_touches_no_hardware():
    # A `machine` whose every use fails: importing (again) must not use it.
    class Poison:
        def __getattr__(self, name):
            raise AssertionError("touched machine.%s at import" % name)

    saved = sys.modules.get("machine")
    sys.modules["machine"] = Poison()
    try:
        import gc

        for name in boards.NAMES:
            sys.modules.pop("boards." + name, None)
            gc.collect()  # the module just dropped: its re-import needs the room
            board(name)
    finally:
        if saved is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = saved


def _check_machine_board(name):
    b = board(name)

    def build(fake):
        return fake, b.build()

    # The board's print queue ("printq") is made in the current directory, a
    # board's flash root: here a scratch one, not the checkout.
    here = os.getcwd()
    os.chdir(support.tmpdir())
    try:
        fake, dev = with_fake_machine(build)
    finally:
        os.chdir(here)
    assert dev["board"] == name
    # The printer's and the scanner's UARTs, with their pins and speeds.
    by_id = {u.id: u for u in fake.uarts}
    pu = by_id[b.PRINTER["uart"]]
    su = by_id[b.SCANNER["uart"]]
    assert pu.kw["baudrate"] == b.PRINTER["baud"] and pu.kw["timeout"] == 0
    assert (pu.kw["tx"].n, pu.kw["rx"].n) == (b.PRINTER["tx"], b.PRINTER["rx"])
    assert su.kw["baudrate"] == b.SCANNER["baud"]
    assert (su.kw["tx"].n, su.kw["rx"].n) == (b.SCANNER["tx"], b.SCANNER["rx"])
    # Keypad rows are outputs parked high; columns inputs, pulled up unless
    # the board has resistors.
    ext = b.KEYPAD.get("external_pullups", ())
    for n in b.KEYPAD["rows"]:
        assert fake.pins[n].mode == fake.Pin.OUT and fake.pins[n].level == 1
    for n in b.KEYPAD["cols"]:
        assert fake.pins[n].mode == fake.Pin.IN
        assert fake.pins[n].pull == (None if n in ext else fake.Pin.PULL_UP)
    # The LCD was initialized on the I2C bus at its address.
    bus = fake.i2cs[0]
    assert (bus.sda.n, bus.scl.n, bus.freq) == (b.I2C["sda"], b.I2C["scl"], b.I2C["freq"])
    assert bus.writes[0] == (b.DISPLAY["addr"], b"\x08")
    assert len(bus.writes) == 11  # the whole init sequence (tests/device/test_lcd.py)
    # The devices work through the fakes.
    p = dev["printer"]
    assert isinstance(p, printer.Printer) and p.bytes_per_s == b.PRINTER["baud"] // 10
    assert p.max_width_bytes == b.PROFILE["paper_width_dots"] // 8
    p.print_job(b"\x1b\x40Hello\n")
    p.open_drawer()
    import time

    start = time.time()
    while p.busy() and time.time() - start < 2:  # real time: writes are paced
        time.sleep(p.step() / 1000)
    # The drawer pulse first (a control job), then the checked receipt.
    assert bytes(pu.printed) == b"\x1b\x70\x00\x32\x32\x1b\x40Hello\n"
    su.inbox += b"4006381333931\r"
    assert dev["scanner"].poll() == [("code", "4006381333931")]
    # TOTAL on the matrix, through the fake pins.
    for r, row in enumerate(b.KEYPAD["keys"]):
        for c, key in enumerate(row):
            if key == "TOTAL":
                fake.pressed = {(b.KEYPAD["rows"][r], b.KEYPAD["cols"][c])}
    dev["keypad"].poll()
    time.sleep(0.03)
    assert dev["keypad"].poll() == ["TOTAL"]
    # The clock is the DS3231, untrusted until set.
    assert dev["clock"].now() is None
    dev["clock"].set(1795261655)
    assert dev["clock"].now() == 1795261655
    dev["display"].show(["Hello"])
    assert bus.writes[-1][0] == b.DISPLAY["addr"]
    wdt = dev["watchdog"]()
    assert wdt.timeout == b.WATCHDOG_MS
    assert dev["journal"] == b.JOURNAL and dev["link"] == b.LINK
    assert dev["profile"] is b.PROFILE


def test_pico_w_build_with_fake_machine():
    _check_machine_board("pico_w")


def test_esp32_build_with_fake_machine():
    _check_machine_board("esp32")


# ---- the sim board ------------------------------------------------------------

def test_sim_board_runs_a_script():
    root = support.tmpdir() + "/sim"
    script = io.StringIO(
        "# a short sale\n"
        "key 1 2 SIGN\n"
        "type 12+\n"
        "scan 4006381333931\n"
        "scan 4006381333931\n"
        "paper out\n"
        "bogus command\n"
        "key 1 FOO\n"
        "wait 100\n"
        "key TOTAL\n")
    shown = io.StringIO()
    ticks = Ticks()
    dev = board("sim").build(root, script, shown, ticks)
    # Keys and scans come out of the real drivers, in script order per device.
    assert dev["keypad"].poll() == ["1", "2", "SIGN", "1", "2", "QTY"]
    assert dev["scanner"].poll() == [("code", "4006381333931"), ("code", "4006381333931")]
    assert dev["keypad"].poll() == []  # waiting 100 ms
    ticks.t = 100
    assert dev["keypad"].poll() == ["TOTAL"]
    assert dev["sim_input"].errors == ["bogus command", "key 1 FOO"]
    said = shown.getvalue()
    assert "sim: not understood: bogus command (the commands are scan CODE" in said
    assert "sim: not understood: key 1 FOO (no key FOO; the keys are 0 1 2" in said
    # Paper out: the receipt waits, queued on "flash" (the root directory).
    p = dev["printer"]
    p.print_job(b"\x1b\x40receipt\n")
    for _ in range(10):
        ticks.t += max(1, p.step())
    assert p.problem == printer.PAPER_OUT
    import os

    assert len(os.listdir(root + "/printq")) == 1
    dev["printer_port"].paper = "ok"
    for _ in range(400):
        ticks.t += max(1, p.step())
    assert support.read_file(root + "/printer.bin") == b"\x1b\x40receipt\n"
    assert p.problem is None and os.listdir(root + "/printq") == []
    dev["display"].show(["TOTAL", ("Cash", "12.50")])
    assert shown.getvalue()[len(said):] == "|TOTAL               |\n|Cash           12.50|\n\n"
    assert dev["clock"].now() is None  # no RTC: unset until the gateway sets it
    assert dev["journal"]["dir"] == root + "/journal"


def test_sim_printer_states():
    board("sim")
    root = support.tmpdir()
    port = simhw.SimPrinterPort(root + "/out.bin")
    buf = bytearray(4)
    for state, cover, reply in (("ok", False, (0x12, 0x12)), ("low", False, (0x1E, 0x12)),
                                ("out", False, (0x7E, 0x12)), ("ok", True, (0x12, 0x16))):
        port.paper = state
        port.cover_open = cover
        port.write(escpos.STATUS_PAPER)
        port.write(escpos.STATUS_OFFLINE)
        assert port.readinto(buf) == 2 and tuple(buf[:2]) == reply
    port.on = False
    port.write(escpos.STATUS_PAPER)
    port.write(b"lost")
    assert port.readinto(buf) == 0
    # Status requests are answered, never written to the paper file.
    try:
        data = support.read_file(root + "/out.bin")
    except OSError:
        data = b""
    assert data == b""


def test_sim_terminal_lines_from_a_pipe():
    if support.IS_MICROPYTHON:
        support.skip("os.pipe is CPython's")
    import os

    board("sim")
    r, w = os.pipe()
    rf = os.fdopen(r)
    lines = simhw.TerminalLines(rf)
    assert lines.readline() == ""  # nothing typed: no wait
    os.write(w, b"scan 123\n")
    assert lines.readline() == "scan 123\n"
    os.close(w)
    assert lines.readline() == "" and lines.closed
    rf.close()


# ---- the Raspberry Pi board's adapters ------------------------------------------

class Ev:
    def __init__(self, code, value, type_=1):
        self.type = type_
        self.code = code
        self.value = value


class FakeInputDevice:
    def __init__(self, events):
        self.events = list(events)
        self.grabbed = False

    def grab(self):
        self.grabbed = True

    def read_one(self):
        return self.events.pop(0) if self.events else None


def keystrokes(codes, shift=False):
    evs = []
    if shift:
        evs.append(Ev(42, 1))
    for code in codes:
        evs += [Ev(code, 1), Ev(0, 0, type_=0), Ev(code, 0)]
    if shift:
        evs.append(Ev(42, 0))
    return evs


def test_evdev_scanner_types_codes():
    rpi = board("rpi")
    from till.drivers.scanner import Scanner

    # "400" then Enter, then "Ab-1" (shifted a), a held key's auto-repeat
    # (value 2) ignored, then Enter on the keypad.
    events = (keystrokes([5, 11, 11, 28]) + keystrokes([30], shift=True)
              + keystrokes([48, 12, 79]) + [Ev(79, 2)] + keystrokes([96]))
    dev = FakeInputDevice(events)
    stream = linux.EvdevKeys(dev)
    assert dev.grabbed
    s = Scanner(stream, dedup_ms=0)
    assert s.poll() == [("code", "400"), ("code", "Ab-1")]


def test_evdev_keypad_through_the_keymap():
    rpi = board("rpi")
    from till.drivers.keypad import StreamKeypad

    # KP1, KP2, KP+, "a" (00), "s", KPEnter, Backspace
    dev = FakeInputDevice(keystrokes([79, 80, 78, 30, 31, 96, 14]))
    kp = StreamKeypad(linux.EvdevKeys(dev, grab=False), rpi.KEYPAD["keymap"])
    assert kp.poll() == ["1", "2", "QTY", "00", "SIGN", "TOTAL", "CLEAR"]
    assert not dev.grabbed


def test_escpos_usb_adapter_carries_jobs_and_status():
    rpi = board("rpi")

    class UsbDevice:
        def __init__(self):
            self.replies = []

        def read(self, ep, n, timeout):
            assert ep == 0x82 and timeout == 5
            if not self.replies:
                raise OSError(110)  # what usb.core.USBTimeoutError is
            return self.replies.pop(0)

    class UsbPrinter:  # the parts of escpos.printer.Usb the adapter uses
        in_ep = 0x82

        def __init__(self):
            self.device = UsbDevice()
            self.sent = b""

        def _raw(self, data):
            self.sent += data
            if data == escpos.STATUS_PAPER or data == escpos.STATUS_OFFLINE:
                self.device.replies.append(bytes((0x12,)))

    usb = UsbPrinter()
    p = printer.Printer(linux.EscposUsb(usb))
    jid = p.print_job(b"\x1b\x40hi\n")
    for _ in range(20):
        p.step()
    status = escpos.STATUS_PAPER + escpos.STATUS_OFFLINE  # before the job and after it
    assert usb.sent == status + b"\x1b\x40hi\n" + status
    assert p.take_events() == [("printed", (jid, None))]


def test_smbus_adapter_drives_the_rtc_and_lcd():
    rpi = board("rpi")
    from till.drivers.rtc import DS3231

    class SMBus:
        def __init__(self):
            self.regs = bytearray(0x13)
            self.msgs = []

        def read_i2c_block_data(self, addr, reg, n):
            return list(self.regs[reg:reg + n])

        def write_i2c_block_data(self, addr, reg, data):
            assert isinstance(data, list)
            self.regs[reg:reg + len(data)] = bytes(data)

        def i2c_rdwr(self, msg):
            self.msgs.append(msg)

    bus = SMBus()
    clock = DS3231(linux.SMBusI2C(bus))
    clock.set(1795261655)
    assert clock.now() == 1795261655
    # The LCD's plain writes go as one i2c_rdwr write message (smbus2 faked).
    class I2cMsg:
        @staticmethod
        def write(addr, buf):
            return ("write", addr, buf)

    class Smbus2:
        i2c_msg = I2cMsg

    saved = sys.modules.get("smbus2")
    sys.modules["smbus2"] = Smbus2()
    try:
        from till.drivers.lcd import Lcd

        lcd = Lcd(linux.SMBusI2C(bus), delay_ms=lambda ms: None)
        lcd.init()
    finally:
        if saved is None:
            del sys.modules["smbus2"]
        else:
            sys.modules["smbus2"] = saved
    assert bus.msgs[0] == ("write", 0x27, b"\x08") and len(bus.msgs) == 11


def test_gpio_matrix_through_gpiozero():
    rpi = board("rpi")
    levels = {}
    pressed = set()

    class Pin:
        def __init__(self, n):
            self.n = n

        @property
        def state(self):
            for r, c in pressed:
                if c == self.n and levels.get(r) == 0:
                    return 0
            return 1

    class DigitalOutputDevice:
        def __init__(self, n, initial_value=False):
            self.n = n
            levels[n] = 1 if initial_value else 0

        @property
        def value(self):
            return levels[self.n]

        @value.setter
        def value(self, v):
            levels[self.n] = v

    class DigitalInputDevice:
        def __init__(self, n, pull_up=False):
            assert pull_up
            self.pin = Pin(n)

    class Gpiozero:
        pass

    gz = Gpiozero()
    gz.DigitalOutputDevice = DigitalOutputDevice
    gz.DigitalInputDevice = DigitalInputDevice
    sys.modules["gpiozero"] = gz
    try:
        ticks = Ticks()
        cfg = rpi.KEYPAD_GPIO
        kp = linux.gpio_matrix(cfg, ticks)
        assert all(levels[n] == 1 for n in cfg["rows"])
        pressed.add((cfg["rows"][1], cfg["cols"][3]))  # CLEAR
        kp.poll()
        ticks.t = 25
        assert kp.poll() == ["CLEAR"]
    finally:
        del sys.modules["gpiozero"]
