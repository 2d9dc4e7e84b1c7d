# HMAC-SHA256 and PBKDF2-HMAC-SHA256 against published vectors (RFC 4231, RFC 7914)
# on both interpreters; tests/host/test_crypto_peer.py adds CPython's hmac as a peer.
import binascii

from till.formats import crypto


def h(s):
    return binascii.unhexlify(s)


def test_rfc4231_case1():
    key = b"\x0b" * 20
    assert crypto.hmac_sha256(key, b"Hi There") == h(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")


def test_rfc4231_case2_short_key():
    assert crypto.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == h(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_rfc4231_case6_key_longer_than_block():
    key = b"\xaa" * 131
    msg = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert crypto.hmac_sha256(key, msg) == h(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_digest_of_parts_equals_digest_of_concatenation():
    k = crypto.HmacKey(b"till-secret")
    assert k.digest(b"ab", b"cd", b"") == k.digest(b"abcd")


def test_pbkdf2_rfc7914_vector():
    out = crypto.pbkdf2_sha256(b"passwd", b"salt", 1, 64)
    assert out == h(
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")


def test_pbkdf2_many_iterations():
    # RFC 7914 §11, second PBKDF2 vector is too slow for MicroPython (80000 rounds);
    # this one was computed with CPython's hashlib.pbkdf2_hmac.
    assert crypto.pbkdf2_sha256(b"1234", b"cashier-7", 1000) == h(
        "e416aae81de482fa028af09d5328e4a89639a032e886964499270be9183bae88")


def test_equal():
    assert crypto.equal(b"abc", b"abc")
    assert not crypto.equal(b"abc", b"abd")
    assert not crypto.equal(b"abc", b"ab")
