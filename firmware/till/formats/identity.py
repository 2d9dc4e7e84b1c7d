# The till's identity: its id, e.g. "S001/till-1" (a site and a till name), and
# the 32-byte secret that chains its journal (docs/journal.md). `kassa flash`
# writes it, the app reads it at boot, head office keeps the secret to verify
# the till's journals. This is the one place the file's format is defined: the
# till, the flasher, the sim and the tests all read and write it through here
# (the host tools import it too; the `till` package is installed on the host).
#
# The file (IDENTITY_FILE in the till's root): one CBOR map {1: till id (text),
# 2: secret (bytes, 32)}, deterministic encoding (RFC 8949 §4.2.1), so that the
# till's encoder and cbor2's canonical mode give the same bytes.
#
# Where the filesystem has permissions (a Pi, the sim on a PC, head office's key
# files), a file holding a secret is created readable by its owner only (0600),
# and replaced whole by a rename so that a power cut leaves the old or the new one.
import os

from till.formats import cbor
from till.formats.durable import sync_dir, sync_file

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

IDENTITY_FILE = "identity"
SECRET_BYTES = const(32)
MAX_NAME_CHARS = const(32)  # per part; ids travel in every journal header
PRIVATE_MODE = const(0o600)
_K_TILL_ID = const(1)
_K_SECRET = const(2)
_EXAMPLE = "S001/till-1"


class IdentityError(ValueError):
    """A till id or identity file refused; the message says what to do."""


class NoIdentity(IdentityError):
    """The till has no identity file at all (never flashed)."""


def _name_error(part, what):
    if not part:
        return "its %s is empty" % what
    if len(part) > MAX_NAME_CHARS:
        return "its %s is longer than %d characters" % (what, MAX_NAME_CHARS)
    for c in part:
        # ASCII only: str.isalnum() would let letters of any script through on
        # CPython and not on MicroPython.
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "-" or c == "_"):
            return "its %s contains %r (use letters, digits, '-' and '_')" % (what, c)
    return None


def till_id_error(till_id):
    """What is wrong with a till id (a str), or None if it is valid.

    A valid id is a site and a till name joined by one slash, each 1..32 of
    A-Z a-z 0-9 - _ (e.g. S001/till-1)."""
    if type(till_id) is not str:
        return "it is not text"
    if not till_id:
        return "it is empty"
    if till_id.count("/") != 1:
        return "it needs exactly one '/' between the site and the till name"
    site, till = till_id.split("/")
    return _name_error(site, "site") or _name_error(till, "till name")


def check_till_id(till_id):
    """till_id if it is valid, else IdentityError saying why (for a person)."""
    err = till_id_error(till_id)
    if err is not None:
        raise IdentityError("till id %r is not valid: %s. A till id is a site and a till "
                            "name joined by one '/', e.g. %s" % (till_id, err, _EXAMPLE))
    return till_id


def _check_secret(secret):
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != SECRET_BYTES:
        raise IdentityError("a till secret is %d bytes" % SECRET_BYTES)


def encode(till_id, secret):
    """The identity file's bytes."""
    check_till_id(till_id)
    _check_secret(secret)
    return cbor.dumps({_K_TILL_ID: till_id, _K_SECRET: bytes(secret)})


def decode(data):
    """(till id, secret) from the identity file's bytes; IdentityError naming
    what is damaged."""
    try:
        value = cbor.loads(data)
    except cbor.CBORError as exc:
        raise IdentityError("it is not CBOR (%s)" % exc)
    if type(value) is not dict or len(value) != 2 or _K_TILL_ID not in value \
            or _K_SECRET not in value:
        raise IdentityError("it is not a map of a till id and a secret")
    till_id = value[_K_TILL_ID]
    err = till_id_error(till_id)
    if err is not None:
        raise IdentityError("its till id %r is not valid: %s" % (till_id, err))
    secret = value[_K_SECRET]
    if type(secret) is not bytes or len(secret) != SECRET_BYTES:
        raise IdentityError("its secret is not %d bytes" % SECRET_BYTES)
    return till_id, secret


def read(path):
    """(till id, secret) from the identity file at path. NoIdentity if there is
    none, IdentityError if it is damaged; both say what to do."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise NoIdentity("This till has no identity (%s): flash it with "
                         "`kassa flash --till-id SITE/TILL`" % path)
    try:
        return decode(data)
    except IdentityError as exc:
        raise IdentityError("This till's identity file %s is damaged: %s. Flash it again with "
                            "`kassa flash --till-id SITE/TILL --key-file KEY --replace-identity`, "
                            "KEY being the till's secret that head office keeps" % (path, exc))


def write(path, till_id, secret):
    """Write the identity file (owner-only where the filesystem has modes)."""
    write_private(path, encode(till_id, secret))


def write_private(path, data):
    """Write a file holding a secret: created with mode 0600 where files have
    modes (never readable by others, not even for a moment), written beside the
    target, synced, then renamed over it."""
    tmp = path + ".tmp"
    try:
        os.remove(tmp)  # a leftover could carry wider permissions
    except OSError:
        pass
    if hasattr(os, "O_CREAT"):  # CPython; MicroPython's os has no open() or modes
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, PRIVATE_MODE)  # the umask only narrows; make it exact
        f = os.fdopen(fd, "wb")
    else:
        f = open(tmp, "wb")
    with f:
        f.write(data)
        sync_file(f)
    getattr(os, "replace", os.rename)(tmp, path)  # os.replace: Windows hosts too
    slash = path.rfind("/")
    sync_dir(path[:slash] if slash > 0 else ("/" if slash == 0 else "."))
