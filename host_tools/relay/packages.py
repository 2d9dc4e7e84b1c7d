"""The snapshot packages HO publishes: built from snapshot directories with the
snapshot builder (host_tools/hodata/snapshot_builder.py) and checked, before
anything is stored, with the till's own installer (till.formats.snapshot):
the package is installed into a temporary directory exactly as a till would
install it, content hash included. A delta is installed over its base, which
is either given (the base snapshot directory) or rebuilt from the packages HO
published before (a full snapshot and the deltas after it)."""
from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2

from host_tools.hodata import snapshot_builder as sb
from host_tools.relay.publish import DELTA, SNAPSHOT, PublishError, blob_bytes, snapshot_messages
from host_tools.relay.store import Store
from till.formats import package_writer as pw
from till.formats.catalog import SnapshotError
from till.formats.snapshot_files import PACKAGE_MAGIC
from till.formats.snapshot import SnapshotStore

_MAX_CHAIN = 64  # deltas after a full snapshot that a base may be rebuilt from


def full_package(directory: Path) -> bytes:
    """The full package of a snapshot directory, in memory."""
    out = io.BytesIO()
    try:
        pw.write_full_package(str(directory), out, encode=sb._canonical)
    except (OSError, KeyError, ValueError) as exc:
        raise PublishError(f"{directory} is not a complete snapshot directory ({exc}); "
                           "build one with `kassa snapshot build`") from None
    return out.getvalue()


def delta_package(base: Path, new: Path) -> bytes:
    out = io.BytesIO()
    try:
        pw.write_delta_package(str(base), str(new), out, encode=sb._canonical)
    except (OSError, KeyError, ValueError) as exc:
        raise PublishError(f"cannot make a delta from {base} to {new}: {exc}") from None
    return out.getvalue()


def header(data: bytes) -> dict[str, Any]:
    try:
        head = cbor2.loads(data)
    except (cbor2.CBORDecodeError, ValueError, EOFError) as exc:
        raise PublishError(f"this is not a snapshot package (it does not start with CBOR: {exc})") from None
    if not isinstance(head, dict) or head.get("kassa") != PACKAGE_MAGIC:
        raise PublishError("this is not a snapshot package (no Kassa package header)")
    if head.get("kind") not in ("full", "delta"):
        raise PublishError(f"snapshot package kind {head.get('kind')!r} is neither full nor delta")
    return head


def check(data: bytes, bases: Sequence[bytes] = ()) -> dict[str, Any]:
    """Install `data` as a till would (after `bases`, the packages that make
    the snapshot a delta applies to) in a temporary directory. Returns what a
    message records of it; PublishError with the till's reason if refused."""
    head = header(data)
    with tempfile.TemporaryDirectory(prefix="kassa-check-") as tmp:
        snapshots = SnapshotStore(tmp + "/snap")
        try:
            for n, base in enumerate(bases):
                try:
                    snapshots.install(io.BytesIO(base), allow_older=True)
                except (SnapshotError, ValueError) as exc:
                    raise PublishError(f"the base of this delta could not be rebuilt (package {n + 1} of "
                                       f"{len(bases)} was refused: {exc})") from None
            try:
                got = snapshots.install(io.BytesIO(data))
            except (SnapshotError, ValueError) as exc:
                raise PublishError(f"the package was refused as a till would refuse it: {exc}") from None
        finally:
            snapshots.close()
    return {"kind": SNAPSHOT if head["kind"] == "full" else DELTA, "version": int(got["version"]),
            "base": head.get("base"), "hash": bytes(got["hash"]).hex(),
            "base_hash": bytes(head["base_hash"]).hex() if head.get("base_hash") else None,
            "items": head["items"], "gtins": head["gtins"]}


def published_bases(store: Store, base_hash: bytes) -> list[bytes]:
    """The published packages that rebuild the snapshot of content hash
    base_hash: a full snapshot, then the deltas from it, oldest first."""
    messages = snapshot_messages(store)
    # A full snapshot is the shortest way to a content hash; a delta only where none is.
    by_hash: dict[str, dict[str, Any]] = {}
    for m in sorted(messages, key=lambda m: m["kind"] != SNAPSHOT):
        by_hash.setdefault(m["info"]["hash"], m)
    chain: list[dict[str, Any]] = []
    want = base_hash.hex()
    while len(chain) <= _MAX_CHAIN:
        found = by_hash.get(want)
        if found is None:
            raise PublishError(f"this delta changes a snapshot (content hash {base_hash.hex()[:16]}) that "
                               "head office never published: publish that snapshot first, give its "
                               "directory with --base, or publish a full snapshot")
        chain.append(found)
        if found["kind"] == SNAPSHOT:
            return [blob_bytes(store, x["sha256"]) for x in reversed(chain)]
        want = found["info"]["base_hash"]
    raise PublishError(f"the base of this delta is more than {_MAX_CHAIN} deltas from a full snapshot: "
                       "publish a full snapshot")


def check_for_publishing(store: Store, data: bytes, base_dir: Path | None = None) -> dict[str, Any]:
    """check(), with a delta's base from base_dir or from what HO published."""
    head = header(data)
    if head["kind"] == "full":
        return check(data)
    if base_dir is not None:
        return check(data, [full_package(base_dir)])
    if not isinstance(head.get("base_hash"), bytes):
        raise PublishError("the delta package names no base content hash")
    return check(data, published_bases(store, head["base_hash"]))
