"""Provisioning refuses two tills one id and one key for two tills (the register
of flashed tills in keys/, and HO's relay with --relay-db); the printer is
chosen by name. Through `kassa flash --local` (a Pi till's data directory),
which runs the same checks as a board flash."""
from __future__ import annotations

from pathlib import Path

import pytest

from host_tools.cli import main
from host_tools.provision import flash as fl
from host_tools.provision import registry
from till.drivers import profiles
from till.formats import identity, provision


def _flash(capsys: pytest.CaptureFixture[str], data: Path, till_id: str, keys: Path,
           *extra: str) -> tuple[int, str]:
    rc = main(["flash", "--local", str(data), "--till-id", till_id, "--keys-dir", str(keys),
               *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out + out.err


def test_a_till_id_is_never_given_to_two_tills(tmp_path: Path, capsys) -> None:
    keys = tmp_path / "keys"
    assert _flash(capsys, tmp_path / "a", "S001/till-1", keys)[0] == 0
    rows = registry.load(keys)
    assert [(e.till_id, e.device) for e in rows] == [("S001/till-1", "")]
    key = identity.read(str(tmp_path / "a" / "identity"))[1]
    assert rows[0].key_sha256 == registry.fingerprint(key)
    assert key.hex() not in (keys / "tills.csv").read_text()  # the key itself is not kept there
    # A second till with the same id: refused, and nothing written for it.
    rc, out = _flash(capsys, tmp_path / "b", "S001/till-1", keys)
    assert rc == 1 and "till S001/till-1 was flashed already" in out
    assert "choose a new till id" in out and "--replace-identity --key-file" in out
    assert not (tmp_path / "b" / "identity").exists()
    # Re-flashing the till itself is fine; a till whose identity was lost gets its own back.
    assert _flash(capsys, tmp_path / "a", "S001/till-1", keys)[0] == 0
    (tmp_path / "a" / "identity").unlink()
    rc, out = _flash(capsys, tmp_path / "a", "S001/till-1", keys, "--replace-identity",
                     "--key-file", str(keys / "S001_till-1.key"))
    assert rc == 0 and identity.read(str(tmp_path / "a" / "identity"))[1] == key
    assert len(registry.load(keys)) == 1


def test_a_journal_key_is_never_used_for_two_tills(tmp_path: Path, capsys) -> None:
    keys = tmp_path / "keys"
    assert _flash(capsys, tmp_path / "a", "S001/till-1", keys)[0] == 0
    # Under its own name the key file is refused for its name (check_key_owner) ...
    rc, out = _flash(capsys, tmp_path / "b", "S001/till-2", keys,
                     "--key-file", str(keys / "S001_till-1.key"))
    assert rc == 1 and "is till S001/till-1's key, not S001/till-2's" in out
    # ... and copied under another name, by the register, which knows the key.
    spare = tmp_path / "spare.key"
    spare.write_bytes((keys / "S001_till-1.key").read_bytes())
    rc, out = _flash(capsys, tmp_path / "b", "S001/till-2", keys, "--key-file", str(spare))
    assert rc == 1 and "was given to till S001/till-1" in out and "never used for two tills" in out
    assert not (tmp_path / "b").exists() and not (keys / "S001_till-2.key").exists()
    # The register refuses an id flashed with another key, too.
    (keys / "S001_till-1.key").rename(tmp_path / "lost.key")
    rc, out = _flash(capsys, tmp_path / "c", "S001/till-1", keys, "--replace-identity")
    assert rc == 1 and "with another key" in out
    assert not (keys / "S001_till-1.key").exists()  # the refused new key was not saved


def test_a_board_id_ties_a_till_id_to_its_board(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    key = bytes(range(32))
    registry.record(keys, "S001/till-1", key, "e6614c311b5a8b2f")
    registry.check(keys, "S001/till-1", key, "e6614c311b5a8b2f", writing=False,
                   restoring=False, key_path=None)
    with pytest.raises(registry.RegistryError, match="is the board e6614c311b5a8b2f"):
        registry.check(keys, "S001/till-1", key, "0000000000000001", writing=True,
                       restoring=True, key_path=None)
    (keys / "tills.csv").write_text("till_id,key_sha256\nS001/till-1\n")
    with pytest.raises(registry.RegistryError, match="tills.csv, line 2: not a row of"):
        registry.load(keys)


def test_head_offices_registration_is_checked_with_relay_db(tmp_path: Path, capsys) -> None:
    from host_tools.relay.store import open_store

    db = str(tmp_path / "relay.sqlite3")
    keys = tmp_path / "keys"
    store = open_store(db)
    store.add_site("S001", "Corner Shop")
    ho_key = bytes(range(32))
    store.add_till("S001/till-1", ho_key)
    store.close()
    # HO holds till-1 with its key: another key for that id is refused...
    rc, out = _flash(capsys, tmp_path / "a", "S001/till-1", keys, "--relay-db", db)
    assert rc == 1 and "head office has till S001/till-1 with another key" in out
    assert not (tmp_path / "a").exists()
    # ...HO's own key for another till id is refused...
    fl.write_key_file(tmp_path / "ho.key", ho_key)
    rc, out = _flash(capsys, tmp_path / "b", "S001/till-2", keys, "--relay-db", db,
                     "--key-file", str(tmp_path / "ho.key"))
    assert rc == 1 and "head office has this key for till S001/till-1" in out
    # ...the key HO issued is flashed, and a till HO does not know is named.
    rc, out = _flash(capsys, tmp_path / "a", "S001/till-1", keys, "--relay-db", db,
                     "--key-file", str(tmp_path / "ho.key"))
    assert rc == 0 and "head office does not know" not in out
    rc, out = _flash(capsys, tmp_path / "c", "S001/till-3", keys, "--relay-db", db)
    assert rc == 0 and "head office does not know till S001/till-3 yet" in out
    assert f"kassa ho till add S001/till-3 --key-file KEY --db {db}" in out


def test_the_printer_is_chosen_by_name(tmp_path: Path, capsys) -> None:
    keys = tmp_path / "keys"
    rc, out = _flash(capsys, tmp_path / "a", "S001/till-1", keys, "--printer", "tm-t88v")
    assert rc == 0 and "printer profile: TM-T88V" in out
    prov = provision.read(str(tmp_path / "a" / "provision"))
    assert prov["printer_model"] == "TM-T88V"
    assert prov["printer_profile"] == profiles.TM_T88V  # what the board files use, by name

    class Board:
        PROFILE = profiles.TM_T20II

    assert provision.apply(Board, str(tmp_path / "a")) == prov
    assert Board.PROFILE == profiles.TM_T88V
    rc, out = _flash(capsys, tmp_path / "a", "S001/till-1", keys, "--printer", "TM-T88")
    assert rc == 1 and "no printer profile for 'TM-T88'; close matches: " in out
    assert provision.read(str(tmp_path / "a" / "provision"))["printer_model"] == "TM-T88V"
    # A damaged provisioning file says what to do; the till's own profile stands.
    (tmp_path / "a" / "provision").write_bytes(b"\xa1\x01")
    with pytest.raises(provision.ProvisionError, match="damaged: .*kassa flash --printer MODEL"):
        provision.apply(Board, str(tmp_path / "a"))
