"""The provisioning flow of docs/relay.md, through the real commands: HO
registers a site and a till (`kassa ho site add`, `kassa ho till add`), the
till gets its key with `kassa flash` (here `--local`, a Pi's data directory:
the same identity rules as a board over mpremote), its journal verifies at HO;
and a key is never given to two tills, whichever command is handed another
till's key file."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from journals import write_journal
from host_tools.cli import main
from host_tools.hodata.journal_reader import load_key
from host_tools.relay.store import open_store
from till.formats import identity


def kassa(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ho_issues_the_key_flash_carries_it_and_no_key_serves_two_tills(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, keys = ["--db", db_url], tmp_path / "keys"
    assert kassa(capsys, "ho", "site", "add", "S001", "--name", "Main street", *db)[0] == 0
    code, out, _ = kassa(capsys, "ho", "till", "add", "S001/till-1", "--keys-dir", str(keys), *db)
    key_file = keys / "S001_till-1.key"
    assert code == 0 and f"--key-file {key_file}" in out
    till = tmp_path / "till-1"
    code, out, _ = kassa(capsys, "flash", "--local", str(till), "--till-id", "S001/till-1",
                         "--key-file", str(key_file), "--keys-dir", str(keys))
    assert code == 0 and "identity written" in out
    till_id, secret = identity.read(str(till / "identity"))
    assert (till_id, secret) == ("S001/till-1", load_key(key_file))

    # another till handed till-1's key file: refused by flash and by HO
    code, _, err = kassa(capsys, "flash", "--local", str(tmp_path / "till-2"), "--till-id", "S001/till-2",
                         "--key-file", str(key_file), "--keys-dir", str(keys))
    assert code == 1 and "is till S001/till-1's key, not S001/till-2's" in err
    assert not (tmp_path / "till-2" / "identity").exists()
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till-2", "--key-file", str(key_file), *db)
    assert code == 2 and "never given to two tills" in err
    # ... and under another name, HO still knows the key
    renamed = tmp_path / "spare.key"
    renamed.write_bytes(key_file.read_bytes())
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till-2", "--key-file", str(renamed), *db)
    assert code == 2 and "already belongs to another till" in err
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till-1", "--keys-dir", str(keys), *db)
    assert code == 2 and "exists already" in err

    # the till's journal, chained with the flashed key, verifies at HO
    with tempfile.TemporaryDirectory() as d:
        records = write_journal(d, till_id, secret, 20)
    store = open_store(db_url)
    try:
        store.store_batch("S001/till-1", records, head=20)
    finally:
        store.close()
    code, out, _ = kassa(capsys, "ho", "process", "--json", *db)
    assert code == 0 and json.loads(out) == {"processed": 20, "quarantined": 0}


def test_key_file_names_map_back_to_their_till() -> None:
    from host_tools.provision.flash import key_file_name, key_file_till

    for till in ("S001/till-1", "a_b/c", "a/b_c", "a_/_b"):
        assert key_file_till(key_file_name(till)) == till
    assert key_file_till("spare.key") is None and key_file_till("S001_till-1.txt") is None


def test_sim_init_never_replaces_the_identity_a_till_was_flashed_with(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys, till = tmp_path / "keys", tmp_path / "till"
    assert kassa(capsys, "flash", "--local", str(till), "--till-id", "S001/till-1",
                 "--keys-dir", str(keys))[0] == 0
    flashed = (till / "identity").read_bytes()
    for till_id in ("S001/till-1", "S001/till-2"):
        code, _, err = kassa(capsys, "sim", "init", str(till), "--till-id", till_id)
        assert code == 1 and "already till S001/till-1" in err
        assert (till / "identity").read_bytes() == flashed
