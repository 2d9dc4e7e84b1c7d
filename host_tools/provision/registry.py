"""The tills this computer has flashed, kept beside their key files
(`keys/tills.csv`), so that `kassa flash` never gives two tills the same id and
never gives one journal key to two tills.

A till id and its key are one till for life (its journal is chained with the
key from a first record that names the id). One row per till: its id, the
SHA-256 of its key (never the key itself), the board's unique id where the
board has one (machine.unique_id(); a unix-port simulator has none), and when it
was first flashed. Head office's relay is the other register: with --relay-db,
flash checks the till against it too (`kassa ho till add` registers a till).
"""
from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

REGISTRY_FILE = "tills.csv"
_FIELDS = ("till_id", "key_sha256", "device", "flashed_at")


class RegistryError(Exception):
    """A till id or key refused; the message says what to do."""


@dataclass(frozen=True)
class Entry:
    till_id: str
    key_sha256: str
    device: str  # "" when the board has no unique id
    flashed_at: str


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


def load(keys_dir: Path) -> list[Entry]:
    path = keys_dir / REGISTRY_FILE
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RegistryError(f"cannot read the register of flashed tills {path}: {exc}") from exc
    entries = []
    for n, row in enumerate(rows, start=2):
        if any(not isinstance(row.get(k), str) for k in _FIELDS):
            raise RegistryError(f"{path}, line {n}: not a row of {', '.join(_FIELDS)}; "
                                "restore the file from a backup")
        entries.append(Entry(*(row[k] for k in _FIELDS)))
    return entries


def check(keys_dir: Path, till_id: str, key: bytes, device: str, *, writing: bool,
          restoring: bool, key_path: Path | None) -> None:
    """Refuse what would give two tills one id or one key.

    writing: an identity is about to be written to the board (else the board
    already holds this id and key). restoring: --replace-identity, giving a till
    back the id and key it had (its flash was erased or its identity damaged)."""
    fp = fingerprint(key)
    key_name = str(key_path) if key_path else "this key"
    for e in load(keys_dir):
        if e.key_sha256 == fp and e.till_id != till_id:
            raise RegistryError(f"{key_name} was given to till {e.till_id} on {e.flashed_at}: "
                                "a journal key is never used for two tills. Leave out "
                                "--key-file to make a new key, or use the till's own key")
        if e.till_id != till_id:
            continue
        if e.key_sha256 != fp:
            raise RegistryError(f"till {till_id} was flashed on {e.flashed_at} with another key: "
                                "a till id is never given to two tills. Choose a new till id")
        if e.device and device and e.device != device:
            raise RegistryError(f"till {till_id} is the board {e.device} (flashed {e.flashed_at}); "
                                f"this board is {device}. A till id is never given to two "
                                "tills: choose a new till id")
        if writing and not restoring:
            raise RegistryError(f"till {till_id} was flashed already on {e.flashed_at}. A till id is "
                                "never given to two tills: choose a new till id. If this board "
                                "is that till and lost its identity, give it back with "
                                f"--replace-identity --key-file {key_path or 'KEY'}")


def record(keys_dir: Path, till_id: str, key: bytes, device: str) -> None:
    """Add the till if it is not in the register yet (one row per till)."""
    fp = fingerprint(key)
    entries = load(keys_dir)
    if any(e.till_id == till_id and e.key_sha256 == fp for e in entries):
        return
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = keys_dir / REGISTRY_FILE
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(_FIELDS)
        w.writerow((till_id, fp, device, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())))


def check_relay(database_url: str, till_id: str, key: bytes) -> str | None:
    """Check the till against head office's relay database: refuse an id HO
    holds with another key, or a key HO holds for another till. Returns a line
    to show when HO does not know the till yet (how to register it), else None."""
    from host_tools.relay.store import StoreError, open_store

    try:
        store = open_store(database_url)
    except (StoreError, OSError) as exc:
        raise RegistryError(f"cannot open head office's relay database {database_url}: {exc}") \
            from exc
    try:
        held = store.till_key(till_id)
        if held is not None and held != key:
            raise RegistryError(f"head office has till {till_id} with another key: a till id is "
                                "never given to two tills. Choose a new till id, or flash with "
                                "the key HO issued (--key-file)")
        for row in store.tills():
            other = str(row["till"])
            if other != till_id and store.till_key(other) == key:
                raise RegistryError(f"head office has this key for till {other}: a journal key is "
                                    "never used for two tills")
    finally:
        store.close()
    if held is None:
        return (f"head office does not know till {till_id} yet: register its key with "
                f"`kassa ho till add {till_id} --key-file KEY --db {database_url}`")
    return None
