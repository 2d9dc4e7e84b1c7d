# Keyed hashes for the till: HMAC-SHA256 (RFC 2104) and PBKDF2-HMAC-SHA256 (RFC 8018).
# Written by hand because MicroPython ships hashlib.sha256 but no hmac module, and
# its sha256 objects have no copy(), so the padded keys are kept as bytes and fed
# again for each message. Output matches CPython's hmac / hashlib.pbkdf2_hmac
# (tests/device/test_crypto.py checks both directions).
import hashlib

_BLOCK = 64  # SHA-256 block size in bytes


def _pads(key):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class HmacKey:
    """A key prepared once for many HMAC-SHA256 computations."""

    def __init__(self, key):
        if isinstance(key, str):
            key = key.encode()
        self._ipad, self._opad = _pads(bytes(key))

    def digest(self, *parts):
        """HMAC-SHA256 over the concatenation of parts (bytes-like)."""
        inner = hashlib.sha256(self._ipad)
        for part in parts:
            inner.update(part)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def hmac_sha256(key, msg):
    return HmacKey(key).digest(msg)


def pbkdf2_sha256(password, salt, iterations, length=32):
    """PBKDF2 with HMAC-SHA256; iterations cost two SHA-256 compressions each."""
    if iterations < 1:
        raise ValueError("PBKDF2 needs at least 1 iteration")
    prf = HmacKey(password)
    out = b""
    block = 1
    while len(out) < length:
        u = prf.digest(salt, block.to_bytes(4, "big"))
        acc = bytearray(u)
        for _ in range(iterations - 1):
            u = prf.digest(u)
            for i in range(32):
                acc[i] ^= u[i]
        out += bytes(acc)
        block += 1
    return out[:length]


def equal(a, b):
    """Compare two digests without an early exit on the first differing byte."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0
