# Money as integers in minor units (cents, öre, pence): rounding, formatting,
# keyed entry, cash rounding and exact spreading of an amount over parts.
#
# Floats never enter: 0.1 has no exact binary value, so one float in a sum can
# make a receipt disagree with its own lines. Every function here takes ints
# only and rejects anything else with TypeError. The rules are in docs/money.md.


def require_int(value, name="amount"):
    """Return value if it is an int; raise TypeError otherwise.

    bool is refused too: on CPython True is an int, and True as a price is
    always a bug, never a price of 1.
    """
    if type(value) is not int:
        raise TypeError("%s must be an integer (minor units), not %r" % (name, value))
    return value


def div_round(numerator, denominator):
    """numerator / denominator rounded half away from zero, in integers only.

    The absolute value is rounded half up and the sign put back, so
    div_round(-n, d) == -div_round(n, d): a refund is the exact mirror of its sale.
    """
    require_int(numerator, "numerator")
    require_int(denominator, "denominator")
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    # floor((2|n| + d) / 2d) == floor(|n|/d + 1/2): half-up on the magnitude.
    if numerator < 0:
        return -((-2 * numerator + denominator) // (2 * denominator))
    return (2 * numerator + denominator) // (2 * denominator)


def cash_round(amount, increment):
    """Round an amount due in cash to the smallest coin: (rounded, difference).

    increment is in minor units (5 for 0.05, 10 for 0.10, 100 for whole units).
    Half-way amounts (possible only for even increments) go away from zero.
    difference = rounded - amount, so amount + difference == rounded exactly and
    |difference| <= increment // 2. An increment of 1 changes nothing.
    """
    require_int(amount)
    require_int(increment, "increment")
    if increment <= 0:
        raise ValueError("cash rounding increment must be positive")
    rounded = div_round(amount, increment) * increment
    return rounded, rounded - amount


def spread(total, weights):
    """Split total into integer parts proportional to weights, summing exactly.

    Largest-remainder method: each part starts at floor(|total| * w / W); the
    units still missing go one each to the parts with the largest remainders
    (ties: larger weight first, then earlier position). Each part is within
    1 minor unit of its exact share. weights are non-negative ints with a
    positive sum (any weights will do when total is 0). A negative total gives
    the mirrored parts.
    """
    require_int(total, "total")
    weight_sum = 0
    for w in weights:
        require_int(w, "weight")
        if w < 0:
            raise ValueError("weights must not be negative")
        weight_sum += w
    if total == 0:
        return [0] * len(weights)
    if weight_sum == 0:
        raise ValueError("cannot spread an amount over parts that are all zero")
    magnitude = total if total > 0 else -total
    parts = []
    remainders = []
    for w in weights:
        q, r = divmod(magnitude * w, weight_sum)
        parts.append(q)
        remainders.append(r)
    missing = magnitude - sum(parts)  # < len(weights): each remainder < weight_sum
    order = sorted(range(len(parts)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[:missing]:
        parts[i] += 1
    if total < 0:
        return [-p for p in parts]
    return parts


def format_money(minor, decimals=2, point=".", thousands=""):
    """Minor units as text for a receipt or display: format_money(-1234, 2, ",") == "-12,34".

    decimals is the currency's number of minor-unit digits (2 for EUR, 0 for JPY),
    point the decimal separator, thousands an optional group separator.
    No currency sign: where it goes is a layout matter.
    """
    require_int(minor)
    require_int(decimals, "decimals")
    if decimals < 0:
        raise ValueError("decimals must not be negative")
    digits = str(-minor if minor < 0 else minor)
    if len(digits) <= decimals:
        digits = "0" * (decimals + 1 - len(digits)) + digits
    whole = digits[:len(digits) - decimals]
    if thousands:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        groups.insert(0, whole)
        whole = thousands.join(groups)
    text = "-" + whole if minor < 0 else whole
    if decimals:
        text += point + digits[len(digits) - decimals:]
    return text


def parse_keyed(keys, decimals=2, point=".", max_digits=9):
    """Minor units from what the cashier keyed: parse_keyed("1250") == 1250 (12.50).

    Without a point the last `decimals` digits are the minor units, as on a till
    keypad ("5" is 0.05; the "00" key just adds two zeros: "1"+"00" is 1.00).
    With a point, the digits after it are minor units ("12.5" is 1250); more of
    them than the currency has is an error, not a rounding. Only digits and one
    point are accepted: no sign (refunds are a mode, not a minus key), no
    spaces. More than max_digits significant digits is refused as a stuck or
    mistyped key.
    """
    if type(keys) is not str:
        raise TypeError("keyed entry must be text, not %r" % (keys,))
    require_int(decimals, "decimals")
    whole, frac = keys, ""
    if point in keys:
        i = keys.index(point)
        whole, frac = keys[:i], keys[i + len(point):]
        if len(frac) > decimals:
            raise ValueError("Only %d digits after the point: key the amount again" % decimals)
    if not whole and not frac:
        raise ValueError("No amount keyed: key the amount")
    for c in whole + frac:
        if c not in "0123456789":
            raise ValueError("Amount %r is not a number: key the amount again" % keys)
    if point in keys:
        value = int(whole or "0") * 10 ** decimals + int((frac + "0" * decimals)[:decimals] or "0")
    else:
        value = int(whole)
    if len(str(value)) > max_digits:
        raise ValueError("Amount %r is too long: key the amount again" % keys)
    return value
