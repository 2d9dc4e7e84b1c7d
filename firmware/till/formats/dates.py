# Calendar arithmetic on Unix seconds (UTC), exact for any year: MicroPython's
# time module differs per port (epoch 2000 on some boards), so the till keeps
# its own. Used by the clock drivers (the DS3231 stores a civil date) and the
# receipt layout (the printed date).


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    days_from_civil, exact for any year)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """(year, month, day) of a day number since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400
    return (y + 1 if m <= 2 else y, m, d)


def to_unix(y, mo, d, h, mi, s):
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def from_unix(t):
    """(year, month, day, hour, minute, second, iso_weekday) in UTC;
    iso_weekday 1 is Monday (1970-01-01 was a Thursday)."""
    days, rem = divmod(t, 86400)
    y, mo, d = civil_from_days(days)
    return (y, mo, d, rem // 3600, rem // 60 % 60, rem % 60, (days + 3) % 7 + 1)
