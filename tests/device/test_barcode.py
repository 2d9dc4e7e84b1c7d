# Barcode decoding on both interpreters: real EAN/UPC numbers, UPC-E expansion,
# and variable-measure codes. The 28..., 2001... codes with price check digits
# are real German in-store labels (snabble SDK test data), checked against the
# GS1 §7.9.3 worked examples 2875 -> 9 and 14685 -> 6.
from support import raises

from till.formats import barcode
from till.formats.barcode import BarcodeError, check_digit, decode, price_check_digit


def _with_check(body):
    return body + str(check_digit(body))


def test_check_digits_of_real_numbers():
    assert check_digit("400638133393") == 1  # EAN-13 4006381333931
    assert check_digit("7351353") == 7  # EAN-8 73513537
    assert check_digit("03600029145") == 2  # UPC-A 036000291452
    assert check_digit("003600029145") == 2  # a leading zero changes nothing
    assert check_digit("1859400169469") == 0  # GTIN-14 18594001694690


def test_normal_codes_decode_to_gtins():
    assert decode("4006381333931") == ("item", "4006381333931")
    assert decode("73513537") == ("item", "73513537")
    assert decode("036000291452") == ("item", "0036000291452")  # UPC-A as EAN-13
    assert decode("04252614", eight_digit="upce") == ("item", "0042100005264")  # UPC-E
    assert decode("18594001694690") == ("item", "18594001694690")  # GTIN-14
    assert decode("04006381333931") == ("item", "4006381333931")  # GTIN-14, indicator 0
    assert decode("0000073513537") == ("item", "73513537")  # GTIN-8 in 13 digits
    assert decode("00000073513537") == ("item", "73513537")
    assert decode(b"4006381333931\r\n") == ("item", "4006381333931")  # raw scanner bytes


def test_bad_check_digit_says_scan_again():
    err = raises(BarcodeError, decode, "4006381333932")
    assert isinstance(err, ValueError)
    assert str(err) == "Misread barcode 4006381333932 (check digit): scan again"
    assert err.code == "4006381333932" and err.reason == "check digit"
    for bad in ("73513538", "036000291453", "04252615", "18594001694691", "04006381333932"):
        raises(BarcodeError, decode, bad)


def test_not_a_barcode():
    for bad in ("", "12345", "400638133393", "4006381333931x", "400638133393 1", "123456789012345"):
        err = raises(BarcodeError, decode, bad)
        assert "key the item number" in str(err) or "check digit" in str(err), str(err)
    assert "key the item number" in str(raises(BarcodeError, decode, "12345"))


def test_upce_expansion_all_four_patterns():
    assert barcode.upce_to_upca("04252614") == "042100005264"
    # Last UPC-E data digit 0-2: manufacturer d1 d2 d6 00, product 00 d3 d4 d5.
    assert barcode.upce_to_upca("01234502")[:11] == "01200000345"
    # 3: manufacturer d1 d2 d3 00, product 000 d4 d5.
    assert barcode.upce_to_upca("01234532")[:11] == "01230000045"
    # 4: manufacturer d1 d2 d3 d4 0, product 0000 d5.
    assert barcode.upce_to_upca("01234542")[:11] == "01234000005"
    # 5-9: manufacturer d1..d5, product 0000 d6.
    assert barcode.upce_to_upca("01234572")[:11] == "01234500007"
    upca = _with_check("01234500007")
    upce = "0123457" + upca[-1]
    assert decode(upce, eight_digit="upce") == ("item", "0" + upca)


def test_eight_digit_setting():
    assert decode("04252614", eight_digit="upce") == ("item", "0042100005264")
    raises(BarcodeError, decode, "04252614")  # not a valid EAN-8
    assert decode("73513537") == ("item", "73513537")
    err = raises(BarcodeError, decode, "73513537", eight_digit="upce")
    assert "number system" in str(err)
    raises(ValueError, decode, "73513537", eight_digit="auto")
    # Why there is no guessing: a UPC-E ending in 5-9 always passes as an EAN-8
    # too (same digits, same weights), so only the setting can tell them apart.
    both = "01234572"
    assert decode(both) == ("item", both)
    assert decode(both, eight_digit="upce") == ("item", "0" + _with_check("01234500007"))


def test_aim_symbology_identifiers():
    assert decode("]E473513537", eight_digit="upce") == ("item", "73513537")
    assert decode("]E004252614") == ("item", "0042100005264")
    assert decode("]E04006381333931") == ("item", "4006381333931")
    assert decode("]E00036000291452") == ("item", "0036000291452")
    assert decode("]E09771234567003]E205") == ("item", "9771234567003")  # add-on dropped
    assert "not an EAN or UPC symbol" in str(raises(BarcodeError, decode, "]C1010400638133393"))
    raises(BarcodeError, decode, "]E04006381333932")


def test_price_check_digit_gs1_examples():
    assert price_check_digit("2875") == 9
    assert price_check_digit("14685") == 6
    assert price_check_digit("00502") == 5
    assert price_check_digit("0000") == 0
    raises(ValueError, price_check_digit, "123")


RULES = [
    {"prefix": "28", "kind": "price", "item_digits": (2, 6), "value_digits": (7, 12), "value_check": 6},
    {"prefix": "20", "kind": "price", "item_digits": [2, 7], "value_digits": [8, 12], "value_check": 7},
    {"prefix": "23", "kind": "weight", "item_digits": (2, 7), "value_digits": (7, 12)},
    {"prefix": "24", "kind": "weight", "item_digits": (2, 6), "value_digits": (7, 12), "value_check": 6},
    {"prefix": "25", "kind": "weight", "item_digits": (2, 8), "value_digits": (8, 12), "scale": 10},
    {"prefix": "02", "kind": "price", "item_digits": (2, 7), "value_digits": (8, 12), "value_check": 7},
]


def test_variable_price_with_five_digit_check():
    assert decode("2810275005024", RULES) == ("price", "1027", 502)
    assert decode("2893482001744", RULES) == ("price", "9348", 174)
    # Price 5.03 with a good EAN check digit but the old price check digit.
    forged = _with_check("281027500503")
    err = raises(BarcodeError, decode, forged, RULES)
    assert str(err) == "Misread barcode %s (price check digit): scan again" % forged


def test_variable_price_with_four_digit_check():
    assert decode("2001235928754", RULES) == ("price", "01235", 2875)
    raises(BarcodeError, decode, _with_check("200123592876"), RULES)


def test_variable_weight_without_and_with_check():
    assert decode(_with_check("231234501234"), RULES) == ("weight", "12345", 1234)
    code = _with_check("241234" + str(price_check_digit("00750")) + "00750")
    assert decode(code, RULES) == ("weight", "1234", 750)
    bad = _with_check("241234" + str((price_check_digit("00750") + 1) % 10) + "00750")
    assert "weight check digit" in str(raises(BarcodeError, decode, bad, RULES))
    assert decode(_with_check("251234560125"), RULES) == ("weight", "123456", 1250)  # 10 g steps


def test_us_upca_variable_price():
    price = "0299"
    upca = _with_check("212345" + str(price_check_digit(price)) + price)
    assert decode(upca, RULES) == ("price", "12345", 299)


def test_restricted_codes_without_rule_are_items():
    code = _with_check("299999912345")
    assert decode(code, RULES) == ("item", code)
    assert decode("2810275005024") == ("item", "2810275005024")  # no rules given


def test_longest_prefix_wins():
    rules = [{"prefix": "2", "kind": "price", "item_digits": (1, 7), "value_digits": (7, 12)},
             {"prefix": "23", "kind": "weight", "item_digits": (2, 7), "value_digits": (7, 12)}]
    assert decode(_with_check("231234501234"), rules) == ("weight", "12345", 1234)
    assert decode(_with_check("221234501234"), rules) == ("price", "212345", 1234)
    assert decode(_with_check("231234501234"), rules[::-1]) == ("weight", "12345", 1234)


def test_rule_validation():
    barcode.check_rules(RULES)
    good = {"prefix": "23", "kind": "weight", "item_digits": (2, 7), "value_digits": (7, 12)}
    bad_changes = [
        {"prefix": "40"},  # a real GTIN range
        {"prefix": "2a"},
        {"prefix": ""},
        {"kind": "count"},
        {"item_digits": (2, 8)},  # overlaps the value
        {"value_digits": (7, 13)},  # reaches the EAN check digit
        {"value_digits": (7,)},
        {"value_check": 8},  # inside the value
        {"value_check": 3},  # inside the item
        {"value_check": 12},
        {"value_digits": (8, 12), "value_check": 7, "item_digits": (1, 4)},  # fine ...
        {"item_digits": (2, 3), "value_digits": (3, 9), "value_check": 10},  # 6-digit check
        {"scale": 0},
        {"scale": 2.5},
    ]
    failures = 0
    for change in bad_changes:
        rule = dict(good)
        rule.update(change)
        try:
            barcode.check_rule(rule)
        except ValueError:
            failures += 1
    assert failures == len(bad_changes) - 1  # all but the one marked fine
    dup = raises(ValueError, barcode.check_rules, [good, dict(good)])
    assert "twice" in str(dup)
