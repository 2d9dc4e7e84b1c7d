# Decoding scanned EAN/UPC numbers: check digits, UPC-E expansion, and GS1
# variable-measure codes (prefixes 02, 04, 20-29) read by rules that come from
# head office, since what a prefix means is each store's convention.
# docs/barcodes.md describes the formats and the rule dicts.


class BarcodeError(ValueError):
    """A scan the till cannot trust. str() is the message for the cashier."""

    def __init__(self, code, reason, hint="scan again"):
        super().__init__("Misread barcode %s (%s): %s" % (code, reason, hint))
        self.code = code
        self.reason = reason


# Weighted products of the GS1 price/weight check digit (General Specifications
# §7.9.3), indexed by digit: "2-" is the units digit of 2*d minus its tens
# digit, "5+" of 5*d plus its tens digit, "5-" of 5*d minus its tens digit,
# "3" is the units digit of 3*d. Each is a permutation of 0-9, so any single
# wrong digit in the value changes the check digit.
_TWO_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_THREE = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_FIVE_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_FIVE_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)

_KINDS = ("weight", "price")


def _is_digits(text):
    for c in text:
        if c not in "0123456789":
            return False
    return len(text) > 0


def check_digit(body):
    """GS1 mod-10 check digit of a digit string without its check digit.

    Weights 3, 1, 3, ... from the right (General Specifications §7.9.1); the
    same rule serves GTIN-8, -12, -13 and -14, and leading zeros change nothing.
    """
    total = 0
    weight = 3
    for i in range(len(body) - 1, -1, -1):
        total += (ord(body[i]) - 48) * weight
        weight = 4 - weight
    return (10 - total % 10) % 10


def price_check_digit(value):
    """GS1 price/weight verifier digit of a 4- or 5-digit value field (§7.9.3)."""
    d = [ord(c) - 48 for c in value]
    if len(d) == 4:
        # Weights 2-, 2-, 3, 5-; the check digit is the units digit of 3 * sum.
        s = _TWO_MINUS[d[0]] + _TWO_MINUS[d[1]] + _THREE[d[2]] + _FIVE_MINUS[d[3]]
        return s * 3 % 10
    if len(d) == 5:
        # Weights 5+, 2-, 5-, 5+, 2-; the check digit is the digit whose 5-
        # product is 10 minus the units digit of the sum.
        s = (_FIVE_PLUS[d[0]] + _TWO_MINUS[d[1]] + _FIVE_MINUS[d[2]]
             + _FIVE_PLUS[d[3]] + _TWO_MINUS[d[4]])
        return _FIVE_MINUS.index((10 - s % 10) % 10)
    raise ValueError("a price/weight check digit covers 4 or 5 digits, not %d" % len(d))


def upce_to_upca(code):
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to 12-digit UPC-A.

    The sixth data digit says where the manufacturer number ends and the zeros
    go (UPC-E zero suppression). The check digit is carried over unchanged: it
    is the UPC-A's check digit, which decode() then verifies.
    """
    ns, d, check = code[0], code[1:7], code[7]
    if ns not in "01":
        raise BarcodeError(code, "UPC-E number system")
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def _verified(code, shown):
    if check_digit(code[:-1]) != ord(code[-1]) - 48:
        raise BarcodeError(shown, "check digit")
    return code


def _restricted(prefix):
    # GS1 restricted circulation numbers: only these may carry in-store data,
    # so a rule can never swallow a real product's GTIN.
    return prefix.startswith("2") or prefix.startswith("02") or prefix.startswith("04")


def _span(rule, key):
    span = rule[key]
    if len(span) != 2:
        raise ValueError("%s of rule %r is (start, end)" % (key, rule.get("prefix")))
    start, end = span[0], span[1]
    if type(start) is not int or type(end) is not int or not 0 <= start < end <= 12:
        raise ValueError("%s of rule %r must lie within the 12 data digits (0..12)"
                         % (key, rule.get("prefix")))
    return start, end


def check_rule(rule):
    """Validate one variable-measure rule; return (prefix, kind, item, value, check_pos, scale).

    Raises ValueError with a message for whoever wrote the head-office setting.
    """
    prefix = rule.get("prefix")
    if type(prefix) is not str or not _is_digits(prefix) or not _restricted(prefix):
        raise ValueError("Barcode rule prefix %r must be digits starting 02, 04 or 2" % (prefix,))
    kind = rule.get("kind")
    if kind not in _KINDS:
        raise ValueError("Barcode rule %s: kind must be 'weight' or 'price'" % prefix)
    item = _span(rule, "item_digits")
    value = _span(rule, "value_digits")
    if item[0] < value[1] and value[0] < item[1]:
        raise ValueError("Barcode rule %s: item and value digits overlap" % prefix)
    if value[1] - value[0] > 9:
        raise ValueError("Barcode rule %s: value has more than 9 digits" % prefix)
    pos = rule.get("value_check")
    if pos is not None:
        if type(pos) is not int or not 0 <= pos < 12 or item[0] <= pos < item[1] \
                or value[0] <= pos < value[1]:
            raise ValueError("Barcode rule %s: value_check must be a data digit outside "
                             "the item and value digits" % prefix)
        if value[1] - value[0] not in (4, 5):
            raise ValueError("Barcode rule %s: a value check digit covers 4 or 5 digits" % prefix)
    scale = rule.get("scale", 1)
    if type(scale) is not int or scale < 1:
        raise ValueError("Barcode rule %s: scale must be a positive integer" % prefix)
    return prefix, kind, item, value, pos, scale


def check_rules(rules):
    """Validate a list of rules when the setting is loaded; refuse duplicate prefixes."""
    seen = []
    for rule in rules:
        prefix = check_rule(rule)[0]
        if prefix in seen:
            raise ValueError("Barcode rule prefix %s appears twice" % prefix)
        seen.append(prefix)


def _variable(code, rule):
    prefix, kind, item, value, pos, scale = check_rule(rule)
    digits = code[value[0]:value[1]]
    if pos is not None and price_check_digit(digits) != ord(code[pos]) - 48:
        raise BarcodeError(code, kind + " check digit")
    return (kind, code[item[0]:item[1]], int(digits) * scale)


def decode(scan, rules=(), eight_digit="ean8"):
    """Decode one scan (str or bytes of digits; surrounding whitespace ignored).

    Returns ("item", gtin), ("weight", item_code, grams) or
    ("price", item_code, minor_units); raises BarcodeError for anything that
    does not check. gtin is 13 digits for EAN-13, UPC-A and UPC-E (UPC with a
    leading 0), 8 for EAN-8, 14 for a GTIN-14 whose indicator digit is not 0.
    rules are variable-measure rules (docs/barcodes.md); the longest matching
    prefix wins.

    Eight bare digits cannot say whether they are an EAN-8 or a UPC-E: every
    UPC-E ending in 5-9 is also a valid EAN-8. eight_digit ("ean8" or "upce")
    says which this store's scanner sends; an AIM symbology identifier in front
    of the digits (]E4 for EAN-8, ]E0 for EAN-13/UPC) overrides it.
    """
    if type(scan) is bytes:
        scan = scan.decode()
    code = scan.strip()
    if eight_digit not in ("ean8", "upce"):
        raise ValueError("eight_digit is 'ean8' or 'upce'")
    if code.startswith("]"):
        code, eight_digit = _aim(code, eight_digit)
    if not _is_digits(code) or len(code) not in (8, 12, 13, 14):
        raise BarcodeError(code, "not an EAN or UPC number", "scan again or key the item number")
    if len(code) == 8:
        if eight_digit == "ean8":
            return ("item", _verified(code, code))
        code = "0" + _verified(upce_to_upca(code), code)
    else:
        _verified(code, code)
        if len(code) == 14 and code[0] != "0":
            return ("item", code)
        code = ("0" + code)[-13:]
    if code.startswith("00000"):
        # A GTIN-8 written in 13 digits; GS1 leaves 00000 unassigned for this.
        return ("item", code[5:])
    best = None
    for rule in rules:
        prefix = rule.get("prefix") or ""
        if code.startswith(prefix) and (best is None or len(prefix) > len(best["prefix"])):
            best = rule
    if best is not None:
        return _variable(code, best)
    return ("item", code)


def _aim(code, eight_digit):
    """Strip an AIM symbology identifier (ISO/IEC 15424): ]E0 EAN-13/UPC-A/UPC-E,
    ]E4 EAN-8. A 2- or 5-digit add-on follows as its own ]E1/]E2 block and is
    dropped: the item is identified without it."""
    ident = code[:3]
    if ident not in ("]E0", "]E4"):
        raise BarcodeError(code, "not an EAN or UPC symbol", "scan again or key the item number")
    code = code[3:]
    if "]" in code:
        code = code[:code.index("]")]
    return code, ("ean8" if ident == "]E4" else "upce")
