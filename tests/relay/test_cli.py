"""`kassa ho ...` on both databases: registration with credentials shown
once, key files for `kassa flash`, processing, the views as tables and JSON,
quarantine decisions; clear errors, never a traceback."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import cbor2
import pytest

from journals import make_journal
from host_tools.cli import main
from host_tools.hodata.journal_reader import load_key
from host_tools.relay.store import open_store


def kassa(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_registration_processing_and_views(db_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    code, out, _ = kassa(capsys, "ho", "site", "add", "S001", "--name", "Main street", *db)
    assert code == 0 and "site.S001." in out
    code, _, err = kassa(capsys, "ho", "site", "add", "S001", *db)
    assert code == 2 and "already registered" in err
    code, out, _ = kassa(capsys, "ho", "till", "add", "S001/till-1", "--keys-dir", str(tmp_path), *db)
    key_file = tmp_path / "S001_till-1.key"
    assert code == 0 and str(key_file) in out and "kassa flash --till-id S001/till-1" in out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till 2", *db)
    assert code == 2 and "not valid" in err
    code, out, _ = kassa(capsys, "ho", "user", "add", "anna", "--role", "admin", *db)
    assert code == 0 and "user.anna." in out

    key = load_key(key_file)
    store = open_store(db_url)
    try:
        assert store.till_key("S001/till-1") == key
        # the till was flashed with that key; its journal arrives, one record altered
        from journals import write_journal
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            records = write_journal(d, "S001/till-1", key, 30)
        rec = cbor2.loads(records[6][1])
        rec[2] += 1
        records[6] = (7, cbor2.dumps(rec, canonical=True))
        store.store_batch("S001/till-1", records, head=30)
    finally:
        store.close()
    code, out, _ = kassa(capsys, "ho", "process", "--json", *db)
    assert code == 0 and json.loads(out) == {"processed": 29, "quarantined": 1}
    code, out, _ = kassa(capsys, "ho", "tills", "--json", *db)
    till = json.loads(out)[0]
    assert (till["processed"], till["chain_breaks"], till["quarantined"]) == (6, 1, 1)
    code, out, _ = kassa(capsys, "ho", "tills", *db)
    assert code == 0 and "S001/till-1" in out
    code, out, _ = kassa(capsys, "ho", "quarantine", "show", *db)
    assert code == 0 and "verify" in out
    code, _, err = kassa(capsys, "ho", "quarantine", "accept", "S001/till-1", "8", "--note", "x", *db)
    assert code == 2 and "not quarantined" in err
    code, out, _ = kassa(capsys, "ho", "quarantine", "reject", "S001/till-1", "7", "--note", "edited",
                         "--as", "anna", *db)
    assert code == 0 and "REJECTED" in out
    code, out, _ = kassa(capsys, "ho", "received", "--status", "REJECTED", "--json", *db)
    assert [r["seq"] for r in json.loads(out)] == [7]
    code, out, _ = kassa(capsys, "ho", "sales", "--json", *db)
    assert json.loads(out)[0]["site"] == "S001"
    code, out, _ = kassa(capsys, "ho", "sales", *db)
    assert code == 0 and "Sales per site and day" in out and "cash in / out" in out
    code, out, _ = kassa(capsys, "ho", "feed", "--after", "0", "--limit", "3", *db)
    assert [json.loads(x)["id"] for x in out.splitlines()] == [1, 2, 3]


def test_a_flashed_tills_key_is_registered_once(db_url: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    kassa(capsys, "ho", "site", "add", "S001", *db)
    key, _ = make_journal("S001/till-1", 1)
    (tmp_path / "k").write_text(key.hex())
    assert kassa(capsys, "ho", "till", "add", "S001/till-1", "--key-file", str(tmp_path / "k"), *db)[0] == 0
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till-2", "--key-file", str(tmp_path / "k"), *db)
    assert code == 2 and "already belongs to another till" in err
    (tmp_path / "short").write_text("abcd")
    code, _, err = kassa(capsys, "ho", "till", "add", "S001/till-3", "--key-file", str(tmp_path / "short"), *db)
    assert code == 2 and "a till's secret is 32 bytes (64 hex digits); this key file holds 2 bytes" in err


def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = kassa(capsys, "ho", "tills", "--db", str(tmp_path / "missing" / "relay.sqlite3"))
    assert code == 2 and "does not exist" in err
    code, _, err = kassa(capsys, "relay", "serve", "--db", str(tmp_path / "missing" / "r.db"))
    assert code == 2 and "does not exist" in err


def test_user_signout_ends_web_sessions_of_one_user_or_everyone(db_url: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.relay import staff_sessions

    db = ["--db", db_url]
    store = open_store(db_url)
    try:
        for name in ("anna", "ben"):
            store.add_user(name, "viewer")
        sessions = {name: [staff_sessions.open_session(store, name, 3600) for _ in range(2)]
                    for name in ("anna", "ben")}
        code, out, _ = kassa(capsys, "ho", "user", "signout", "anna", "--as", "it-desk", *db)
        assert code == 0 and "2 web session(s) of anna ended" in out
        assert [staff_sessions.session_user(store, s) for s in sessions["anna"]] == [None, None]
        assert all(staff_sessions.session_user(store, s) for s in sessions["ben"])
        code, out, _ = kassa(capsys, "ho", "user", "signout", "--all", *db)
        assert code == 0 and "2 web session(s) of every HO user ended" in out
        assert [staff_sessions.session_user(store, s) for s in sessions["ben"]] == [None, None]
        code, _, err = kassa(capsys, "ho", "user", "signout", "nobody", *db)
        assert code == 2 and "no HO user nobody" in err
        assert store.ho_journal()[0]["actor"] == "it-desk"
    finally:
        store.close()
