# Cashier PINs (PBKDF2-HMAC-SHA256, per-cashier salt) and wrong-PIN lockouts.
# Runs under CPython and MicroPython.
import support
from till.pos import auth
from till.formats.crypto import pbkdf2_sha256


def test_pin_record_verifies_the_right_pin_only():
    rec = auth.make_pin_record("4711", b"salt-1", 3)
    assert rec["alg"] == "pbkdf2-sha256" and rec["iterations"] == 3 and rec["salt"] == b"salt-1"
    assert rec["hash"] == pbkdf2_sha256(b"4711", b"salt-1", 3, 32)
    assert auth.verify_pin(rec, "4711")
    for wrong in ("4712", "471", "47110", "", "0000"):
        assert not auth.verify_pin(rec, wrong), wrong
    # The salt is per cashier: the same PIN hashes differently.
    other = auth.make_pin_record("4711", b"salt-2", 3)
    assert other["hash"] != rec["hash"]
    assert not auth.verify_pin(dict(rec, salt=b"salt-2"), "4711")


def test_default_iterations_are_what_the_docs_say():
    assert auth.DEFAULT_ITERATIONS == 500
    rec = auth.make_pin_record("1234", b"s")
    assert rec["iterations"] == auth.DEFAULT_ITERATIONS


def test_records_the_till_cannot_use_never_verify():
    good = auth.make_pin_record("1234", b"s", 2)
    bad = [None, {}, "1234", dict(good, alg="md5"), dict(good, salt="s"),
           dict(good, hash=None), dict(good, iterations=0), dict(good, iterations="2"),
           dict(good, hash=b"")]
    for rec in bad:
        assert not auth.verify_pin(rec, "1234"), rec
    assert not auth.verify_pin(good, None)
    assert not auth.verify_pin(good, 1234)


def test_pin_format():
    for ok in ("1234", "12345678", "0000"):
        auth.check_pin_format(ok)
    for bad in ("123", "123456789", "12a4", "", 1234, None):
        support.raises(ValueError, auth.check_pin_format, bad)
    support.raises(ValueError, auth.make_pin_record, "12", b"s", 2)


def test_guard_counts_locks_out_and_lets_go():
    g = auth.Guard(max_tries=3, lockout_s=900)
    assert g.locked_until(1, 1000) is None and g.tries_left(1) == 3
    assert g.failed(1, 1000) is None and g.tries_left(1) == 2
    assert g.failed(1, 1001) is None and g.tries_left(1) == 1
    # Another cashier's tries are separate.
    assert g.failed(2, 1001) is None and g.tries_left(2) == 2
    assert g.failed(1, 1002) == 1902
    assert g.locked_until(1, 1500) == 1902
    assert g.locked_until(1, 1901) == 1902
    assert g.locked_until(1, 1902) is None
    assert g.tries_left(1) == 3  # a fresh start after the lockout
    # A success forgives earlier failures.
    g.failed(2, 2000)
    g.succeeded(2)
    assert g.tries_left(2) == 3
    g.restore(5, 5000)
    assert g.locked_until(5, 4999) == 5000 and g.locked_until(5, None) == 5000


def test_guard_from_policies_and_defaults():
    g = auth.Guard.from_policies({})
    assert g.max_tries == 3 and g.lockout_s == 15 * 60
    g = auth.Guard.from_policies({"pin_max_tries": 5, "pin_lockout_minutes": 2})
    assert g.max_tries == 5 and g.lockout_s == 120
    g = auth.Guard(max_tries=1, lockout_s=60)
    assert g.failed(7, None) == 60  # no clock: counted from 0, still locked
