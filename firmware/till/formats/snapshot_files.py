# The files of a snapshot directory and the content hash over them
# (docs/snapshot.md): what reading a snapshot at boot, installing a package on
# the till and building one at head office share. Kept apart from the writer so
# that a till that only opens its snapshot does not load the writer's code.
import binascii
import hashlib
import os

from till.formats.catalog import GTIN_INDEX_FILE, ITEMS_FILE, PLU_INDEX_FILE, READ_ERRORS, damaged
from till.formats.durable import sync_file

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

META_FILE = "meta"
HASH_FILE = "hash"
# The content hash covers these files, in this order (docs/snapshot.md).
HASHED_FILES = (META_FILE, ITEMS_FILE, PLU_INDEX_FILE, GTIN_INDEX_FILE)
PACKAGE_FORMAT = const(1)
PACKAGE_MAGIC = "kassa-snapshot"
_HASH_CHUNK_BYTES = const(512)


def write_file(path, data):
    """Write a whole small file and make it durable."""
    with open(path, "wb") as f:
        f.write(data)
        sync_file(f)


def content_hash(path, mv=None):
    """SHA-256 of a snapshot directory (docs/snapshot.md, "Content hash").

    For each of meta, items, plu.idx, gtin.idx in that order: its length as 4
    bytes big-endian, then its bytes. mv: a scratch buffer (memoryview) to read
    into; the till passes one it already holds, so that hashing at boot leaves
    no new hole in its heap."""
    h = hashlib.sha256()
    if mv is None:
        mv = memoryview(bytearray(_HASH_CHUNK_BYTES))
    for name in HASHED_FILES:
        full = path + "/" + name
        h.update(os.stat(full)[6].to_bytes(4, "big"))
        with open(full, "rb") as f:
            while True:
                n = f.readinto(mv)
                if not n:
                    break
                h.update(mv[:n])
    return h.digest()


def hex_hash(digest):
    return binascii.hexlify(digest).decode()


def read_hash(path):
    """The content hash recorded in a snapshot directory (bytes), from its hash
    file; SnapshotError if the file is missing or is not 64 hex digits."""
    try:
        with open(path + "/" + HASH_FILE, "rb") as f:
            text = f.read(80).strip()
        if len(text) == 64:
            return binascii.unhexlify(text)
    except READ_ERRORS:  # missing, unreadable, or not hex (binascii.Error)
        pass
    raise damaged(path, "its hash file is missing or is not 64 hex digits")
