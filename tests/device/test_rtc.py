# The till's clock: date arithmetic, the DS3231's BCD registers and its
# oscillator-stop flag on a fake chip, and the software clock across tick wraps.
import support
from fakes import Ticks
from till.drivers import rtc
from till.formats import dates
from till.drivers.rtc import DS3231, SoftClock


class Chip:
    """A DS3231's register file behind readfrom_mem/writeto_mem."""

    def __init__(self):
        self.regs = bytearray(0x13)
        self.regs[0x0E] = 0x1C  # control after power-up (datasheet)
        self.regs[0x0F] = 0x88  # status after power-up: OSF and EN32kHz set
        self.fail = False
        self.addrs = set()

    def readfrom_mem(self, addr, reg, n):
        if self.fail:
            raise OSError(5)
        self.addrs.add(addr)
        return bytes(self.regs[reg:reg + n])

    def writeto_mem(self, addr, reg, buf):
        if self.fail:
            raise OSError(5)
        self.addrs.add(addr)
        self.regs[reg:reg + len(buf)] = buf


# 2026-11-21 11:47:35 UTC, a Saturday
T = 1795261655


def test_known_dates():
    assert dates.to_unix(1970, 1, 1, 0, 0, 0) == 0
    assert dates.to_unix(2000, 1, 1, 0, 0, 0) == 946684800
    assert dates.to_unix(2026, 11, 21, 11, 47, 35) == T
    assert dates.from_unix(T) == (2026, 11, 21, 11, 47, 35, 6)
    assert dates.from_unix(0) == (1970, 1, 1, 0, 0, 0, 4)  # a Thursday
    assert dates.from_unix(951782400) == (2000, 2, 29, 0, 0, 0, 2)  # leap day
    assert dates.to_unix(2100, 3, 1, 0, 0, 0) - dates.to_unix(2100, 2, 28, 0, 0, 0) == 86400


def test_date_arithmetic_matches_cpython():
    if support.IS_MICROPYTHON:
        support.skip("CPython's calendar is the oracle")
    import calendar
    import time

    t = -86400 * 366
    while t < 7258118400:
        g = time.gmtime(t)
        assert dates.from_unix(t)[:6] == tuple(g[:6]), t
        assert dates.from_unix(t)[6] == g.tm_wday + 1
        assert dates.to_unix(*g[:6]) == calendar.timegm(g) == t
        t += 86400 * 13 + 3671


def test_round_trip_every_day_for_years():
    day = dates.days_from_civil(1999, 12, 25)
    for z in range(day, day + 366 * 4 + 10):
        assert dates.days_from_civil(*dates.civil_from_days(z)) == z


def test_bcd():
    for n in range(100):
        assert rtc.bcd_to_int(rtc.int_to_bcd(n)) == n
    assert rtc.int_to_bcd(59) == 0x59
    assert rtc.bcd_to_int(0x47) == 47


def test_power_up_clock_is_not_trusted():
    chip = Chip()
    clock = DS3231(chip)
    assert clock.now() is None  # OSF set: the journal marks records
    assert not clock.is_set()
    assert chip.addrs == {0x68}


def test_set_writes_bcd_24h_and_clears_osf():
    chip = Chip()
    clock = DS3231(chip)
    clock.set(T)
    assert bytes(chip.regs[0:7]) == b"\x35\x47\x11\x06\x21\x11\x26"
    assert chip.regs[0x0F] == 0x08  # OSF cleared, EN32kHz left as it was
    assert chip.regs[0x0E] == 0x1C  # control untouched: the oscillator was running
    assert clock.now() == T
    chip.regs[0] = 0x36  # the chip ticks
    assert clock.now() == T + 1


def test_set_starts_a_stopped_oscillator():
    chip = Chip()
    chip.regs[0x0E] = 0x9C  # EOSC set: would stop on battery
    DS3231(chip).set(T)
    assert chip.regs[0x0E] == 0x1C


def test_twelve_hour_mode_is_read():
    chip = Chip()
    clock = DS3231(chip)
    clock.set(T)
    for reg, hour in ((0x40 | 0x20 | 0x11, 23), (0x40 | 0x12, 0), (0x40 | 0x20 | 0x12, 12),
                      (0x40 | 0x01, 1)):
        chip.regs[2] = reg
        assert clock.read()[3] == hour, hex(reg)


def test_century_bit():
    chip = Chip()
    clock = DS3231(chip)
    t = dates.to_unix(2105, 6, 1, 12, 0, 0)
    clock.set(t)
    assert chip.regs[5] == 0x80 | 0x06 and chip.regs[6] == 0x05
    assert clock.now() == t
    assert support.raises(ValueError, clock.set, 946684799)  # before 2000
    assert support.raises(ValueError, clock.set, 7258118400)  # after 2199


def test_garbage_registers_are_not_a_time():
    chip = Chip()
    clock = DS3231(chip)
    clock.set(T)
    for reg, bad in ((0, 0x6A), (1, 0x7A), (4, 0x00), (5, 0x13), (2, 0x24), (6, 0xA0),
                     (4, 0x32)):
        saved = chip.regs[reg]
        chip.regs[reg] = bad
        assert clock.now() is None, (reg, hex(bad))
        chip.regs[reg] = saved
    assert clock.now() == T


def test_osf_set_later_means_untrusted_again():
    chip = Chip()
    clock = DS3231(chip)
    clock.set(T)
    chip.regs[0x0F] |= 0x80  # the battery ran flat while the till was off
    assert clock.now() is None


def test_chip_gone_falls_back_to_the_time_set_last():
    chip = Chip()
    ticks = Ticks(5000)
    clock = DS3231(chip, ticks_ms=ticks)
    clock.set(T)
    chip.fail = True
    ticks.t += 10500
    assert clock.now() == T + 10
    assert isinstance(clock.error, OSError)
    chip.fail = False
    assert clock.now() == T
    assert clock.error is None
    # Never set and not answering: unknown.
    dead = Chip()
    dead.fail = True
    assert DS3231(dead).now() is None


def test_other_address():
    chip = Chip()
    DS3231(chip, addr=0x57).set(T)
    assert chip.addrs == {0x57}


def test_soft_clock_unset_until_the_gateway_sets_it():
    ticks = Ticks(123456)
    clock = SoftClock(ticks)
    assert clock.now() is None and not clock.is_set()
    clock.set(T)
    assert clock.now() == T and clock.is_set()
    ticks.t += 999
    assert clock.now() == T
    ticks.t += 1
    assert clock.now() == T + 1
    clock.set(T + 3600)  # the next sync corrects it
    assert clock.now() == T + 3600


def test_soft_clock_survives_many_tick_wraps():
    # 40 days, read hourly (the display shows the time far more often): the
    # ticks wrap three times; no second is lost or gained.
    ticks = Ticks(0x3FFF0000)
    clock = SoftClock(ticks)
    clock.set(T)
    for hour in range(1, 40 * 24 + 1):
        ticks.t += 3600 * 1000
        assert clock.now() == T + hour * 3600
    ticks.t += 1234
    assert clock.now() == T + 40 * 86400 + 1


def test_soft_clock_keeps_milliseconds_when_rebasing():
    ticks = Ticks(0)
    clock = SoftClock(ticks)
    clock.set(T)
    for _ in range(2000):  # 2000 reads 1.9 s apart: fractions must carry over
        ticks.t += 1900
        clock.now()
    assert clock.now() == T + 2000 * 19 // 10


def test_journal_uses_clock_now():
    # The journal takes a callable returning seconds or None: clock.now is one.
    from till.formats import journal

    path = support.tmpdir()
    chip = Chip()
    clock = DS3231(chip)
    j = journal.Journal(path + "/j", "till-1", b"k" * 32, clock=clock.now)
    j.append(journal.KIND_EVENT, {"e": "boot"})
    clock.set(T)
    j.append(journal.KIND_EVENT, {"e": "synced"})
    from till.formats import cbor

    recs = [cbor.loads(raw) for _, raw in j.records_after(0)]
    assert recs[0][journal.K_FLAGS] & journal.FLAG_CLOCK_NOT_SET
    assert recs[1][journal.K_TIME] == T and journal.K_FLAGS not in recs[1]
    j.close()
    support.rmtree(path)
