# The till's identity file (till.formats.identity): its exact bytes, which till
# ids are accepted, damaged files reported with what is wrong, and secrets
# written owner-only (mode 0600) where the filesystem has modes. Runs under
# CPython and MicroPython (-X heapsize=192K).
import os

import support
from till.formats import identity
from till.formats.identity import IdentityError, NoIdentity

SECRET = bytes(range(32))


def test_the_file_is_a_deterministic_cbor_map():
    data = identity.encode("S001/till-1", SECRET)
    # {1: "S001/till-1", 2: h'00..1f'}: map(2), 1, text(11), 2, bytes(32) (RFC 8949).
    assert data == b"\xa2\x01\x6bS001/till-1\x02\x58\x20" + SECRET
    assert identity.decode(data) == ("S001/till-1", SECRET)
    path = support.tmpdir() + "/" + identity.IDENTITY_FILE
    identity.write(path, "S001/till-1", SECRET)
    assert support.read_file(path) == data
    assert identity.read(path) == ("S001/till-1", SECRET)
    identity.write(path, "S001/till-2", bytes(32))  # replaced whole
    assert identity.read(path) == ("S001/till-2", bytes(32))
    assert os.listdir(path[:path.rfind("/")]) == [identity.IDENTITY_FILE]


def test_valid_till_ids():
    for till_id in ("S001/till-1", "store-12/till-7", "a/b", "A_B-9/x_y-Z",
                    "s" * 32 + "/" + "t" * 32):
        assert identity.till_id_error(till_id) is None, till_id
        assert identity.check_till_id(till_id) == till_id


def test_invalid_till_ids_are_refused_with_the_reason():
    cases = [
        ("", "it is empty"),
        ("till-1", "exactly one '/'"),
        ("S001/till/1", "exactly one '/'"),
        ("/till-1", "its site is empty"),
        ("S001/", "its till name is empty"),
        ("S001/till 1", "contains ' '"),
        (" S001/till-1", "contains ' '"),
        ("S001/till-1\n", "contains '\\n'"),
        ("S001/kasse-\u00e4", "contains"),
        ("S0.1/till-1", "contains '.'"),
        ("s" * 33 + "/t", "longer than 32"),
        (7, "not text"),
        (None, "not text"),
    ]
    for till_id, words in cases:
        exc = support.raises(IdentityError, identity.check_till_id, till_id)
        assert words in str(exc), (till_id, str(exc))
        assert "e.g. S001/till-1" in str(exc)
        support.raises(IdentityError, identity.encode, till_id, SECRET)
    support.raises(IdentityError, identity.encode, "S001/till-1", SECRET[:31])
    support.raises(IdentityError, identity.encode, "S001/till-1", "x" * 32)


def test_a_missing_file_says_flash_the_till():
    exc = support.raises(NoIdentity, identity.read, support.tmpdir() + "/identity")
    assert "has no identity" in str(exc) and "kassa flash --till-id" in str(exc)


def test_a_damaged_file_is_reported_with_what_is_wrong():
    good = identity.encode("S001/till-1", SECRET)
    cases = [
        (b"", "not CBOR"),
        (good[:20], "not CBOR"),
        (good + b"\x00", "not CBOR"),
        (b"\xa1\x01\x6bS001/till-1", "not a map of a till id and a secret"),
        (b"\x82\x01\x02", "not a map"),
        (good.replace(b"S001/till-1", b"S001 till-1"), "till id 'S001 till-1' is not valid"),
        (good.replace(b"\x58\x20", b"\x58\x1f")[:-1], "secret is not 32 bytes"),
        (b"\xa2\x01\x6bS001/till-1\x02\x18\x20", "secret is not 32 bytes"),
    ]
    path = support.tmpdir() + "/identity"
    for data, words in cases:
        support.write_file(path, data)
        exc = support.raises(IdentityError, identity.read, path)
        assert not isinstance(exc, NoIdentity)
        msg = str(exc)
        assert "identity file " + path + " is damaged" in msg, msg
        assert words in msg, (words, msg)
        assert "--replace-identity" in msg and "--key-file" in msg
    # Every single-bit flip anywhere is either refused or still a valid identity
    # (a flipped secret bit is not detectable: head office's verify finds it).
    for i in range(len(good)):
        for bit in (0x01, 0x80):
            bad = bytearray(good)
            bad[i] ^= bit
            try:
                till_id, secret = identity.decode(bytes(bad))
            except IdentityError:
                continue
            assert identity.till_id_error(till_id) is None and len(secret) == 32


def _mode(path):
    return os.stat(path)[0] & 0o777


def test_secrets_are_written_owner_only():
    if support.IS_MICROPYTHON:
        support.skip("file modes: a board's littlefs has none; the Pi and the sim are CPython")
    root = support.tmpdir()
    path = root + "/identity"
    old = os.umask(0)  # even with a permissive umask
    try:
        support.write_file(path, b"old")
        support.write_file(path + ".tmp", b"left over by a cut")
        os.chmod(path, 0o644)
        os.chmod(path + ".tmp", 0o666)
        identity.write(path, "S001/till-1", SECRET)
        assert _mode(path) == 0o600
        identity.write_private(root + "/till.key", b"00ff\n")
        assert _mode(root + "/till.key") == 0o600
    finally:
        os.umask(old)
    assert sorted(os.listdir(root)) == ["identity", "till.key"]
