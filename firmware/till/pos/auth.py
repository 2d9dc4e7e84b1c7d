# Cashier PINs: PBKDF2-HMAC-SHA256 with a per-cashier salt, wrong-PIN counting
# and lockouts. Head office computes the hashes (make_pin_record); the till only
# verifies them. docs/engine.md has the iteration count and how it was chosen.
from till.formats.crypto import equal, pbkdf2_sha256
from till.pos import policy

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

PIN_ALG = "pbkdf2-sha256"
# Verification on an RP2040 must stay well under half a second. On this x86
# core the unix port spends about 4.5 us per iteration (make bench,
# docs/benchmarks.md), half in C SHA-256, half in the bytecode XOR loop. At
# 20-50x slower for bytecode and up to ~60x for C SHA-256 on a 133 MHz
# Cortex-M0+ (docs/engine.md), 500 iterations take about 0.05-0.15 s there.
# A 4-digit PIN has only 10,000 values, so the hash is no defence on its own
# against someone who has copied it: the lockout below and the credential wipe
# after long disuse (till.offline) are what protect it.
DEFAULT_ITERATIONS = const(500)
MIN_PIN_DIGITS = const(4)
MAX_PIN_DIGITS = const(8)
_HASH_BYTES = const(32)


def pin_hash(pin, salt, iterations):
    """PBKDF2-HMAC-SHA256 of the PIN's digits (ASCII) under salt."""
    return pbkdf2_sha256(pin.encode(), salt, iterations, _HASH_BYTES)


def make_pin_record(pin, salt, iterations=DEFAULT_ITERATIONS):
    """The cashier's "pin" entry as the snapshot carries it (head office side)."""
    check_pin_format(pin)
    return {"alg": PIN_ALG, "salt": salt, "iterations": iterations,
            "hash": pin_hash(pin, salt, iterations)}


def check_pin_format(pin):
    """Raise ValueError unless pin is 4-8 digits."""
    if type(pin) is not str or not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS:
        raise ValueError("A PIN has %d to %d digits" % (MIN_PIN_DIGITS, MAX_PIN_DIGITS))
    for c in pin:
        if c < "0" or c > "9":
            raise ValueError("A PIN has digits only")


def verify_pin(record, pin):
    """True if pin matches the cashier's pin record; False for anything else,
    including a record the till cannot use (wrong algorithm, wiped, damaged)."""
    if type(record) is not dict or record.get("alg") != PIN_ALG:
        return False
    salt = record.get("salt")
    want = record.get("hash")
    n = record.get("iterations")
    if type(salt) is not bytes or type(want) is not bytes or type(n) is not int or n < 1:
        return False
    if type(pin) is not str or not pin:
        return False
    return equal(pin_hash(pin, salt, n), want)


class Guard:
    """Wrong-PIN counting per cashier and lockouts that end at a given time.

    Counting is in RAM (a restart forgives failed tries short of a lockout);
    lockouts are journaled by the engine and restored from the journal with
    restore(), so a restart does not lift them."""

    def __init__(self, max_tries, lockout_s):
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self._fails = {}
        self._until = {}

    @classmethod
    def from_policies(cls, policies):
        return cls(policy.get(policies, "pin_max_tries"),
                   policy.get(policies, "pin_lockout_minutes") * 60)

    def locked_until(self, cashier_id, now):
        """Time the lockout of cashier_id ends, or None if not locked out."""
        until = self._until.get(cashier_id)
        if until is None:
            return None
        if now is not None and now >= until:
            del self._until[cashier_id]
            return None
        return until

    def failed(self, cashier_id, now):
        """Count a wrong PIN; return the lockout end time if this one locks out."""
        n = self._fails.get(cashier_id, 0) + 1
        if n < self.max_tries:
            self._fails[cashier_id] = n
            return None
        self._fails.pop(cashier_id, None)
        until = (now or 0) + self.lockout_s
        self._until[cashier_id] = until
        return until

    def tries_left(self, cashier_id):
        return self.max_tries - self._fails.get(cashier_id, 0)

    def succeeded(self, cashier_id):
        self._fails.pop(cashier_id, None)

    def restore(self, cashier_id, until):
        self._until[cashier_id] = until
