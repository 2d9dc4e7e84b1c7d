# The till's clock: a DS3231 real-time clock on I2C where the board has one, and
# a software clock (millisecond ticks plus an offset) where it has none.
#
# Both give the journal what it needs (Journal(clock=clock.now)): now() is Unix
# seconds (UTC), or None while the time is unknown -- never set, or the RTC's
# oscillator stopped -- and the journal then marks records FLAG_CLOCK_NOT_SET.
# set(unix_seconds) is what the gateway calls at each sync.
#
# Dates are converted here with integer arithmetic instead of time.mktime/gmtime:
# MicroPython's epoch is 2000 on some ports and 1970 on others, and the unix
# port's localtime is local, not UTC.
from till.drivers import periph
from till.drivers.periph import ticks_add, ticks_diff
from till.formats.dates import from_unix, to_unix

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# DS3231 registers (Maxim DS3231 datasheet, figure 1 "Timekeeping registers").
_REG_SECONDS = const(0x00)  # then minutes, hours, day, date, month/century, year
_REG_CONTROL = const(0x0E)
_REG_STATUS = const(0x0F)
_EOSC = const(0x80)  # control bit 7: 1 stops the oscillator on battery power
_OSF = const(0x80)  # status bit 7: the oscillator stopped since it was last cleared
_HOUR_12 = const(0x40)  # hours bit 6: 12-hour mode
_HOUR_PM = const(0x20)  # hours bit 5 in 12-hour mode: PM
_CENTURY = const(0x80)  # month bit 7: the year register wrapped past 99

_MIN_UNIX = const(946684800)  # 2000-01-01: the DS3231's first date
_MAX_UNIX = 7258118399  # 2199-12-31 23:59:59: its last (century bit + 00-99)
_REBASE_MS = const(3600000)  # software clock: fold ticks into seconds hourly


def bcd_to_int(b):
    return (b >> 4) * 10 + (b & 0x0F)


def int_to_bcd(n):
    return ((n // 10) << 4) | (n % 10)


def _bcd_ok(b, mask):
    b &= mask
    return (b & 0x0F) <= 9 and (b >> 4) <= 9


class SoftClock:
    """Time from the millisecond ticks, unknown until set().

    The ticks wrap every 12.4 days and a difference is only right up to 6.2
    days, so now() folds elapsed whole seconds into the base once an hour has
    passed; the main loop calls now() far more often than every 6 days (the
    display shows the time). A restart forgets the time: a board without an RTC
    marks its records until the gateway sets the clock again.
    """

    def __init__(self, ticks_ms=None):
        self._ticks_ms = ticks_ms or periph.ticks_ms
        self._base_s = None
        self._base_ticks = 0

    def set(self, unix_seconds):
        self._base_s = int(unix_seconds)
        self._base_ticks = self._ticks_ms()

    def now(self):
        if self._base_s is None:
            return None
        elapsed_ms = ticks_diff(self._ticks_ms(), self._base_ticks)
        if elapsed_ms >= _REBASE_MS:
            whole_s = elapsed_ms // 1000
            self._base_s += whole_s
            self._base_ticks = ticks_add(self._base_ticks, whole_s * 1000)
            elapsed_ms -= whole_s * 1000
        return self._base_s + elapsed_ms // 1000

    def is_set(self):
        return self._base_s is not None


class DS3231:
    """A DS3231 on `i2c` (readfrom_mem/writeto_mem, as machine.I2C).

    The chip keeps UTC here. now() reads it each time (7 bytes, under 1 ms at
    100 kHz); it returns None when the oscillator-stop flag is set (first power
    up, or the backup battery ran flat: the time is not to be trusted) or the
    registers hold no valid date. If the chip stops answering, the time set last
    keeps running in a SoftClock, and `error` says what went wrong.
    """

    def __init__(self, i2c, addr=0x68, ticks_ms=None):
        self._i2c = i2c
        self.addr = addr
        self._soft = SoftClock(ticks_ms)
        self.error = None

    def read(self):
        """(y, mo, d, h, mi, s) from the chip, or None if not trustworthy."""
        status = self._i2c.readfrom_mem(self.addr, _REG_STATUS, 1)[0]
        if status & _OSF:
            return None
        # One 7-byte read: the chip copies the time into a buffer at START, so
        # the fields cannot straddle a seconds rollover.
        r = self._i2c.readfrom_mem(self.addr, _REG_SECONDS, 7)
        sec, minute, hour, date, month, year = r[0], r[1], r[2], r[4], r[5], r[6]
        if not (_bcd_ok(sec, 0x7F) and _bcd_ok(minute, 0x7F) and _bcd_ok(date, 0x3F)
                and _bcd_ok(month, 0x1F) and _bcd_ok(year, 0xFF)):
            return None
        if hour & _HOUR_12:
            if not _bcd_ok(hour, 0x1F):
                return None
            h = bcd_to_int(hour & 0x1F) % 12 + (12 if hour & _HOUR_PM else 0)
        else:
            if not _bcd_ok(hour, 0x3F):
                return None
            h = bcd_to_int(hour & 0x3F)
        y = 2000 + bcd_to_int(year) + (100 if month & _CENTURY else 0)
        mo = bcd_to_int(month & 0x1F)
        d = bcd_to_int(date & 0x3F)
        mi = bcd_to_int(minute & 0x7F)
        s = bcd_to_int(sec & 0x7F)
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
            return None
        return (y, mo, d, h, mi, s)

    def now(self):
        try:
            t = self.read()
        except OSError as exc:
            self.error = exc
            return self._soft.now()
        self.error = None
        if t is None:
            return None
        return to_unix(*t)

    def set(self, unix_seconds):
        """Write the time (24-hour mode), start the oscillator, clear OSF."""
        t = int(unix_seconds)
        if not _MIN_UNIX <= t <= _MAX_UNIX:
            raise ValueError("the DS3231 holds dates from 2000 to 2199")
        self._soft.set(t)
        y, mo, d, h, mi, s, wd = from_unix(t)
        self._i2c.writeto_mem(self.addr, _REG_SECONDS, bytes((
            int_to_bcd(s), int_to_bcd(mi), int_to_bcd(h),  # bit 6 clear: 24-hour
            wd,  # day of week 1-7: any numbering works; 1 is Monday here
            int_to_bcd(d),
            int_to_bcd(mo) | (_CENTURY if y >= 2100 else 0),
            int_to_bcd(y % 100),
        )))
        control = self._i2c.readfrom_mem(self.addr, _REG_CONTROL, 1)[0]
        if control & _EOSC:
            self._i2c.writeto_mem(self.addr, _REG_CONTROL, bytes((control & ~_EOSC,)))
        status = self._i2c.readfrom_mem(self.addr, _REG_STATUS, 1)[0]
        self._i2c.writeto_mem(self.addr, _REG_STATUS, bytes((status & ~_OSF,)))
        self.error = None

    def is_set(self):
        return self.now() is not None
